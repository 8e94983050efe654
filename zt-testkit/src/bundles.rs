//! Signed OPA bundles for tests: the `.signatures.json` OPA's `opa sign` writes, built
//! independently of zt's verifier (digests of the raw bytes, structured documents re-encoded
//! with sorted keys and no whitespace).

use crate::Error;
use crate::token::{sign_hmac, try_sign_raw};
use serde_json::{Value, json};

/// `{"name", "hash", "algorithm": "SHA-256"}` for each file (leading `/` dropped).
pub fn file_digests(files: &[(&str, &[u8])]) -> Vec<Value> {
    files
        .iter()
        .filter(|(name, _)| name.trim_start_matches('/') != ".signatures.json")
        .map(|(name, bytes)| {
            let name = name.trim_start_matches('/');
            let base = name.rsplit('/').next().unwrap_or(name);
            let hashed = if matches!(base, "data.json" | ".manifest") {
                serde_json::from_slice::<Value>(bytes)
                    .map(|v| sorted_compact(&v).into_bytes())
                    .unwrap_or_else(|_| bytes.to_vec())
            } else {
                bytes.to_vec()
            };
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &hashed);
            let hash: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            json!({"name": name, "hash": hash, "algorithm": "SHA-256"})
        })
        .collect()
}

fn sorted_compact(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), sorted_compact(&m[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(sorted_compact).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

/// `.signatures.json` for `payload` (usually `{"files": file_digests(..)}`), signed with fixture
/// key `key` and `alg`, `kid` in the header when given.
pub fn try_signatures_json(
    payload: &Value,
    key: &str,
    alg: &str,
    kid: Option<&str>,
) -> Result<Vec<u8>, Error> {
    let header = match kid {
        Some(kid) => json!({"alg": alg, "kid": kid}),
        None => json!({"alg": alg}),
    };
    let jws = try_sign_raw(&header.to_string(), &payload.to_string(), key, alg)?;
    Ok(json!({"signatures": [jws]}).to_string().into_bytes())
}

/// [`try_signatures_json`] that panics on a bad fixture.
///
/// # Panics
/// For an unknown key or algorithm.
#[expect(clippy::expect_used, reason = "test kit: a bad fixture fails loudly")]
pub fn signatures_json(payload: &Value, key: &str, alg: &str, kid: Option<&str>) -> Vec<u8> {
    try_signatures_json(payload, key, alg, kid).expect("signing with a fixture key")
}

/// `.signatures.json` signed with an HMAC secret.
///
/// # Panics
/// For an algorithm that is not HS256, HS384 or HS512.
pub fn signatures_json_hmac(payload: &Value, secret: &[u8], alg: &str, kid: &str) -> Vec<u8> {
    let header = json!({"alg": alg, "kid": kid});
    let jws = sign_hmac(&header.to_string(), &payload.to_string(), secret, alg);
    json!({"signatures": [jws]}).to_string().into_bytes()
}

/// The files plus a `.signatures.json` over all of them, signed with `key`/`alg` as `kid`.
pub fn signed_bundle(
    files: &[(&str, &[u8])],
    key: &str,
    alg: &str,
    kid: &str,
) -> Vec<(String, Vec<u8>)> {
    let payload = json!({"files": file_digests(files)});
    let mut out: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(n, b)| ((*n).to_owned(), b.to_vec()))
        .collect();
    out.push((
        ".signatures.json".to_owned(),
        signatures_json(&payload, key, alg, Some(kid)),
    ));
    out
}
