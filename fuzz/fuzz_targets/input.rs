#![no_main]
//! Arbitrary claims JSON, HS256-signed by the fuzzer itself, verified, built into a policy input.
use std::sync::LazyLock;
use zt_core::{AuthorizerConfig, TokenVerifier};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

static VERIFIER: LazyLock<TokenVerifier> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join("zt-fuzz-input-secret");
    std::fs::write(&dir, SECRET).unwrap();
    let config = format!(
        r#"{{"issuers": [{{"issuer": "https://hmac.example.com", "audiences": ["api"],
              "algorithms": ["HS256"], "hmac_secret_file": {:?}, "max_token_age_s": 604800}}],
            "token": {{"cache_entries": 0}} }}"#,
        dir
    );
    TokenVerifier::new(&AuthorizerConfig::from_json_str(&config).unwrap()).unwrap()
});

fn b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Split: claims JSON, then a request path after the first NUL.
    let (claims, path) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], String::from_utf8_lossy(&data[i + 1..]).into_owned()),
        None => (data, "/".to_owned()),
    };
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(claims) else { return };
    if let Some(o) = v.as_object_mut() {
        o.insert("iss".into(), "https://hmac.example.com".into());
        o.insert("aud".into(), "api".into());
        o.entry("exp").or_insert(4_000_000_000u64.into());
        o.remove("nbf");
        o.remove("iat");
    }
    let signing_input = format!("{}.{}", b64(br#"{"alg":"HS256"}"#), b64(v.to_string().as_bytes()));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    let token = format!("{signing_input}.{}", b64(tag.as_ref()));
    zt_core::internal::input(&VERIFIER, &token, &path);
});
