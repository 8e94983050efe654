//! Quickstart: zt verifying real tokens with no external service.
//!
//! Serves an issuer's OpenID discovery document and JWKS on 127.0.0.1 (ephemeral port), mints
//! tokens for a few personas, verifies them with a `TokenVerifier` that found its keys through
//! discovery, prints each decision with its reason code, then latency percentiles.
//!
//! Run: `cargo run --release --example quickstart`

use axum::routing::get;
use jsonwebtoken::{Algorithm as JwtAlg, EncodingKey, Header};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use zt_core::{Algorithm, AuthorizerConfig, IssuerConfig, TokenVerifier};

const RSA_PEM: &str = include_str!("../tests/data/keys/rsa2048-a.pem");
const RSA_JWK: &str = include_str!("../tests/data/keys/rsa2048-a.jwk.json");
const EC_PEM: &str = include_str!("../tests/data/keys/ec-p256.pem");
const EC_JWK: &str = include_str!("../tests/data/keys/ec-p256.jwk.json");
const ROGUE_PEM: &str = include_str!("../tests/data/keys/rsa2048-b.pem");

fn sign(
    pem: &str,
    kid: &str,
    alg: JwtAlg,
    claims: &Value,
) -> Result<String, Box<dyn std::error::Error>> {
    let key = match alg {
        JwtAlg::ES256 => EncodingKey::from_ec_pem(pem.as_bytes())?,
        _ => EncodingKey::from_rsa_pem(pem.as_bytes())?,
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    header.typ = Some("at+jwt".to_owned());
    Ok(jsonwebtoken::encode(&header, claims, &key)?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. An identity provider on loopback: discovery + JWKS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let jwks = json!({"keys": [serde_json::from_str::<Value>(RSA_JWK)?, serde_json::from_str::<Value>(EC_JWK)?]});
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")});
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { axum::Json(discovery) }),
        )
        .route("/jwks", get(move || async move { axum::Json(jwks) }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::time::timeout(Duration::from_secs(60), stopped).await;
            })
            .await
    });

    // 2. zt configured for that issuer, keys found through discovery.
    let mut idp = IssuerConfig::new(
        issuer.clone(),
        ["orders-api"],
        [Algorithm::RS256, Algorithm::ES256],
    );
    idp.discovery = true;
    idp.token_type = Some("at+jwt".into());
    let verifier = TokenVerifier::new(&AuthorizerConfig::new(vec![idp]))?;
    verifier.ready().await?;

    // 3. Personas.
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = |sub: &str, extra: Value| {
        let mut c = json!({"iss": issuer, "sub": sub, "aud": "orders-api", "iat": now, "exp": now + 900,
                           "scope": "orders:read", "groups": ["dev"]});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        c
    };
    let alice = sign(
        RSA_PEM,
        "rsa2048-a",
        JwtAlg::RS256,
        &claims("alice", json!({"groups": ["admin"]})),
    )?;
    // Tampering: same header and signature, a payload granting more groups.
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let mut parts = alice.split('.');
    let (header, payload, signature) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let forged = b64(&claims("alice", json!({"groups": ["admin", "root"]})));
    let tampered = format!("{header}.{forged}.{signature}");
    let alg_none = format!("{}.{payload}.", b64(&json!({"alg": "none"})));
    let personas: Vec<(&str, String)> = vec![
        ("alice, admin (RS256)", alice),
        (
            "bob, developer (ES256)",
            sign(EC_PEM, "ec-p256", JwtAlg::ES256, &claims("bob", json!({})))?,
        ),
        (
            "carol, expired token",
            sign(
                RSA_PEM,
                "rsa2048-a",
                JwtAlg::RS256,
                &claims("carol", json!({"iat": now - 7200, "exp": now - 3600})),
            )?,
        ),
        (
            "dave, wrong audience",
            sign(
                RSA_PEM,
                "rsa2048-a",
                JwtAlg::RS256,
                &claims("dave", json!({"aud": "billing-api"})),
            )?,
        ),
        (
            "erin, unknown issuer",
            sign(
                RSA_PEM,
                "rsa2048-a",
                JwtAlg::RS256,
                &claims("erin", json!({"iss": "https://evil.example"})),
            )?,
        ),
        ("mallory, tampered token", tampered),
        (
            "mallory, rogue key",
            sign(
                ROGUE_PEM,
                "rogue",
                JwtAlg::RS256,
                &claims("mallory", json!({})),
            )?,
        ),
        ("mallory, alg none", alg_none),
    ];
    println!("{:<28} {:<8} reason / subject", "persona", "result");
    println!("{}", "-".repeat(72));
    for (name, token) in &personas {
        match verifier.verify_async(token).await {
            Ok(c) => println!(
                "{name:<28} {:<8} sub={}",
                "ALLOW",
                c.subject().unwrap_or("-")
            ),
            Err(e) => println!("{name:<28} {:<8} {} ({e})", "DENY", e.reason()),
        }
    }

    // 4. Latency over a short loop: cache hits, and fresh verifications (distinct tokens).
    let fresh: Vec<String> = (0..2000)
        .map(|i| {
            sign(
                RSA_PEM,
                "rsa2048-a",
                JwtAlg::RS256,
                &claims(&format!("user-{i}"), json!({})),
            )
        })
        .collect::<Result<_, _>>()?;
    let mut fresh_ns = Vec::with_capacity(fresh.len());
    for t in &fresh {
        let start = Instant::now();
        let ok = verifier.verify(t).is_ok();
        fresh_ns.push(start.elapsed().as_nanos());
        assert!(ok);
    }
    let mut hit_ns = Vec::with_capacity(20_000);
    for t in fresh.iter().take(100).cycle().take(20_000) {
        let start = Instant::now();
        let ok = verifier.verify(t).is_ok();
        hit_ns.push(start.elapsed().as_nanos());
        assert!(ok);
    }
    println!();
    for (label, mut v) in [("RS256 new token", fresh_ns), ("RS256 cache hit", hit_ns)] {
        v.sort_unstable();
        let pct = |p: f64| {
            let i = ((v.len() as f64 - 1.0) * p) as usize;
            v.get(i).copied().unwrap_or_default() as f64 / 1000.0
        };
        println!(
            "{label:<18} n={:<6} p50={:>7.2} µs  p95={:>7.2} µs  p99={:>7.2} µs",
            v.len(),
            pct(0.5),
            pct(0.95),
            pct(0.99)
        );
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}
