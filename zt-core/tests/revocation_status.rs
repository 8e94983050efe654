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
