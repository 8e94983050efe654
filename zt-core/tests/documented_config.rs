//! The configuration block documented in docs/configuration.md (the ```toml block right after
//! `<!-- defaults -->`) is true: every value it sets uncommented is the code's default.
//!
//! The block's uncommented lines are parsed with `AuthorizerConfig::from_toml_str`, and both
//! that config and `AuthorizerConfig::default()` go through `serde_json::to_value`, so a field
//! added to the code is compared without anyone remembering to list it here. `[[issuers]]` has
//! no default: its identity and key source (`issuer`, `audiences`, `algorithms`, `discovery`,
//! `jwks_uri`, `jwks_file`, `jwks`) are examples, and every other key it sets is compared with
//! an issuer parsed from a minimal config holding only those.

#![cfg(test)]

use serde_json::{Map, Value};
use zt_core::AuthorizerConfig;

const PAGE: &str = include_str!("../../docs/configuration.md");
const MARKER: &str = "<!-- defaults -->";
/// An issuer's keys that are examples, not defaults.
const ISSUER_EXAMPLE_KEYS: &[&str] = &[
    "issuer",
    "audiences",
    "algorithms",
    "discovery",
    "jwks_uri",
    "jwks_file",
    "jwks",
];

/// The documented block, uncommented lines only (trailing comments are TOML's own).
fn documented_block() -> String {
    let after = PAGE
        .split_once(MARKER)
        .map(|(_, rest)| rest)
        .expect("docs/configuration.md has no `<!-- defaults -->` marker");
    let body = after
        .trim_start()
        .strip_prefix("```toml\n")
        .expect("`<!-- defaults -->` must be followed by a ```toml block");
    let body = &body[..body.find("\n```").expect("unterminated ```toml block")];
    body.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every leaf of `raw` (what the block writes) as a JSON-pointer-like path.
fn leaves(prefix: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                leaves(&format!("{prefix}/{k}"), v, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

fn key_name(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

#[test]
fn the_documented_config_block_states_the_code_defaults() {
    let block = documented_block();
    // What the block writes, key by key (TOML read as JSON values).
    let raw: Value = toml::from_str(&block).expect("the documented block is valid TOML");
    let parsed = AuthorizerConfig::from_toml_str(&block)
        .unwrap_or_else(|e| panic!("the documented block is not a valid config: {e}"));
    let documented = serde_json::to_value(&parsed).unwrap();
    let default = serde_json::to_value(AuthorizerConfig::default()).unwrap();

    let mut problems = Vec::new();

    // 1. Every section but `issuers`: the whole serialised config equals the default, and every
    //    key the block writes is named in the message when it differs.
    let raw_map = raw.as_object().expect("a TOML document is a table");
    let mut written = Vec::new();
    for (k, v) in raw_map {
        if k != "issuers" {
            leaves(&format!("/{k}"), v, &mut written);
        }
    }
    for pointer in &written {
        let doc = documented.pointer(pointer);
        let code = default.pointer(pointer);
        if doc != code {
            problems.push(format!(
                "`{}`: documented {}, code default {}",
                key_name(pointer),
                doc.map_or("(not a config key)".to_owned(), Value::to_string),
                code.map_or("(none)".to_owned(), Value::to_string),
            ));
        }
    }
    let strip_issuers = |v: &Value| {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("issuers");
        Value::Object(m)
    };
    let (doc_rest, code_rest) = (strip_issuers(&documented), strip_issuers(&default));
    if problems.is_empty() && doc_rest != code_rest {
        let mut all = Vec::new();
        leaves("", &code_rest, &mut all);
        for pointer in all {
            if doc_rest.pointer(&pointer) != code_rest.pointer(&pointer) {
                problems.push(format!("`{}` differs from the default", key_name(&pointer)));
            }
        }
    }
    // Every default the code has is documented: a new field shows up here.
    let mut defaults = Vec::new();
    leaves("", &code_rest, &mut defaults);
    for pointer in defaults {
        if !written.contains(&pointer) {
            problems.push(format!(
                "`{}` (default {}) is not in the documented block",
                key_name(&pointer),
                code_rest.pointer(&pointer).unwrap(),
            ));
        }
    }

    // 2. `[[issuers]]`: the keys beyond the examples are an issuer's defaults.
    let raw_issuers = raw_map
        .get("issuers")
        .and_then(Value::as_array)
        .expect("the documented block has an [[issuers]] example");
    assert_eq!(raw_issuers.len(), 1, "one [[issuers]] example");
    let raw_issuer = raw_issuers[0].as_object().unwrap();
    let minimal: Map<String, Value> = raw_issuer
        .iter()
        .filter(|(k, _)| ISSUER_EXAMPLE_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let minimal = AuthorizerConfig::from_value(serde_json::json!({ "issuers": [minimal] }))
        .unwrap_or_else(|e| panic!("a minimal config with the example issuer: {e}"));
    let minimal_issuer = serde_json::to_value(&minimal.issuers[0]).unwrap();
    let documented_issuer = &documented["issuers"][0];
    for k in raw_issuer.keys() {
        if ISSUER_EXAMPLE_KEYS.contains(&k.as_str()) {
            continue;
        }
        if documented_issuer.get(k) != minimal_issuer.get(k) {
            problems.push(format!(
                "`issuers[].{k}`: documented {}, code default {}",
                documented_issuer
                    .get(k)
                    .map_or("(none)".into(), Value::to_string),
                minimal_issuer
                    .get(k)
                    .map_or("(none)".into(), Value::to_string),
            ));
        }
    }
    for (k, v) in minimal_issuer.as_object().unwrap() {
        if !ISSUER_EXAMPLE_KEYS.contains(&k.as_str()) && !raw_issuer.contains_key(k) {
            problems.push(format!(
                "`issuers[].{k}` (default {v}) is not in the documented block"
            ));
        }
    }

    assert!(
        problems.is_empty(),
        "docs/configuration.md's documented config block differs from the code:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_documented_mask_is_the_oidc_personal_claims() {
    // The page explains the default mask claim by claim; keep the prose and the code together.
    for pointer in zt_core::DecisionLogConfig::DEFAULT_MASK {
        let claim = pointer.rsplit('/').next().unwrap();
        assert!(
            PAGE.contains(&format!("`{claim}`")),
            "docs/configuration.md does not name the masked claim `{claim}`"
        );
    }
}
