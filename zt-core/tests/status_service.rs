#![cfg(test)]
//! `[status] service` (OPA's status API) against a receiver on 127.0.0.1 that checks what it
//! gets: a report on start, one at once when the active bundle changes or the bundle server
//! fails, one every `interval_s` otherwise, retried with backoff while the receiver fails.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zt_core::{Authorizer, AuthorizerConfig};
use zt_testkit::{ISS as IDP, jwks, serve};

#[derive(Default)]
struct Receiver {
    reports: Vec<Value>,
    authorization: Vec<Option<String>>,
    /// Answer 503 to this many requests first.
    fail_first: usize,
    attempts: usize,
}

type Shared = Arc<Mutex<Receiver>>;

async fn status(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut r = s.lock().unwrap();
    r.attempts += 1;
    if r.attempts <= r.fail_first {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    assert_eq!(headers.get("content-type").unwrap(), "application/json");
    r.authorization.push(
        headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
    );
    r.reports.push(serde_json::from_slice(&body).unwrap());
    StatusCode::OK
}

async fn receiver(fail_first: usize) -> (Shared, zt_testkit::Served) {
    let state: Shared = Arc::new(Mutex::new(Receiver {
        fail_first,
        ..Receiver::default()
    }));
    let server = serve(
        axum::Router::new()
            .route("/v1/status", axum::routing::post(status))
            .with_state(state.clone()),
    )
    .await;
    (state, server)
}

const POLICY: &str = "package zt.authz\ndecision := true\n";

fn config(status: Value, extra: Value) -> AuthorizerConfig {
    let mut doc = json!({
        "service": "orders",
        "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["RS256"],
                     "jwks": jwks(&["rsa2048-a"])}],
        "decision_log": {"sink": "none"},
        "status": {"service": status},
    });
    zt_testkit::merge(&mut doc, extra);
    AuthorizerConfig::from_json_str(&doc.to_string()).unwrap()
}

fn build(cfg: AuthorizerConfig, files: bool) -> Authorizer {
    let b = Authorizer::builder(cfg);
    let b = if files {
        b.policy_files(vec![("p.rego".into(), POLICY.as_bytes().to_vec())])
    } else {
        b
    };
    b.build().unwrap()
}

/// Wait (at most 10 s) until `pred` holds for the reports received.
async fn wait_for(state: &Shared, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reports = state.lock().unwrap().reports.clone();
        if pred(&reports) {
            return reports;
        }
        assert!(Instant::now() < deadline, "no report {what}: {reports:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_on_start_and_at_once_on_a_new_bundle() {
    let (state, server) = receiver(0).await;
    let cfg = config(
        json!({"url": server.url(""), "path": "v1/status", "interval_s": 3600,
               "bearer_token_env": "PATH"}),
        json!({}),
    );
    let authz = tokio::task::spawn_blocking(move || build(cfg, true))
        .await
        .unwrap();
    let first_revision = authz.policy().active_revision();
    let reports = wait_for(&state, "on start", |r| !r.is_empty()).await;
    let r = &reports[0];
    assert_eq!(r["labels"]["app"], "zt");
    assert_eq!(r["labels"]["service"], "orders");
    assert_eq!(r["labels"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r["labels"]["id"].as_str().unwrap().len(), 16);
    assert_eq!(r["bundles"]["zt"]["name"], "zt");
    assert_eq!(
        r["bundles"]["zt"]["active_revision"],
        first_revision.as_str()
    );
    assert!(
        r["bundles"]["zt"]["last_successful_activation"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(r["plugins"]["bundle"]["state"], "OK");
    assert_eq!(r["plugins"]["status"]["state"], "OK");
    // zt's own status rides along: key-set health, rollout, enforcement.
    assert_eq!(r["zt"]["issuers"][0]["issuer"], IDP);
    assert_eq!(r["zt"]["issuers"][0]["usable"], true);
    assert_eq!(r["zt"]["policy"]["rollout"]["enabled"], false);
    assert_eq!(r["zt"]["enforcement"]["mode"], "enforce");
    let path = std::env::var("PATH").unwrap();
    assert_eq!(
        state.lock().unwrap().authorization[0].as_deref(),
        Some(format!("Bearer {path}").as_str())
    );

    // Nothing changes: no further report (the interval is an hour).
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(state.lock().unwrap().reports.len(), 1);

    // A new bundle is reported at once.
    let policy = authz.policy().clone();
    let second = tokio::task::spawn_blocking(move || {
        policy
            .reload_files(vec![(
                "p.rego".into(),
                b"package zt.authz\ndecision := false\n".to_vec(),
            )])
            .unwrap()
    })
    .await
    .unwrap();
    assert_ne!(second, first_revision);
    let reports = wait_for(&state, "after the new bundle", |r| {
        r.iter()
            .any(|x| x["bundles"]["zt"]["active_revision"] == second.as_str())
    })
    .await;
    assert_eq!(reports.len(), 2);
    let s = authz.status().status_service.unwrap();
    assert_eq!((s.reports_sent, s.failures, s.last_error), (2, 0, None));
    assert!(s.url.ends_with("/v1/status"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_every_interval_and_retries_a_failing_receiver() {
    let (state, server) = receiver(2).await;
    let cfg = config(
        json!({"url": server.url(""), "path": "/v1/status", "interval_s": 1}),
        json!({}),
    );
    let authz = tokio::task::spawn_blocking(move || build(cfg, true))
        .await
        .unwrap();
    // Two 503s, retried after 200 ms and 400 ms (with jitter), then accepted.
    wait_for(&state, "after two failures", |r| !r.is_empty()).await;
    assert!(state.lock().unwrap().attempts >= 3);
    // Then one a second with nothing changing.
    wait_for(&state, "every second", |r| r.len() >= 3).await;
    let s = authz.status().status_service.unwrap();
    assert_eq!(s.failures, 2);
    assert!(s.reports_sent >= 3);
    assert_eq!(s.last_error, None);
    assert!(
        state
            .lock()
            .unwrap()
            .authorization
            .iter()
            .all(Option::is_none)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_bundle_server_is_reported_at_once() {
    let (state, server) = receiver(0).await;
    // A bundle server that serves a good bundle, then garbage.
    let good = zt_core::build_bundle(
        &zt_testkit::sample_bundle_dir(),
        &zt_core::PolicyConfig::default(),
        Some("good-1"),
        None,
    )
    .unwrap();
    let body: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(good));
    let served = body.clone();
    let bundles = serve(axum::Router::new().route(
        "/b.tar.gz",
        axum::routing::get(move || {
            let served = served.clone();
            async move { served.lock().unwrap().clone() }
        }),
    ))
    .await;
    let cfg = config(
        json!({"url": server.url(""), "path": "v1/status", "interval_s": 3600}),
        json!({"policy": {"service": {"url": bundles.url(""), "path": "b.tar.gz",
                                      "polling_min_s": 1, "polling_max_s": 1}}}),
    );
    let authz = tokio::task::spawn_blocking(move || build(cfg, false))
        .await
        .unwrap();
    let reports = wait_for(&state, "on start", |r| !r.is_empty()).await;
    assert_eq!(reports[0]["bundles"]["zt"]["active_revision"], "good-1");
    assert!(reports[0]["bundles"]["zt"]["last_successful_download"].is_string());
    *body.lock().unwrap() = b"not a bundle".to_vec();
    let reports = wait_for(&state, "with the bundle error", |r| {
        r.iter()
            .any(|x| x["bundles"]["zt"]["code"] == "bundle_error")
    })
    .await;
    let bad = reports
        .iter()
        .find(|x| x["bundles"]["zt"]["code"] == "bundle_error")
        .unwrap();
    assert_eq!(bad["plugins"]["bundle"]["state"], "ERROR");
    assert_eq!(bad["bundles"]["zt"]["active_revision"], "good-1");
    assert!(bad["bundles"]["zt"]["message"].as_str().unwrap().len() > 3);
    drop(authz);
}
