#![cfg(test)]
//! Decision-log upload (`sink = "service"`, OPA's decision-log API) to a collector on
//! 127.0.0.1: every record exactly once in gzip JSON arrays of bounded size, masks applied, the
//! file beside it, retries then an exact failure count while the collector is down, drops
//! counted when the upload buffer is full, and a bounded shutdown against a stalled collector.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zt_core::{Authorizer, AuthorizerConfig, Request};
use zt_testkit::{ISS as IDP, claims, jwks, merge, mint, now, serve};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Accept,
    Unavailable,
    BadRequest,
    Stall,
}

struct Collector {
    mode: Mode,
    /// Every record received, as parsed JSON.
    records: Vec<Value>,
    /// (uncompressed bytes, records) per accepted request.
    requests: Vec<(usize, usize)>,
    attempts: u64,
    headers_ok: bool,
    authorization: Option<String>,
}

type Shared = Arc<Mutex<Collector>>;

async fn logs(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mode = {
        let mut c = s.lock().unwrap();
        c.attempts += 1;
        c.mode
    };
    match mode {
        Mode::Unavailable => return StatusCode::SERVICE_UNAVAILABLE,
        Mode::BadRequest => return StatusCode::BAD_REQUEST,
        Mode::Stall => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return StatusCode::OK;
        }
        Mode::Accept => {}
    }
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut json)
        .unwrap();
    let batch: Vec<Value> = serde_json::from_slice(&json).unwrap();
    let mut c = s.lock().unwrap();
    c.headers_ok = headers.get(header::CONTENT_ENCODING).unwrap() == "gzip"
        && headers.get(header::CONTENT_TYPE).unwrap() == "application/json";
    c.authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_owned());
    c.requests.push((json.len(), batch.len()));
    c.records.extend(batch);
    StatusCode::NO_CONTENT
}

async fn collector(mode: Mode) -> (Shared, zt_testkit::Served) {
    let state = Arc::new(Mutex::new(Collector {
        mode,
        records: Vec::new(),
        requests: Vec::new(),
        attempts: 0,
        headers_ok: false,
        authorization: None,
    }));
    let server = serve(
        axum::Router::new()
            .route("/v1/logs", axum::routing::post(logs))
            .with_state(state.clone()),
    )
    .await;
    (state, server)
}

fn authorizer(service: Value, path: Option<&std::path::Path>) -> Authorizer {
    authorizer_as(service, path, "zt")
}

fn authorizer_as(service: Value, path: Option<&std::path::Path>, format: &str) -> Authorizer {
    let mut log = json!({"sink": "service", "service": service, "mask": ["/subject/claims/email"],
                         "format": format});
    if let Some(p) = path {
        log["path"] = json!(p);
    }
    let doc = json!({
        "service": "orders",
        "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["ES256"],
                     "jwks": jwks(&["ec-p256"])}],
        "decision_log": log,
    });
    Authorizer::builder(AuthorizerConfig::from_json_str(&doc.to_string()).unwrap())
        .policy_files(vec![(
            "authz.rego".to_owned(),
            b"package zt.authz\nimport rego.v1\ndecision if input.request.method == \"GET\"\n"
                .to_vec(),
        )])
        .build()
        .unwrap()
}

fn decide(a: &Authorizer, n: usize) -> Vec<String> {
    let mut c = claims(IDP);
    merge(
        &mut c,
        json!({"iat": now(), "nbf": now(), "exp": now() + 600, "email": "alice@example.com"}),
    );
    let token = mint("ec-p256", "ES256", &c);
    (0..n)
        .map(|i| {
            let method = if i % 2 == 0 { "GET" } else { "POST" };
            a.authorize_sync(&Request::new(method, "/orders").bearer(token.clone()))
                .id
                .clone()
        })
        .collect()
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every record is settled in exactly one counter.
fn assert_settled(a: &Authorizer) {
    let s = a.metrics().decision_log;
    assert_eq!(
        s.enqueued,
        s.written + s.failed + s.dropped,
        "every record is written, failed or dropped: {s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_arrives_once_in_bounded_gzip_batches() {
    let (state, server) = collector(Mode::Accept).await;
    let dir = std::env::temp_dir().join(format!("zt-upload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("beside.log");
    let _ = std::fs::remove_file(&file);
    let service = json!({"url": server.url(""), "path": "v1/logs", "upload_size_limit_bytes": 8192,
                         "max_delay_ms": 60000, "bearer_token_env": "PATH"});
    let (ids, a) = tokio::task::spawn_blocking({
        let file = file.clone();
        move || {
            let a = authorizer(service, Some(&file));
            let ids = decide(&a, 300);
            a.flush();
            (ids, a)
        }
    })
    .await
    .unwrap();

    let c = state.lock().unwrap();
    // Exactly once, all of them.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in &c.records {
        *seen
            .entry(r["decision_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(seen.len(), ids.len());
    assert!(ids.iter().all(|id| seen.get(id) == Some(&1)));
    // Batches of bounded size, several of them.
    assert!(c.requests.len() > 5, "{:?}", c.requests.len());
    assert!(c.requests.iter().all(|(bytes, _)| *bytes <= 8192));
    assert!(c.headers_ok);
    assert_eq!(
        c.authorization.as_deref(),
        Some(format!("Bearer {}", std::env::var("PATH").unwrap()).as_str())
    );
    // The documented record, masked.
    let r = &c.records[0];
    for field in [
        "timestamp",
        "service",
        "entrypoint",
        "decision_id",
        "outcome",
        "input",
        "result",
        "policy_revision",
    ] {
        assert!(r.get(field).is_some(), "{field} in {r}");
    }
    assert_eq!(r["service"], "orders");
    assert_eq!(r["input"]["subject"]["claims"]["email"], "[masked]");
    drop(c);

    let s = a.metrics().decision_log;
    assert_eq!((s.written, s.failed, s.dropped), (300, 0, 0));
    let status = a.status().decision_log.upload.unwrap();
    assert!(status.batches_sent > 5 && status.bytes_sent > 0 && status.last_success_ms > 0);
    assert_eq!((status.batches_failed, status.pending_batches), (0, 0));
    assert!(!status.url.contains('?'));
    // The file beside holds the same records.
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(lines.lines().count(), 300);
    let text = a.prometheus();
    assert!(text.contains("zt_decision_log_uploads_total{result=\"accepted\"}"));
    a.shutdown(Duration::from_secs(5));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_sent_after_max_delay_without_a_flush() {
    let (state, server) = collector(Mode::Accept).await;
    let service = json!({"url": server.url(""), "path": "v1/logs", "max_delay_ms": 100});
    let a = tokio::task::spawn_blocking(move || {
        let a = authorizer(service, None);
        decide(&a, 3);
        a
    })
    .await
    .unwrap();
    wait_for("the delayed batch", || {
        state.lock().unwrap().records.len() == 3
    });
    assert_eq!(state.lock().unwrap().requests.len(), 1);
    a.shutdown(Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_down_retries_then_counts_every_record_exactly() {
    let (state, server) = collector(Mode::Unavailable).await;
    let service = json!({"url": server.url(""), "path": "v1/logs", "max_retries": 2,
                         "max_delay_ms": 60000, "upload_size_limit_bytes": 8192,
                         "buffer_batches": 2});
    let a = tokio::task::spawn_blocking(move || {
        let a = authorizer(service, None);
        decide(&a, 200);
        a.flush();
        a
    })
    .await
    .unwrap();
    assert_settled(&a);
    let s = a.metrics().decision_log;
    assert_eq!(s.written, 0);
    assert!(s.failed > 0, "{s:?}");
    // Two batches may wait while one is retried: the rest are dropped at once, counted.
    assert!(s.dropped > 0, "{s:?}");
    let up = a.status().decision_log.upload.unwrap();
    assert!(up.retries >= 2 && up.batches_failed >= 1, "{up:?}");
    assert!(up.last_error.unwrap().contains("503"));
    // Each failed batch was tried 1 + max_retries times.
    assert_eq!(state.lock().unwrap().attempts, up.batches_failed * 3);

    // The collector comes back: new records go through.
    state.lock().unwrap().mode = Mode::Accept;
    let a = tokio::task::spawn_blocking(move || {
        decide(&a, 10);
        a.flush();
        a
    })
    .await
    .unwrap();
    assert_eq!(state.lock().unwrap().records.len(), 10);
    assert_settled(&a);
    a.shutdown(Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_collector_is_not_retried() {
    let (state, server) = collector(Mode::BadRequest).await;
    let service = json!({"url": server.url(""), "path": "v1/logs", "max_retries": 5});
    let a = tokio::task::spawn_blocking(move || {
        let a = authorizer(service, None);
        decide(&a, 5);
        a.flush();
        a
    })
    .await
    .unwrap();
    assert_eq!(state.lock().unwrap().attempts, 1);
    let s = a.metrics().decision_log;
    assert_eq!((s.written, s.failed), (0, 5));
    a.shutdown(Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_by_a_stalled_collector() {
    let (_state, server) = collector(Mode::Stall).await;
    let service = json!({"url": server.url(""), "path": "v1/logs", "timeout_ms": 10000});
    let (report, took, a) = tokio::task::spawn_blocking(move || {
        let a = authorizer(service, None);
        decide(&a, 20);
        let start = Instant::now();
        let report = a.shutdown(Duration::from_millis(500));
        (report, start.elapsed(), a)
    })
    .await
    .unwrap();
    assert!(!report.completed);
    assert!(took < Duration::from_secs(3), "{took:?}");
    // A decision after shutdown is still answered (and its record dropped, counted).
    let a = tokio::task::spawn_blocking(move || {
        decide(&a, 1);
        a
    })
    .await
    .unwrap();
    assert!(a.metrics().decision_log.dropped >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_is_bounded_while_the_collector_stalls() {
    let (_state, server) = collector(Mode::Stall).await;
    let service = json!({"url": server.url(""), "path": "v1/logs", "timeout_ms": 500,
                         "max_retries": 20});
    let (took, a) = tokio::task::spawn_blocking(move || {
        let a = authorizer(service, None);
        decide(&a, 5);
        let start = Instant::now();
        a.flush();
        (start.elapsed(), a)
    })
    .await
    .unwrap();
    // One request and a retry's worth (2 × 500 ms + 2 s), not twenty retries.
    assert!(took < Duration::from_secs(6), "{took:?}");
    let report = tokio::task::spawn_blocking(move || a.shutdown(Duration::from_millis(200)))
        .await
        .unwrap();
    assert!(!report.completed);
}

#[test]
fn service_sink_config_is_checked() {
    let bad = |log: Value| {
        let doc = json!({
            "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["ES256"],
                         "jwks": jwks(&["ec-p256"])}],
            "decision_log": log,
        });
        AuthorizerConfig::from_json_str(&doc.to_string())
            .unwrap_err()
            .to_string()
    };
    assert!(bad(json!({"sink": "service"})).contains("decision_log.service"));
    assert!(
        bad(json!({"sink": "file", "path": "x", "service": {"url": "https://c.example"}}))
            .contains("only applies")
    );
    assert!(
        bad(json!({"sink": "service", "service": {"url": "http://collector.example.com"}}))
            .contains("https")
    );
    assert!(
        bad(json!({"sink": "service", "service": {"url": "https://c.example", "max_retries": 50}}))
            .contains("max_retries")
    );
}

/// `format = "opa"`: the collector receives OPA's decision events, which it checks field by
/// field as an OPA decision-log consumer reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opa_format_uploads_opa_decision_events() {
    let (state, server) = collector(Mode::Accept).await;
    let service = json!({"url": server.url(""), "path": "v1/logs", "max_delay_ms": 60000});
    let (ids, a) = tokio::task::spawn_blocking(move || {
        let a = authorizer_as(service, None, "opa");
        let ids = decide(&a, 4);
        a.flush();
        (ids, a)
    })
    .await
    .unwrap();
    let records = state.lock().unwrap().records.clone();
    assert_eq!(records.len(), 4);
    for (r, id) in records.iter().zip(&ids) {
        assert_eq!(r["decision_id"], json!(id));
        assert_eq!(r["path"], json!("zt/authz/decision"));
        assert_eq!(r["labels"]["app"], json!("zt"));
        assert_eq!(r["labels"]["service"], json!("orders"));
        assert!(r["labels"]["version"].is_string());
        assert!(r["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(
            r["bundles"]["zt"]["revision"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        assert!(r["metrics"]["timer_rego_query_eval_ns"].as_u64().unwrap() > 0);
        assert!(r["metrics"]["timer_server_handler_ns"].as_u64().unwrap() > 0);
        // Masked as in zt's shape, and listed as OPA lists masked paths.
        assert_eq!(
            r["input"]["subject"]["claims"]["email"],
            json!(zt_core::MASKED)
        );
        assert_eq!(r["masked"], json!(["/input/subject/claims/email"]));
        assert!(r["input"]["request"]["method"].is_string());
        // zt's own decision under `custom.zt`; none of zt's top-level names.
        assert_eq!(r["custom"]["zt"]["decision_id"], json!(id));
        assert!(r.get("outcome").is_none() && r.get("entrypoint").is_none());
    }
    // The result is the policy's output as zt read it; a failure is OPA's `error`.
    assert_eq!(records[0]["result"]["allow"], json!(true));
    assert!(records[0].get("error").is_none());
    assert!(records[1].get("result").is_none());
    assert_eq!(records[1]["error"]["code"], json!("policy_undefined"));
    assert!(records[1]["error"]["message"].is_string());
    assert_eq!(records[1]["custom"]["zt"]["outcome"], json!("deny"));
    assert_settled(&a);
    tokio::task::spawn_blocking(move || drop(a)).await.unwrap();
    drop(server);
}
