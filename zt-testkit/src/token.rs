//! Token minting: standard claims, signing of raw header and payload text (so tests can craft
//! duplicate keys, odd types, ...), HMAC, and the usual fixture-key token.

use crate::Error;
use crate::keys::try_encoding_key;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The fixed "now" (seconds since the epoch) of every test and bench that runs on a fake clock.
pub const NOW: u64 = 1_800_000_000;

/// The real clock, in seconds since the epoch (for suites that run against the system clock).
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// An algorithm, by name (`"RS256"`, as in a JOSE header) or as a [`jsonwebtoken::Algorithm`].
pub trait Alg {
    /// The jsonwebtoken algorithm, or [`Error::UnknownAlgorithm`].
    fn algorithm(self) -> Result<jsonwebtoken::Algorithm, Error>;
}

impl Alg for &str {
    fn algorithm(self) -> Result<jsonwebtoken::Algorithm, Error> {
        self.parse()
            .map_err(|_| Error::UnknownAlgorithm(self.to_owned()))
    }
}

impl Alg for jsonwebtoken::Algorithm {
    fn algorithm(self) -> Result<jsonwebtoken::Algorithm, Error> {
        Ok(self)
    }
}

/// Base64url without padding, as in JOSE.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign_input(
    header: &str,
    payload: &str,
    key: &jsonwebtoken::EncodingKey,
    alg: jsonwebtoken::Algorithm,
    name: &str,
) -> Result<String, Error> {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).map_err(|source| {
        Error::Signing {
            key: name.to_owned(),
            source,
        }
    })?;
    Ok(format!("{input}.{sig}"))
}

/// Sign raw header and payload JSON text with fixture key `key`.
pub fn try_sign_raw(
    header: &str,
    payload: &str,
    key: &str,
    alg: impl Alg,
) -> Result<String, Error> {
    sign_input(
        header,
        payload,
        &try_encoding_key(key)?,
        alg.algorithm()?,
        key,
    )
}

/// Sign raw header and payload JSON text with fixture key `key` (so tests can craft duplicate
/// keys, odd types, ...). The header is signed as given: it need not name `alg`.
///
/// # Panics
/// For an unknown key or algorithm, or a key that cannot sign with it.
#[expect(clippy::expect_used, reason = "test kit: a bad fixture fails loudly")]
pub fn sign_raw(header: &str, payload: &str, key: &str, alg: impl Alg) -> String {
    try_sign_raw(header, payload, key, alg).expect("signing with a fixture key")
}

/// Sign raw header and payload JSON text with an HMAC secret.
///
/// # Panics
/// For an unknown or non-HMAC algorithm.
#[expect(clippy::expect_used, reason = "test kit: a bad fixture fails loudly")]
pub fn sign_hmac(header: &str, payload: &str, secret: &[u8], alg: impl Alg) -> String {
    alg.algorithm()
        .and_then(|alg| {
            sign_input(
                header,
                payload,
                &jsonwebtoken::EncodingKey::from_secret(secret),
                alg,
                "",
            )
        })
        .expect("signing with an HMAC secret")
}

/// Standard valid claims for `iss`, audience `api`, issued at [`NOW`] for one hour.
pub fn claims(iss: &str) -> Value {
    json!({
        "iss": iss, "sub": "alice", "aud": "api", "iat": NOW, "nbf": NOW, "exp": NOW + 3600,
        "jti": "id-1", "scope": "read write"
    })
}

/// Claims for `iss` and `aud` on the real clock: subject `alice`, issued [`now`], valid ten
/// minutes.
pub fn live_claims(iss: &str, aud: &str) -> Value {
    let n = now();
    json!({"iss": iss, "sub": "alice", "aud": aud, "iat": n, "exp": n + 600})
}

/// Set each top-level member of `extra` in `into` (both JSON objects; otherwise nothing).
pub fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

/// Sign `claims` with fixture key `key`; the header is `{"alg", "kid": key, "typ": "at+jwt"}`.
pub fn try_mint(key: &str, alg: impl Alg, claims: &Value) -> Result<String, Error> {
    let alg = alg.algorithm()?;
    let header = json!({ "alg": alg, "kid": key, "typ": "at+jwt" });
    try_sign_raw(&header.to_string(), &claims.to_string(), key, alg)
}

/// Sign `claims` with fixture key `key`; the header is `{"alg", "kid": key, "typ": "at+jwt"}`.
///
/// # Panics
/// For an unknown key or algorithm, or a key that cannot sign with it.
#[expect(clippy::expect_used, reason = "test kit: a bad fixture fails loudly")]
pub fn mint(key: &str, alg: impl Alg, claims: &Value) -> String {
    try_mint(key, alg, claims).expect("minting with a fixture key")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(token: &str) -> Vec<Value> {
        token
            .split('.')
            .take(2)
            .map(|p| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn mint_names_alg_kid_and_typ_for_every_key() {
        let cases = [
            ("rsa2048-a", "RS256"),
            ("rsa2048-a", "PS256"),
            ("rsa4096", "RS512"),
            ("ec-p256", "ES256"),
            ("ec-p384", "ES384"),
            ("ed25519", "EdDSA"),
        ];
        for (key, alg) in cases {
            let token = mint(key, alg, &claims("https://i"));
            let p = parts(&token);
            assert_eq!(
                p[0],
                json!({"alg": alg, "kid": key, "typ": "at+jwt"}),
                "{key}"
            );
            assert_eq!(p[1], claims("https://i"), "{key}");
            // The same token from the jsonwebtoken enum.
            let enum_alg: jsonwebtoken::Algorithm = alg.parse().unwrap();
            assert_eq!(
                parts(&mint(key, enum_alg, &claims("https://i")))[0],
                p[0],
                "{key}"
            );
        }
    }

    #[test]
    fn misuse_is_an_error() {
        let c = claims("https://i");
        assert!(matches!(
            try_mint("nope", "RS256", &c),
            Err(Error::UnknownKey(_))
        ));
        assert!(matches!(
            try_mint("ec-p256", "XS256", &c),
            Err(Error::UnknownAlgorithm(_))
        ));
        assert!(matches!(
            try_mint("ec-p256", "RS256", &c),
            Err(Error::Signing { .. })
        ));
    }

    #[test]
    fn raw_and_hmac_sign_the_text_as_given() {
        let t = sign_raw(r#"{"alg":"ES256","alg":"none"}"#, "{}", "ec-p256", "ES256");
        assert!(t.starts_with(&b64(br#"{"alg":"ES256","alg":"none"}"#)));
        let h = sign_hmac(r#"{"alg":"HS256"}"#, "{}", b"secret", "HS256");
        assert_eq!(h.split('.').count(), 3);
    }

    #[test]
    fn merge_sets_top_level_members() {
        let mut c = live_claims("https://i", "orders-api");
        merge(&mut c, json!({"sub": "bob", "scope": "x"}));
        assert_eq!(
            (c["sub"].clone(), c["scope"].clone()),
            (json!("bob"), json!("x"))
        );
        assert_eq!(c["exp"].as_u64(), c["iat"].as_u64().map(|i| i + 600));
    }
}
