//! The fixture keys. They stay in `zt-core/tests/data/keys/` (other code names them by path) and
//! are embedded here at compile time, so the kit and its binary work from any directory.

use crate::Error;
use serde_json::{Value, json};

struct Fixture {
    name: &'static str,
    pem: &'static str,
    jwk: &'static str,
}

macro_rules! fixture {
    ($name:literal) => {
        Fixture {
            name: $name,
            pem: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../zt-core/tests/data/keys/",
                $name,
                ".pem"
            )),
            jwk: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../zt-core/tests/data/keys/",
                $name,
                ".jwk.json"
            )),
        }
    };
}

const FIXTURES: [Fixture; 7] = [
    fixture!("rsa1024"),
    fixture!("rsa2048-a"),
    fixture!("rsa2048-b"),
    fixture!("rsa4096"),
    fixture!("ec-p256"),
    fixture!("ec-p384"),
    fixture!("ed25519"),
];

/// The names of the fixture keys; each is also the key's `kid`.
pub const KEY_NAMES: [&str; 7] = [
    "rsa1024",
    "rsa2048-a",
    "rsa2048-b",
    "rsa4096",
    "ec-p256",
    "ec-p384",
    "ed25519",
];

fn fixture(name: &str) -> Result<&'static Fixture, Error> {
    FIXTURES
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(|| Error::UnknownKey(name.to_owned()))
}

/// The private key of a fixture, as PKCS#8 PEM text.
///
/// # Panics
/// For an unknown key name.
#[expect(
    clippy::expect_used,
    reason = "test kit: a missing fixture fails loudly"
)]
pub fn pem(name: &str) -> &'static str {
    fixture(name).map(|f| f.pem).expect("fixture key")
}

/// The public JWK of a fixture key (`rsa2048-a`, `ec-p256`, ...), with its `kid`.
pub fn try_jwk(name: &str) -> Result<Value, Error> {
    let f = fixture(name)?;
    serde_json::from_str(f.jwk).map_err(|e| Error::BadFixture {
        name: name.to_owned(),
        detail: e.to_string(),
    })
}

/// The public JWK of a fixture key (`rsa2048-a`, `ec-p256`, ...), with its `kid`.
///
/// # Panics
/// For an unknown key name.
#[expect(
    clippy::expect_used,
    reason = "test kit: a missing fixture fails loudly"
)]
pub fn jwk(name: &str) -> Value {
    try_jwk(name).expect("fixture JWK")
}

/// A key set `{"keys": [...]}` of the named fixture keys, in order.
pub fn try_jwks(names: &[&str]) -> Result<Value, Error> {
    let keys = names
        .iter()
        .map(|n| try_jwk(n))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "keys": keys }))
}

/// A key set `{"keys": [...]}` of the named fixture keys, in order.
///
/// # Panics
/// For an unknown key name.
#[expect(
    clippy::expect_used,
    reason = "test kit: a missing fixture fails loudly"
)]
pub fn jwks(names: &[&str]) -> Value {
    try_jwks(names).expect("fixture JWKS")
}

/// The signing key of a fixture: RSA for `rsa*`, ECDSA for `ec*`, Ed25519 otherwise.
pub fn try_encoding_key(name: &str) -> Result<jsonwebtoken::EncodingKey, Error> {
    let pem = fixture(name)?.pem.as_bytes();
    if name.starts_with("rsa") {
        jsonwebtoken::EncodingKey::from_rsa_pem(pem)
    } else if name.starts_with("ec") {
        jsonwebtoken::EncodingKey::from_ec_pem(pem)
    } else {
        jsonwebtoken::EncodingKey::from_ed_pem(pem)
    }
    .map_err(|e| Error::BadFixture {
        name: name.to_owned(),
        detail: e.to_string(),
    })
}

/// The signing key of a fixture: RSA for `rsa*`, ECDSA for `ec*`, Ed25519 otherwise.
///
/// # Panics
/// For an unknown key name.
#[expect(
    clippy::expect_used,
    reason = "test kit: a missing fixture fails loudly"
)]
pub fn encoding_key(name: &str) -> jsonwebtoken::EncodingKey {
    try_encoding_key(name).expect("fixture PEM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_parses_and_is_named_by_its_kid() {
        assert_eq!(
            KEY_NAMES.to_vec(),
            FIXTURES.iter().map(|f| f.name).collect::<Vec<_>>()
        );
        for name in KEY_NAMES {
            assert_eq!(jwk(name)["kid"], name, "{name}");
            assert!(jwk(name).get("d").is_none(), "{name}: public parts only");
            try_encoding_key(name).unwrap();
        }
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(matches!(try_jwk("nope"), Err(Error::UnknownKey(n)) if n == "nope"));
        assert!(try_jwks(&["ec-p256", "nope"]).is_err());
        assert!(try_encoding_key("nope").is_err());
    }
}
