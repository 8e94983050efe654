#![cfg(test)]
//! Replay through the public API: a decision log written by the authorizer from the
//! quickstart's personas, replayed against candidates.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use zt_core::{
    Authorizer, AuthorizerConfig, CompiledBundle, ManualClock, PolicyConfig, ReplayOptions,
    ReplayReport, Request,
};
use zt_testkit::{
    ISS, NOW, PersonaToken, healthy_developers, jwks, mint, quickstart_personas, sample_bundle_dir,
    tamper,
};

const MASK: &str = "/subject/claims/email";

fn sample_files() -> Vec<(String, Vec<u8>)> {
    let dir = sample_bundle_dir();
    ["zt/authz.rego", "zt/authz_test.rego", "zt/config/data.json"]
        .iter()
        .map(|f| ((*f).to_owned(), std::fs::read(dir.join(f)).unwrap()))
        .collect()
}

/// The sample bundle with `edit` applied to its data (tests left out: they test the grants).
fn candidate(edit: impl FnOnce(&mut Value), extra: Option<(&str, &str)>) -> Arc<CompiledBundle> {
    let mut files: Vec<(String, Vec<u8>)> = sample_files()
        .into_iter()
        .filter(|(n, _)| !n.ends_with("_test.rego"))
        .collect();
    let data = files
        .iter_mut()
        .find(|(n, _)| n.ends_with("data.json"))
        .unwrap();
    let mut v: Value = serde_json::from_slice(&data.1).unwrap();
    edit(&mut v);
    data.1 = serde_json::to_vec(&v).unwrap();
    if let Some((name, src)) = extra {
        files.push((name.to_owned(), src.as_bytes().to_vec()));
    }
    CompiledBundle::from_files(files, &PolicyConfig::default()).unwrap()
}

struct Logged {
    path: std::path::PathBuf,
    /// Decision ids of the healthy developers' requests (all allowed).
    developer_ids: BTreeSet<String>,
    decisions: usize,
    active: Arc<CompiledBundle>,
}

/// The quickstart's personas and 20 healthy developers (twice each) decided with the sample
/// bundle, logged to a file with e-mail addresses masked.
fn write_log(name: &str) -> Logged {
    let path = std::env::temp_dir().join(format!("zt-replay-{}-{name}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let config = AuthorizerConfig::from_json_str(
        &json!({
            "service": "orders-api",
            "issuers": [{"issuer": ISS, "audiences": ["orders-api"], "algorithms": ["RS256", "ES256"],
                         "jwks": jwks(&["rsa2048-a", "ec-p256"])}],
            "posture": {"source": "claims", "claim": "device", "max_age_s": 900},
            "decision_log": {"sink": "file", "path": path, "mask": [MASK]},
        })
        .to_string(),
    )
    .unwrap();
    let authz = Authorizer::builder(config)
        .clock(Arc::new(ManualClock::at_unix(NOW)))
        .policy_files(sample_files())
        .build()
        .unwrap();
    let sign = |alg: &str, claims: &Value| match alg {
        "ES256" => mint("ec-p256", "ES256", claims),
        _ => mint("rsa2048-a", "RS256", claims),
    };
    let mut decisions = 0;
    for p in quickstart_personas(ISS, NOW) {
        let mut request = Request::new(p.method, p.path);
        match &p.token {
            PersonaToken::Signed { alg, claims } => request = request.bearer(sign(alg, claims)),
            PersonaToken::Tampered { signed_as, forged } => {
                request = request.bearer(tamper(&sign("ES256", signed_as), forged));
            }
            _ => {}
        }
        authz.authorize_sync(&request);
        decisions += 1;
    }
    let mut developer_ids = BTreeSet::new();
    for _ in 0..2 {
        for c in healthy_developers(ISS, NOW, 20) {
            let d =
                authz.authorize_sync(&Request::new("GET", "/orders/42").bearer(sign("ES256", &c)));
            assert!(d.is_allowed(), "{:?}", d.reasons);
            developer_ids.insert(d.id);
            decisions += 1;
        }
    }
    let report = authz.shutdown(std::time::Duration::from_secs(10));
    assert_eq!(report.decision_log.written as usize, decisions);
    let active = CompiledBundle::from_files(sample_files(), &PolicyConfig::default()).unwrap();
    assert_eq!(active.revision(), authz.policy().active_revision());
    Logged {
        path,
        developer_ids,
        decisions,
        active,
    }
}

fn run(log: &Logged, candidate: &CompiledBundle, baseline: bool) -> ReplayReport {
    let mut opts = ReplayOptions::default();
    opts.mask = vec![MASK.to_owned()];
    opts.examples = 100;
    opts.baseline = baseline.then_some(&*log.active);
    let file = std::fs::File::open(&log.path).unwrap();
    zt_core::replay(std::io::BufReader::new(file), candidate, &opts)
}

#[test]
fn a_candidate_that_forbids_developers_flips_exactly_their_decisions() {
    let log = write_log("no-dev");
    let no_dev = candidate(
        |d| {
            d["grants"].as_object_mut().unwrap().remove("dev");
        },
        None,
    );
    let r = run(&log, &no_dev, true);
    assert_eq!(r.records as usize, log.decisions);
    // carol (expired), erin (unknown issuer), mallory (tampered), anonymous: no policy ran.
    assert_eq!(r.not_evaluated, 4);
    assert_eq!(r.replayed as usize, log.decisions - 4);
    assert_eq!(r.flips, 40, "{r:#?}");
    assert_eq!(r.by_kind, [("allow->deny".to_owned(), 40)].into());
    let by = |dim: &str| r.groups[dim].clone();
    assert_eq!(by("path").len(), 1);
    assert_eq!(
        (by("path")[0].key.as_str(), by("path")[0].count),
        ("/orders", 40)
    );
    assert_eq!(by("method")[0].key, "GET");
    assert_eq!(by("reason")[0].key, "rbac_not_permitted");
    let subjects = by("subject");
    assert_eq!(subjects.len(), 20);
    assert!(
        subjects
            .iter()
            .all(|g| g.count == 2 && g.key.starts_with("user-"))
    );
    let flipped: BTreeSet<String> = by("path")[0].examples.iter().cloned().collect();
    assert_eq!(
        flipped, log.developer_ids,
        "exactly the developers' decisions"
    );
    // bob and dave (developers denied for posture) stay denied: no flip.
    // The log reproduces under the bundle that wrote it.
    let b = r.baseline.as_ref().unwrap();
    assert_eq!((b.checked, b.mismatches), (r.replayed, 0));
    assert_eq!(
        r.masked_reads.records, 0,
        "the sample policy does not read e-mail"
    );
    assert!(r.damaged.is_empty());
}

#[test]
fn the_same_bundle_flips_nothing() {
    let log = write_log("same");
    let r = run(&log, &log.active, false);
    assert_eq!(r.flips, 0);
    assert!(r.groups.is_empty());
    assert_eq!(r.candidate_revision, log.active.revision());
    assert_eq!(r.recorded_revisions[log.active.revision()], r.replayed);
}

#[test]
fn damaged_lines_are_reported_by_number_and_skipped() {
    let log = write_log("damaged");
    let text = std::fs::read_to_string(&log.path).unwrap();
    let first = text.lines().next().unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.insert(2, "this is not json".to_owned());
    lines.insert(5, r#"{"decision_id": "x"}"#.to_owned());
    lines.push(first[..first.len() / 2].to_owned()); // truncated last line
    std::fs::write(&log.path, lines.join("\n")).unwrap();
    let r = run(&log, &log.active, false);
    let got: Vec<(usize, &str)> = r
        .damaged
        .iter()
        .map(|d| (d.line, d.error.as_str()))
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].0, 3);
    assert!(got[0].1.starts_with("not a JSON object"), "{got:?}");
    assert_eq!(got[1].0, 6);
    assert!(got[1].1.contains("not a decision record"), "{got:?}");
    assert_eq!((got[2].0, got[2].1), (lines.len(), "truncated JSON"));
    assert_eq!(r.damaged_count, 3);
    assert_eq!(
        r.records as usize, log.decisions,
        "every good line still counted"
    );
}

#[test]
fn masked_fields_the_candidate_reads_are_counted_and_named() {
    let log = write_log("masked");
    let reads_email = candidate(
        |_| {},
        Some((
            "zt/vip.rego",
            "package zt.vip\nimport rego.v1\nvip if endswith(input.subject.claims.email, \"@example.com\")\n",
        )),
    );
    let r = run(&log, &reads_email, false);
    // Every record whose policy ran had a masked e-mail claim.
    assert_eq!(r.masked_reads.records, r.replayed);
    assert_eq!(r.masked_reads.fields[MASK], r.replayed);
    assert_eq!(r.flips, 0);
}
