//! `zt policy test` per the CLI contract: every `test_` rule of any bundle, whatever its
//! packages, like `opa test`; the entrypoint is checked only when asked for.

#![cfg(test)]

use std::path::PathBuf;
use std::process::Command;

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

fn bundle(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zt-policy-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (n, c) in files {
        std::fs::write(dir.join(n), c).unwrap();
    }
    dir
}

const LIB: &str = "package acme.lib\nimport rego.v1\nadmin(u) if u == \"root\"\n";
const TESTS: &str = "package acme.lib_test\nimport rego.v1\nimport data.acme.lib\ntest_root if lib.admin(\"root\")\ntest_not_alice if not lib.admin(\"alice\")\n";

#[test]
fn any_package_passes_without_an_entrypoint() {
    let dir = bundle("any", &[("lib.rego", LIB), ("lib_test.rego", TESTS)]);
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
    let dir = bundle("fail", &[("lib.rego", LIB), ("lib_test.rego", &failing)]);
    let (code, out, _) = zt(&["policy", "test", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL data.acme.lib_test.test_wrong"), "{out}");
    assert!(out.trim_end().ends_with("2 passed, 1 failed"), "{out}");
}

#[test]
fn a_syntax_error_exits_2_naming_the_file() {
    let dir = bundle(
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
    let dir = bundle("entry", &[("lib.rego", LIB), ("lib_test.rego", TESTS)]);
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
