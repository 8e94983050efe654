//! Black-box tests of the `zt` binary.

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

fn temp_bundle(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zt-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (n, c) in files {
        std::fs::write(dir.join(n), c).unwrap();
    }
    dir
}

#[test]
fn policy_test_on_the_sample_bundle_passes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/policies");
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
