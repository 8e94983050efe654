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
use zt_benches::{NOW, jwk, mint};
use zt_core::{Algorithm, AuthorizerConfig, IssuerConfig, ManualClock, TokenVerifier};

const ISS: &str = "https://idp.example.com";

fn verifier(cache_entries: u64) -> TokenVerifier {
    let mut issuer = IssuerConfig::new(ISS, ["orders-api"], [Algorithm::RS256, Algorithm::ES256]);
    issuer.jwks = Some(json!({"keys": [jwk("rsa2048-a"), jwk("ec-p256")]}));
    let mut config = AuthorizerConfig::new(vec![issuer]);
    config.token.cache_entries = cache_entries;
    TokenVerifier::with_clock(&config, Arc::new(ManualClock::at_unix(NOW))).expect("verifier")
}

fn claims() -> serde_json::Value {
    json!({
        "iss": ISS, "sub": "user-1234", "aud": "orders-api", "iat": NOW, "exp": NOW + 900,
        "jti": "b1946ac9", "scope": "orders:read orders:write", "groups": ["dev", "oncall"],
        "realm_access": {"roles": ["developer"]},
        "device": {"id": "dev-1", "managed": true, "disk_encrypted": true, "assessed_at": NOW - 60}
    })
}

fn raw_validation(alg: jsonwebtoken::Algorithm) -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&["orders-api"]);
    v.set_issuer(&[ISS]);
    v.leeway = 60;
    // The raw decode checks exp against the real clock; the bench tokens are minted at a fixed
    // time, so exp is checked by zt only. Signature and JSON work are the same.
    v.validate_exp = false;
    v
}

fn bench(c: &mut Criterion) {
    let no_cache = verifier(0);
    let cached = verifier(10_000);
    for (name, key, alg) in [
        ("RS256", "rsa2048-a", jsonwebtoken::Algorithm::RS256),
        ("ES256", "ec-p256", jsonwebtoken::Algorithm::ES256),
    ] {
        let token = mint(key, alg, &claims());
        no_cache.verify(&token).expect("valid token");
        let mut group = c.benchmark_group(format!("verify_{name}"));
        group.bench_function("zt_new_token", |b| {
            b.iter(|| no_cache.verify(black_box(&token)))
        });
        cached.verify(&token).expect("valid token");
        group.bench_function("zt_cache_hit", |b| {
            b.iter(|| cached.verify(black_box(&token)))
        });
        let j = jwk(key);
        let dk = if name == "RS256" {
            jsonwebtoken::DecodingKey::from_rsa_components(
                j["n"].as_str().expect("n"),
                j["e"].as_str().expect("e"),
            )
        } else {
            jsonwebtoken::DecodingKey::from_ec_components(
                j["x"].as_str().expect("x"),
                j["y"].as_str().expect("y"),
            )
        }
        .expect("decoding key");
        let validation = raw_validation(alg);
        jsonwebtoken::decode::<serde_json::Value>(&token, &dk, &validation).expect("raw decode");
        group.bench_function("raw_jsonwebtoken_decode", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &dk, &validation)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
