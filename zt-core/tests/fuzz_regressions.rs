#![cfg(test)]
//! Inputs found by the fuzz targets in `fuzz/`, kept as regression tests.

use std::time::{Duration, Instant};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/fuzz")
            .join(name),
    )
    .unwrap()
}

/// fuzz target `bundle`: an archive whose Rego nests `[` ~60 deep. regorus 0.14.1's parser
/// takes time exponential in the nesting (it timed out the fuzzer); zt now refuses it at once.
#[test]
fn bundle_with_deeply_nested_brackets_is_refused_quickly() {
    let start = Instant::now();
    zt_core::internal::bundle(&data("bundle-nested-brackets-timeout.bin"));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn nesting_limit_through_the_public_api() {
    use zt_core::{PolicyConfig, PolicyError, PolicyStore};
    let nested = |n: usize| {
        format!(
            "package zt.authz\nimport rego.v1\n# [[[[[[[[[[[[[[[[[[[[[[[[ in a comment\ns := \"{{{{{{{{{{{{{{{{{{{{{{{{\"\ndecision if count({}1{}) > 0\n",
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let load = |src: String| {
        PolicyStore::from_files(
            vec![("p.rego".into(), src.into_bytes())],
            PolicyConfig::default(),
        )
    };
    assert!(
        load(nested(8)).is_ok(),
        "ordinary nesting (and brackets in strings/comments) is fine"
    );
    let start = Instant::now();
    match load(nested(40)) {
        Err(PolicyError::Compile { message }) => {
            assert!(
                message.contains("`p.rego` line 5: brackets nested more than 16 deep"),
                "{message}"
            )
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(2));
}
