#![cfg(test)]
//! Decision logs through the public API: record shape, masking checked on the written bytes,
//! a slow sink never blocking `authorize`, exact drop counting, and the hash chain.

use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zt_core::{Authorizer, AuthorizerConfig, ChainError, ManualClock, Request, verify_chain};
use zt_testkit::{ISS as IDP, NOW, claims, jwks, mint};

const POLICY: &str = r#"
package zt.authz
import rego.v1
decision := {"allow": true, "reasons": ["ok"]} if input.request.method == "GET"
decision := {"allow": false, "reasons": ["read_only"]} if input.request.method != "GET"
"#;

fn config(log: Value) -> AuthorizerConfig {
    let doc = json!({
        "service": "orders-api",
        "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["ES256"],
                     "jwks": jwks(&["ec-p256"])}],
        "request": {"headers": ["x-api-key", "x-request-id"]},
        "decision_log": log,
    });
    AuthorizerConfig::from_json_str(&doc.to_string()).unwrap()
}

fn builder(cfg: AuthorizerConfig) -> zt_core::AuthorizerBuilder {
    Authorizer::builder(cfg)
        .clock(Arc::new(ManualClock::at_unix(NOW)))
        .policy_files(vec![("p.rego".into(), POLICY.as_bytes().to_vec())])
}

fn token() -> String {
    let mut c = claims(IDP);
    c["email"] = json!("alice@example.com");
    c["groups"] = json!(["dev"]);
    mint("ec-p256", "ES256", &c)
}

fn temp_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("zt-log-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    dir
}

#[test]
fn records_have_the_contract_fields_and_masking_holds_on_the_bytes() {
    let path = temp_file("mask.jsonl");
    let cfg = config(json!({"sink": "file", "path": path,
        "mask": ["/subject/claims/email", "/request/headers/x-api-key", "/no/such/field"]}));
    let authz = builder(cfg).build().unwrap();
    let tok = token();
    let req = |m: &str, t: &str| {
        Request::new(m, "/orders/1?q=1")
            .bearer(t)
            .header("Authorization", format!("Bearer {t}"))
            .header("X-Api-Key", "sk_live_very_secret")
            .header("x-request-id", "req-7")
            .header("Cookie", "session=abcdef")
    };
    let allow = authz.authorize_sync(&req("GET", &tok));
    let deny = authz.authorize_sync(&req("POST", &tok));
    let rejected = authz.authorize_sync(&req("GET", "garbage-token-value"));
    authz.flush();
    let bytes = std::fs::read_to_string(&path).unwrap();
    for secret in [
        tok.as_str(),
        &tok[..40],
        "alice@example.com",
        "sk_live_very_secret",
        "garbage-token-value",
        "session=abcdef",
        "Bearer",
    ] {
        assert!(!bytes.contains(secret), "log leaks {secret}");
    }
    let lines: Vec<Value> = bytes
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (rec, d) in lines.iter().zip([&allow, &deny, &rejected]) {
        for field in [
            "decision_id",
            "timestamp",
            "service",
            "policy_revision",
            "entrypoint",
            "input",
            "result",
            "outcome",
            "enforced",
            "mode",
            "reasons",
            "timings_ns",
        ] {
            assert!(rec.get(field).is_some(), "missing {field} in {rec}");
        }
        assert_eq!(rec["decision_id"], json!(d.id));
        assert_eq!(rec["service"], json!("orders-api"));
        assert_eq!(rec["timestamp"], json!("2027-01-15T08:00:00.000Z"));
        assert_eq!(rec["entrypoint"], json!("data.zt.authz.decision"));
        assert_eq!(rec["outcome"], json!(d.outcome.as_str()));
    }
    let allow_rec = &lines[0];
    assert_eq!(
        allow_rec["input"]["subject"]["claims"]["email"],
        json!(zt_core::MASKED)
    );
    assert_eq!(allow_rec["input"]["subject"]["groups"], json!(["dev"]));
    assert_eq!(
        allow_rec["input"]["request"]["headers"]["x-api-key"],
        json!(zt_core::MASKED)
    );
    assert_eq!(
        allow_rec["input"]["request"]["headers"]["x-request-id"],
        json!("req-7")
    );
    assert_eq!(allow_rec["result"]["allow"], json!(true));
    assert_eq!(lines[1]["reasons"], json!(["policy_denied"]));
    assert_eq!(lines[1]["result"]["reasons"], json!(["read_only"]));
    // A rejected token: only the request part is logged, with the same header rules.
    assert_eq!(lines[2]["reasons"], json!(["token_malformed"]));
    assert_eq!(lines[2]["input"]["request"]["path"], json!("/orders/1"));
    assert_eq!(
        lines[2]["input"]["request"]["headers"]["x-api-key"],
        json!(zt_core::MASKED)
    );
    assert!(lines[2]["input"].get("subject").is_none());
    assert_eq!(lines[2]["policy_revision"], Value::Null);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_slow_sink_never_blocks_authorize_and_drops_are_counted_exactly() {
    const SINK_DELAY: Duration = Duration::from_millis(100);
    const N: u64 = 300;
    let received = Arc::new(AtomicU64::new(0));
    let seen = received.clone();
    let authz = builder(config(json!({"sink": "callback", "queue_capacity": 8})))
        .log_callback(move |_line| {
            std::thread::sleep(SINK_DELAY);
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let tok = token();
    let mut slowest = Duration::ZERO;
    for _ in 0..N {
        let t = Instant::now();
        authz.authorize_sync(&Request::new("GET", "/").bearer(&tok));
        slowest = slowest.max(t.elapsed());
    }
    // The bound is far below one sink write: no call waited for the sink.
    assert!(
        slowest < SINK_DELAY / 2,
        "slowest authorize took {slowest:?}"
    );
    authz.flush();
    let stats = authz.metrics().decision_log;
    let got = received.load(Ordering::SeqCst);
    assert_eq!(stats.enqueued, N);
    assert_eq!(stats.written, got);
    assert_eq!(
        stats.dropped,
        N - got,
        "every missing record is counted as dropped"
    );
    assert!(stats.dropped > 0, "the queue of 8 must have overflowed");
    assert!(authz.prometheus().contains(&format!(
        "zt_decision_log_records_total{{state=\"dropped\"}} {}",
        stats.dropped
    )));
}

#[test]
fn callback_receives_one_json_object_per_decision_and_drop_flushes() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let authz = builder(config(json!({"sink": "callback"})))
        .log_callback(move |line| sink.lock().unwrap().push(line.to_owned()))
        .build()
        .unwrap();
    for _ in 0..50 {
        authz.authorize_sync(&Request::new("GET", "/").bearer(token()));
    }
    drop(authz);
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 50, "dropping the authorizer flushes the queue");
    for l in lines.iter() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["outcome"], json!("allow"));
    }
}

fn chained(path: &std::path::Path, n: usize) {
    let cfg = config(json!({"sink": "hash_chained_file", "path": path}));
    let authz = builder(cfg).build().unwrap();
    for i in 0..n {
        let method = if i % 2 == 0 { "GET" } else { "POST" };
        authz.authorize_sync(&Request::new(method, format!("/orders/{i}")).bearer(token()));
    }
    // Drop flushes.
}

#[test]
fn hash_chain_detects_edited_deleted_and_swapped_lines() {
    let path = temp_file("chain.jsonl");
    chained(&path, 4);
    chained(&path, 3); // a new authorizer continues the chain
    let (n, last) = verify_chain(&path).unwrap();
    assert_eq!(n, 7);
    assert_eq!(last.len(), 64);
    let original = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    assert!(
        lines
            .iter()
            .all(|l| l.contains("\"prev_hash\":\"") && l.contains("\"hash\":\""))
    );

    let write = |ls: Vec<String>| std::fs::write(&path, ls.join("\n") + "\n").unwrap();
    let owned = || lines.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let mut edited = owned();
    edited[2] = edited[2].replacen("\"outcome\":\"allow\"", "\"outcome\":\"deny\"", 1);
    assert_ne!(edited[2], lines[2], "the edit must change the line");
    write(edited);
    assert_eq!(
        verify_chain(&path),
        Err(ChainError::HashMismatch { line: 3 })
    );

    let mut deleted = owned();
    deleted.remove(3);
    write(deleted);
    assert_eq!(verify_chain(&path), Err(ChainError::BrokenLink { line: 4 }));

    let mut swapped = owned();
    swapped.swap(1, 2);
    write(swapped);
    assert_eq!(verify_chain(&path), Err(ChainError::BrokenLink { line: 2 }));

    let mut first_removed = owned();
    first_removed.remove(0);
    write(first_removed);
    assert_eq!(verify_chain(&path), Err(ChainError::BrokenLink { line: 1 }));

    let mut garbage = owned();
    garbage[4] = "{\"not\":\"chained\"}".to_owned();
    write(garbage);
    assert_eq!(verify_chain(&path), Err(ChainError::Malformed { line: 5 }));

    write(owned());
    assert_eq!(
        verify_chain(&path).unwrap().0,
        7,
        "the untouched file verifies"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn an_unusable_log_file_is_a_build_error() {
    let cfg = config(json!({"sink": "file", "path": "/nonexistent-dir/zt/log.jsonl"}));
    let err = builder(cfg).build().unwrap_err();
    assert!(
        matches!(err, zt_core::BuildError::DecisionLog { .. }),
        "{err}"
    );
    let path = temp_file("notchain.jsonl");
    std::fs::write(&path, "plain line\n").unwrap();
    let cfg = config(json!({"sink": "hash_chained_file", "path": path}));
    let err = builder(cfg).build().unwrap_err();
    assert!(
        err.to_string().contains("not a hash-chained record"),
        "{err}"
    );
    let _ = std::fs::remove_file(&path);
}
