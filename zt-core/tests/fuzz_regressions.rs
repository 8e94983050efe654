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

/// fuzz target `rule_index`: a rule that refers to itself (`allow if allow.request…`). regorus
/// 0.14.1's compiled VM recursed until the stack overflowed, aborting the process, at load
/// (zt's warm-up evaluation) or on the first decision; zt now refuses the bundle, as OPA does.
#[test]
fn a_rule_that_refers_to_itself_is_refused_not_a_stack_overflow() {
    zt_core::internal::rule_index(&data("rule-index-self-reference-stack-overflow.bin")).unwrap();
    use zt_core::{PolicyConfig, PolicyError, PolicyStore};
    let load = |body: &str| {
        PolicyStore::from_files(
            vec![(
                "p.rego".into(),
                format!("package zt.authz\nimport rego.v1\n{body}\n").into_bytes(),
            )],
            PolicyConfig::default(),
        )
    };
    for (body, cycle) in [
        (
            "default allow := false\ndecision := allow\nallow if allow",
            "data.zt.authz.allow -> data.zt.authz.allow",
        ),
        (
            "decision := x\nx if y.z\ny := {\"z\": w}\nw if data.zt.authz.x",
            "data.zt.authz.x -> data.zt.authz.y -> data.zt.authz.w -> data.zt.authz.x",
        ),
        (
            "decision := count(data.zt.authz) > 0",
            "data.zt.authz.decision -> data.zt.authz.decision",
        ),
        (
            "import data.zt.authz as me\ndecision if me.other\nother if me.decision",
            "data.zt.authz.decision -> data.zt.authz.other -> data.zt.authz.decision",
        ),
        (
            // (zt's earlier lexical check of functions names it first.)
            "decision if f(1)\nf(n) if g(n)\ng(n) if f(n)",
            "f -> g -> f",
        ),
    ] {
        match load(body) {
            Err(PolicyError::Compile { message }) => {
                assert!(message.contains("recursion"), "{body}: {message}");
                assert!(message.contains(cycle), "{body}: {message}");
            }
            other => panic!("{body}: expected a recursion error, got {other:?}"),
        }
    }
    // Through a computed index (`data.policies[n]` reads every package under it).
    let files = vec![
        (
            "main.rego".to_owned(),
            b"package main
import rego.v1
allow if { some n; data.policies[n].allow }
"
            .to_vec(),
        ),
        (
            "a.rego".to_owned(),
            b"package policies.a
import rego.v1
allow if data.main.allow
"
            .to_vec(),
        ),
    ];
    let mut config = PolicyConfig::default();
    config.entrypoint = "data.main.allow".to_owned();
    match PolicyStore::from_files(files, config) {
        Err(PolicyError::Compile { message }) => {
            assert!(message.contains("recursion"), "{message}")
        }
        other => panic!("expected a recursion error, got {other:?}"),
    }
    // A rule named like a builtin's namespace that calls the builtin is no cycle.
    assert!(
        load("time := time.now_ns()\ndecision := time > 0").is_ok(),
        "a rule `time` calling time.now_ns()"
    );
    // References that only look alike are no cycle: sibling rules of one ref head, a local
    // argument named like a rule, another package's rule of the same name.
    for body in [
        "a.b := 1\na.c := a.b + 1\ndecision := a.c == 2",
        "decision if data.other.decision",
        "y := 2\nf(y) := y + 1\ndecision := f(1) == 2",
    ] {
        let mut files = vec![(
            "p.rego".to_owned(),
            format!("package zt.authz\nimport rego.v1\n{body}\n").into_bytes(),
        )];
        files.push((
            "o.rego".to_owned(),
            b"package other\nimport rego.v1\ndecision := true\n".to_vec(),
        ));
        let r = PolicyStore::from_files(files, PolicyConfig::default());
        assert!(r.is_ok(), "{body}: {r:?}");
    }
}

/// fuzz target `rule_index`: a policy file with a NUL byte. regorus 0.14.1 stops reading the
/// file there (even inside a comment), silently dropping the rules after it; the index, which
/// rearranges the text, then disagreed with the whole bundle. zt refuses such a file.
#[test]
fn a_nul_byte_in_a_policy_file_is_refused() {
    zt_core::internal::rule_index(&data("rule-index-nul-byte-truncates.bin")).unwrap();
    let r = zt_core::PolicyStore::from_files(
        vec![(
            "p.rego".into(),
            b"package zt.authz\nimport rego.v1\nx := 1 # \0 here\ndecision := 2\n".to_vec(),
        )],
        zt_core::PolicyConfig::default(),
    );
    match r {
        Err(e @ zt_core::PolicyError::Parse { .. }) => {
            assert!(e.to_string().contains("line 3: a NUL byte"), "{e}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}
