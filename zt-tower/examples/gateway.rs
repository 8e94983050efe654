//! An axum service protected by zt-tower and the sample policy bundle, on 127.0.0.1.
//!
//! It creates an ES256 issuer key (inline JWKS: no identity provider needed), writes a few
//! ready-to-use tokens, prints curl lines, and serves until Ctrl-C:
//!
//! ```sh
//! cargo run --release -p zt-tower --example gateway
//! ```
//!
//! Environment: `ZT_GATEWAY_ADDR` (default `127.0.0.1:8080`), `ZT_GATEWAY_TOKENS` (a file to
//! write `NAME=TOKEN` lines to), `ZT_GATEWAY_LAYER=off` (serve the same app without zt, for
//! load comparisons), `ZT_GATEWAY_POLICY=allow` (a one-line policy instead of the sample bundle),
//! `ZT_GATEWAY_SECS` (stop after this many seconds).

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zt_core::{Authorizer, AuthorizerConfig};
use zt_tower::{ZtClaims, ZtDecision, ZtLayer};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const ISSUER: &str = "https://idp.gateway.example";

async fn order(ZtClaims(claims): ZtClaims, ZtDecision(d): ZtDecision) -> axum::Json<Value> {
    axum::Json(json!({
        "order": 42,
        "for": claims.subject(),
        "decision_id": d.id,
        "policy_reasons": d.policy_reasons,
    }))
}

fn mint(key: &jsonwebtoken::EncodingKey, claims: &Value) -> Result<String, BoxError> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("gateway".into());
    header.typ = Some("at+jwt".into());
    Ok(jsonwebtoken::encode(&header, claims, key)?)
}

/// An issuer key created for this run: its public JWK and the signing key.
fn issuer_key() -> Result<(serde_json::Value, jsonwebtoken::EncodingKey), BoxError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| "cannot generate a key")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| "cannot load the key")?;
    let point = pair.public_key().as_ref();
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "gateway", "use": "sig", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(point.get(1..33).ok_or("point")?),
        "y": URL_SAFE_NO_PAD.encode(point.get(33..65).ok_or("point")?)});
    let signing = jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref());
    Ok((jwk, signing))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (jwk, signing) = issuer_key()?;

    let bundle = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies");
    let config = AuthorizerConfig::from_json_str(
        &json!({
            "service": "orders-gateway",
            "issuers": [{"issuer": ISSUER, "audiences": ["orders-api"], "algorithms": ["ES256"],
                         "jwks": {"keys": [jwk]}, "token_type": "at+jwt"}],
            "request": {"headers": ["x-request-id"]},
            "policy": {"bundle": bundle},
            "decision_log": {"sink": "none"},
        })
        .to_string(),
    )?;
    // `ZT_GATEWAY_POLICY=allow`: a one-line policy (any verified token), to separate the
    // layer's own cost from the sample bundle's in load runs.
    let authz = if std::env::var("ZT_GATEWAY_POLICY").as_deref() == Ok("allow") {
        Authorizer::builder(config)
            .policy_files(vec![(
                "allow.rego".into(),
                b"package zt.authz\ndecision := true\n".to_vec(),
            )])
            .build()?
    } else {
        Authorizer::new(config)?
    };

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let healthy = json!({"managed": true, "disk_encrypted": true, "jailbroken": false,
                         "patch_age_days": 2, "assessed_at": now});
    let unencrypted = json!({"managed": true, "disk_encrypted": false, "assessed_at": now});
    let claims = |sub: &str, groups: &[&str], device: &Value| {
        json!({"iss": ISSUER, "sub": sub, "aud": "orders-api", "iat": now, "exp": now + 3600,
               "groups": groups, "device": device})
    };
    let tokens = [
        (
            "ADMIN",
            mint(&signing, &claims("alice", &["admin"], &healthy))?,
        ),
        (
            "DEV_UNENCRYPTED",
            mint(&signing, &claims("bob", &["dev"], &unencrypted))?,
        ),
        (
            "VIEWER",
            mint(&signing, &claims("vic", &["viewer"], &healthy))?,
        ),
    ];

    let metrics_authz = authz.clone();
    let app = Router::new()
        .route("/orders/{id}", get(order))
        .route("/orders", post(|| async { "created" }))
        .route("/admin/deploy", post(|| async { "deployed" }))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || {
                let a = metrics_authz.clone();
                async move { a.prometheus() }
            }),
        );
    let app = if std::env::var("ZT_GATEWAY_LAYER").as_deref() == Ok("off") {
        // The same handlers without zt (load comparisons): the same handler work (the answer
        // names a subject, a decision id formatted per request and the policy reasons), with
        // the extractors' inputs made up.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Router::new()
            .route(
                "/orders/{id}",
                get(|| async {
                    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    axum::Json(json!({
                        "order": 42,
                        "for": Some("alice"),
                        "decision_id": format!("00000000-0000-4000-8000-{n:012x}"),
                        "policy_reasons": Vec::<String>::new(),
                    }))
                }),
            )
            .route("/healthz", get(|| async { "ok" }))
    } else {
        app.layer(
            ZtLayer::new(authz)
                .realm("orders")
                .skip_path("/healthz")
                .skip_path("/metrics"),
        )
    };

    let addr: SocketAddr = std::env::var("ZT_GATEWAY_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8080".into())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    if let Ok(path) = std::env::var("ZT_GATEWAY_TOKENS") {
        let lines: String = tokens.iter().map(|(n, t)| format!("{n}={t}\n")).collect();
        std::fs::write(path, lines)?;
    }
    println!("zt gateway on http://{addr} (Ctrl-C to stop)\n");
    for (name, token) in &tokens {
        println!("export {name}={token}");
    }
    println!(
        "\ncurl -i -H \"Authorization: Bearer $ADMIN\" http://{addr}/orders/42            # 200\n\
         curl -i -H \"Authorization: Bearer $DEV_UNENCRYPTED\" http://{addr}/orders/42  # 403 disk_not_encrypted\n\
         curl -i -X POST -H \"Authorization: Bearer $VIEWER\" http://{addr}/orders      # 403 rbac_not_permitted\n\
         curl -i -X POST -H \"Authorization: Bearer $ADMIN\" http://{addr}/admin/deploy # 401 step-up (RFC 9470)\n\
         curl -i http://{addr}/orders/42                                             # 401 no token\n\
         curl -s http://{addr}/metrics | grep zt_decisions                           # Prometheus"
    );
    let secs: Option<u64> = std::env::var("ZT_GATEWAY_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        match secs {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    })
    .await?;
    Ok(())
}
