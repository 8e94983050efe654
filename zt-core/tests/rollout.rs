#![cfg(test)]
//! Change safety through the public API: the rollout gate (stages, rollback, promotion), the
//! runtime enforcement switch (API, override file, `data.zt.enforcement`) under load.

use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zt_core::{
    Authorizer, AuthorizerConfig, EnforcementMode, EnforcementSource, ManualClock, Outcome,
    PolicyError, Request,
};
use zt_testkit::{ISS as IDP, NOW, claims, jwks, merge, mint};

/// Allows everything, with `marker` as its only policy reason.
fn allow_all(marker: &str) -> Vec<(String, Vec<u8>)> {
    rego(&format!(
        r#"decision := {{"allow": true, "reasons": ["{marker}"]}}"#
    ))
}

/// Denies paths `/p0`, `/p1` and `/p2` (30 % of the synthetic traffic).
fn denies_thirty_percent(marker: &str) -> Vec<(String, Vec<u8>)> {
    rego(&format!(
        r#"default decision := {{"allow": true, "reasons": ["{marker}"]}}
decision := {{"allow": false, "reasons": ["{marker}"]}} if input.request.path in {{"/p0", "/p1", "/p2"}}"#
    ))
}

fn rego(body: &str) -> Vec<(String, Vec<u8>)> {
    vec![(
        "authz.rego".to_owned(),
        format!("package zt.authz\nimport rego.v1\n{body}\n").into_bytes(),
    )]
}

fn config(extra: Value) -> AuthorizerConfig {
    let mut doc = json!({
        "issuers": [{
            "issuer": IDP, "audiences": ["api"], "algorithms": ["ES256"],
            "jwks": jwks(&["ec-p256"]),
        }],
        "decision_log": {"sink": "callback", "queue_capacity": 1_000_000},
    });
    merge(&mut doc, extra);
    AuthorizerConfig::from_json_str(&doc.to_string()).unwrap()
}

fn gate(stages: &[u64]) -> Value {
    json!({"enforcement": {"rollout": {
        "stages": stages, "min_decisions": 50, "min_duration_s": 60,
    }}})
}

struct Harness {
    authz: Authorizer,
    clock: Arc<ManualClock>,
    log: Arc<Mutex<Vec<Value>>>,
    tokens: Vec<String>,
}

impl Harness {
    fn new(extra: Value, policy: Vec<(String, Vec<u8>)>) -> Self {
        let clock = Arc::new(ManualClock::at_unix(NOW));
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let authz = Authorizer::builder(config(extra))
            .clock(clock.clone())
            .policy_files(policy)
            .log_callback(move |line| {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(line).unwrap())
            })
            .build()
            .unwrap();
        let tokens = (0..400)
            .map(|i| {
                let mut c = claims(IDP);
                merge(
                    &mut c,
                    json!({"sub": format!("user-{i}"), "jti": format!("t-{i}")}),
                );
                mint("ec-p256", "ES256", &c)
            })
            .collect();
        Self {
            authz,
            clock,
            log,
            tokens,
        }
    }

    /// Request `i` of the synthetic traffic: subject `i % 400`, and a path `/p0`..`/p9` picked
    /// by a hash of `i` (so that each subject sees every path).
    fn decide(&self, i: usize) -> zt_core::Decision {
        let t = &self.tokens[i % self.tokens.len()];
        let path = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        self.authz
            .authorize_sync(&Request::new("GET", format!("/p{}", path % 10)).bearer(t.as_str()))
    }

    /// Decide `n` requests, 100 ms apart on the manual clock.
    fn traffic(&self, from: usize, n: usize) {
        for i in from..from + n {
            let d = self.decide(i);
            assert_eq!(d.reasons, [], "{:?}", d.reasons);
            self.clock.advance(Duration::from_millis(100));
        }
    }

    /// The `event` of every gate event logged so far.
    fn event_names(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_owned())
            .collect()
    }

    fn events(&self) -> Vec<Value> {
        self.authz.flush();
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.get("event").is_some())
            .cloned()
            .collect()
    }
}

fn revision_of(files: Vec<(String, Vec<u8>)>) -> String {
    zt_core::CompiledBundle::from_files(files, &zt_core::PolicyConfig::default())
        .unwrap()
        .revision()
        .to_owned()
}

#[test]
fn a_candidate_that_denies_more_is_rolled_back_at_its_first_stage() {
    let h = Harness::new(gate(&[5, 25, 100]), allow_all("a"));
    let rev_a = h.authz.policy().active_revision();
    let rev_b = h
        .authz
        .policy()
        .reload_files(denies_thirty_percent("b"))
        .unwrap();
    assert_eq!(h.authz.policy().active_revision(), rev_a, "not active yet");
    let status = h.authz.rollout();
    assert_eq!(status.candidate_revision.as_deref(), Some(rev_b.as_str()));
    assert_eq!(status.candidate_percent, Some(5));

    let mut on_candidate = 0;
    let mut i = 0;
    while h.authz.rollout().candidate_revision.is_some() {
        let d = h.decide(i);
        if d.policy_revision.as_deref() == Some(rev_b.as_str()) {
            on_candidate += 1;
        }
        h.clock.advance(Duration::from_millis(100));
        i += 1;
        assert!(i < 20_000, "never judged");
    }
    // Judged as soon as the stage had its sample: 50 candidate decisions and 60 s.
    assert!((50..=60).contains(&on_candidate), "{on_candidate}");
    assert_eq!(h.authz.policy().active_revision(), rev_a);
    let s = h.authz.rollout();
    assert_eq!((s.rollbacks, s.promotions), (1, 0));
    assert_eq!(s.stage, None);

    let events = h.events();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["rollout_started", "rollout_rolled_back"]);
    let rb = &events[1];
    assert_eq!(rb["rollout"]["stage"], 0);
    assert_eq!(rb["rollout"]["candidate_percent"], 5);
    assert_eq!(rb["rollout"]["breached"], json!(["deny_rate_increase"]));
    let cand_rate = rb["rollout"]["candidate"]["deny_rate"].as_f64().unwrap();
    assert!((0.15..0.45).contains(&cand_rate), "{rb}");
    assert_eq!(rb["rollout"]["control"]["deny_rate"], 0.0);
    assert!(rb["timestamp"].as_str().unwrap().starts_with("2027-01-15T"));
    assert_eq!(
        s.last_event.as_ref().map(|e| &e["rollout"]),
        Some(&rb["rollout"])
    );

    // Everyone is on the control again; the refused revision is not rolled out again.
    for i in 0..50 {
        assert_eq!(h.decide(i).policy_revision.as_deref(), Some(rev_a.as_str()));
    }
    let again = h.authz.policy().reload_files(denies_thirty_percent("b"));
    assert!(
        matches!(again, Err(PolicyError::RolledBack { .. })),
        "{again:?}"
    );
    let prom = h.authz.prometheus();
    assert!(prom.contains("zt_rollout_rollbacks_total{} 1"), "{prom}");
    assert!(prom.contains("zt_rollout_stage{} 0"), "{prom}");
}

#[test]
fn a_harmless_candidate_is_promoted_through_every_stage() {
    let h = Harness::new(gate(&[0, 5, 25, 100]), allow_all("a"));
    let rev_c = h.authz.policy().reload_files(allow_all("c")).unwrap();
    let mut seen_stages = Vec::new();
    let mut i = 0;
    while let Some(stage) = h.authz.rollout().stage {
        if seen_stages.last() != Some(&stage) {
            seen_stages.push(stage);
            let prom = h.authz.prometheus();
            assert!(
                prom.contains(&format!("zt_rollout_stage{{}} {}", stage + 1)),
                "{prom}"
            );
        }
        h.traffic(i, 100);
        i += 100;
        assert!(i < 100_000, "never promoted");
    }
    assert_eq!(seen_stages, [0, 1, 2]);
    assert_eq!(h.authz.policy().active_revision(), rev_c);
    let s = h.authz.rollout();
    assert_eq!((s.rollbacks, s.promotions), (0, 1));
    let names = h.event_names();
    assert_eq!(
        names,
        [
            "rollout_started",
            "rollout_stage_passed",
            "rollout_stage_passed",
            "rollout_promoted"
        ]
    );
    // In the shadow stage the candidate's result rode along on every decision.
    let shadowed = h
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r["shadow"]["revision"] == json!(rev_c))
        .count();
    assert!(shadowed >= 50, "{shadowed}");
    assert_eq!(h.decide(0).policy_reasons, ["c"]);
}

#[test]
fn the_gate_never_returns_to_a_revision_that_failed_its_tests() {
    let h = Harness::new(gate(&[5, 100]), allow_all("a"));
    let rev_a = h.authz.policy().active_revision();
    // A bundle whose own test fails is refused at load: it never becomes control or candidate.
    let failing = rego("decision := true\ntest_fails if false");
    assert!(matches!(
        h.authz.policy().reload_files(failing),
        Err(PolicyError::TestsFailed { .. })
    ));
    // A harmless candidate superseded by a bad one: the control stays the last promoted
    // revision, so the rollback lands on `a`, not on the superseded candidate.
    h.authz.policy().reload_files(allow_all("c")).unwrap();
    let rev_b = h
        .authz
        .policy()
        .reload_files(denies_thirty_percent("b"))
        .unwrap();
    let s = h.authz.rollout();
    assert_eq!(s.control_revision.as_deref(), Some(rev_a.as_str()));
    assert_eq!(s.candidate_revision.as_deref(), Some(rev_b.as_str()));
    let mut i = 0;
    while h.authz.rollout().candidate_revision.is_some() {
        let _ = h.decide(i);
        h.clock.advance(Duration::from_millis(100));
        i += 1;
        assert!(i < 20_000);
    }
    assert_eq!(h.authz.policy().active_revision(), rev_a);
    let names = h.event_names();
    assert_eq!(
        names,
        [
            "rollout_started",
            "rollout_superseded",
            "rollout_started",
            "rollout_rolled_back"
        ]
    );
    // An operator's abort and promote; the abort's event reaches the log with `flush`.
    h.authz.policy().reload_files(allow_all("d")).unwrap();
    assert!(h.authz.policy().rollout_abort().is_some());
    assert_eq!(h.authz.policy().active_revision(), rev_a);
    assert_eq!(h.events().last().unwrap()["event"], "rollout_aborted");
    // An operator's rollback during a rollout drops the candidate for good (a bundle watcher
    // would otherwise start it again).
    h.authz.policy().reload_files(allow_all("f")).unwrap();
    h.authz.policy().rollback(&rev_a).unwrap();
    assert_eq!(h.authz.rollout().candidate_revision, None);
    assert!(matches!(
        h.authz.policy().reload_files(allow_all("f")),
        Err(PolicyError::RolledBack { .. })
    ));
    let rev_e = h.authz.policy().reload_files(allow_all("e")).unwrap();
    assert_eq!(h.authz.policy().rollout_promote(), Some(rev_e.clone()));
    assert_eq!(h.authz.policy().active_revision(), rev_e);
}

#[test]
fn decisions_during_promotion_and_rollback_carry_one_revision() {
    let h = Arc::new(Harness::new(gate(&[0, 5, 50, 100]), allow_all("a")));
    let markers = Arc::new(
        [
            ("a", revision_of(allow_all("a"))),
            ("c", revision_of(allow_all("c"))),
            ("b", revision_of(denies_thirty_percent("b"))),
        ]
        .map(|(m, r)| (m.to_owned(), r)),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let deciders: Vec<_> = (0..4)
        .map(|_| {
            let (h, markers, stop, next) = (h.clone(), markers.clone(), stop.clone(), next.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let d = h.decide(next.fetch_add(1, Ordering::Relaxed));
                    let marker = d.policy_reasons.first().cloned().unwrap_or_default();
                    let (_, rev) = markers
                        .iter()
                        .find(|(m, _)| *m == marker)
                        .unwrap_or_else(|| panic!("unknown marker {marker:?}"));
                    assert_eq!(d.policy_revision.as_ref(), Some(rev));
                    if let Some(s) = &d.shadow {
                        assert!(markers.iter().any(|(_, r)| *r == s.revision));
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let advance_until = |done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            h.clock.advance(Duration::from_millis(200));
            std::thread::sleep(Duration::from_millis(1));
            assert!(Instant::now() < deadline, "{:?}", h.authz.rollout());
        }
    };
    h.authz.policy().reload_files(allow_all("c")).unwrap();
    advance_until(&|| h.authz.rollout().promotions == 1);
    h.authz
        .policy()
        .reload_files(denies_thirty_percent("b"))
        .unwrap();
    advance_until(&|| h.authz.rollout().rollbacks == 1);
    stop.store(true, Ordering::Relaxed);
    let total: u64 = deciders.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(total > 0);
    assert_eq!(h.authz.policy().active_revision(), markers[1].1);
}

#[test]
fn mode_switch_under_load_records_the_mode_each_decision_used() {
    // The policy denies everything, so each mode gives a different decision.
    let h = Arc::new(Harness::new(json!({}), rego("decision := false")));
    let modes = [
        EnforcementMode::Enforce,
        EnforcementMode::Warn,
        EnforcementMode::LogOnly,
    ];
    // `epoch` k: `modes[k % 3]` was set before k was published.
    let epoch = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let deciders: Vec<_> = (0..8)
        .map(|t| {
            let (h, epoch, stop) = (h.clone(), epoch.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) || n == 0 {
                    let before = epoch.load(Ordering::Acquire);
                    let d = h.decide(t * 50 + (n as usize % 50));
                    let after = epoch.load(Ordering::Acquire);
                    // The mode must be one that was in force at some point during the call.
                    let possible: Vec<EnforcementMode> =
                        (before..=after + 1).map(|k| modes[k % 3]).collect();
                    assert!(
                        possible.contains(&d.mode),
                        "{:?} not in {possible:?}",
                        d.mode
                    );
                    assert_eq!(d.evaluated, Outcome::Deny);
                    match d.mode {
                        EnforcementMode::Enforce => {
                            assert_eq!((d.outcome, d.enforced), (Outcome::Deny, true))
                        }
                        EnforcementMode::Warn => assert!(d.is_allowed() && d.warning()),
                        EnforcementMode::LogOnly => assert!(d.is_allowed() && !d.warning()),
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    for k in 1..=300 {
        h.authz.set_mode(modes[k % 3]);
        epoch.store(k, Ordering::Release);
        std::thread::sleep(Duration::from_micros(200));
    }
    stop.store(true, Ordering::Relaxed);
    let total: u64 = deciders.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(total >= 8);
    // The log says the same as the decisions: each record's mode matches its outcome.
    h.authz.flush();
    for r in h.log.lock().unwrap().iter() {
        let expect = match r["mode"].as_str().unwrap() {
            "enforce" => "deny",
            _ => "allow",
        };
        assert_eq!(r["outcome"], expect, "{r}");
    }
    assert!(
        h.authz
            .prometheus()
            .contains("zt_enforcement_mode{mode=\"enforce\"} 1")
    );
}

#[test]
fn set_canary_percent_and_clearing_the_override() {
    let h = Harness::new(json!({}), rego("decision := false"));
    h.authz.set_canary_percent(0).unwrap();
    let d = h.decide(1);
    assert!(d.is_allowed(), "outside the canary: log_only");
    assert_eq!(d.mode, EnforcementMode::LogOnly);
    let err = h.authz.set_canary_percent(101).unwrap_err();
    assert_eq!(err.code(), "config_out_of_range");
    let s = h.authz.enforcement();
    assert_eq!(
        (s.canary_percent, s.canary_source),
        (0, EnforcementSource::Override)
    );
    h.authz.clear_enforcement_override();
    assert!(!h.decide(1).is_allowed());
    assert_eq!(
        h.authz.enforcement().canary_source,
        EnforcementSource::Config
    );
}

#[test]
fn bundle_data_sets_enforcement_and_bad_values_are_refused() {
    let with_data = |data: Value| {
        let mut files = rego("decision := false");
        files.push((
            "zt/enforcement/data.json".to_owned(),
            data.to_string().into_bytes(),
        ));
        files
    };
    let h = Harness::new(json!({}), with_data(json!({"mode": "warn"})));
    let s = h.authz.enforcement();
    assert_eq!(
        (s.mode, s.mode_source),
        (EnforcementMode::Warn, EnforcementSource::Bundle)
    );
    assert!(h.decide(0).warning());
    // The operator's override wins over the bundle.
    h.authz.set_mode(EnforcementMode::Enforce);
    assert!(!h.decide(0).is_allowed());
    h.authz.clear_enforcement_override();
    // A new active bundle without the key: back to the config.
    h.authz
        .policy()
        .reload_files(rego("decision := false"))
        .unwrap();
    assert_eq!(h.authz.enforcement().mode_source, EnforcementSource::Config);
    let bad = h
        .authz
        .policy()
        .reload_files(with_data(json!({"mode": "off"})))
        .unwrap_err();
    assert_eq!(bad.code(), "policy_bundle_invalid");
    assert!(bad.to_string().contains("data.zt.enforcement"), "{bad}");
}

#[test]
fn the_override_file_switches_mode_within_its_poll() {
    let dir = std::env::temp_dir().join(format!("zt-override-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("enforcement.json");
    let _ = std::fs::remove_file(&file);
    let h = Harness::new(
        json!({"enforcement": {"override_file": file, "override_poll_ms": 50}}),
        rego("decision := false"),
    );
    let wait_for = |want: EnforcementMode| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while h.authz.enforcement().mode != want {
            assert!(Instant::now() < deadline, "{:?}", h.authz.enforcement());
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    assert!(!h.decide(0).is_allowed());
    std::fs::write(&file, r#"{"mode": "log_only"}"#).unwrap();
    wait_for(EnforcementMode::LogOnly);
    assert!(h.decide(0).is_allowed());
    // An empty file (an editor between truncating and writing) changes nothing.
    std::fs::write(&file, "").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(h.authz.enforcement().mode, EnforcementMode::LogOnly);
    // A broken file changes nothing and says why.
    std::fs::write(&file, r#"{"mode": "sometimes"}"#).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.authz.enforcement().override_file_error.is_none() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(h.authz.enforcement().mode, EnforcementMode::LogOnly);
    assert!(h.authz.metrics().enforcement_override_file_errors >= 1);
    // Removing the file lifts the override.
    std::fs::remove_file(&file).unwrap();
    wait_for(EnforcementMode::Enforce);
    assert_eq!(h.authz.enforcement().mode_source, EnforcementSource::Config);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rollout_config_is_checked() {
    let bad = |rollout: Value, needle: &str| {
        let mut doc = json!({"issuers": [{
            "issuer": IDP, "audiences": ["api"], "algorithms": ["ES256"], "jwks": jwks(&["ec-p256"]),
        }]});
        merge(&mut doc, json!({"enforcement": {"rollout": rollout}}));
        let err = AuthorizerConfig::from_json_str(&doc.to_string())
            .and_then(|c| c.validate().map(|_| c))
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    };
    bad(json!({"stages": [5, 25]}), "must end with 100");
    bad(json!({"stages": [25, 5, 100]}), "increase strictly");
    bad(json!({"max_deny_rate_increase": 2.0}), "fraction");
    bad(json!({"min_decisions": 0}), "min_decisions");
    bad(json!({"stagez": [0, 100]}), "stagez");
}

#[test]
fn a_breach_rolls_back_without_waiting_for_the_stage_duration() {
    let h = Harness::new(
        json!({"enforcement": {"rollout": {
            "stages": [25, 100], "min_decisions": 50, "min_duration_s": 3600,
        }}}),
        allow_all("a"),
    );
    h.authz
        .policy()
        .reload_files(denies_thirty_percent("b"))
        .unwrap();
    let start = NOW * 1000;
    let mut i = 0;
    while h.authz.rollout().candidate_revision.is_some() {
        let _ = h.decide(i);
        h.clock.advance(Duration::from_millis(100));
        i += 1;
        assert!(i < 5_000, "never rolled back");
    }
    let s = h.authz.rollout();
    assert_eq!(s.rollbacks, 1);
    let at = s.last_event.unwrap()["at_ms"].as_u64().unwrap();
    assert!(
        at - start < 3_600_000,
        "rolled back after {} s",
        (at - start) / 1000
    );
}

#[test]
fn set_rollout_checks_the_config() {
    let h = Harness::new(json!({}), allow_all("a"));
    let mut bad = zt_core::RolloutConfig::default();
    bad.max_deny_rate_increase = f64::NAN;
    let err = h.authz.policy().set_rollout(Some(bad)).unwrap_err();
    assert!(err.to_string().contains("max_deny_rate_increase"), "{err}");
    let mut empty = zt_core::RolloutConfig::default();
    empty.stages = vec![];
    assert!(h.authz.policy().set_rollout(Some(empty)).is_err());
    assert!(!h.authz.rollout().enabled);
    h.authz
        .policy()
        .set_rollout(Some(zt_core::RolloutConfig::default()))
        .unwrap();
    assert!(h.authz.rollout().enabled);
    h.authz.policy().set_rollout(None).unwrap();
    assert!(!h.authz.rollout().enabled);
}
