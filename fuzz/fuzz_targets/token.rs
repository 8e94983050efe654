#![no_main]
//! Token parsing and verification against a fixed key set (RSA, EC, Ed25519, HMAC issuers).
use std::sync::LazyLock;
use zt_core::{AuthorizerConfig, TokenVerifier};

static VERIFIER: LazyLock<TokenVerifier> = LazyLock::new(|| {
    let keys = [
        include_str!("../../zt-core/tests/data/keys/rsa2048-a.jwk.json"),
        include_str!("../../zt-core/tests/data/keys/ec-p256.jwk.json"),
        include_str!("../../zt-core/tests/data/keys/ec-p384.jwk.json"),
        include_str!("../../zt-core/tests/data/keys/ed25519.jwk.json"),
    ];
    let secret = std::env::temp_dir().join("zt-fuzz-token-secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef").unwrap();
    let config = format!(
        r#"{{"issuers": [
            {{"issuer": "https://idp.example.com", "audiences": ["api"],
              "algorithms": ["RS256", "PS256", "ES256", "ES384", "EdDSA"],
              "jwks": {{"keys": [{}]}}, "leeway_s": 60}},
            {{"issuer": "https://hmac.example.com", "audiences": ["api"], "algorithms": ["HS256"],
              "hmac_secret_file": {:?}}}],
            "token": {{"cache_entries": 0}} }}"#,
        keys.join(","),
        secret
    );
    TokenVerifier::new(&AuthorizerConfig::from_json_str(&config).unwrap()).unwrap()
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = VERIFIER.verify(token);
    }
});
