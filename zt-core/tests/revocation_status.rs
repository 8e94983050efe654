#![cfg(test)]
//! Revocation through the bundle's `data.zt.revoked`, and `Authorizer::status()`.

use serde_json::{Value, json};
use std::sync::Arc;
use zt_core::{Authorizer, AuthorizerConfig, ManualClock, Reason, Request};
use zt_testkit::{ISS as IDP, NOW, claims, jwks, merge, mint, serve};

fn files(revoked: Option<Value>) -> Vec<(String, Vec<u8>)> {
    let mut f = vec![(
        "authz.rego".to_owned(),
        b"package zt.authz\ndecision := true\n".to_vec(),
    )];
    if let Some(r) = revoked {
        f.push((
            "zt/revoked/data.json".to_owned(),
            r.to_string().into_bytes(),
        ));
    }
    f
}

fn authz(extra: Value, revoked: Option<Value>) -> Authorizer {
    let mut doc = json!({
        "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["ES256"],
                     "jwks": jwks(&["ec-p256"])}],
        "decision_log": {"sink": "none"},
    });
    merge(&mut doc, extra);
    Authorizer::builder(AuthorizerConfig::from_json_str(&doc.to_string()).unwrap())
        .clock(Arc::new(ManualClock::at_unix(NOW)))
        .policy_files(files(revoked))
        .build()
        .unwrap()
}

fn token(sub: &str, jti: &str) -> String {
    let mut c = claims(IDP);
    merge(&mut c, json!({"sub": sub, "jti": jti}));
    mint("ec-p256", "ES256", &c)
}

fn decide(a: &Authorizer, t: &str) -> Vec<Reason> {
    a.authorize_sync(&Request::new("GET", "/").bearer(t))
        .reasons
}

#[test]
fn bundle_data_revokes_and_the_next_document_unrevokes() {
    let list = json!({"token_ids": ["t-2"], "subjects": [{"issuer": IDP, "subject": "mallory"}]});
    let a = authz(json!({}), Some(list));
    assert_eq!(decide(&a, &token("alice", "t-1")), []);
    assert_eq!(decide(&a, &token("alice", "t-2")), [Reason::TokenRevoked]);
    assert_eq!(
        decide(&a, &token("mallory", "t-3")),
        [Reason::SubjectRevoked]
    );
    let m = a.metrics();
    assert_eq!(
        (
            m.revocations.bundle_token_ids,
            m.revocations.bundle_subjects
        ),
        (1, 1)
    );
    assert!(
        a.prometheus()
            .contains("zt_revocations{source=\"bundle\",kind=\"token_id\"} 1")
    );
    // In-process revocations add to the bundle's.
    a.revoke_token_id("t-1");
    assert_eq!(decide(&a, &token("alice", "t-1")), [Reason::TokenRevoked]);
    a.unrevoke_token_id("t-1");
    // The next bundle without the entries lifts them.
    a.policy()
        .reload_files(files(Some(json!({"token_ids": []}))))
        .unwrap();
    assert_eq!(decide(&a, &token("alice", "t-2")), []);
    assert_eq!(decide(&a, &token("mallory", "t-3")), []);
    assert_eq!(a.status().revocations.bundle_token_ids, 0);
}

#[test]
fn a_rollout_candidates_revocations_apply_at_once() {
    let a = authz(
        json!({"enforcement": {"rollout": {"stages": [0, 100], "min_decisions": 1000}}}),
        None,
    );
    a.policy()
        .reload_files(files(Some(json!({"token_ids": ["t-9"]}))))
        .unwrap();
    assert!(a.rollout().candidate_revision.is_some());
    assert_eq!(decide(&a, &token("alice", "t-9")), [Reason::TokenRevoked]);
}

#[test]
fn malformed_revocation_data_is_refused_at_load() {
    for (bad, needle) in [
        (json!({"token_ids": [1]}), "must hold strings"),
        (json!({"token_ids": "t-1"}), "`token_ids` must be an array"),
        (json!({"subjects": ["mallory"]}), "issuer"),
        (json!({"jtis": []}), "unknown key `jtis`"),
    ] {
        let a = authz(json!({}), None);
        let err = a.policy().reload_files(files(Some(bad))).unwrap_err();
        assert_eq!(err.code(), "policy_bundle_invalid");
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[test]
fn status_reports_policy_keys_log_and_revocations() {
    let a = {
        let doc = json!({
            "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["ES256"],
                         "jwks": jwks(&["ec-p256"])}],
            "decision_log": {"sink": "callback", "queue_capacity": 16},
        });
        Authorizer::builder(AuthorizerConfig::from_json_str(&doc.to_string()).unwrap())
            .clock(Arc::new(ManualClock::at_unix(NOW)))
            .policy_files(files(None))
            .log_callback(|_| {})
            .build()
            .unwrap()
    };
    a.authorize_sync(&Request::new("GET", "/"));
    a.revoke_subject(IDP, "eve");
    a.flush();
    let s = a.status();
    assert!(s.ready);
    assert_eq!(s.policy.revision, a.policy().active_revision());
    assert_eq!(s.policy.source, None);
    assert_eq!(s.issuers.len(), 1);
    let i = &s.issuers[0];
    assert_eq!(
        (i.keys, i.usable, i.fresh_until_ms),
        (1, true, None),
        "inline keys"
    );
    assert_eq!(
        (s.decision_log.queue_capacity, s.decision_log.queued),
        (16, 0)
    );
    assert_eq!(s.decision_log.stats.written, 1);
    assert_eq!(s.revocations.subjects, 1);
    assert_eq!(s.revocations.updated_at_ms, NOW * 1000);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["decision_log"]["sink"], "callback");
    a.shutdown(std::time::Duration::from_secs(5));
    assert!(!a.status().ready, "a closed decision log is not ready");
}

#[tokio::test]
async fn status_shows_remote_key_freshness_and_an_unreachable_issuer() {
    let server = serve(axum::Router::new().route(
        "/jwks",
        axum::routing::get(|| async { axum::Json(jwks(&["ec-p256"])) }),
    ))
    .await;
    let doc = json!({
        "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["ES256"],
                     "jwks_uri": server.url("/jwks")},
                    {"issuer": "https://down.example", "audiences": ["api"], "algorithms": ["ES256"],
                     "jwks_uri": "http://127.0.0.1:9/jwks"}],
        "jwks": {"timeout_ms": 200},
        "decision_log": {"sink": "none"},
    });
    let a = Authorizer::builder(AuthorizerConfig::from_json_str(&doc.to_string()).unwrap())
        .policy_files(files(None))
        .build()
        .unwrap();
    let _ = a.verifier().ready().await;
    let s = a.status();
    assert!(!s.ready, "one issuer has no keys");
    let up = s.issuers.iter().find(|i| i.issuer == IDP).unwrap();
    assert!(up.usable && up.keys == 1);
    let (fetched, fresh, usable) = (
        up.fetched_at_ms.unwrap(),
        up.fresh_until_ms.unwrap(),
        up.usable_until_ms.unwrap(),
    );
    assert!(fetched < fresh && fresh < usable, "{up:?}");
    let down = s.issuers.iter().find(|i| i.issuer != IDP).unwrap();
    assert!(!down.usable && down.keys == 0);
    assert!(
        matches!(
            down.last_error,
            Some("jwks_request_failed" | "jwks_timeout")
        ),
        "{down:?}"
    );
}

/// A revocation feed on 127.0.0.1: the document, its ETag, and what the server saw.
#[derive(Default)]
struct Feed {
    body: String,
    etag: String,
    down: bool,
    hits: u64,
    not_modified: u64,
}

type FeedState = Arc<std::sync::Mutex<Feed>>;

async fn feed(
    axum::extract::State(s): axum::extract::State<FeedState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mut f = s.lock().unwrap();
    f.hits += 1;
    if f.down {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if headers
        .get(axum::http::header::IF_NONE_MATCH)
        .is_some_and(|v| v.to_str().unwrap() == f.etag)
    {
        f.not_modified += 1;
        return axum::http::StatusCode::NOT_MODIFIED.into_response();
    }
    ([(axum::http::header::ETAG, f.etag.clone())], f.body.clone()).into_response()
}

/// A feed server on 127.0.0.1 and an authorizer polling it every second.
async fn with_feed(state: &FeedState, revoked: Option<Value>) -> (zt_testkit::Served, Authorizer) {
    let server = serve(
        axum::Router::new()
            .route("/revoked.json", axum::routing::get(feed))
            .with_state(state.clone()),
    )
    .await;
    let url = server.url("/revoked.json");
    let a = tokio::task::spawn_blocking(move || {
        authz(
            json!({"revocation": {"url": url, "polling_min_s": 1, "polling_max_s": 1}}),
            revoked,
        )
    })
    .await
    .unwrap();
    (server, a)
}

fn set_feed(s: &FeedState, body: Value, etag: &str) {
    let mut f = s.lock().unwrap();
    f.body = body.to_string();
    f.etag = etag.to_owned();
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_revocation_feed_revokes_unrevokes_and_keeps_the_last_good_list() {
    let state: FeedState = Arc::default();
    set_feed(
        &state,
        json!({"token_ids": ["t-7"], "subjects": [{"issuer": IDP, "subject": "mallory"}]}),
        "\"f1\"",
    );
    let (_server, a) = with_feed(&state, Some(json!({"token_ids": ["t-bundle"]}))).await;
    let a = Arc::new(a);
    let check = {
        let a = a.clone();
        move |sub: &'static str, jti: &'static str| decide(&a, &token(sub, jti))
    };
    // Applied before the authorizer was returned.
    assert_eq!(check("alice", "t-7"), [Reason::TokenRevoked]);
    assert_eq!(check("mallory", "t-1"), [Reason::SubjectRevoked]);
    assert_eq!(check("alice", "t-1"), []);
    // Merged with the bundle's list and the in-process one.
    assert_eq!(check("alice", "t-bundle"), [Reason::TokenRevoked]);
    a.revoke_token_id("t-api");
    assert_eq!(check("alice", "t-api"), [Reason::TokenRevoked]);
    let s = a.status();
    assert_eq!(
        (s.revocations.feed_token_ids, s.revocations.feed_subjects),
        (1, 1)
    );
    let feed_status = s.revocation_feed.unwrap();
    assert_eq!(feed_status.etag.as_deref(), Some("\"f1\""));
    assert!(
        a.prometheus()
            .contains("zt_revocations{source=\"feed\",kind=\"token_id\"} 1")
    );

    // Unchanged: 304s, nothing re-applied.
    wait_until("two 304 polls", || state.lock().unwrap().not_modified >= 2);
    assert_eq!(a.status().revocation_feed.unwrap().downloads, 1);

    // The next document un-revokes what it leaves out.
    set_feed(&state, json!({"token_ids": ["t-8"]}), "\"f2\"");
    wait_until("the second document", || {
        a.status().revocation_feed.unwrap().etag.as_deref() == Some("\"f2\"")
    });
    assert_eq!(check("alice", "t-7"), []);
    assert_eq!(check("mallory", "t-1"), []);
    assert_eq!(check("alice", "t-8"), [Reason::TokenRevoked]);

    // A broken document is refused whole; the server going down keeps the last list.
    set_feed(&state, json!({"token_ids": "t-9"}), "\"f3\"");
    wait_until("the refusal", || {
        a.status()
            .revocation_feed
            .unwrap()
            .last_error
            .is_some_and(|e| e.contains("must be an array"))
    });
    assert_eq!(check("alice", "t-8"), [Reason::TokenRevoked]);
    state.lock().unwrap().down = true;
    wait_until("the outage", || {
        a.status()
            .revocation_feed
            .unwrap()
            .last_error
            .is_some_and(|e| e.contains("503"))
    });
    assert_eq!(check("alice", "t-8"), [Reason::TokenRevoked]);
    a.shutdown(std::time::Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_feed_does_not_stop_a_start() {
    let state: FeedState = Arc::default();
    state.lock().unwrap().down = true;
    let (_server, a) = with_feed(&state, None).await;
    let s = a.status().revocation_feed.unwrap();
    assert_eq!((s.updated_at_ms, s.token_ids), (0, 0));
    assert!(s.last_error.unwrap().contains("503"));
    // It comes up: the list applies on a later poll.
    set_feed(&state, json!({"token_ids": ["t-1"]}), "\"g1\"");
    state.lock().unwrap().down = false;
    let a = tokio::task::spawn_blocking(move || {
        wait_until("the first list", || {
            a.status().revocations.feed_token_ids == 1
        });
        assert_eq!(decide(&a, &token("alice", "t-1")), [Reason::TokenRevoked]);
        a
    })
    .await
    .unwrap();
    a.shutdown(std::time::Duration::from_secs(2));
}

#[test]
fn revocation_feed_config_is_checked() {
    for (feed, needle) in [
        (json!({"url": "http://feed.example.com/r.json"}), "https"),
        (
            json!({"url": "https://feed.example.com/r.json", "polling_min_s": 0}),
            "polling_min_s",
        ),
        (
            json!({"url": "https://u:p@feed.example.com/r.json"}),
            "user:password",
        ),
    ] {
        let doc = json!({
            "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["ES256"],
                         "jwks": jwks(&["ec-p256"])}],
            "revocation": feed,
        });
        let err = AuthorizerConfig::from_json_str(&doc.to_string()).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
}
