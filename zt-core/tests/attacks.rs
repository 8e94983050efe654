//! Table-driven attack and edge cases through the public `TokenVerifier` API.

#![cfg(test)]

use serde_json::{Value, json};
use std::sync::Arc;
use zt_core::{
    Algorithm, AuthorizerConfig, IssuerConfig, ManualClock, Reason, Secret, TokenVerifier,
};
use zt_testkit::{ISS, NOW, b64, claims, jwk, mint, sign_hmac, sign_raw};

const MIXED: &str = "https://mixed.example.com";
const TYPED: &str = "https://typed.example.com";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-mixed-issuer-secret";

fn key_set() -> Value {
    let mut rs_only = jwk("rsa2048-b");
    rs_only["kid"] = json!("rs256-only");
    rs_only["alg"] = json!("RS256");
    json!({ "keys": [
        jwk("rsa2048-a"), jwk("rsa4096"), jwk("ec-p256"), jwk("ec-p384"), jwk("ed25519"),
        jwk("rsa1024"), rs_only,
    ]})
}

fn verifier() -> TokenVerifier {
    let mut main = IssuerConfig::new(
        ISS,
        ["api"],
        [
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ],
    );
    main.jwks = Some(key_set());
    main.max_token_age_s = 7200;
    let mut mixed = IssuerConfig::new(MIXED, ["api"], [Algorithm::RS256, Algorithm::HS256]);
    mixed.jwks = Some(json!({ "keys": [jwk("rsa2048-a")] }));
    mixed.hmac_secret = Some(Secret::new(SECRET.to_vec()));
    let mut typed = IssuerConfig::new(TYPED, ["api"], [Algorithm::RS256]);
    typed.jwks = Some(json!({ "keys": [jwk("rsa2048-a")] }));
    typed.token_type = Some("at+jwt".into());
    let config = AuthorizerConfig::new(vec![main, mixed, typed]);
    TokenVerifier::with_clock(&config, Arc::new(ManualClock::at_unix(NOW))).unwrap()
}

fn with(base: &Value, k: &str, v: Value) -> Value {
    let mut b = base.clone();
    if v.is_null() && k.starts_with('-') {
        b.as_object_mut().unwrap().remove(&k[1..]);
    } else {
        b[k] = v;
    }
    b
}

fn rs(header: Value, claims: &Value) -> String {
    sign_raw(
        &header.to_string(),
        &claims.to_string(),
        "rsa2048-a",
        "RS256",
    )
}

fn hdr(extra: Value) -> Value {
    let mut h = json!({"alg": "RS256", "kid": "rsa2048-a"});
    for (k, v) in extra.as_object().unwrap() {
        h[k] = v.clone();
    }
    h
}

fn cases() -> Vec<(&'static str, String, Result<(), Reason>)> {
    use Reason::*;
    let c = claims(ISS);
    let good = mint("rsa2048-a", "RS256", &c);
    let (h, p, s) = {
        let mut it = good.split('.');
        (
            it.next().unwrap().to_owned(),
            it.next().unwrap().to_owned(),
            it.next().unwrap().to_owned(),
        )
    };
    let mut v: Vec<(&'static str, String, Result<(), Reason>)> = vec![
        ("valid RS256", good.clone(), Ok(())),
        (
            "valid RS256 4096-bit key",
            mint("rsa4096", "RS256", &c),
            Ok(()),
        ),
        ("valid PS256", mint("rsa2048-a", "PS256", &c), Ok(())),
        ("valid ES256", mint("ec-p256", "ES256", &c), Ok(())),
        ("valid ES384", mint("ec-p384", "ES384", &c), Ok(())),
        ("valid EdDSA", mint("ed25519", "EdDSA", &c), Ok(())),
        (
            "valid HS256 (configured secret)",
            sign_hmac(
                r#"{"alg":"HS256"}"#,
                &claims(MIXED).to_string(),
                SECRET,
                "HS256",
            ),
            Ok(()),
        ),
        // Segments and encoding.
        ("empty", String::new(), Err(TokenMalformed)),
        ("two segments", format!("{h}.{p}"), Err(TokenMalformed)),
        (
            "four segments",
            format!("{h}.{p}.{s}.{s}"),
            Err(TokenMalformed),
        ),
        (
            "signature stripped",
            format!("{h}.{p}."),
            Err(TokenMalformed),
        ),
        ("empty header", format!(".{p}.{s}"), Err(TokenMalformed)),
        (
            "padding added",
            format!("{h}.{p}.{s}=="),
            Err(TokenMalformed),
        ),
        (
            "standard alphabet",
            format!("{h}.{p}.{}", s.replace(['-', '_'], "+")),
            Err(TokenMalformed),
        ),
        (
            "whitespace around",
            format!(" {good} "),
            Err(TokenMalformed),
        ),
        (
            "JSON serialization",
            json!({"payload": p, "protected": h, "signature": s}).to_string(),
            Err(TokenMalformed),
        ),
        (
            "payload swapped",
            format!(
                "{h}.{}.{s}",
                b64(with(&c, "sub", json!("mallory")).to_string().as_bytes())
            ),
            Err(TokenSignatureInvalid),
        ),
        // alg none in every case variant, with and without a signature.
        (
            "alg none no sig",
            format!("{}.{p}.", b64(br#"{"alg":"none"}"#)),
            Err(TokenMalformed),
        ),
        (
            "alg none",
            format!("{}.{p}.{s}", b64(br#"{"alg":"none"}"#)),
            Err(AlgorithmNotAllowed),
        ),
        (
            "alg None",
            format!("{}.{p}.{s}", b64(br#"{"alg":"None"}"#)),
            Err(AlgorithmNotAllowed),
        ),
        (
            "alg NONE",
            format!("{}.{p}.{s}", b64(br#"{"alg":"NONE"}"#)),
            Err(AlgorithmNotAllowed),
        ),
        (
            "alg nOnE",
            format!("{}.{p}.{s}", b64(br#"{"alg":"nOnE"}"#)),
            Err(AlgorithmNotAllowed),
        ),
        (
            "alg lower rs256",
            format!("{}.{p}.{s}", b64(br#"{"alg":"rs256","kid":"rsa2048-a"}"#)),
            Err(AlgorithmNotAllowed),
        ),
        (
            "alg ES512",
            format!("{}.{p}.{s}", b64(br#"{"alg":"ES512"}"#)),
            Err(AlgorithmNotAllowed),
        ),
        (
            "alg missing",
            format!("{}.{p}.{s}", b64(br#"{"kid":"rsa2048-a"}"#)),
            Err(TokenMalformed),
        ),
        (
            "alg number",
            format!("{}.{p}.{s}", b64(br#"{"alg":256}"#)),
            Err(TokenMalformed),
        ),
        (
            "alg not in allow-list (RS384)",
            mint("rsa2048-a", "RS384", &c),
            Err(AlgorithmNotAllowed),
        ),
        // Key confusion.
        (
            "HS256 with RSA public key as secret",
            sign_hmac(
                &hdr(json!({"alg": "HS256"})).to_string(),
                &c.to_string(),
                jwk("rsa2048-a").to_string().as_bytes(),
                "HS256",
            ),
            Err(AlgorithmNotAllowed),
        ),
        (
            "HS256 with RSA modulus as secret, issuer allowing HS256",
            sign_hmac(
                &json!({"alg": "HS256", "kid": "rsa2048-a"}).to_string(),
                &claims(MIXED).to_string(),
                jwk("rsa2048-a")["n"].as_str().unwrap().as_bytes(),
                "HS256",
            ),
            Err(TokenSignatureInvalid),
        ),
        (
            "RS256 token naming an EC key",
            rs(hdr(json!({"kid": "ec-p256"})), &c),
            Err(KeyAlgorithmMismatch),
        ),
        (
            "ES384 token naming a P-256 key",
            sign_raw(
                &json!({"alg":"ES384","kid":"ec-p256"}).to_string(),
                &c.to_string(),
                "ec-p384",
                "ES384",
            ),
            Err(KeyAlgorithmMismatch),
        ),
        (
            "EdDSA token naming an RSA key",
            sign_raw(
                &json!({"alg":"EdDSA","kid":"rsa2048-a"}).to_string(),
                &c.to_string(),
                "ed25519",
                "EdDSA",
            ),
            Err(KeyAlgorithmMismatch),
        ),
        (
            "PS256 under a JWK with alg RS256",
            sign_raw(
                &json!({"alg":"PS256","kid":"rs256-only"}).to_string(),
                &c.to_string(),
                "rsa2048-b",
                "PS256",
            ),
            Err(KeyAlgorithmMismatch),
        ),
        (
            "RS256 under the JWK with alg RS256",
            sign_raw(
                &json!({"alg":"RS256","kid":"rs256-only"}).to_string(),
                &c.to_string(),
                "rsa2048-b",
                "RS256",
            ),
            Ok(()),
        ),
        // aws-lc refuses to sign with a 1024-bit key; the key is refused before any signature check.
        (
            "1024-bit RSA key",
            format!("{}.{p}.{s}", b64(br#"{"alg":"RS256","kid":"rsa1024"}"#)),
            Err(KeyRejected),
        ),
        (
            "psychic ECDSA (r = s = 0)",
            format!(
                "{}.{p}.{}",
                b64(br#"{"alg":"ES256","kid":"ec-p256"}"#),
                b64(&[0u8; 64])
            ),
            Err(TokenSignatureInvalid),
        ),
        (
            "ECDSA signature of wrong length",
            format!(
                "{}.{p}.{}",
                b64(br#"{"alg":"ES256","kid":"ec-p256"}"#),
                b64(&[1u8; 63])
            ),
            Err(TokenSignatureInvalid),
        ),
        (
            "embedded jwk with attacker key",
            sign_raw(
                &json!({"alg":"RS256","kid":"rsa2048-a","jwk": jwk("rsa2048-b")}).to_string(),
                &c.to_string(),
                "rsa2048-b",
                "RS256",
            ),
            Err(TokenSignatureInvalid),
        ),
        (
            "embedded jwk without kid",
            sign_raw(
                &json!({"alg":"RS256","jwk": jwk("rsa2048-b")}).to_string(),
                &c.to_string(),
                "rsa2048-b",
                "RS256",
            ),
            Err(UnknownKey),
        ),
        (
            "x5c with attacker cert",
            sign_raw(
                &json!({"alg":"RS256","kid":"rsa2048-a","x5c": ["MIIB"]}).to_string(),
                &c.to_string(),
                "rsa2048-b",
                "RS256",
            ),
            Err(TokenSignatureInvalid),
        ),
        // kid injection: kids are only ever map keys.
        (
            "kid path traversal",
            rs(hdr(json!({"kid": "../../../../dev/null"})), &c),
            Err(UnknownKey),
        ),
        (
            "kid SQL",
            rs(hdr(json!({"kid": "x' OR '1'='1"})), &c),
            Err(UnknownKey),
        ),
        (
            "kid NUL",
            rs(hdr(json!({"kid": "rsa2048-a\u{0}"})), &c),
            Err(UnknownKey),
        ),
        (
            "kid long",
            rs(hdr(json!({"kid": "k".repeat(4096)})), &c),
            Err(UnknownKey),
        ),
        (
            "kid number",
            rs(hdr(json!({"kid": 1})), &c),
            Err(TokenMalformed),
        ),
        (
            "kid array",
            rs(hdr(json!({"kid": ["rsa2048-a"]})), &c),
            Err(TokenMalformed),
        ),
        // Header features zt refuses.
        (
            "crit exp",
            rs(hdr(json!({"crit": ["exp"], "exp": NOW})), &c),
            Err(TokenHeaderUnsupported),
        ),
        (
            "crit empty",
            rs(hdr(json!({"crit": []})), &c),
            Err(TokenHeaderUnsupported),
        ),
        (
            "b64 false",
            rs(hdr(json!({"b64": false, "crit": ["b64"]})), &c),
            Err(TokenHeaderUnsupported),
        ),
        (
            "b64 true alone",
            rs(hdr(json!({"b64": true})), &c),
            Err(TokenHeaderUnsupported),
        ),
        (
            "zip",
            rs(hdr(json!({"zip": "DEF"})), &c),
            Err(TokenHeaderUnsupported),
        ),
        (
            "nested JWT cty",
            rs(hdr(json!({"cty": "JWT"})), &c),
            Err(TokenHeaderUnsupported),
        ),
        (
            "JWE enc",
            rs(hdr(json!({"enc": "A256GCM"})), &c),
            Err(TokenHeaderUnsupported),
        ),
        // Duplicate JSON keys.
        (
            "duplicate alg in header",
            sign_raw(
                r#"{"alg":"RS256","kid":"rsa2048-a","alg":"none"}"#,
                &c.to_string(),
                "rsa2048-a",
                "RS256",
            ),
            Err(TokenMalformed),
        ),
        (
            "duplicate sub in claims",
            sign_raw(
                r#"{"alg":"RS256","kid":"rsa2048-a"}"#,
                &format!(
                    r#"{{"iss":"{ISS}","sub":"alice","sub":"admin","aud":"api","iat":{NOW},"exp":{}}}"#,
                    NOW + 60
                ),
                "rsa2048-a",
                "RS256",
            ),
            Err(TokenMalformed),
        ),
        (
            "duplicate iss in claims",
            sign_raw(
                r#"{"alg":"RS256","kid":"rsa2048-a"}"#,
                &format!(
                    r#"{{"iss":"https://evil","iss":"{ISS}","aud":"api","iat":{NOW},"exp":{}}}"#,
                    NOW + 60
                ),
                "rsa2048-a",
                "RS256",
            ),
            Err(TokenMalformed),
        ),
        (
            "claims not an object",
            rs(hdr(json!({})), &json!(["iss", ISS])),
            Err(TokenMalformed),
        ),
        (
            "claims not JSON",
            sign_raw(
                r#"{"alg":"RS256","kid":"rsa2048-a"}"#,
                "iss=x",
                "rsa2048-a",
                "RS256",
            ),
            Err(TokenMalformed),
        ),
        // Time claims.
        (
            "exp string",
            rs(
                hdr(json!({})),
                &with(&c, "exp", json!((NOW + 60).to_string())),
            ),
            Err(TokenMalformed),
        ),
        (
            "exp float",
            rs(hdr(json!({})), &with(&c, "exp", json!(NOW as f64 + 60.5))),
            Ok(()),
        ),
        (
            "exp negative",
            rs(hdr(json!({})), &with(&c, "exp", json!(-1))),
            Err(TokenMalformed),
        ),
        (
            "exp huge",
            rs(hdr(json!({})), &with(&c, "exp", json!(1e20))),
            Err(TokenMalformed),
        ),
        (
            "exp u64 max",
            rs(hdr(json!({})), &with(&c, "exp", json!(u64::MAX))),
            Err(TokenMalformed),
        ),
        (
            "exp null",
            rs(hdr(json!({})), &with(&c, "exp", Value::Null)),
            Err(TokenMalformed),
        ),
        (
            "exp bool",
            rs(hdr(json!({})), &with(&c, "exp", json!(true))),
            Err(TokenMalformed),
        ),
        (
            "exp missing",
            rs(hdr(json!({})), &with(&c, "-exp", Value::Null)),
            Err(TokenMalformed),
        ),
        (
            "expired beyond leeway",
            rs(
                hdr(json!({})),
                &with(&with(&c, "iat", json!(NOW - 600)), "exp", json!(NOW - 61)),
            ),
            Err(TokenExpired),
        ),
        (
            "expired at leeway edge",
            rs(
                hdr(json!({})),
                &with(&with(&c, "iat", json!(NOW - 600)), "exp", json!(NOW - 60)),
            ),
            Err(TokenExpired),
        ),
        (
            "expired within leeway",
            rs(
                hdr(json!({})),
                &with(&with(&c, "iat", json!(NOW - 600)), "exp", json!(NOW - 59)),
            ),
            Ok(()),
        ),
        (
            "nbf beyond leeway",
            rs(hdr(json!({})), &with(&c, "nbf", json!(NOW + 61))),
            Err(TokenNotYetValid),
        ),
        (
            "nbf within leeway",
            rs(hdr(json!({})), &with(&c, "nbf", json!(NOW + 60))),
            Ok(()),
        ),
        (
            "nbf string",
            rs(hdr(json!({})), &with(&c, "nbf", json!("soon"))),
            Err(TokenMalformed),
        ),
        (
            "iat in future",
            rs(hdr(json!({})), &with(&c, "iat", json!(NOW + 120))),
            Err(TokenIssuedInFuture),
        ),
        (
            "iat negative",
            rs(hdr(json!({})), &with(&c, "iat", json!(-5))),
            Err(TokenMalformed),
        ),
        (
            "iat after exp",
            rs(
                hdr(json!({})),
                &with(&with(&c, "iat", json!(NOW + 30)), "exp", json!(NOW + 20)),
            ),
            Err(TokenLifetimeExceeded),
        ),
        (
            "lifetime too long",
            rs(hdr(json!({})), &with(&c, "exp", json!(NOW + 7201))),
            Err(TokenLifetimeExceeded),
        ),
        (
            "no iat, far exp",
            rs(
                hdr(json!({})),
                &with(&with(&c, "-iat", Value::Null), "exp", json!(NOW + 9000)),
            ),
            Err(TokenLifetimeExceeded),
        ),
        (
            "no iat, near exp",
            rs(hdr(json!({})), &with(&c, "-iat", Value::Null)),
            Ok(()),
        ),
        // iss variants.
        (
            "iss trailing slash",
            rs(hdr(json!({})), &with(&c, "iss", json!(format!("{ISS}/")))),
            Err(UnknownIssuer),
        ),
        (
            "iss upper case",
            rs(hdr(json!({})), &with(&c, "iss", json!(ISS.to_uppercase()))),
            Err(UnknownIssuer),
        ),
        (
            "iss with space",
            rs(hdr(json!({})), &with(&c, "iss", json!(format!(" {ISS}")))),
            Err(UnknownIssuer),
        ),
        (
            "iss array",
            rs(hdr(json!({})), &with(&c, "iss", json!([ISS]))),
            Err(TokenMalformed),
        ),
        (
            "iss number",
            rs(hdr(json!({})), &with(&c, "iss", json!(1))),
            Err(TokenMalformed),
        ),
        (
            "iss missing",
            rs(hdr(json!({})), &with(&c, "-iss", Value::Null)),
            Err(TokenMalformed),
        ),
        (
            "iss of the mixed issuer, its RSA key",
            rs(hdr(json!({})), &claims(MIXED)),
            Ok(()),
        ),
        // aud variants.
        (
            "aud list containing api",
            rs(hdr(json!({})), &with(&c, "aud", json!(["other", "api"]))),
            Ok(()),
        ),
        (
            "aud missing",
            rs(hdr(json!({})), &with(&c, "-aud", Value::Null)),
            Err(AudienceMismatch),
        ),
        (
            "aud other",
            rs(hdr(json!({})), &with(&c, "aud", json!("other"))),
            Err(AudienceMismatch),
        ),
        (
            "aud upper case",
            rs(hdr(json!({})), &with(&c, "aud", json!("API"))),
            Err(AudienceMismatch),
        ),
        (
            "aud empty list",
            rs(hdr(json!({})), &with(&c, "aud", json!([]))),
            Err(AudienceMismatch),
        ),
        (
            "aud number",
            rs(hdr(json!({})), &with(&c, "aud", json!(1))),
            Err(TokenMalformed),
        ),
        (
            "aud list with number",
            rs(hdr(json!({})), &with(&c, "aud", json!(["api", 1]))),
            Err(TokenMalformed),
        ),
        (
            "sub number",
            rs(hdr(json!({})), &with(&c, "sub", json!(1))),
            Err(TokenMalformed),
        ),
        // typ (issuer requiring at+jwt).
        (
            "typ at+jwt",
            rs(hdr(json!({"typ": "at+jwt"})), &claims(TYPED)),
            Ok(()),
        ),
        (
            "typ application/at+jwt",
            rs(hdr(json!({"typ": "application/at+jwt"})), &claims(TYPED)),
            Ok(()),
        ),
        (
            "typ AT+JWT",
            rs(hdr(json!({"typ": "AT+JWT"})), &claims(TYPED)),
            Ok(()),
        ),
        (
            "typ JWT",
            rs(hdr(json!({"typ": "JWT"})), &claims(TYPED)),
            Err(TokenTypeInvalid),
        ),
        (
            "typ missing",
            rs(hdr(json!({})), &claims(TYPED)),
            Err(TokenTypeInvalid),
        ),
        // HMAC issuer.
        (
            "HS256 wrong secret",
            sign_hmac(
                r#"{"alg":"HS256"}"#,
                &claims(MIXED).to_string(),
                b"another-secret-another-secret-another",
                "HS256",
            ),
            Err(TokenSignatureInvalid),
        ),
        (
            "HS512 not allowed",
            sign_hmac(
                r#"{"alg":"HS512"}"#,
                &claims(MIXED).to_string(),
                SECRET,
                "HS512",
            ),
            Err(AlgorithmNotAllowed),
        ),
        // Size and depth.
        (
            "oversized",
            rs(hdr(json!({})), &with(&c, "pad", json!("x".repeat(17_000)))),
            Err(TokenTooLarge),
        ),
        (
            "deeply nested claims",
            sign_raw(
                r#"{"alg":"RS256","kid":"rsa2048-a"}"#,
                &format!(
                    r#"{{"iss":"{ISS}","aud":"api","exp":{},"x":{}1{}}}"#,
                    NOW + 60,
                    "[".repeat(40),
                    "]".repeat(40)
                ),
                "rsa2048-a",
                "RS256",
            ),
            Err(TokenMalformed),
        ),
        (
            "deeply nested header",
            format!(
                "{}.{p}.{s}",
                b64(format!(
                    r#"{{"alg":"RS256","x":{}1{}}}"#,
                    "[".repeat(40),
                    "]".repeat(40)
                )
                .as_bytes())
            ),
            Err(TokenMalformed),
        ),
    ];
    // Non-canonical base64: flip the unused low bits of the signature's last character.
    let mut sig = s.clone();
    let last = sig.pop().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    sig.push(alphabet.chars().nth(idx ^ 1).unwrap());
    v.push((
        "non-canonical base64 signature",
        format!("{h}.{p}.{sig}"),
        Err(TokenMalformed),
    ));
    v
}

#[test]
fn attack_table() {
    let verifier = verifier();
    let mut failures = Vec::new();
    for (name, token, want) in cases() {
        let got = verifier.verify(&token).map(|_| ()).map_err(|e| e.reason());
        if got != want {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn errors_never_echo_tokens_claims_or_secrets() {
    let verifier = verifier();
    let secret_text = String::from_utf8_lossy(SECRET).to_string();
    for (name, token, want) in cases() {
        if want.is_ok() {
            continue;
        }
        let err = verifier.verify(&token).unwrap_err();
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains("alice"), "{name}: {text}");
            assert!(!text.contains(&secret_text), "{name}: {text}");
            assert!(
                token.len() < 8 || !text.contains(&token[..token.len().min(40)]),
                "{name}: {text}"
            );
            assert!(!text.contains("eyJ"), "{name}: {text}");
        }
    }
}

#[test]
fn verified_claims_are_typed_and_debug_hides_values() {
    let verifier = verifier();
    let mut c = claims(ISS);
    c["email"] = json!("alice@example.com");
    let claims = verifier.verify(&mint("ec-p256", "ES256", &c)).unwrap();
    assert_eq!(claims.issuer(), ISS);
    assert_eq!(claims.subject(), Some("alice"));
    assert_eq!(claims.audience(), ["api".to_owned()]);
    assert_eq!(claims.expires_at(), NOW + 3600);
    assert_eq!(claims.issued_at(), Some(NOW));
    assert_eq!(claims.not_before(), Some(NOW));
    assert_eq!(claims.jwt_id(), Some("id-1"));
    assert_eq!(claims.algorithm(), Some(Algorithm::ES256));
    assert_eq!(claims.key_id(), Some("ec-p256"));
    assert_eq!(claims.token_type(), Some("at+jwt"));
    assert_eq!(claims.get("scope"), Some(&json!("read write")));
    assert_eq!(claims.get("email"), Some(&json!("alice@example.com")));
    let dbg = format!("{claims:?}");
    assert!(!dbg.contains("alice@example.com"), "{dbg}");
    assert!(!dbg.contains("read write"), "{dbg}");
}
