//! Black-box tests of the `zt` binary.

#![cfg(test)]

use std::path::PathBuf;
use std::process::Command;
use zt_testkit::{AUD, ISS as IDP, jwks, live_claims, merge, mint, now, sample_bundle_dir};

fn zt(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zt"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_bundle(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zt-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (n, c) in files {
        let path = dir.join(n);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, c).unwrap();
    }
    dir
}

#[test]
fn policy_test_on_the_sample_bundle_passes() {
    let dir = sample_bundle_dir();
    let (code, out, err) = zt(&["policy", "test", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("PASS data.zt.authz_test.test_health_is_open"),
        "{out}"
    );
    let last = out.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{out}");
}

#[test]
fn policy_test_reports_failures_and_bad_bundles() {
    let failing = temp_bundle(
        "failing",
        &[(
            "p.rego",
            "package zt.authz\nimport rego.v1\ndecision := false\ntest_ok if not decision\ntest_bad if decision\n",
        )],
    );
    let (code, out, _) = zt(&["policy", "test", failing.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("PASS data.zt.authz.test_ok"), "{out}");
    assert!(out.contains("FAIL data.zt.authz.test_bad"), "{out}");
    assert_eq!(out.lines().last(), Some("1 passed, 1 failed"));

    let broken = temp_bundle("broken", &[("p.rego", "package zt.authz\ndecision := {\n")]);
    let (code, _, err) = zt(&["policy", "test", broken.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("p.rego"), "{err}");

    let (code, _, _) = zt(&["policy", "frobnicate"]);
    assert_eq!(code, 2);
}

// ---- zt token verify / zt decide ---------------------------------------------------------

/// A token for the configured issuer on the real clock (ES256, `ec-p256`): subject `alice`,
/// audience `orders-api`, valid ten minutes, with `groups` and `extra` claims.
fn persona(groups: &[&str], extra: serde_json::Value) -> String {
    let mut c = live_claims(IDP, AUD);
    merge(&mut c, serde_json::json!({ "groups": groups }));
    merge(&mut c, extra);
    mint("ec-p256", "ES256", &c)
}

/// A config directory: `issuers.toml` (issuers only) and `full.toml` (with the sample bundle).
fn config_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zt-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("jwks.json"), jwks(&["ec-p256"]).to_string()).unwrap();
    let issuers = format!(
        "[[issuers]]\nissuer = \"{IDP}\"\naudiences = [\"{AUD}\"]\nalgorithms = [\"ES256\"]\njwks_file = \"jwks.json\"\n"
    );
    std::fs::write(dir.join("issuers.toml"), &issuers).unwrap();
    let bundle = sample_bundle_dir();
    std::fs::write(
        dir.join("full.toml"),
        format!(
            "{issuers}\n[policy]\nbundle = \"{}\"\n[request]\nheaders = [\"x-request-id\"]\n",
            bundle.display()
        ),
    )
    .unwrap();
    dir
}

fn json_of(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn token_verify_prints_claims_or_a_reason() {
    let dir = config_dir("verify");
    let cfg = dir.join("issuers.toml");
    let cfg = cfg.to_str().unwrap();
    let token = persona(&["dev"], serde_json::json!({}));
    let (code, out, err) = zt(&["token", "verify", "--config", cfg, &token]);
    assert_eq!(code, 0, "{out}{err}");
    let claims = json_of(&out);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["groups"], serde_json::json!(["dev"]));

    // From standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_zt"))
        .args(["token", "verify", "--config", cfg, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));

    let expired = {
        let n = now();
        mint(
            "ec-p256",
            "ES256",
            &serde_json::json!({"iss": IDP, "sub": "a", "aud": AUD,
                                "iat": n - 7200, "exp": n - 3600}),
        )
    };
    let cases = [
        ("expired", expired, "token_expired"),
        ("malformed", "abc".to_owned(), "token_malformed"),
        (
            "tampered",
            format!("{}x", &token[..token.len() - 1]),
            "token_malformed",
        ),
    ];
    for (name, t, reason) in cases {
        let (code, out, _) = zt(&["token", "verify", "--config", cfg, &t]);
        assert_eq!(code, 1, "{name}: {out}");
        let v = json_of(&out);
        assert_eq!(v["error"], reason, "{name}");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}"
        );
        assert!(!out.contains(&t), "{name}: the token is never echoed");
    }
}

#[test]
fn bad_config_and_usage_exit_2() {
    let dir = config_dir("badcfg");
    std::fs::write(
        dir.join("bad.toml"),
        "[[issuers]]\nissuer = \"x\"\nbogus = 1\n",
    )
    .unwrap();
    let bad = dir.join("bad.toml");
    let (code, _, err) = zt(&["token", "verify", "--config", bad.to_str().unwrap(), "t"]);
    assert_eq!(code, 2);
    assert!(err.contains("bogus") && err.contains("bad.toml"), "{err}");
    let missing = dir.join("missing.toml");
    let (code, _, _) = zt(&[
        "decide",
        "--config",
        missing.to_str().unwrap(),
        "--method",
        "GET",
        "--path",
        "/",
    ]);
    assert_eq!(code, 2);
    // A config without a policy cannot decide.
    let issuers = dir.join("issuers.toml");
    let (code, _, err) = zt(&[
        "decide",
        "--config",
        issuers.to_str().unwrap(),
        "--token",
        "t",
        "--method",
        "GET",
        "--path",
        "/",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("policy"), "{err}");
    let full = dir.join("full.toml");
    let (code, _, err) = zt(&[
        "decide",
        "--config",
        full.to_str().unwrap(),
        "--method",
        "GET",
        "--path",
        "/",
        "--device-json",
        "{nope",
    ]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = zt(&["decide", "--config", full.to_str().unwrap()]);
    assert_eq!(code, 2, "missing required flags");
}

#[test]
fn decide_allow_deny_step_up_and_rejected_token() {
    let dir = config_dir("decide");
    let cfg = dir.join("full.toml");
    let cfg = cfg.to_str().unwrap();
    let healthy =
        r#"{"managed": true, "disk_encrypted": true, "jailbroken": false, "patch_age_days": 2}"#;
    let unencrypted = r#"{"managed": true, "disk_encrypted": false}"#;
    let admin = persona(&["admin"], serde_json::json!({}));
    let dev = persona(&["dev"], serde_json::json!({}));
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        i32,
        &'a str,
        &'a [&'a str],
    );
    let cases: &[Case] = &[
        ("allow", &admin, "/orders/1", Some(healthy), 0, "allow", &[]),
        (
            "posture deny",
            &dev,
            "/orders/1",
            Some(unencrypted),
            1,
            "deny",
            &["policy_denied"],
        ),
        (
            "no posture",
            &dev,
            "/orders/1",
            None,
            1,
            "deny",
            &["policy_denied"],
        ),
        (
            "step-up",
            &admin,
            "/admin/deploy",
            Some(healthy),
            1,
            "step_up",
            &["step_up_required"],
        ),
        (
            "rejected token",
            "garbage",
            "/orders/1",
            Some(healthy),
            1,
            "deny",
            &["token_malformed"],
        ),
    ];
    for (name, token, path, device, code, outcome, reasons) in cases {
        let mut args = vec![
            "decide",
            "--config",
            cfg,
            "--token",
            token,
            "--method",
            "GET",
            "--path",
            path,
            "--header",
            "x-request-id: r-1",
        ];
        if let Some(d) = device {
            args.extend(["--device-json", d]);
        }
        let (got, out, err) = zt(&args);
        assert_eq!(got, *code, "{name}: {out}{err}");
        let d = json_of(&out);
        assert_eq!(d["outcome"], *outcome, "{name}: {out}");
        assert_eq!(d["reasons"], serde_json::json!(reasons), "{name}: {out}");
        assert!(d["decision_id"].is_string(), "{name}");
        assert!(d["timings_ns"]["total"].as_u64().is_some(), "{name}");
        assert!(
            !out.contains(*token) || token.len() < 10,
            "{name}: token echoed"
        );
        if *outcome == "step_up" {
            assert_eq!(d["step_up"]["acr_values"], "urn:zt:acr:mfa", "{name}");
            assert_eq!(d["step_up"]["max_age"], 300, "{name}");
        }
    }
}

// ---- `zt policy test` per the CLI contract: every `test_` rule of any bundle, whatever its
// packages, like `opa test`; the entrypoint is checked only when asked for.

const LIB: &str = "package acme.lib\nimport rego.v1\nadmin(u) if u == \"root\"\n";
const TESTS: &str = "package acme.lib_test\nimport rego.v1\nimport data.acme.lib\ntest_root if lib.admin(\"root\")\ntest_not_alice if not lib.admin(\"alice\")\n";

#[test]
fn any_package_passes_without_an_entrypoint() {
    let dir = temp_bundle("any", &[("lib.rego", LIB), ("lib_test.rego", TESTS)]);
    let (code, out, err) = zt(&["policy", "test", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("PASS data.acme.lib_test.test_root"), "{out}");
    assert!(
        out.contains("PASS data.acme.lib_test.test_not_alice"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("2 passed, 0 failed"), "{out}");
}

#[test]
fn a_failing_test_exits_1() {
    let failing = format!("{TESTS}test_wrong if lib.admin(\"alice\")\n");
    let dir = temp_bundle("fail", &[("lib.rego", LIB), ("lib_test.rego", &failing)]);
    let (code, out, _) = zt(&["policy", "test", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL data.acme.lib_test.test_wrong"), "{out}");
    assert!(out.trim_end().ends_with("2 passed, 1 failed"), "{out}");
}

#[test]
fn a_syntax_error_exits_2_naming_the_file() {
    let dir = temp_bundle(
        "syntax",
        &[
            ("lib.rego", LIB),
            ("broken.rego", "package acme.x\nallow if {\n"),
        ],
    );
    let (code, out, err) = zt(&["policy", "test", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("broken.rego"), "{err}");
    assert!(out.is_empty(), "{out}");
}

#[test]
fn the_entrypoint_is_checked_only_when_named() {
    let dir = temp_bundle("entry", &[("lib.rego", LIB), ("lib_test.rego", TESTS)]);
    let d = dir.to_str().unwrap();
    let (code, _, err) = zt(&[
        "policy",
        "test",
        d,
        "--entrypoint",
        "data.zt.authz.decision",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`data.zt.authz.decision`"), "{err}");
    assert!(
        err.contains("data.acme.lib") && err.contains("data.acme.lib_test"),
        "{err}"
    );
    // A rule that exists in a package the bundle has is accepted.
    let (code, out, err) = zt(&["policy", "test", d, "--entrypoint", "data.acme.lib.admin"]);
    assert_eq!(code, 0, "{out}{err}");
    // A missing rule in an existing package names the entrypoint too.
    let (code, _, err) = zt(&["policy", "test", d, "--entrypoint", "data.acme.lib.nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`data.acme.lib.nope` is not defined"), "{err}");

    // A config names the entrypoint: `[policy] entrypoint` applies.
    let config = dir.join("zt.toml");
    std::fs::write(
        &config,
        "[[issuers]]\nissuer = \"https://idp.example.com\"\naudiences = [\"a\"]\nalgorithms = [\"RS256\"]\ndiscovery = true\n[policy]\nentrypoint = \"data.acme.lib.missing\"\n",
    )
    .unwrap();
    let (code, _, err) = zt(&["policy", "test", d, "--config", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`data.acme.lib.missing`"), "{err}");
}

#[test]
fn the_sample_bundle_passes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/policies");
    let (code, out, err) = zt(&[
        "policy",
        "test",
        dir.to_str().unwrap(),
        "--entrypoint",
        "data.zt.authz.decision",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
}

// ---- zt replay / zt policy eval / zt policy bench ------------------------------------------

/// A copy of the sample bundle without its tests, with `edit` applied to its data.
fn sample_variant(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let src = sample_bundle_dir();
    let dir = std::env::temp_dir().join(format!("zt-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("zt/config")).unwrap();
    std::fs::copy(src.join("zt/authz.rego"), dir.join("zt/authz.rego")).unwrap();
    let mut data: serde_json::Value =
        serde_json::from_slice(&std::fs::read(src.join("zt/config/data.json")).unwrap()).unwrap();
    edit(&mut data);
    std::fs::write(dir.join("zt/config/data.json"), data.to_string()).unwrap();
    dir
}

#[test]
fn replay_reports_flips_and_exits_by_max_flips() {
    let dir = config_dir("replay");
    let log = dir.join("decisions.jsonl");
    let full = std::fs::read_to_string(dir.join("full.toml")).unwrap();
    let cfg = dir.join("log.toml");
    std::fs::write(
        &cfg,
        format!("{full}\n[decision_log]\nsink = \"file\"\npath = \"decisions.jsonl\"\nmask = [\"/subject/claims/email\"]\n"),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let device = format!(
        r#"{{"managed": true, "disk_encrypted": true, "jailbroken": false, "patch_age_days": 1, "assessed_at": {}}}"#,
        now()
    );
    for (groups, method, path) in [
        (&["dev"][..], "GET", "/orders/1"),
        (&["viewer"][..], "GET", "/orders/2"),
        (&["viewer"][..], "POST", "/orders"),
    ] {
        let token = persona(groups, serde_json::json!({}));
        let (code, out, err) = zt(&[
            "decide",
            "--config",
            cfg,
            "--token",
            &token,
            "--method",
            method,
            "--path",
            path,
            "--device-json",
            &device,
        ]);
        assert!(code == 0 || code == 1, "{out}{err}");
    }
    // A damaged line in the middle of the log.
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"decision_id\": \"cut\n");
    std::fs::write(&log, text).unwrap();
    let log = log.to_str().unwrap();

    let no_dev = sample_variant("replay-nodev", |d| {
        d["grants"].as_object_mut().unwrap().remove("dev");
    });
    let args = |candidate: &str, extra: &[&str]| {
        let mut v = vec![
            "replay",
            "--config",
            cfg,
            "--log",
            log,
            "--candidate",
            candidate,
        ];
        v.extend_from_slice(extra);
        v.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| zt(&a.iter().map(String::as_str).collect::<Vec<_>>());

    let (code, out, err) = run(args(no_dev.to_str().unwrap(), &["--format", "json"]));
    assert_eq!(code, 1, "{out}{err}");
    let r = json_of(&out);
    assert_eq!(r["records"], 3);
    assert_eq!(r["flips"], 1);
    assert_eq!(r["by_kind"]["allow->deny"], 1);
    assert_eq!(r["groups"]["path"][0]["key"], "/orders");
    assert_eq!(r["groups"]["reason"][0]["key"], "rbac_not_permitted");
    assert_eq!(r["baseline"]["mismatches"], 0);
    assert_eq!(r["damaged"][0]["line"], 4);
    assert!(err.contains("line 4 skipped"), "{err}");

    let (code, _, _) = run(args(no_dev.to_str().unwrap(), &["--max-flips", "1"]));
    assert_eq!(code, 0);

    let same = sample_bundle_dir();
    let (code, out, err) = run(args(same.to_str().unwrap(), &[]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("flips: 0"), "{out}");
    assert!(out.contains("3 records: 3 replayed"), "{out}");

    let (code, _, err) = zt(&[
        "replay",
        "--config",
        cfg,
        "--log",
        "/nonexistent/log",
        "--candidate",
        same.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read"), "{err}");
    // A gate that read nothing vouches for nothing: a directory, an empty log.
    let same = same.to_str().unwrap();
    let (code, _, err) = zt(&[
        "replay",
        "--config",
        cfg,
        "--log",
        dir.to_str().unwrap(),
        "--candidate",
        same,
    ]);
    assert_eq!(code, 2, "{err}");
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let (code, _, err) = zt(&[
        "replay",
        "--config",
        cfg,
        "--log",
        empty.to_str().unwrap(),
        "--candidate",
        same,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no decision records"), "{err}");
}

#[test]
fn policy_eval_prints_the_value_and_zts_reading() {
    let dir = config_dir("eval");
    let input = dir.join("input.json");
    std::fs::write(
        &input,
        r#"{"request": {"method": "GET", "path": "/healthz"}}"#,
    )
    .unwrap();
    let bundle = sample_bundle_dir();
    let (code, out, err) = zt(&[
        "policy",
        "eval",
        bundle.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v = json_of(&out);
    assert_eq!(v["value"]["allow"], true);
    assert_eq!(
        v["value"]["reasons"],
        serde_json::json!(["public_endpoint"])
    );
    assert_eq!(v["decision"]["allow"], true);
    assert_eq!(v["undefined"], false);

    let undefined = temp_bundle(
        "eval-undef",
        &[(
            "p.rego",
            "package zt.authz\nimport rego.v1\ndecision if false\n",
        )],
    );
    let (code, out, _) = zt(&[
        "policy",
        "eval",
        undefined.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let v = json_of(&out);
    assert_eq!(
        (v["undefined"].clone(), v["decision"]["error"].clone()),
        (true.into(), "policy_undefined".into())
    );

    let (code, _, err) = zt(&[
        "policy",
        "eval",
        bundle.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--entrypoint",
        "data.zt.nope",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("data.zt.nope"), "{err}");
    let (code, _, err) = zt(&[
        "policy",
        "eval",
        bundle.to_str().unwrap(),
        "--input",
        "/nonexistent.json",
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn policy_bench_prints_percentiles_the_index_and_a_note_on_many_definitions() {
    let dir = config_dir("bench");
    let input = dir.join("input.json");
    std::fs::write(&input, r#"{"request": {"method": "GET", "path": "/r7"}}"#).unwrap();
    let (code, out, err) = zt(&[
        "policy",
        "bench",
        sample_bundle_dir().to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "-n",
        "300",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("300 evaluations"), "{out}");
    assert!(out.contains("p50 ") && out.contains("p99 "), "{out}");
    assert!(!out.contains("note:"), "{out}");

    let mut rules = String::from("package zt.authz\nimport rego.v1\n");
    for i in 0..25 {
        rules.push_str(&format!("decision if input.request.path == \"/r{i}\"\n"));
    }
    let many = temp_bundle("bench-many", &[("p.rego", &rules)]);
    let (code, out, _) = zt(&[
        "policy",
        "bench",
        many.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "-n",
        "100",
    ]);
    assert_eq!(code, 0, "{out}");
    // A route table: indexed, and the input evaluates a few of its definitions.
    assert!(out.contains("index: on input.request.path"), "{out}");
    assert!(
        out.contains("indexed definitions of `data.zt.authz.decision` (25 definitions)"),
        "{out}"
    );
    assert!(!out.contains("note:"), "{out}");
    // The same without the index: every definition, and the note says so.
    let (code, out, _) = zt(&[
        "policy",
        "bench",
        many.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "-n",
        "100",
        "--no-index",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("index: off (disabled by"), "{out}");
    assert!(
        out.contains("note: rule `decision` has 25 definitions and is not indexed"),
        "{out}"
    );
    // Definitions the index does not understand: not indexed, and the note.
    let mut rules = String::from("package zt.authz\nimport rego.v1\n");
    for i in 0..25 {
        rules.push_str(&format!(
            "decision if startswith(input.request.path, \"/r{i}\")\n"
        ));
    }
    let opaque = temp_bundle("bench-opaque", &[("p.rego", &rules)]);
    let (code, out, _) = zt(&[
        "policy",
        "bench",
        opaque.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "-n",
        "100",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("index: off (no rule has 4 or more"), "{out}");
    assert!(
        out.contains("note: rule `decision` has 25 definitions"),
        "{out}"
    );
}

#[test]
fn verification_key_checks_the_bundle_signature() {
    let policy = "package acme\nimport rego.v1\ntest_ok if true\n";
    let signed = zt_testkit::signed_bundle(
        &[("p.rego", policy.as_bytes())],
        "rsa2048-a",
        "RS256",
        "default",
    );
    let files: Vec<(&str, &str)> = signed
        .iter()
        .map(|(n, b)| (n.as_str(), std::str::from_utf8(b).unwrap()))
        .collect();
    let dir = temp_bundle("signed", &files);
    let d = dir.to_str().unwrap();
    let key = |name: &str| {
        zt_testkit::keys_dir()
            .join(format!("{name}.pub.pem"))
            .display()
            .to_string()
    };
    let good = key("rsa2048-a");
    let (code, out, err) = zt(&["policy", "test", d, "--verification-key", &good]);
    assert_eq!(code, 0, "{out}{err}");
    // Signed with another key than the one given.
    let other = key("rsa2048-b");
    let (code, _, err) = zt(&["policy", "test", d, "--verification-key", &other]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not verify with key `default`"), "{err}");
    // The given key verifies under any id (as with `opa`); another algorithm does not.
    let (code, out, err) = zt(&[
        "policy",
        "test",
        d,
        "--verification-key",
        &good,
        "--verification-key-id",
        "k2",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = zt(&[
        "policy",
        "test",
        d,
        "--verification-key",
        &good,
        "--signing-alg",
        "PS256",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("algorithm `RS256`"), "{err}");
    // A changed file.
    std::fs::write(dir.join("p.rego"), format!("{policy}test_more if true\n")).unwrap();
    let (code, _, err) = zt(&["policy", "test", d, "--verification-key", &good]);
    assert_eq!(code, 2);
    assert!(
        err.contains("`p.rego` does not match its signed digest"),
        "{err}"
    );
    // Without the flag the bundle is not verified.
    let (code, out, _) = zt(&["policy", "test", d]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn policy_build_and_sign_write_bundles_that_verify() {
    let dir = temp_bundle(
        "to-build",
        &[
            (
                "zt/authz.rego",
                "package zt.authz\nimport rego.v1\ndefault decision := false\ndecision if input.request.method == \"GET\"\ntest_get if decision with input as {\"request\": {\"method\": \"GET\"}}\n",
            ),
            ("zt/data.json", "{\"limit\": 3}"),
        ],
    );
    let d = dir.to_str().unwrap();
    let key = |name: &str, ext: &str| {
        zt_testkit::keys_dir()
            .join(format!("{name}.{ext}"))
            .display()
            .to_string()
    };
    let out_path = dir.with_extension("tar.gz");
    let out = out_path.to_str().unwrap();
    // Build signed, with a revision, as `opa build -b … --signing-key … --revision …`.
    let (code, stdout, err) = zt(&[
        "policy",
        "build",
        d,
        "-o",
        out,
        "--revision",
        "v7",
        "--signing-key",
        &key("ec-p256", "pem"),
        "--signing-alg",
        "ES256",
        "--key-id",
        "release",
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("signed"), "{stdout}");
    let pub_key = key("ec-p256", "pub.pem");
    let verify = [
        "--verification-key",
        pub_key.as_str(),
        "--signing-alg",
        "ES256",
    ];
    let mut args = vec!["policy", "test", out];
    args.extend(verify);
    let (code, stdout, err) = zt(&args);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("PASS data.zt.authz.test_get"), "{stdout}");
    // Sign a directory in place; a changed file afterwards is refused.
    let (code, stdout, err) = zt(&[
        "policy",
        "sign",
        d,
        "--signing-key",
        &key("rsa2048-a", "pem"),
        "--key-id",
        "ci",
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(dir.join(".signatures.json").is_file());
    let rsa = key("rsa2048-a", "pub.pem");
    let (code, stdout, err) = zt(&["policy", "test", d, "--verification-key", &rsa]);
    assert_eq!(code, 0, "{stdout}{err}");
    std::fs::write(dir.join("zt/data.json"), "{\"limit\": 4}").unwrap();
    let (code, _, err) = zt(&["policy", "test", d, "--verification-key", &rsa]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`zt/data.json` does not match its signed digest"),
        "{err}"
    );
    // A key of the wrong kind: exit 2, the key's text never printed.
    let (code, _, err) = zt(&[
        "policy",
        "sign",
        d,
        "--signing-key",
        &key("ec-p256", "pem"),
        "--signing-alg",
        "RS256",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a PEM private key for RS256"), "{err}");
    assert!(!err.contains("BEGIN"), "{err}");
    std::fs::remove_file(&out_path).ok();
}

/// A hash-chained log of three decisions (`zt decide` with the sample bundle) in a config dir.
fn chained_log(name: &str) -> (PathBuf, PathBuf) {
    let dir = config_dir(name);
    let log = dir.join("chained.jsonl");
    let full = std::fs::read_to_string(dir.join("full.toml")).unwrap();
    let cfg = dir.join("log.toml");
    std::fs::write(
        &cfg,
        format!("{full}\n[decision_log]\nsink = \"hash_chained_file\"\npath = \"chained.jsonl\"\n"),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let device = format!(
        r#"{{"managed": true, "disk_encrypted": true, "jailbroken": false, "patch_age_days": 1, "assessed_at": {}}}"#,
        now()
    );
    // bob holds admin rights and only ever reads a public endpoint: unused.
    for (sub, groups, method, path) in [
        ("alice", &["admin"][..], "GET", "/orders/1"),
        ("carol", &["viewer"][..], "GET", "/orders/2"),
        ("carol", &["viewer"][..], "POST", "/orders"),
        ("bob", &["admin", "viewer"][..], "GET", "/healthz"),
    ] {
        let token = persona(groups, serde_json::json!({ "sub": sub }));
        let (code, out, err) = zt(&[
            "decide",
            "--config",
            cfg,
            "--token",
            &token,
            "--method",
            method,
            "--path",
            path,
            "--device-json",
            &device,
        ]);
        assert!(code == 0 || code == 1, "{out}{err}");
    }
    (dir, log)
}

#[test]
fn report_prints_json_and_markdown_and_exits_by_the_chain() {
    let (dir, log) = chained_log("report");
    let log_s = log.to_str().unwrap();
    let bundle = zt_testkit::sample_bundle_dir();
    let bundle = bundle.to_str().unwrap();
    let (code, out, err) = zt(&["report", "--log", log_s, "--bundle", bundle]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decisions"], 4);
    assert_eq!(v["outcomes"]["deny"], 1);
    assert_eq!(v["chain"]["verified"], true);
    assert_eq!(v["least_privilege"]["subjects"], 3, "{out}");
    assert_eq!(
        v["least_privilege"]["subjects_with_unused_privileged"], 1,
        "{out}"
    );
    assert_eq!(
        v["least_privilege"]["entries"][0]["subject"], "bob",
        "{out}"
    );
    let md_file = dir.join("report.md");
    let (code, out, err) = zt(&[
        "report",
        "--log",
        log_s,
        "--format",
        "md",
        "-o",
        md_file.to_str().unwrap(),
    ]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    let md = std::fs::read_to_string(&md_file).unwrap();
    assert!(
        md.starts_with("# zt report") && md.contains("| POST | /orders | 1 |"),
        "{md}"
    );
    // Usage errors and unreadable logs exit 2; a broken chain exits 1.
    let (code, _, err) = zt(&["report", "--log", log_s, "--since", "last tuesday"]);
    assert_eq!(code, 2, "{err}");
    let missing = dir.join("missing.jsonl");
    let (code, _, err) = zt(&["report", "--log", missing.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("\"GET\"", "\"PUT\"", 1)).unwrap();
    let (code, out, err) = zt(&["report", "--log", log_s]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["chain"]["verified"], false);
    assert!(err.contains("hash chain is broken"), "{err}");
}

/// The browser for the HTML report's test: `ZT_CHROMIUM`, else Chromium on PATH (the test
/// command installs Debian's `chromium` where it is missing).
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ZT_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

#[test]
fn report_html_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        if std::env::var_os("ZT_SKIP_BROWSER").is_some() {
            eprintln!("SKIPPED: no Chromium and ZT_SKIP_BROWSER is set");
            return;
        }
        panic!(
            "Chromium not found: run the README's test command (it installs Debian's chromium), set ZT_CHROMIUM, or ZT_SKIP_BROWSER=1 to skip knowingly"
        );
    };
    let (dir, log) = chained_log("report-html");
    let page = dir.join("report.html");
    let bundle = zt_testkit::sample_bundle_dir();
    let (code, _, err) = zt(&[
        "report",
        "--log",
        log.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
        "--format",
        "html",
        "-o",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: no script, nothing loaded from anywhere (issuer URLs are only text).
    assert!(!html.contains("<script"), "no script");
    for attr in ["src=", "href=", "url(", "@import"] {
        assert!(!html.contains(attr), "{attr} in the page");
    }
    let url = format!("file://{}", page.display());
    let run = |extra: &[String]| {
        let profile = dir.join(format!("profile-{}", extra.len()));
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1000,3000",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(extra.iter().cloned());
        args.push(url.clone());
        let out = Command::new("timeout")
            .arg("90")
            .arg(&browser)
            .args(&args)
            .output()
            .expect("run chromium");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The page as the browser built it: every chart is there.
    let (code, dom, log_text) = run(&["--dump-dom".to_owned()]);
    assert_eq!(code, Some(0), "{log_text}");
    for id in [
        "chart-timeline",
        "chart-latency",
        "chart-reasons",
        "chart-least-privilege",
    ] {
        let at = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no {id}: {dom}"));
        assert!(
            dom[at..]
                .trim_start_matches(|c| c != '>')
                .get(1..20)
                .unwrap_or_default()
                .contains("<svg"),
            "{id} holds no SVG"
        );
    }
    assert_eq!(dom.matches("<svg").count(), 4);
    assert!(dom.contains("least-privilege-kpi"));
    // Loaded without errors: nothing refused by the page's policy, no console error.
    for bad in ["Refused to", "CONSOLE", "ERR_FILE_NOT_FOUND"] {
        assert!(!log_text.contains(bad), "{bad}: {log_text}");
    }
    // A screenshot of it.
    let shot = dir.join("report.png");
    let (code, _, log_text) = run(&[format!("--screenshot={}", shot.display())]);
    assert_eq!(code, Some(0), "{log_text}");
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
