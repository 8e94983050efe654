//! The JWS signature algorithms zt verifies.
//!
//! `none` is not representable: no configuration or token can select it. ES512 is absent because
//! the crypto backend has no P-521 verifier; a token or key naming it is refused.

use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm that may appear in an issuer's allow-list.
///
/// ```
/// use zt_core::Algorithm;
/// assert_eq!("RS256".parse::<Algorithm>(), Ok(Algorithm::RS256));
/// assert!("none".parse::<Algorithm>().is_err());
/// assert!("rs256".parse::<Algorithm>().is_err()); // names are case-sensitive (RFC 7515)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the variant names are the JOSE names
#[non_exhaustive]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
    HS256,
    HS384,
    HS512,
}

/// The family of keys an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    Hmac,
}

impl Algorithm {
    /// All supported algorithms.
    pub const ALL: &'static [Algorithm] = &[
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
    ];

    /// The JOSE name (`RS256`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }

    /// Whether this is an HMAC algorithm (needs a configured shared secret).
    pub const fn is_hmac(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    pub(crate) const fn family(self) -> Family {
        match self {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Family::Rsa,
            Algorithm::ES256 => Family::EcP256,
            Algorithm::ES384 => Family::EcP384,
            Algorithm::EdDSA => Family::Ed25519,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
        }
    }

    /// Minimum shared-secret length in bytes (the hash output size, RFC 7518 §3.2).
    pub(crate) const fn min_secret_len(self) -> usize {
        match self {
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ => 32,
        }
    }

    pub(crate) const fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            Algorithm::EdDSA => J::EdDSA,
            Algorithm::HS256 => J::HS256,
            Algorithm::HS384 => J::HS384,
            Algorithm::HS512 => J::HS512,
        }
    }
}

/// The name is not a supported algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported algorithm: allowed are RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384, HS512"
)]
pub struct UnknownAlgorithm;

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == s)
            .ok_or(UnknownAlgorithm)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown algorithm `{s}`: allowed are RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384, HS512"
            ))
        })
    }
}

/// A signing key for `alg` from PEM (RSA: PKCS#1 or PKCS#8; EC and Ed25519: PKCS#8); `None`
/// for HMAC algorithms (a secret is no PEM) or a key of another kind.
pub(crate) fn encoding_key(alg: Algorithm, pem: &[u8]) -> Option<jsonwebtoken::EncodingKey> {
    use Algorithm::*;
    match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => {
            jsonwebtoken::EncodingKey::from_rsa_pem(pem).ok()
        }
        ES256 | ES384 => jsonwebtoken::EncodingKey::from_ec_pem(pem).ok(),
        EdDSA => jsonwebtoken::EncodingKey::from_ed_pem(pem).ok(),
        HS256 | HS384 | HS512 => None,
    }
}
