//! Keys parsed once: each accepted key keeps, per algorithm it is asked to verify, the
//! aws-lc-rs form that checks a signature without parsing the key again (`ParsedPublicKey` for
//! RSA, ECDSA and Ed25519, an `hmac::Key` for HS*). Built on the key's first use with that
//! algorithm and shared by every later check, on every thread.
//!
//! # Security
//! - The algorithm comes from the caller (the issuer's allow-list, checked against the key's
//!   type with [`VerificationKey::fits`](super::VerificationKey::fits) before this runs); a
//!   key of another family never verifies here either.
//! - RSA keys verify only within aws-lc's 2048–8192-bit range; HMAC compares in constant time.

use crate::algorithm::Algorithm;
use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use jsonwebtoken::DecodingKey;
use jsonwebtoken::DecodingKeyKind;
use std::sync::OnceLock;

/// The checker for one algorithm, or `None` when the key cannot verify it.
enum Prepared {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

/// One slot per algorithm, filled on first use.
#[derive(Default)]
pub(crate) struct PreparedKeys([OnceLock<Option<Prepared>>; ALGORITHMS]);

const ALGORITHMS: usize = 12;

impl PreparedKeys {
    /// Whether `signature` over `message` verifies with `key` under `alg`.
    pub(crate) fn verify(
        &self,
        key: &DecodingKey,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        let Some(slot) = self.0.get(alg as usize) else {
            return false;
        };
        match slot.get_or_init(|| prepare(key, alg)) {
            Some(Prepared::Public(p)) => p.verify_sig(message, signature).is_ok(),
            Some(Prepared::Hmac(k)) => hmac::verify(k, message, signature).is_ok(),
            None => false,
        }
    }
}

fn prepare(key: &DecodingKey, alg: Algorithm) -> Option<Prepared> {
    let public = |params: &'static dyn signature::VerificationAlgorithm| match key.kind() {
        DecodingKeyKind::SecretOrDer(bytes) => ParsedPublicKey::new(params, bytes).ok(),
        DecodingKeyKind::RsaModulusExponent { .. } => None,
    };
    let rsa = |params: &'static signature::RsaParameters| match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, e } => RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(params)
            .ok(),
        DecodingKeyKind::SecretOrDer(der) => ParsedPublicKey::new(params, der).ok(),
    };
    let secret = |algorithm: hmac::Algorithm| match key.kind() {
        DecodingKeyKind::SecretOrDer(bytes) => Some(hmac::Key::new(algorithm, bytes)),
        DecodingKeyKind::RsaModulusExponent { .. } => None,
    };
    Some(match alg {
        Algorithm::RS256 => Prepared::Public(rsa(&signature::RSA_PKCS1_2048_8192_SHA256)?),
        Algorithm::RS384 => Prepared::Public(rsa(&signature::RSA_PKCS1_2048_8192_SHA384)?),
        Algorithm::RS512 => Prepared::Public(rsa(&signature::RSA_PKCS1_2048_8192_SHA512)?),
        Algorithm::PS256 => Prepared::Public(rsa(&signature::RSA_PSS_2048_8192_SHA256)?),
        Algorithm::PS384 => Prepared::Public(rsa(&signature::RSA_PSS_2048_8192_SHA384)?),
        Algorithm::PS512 => Prepared::Public(rsa(&signature::RSA_PSS_2048_8192_SHA512)?),
        Algorithm::ES256 => Prepared::Public(public(&signature::ECDSA_P256_SHA256_FIXED)?),
        Algorithm::ES384 => Prepared::Public(public(&signature::ECDSA_P384_SHA384_FIXED)?),
        Algorithm::EdDSA => Prepared::Public(public(&signature::ED25519)?),
        Algorithm::HS256 => Prepared::Hmac(Box::new(secret(hmac::HMAC_SHA256)?)),
        Algorithm::HS384 => Prepared::Hmac(Box::new(secret(hmac::HMAC_SHA384)?)),
        Algorithm::HS512 => Prepared::Hmac(Box::new(secret(hmac::HMAC_SHA512)?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_has_a_slot() {
        assert_eq!(Algorithm::ALL.len(), ALGORITHMS);
        for (i, a) in Algorithm::ALL.iter().enumerate() {
            assert_eq!(
                *a as usize, i,
                "{a:?}: slots are indexed by declaration order"
            );
        }
    }

    #[test]
    fn a_key_of_another_kind_never_verifies() {
        let secret = DecodingKey::from_secret(&[7u8; 64]);
        let slots = PreparedKeys::default();
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &[7u8; 64]), b"m");
        assert!(slots.verify(&secret, Algorithm::HS256, b"m", tag.as_ref()));
        assert!(!slots.verify(&secret, Algorithm::HS256, b"n", tag.as_ref()));
        // The same bytes read as an RSA or EC key: refused, not verified.
        assert!(!slots.verify(&secret, Algorithm::RS256, b"m", tag.as_ref()));
        assert!(!slots.verify(&secret, Algorithm::ES256, b"m", tag.as_ref()));
        // RSA components as an HMAC secret: refused.
        let rsa = DecodingKey::from_rsa_raw_components(&[0xc5; 256], &[1, 0, 1]);
        let rsa_slots = PreparedKeys::default();
        assert!(!rsa_slots.verify(&rsa, Algorithm::HS512, b"m", tag.as_ref()));
    }
}
