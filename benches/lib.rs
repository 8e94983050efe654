//! Shared fixtures for zt's criterion benches: the test keys from `zt-core/tests/data/keys` and a
//! token minter, so benches and tests sign the same way.

use std::path::PathBuf;

/// Seconds since the epoch used by every bench token (the benches run on a fixed clock).
pub const NOW: u64 = 1_800_000_000;

/// Directory holding the fixture keys.
pub fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../zt-core/tests/data/keys")
}

/// Read a fixture file.
///
/// # Panics
/// When the fixture is missing: benches cannot run without it.
#[expect(
    clippy::expect_used,
    reason = "a bench without its fixtures cannot run"
)]
pub fn read(name: &str) -> Vec<u8> {
    std::fs::read(keys_dir().join(name)).expect("fixture key")
}

/// The public JWK of a fixture key.
///
/// # Panics
/// When the fixture is not JSON.
#[expect(
    clippy::expect_used,
    reason = "a bench without its fixtures cannot run"
)]
pub fn jwk(name: &str) -> serde_json::Value {
    serde_json::from_slice(&read(&format!("{name}.jwk.json"))).expect("fixture JWK")
}

/// Sign `claims` with fixture key `key` and algorithm `alg` (`kid` = key name).
///
/// # Panics
/// When the key or algorithm is unusable.
#[expect(
    clippy::expect_used,
    reason = "a bench without its fixtures cannot run"
)]
pub fn mint(key: &str, alg: jsonwebtoken::Algorithm, claims: &serde_json::Value) -> String {
    let pem = read(&format!("{key}.pem"));
    let enc = if key.starts_with("rsa") {
        jsonwebtoken::EncodingKey::from_rsa_pem(&pem)
    } else if key.starts_with("ed") {
        jsonwebtoken::EncodingKey::from_ed_pem(&pem)
    } else {
        jsonwebtoken::EncodingKey::from_ec_pem(&pem)
    }
    .expect("fixture PEM");
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(key.to_owned());
    jsonwebtoken::encode(&header, claims, &enc).expect("signing")
}
