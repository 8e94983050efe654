//! Token verification: zt's full path (parse, key lookup, signature, claim checks) against raw
//! `jsonwebtoken::decode` with an equivalent `Validation` on the same token, plus zt's
//! verified-token cache hit.

#![expect(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "bench setup fails loudly"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;
use zt_core::{Algorithm, AuthorizerConfig, IssuerConfig, ManualClock, TokenVerifier};
use zt_testkit::{AUD, ISS, NOW, jwk, mint};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn verifier(cache_entries: u64) -> TokenVerifier {
    use Algorithm::*;
    let mut issuer = IssuerConfig::new(ISS, [AUD], [RS256, PS256, ES256, EdDSA]);
    issuer.jwks = Some(json!({"keys": [jwk("rsa2048-a"), jwk("ec-p256"), jwk("ed25519")]}));
    let mut hmac = IssuerConfig::new(HMAC_ISS, [AUD], [HS256]);
    let secret = std::env::temp_dir().join("zt-bench-hmac-secret");
    std::fs::write(&secret, SECRET).expect("secret file");
    hmac.hmac_secret_file = Some(secret);
    let mut config = AuthorizerConfig::new(vec![issuer, hmac]);
    config.token.cache_entries = cache_entries;
    TokenVerifier::with_clock(&config, Arc::new(ManualClock::at_unix(NOW))).expect("verifier")
}

const HMAC_ISS: &str = "https://hmac.example.com";

fn claims(iss: &str) -> serde_json::Value {
    json!({
        "iss": iss, "sub": "user-1234", "aud": AUD, "iat": NOW, "exp": NOW + 900,
        "jti": "b1946ac9", "scope": "orders:read orders:write", "groups": ["dev", "oncall"],
        "realm_access": {"roles": ["developer"]},
        "device": {"id": "dev-1", "managed": true, "disk_encrypted": true, "assessed_at": NOW - 60}
    })
}

fn raw_validation(alg: jsonwebtoken::Algorithm, iss: &str) -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&[AUD]);
    v.set_issuer(&[iss]);
    v.leeway = 60;
    // The raw decode checks exp against the real clock; the bench tokens are minted at a fixed
    // time, so exp is checked by zt only. Signature and JSON work are the same.
    v.validate_exp = false;
    v
}

fn sign_hs256(claims: &serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = None;
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .expect("hs256")
}

fn bench(c: &mut Criterion) {
    use base64::Engine as _;
    use jsonwebtoken::Algorithm as J;
    let no_cache = verifier(0);
    let cached = verifier(10_000);
    for (name, key, alg) in [
        ("RS256", "rsa2048-a", J::RS256),
        ("PS256", "rsa2048-a", J::PS256),
        ("ES256", "ec-p256", J::ES256),
        ("EdDSA", "ed25519", J::EdDSA),
        ("HS256", "", J::HS256),
    ] {
        let (iss, token) = if alg == J::HS256 {
            (HMAC_ISS, sign_hs256(&claims(HMAC_ISS)))
        } else {
            (ISS, mint(key, alg, &claims(ISS)))
        };
        no_cache.verify(&token).expect("valid token");
        let mut group = c.benchmark_group(format!("verify_{name}"));
        group.bench_function("zt_new_token", |b| {
            b.iter(|| no_cache.verify(black_box(&token)))
        });
        cached.verify(&token).expect("valid token");
        group.bench_function("zt_cache_hit", |b| {
            b.iter(|| cached.verify(black_box(&token)))
        });
        let dk = match alg {
            J::HS256 => Ok(jsonwebtoken::DecodingKey::from_secret(SECRET)),
            J::EdDSA => {
                jsonwebtoken::DecodingKey::from_ed_components(jwk(key)["x"].as_str().expect("x"))
            }
            J::ES256 => {
                let j = jwk(key);
                jsonwebtoken::DecodingKey::from_ec_components(
                    j["x"].as_str().expect("x"),
                    j["y"].as_str().expect("y"),
                )
            }
            _ => {
                let j = jwk(key);
                jsonwebtoken::DecodingKey::from_rsa_components(
                    j["n"].as_str().expect("n"),
                    j["e"].as_str().expect("e"),
                )
            }
        }
        .expect("decoding key");
        let validation = raw_validation(alg, iss);
        jsonwebtoken::decode::<serde_json::Value>(&token, &dk, &validation).expect("raw decode");
        group.bench_function("raw_jsonwebtoken_decode", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &dk, &validation)
            })
        });
        // The floor: the signature check alone with a key parsed once (DESIGN.md's
        // `ParsedPublicKey` row), the signature decoded outside the timing.
        let check = zt_benches::parsed_key_check(alg, key, SECRET);
        let (input, sig) = token.rsplit_once('.').expect("three parts");
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .expect("signature");
        assert!(
            check(input.as_bytes(), &sig),
            "{name}: the raw check verifies"
        );
        group.bench_function("raw_parsed_key_verify", |b| {
            b.iter(|| check(black_box(input.as_bytes()), black_box(&sig)))
        });
        group.finish();
    }

    // Stages alone: parsing (no signature), and one key lookup in the cached key set.
    let token = mint("ec-p256", J::ES256, &claims(ISS));
    let mut group = c.benchmark_group("token_stages");
    group.bench_function("parse_only", |b| {
        b.iter(|| zt_core::internal::parse_token(black_box(&token)))
    });
    assert!(zt_core::internal::key_lookup(
        &no_cache,
        ISS,
        Some("ec-p256"),
        Algorithm::ES256
    ));
    group.bench_function("jwks_cache_lookup", |b| {
        b.iter(|| {
            zt_core::internal::key_lookup(
                &no_cache,
                ISS,
                black_box(Some("ec-p256")),
                Algorithm::ES256,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
