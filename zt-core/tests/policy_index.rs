//! Rule indexing: which forms are indexed, what is left alone, the switch, the test runner, and
//! the differential property (indexed and unindexed evaluation agree on generated route tables
//! and generated inputs).

#![cfg(test)]

use proptest::prelude::*;
use serde_json::{Value, json};
use zt_core::{PolicyConfig, PolicyStore};

fn files(rego: &str) -> Vec<(String, Vec<u8>)> {
    vec![("p.rego".to_owned(), rego.as_bytes().to_vec())]
}

fn config(indexing: bool) -> PolicyConfig {
    let mut c = PolicyConfig::default();
    c.indexing = indexing;
    c.run_tests_on_load = false;
    c
}

fn store(rego: &str) -> PolicyStore {
    PolicyStore::from_files(files(rego), config(true)).unwrap()
}

/// A route table: `n` definitions of `allow`, each from `line(i)`.
fn table(n: usize, line: impl Fn(usize) -> String) -> String {
    let mut s = String::from(
        "package zt.authz\nimport rego.v1\ndefault allow := false\ndecision := {\"allow\": allow}\n",
    );
    for i in 0..n {
        s.push_str(&line(i));
        s.push('\n');
    }
    s
}

fn allowed(store: &PolicyStore, input: Value) -> bool {
    let v = store.active().eval_json(&input).unwrap().unwrap();
    v["allow"] == json!(true)
}

fn req(method: &str, path: &str) -> Value {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    json!({"request": {"method": method, "path": path, "segments": segments},
           "subject": {"groups": ["dev"]}})
}

#[test]
fn equality_routes_are_indexed_on_path_and_method() {
    let s = store(&table(50, |i| {
        format!(
            "allow if {{\n  input.request.method == \"GET\"\n  \"/r{i}\" == input.request.path\n}}"
        )
    }));
    let b = s.active();
    let index = b.index();
    assert!(index.indexed, "{index:?}");
    assert_eq!(
        index.refs,
        ["input.request.path", "input.request.method"],
        "{index:?}"
    );
    assert_eq!(index.rules.len(), 1);
    assert_eq!(
        (index.rules[0].definitions, index.rules[0].indexed),
        (50, 50)
    );
    let (evaluated, total) = b.indexed_definitions(&req("GET", "/r49")).unwrap();
    assert!(evaluated <= 4 && total == 50, "{evaluated} of {total}");
    // No route: only the placeholder definition (the rule keeps one).
    assert_eq!(b.indexed_definitions(&req("GET", "/none")), Some((1, 50)));
    assert!(allowed(&s, req("GET", "/r49")));
    assert!(allowed(&s, req("GET", "/r0")));
    assert!(!allowed(&s, req("POST", "/r49")));
    assert!(!allowed(&s, req("GET", "/r50")));
    assert!(!allowed(&s, json!({})));
}

#[test]
fn segment_patterns_glob_membership_and_booleans_are_indexed() {
    let s = store(&table(12, |i| match i % 4 {
        0 => format!("allow if input.request.segments = [\"orders\", \"o{i}\", _]"),
        1 => format!("allow if glob.match(\"/files/f{i}/*\", [\"/\"], input.request.path)"),
        2 => format!(
            "allow if {{ input.request.segments[0] == \"s{i}\"; \"g{i}\" in input.subject.groups }}"
        ),
        _ => format!(
            "allow if {{ glob.match(\"/n{i}/**\", null, input.request.path); input.device.managed == true }}"
        ),
    }));
    let index = s.active().index().clone();
    assert!(index.indexed, "{index:?}");
    for r in [
        "input.request.segments[1]",
        "count(input.request.segments)",
        "input.request.path",
        "input.request.segments[0]",
        "\"g2\" in input.subject.groups",
        "input.device.managed",
    ] {
        assert!(
            index.refs.iter().any(|x| x == r),
            "{r} not in {:?}",
            index.refs
        );
    }
    assert!(allowed(&s, req("GET", "/orders/o0/x")));
    assert!(!allowed(&s, req("GET", "/orders/o0")));
    assert!(allowed(&s, req("GET", "/files/f1/a")));
    assert!(!allowed(&s, req("GET", "/files/f1/a/b")));
    assert!(allowed(
        &s,
        json!({"request": {"segments": ["s2"]}, "subject": {"groups": ["g2"]}})
    ));
    assert!(!allowed(
        &s,
        json!({"request": {"segments": ["s2"]}, "subject": {"groups": ["g6"]}})
    ));
    // A set, an object's values, a string that is not a collection: regorus decides.
    assert!(!allowed(
        &s,
        json!({"request": {"segments": ["s2"]}, "subject": {"groups": "g2"}})
    ));
    assert!(allowed(
        &s,
        json!({"request": {"segments": ["s2"]}, "subject": {"groups": {"a": "g2"}}})
    ));
    assert!(allowed(
        &s,
        json!({"request": {"path": "/n3/a/b"}, "device": {"managed": true}})
    ));
    assert!(!allowed(
        &s,
        json!({"request": {"path": "/n3/a/b"}, "device": {"managed": "true"}})
    ));
}

#[test]
fn forms_the_index_does_not_understand_are_left_alone() {
    // Delimiters other than "/" rewrite the text before matching; `not`, `!=`, calls and
    // `else` are no conditions: no rule has four indexable definitions.
    let s = store(&table(8, |i| match i % 4 {
        0 => format!("allow if glob.match(\"a{i}.*\", [\".\"], input.request.path)"),
        1 => format!("allow if not input.request.method == \"M{i}\""),
        2 => format!("allow if startswith(input.request.path, \"/p{i}\")"),
        _ => format!(
            "allow if {{ input.request.method == \"X{i}\" }} else := false if {{ input.request.path == \"/q{i}\" }}"
        ),
    }));
    let index = s.active().index().clone();
    assert!(!index.indexed, "{index:?}");
    assert!(
        index
            .reason
            .as_deref()
            .unwrap()
            .contains("4 or more definitions"),
        "{index:?}"
    );
    assert!(allowed(&s, req("GET", "/p2")));
    assert!(allowed(&s, json!({"request": {"path": "a0.b"}})));

    // A local named `input` (a function parameter): the bundle is not indexed at all.
    let mut rego = table(6, |i| format!("allow if input.request.path == \"/r{i}\""));
    rego.push_str("f(input) := input.x\n");
    let index = store(&rego).active().index().clone();
    assert!(!index.indexed);
    assert!(index.reason.unwrap().contains("`input`"));
}

#[test]
fn the_switch_turns_the_index_off_and_changes_no_answer() {
    let rego = table(20, |i| format!("allow if input.request.path == \"/r{i}\""));
    let on = PolicyStore::from_files(files(&rego), config(true)).unwrap();
    let off = PolicyStore::from_files(files(&rego), config(false)).unwrap();
    assert!(on.active().index().indexed);
    let index = off.active().index().clone();
    assert!(!index.indexed);
    assert_eq!(
        index.reason.as_deref(),
        Some("disabled by `policy.indexing = false`")
    );
    assert_eq!(off.active().indexed_definitions(&req("GET", "/r1")), None);
    for p in ["/r0", "/r19", "/r20", "/"] {
        assert_eq!(
            allowed(&on, req("GET", p)),
            allowed(&off, req("GET", p)),
            "{p}"
        );
    }
    // The switch is a config key.
    let c: zt_core::AuthorizerConfig = zt_core::AuthorizerConfig::from_toml_str(
        "[[issuers]]\nissuer = \"https://idp.example.invalid\"\naudiences = [\"api\"]\nalgorithms = [\"RS256\"]\njwks_uri = \"https://idp.example.invalid/jwks\"\n[policy]\nindexing = false\n",
    )
    .unwrap();
    assert!(!c.policy.indexing);
}

#[test]
fn ten_thousand_routes_load_indexed_in_seconds() {
    // Ten files of a thousand routes (one file would pass `max_file_bytes`).
    let mut modules = Vec::new();
    for f in 0..10 {
        let mut s = String::from("package zt.authz\nimport rego.v1\n");
        if f == 0 {
            s.push_str("default allow := false\ndecision := {\"allow\": allow}\n");
        }
        for i in f * 1000..(f + 1) * 1000 {
            s.push_str(&format!(
                "allow if {{\n  input.request.method == \"GET\"\n  input.request.path == \"/api/r{i}\"\n}}\n"
            ));
        }
        modules.push((format!("p{f}.rego"), s.into_bytes()));
    }
    let started = std::time::Instant::now();
    let s = PolicyStore::from_files(modules.clone(), config(true)).unwrap();
    let took = started.elapsed();
    let b = s.active();
    assert!(b.index().indexed);
    assert_eq!(b.index().rules[0].definitions, 10_000);
    assert!(allowed(&s, req("GET", "/api/r9999")));
    assert!(allowed(&s, req("GET", "/api/r0")));
    assert!(!allowed(&s, req("GET", "/api/r10000")));
    // Not a timing assertion (benches measure): a bound that only a hang would cross.
    assert!(took.as_secs() < 300, "{took:?}");
    // Unindexed, regorus cannot hold it in one program.
    let e = PolicyStore::from_files(modules, config(false)).unwrap_err();
    assert_eq!(e.code(), "policy_compile", "{e}");
    assert!(e.to_string().contains("max instructions"), "{e}");
}

#[test]
fn policy_tests_run_with_the_index() {
    let dir = std::env::temp_dir().join(format!("zt-index-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("p.rego"),
        table(8, |i| format!("allow if input.request.path == \"/r{i}\"")),
    )
    .unwrap();
    std::fs::write(
        dir.join("p_test.rego"),
        "package zt.authz\nimport rego.v1\n\
         test_r7 if decision.allow with input as {\"request\": {\"path\": \"/r7\"}}\n\
         test_two if { decision.allow with input as {\"request\": {\"path\": \"/r1\"}}; not decision.allow with input as {\"request\": {\"path\": \"/x\"}} }\n\
         test_wrong if decision.allow with input as {\"request\": {\"path\": \"/r8\"}}\n\
         test_dynamic if { p := \"/r2\"; decision.allow with input as {\"request\": {\"path\": p}} }\n\
         test_part if decision.allow with input.request as {\"path\": \"/r3\"}\n",
    )
    .unwrap();
    let results = zt_core::test_bundle(&dir, &PolicyConfig::default(), None).unwrap();
    let by: std::collections::HashMap<&str, (bool, bool)> = results
        .iter()
        .map(|t| (t.name.rsplit('.').next().unwrap(), (t.passed, t.indexed)))
        .collect();
    assert_eq!(by["test_r7"], (true, true), "{results:?}");
    assert_eq!(by["test_two"], (true, true), "{results:?}");
    assert_eq!(by["test_wrong"], (false, true), "{results:?}");
    assert_eq!(by["test_dynamic"], (true, false), "{results:?}");
    assert_eq!(by["test_part"], (true, false), "{results:?}");
    // Off: every test runs on the whole bundle.
    let off = zt_core::test_bundle(&dir, &config(false), None).unwrap();
    assert!(off.iter().all(|t| !t.indexed), "{off:?}");
    assert_eq!(
        off.iter().filter(|t| t.passed).count(),
        results.iter().filter(|t| t.passed).count()
    );
    std::fs::remove_dir_all(&dir).ok();
}

// --- the differential property ---------------------------------------------------------------

const METHODS: [&str; 3] = ["GET", "POST", "PUT"];
const SEGS: [&str; 4] = ["a", "b", "1", "a.b"];
const PATHS: [&str; 6] = ["/a", "/a/b", "/b", "/a/1", "/a.b", "/a:b"];
const GLOBS: [&str; 8] = [
    "/a/*", "/a/**", "/b*", "/a/b", "/*/b", "/a/?", "/a.*", "/a[.:]b",
];
const DELIMS: [&str; 6] = [
    "[\"/\"]",
    "null",
    "[]",
    "[\".\"]",
    "[\":\", \"/\"]",
    "[\":\"]",
];
const GROUPS: [&str; 2] = ["dev", "ops"];

/// One literal of a generated body.
fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..3usize, 0..3usize).prop_map(|(m, form)| {
            let m = METHODS[m];
            match form {
                0 => format!("input.request.method == {m:?}"),
                1 => format!("{m:?} == input.request.method"),
                _ => format!("input.request.method = {m:?}"),
            }
        }),
        (0..6usize).prop_map(|p| format!("input.request.path == {:?}", PATHS[p])),
        proptest::collection::vec(0..6usize, 1..4).prop_map(|items| {
            let items: Vec<String> = items
                .iter()
                .map(|i| match i {
                    4 => "_".to_owned(),
                    5 => "x".to_owned(),
                    i => format!("{:?}", SEGS[*i]),
                })
                .collect();
            format!("input.request.segments = [{}]", items.join(", "))
        }),
        (0..2usize, 0..4usize)
            .prop_map(|(i, s)| format!("input.request.segments[{i}] == {:?}", SEGS[s])),
        (0..8usize, 0..6usize).prop_map(|(g, d)| format!(
            "glob.match({:?}, {}, input.request.path)",
            GLOBS[g], DELIMS[d]
        )),
        (0..2usize).prop_map(|g| format!("{:?} in input.subject.groups", GROUPS[g])),
        any::<bool>().prop_map(|b| format!("input.device.managed == {b}")),
        (0..3usize).prop_map(|m| format!("not input.request.method == {:?}", METHODS[m])),
        (0..3usize).prop_map(|m| format!("input.request.method != {:?}", METHODS[m])),
        (0..6usize).prop_map(|p| format!("startswith(input.request.path, {:?})", PATHS[p])),
    ]
}

/// A generated policy: `allow` (complete, boolean, at least four definitions with an
/// indexable first literal), `reasons` (partial set) and `level` (complete, values that can
/// conflict), some definitions with `else`.
fn policy() -> impl Strategy<Value = String> {
    let indexable = prop_oneof![
        (0..3usize).prop_map(|m| format!("input.request.method == {:?}", METHODS[m])),
        (0..6usize).prop_map(|p| format!("input.request.path == {:?}", PATHS[p])),
        (0..4usize).prop_map(|s| format!("input.request.segments[0] == {:?}", SEGS[s])),
        (0..8usize)
            .prop_map(|g| format!("glob.match({:?}, [\"/\"], input.request.path)", GLOBS[g])),
    ];
    let allow = proptest::collection::vec(
        (indexable, proptest::collection::vec(literal(), 0..3)),
        4..14,
    );
    let others = proptest::collection::vec(
        (
            0..3usize,
            proptest::collection::vec(literal(), 1..3),
            any::<bool>(),
        ),
        0..8,
    );
    (allow, others).prop_map(|(allow, others)| {
        let mut s = String::from(
            "package zt.authz\nimport rego.v1\ndefault allow := false\ndefault level := -1\n\
             decision := {\"allow\": allow, \"reasons\": reasons, \"level\": level}\n",
        );
        for (first, rest) in allow {
            if rest.is_empty() {
                // One literal: no braces, so the definition can end with a string.
                s.push_str(&format!("allow if {first}\n"));
                continue;
            }
            let mut body = vec![first];
            body.extend(rest);
            s.push_str(&format!("allow if {{\n  {}\n}}\n", body.join("\n  ")));
        }
        s.push_str("reasons contains \"none\" if false\n");
        for (i, (kind, body, with_else)) in others.into_iter().enumerate() {
            let body = body.join("\n  ");
            match (kind, with_else) {
                (0, false) => s.push_str(&format!("reasons contains \"r{i}\" if {{\n  {body}\n}}\n")),
                (1, false) => s.push_str(&format!("level := {} if {{\n  {body}\n}}\n", i % 3)),
                (1, true) => s.push_str(&format!(
                    "level := {} if {{\n  {body}\n}} else := 9 if input.request.method == \"GET\"\n",
                    i % 3
                )),
                _ => s.push_str(&format!("allow if {{\n  {body}\n}}\n")),
            }
        }
        s
    })
}

/// A generated input: the vocabulary's values, other types, missing members.
fn input() -> impl Strategy<Value = Value> {
    let method = prop_oneof![
        (0..3usize).prop_map(|m| json!(METHODS[m])),
        Just(json!("get")),
        Just(json!(5)),
        Just(Value::Null),
    ];
    let path = prop_oneof![
        (0..6usize).prop_map(|p| json!(PATHS[p])),
        Just(json!("/a/b/c")),
        Just(json!(":a/b")),
        Just(json!(":a:b")),
        Just(json!("\u{0}a\u{0}b")),
        Just(json!("")),
        Just(json!(["a"])),
    ];
    let segments = prop_oneof![
        proptest::collection::vec((0..4usize).prop_map(|s| json!(SEGS[s])), 0..4)
            .prop_map(Value::from),
        Just(json!("a")),
        Just(json!({"0": "a"})),
        Just(json!([1, "a"])),
    ];
    let groups = prop_oneof![
        proptest::collection::vec((0..2usize).prop_map(|g| json!(GROUPS[g])), 0..3)
            .prop_map(Value::from),
        Just(json!("dev")),
        Just(json!({"k": "ops"})),
    ];
    let managed = prop_oneof![Just(json!(true)), Just(json!(false)), Just(json!("true"))];
    (method, path, segments, groups, managed, any::<u8>()).prop_map(
        |(method, path, segments, groups, managed, drop)| {
            let mut request = serde_json::Map::new();
            for (i, (k, v)) in [("method", method), ("path", path), ("segments", segments)]
                .into_iter()
                .enumerate()
            {
                if drop & (1 << i) == 0 && !v.is_null() {
                    request.insert(k.to_owned(), v);
                }
            }
            let mut doc = json!({"request": request, "subject": {"groups": groups},
                                 "device": {"managed": managed}});
            if drop & 0x80 != 0 {
                doc["subject"] = json!({});
            }
            doc
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn indexed_and_unindexed_evaluation_agree(
        rego in policy(),
        inputs in proptest::collection::vec(input(), 12),
    ) {
        let indexed = zt_core::internal::index_differential(&rego, &inputs)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{rego}")))?;
        // Every generated `allow` definition starts with an indexable literal.
        prop_assert!(indexed, "not indexed:\n{}", rego);
    }
}

/// The fuzz target's seeds (route tables in each style, mixed rules) agree indexed and
/// unindexed, and each is indexed.
#[test]
fn the_fuzz_seeds_agree() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/rule_index");
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let body = std::fs::read_to_string(e.unwrap().path()).unwrap();
        zt_core::internal::rule_index(body.as_bytes()).unwrap();
        let rego = format!("package zt.authz\nimport rego.v1\n{body}");
        assert!(
            zt_core::internal::index_differential(&rego, &[json!({})]).unwrap(),
            "not indexed: {body}"
        );
        seen += 1;
    }
    assert!(seen >= 4);
}

/// Review findings, each a case where leaving a definition out would have been wrong.
#[test]
fn a_glob_match_the_bundle_may_define_and_null_delimiters_are_not_indexed() {
    // `glob.match` resolved through an import to the bundle's own function.
    let custom = "package lib.glob\nimport rego.v1\nmatch(p, _, v) if lower(v) == lower(p)\n";
    let mut routes = table(6, |i| {
        format!("allow if glob.match(\"/api/r{i}\", [\"/\"], input.request.path)")
    });
    routes = routes.replace("import rego.v1\n", "import rego.v1\nimport data.lib.glob\n");
    let files = vec![
        ("p.rego".to_owned(), routes.into_bytes()),
        ("g.rego".to_owned(), custom.as_bytes().to_vec()),
    ];
    let s = PolicyStore::from_files(files, config(true)).unwrap();
    assert!(!s.active().index().indexed, "{:?}", s.active().index());
    assert!(allowed(&s, req("GET", "/API/R3")));
    // `null` delimiters: `/` and NUL become the same character before matching.
    let rego = table(6, |i| {
        format!("allow if glob.match(\"/admin{i}/*\", null, input.request.path)")
    });
    let s = store(&rego);
    assert!(!s.active().index().indexed, "{:?}", s.active().index());
    assert!(allowed(
        &s,
        json!({"request": {"path": "\u{0}admin2\u{0}x"}})
    ));
    assert!(
        zt_core::internal::index_differential(
            &rego,
            &[json!({"request": {"path": "\u{0}admin2\u{0}x"}})]
        )
        .is_ok()
    );
}

#[test]
fn a_test_that_mocks_a_function_runs_on_the_whole_bundle() {
    let dir = std::env::temp_dir().join(format!("zt-index-mock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("p.rego"),
        table(6, |i| {
            format!("allow if glob.match(\"/r{i}/*\", [\"/\"], input.request.path)")
        }),
    )
    .unwrap();
    // With the mock every route matches, so `allow` is true whatever the path: the test
    // fails on the whole bundle, and must not pass because the index left the routes out.
    std::fs::write(
        dir.join("p_test.rego"),
        "package zt.authz\nimport rego.v1\n\
         test_mocked if not decision.allow with input as {\"request\": {\"path\": \"/other\"}} with glob.match as true\n\
         test_nested if [v | v := decision.allow with input as {\"request\": {\"path\": \"/r1/x\"}}][0]\n",
    )
    .unwrap();
    let results = zt_core::test_bundle(&dir, &PolicyConfig::default(), None).unwrap();
    let by: std::collections::HashMap<&str, (bool, bool)> = results
        .iter()
        .map(|t| (t.name.rsplit('.').next().unwrap(), (t.passed, t.indexed)))
        .collect();
    assert_eq!(by["test_mocked"], (false, false), "{results:?}");
    // A `with input` inside a comprehension inside a reference is found (and runs indexed).
    assert_eq!(by["test_nested"], (true, true), "{results:?}");
    std::fs::remove_dir_all(&dir).ok();
}
