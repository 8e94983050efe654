#![cfg(test)]
//! The serde and error surface every binding wraps: decision shape, config from a value,
//! requests from JSON, error codes, shutdown.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zt_core::{
    Authorizer, AuthorizerConfig, BuildError, ManualClock, Outcome, Reason, Request, ShutdownReport,
};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://idp.example.com";

const POLICY: &str = r#"
package zt.authz
import rego.v1

decision := {"allow": true, "obligations": {"response_headers": {"x-a": "1"}}} if {
	input.request.method == "GET"
}
decision := {"allow": false, "step_up": {"acr_values": "mfa", "max_age": 60}} if {
	input.request.path == "/admin"
}
decision := {"allow": false, "reasons": ["no_writes"]} if input.request.method == "POST"
"#;

fn config_toml(extra: &str) -> String {
    let jwk = zt_testkit::jwk("ec-p256");
    format!(
        r#"service = "orders"
[[issuers]]
issuer = "{ISS}"
audiences = ["api"]
algorithms = ["ES256"]
jwks = {{ keys = [{{ kty = "EC", kid = "ec-p256", crv = "P-256", x = "{x}", y = "{y}" }}] }}
[jwks]
ttl_s = 300
{extra}"#,
        x = jwk["x"].as_str().unwrap(),
        y = jwk["y"].as_str().unwrap(),
    )
}

fn token(sub: &str) -> String {
    let claims = json!({"iss": ISS, "sub": sub, "aud": "api", "iat": NOW, "exp": NOW + 600});
    zt_testkit::mint("ec-p256", "ES256", &claims)
}

fn authorizer(extra: &str, records: Option<Arc<Mutex<Vec<String>>>>) -> Authorizer {
    let config = AuthorizerConfig::from_toml_str(&config_toml(extra)).unwrap();
    build(config, Arc::new(ManualClock::at_unix(NOW)), records)
}

/// The test policy, the given clock, and a callback sink collecting into `records`.
fn build(
    config: AuthorizerConfig,
    clock: Arc<dyn zt_core::Clock>,
    records: Option<Arc<Mutex<Vec<String>>>>,
) -> Authorizer {
    let mut b = Authorizer::builder(config)
        .clock(clock)
        .policy_files(vec![("authz.rego".into(), POLICY.as_bytes().to_vec())]);
    if let Some(r) = records {
        b = b.log_callback(move |line| r.lock().unwrap().push(line.to_owned()));
    }
    b.build().unwrap()
}

/// The documented decision fields (README "Using zt-core", DESIGN.md "Decision").
const DECISION_FIELDS: [&str; 13] = [
    "decision_id",
    "outcome",
    "evaluated",
    "enforced",
    "mode",
    "warning",
    "reasons",
    "policy_reasons",
    "step_up",
    "obligations",
    "policy_revision",
    "timings_ns",
    "shadow",
];

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn every_decision_serialises_to_the_documented_shape() {
    let authz = authorizer("[decision_log]\nsink = \"none\"", None);
    authz
        .policy()
        .set_shadow_files(Some(vec![(
            "authz.rego".into(),
            b"package zt.authz\ndecision := false".to_vec(),
        )]))
        .unwrap();
    let cases = [
        (
            "allow",
            Request::new("GET", "/orders").bearer(token("alice")),
            "allow",
        ),
        (
            "policy deny",
            Request::new("POST", "/orders").bearer(token("alice")),
            "deny",
        ),
        (
            "step-up",
            Request::new("PUT", "/admin").bearer(token("alice")),
            "step_up",
        ),
        ("no token", Request::new("GET", "/orders"), "deny"),
        (
            "bad token",
            Request::new("GET", "/").bearer("a.b.c"),
            "deny",
        ),
    ];
    let want: BTreeSet<String> = DECISION_FIELDS.iter().map(|s| (*s).to_owned()).collect();
    for (name, request, outcome) in cases {
        let d = authz.authorize_sync(&request);
        let v = d.to_json();
        assert_eq!(keys(&v), want, "{name}");
        assert_eq!(v["outcome"], outcome, "{name}");
        assert_eq!(v["decision_id"], d.id, "{name}");
        assert_eq!(
            keys(&v["timings_ns"]),
            ["input", "policy", "posture", "shadow", "token", "total"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            "{name}"
        );
        let reasons: Vec<Value> = d.reasons.iter().map(|r| json!(r.as_str())).collect();
        assert_eq!(v["reasons"], Value::Array(reasons), "{name}");
        assert!(
            !v.to_string().contains("eyJ"),
            "{name}: no token in the decision"
        );
    }
    let d = authz.authorize_sync(&Request::new("GET", "/orders").bearer(token("alice")));
    let v = d.to_json();
    let revision = d.policy_revision.clone().unwrap();
    assert!(revision.starts_with("sha256:"), "{revision}");
    for (field, want) in [
        ("evaluated", json!("allow")),
        ("enforced", json!(true)),
        ("mode", json!("enforce")),
        ("warning", json!(false)),
        ("reasons", json!([])),
        ("policy_reasons", json!([])),
        ("step_up", Value::Null),
        ("obligations", json!({"response_headers": {"x-a": "1"}})),
        ("policy_revision", json!(revision)),
    ] {
        assert_eq!(v[field], want, "{field}");
    }
    assert_eq!(v["timings_ns"]["total"], d.timings.total_ns);
    let d = authz.authorize_sync(&Request::new("PUT", "/admin").bearer(token("alice")));
    assert_eq!(
        d.to_json()["step_up"],
        json!({"acr_values": "mfa", "max_age": 60})
    );
    let s = &d.to_json()["shadow"];
    assert_eq!(
        keys(s),
        ["diverged", "outcome", "reasons", "revision"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    );
    assert_eq!(s["outcome"], "deny");
}

#[test]
fn decision_log_records_carry_the_decision_shape() {
    let records = Arc::new(Mutex::new(Vec::new()));
    let authz = authorizer("[decision_log]\nsink = \"callback\"", Some(records.clone()));
    let decisions = [
        authz.authorize_sync(&Request::new("GET", "/orders").bearer(token("alice"))),
        authz.authorize_sync(&Request::new("GET", "/orders")),
    ];
    authz.flush();
    let lines = records.lock().unwrap().clone();
    assert_eq!(lines.len(), 2);
    for (line, d) in lines.iter().zip(&decisions) {
        let record: Value = serde_json::from_str(line).unwrap();
        let decision = d.to_json();
        for field in DECISION_FIELDS {
            assert_eq!(record[field], decision[field], "{field}");
        }
        for field in ["timestamp", "service", "entrypoint", "input", "result"] {
            assert!(record.get(field).is_some(), "record lacks {field}");
        }
        assert_eq!(record["service"], "orders");
    }
}

#[test]
fn config_from_value_equals_config_from_file() {
    let dir = std::env::temp_dir().join(format!("zt-surface-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = config_toml("[enforcement]\nmode = \"warn\"\ncanary_percent = 50\n");
    let path = dir.join("zt.toml");
    std::fs::write(&path, &text).unwrap();
    let from_file = AuthorizerConfig::from_path(&path).unwrap();
    let as_value = serde_json::to_value(toml::from_str::<toml::Value>(&text).unwrap()).unwrap();
    let from_value = AuthorizerConfig::from_value(as_value.clone()).unwrap();
    assert_eq!(
        serde_json::to_value(&from_file).unwrap(),
        serde_json::to_value(&from_value).unwrap()
    );

    // Invalid values: the same code and key path as the file loader, the same message (the
    // file loader adds where in the file).
    let cases: [(&str, Value, &str); 4] = [
        ("unknown key", json!({"jwks": {"ttl": 1}}), "config_parse"),
        (
            "wrong type",
            json!({"jwks": {"ttl_s": "ten"}}),
            "config_parse",
        ),
        (
            "out of range",
            json!({"jwks": {"ttl_s": 1}}),
            "config_out_of_range",
        ),
        (
            "bad mode",
            json!({"enforcement": {"mode": "sometimes"}}),
            "config_parse",
        ),
    ];
    for (name, patch, code) in cases {
        let mut value = as_value.clone();
        merge(&mut value, &patch);
        let from_value = AuthorizerConfig::from_value(value.clone()).unwrap_err();
        let json_path = dir.join("zt.json");
        std::fs::write(&json_path, value.to_string()).unwrap();
        let from_file = AuthorizerConfig::from_path(&json_path).unwrap_err();
        assert_eq!(from_value.code(), code, "{name}");
        assert_eq!(from_file.code(), code, "{name}");
        assert_eq!(from_value.key(), from_file.key(), "{name}");
        assert_eq!(from_file.file(), Some(json_path.as_path()), "{name}");
        assert_eq!(from_value.file(), None, "{name}");
        let (ZtMsg(v), ZtMsg(f)) = (message(&from_value), message(&from_file));
        assert!(f.starts_with(&v), "{name}: `{f}` vs `{v}`");
    }
    std::fs::remove_dir_all(&dir).ok();
}

struct ZtMsg(String);

/// The message part of a config error (after the key; without the file prefix).
fn message(e: &zt_core::ConfigError) -> ZtMsg {
    let v = serde_json::to_value(e).unwrap();
    let m = v["message"].as_str().unwrap().to_owned();
    let m = match m.split_once("`: ") {
        Some((_, rest)) if m.starts_with("in `") => rest.to_owned(),
        _ => m,
    };
    // Drop a trailing position a text parser adds (`at line 1 column 9`).
    let m = m.split(" at line ").next().unwrap_or_default().to_owned();
    ZtMsg(m)
}

fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(slot) if v.is_object() && slot.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

#[test]
fn requests_from_json_decide_like_built_requests() {
    let authz = authorizer(
        "[request]\nheaders = [\"x-tenant\"]\n[decision_log]\nsink = \"none\"",
        None,
    );
    let t = token("alice");
    let built = Request::new("GET", "/orders?x=1")
        .bearer(t.clone())
        .host("api.example.com")
        .header("x-tenant", "acme")
        .source_ip("10.0.0.1");
    let from_json = Request::from_value(json!({
        "method": "GET", "path": "/orders?x=1", "token": t, "host": "api.example.com",
        "headers": {"x-tenant": "acme"}, "source_ip": "10.0.0.1",
        "device": null, "resource": {}, "spiffe_id": null, "posture_assertion": null,
    }))
    .unwrap();
    let pairs = Request::from_value(json!({
        "method": "GET", "path": "/orders?x=1", "token": token("alice"),
        "headers": [["x-tenant", "acme"]],
    }))
    .unwrap();
    for r in [&built, &from_json, &pairs] {
        let d = authz.authorize_sync(r);
        assert_eq!(d.outcome, Outcome::Allow);
    }
    let via_serde: Request = serde_json::from_value(json!({"method": "GET", "path": "/"})).unwrap();
    assert_eq!(
        authz.authorize_sync(&via_serde).reasons,
        vec![Reason::TokenMissing]
    );

    let bad = [
        (
            "unknown field",
            json!({"method": "GET", "path": "/", "tokn": "x"}),
            "tokn",
        ),
        ("missing path", json!({"method": "GET"}), "."),
        (
            "wrong type",
            json!({"method": "GET", "path": "/", "headers": {"a": 1}}),
            "headers",
        ),
        (
            "bad device",
            json!({"method": "GET", "path": "/", "device": {"managed": "yes"}}),
            "device",
        ),
        (
            "resource not an object",
            json!({"method": "GET", "path": "/", "resource": []}),
            "resource",
        ),
    ];
    for (name, v, field) in bad {
        let e = Request::from_value(v).unwrap_err();
        assert_eq!(e.code(), "request_invalid", "{name}");
        assert_eq!(e.field(), field, "{name}: {e}");
        assert_eq!(serde_json::to_value(&e).unwrap()["field"], field, "{name}");
    }
}

#[test]
fn malformed_authorization_is_a_counted_logged_deny() {
    let records = Arc::new(Mutex::new(Vec::new()));
    let authz = authorizer("[decision_log]\nsink = \"callback\"", Some(records.clone()));
    let d = authz.authorize_sync(
        &Request::new("GET", "/orders")
            .bearer(token("alice"))
            .malformed_authorization("more than one Authorization header"),
    );
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.reasons, vec![Reason::AuthorizationMalformed]);
    authz.flush();
    assert_eq!(records.lock().unwrap().len(), 1);
    assert_eq!(
        authz.metrics().by_reason.get("authorization_malformed"),
        Some(&1)
    );
    let http = zt_core::HttpAnswer::new(&d, "api");
    assert_eq!(
        (http.status, http.bearer_error),
        (401, Some("invalid_request"))
    );
}

#[test]
fn metrics_status_and_test_results_serialise() {
    let authz = authorizer("[decision_log]\nsink = \"none\"", None);
    authz.authorize_sync(&Request::new("GET", "/orders").bearer(token("alice")));
    let m = serde_json::to_value(authz.metrics()).unwrap();
    assert_eq!(m["decisions"], 1);
    assert_eq!(m["outcome"]["allow"], 1);
    assert_eq!(
        keys(&m["latency"]["total"]),
        ["count", "max_ns", "mean_ns", "p50_ns", "p95_ns", "p99_ns"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    );
    assert_eq!(m["latency"]["total"]["count"], 1);
    assert!(m.get("buckets").is_none());
    let status = authz.verifier().jwks_status(ISS).unwrap();
    assert_eq!(
        serde_json::to_value(status).unwrap()["key_ids"],
        json!(["ec-p256"])
    );
    let dir = std::env::temp_dir().join(format!("zt-surface-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("t.rego"),
        "package t\nimport rego.v1\ntest_ok if true\ntest_bad if false\n",
    )
    .unwrap();
    let results = zt_core::test_bundle(&dir, &zt_core::PolicyConfig::default(), None).unwrap();
    assert_eq!(
        serde_json::to_value(results).unwrap(),
        json!([
            {"name": "data.t.test_ok", "passed": true, "error": null, "indexed": false},
            {"name": "data.t.test_bad", "passed": false, "error": null, "indexed": false},
        ])
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn shutdown_with_a_slow_callback_returns_by_its_timeout_and_reports_drops() {
    let written = Arc::new(Mutex::new(0u32));
    let w = written.clone();
    let config =
        AuthorizerConfig::from_toml_str(&config_toml("[decision_log]\nsink = \"callback\""))
            .unwrap();
    let authz = Authorizer::builder(config)
        .clock(Arc::new(ManualClock::at_unix(NOW)))
        .policy_files(vec![("authz.rego".into(), POLICY.as_bytes().to_vec())])
        .log_callback(move |_| {
            std::thread::sleep(Duration::from_millis(200));
            *w.lock().unwrap() += 1;
        })
        .build()
        .unwrap();
    for _ in 0..10 {
        authz.authorize_sync(&Request::new("GET", "/orders"));
    }
    let t0 = Instant::now();
    let report: ShutdownReport = authz.shutdown(Duration::from_millis(300));
    // Bounded, not timed: ten 200 ms records would take two seconds to write.
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    assert!(!report.completed);
    assert!(report.abandoned >= 1, "{report:?}");
    assert_eq!(report.decision_log.enqueued, 10);
    // After shutdown, decisions still work but are not logged.
    let d = authz.authorize_sync(&Request::new("GET", "/orders").bearer(token("alice")));
    assert_eq!(d.outcome, Outcome::Allow);
    // The writer drops what was abandoned once the callback in progress returns.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = authz.metrics().decision_log;
        if s.written + s.dropped + s.failed == s.enqueued {
            assert!(s.dropped >= 2, "{s:?}");
            assert!(s.written < 10, "{s:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "abandoned records were never dropped: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        u64::from(*written.lock().unwrap()),
        authz.metrics().decision_log.written
    );
    // A later shutdown never waits again (the writer was abandoned) and reports the same.
    let t0 = Instant::now();
    let again = authz.shutdown(Duration::from_secs(30));
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert!(!again.completed);
    assert_eq!(again.decision_log, authz.metrics().decision_log);
}

#[test]
fn shutdown_with_a_quick_sink_completes_and_stops_key_fetches() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(zt_testkit::JwksServer::start(&zt_testkit::jwks(&[
        "ec-p256",
    ])));
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let config = AuthorizerConfig::from_value(json!({
        "issuers": [{"issuer": ISS, "audiences": ["api"], "algorithms": ["ES256"],
                     "jwks_uri": server.jwks_uri()}],
        "decision_log": {"sink": "callback"},
    }))
    .unwrap();
    let records = Arc::new(Mutex::new(Vec::new()));
    let authz = build(config, clock.clone(), Some(records.clone()));
    authz.verifier().ready_blocking().unwrap();
    let fetched = server.jwks_hits();
    let claims = json!({"iss": ISS, "sub": "alice", "aud": "api", "iat": NOW, "exp": NOW + 600});
    let unknown_kid = |kid: &str| {
        let header = json!({"alg": "ES256", "kid": kid}).to_string();
        zt_testkit::sign_raw(&header, &claims.to_string(), "ec-p256", "ES256")
    };
    // Control: before shutdown an unknown kid is refetched once.
    let d =
        rt.block_on(authz.authorize(&Request::new("GET", "/orders").bearer(unknown_kid("k-1"))));
    assert_eq!(d.reasons, vec![Reason::UnknownKey]);
    assert_eq!(server.jwks_hits(), fetched + 1);

    let report = authz.shutdown(Duration::from_secs(5));
    assert!(report.completed);
    assert_eq!((report.abandoned, report.decision_log.written), (0, 1));
    assert_eq!(records.lock().unwrap().len(), 1);
    assert_eq!(
        serde_json::to_value(report).unwrap()["decision_log"]["written"],
        1
    );

    // After shutdown: past the cooldown, an unknown kid is not fetched any more ...
    clock.advance(Duration::from_secs(120));
    let d =
        rt.block_on(authz.authorize(&Request::new("GET", "/orders").bearer(unknown_kid("k-2"))));
    assert_eq!(d.reasons, vec![Reason::UnknownKey]);
    assert_eq!(server.jwks_hits(), fetched + 1, "no fetch after shutdown");
    // ... cached keys keep deciding, and records are counted as dropped, not written.
    let d = authz.authorize_sync(&Request::new("GET", "/orders").bearer(token("alice")));
    assert_eq!(d.outcome, Outcome::Allow);
    let log = authz.metrics().decision_log;
    assert_eq!((log.written, log.dropped), (1, 2));
    assert_eq!(records.lock().unwrap().len(), 1);
}

#[test]
fn requests_never_show_tokens_in_debug_or_errors() {
    let r = Request::new("GET", "/orders?access_token=eyJquery")
        .bearer("eyJbearer")
        .header("x-device-posture", "eyJposture")
        .posture_assertion("eyJassertion");
    let debug = format!("{r:?}");
    assert!(!debug.contains("eyJ"), "{debug}");
    assert!(debug.contains("/orders"), "{debug}");
    let e = Request::from_value(json!({"method": "GET", "path": "/", "resource": "eyJsecret"}))
        .unwrap_err();
    assert_eq!(e.field(), "resource");
    assert!(!e.to_string().contains("eyJsecret"), "{e}");
    assert!(e.to_string().contains("invalid type"), "{e}");
}

#[test]
fn build_errors_carry_codes() {
    let config =
        AuthorizerConfig::from_toml_str(&config_toml("[decision_log]\nsink = \"callback\""))
            .unwrap();
    let e = Authorizer::builder(config.clone())
        .policy_files(vec![("a.rego".into(), POLICY.as_bytes().to_vec())])
        .build()
        .unwrap_err();
    assert_eq!(
        (e.code(), e.key()),
        ("decision_log_no_callback", Some("decision_log.sink"))
    );
    let e = Authorizer::new(config.clone()).unwrap_err();
    assert_eq!(e.code(), "no_policy");
    // A callback that the configured sink would never call is refused, not ignored.
    let file_sink =
        AuthorizerConfig::from_toml_str(&config_toml("[decision_log]\nsink = \"none\"")).unwrap();
    let e = Authorizer::builder(file_sink)
        .policy_files(vec![("a.rego".into(), POLICY.as_bytes().to_vec())])
        .log_callback(|_| {})
        .build()
        .unwrap_err();
    assert_eq!(
        (e.code(), e.key()),
        ("decision_log_callback_unused", Some("decision_log.sink"))
    );
    let e = Authorizer::builder(config)
        .policy_files(vec![(
            "a.rego".into(),
            b"package zt.authz\ndecision := ".to_vec(),
        )])
        .log_callback(|_| {})
        .build()
        .unwrap_err();
    assert!(matches!(e, BuildError::Policy(_)));
    assert_eq!(e.code(), "policy_parse");
    assert_eq!(e.file().as_deref(), Some("a.rego"));
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(
        (v["code"].as_str(), v["file"].as_str()),
        (Some("policy_parse"), Some("a.rego"))
    );
}

/// A clock that panics while armed: a stand-in for any bug on the decision path.
#[derive(Debug)]
struct PanickingClock {
    armed: std::sync::atomic::AtomicBool,
}

impl zt_core::Clock for PanickingClock {
    fn now_unix_ms(&self) -> u64 {
        if self.armed.load(std::sync::atomic::Ordering::SeqCst) {
            panic!("clock failure injected by the test");
        }
        NOW * 1000
    }
}

#[test]
fn a_panic_anywhere_on_the_decision_path_is_a_logged_internal_error_deny() {
    let clock = Arc::new(PanickingClock {
        armed: std::sync::atomic::AtomicBool::new(false),
    });
    let records = Arc::new(Mutex::new(Vec::new()));
    let config =
        AuthorizerConfig::from_toml_str(&config_toml("[decision_log]\nsink = \"callback\""))
            .unwrap();
    let authz = build(config, clock.clone(), Some(records.clone()));
    let ok = authz.authorize_sync(&Request::new("GET", "/orders").bearer(token("alice")));
    assert_eq!(ok.outcome, Outcome::Allow);
    clock.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    // A new token: verification itself reads the clock and panics.
    let request = Request::new("GET", "/orders").bearer(token("bob"));
    let d = authz.authorize_sync(&request);
    assert_eq!((d.outcome, d.enforced), (Outcome::Deny, true));
    assert_eq!(d.reasons, vec![Reason::InternalError]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let d = rt.block_on(authz.authorize(&request));
    assert_eq!(d.reasons, vec![Reason::InternalError]);
    clock
        .armed
        .store(false, std::sync::atomic::Ordering::SeqCst);
    authz.flush();
    assert_eq!(authz.metrics().by_reason.get("internal_error"), Some(&2));
    let logged = records.lock().unwrap().clone();
    assert_eq!(logged.len(), 3);
    assert!(logged[1].contains("\"internal_error\""), "{}", logged[1]);
}
