#![cfg(test)]
//! `zt_core::report_files` on logs a real authorizer wrote with the sample bundle: totals,
//! routes and reasons, the least-privilege review finding the planted unused privileged
//! entitlement (and no false one), the hash chain checked in the same pass (and a broken one
//! found), gzip-rotated files, and the time window.

use serde_json::{Value, json};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zt_core::{Authorizer, AuthorizerConfig, DeviceInput, ManualClock, ReportOptions, Request};
use zt_testkit::{ISS as IDP, NOW, healthy_device, jwks, mint, persona_claims, sample_bundle_dir};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zt-report-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Decisions for five subjects, written by a real authorizer to a hash-chained log at `at`:
/// - alice (admin) reads orders: uses `admin:all`;
/// - bob (admin, viewer) is only ever denied (no device): holds `admin:all` unused (planted);
/// - carol (viewer) reads orders: uses all she holds;
/// - dave (dev) reads and writes orders;
/// - erin (viewer, dev) only reads: `orders:read` and `orders:write` both allow a read.
fn write_log(path: &Path, at: u64) -> Authorizer {
    let doc = json!({
        "issuers": [{"issuer": IDP, "audiences": ["orders-api"], "algorithms": ["RS256"],
                     "jwks": jwks(&["rsa2048-a"])}],
        "policy": {"bundle": sample_bundle_dir()},
        "decision_log": {"sink": "hash_chained_file", "path": path},
    });
    let authz = Authorizer::builder(AuthorizerConfig::from_json_str(&doc.to_string()).unwrap())
        .clock(Arc::new(ManualClock::at_unix(at)))
        .build()
        .unwrap();
    let device = DeviceInput::from_json(&healthy_device(at)).unwrap();
    let token = |sub: &str, groups: &[&str]| {
        mint(
            "rsa2048-a",
            "RS256",
            &persona_claims(IDP, at, sub, groups, &json!(null), json!({})),
        )
    };
    let ask = |sub: &str, groups: &[&str], method: &str, path: &str, with_device: bool| {
        let mut r = Request::new(method, path).bearer(token(sub, groups));
        if with_device {
            r = r.device(device.clone());
        }
        authz.authorize_sync(&r)
    };
    assert!(ask("alice", &["admin"], "GET", "/orders/1", true).is_allowed());
    assert!(ask("alice", &["admin"], "GET", "/orders/2", true).is_allowed());
    assert!(!ask("bob", &["admin", "viewer"], "GET", "/orders/3", false).is_allowed());
    assert!(ask("carol", &["viewer"], "GET", "/orders/4", true).is_allowed());
    assert!(!ask("carol", &["viewer"], "POST", "/orders", true).is_allowed());
    assert!(ask("dave", &["dev"], "POST", "/orders", true).is_allowed());
    assert!(ask("dave", &["dev"], "GET", "/orders/5", true).is_allowed());
    assert!(ask("erin", &["viewer", "dev"], "GET", "/orders/6", true).is_allowed());
    // A token that does not verify: refused before the policy.
    let bad = authz.authorize_sync(&Request::new("GET", "/orders/7").bearer("x.y.z"));
    assert!(!bad.is_allowed());
    authz.flush();
    authz
}

#[test]
fn the_report_of_a_real_log_with_the_least_privilege_review() {
    let dir = temp_dir("real");
    let log = dir.join("decisions.log");
    let _authz = write_log(&log, NOW);
    // The policy's grants are logged with the decision.
    let text = std::fs::read_to_string(&log).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["result"]["grants"], json!(["admin:all"]));

    let opts = ReportOptions::new(None, None, Some(sample_bundle_dir()));
    let r = zt_core::report_files(std::slice::from_ref(&log), &opts).unwrap();
    assert_eq!(r.decisions, 9);
    assert_eq!((r.outcomes.allow, r.outcomes.deny), (6, 3));
    assert!((r.deny_rate - 3.0 / 9.0).abs() < 1e-9);
    assert_eq!(r.policy_error_rate, 0.0);
    assert_eq!(r.damaged, 0);
    let chain = r.chain.clone().unwrap();
    assert!(chain.verified && chain.records == 9, "{chain:?}");
    assert!(r.latency_us.p50 > 0.0 && r.latency_us.max >= r.latency_us.p99);
    assert!(r.stages_us.contains_key("policy"));
    let route = |m: &str, p: &str| r.routes.iter().find(|x| x.method == m && x.route == p);
    assert_eq!(route("GET", "/orders/{n}").unwrap().count, 7);
    assert_eq!(route("POST", "/orders").unwrap().count, 2);
    let reason = |c: &str| r.reasons.iter().find(|x| x.code == c).map(|x| x.count);
    assert_eq!(reason("policy_denied"), Some(2));
    assert_eq!(r.token_failures.len(), 1);
    assert_eq!(r.token_failures[0].count, 1);
    assert!(
        r.policy_reasons
            .iter()
            .any(|x| x.code == "device_posture_missing")
    );
    assert_eq!(r.bucket, "hour");
    assert_eq!(r.buckets.len(), 1);

    // Least privilege: bob holds admin:all and never used it; nobody else holds anything
    // privileged unused (erin's second grant was used by the same read).
    let lp = r.least_privilege.clone().unwrap();
    assert_eq!(lp.subjects, 5);
    assert_eq!(lp.subjects_with_unused_privileged, 1);
    assert!((lp.share - 0.2).abs() < 1e-9);
    assert_eq!(lp.privileged, ["admin:all"]);
    assert_eq!(lp.entries.len(), 1, "{:#?}", lp.entries);
    let bob = &lp.entries[0];
    assert_eq!((bob.issuer.as_str(), bob.subject.as_str()), (IDP, "bob"));
    assert_eq!(bob.held, ["admin:all", "orders:read"]);
    assert!(bob.used.is_empty());
    assert_eq!(bob.unused_privileged, ["admin:all"]);
    assert_eq!(lp.evaluation_errors, 0);

    // The JSON contract's keys.
    let v = serde_json::to_value(&r).unwrap();
    for key in [
        "decisions",
        "window",
        "outcomes",
        "deny_rate",
        "step_up_rate",
        "policy_error_rate",
        "latency_us",
        "reasons",
        "routes",
        "least_privilege",
        "chain",
    ] {
        assert!(v.get(key).is_some(), "no `{key}`");
    }
    for key in ["from", "to"] {
        assert!(v["window"][key].is_string());
    }
    for key in ["p50", "p95", "p99", "max"] {
        assert!(v["latency_us"][key].is_number());
    }
    for key in ["method", "route", "count", "deny_rate", "p95_us"] {
        assert!(v["routes"][0].get(key).is_some());
    }
    for key in [
        "issuer",
        "subject",
        "held",
        "used",
        "unused",
        "unused_privileged",
    ] {
        assert!(v["least_privilege"]["entries"][0].get(key).is_some());
    }
    let md = r.to_markdown();
    assert!(md.contains("| GET | /orders/{n} | 7 |"), "{md}");
    assert!(md.contains("1 of 5 subjects (20.00 %)"), "{md}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn rotated_gzip_files_a_window_and_a_broken_chain() {
    let dir = temp_dir("rotated");
    // Yesterday's log, rotated and compressed; today's as it is.
    let old = dir.join("decisions.log");
    drop(write_log(&old, NOW - 86_400));
    let gz = dir.join("decisions.log.1.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&std::fs::read(&old).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let today = dir.join("decisions-today.log");
    drop(write_log(&today, NOW));
    let both = [gz.clone(), today.clone()];
    let r = zt_core::report_files(&both, &ReportOptions::default()).unwrap();
    assert_eq!(r.decisions, 18);
    assert!(r.chain.as_ref().unwrap().verified);
    assert_eq!(r.chain.as_ref().unwrap().records, 18);
    assert!(r.least_privilege.is_none(), "no review without a bundle");
    assert_eq!(r.files.len(), 2);
    // A day and a bit is still counted by the hour (up to three days).
    assert_eq!(r.bucket, "hour");
    assert_eq!(r.buckets.len(), 25);

    // The window keeps today only.
    let since = (NOW - 3600) * 1000;
    let r = zt_core::report_files(&both, &ReportOptions::new(Some(since), None, None)).unwrap();
    assert_eq!(r.decisions, 9);
    let until = (NOW - 3600) * 1000;
    let r = zt_core::report_files(&both, &ReportOptions::new(None, Some(until), None)).unwrap();
    assert_eq!(r.decisions, 9);

    // A record edited after the fact breaks the chain; the report still counts it, and says
    // where the chain breaks.
    let text = std::fs::read_to_string(&today).unwrap();
    let edited = text.replacen("\"outcome\":\"deny\"", "\"outcome\":\"allow\"", 1);
    assert_ne!(edited, text);
    std::fs::write(&today, edited).unwrap();
    let r = zt_core::report_files(std::slice::from_ref(&today), &ReportOptions::default()).unwrap();
    let chain = r.chain.unwrap();
    assert!(!chain.verified);
    assert!(chain.error.unwrap().contains("decisions-today.log"));
    assert_eq!(r.decisions, 9);

    // A second file whose hashes were stripped is not vouched for by the others' chains.
    let stripped = dir.join("stripped.log");
    let plain: String = std::fs::read_to_string(&old)
        .unwrap()
        .lines()
        .map(|l| format!("{}}}\n", &l[..l.rfind(",\"hash\":").unwrap()]))
        .collect();
    std::fs::write(&stripped, plain).unwrap();
    let r =
        zt_core::report_files(&[gz.clone(), stripped.clone()], &ReportOptions::default()).unwrap();
    let chain = r.chain.unwrap();
    assert!(!chain.verified);
    assert!(chain.error.unwrap().contains("stripped.log"));
    assert_eq!(r.decisions, 18);
    // Alone it is simply an unchained log.
    let r =
        zt_core::report_files(std::slice::from_ref(&stripped), &ReportOptions::default()).unwrap();
    assert!(r.chain.is_none());
    // A junk line inside a chained file breaks its chain.
    let mut junk_inside = std::fs::read_to_string(&old).unwrap();
    junk_inside.push_str("\u{1}not a record\n");
    let inside = dir.join("junk-inside.log");
    std::fs::write(&inside, junk_inside).unwrap();
    let r =
        zt_core::report_files(std::slice::from_ref(&inside), &ReportOptions::default()).unwrap();
    assert!(!r.chain.unwrap().verified);

    // Damaged lines are counted and named; an unreadable file is an error.
    let junk = dir.join("junk.log");
    std::fs::write(
        &junk,
        "not json\n{\"outcome\":\"allow\"}\n\n{\"truncated\":",
    )
    .unwrap();
    let r = zt_core::report_files(std::slice::from_ref(&junk), &ReportOptions::default()).unwrap();
    assert_eq!((r.decisions, r.damaged), (1, 2));
    assert_eq!(r.damaged_lines[0].line, 1);
    // With a window, a record without a usable time is not counted in it.
    let r = zt_core::report_files(
        std::slice::from_ref(&junk),
        &ReportOptions::new(Some(0), Some(u64::MAX - 1), None),
    )
    .unwrap();
    assert_eq!((r.decisions, r.damaged), (0, 3));
    let e =
        zt_core::report_files(&[dir.join("missing.log")], &ReportOptions::default()).unwrap_err();
    assert_eq!(e.code(), "report_io");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_generated_month_in_json_markdown_and_html() {
    let dir = temp_dir("month");
    let log = dir.join("month.log");
    let mut text = String::new();
    // 30 days, a record every two hours, one in four denied, two subjects.
    for i in 0..360u64 {
        let at = format!("2026-12-{:02}T{:02}:00:00.000Z", 1 + i / 12, (i % 12) * 2);
        let deny = i % 4 == 0;
        let sub = if i % 2 == 0 { "ann" } else { "ben" };
        let rec = json!({
            "timestamp": at,
            "decision_id": format!("d{i}"),
            "outcome": if deny { "deny" } else { "allow" },
            "evaluated": if deny { "deny" } else { "allow" },
            "mode": "enforce",
            "reasons": if deny { json!(["policy_denied"]) } else { json!([]) },
            "timings_ns": {"token": 2000, "policy": 5000, "total": 9000 + i * 10},
            "input": {"request": {"method": "GET", "path": format!("/orders/{i}")},
                      "subject": {"id": sub, "issuer": IDP, "groups": ["admin", "viewer"]}},
            "result": {"allow": !deny, "grants": if deny { json!([]) } else { json!(["orders:read"]) }},
        });
        text.push_str(&rec.to_string());
        text.push('\n');
    }
    std::fs::write(&log, text).unwrap();
    let opts = ReportOptions::new(None, None, Some(sample_bundle_dir()));
    let r = zt_core::report_files(std::slice::from_ref(&log), &opts).unwrap();
    assert_eq!(r.decisions, 360);
    assert_eq!(r.bucket, "day");
    assert_eq!(r.buckets.len(), 30);
    assert!(r.buckets.iter().all(|b| b.decisions == 12 && b.deny == 3));
    assert_eq!(r.window.from.as_deref(), Some("2026-12-01T00:00:00.000Z"));
    assert_eq!(
        r.latency_distribution.iter().map(|b| b.count).sum::<u64>(),
        360
    );
    // Both hold admin rights they never used (they only read orders).
    let lp = r.least_privilege.clone().unwrap();
    assert_eq!((lp.subjects, lp.subjects_with_unused_privileged), (2, 2));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["bucket"], "day");
    let md = r.to_markdown();
    assert!(
        md.contains("## Per day") && md.contains("| 2026-12-01T00:00:00.000Z | 12 | 3 | 25.00 % |"),
        "{md}"
    );
    let html = r.to_html();
    assert_eq!(html.matches("<svg").count(), 4);
    assert!(html.contains("Decisions per day"));
    std::fs::remove_dir_all(&dir).ok();
}
