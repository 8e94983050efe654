//! Policy engine: output contract, failure reasons, the load gate, swaps, rollback, work bound,
//! the input document's shape, and the sample bundle.

#![cfg(test)]

use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use zt_core::{PolicyConfig, PolicyError, PolicyInput, PolicyStore, Reason};
use zt_testkit::sample_bundle_dir;

fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(n, c)| ((*n).to_owned(), c.as_bytes().to_vec()))
        .collect()
}

fn rego(body: &str) -> Vec<(String, Vec<u8>)> {
    files(&[(
        "p.rego",
        &format!("package zt.authz\nimport rego.v1\n{body}\n"),
    )])
}

fn input(doc: Value) -> PolicyInput {
    zt_core::internal::policy_input_unverified(&doc)
}

#[test]
fn sample_bundle_loads_with_its_tests_and_decides() {
    let store = PolicyStore::load(&sample_bundle_dir(), PolicyConfig::default()).unwrap();
    let tests = store.active().tests().to_vec();
    assert!(tests.len() >= 7, "{tests:?}");
    assert!(tests.iter().all(|t| t.passed), "{tests:?}");
    let eval = store.evaluate(&input(json!({
        "subject": {"groups": ["viewer"], "amr": [], "auth_time": null},
        "request": {"method": "GET", "path": "/orders/1"},
        "device": {"managed": true, "disk_encrypted": true, "jailbroken": false, "patch_age_days": 1},
        "context": {"now": 0}
    })));
    let out = eval.result.unwrap();
    assert!(out.allow);
    assert_eq!(out.reasons, ["rbac_granted"]);
    assert_eq!(out.obligations["log_level"], "info");
}

#[test]
fn store_from_config() {
    let mut c = zt_core::PolicyConfig::default();
    c.bundle = Some(sample_bundle_dir());
    let store = PolicyStore::from_config(&c).unwrap();
    assert!(store.active_revision().starts_with("sha256:"));
    c.entrypoint = "data.zt.authz.nope".into();
    assert!(PolicyStore::from_config(&c).is_err());
    c.bundle = None;
    assert!(
        PolicyStore::from_config(&c)
            .unwrap_err()
            .to_string()
            .contains("policy.bundle")
    );
}

#[test]
fn output_contract() {
    type Case = (
        &'static str,
        &'static str,
        Result<(bool, Vec<&'static str>), Reason>,
    );
    let cases: Vec<Case> = vec![
        ("true", "decision := true", Ok((true, vec![]))),
        ("false", "decision := false", Ok((false, vec![]))),
        (
            "object allow",
            r#"decision := {"allow": true, "reasons": ["ok"]}"#,
            Ok((true, vec!["ok"])),
        ),
        (
            "object deny",
            r#"decision := {"allow": false, "reasons": ["nope"], "obligations": {}}"#,
            Ok((false, vec!["nope"])),
        ),
        (
            "undefined",
            r#"decision if input.never"#,
            Err(Reason::PolicyUndefined),
        ),
        (
            "string",
            r#"decision := "yes""#,
            Err(Reason::PolicyOutputInvalid),
        ),
        (
            "number",
            r#"decision := 1"#,
            Err(Reason::PolicyOutputInvalid),
        ),
        (
            "allow missing",
            r#"decision := {"reasons": []}"#,
            Err(Reason::PolicyOutputInvalid),
        ),
        (
            "allow string",
            r#"decision := {"allow": "true"}"#,
            Err(Reason::PolicyOutputInvalid),
        ),
        (
            "reasons not list",
            r#"decision := {"allow": true, "reasons": "x"}"#,
            Err(Reason::PolicyOutputInvalid),
        ),
        (
            "step_up bad",
            r#"decision := {"allow": false, "step_up": {"max_age": "5"}}"#,
            Err(Reason::PolicyOutputInvalid),
        ),
        (
            "obligations bad",
            r#"decision := {"allow": true, "obligations": []}"#,
            Err(Reason::PolicyOutputInvalid),
        ),
        // regorus (like OPA in non-strict mode) turns builtin type errors into undefined, which
        // is still a deny; an evaluation that exceeds the work bound is an error.
        (
            "type error",
            "decision if count(input.zero) > 0",
            Err(Reason::PolicyUndefined),
        ),
        (
            "work bound",
            "decision if count([x | some x in numbers.range(0, 1000000)]) > 0",
            Err(Reason::PolicyError),
        ),
    ];
    for (name, body, want) in cases {
        let store = PolicyStore::from_files(rego(body), PolicyConfig::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = store.evaluate(&input(json!({"zero": 0}))).result;
        let got = got
            .map(|o| (o.allow, o.reasons.clone()))
            .map_err(|f| f.reason());
        let want = want.map(|(a, r)| (a, r.into_iter().map(str::to_owned).collect::<Vec<_>>()));
        assert_eq!(got, want, "case {name}");
    }
    // step_up parsed.
    let store = PolicyStore::from_files(
        rego(r#"decision := {"allow": false, "step_up": {"acr_values": "mfa", "max_age": 60}}"#),
        PolicyConfig::default(),
    )
    .unwrap();
    let out = store.evaluate(&input(json!({}))).result.unwrap();
    let step = out.step_up.unwrap();
    assert_eq!(
        (step.acr_values.as_deref(), step.max_age),
        (Some("mfa"), Some(60))
    );
}

#[test]
fn load_gate_refuses_bad_bundles_and_keeps_the_active_one() {
    let store = PolicyStore::from_files(rego("decision := true"), PolicyConfig::default()).unwrap();
    let good = store.active_revision();
    let big = format!(
        "package zt.authz\n# {}\ndecision := true\n",
        "x".repeat(2 * 1024 * 1024)
    );
    type Files = Vec<(String, Vec<u8>)>;
    let cases: Vec<(&str, Files, &str)> = vec![
        (
            "syntax error",
            files(&[("broken.rego", "package zt.authz\ndecision := {")]),
            "broken.rego",
        ),
        (
            "failing test",
            rego("decision := false\ntest_allows if decision"),
            "data.zt.authz.test_allows",
        ),
        ("oversized file", files(&[("big.rego", &big)]), "big.rego"),
        (
            "bad manifest",
            files(&[
                (".manifest", "{\"revision\": 7}"),
                ("p.rego", "package zt.authz\ndecision := true"),
            ]),
            ".manifest",
        ),
        (
            "missing builtin",
            rego(r#"decision if io.jwt.decode(input.t)"#),
            "compile",
        ),
        (
            "no entrypoint",
            files(&[("p.rego", "package other\nx := 1")]),
            "entrypoint `data.zt.authz.decision` is not defined; the bundle's packages are: data.other",
        ),
    ];
    for (name, bundle, needle) in cases {
        let err = store.reload_files(bundle).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(needle), "{name}: {msg}");
        assert_eq!(
            store.active_revision(),
            good,
            "{name}: active revision changed"
        );
        assert!(
            store.evaluate(&input(json!({}))).result.unwrap().allow,
            "{name}"
        );
    }
}

#[test]
fn rollback_to_kept_revision_and_unknown_revision() {
    let store = PolicyStore::from_files(rego("decision := true"), PolicyConfig::default()).unwrap();
    let first = store.active_revision();
    let second = store.reload_files(rego("decision := false")).unwrap();
    assert_ne!(first, second);
    assert!(!store.evaluate(&input(json!({}))).result.unwrap().allow);
    store.rollback(&first).unwrap();
    assert_eq!(store.active_revision(), first);
    assert!(store.evaluate(&input(json!({}))).result.unwrap().allow);
    let err = store.rollback("sha256:0000000000000000").unwrap_err();
    assert!(matches!(err, PolicyError::UnknownRevision { .. }));
    assert!(err.to_string().contains("sha256:0000000000000000"));
    assert_eq!(store.revisions(), vec![first, second]);
}

#[test]
fn swaps_under_concurrent_evaluation_are_atomic() {
    // Each revision answers with its own marker in both `reasons` and `obligations`: a decision
    // mixing two revisions, or naming a revision other than the one that answered, would show.
    let bundle = |n: u32| {
        rego(&format!(
            r#"decision := {{"allow": true, "reasons": ["r{n}"], "obligations": {{"rev": {n}}}}}"#
        ))
    };
    let store = Arc::new(PolicyStore::from_files(bundle(0), PolicyConfig::default()).unwrap());
    let revs: Vec<String> = (0..4)
        .map(|n| {
            let s = PolicyStore::from_files(bundle(n), PolicyConfig::default()).unwrap();
            s.active_revision()
        })
        .collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let stop = stop.clone();
        let revs = revs.clone();
        readers.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n == 0 {
                let e = store.evaluate(&input(json!({})));
                let out = e.result.expect("no evaluation errors");
                let k = out.obligations["rev"].as_u64().unwrap() as usize;
                assert_eq!(out.reasons, [format!("r{k}")]);
                assert_eq!(e.revision, revs[k]);
                n += 1;
            }
            n
        }));
    }
    for i in 0..1000u32 {
        store.reload_files(bundle(i % 4)).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let total: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(total > 0);
}

#[test]
fn pathological_policies_are_bounded() {
    let cases = [
        // regorus evaluates one builtin call as one instruction, so a builtin that itself builds
        // a huge value (numbers.range(0, 1e8)) is not cut short by the instruction limit; the
        // comprehension iterating over a large one is.
        (
            "large comprehension",
            "decision if count([x | some x in numbers.range(0, 1000000)]) > 0",
        ),
        (
            "nested comprehension",
            "decision if count([1 | some a in numbers.range(0, 10000); some b in numbers.range(0, 10000)]) > 0",
        ),
    ];
    for (name, body) in cases {
        let mut opts = PolicyConfig::default();
        opts.run_tests_on_load = false;
        let start = std::time::Instant::now();
        let store = PolicyStore::from_files(rego(body), opts);
        let result = match store {
            Ok(s) => s
                .evaluate(&input(json!({})))
                .result
                .map(|_| ())
                .map_err(|f| f.reason()),
            Err(e) => panic!("{name}: refused at load: {e}"),
        };
        assert_eq!(result, Err(Reason::PolicyError), "{name}");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{name}: {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn recursive_functions_are_refused_not_crashing() {
    // regorus 0.14.1 aborts the process with a stack overflow when evaluating these; zt refuses
    // them before regorus sees them (see `check_function_recursion`).
    let cases = [
        ("direct", "f(x) := f(x)\ndecision if f(1)"),
        (
            "mutual",
            "f(x) := g(x)\ng(x) := y if {\n\ty := f(x)\n}\ndecision if f(1)",
        ),
        (
            "multi-line body",
            "f(x) := y if {\n\tx > 0\n\ty := f(x - 1)\n}\ndecision if f(3)",
        ),
    ];
    for (name, body) in cases {
        let err = PolicyStore::from_files(rego(body), PolicyConfig::default()).unwrap_err();
        assert!(
            err.to_string().contains("recursion is not allowed"),
            "{name}: {err}"
        );
    }
    // Non-recursive helpers with calls are fine.
    let ok = "double(x) := x * 2\nquad(x) := double(double(x))\ndecision if quad(1) == 4";
    let store = PolicyStore::from_files(rego(ok), PolicyConfig::default()).unwrap();
    assert!(store.evaluate(&input(json!({}))).result.unwrap().allow);
}

#[test]
fn shadow_candidate_is_evaluated_separately() {
    let store = PolicyStore::from_files(rego("decision := true"), PolicyConfig::default()).unwrap();
    assert!(store.evaluate_shadow(&input(json!({}))).is_none());
    let rev = store
        .set_shadow_files(Some(rego("decision := false")))
        .unwrap()
        .unwrap();
    let s = store.evaluate_shadow(&input(json!({}))).unwrap();
    assert_eq!(s.revision, rev);
    assert!(!s.result.unwrap().allow);
    assert!(store.evaluate(&input(json!({}))).result.unwrap().allow);
    // A shadow that fails its tests is refused like any candidate.
    assert!(
        store
            .set_shadow_files(Some(rego("decision := false\ntest_x if decision")))
            .is_err()
    );
}

#[test]
fn watching_a_directory_reloads_through_the_gate() {
    let dir = std::env::temp_dir().join(format!("zt-watch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let write = |body: &str| {
        std::fs::write(
            dir.join("p.rego"),
            format!("package zt.authz\nimport rego.v1\n{body}\n"),
        )
        .unwrap();
    };
    write("decision := true");
    let store = Arc::new(PolicyStore::load(&dir, PolicyConfig::default()).unwrap());
    let first = store.active_revision();
    let watcher = store.watch(&dir, std::time::Duration::from_millis(20));
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let start = std::time::Instant::now();
        while !f() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "timed out: {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    write("decision := false");
    wait("reload", &|| store.active_revision() != first);
    assert!(!store.evaluate(&input(json!({}))).result.unwrap().allow);
    let second = store.active_revision();
    // A broken edit is refused; the last good bundle keeps serving.
    write("decision := {");
    wait("error recorded", &|| watcher.last_error().is_some());
    assert_eq!(store.active_revision(), second);
    write("decision := false\ntest_fails if decision");
    wait("test failure recorded", &|| {
        matches!(watcher.last_error(), Some(PolicyError::TestsFailed { .. }))
    });
    assert_eq!(store.active_revision(), second);
    assert_eq!(watcher.reloads(), 1);
    // An operator's rollback holds: the watcher does not bring the newer revision back while
    // the bundle on disk is unchanged, and takes the next change as usual.
    write("decision := false");
    std::thread::sleep(std::time::Duration::from_millis(100));
    store.rollback(&first).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(store.active_revision(), first);
    write("decision := input.x == 1");
    wait("the next change", &|| store.active_revision() != first);
    assert_eq!(watcher.reloads(), 2);
    drop(watcher);
}

fn tar_gz(entries: &[(&str, &[u8], tar::EntryType)]) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "zt-bundle-{}-{}.tar.gz",
        std::process::id(),
        entries.len() * 1000 + entries.first().map_or(0, |e| e.1.len() % 997)
    ));
    let file = std::fs::File::create(&path).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::default(),
    ));
    for (name, bytes, kind) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        if *kind == tar::EntryType::Symlink {
            h.set_link_name("/etc/passwd").unwrap();
        }
        // Write the raw name so that hostile paths reach the archive unchanged.
        let raw = &mut h.as_old_mut().name;
        raw.fill(0);
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        builder.append(&h, *bytes).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
    path
}

#[test]
fn opa_bundle_archives() {
    use tar::EntryType::{Regular, Symlink};
    let rego = b"package zt.authz\nimport rego.v1\ndecision if data.zt.config.open\ntest_open if decision\n";
    let ok = tar_gz(&[
        (
            "/.manifest",
            br#"{"revision": "2026-11-22.1", "roots": ["zt"]}"#,
            Regular,
        ),
        ("/zt/authz.rego", rego, Regular),
        ("/zt/config/data.json", br#"{"open": true}"#, Regular),
    ]);
    let store = PolicyStore::load(&ok, PolicyConfig::default()).unwrap();
    assert_eq!(store.active_revision(), "2026-11-22.1");
    assert!(store.evaluate(&input(json!({}))).result.unwrap().allow);

    let zeros = vec![b'#'; 2 * 1024 * 1024];
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "path traversal",
            tar_gz(&[("../evil.rego", rego, Regular)]),
            "escapes the bundle",
        ),
        (
            "symlink",
            tar_gz(&[
                ("zt/authz.rego", rego, Regular),
                ("zt/link.rego", b"", Symlink),
            ]),
            "link",
        ),
        (
            "decompression bomb",
            tar_gz(&[("zt/big.rego", &zeros, Regular)]),
            "larger than",
        ),
        (
            "outside roots",
            tar_gz(&[
                ("/.manifest", br#"{"roots": ["other"]}"#, Regular),
                ("/zt/authz.rego", rego, Regular),
            ]),
            "outside the manifest roots",
        ),
    ];
    for (name, path, needle) in cases {
        let err = store.reload(&path).unwrap_err().to_string();
        assert!(err.contains(needle), "{name}: {err}");
        assert_eq!(store.active_revision(), "2026-11-22.1", "{name}");
    }
    let not_gz =
        std::env::temp_dir().join(format!("zt-bundle-{}-plain.tar.gz", std::process::id()));
    std::fs::write(&not_gz, b"not gzip").unwrap();
    assert!(
        store
            .reload(&not_gz)
            .unwrap_err()
            .to_string()
            .contains("archive")
    );
}
