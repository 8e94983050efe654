//! Hooks for zt's own fuzz targets, benches and tests. **Not part of the stable interface**:
//! anything here may change or disappear in any release.
//!
//! The fuzz entry points take arbitrary bytes and must never panic, hang or allow.

use crate::config::{AuthorizerConfig, ConfigFormat, PolicyConfig};
use crate::input::{InputContext, PolicyInput, RequestInfo};
use crate::jwks::KeySet;
use crate::policy::bundle;
use crate::token::TokenVerifier;

pub use crate::token::verify_jws_for_tests;

/// A policy input from a JSON document, bypassing token verification (benches of the policy
/// stage, policy tests, `zt policy eval`-style tooling). Never use it to decide a request.
pub fn policy_input_unverified(doc: &serde_json::Value) -> PolicyInput {
    PolicyInput::from_json_unverified(doc)
}

/// A JWKS document.
pub fn jwks(data: &[u8]) {
    let _ = KeySet::parse(data, "fuzz");
}

/// An OpenID discovery document for `https://idp.example.com`.
pub fn discovery(data: &[u8]) {
    let _ = crate::jwks::parse_discovery(data, "https://idp.example.com", "fuzz");
}

/// A configuration in each format.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        for f in [ConfigFormat::Toml, ConfigFormat::Yaml, ConfigFormat::Json] {
            let _ = AuthorizerConfig::from_str_as(text, f);
        }
    }
}

/// A posture object (JSON), through parsing and the freshness check.
pub fn posture(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Some(d) = crate::input::parse_device(&v) {
        let a = crate::posture::PostureAssessor::new(&crate::config::PostureConfig::default());
        let _ = a.check_freshness(d, 1_800_000_000);
    }
}

/// A token (the fuzz target signs arbitrary claims for the verifier's issuer) verified by
/// `verifier` and, when it verifies, built into a policy input with an arbitrary `path`.
pub fn input(verifier: &TokenVerifier, token: &str, path: &str) {
    if let Ok(claims) = verifier.verify(token) {
        let request = RequestInfo {
            method: "GET".to_owned(),
            path: path.to_owned(),
            host: None,
            headers: vec![("x-fuzz".to_owned(), path.to_owned())],
            source_ip: None,
        };
        let input = PolicyInput::build(
            &claims,
            &request,
            None,
            None,
            &serde_json::Map::new(),
            &InputContext::default(),
        );
        let _ = input.to_json();
    }
}

/// An OPA bundle archive (gzip-compressed tar): unpacked, and compiled when it unpacks.
pub fn bundle(data: &[u8]) {
    let opts = PolicyConfig {
        run_tests_on_load: false,
        max_file_bytes: 64 * 1024,
        max_bundle_bytes: 256 * 1024,
        ..PolicyConfig::default()
    };
    if let Ok(b) = bundle::from_archive_bytes(data, &opts) {
        let _ = crate::policy::CompiledBundle::compile(b, &opts, false);
    }
}

/// Token parsing without verification (bench of the parse stage; also fuzzable).
pub fn parse_token(token: &str) -> bool {
    crate::token::parse_only(token)
}

/// One key lookup in an issuer's cached key set (bench of the JWKS cache stage).
pub fn key_lookup(
    verifier: &TokenVerifier,
    issuer: &str,
    kid: Option<&str>,
    alg: crate::Algorithm,
) -> bool {
    verifier.key_lookup(issuer, kid, alg)
}

/// A DPoP proof (any bytes) checked against a fixed request and binding (RFC 9449 §7.1's).
pub fn dpop_proof(data: &[u8]) {
    let Ok(checker) = crate::dpop::DpopChecker::new(&crate::config::DpopConfig::default()) else {
        return;
    };
    let proof = String::from_utf8_lossy(data);
    let cx = crate::dpop::ProofContext {
        method: "GET",
        url: "https://resource.example.org/protectedresource",
        access_token: "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU",
        jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
        now: 1_562_262_618,
    };
    let _ = checker.check(&proof, &cx);
    let _ = crate::dpop::normalise_url(&proof);
}

/// An introspection endpoint's answer (any bytes), parsed and judged for a fixed issuer.
pub fn introspection_answer(data: &[u8]) {
    crate::token::judge_answer_for_fuzzing(data);
}

/// A bundle signature: the bytes before the first NUL are `.signatures.json`, the rest the
/// bundle's `data.json`, verified against a fixed ES256 key (RFC 7515 A.3's public key).
pub fn bundle_signature(data: &[u8]) {
    let (sig, rest) = match data.iter().position(|b| *b == 0) {
        Some(i) => (
            data.get(..i).unwrap_or_default(),
            data.get(i + 1..).unwrap_or_default(),
        ),
        None => (data, &[][..]),
    };
    let config = crate::config::BundleSigningConfig {
        keys: vec![crate::config::BundleKeyConfig {
            keyid: "k".to_owned(),
            algorithm: crate::Algorithm::ES256,
            key_file: None,
            jwk: serde_json::json!({"kty": "EC", "crv": "P-256",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
            .as_object()
            .cloned(),
            secret_env: None,
        }],
        keyid: None,
        scope: None,
        exclude_files: Vec::new(),
    };
    if let Ok(v) = crate::policy::signing::Verifier::from_config(&config) {
        let files = vec![
            (".signatures.json".to_owned(), sig.to_vec()),
            ("data.json".to_owned(), rest.to_vec()),
            ("policy.rego".to_owned(), b"package x".to_vec()),
        ];
        let _ = v.verify(&files);
    }
}

/// Rule indexing's differential check: compile one module (`rego`, a whole file) with and
/// without the index and evaluate the entrypoint on each input with both. `Ok(indexed)` when
/// every value (or error, with numbers such as `pc=` masked) is the same, or when the policy
/// does not load unindexed (nothing to compare); `Err` describes the first difference.
pub fn index_differential(rego: &str, inputs: &[serde_json::Value]) -> Result<bool, String> {
    let load = |indexing: bool| {
        let opts = PolicyConfig {
            run_tests_on_load: false,
            indexing,
            max_instructions: 10_000_000,
            ..PolicyConfig::default()
        };
        let files = vec![("p.rego".to_owned(), rego.as_bytes().to_vec())];
        crate::policy::PolicyStore::from_files(files, opts).map(|s| s.active())
    };
    let Ok(plain) = load(false) else {
        return Ok(false);
    };
    let indexed = load(true).map_err(|e| format!("loads unindexed, not indexed: {e}"))?;
    let mask = |e: String| -> String {
        let mut out = String::with_capacity(e.len());
        let mut digits = false;
        for c in e.chars() {
            if c.is_ascii_digit() {
                if !digits {
                    out.push('N');
                }
                digits = true;
            } else {
                digits = false;
                out.push(c);
            }
        }
        out
    };
    for input in inputs {
        let a = plain.eval_json(input).map_err(mask);
        let b = indexed.eval_json(input).map_err(mask);
        if a != b {
            return Err(format!(
                "input {input}: unindexed {a:?}, indexed {b:?} (index on {:?})",
                indexed.index().refs
            ));
        }
    }
    Ok(indexed.index().indexed)
}

/// Rule indexing on arbitrary policy text (the rules of `package zt.authz`, after its header):
/// indexed and unindexed evaluation must agree on a fixed set of inputs
/// ([`index_differential`]); `Err` describes a difference (the fuzz target panics on it).
pub fn rule_index(data: &[u8]) -> Result<(), String> {
    if data.len() > 4096 {
        return Ok(());
    }
    let rego = format!(
        "package zt.authz\nimport rego.v1\n{}",
        String::from_utf8_lossy(data)
    );
    let mut inputs = vec![serde_json::json!({}), serde_json::json!({"request": "x"})];
    for (method, path) in [
        ("GET", "/a"),
        ("GET", "/a/b"),
        ("POST", "/a/1"),
        ("PUT", "/b"),
        ("GET", "/a.b"),
        ("get", ":a/b"),
        ("DELETE", ""),
    ] {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        inputs.push(serde_json::json!({
            "request": {"method": method, "path": path, "segments": segments},
            "subject": {"groups": ["dev"], "id": "u1"},
            "device": {"managed": method == "GET"},
        }));
    }
    inputs.push(
        serde_json::json!({"request": {"method": "GET", "path": "/a", "segments": "a"},
                                   "subject": {"groups": {"k": "dev"}}}),
    );
    index_differential(&rego, &inputs)
        .map(|_| ())
        .map_err(|e| format!("indexed and unindexed evaluation differ: {e}"))
}
