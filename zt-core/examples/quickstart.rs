//! Quickstart: zt deciding real requests with no external service.
//!
//! 1. Creates an issuer signing key (ES256, fresh on every run) and serves the issuer's OpenID
//!    discovery document and JWKS on 127.0.0.1 (ephemeral port), next to a second, RS256 key.
//! 2. Builds an `Authorizer` that finds those keys through discovery and decides with the sample
//!    policy bundle in `examples/policies/` (RBAC by group, device posture, admin step-up),
//!    writing a hash-chained decision log to a temporary file.
//! 3. Mints tokens for a few personas and prints a table of decisions with their reasons.
//! 4. Prints latency percentiles of `authorize` over a short loop, and verifies the log chain.
//!
//! Run: `cargo run --release --example quickstart`

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm as JwtAlg, EncodingKey, Header};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use zt_core::{Authorizer, AuthorizerConfig, Request};

const RSA_PEM: &str = include_str!("../tests/data/keys/rsa2048-a.pem");
const RSA_JWK: &str = include_str!("../tests/data/keys/rsa2048-a.jwk.json");

type BoxError = Box<dyn std::error::Error>;

/// A freshly generated P-256 issuer key: the signing key and its public JWK.
fn create_issuer_key() -> Result<(EncodingKey, Value), BoxError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| "cannot generate a key")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| "cannot load the generated key")?;
    // Uncompressed point: 0x04 || x || y.
    let point = pair.public_key().as_ref();
    let (x, y) = (
        point.get(1..33).ok_or("short point")?,
        point.get(33..65).ok_or("short point")?,
    );
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "quickstart-es256", "use": "sig",
                     "alg": "ES256", "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)});
    Ok((EncodingKey::from_ec_der(pkcs8.as_ref()), jwk))
}

struct Signer {
    es256: EncodingKey,
    rs256: EncodingKey,
}

impl Signer {
    fn sign(&self, alg: JwtAlg, claims: &Value) -> Result<String, BoxError> {
        let (key, kid) = match alg {
            JwtAlg::ES256 => (&self.es256, "quickstart-es256"),
            _ => (&self.rs256, "rsa2048-a"),
        };
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        header.typ = Some("at+jwt".to_owned());
        Ok(jsonwebtoken::encode(&header, claims, key)?)
    }
}

fn percentiles(mut v: Vec<u128>) -> (f64, f64, f64) {
    v.sort_unstable();
    let pct = |p: f64| {
        let i = ((v.len().saturating_sub(1)) as f64 * p) as usize;
        v.get(i).copied().unwrap_or_default() as f64 / 1000.0
    };
    (pct(0.50), pct(0.95), pct(0.99))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // 1. An identity provider on loopback: discovery + JWKS with a fresh ES256 key.
    let (es256, es_jwk) = create_issuer_key()?;
    let signer = Signer {
        es256,
        rs256: EncodingKey::from_rsa_pem(RSA_PEM.as_bytes())?,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let jwks = json!({"keys": [es_jwk, serde_json::from_str::<Value>(RSA_JWK)?]});
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
                let _ = tokio::time::timeout(Duration::from_secs(120), stopped).await;
            })
            .await
    });

    // 2. The authorizer: issuer via discovery, the sample bundle, a hash-chained decision log.
    let bundle = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies");
    let log = std::env::temp_dir().join(format!("zt-quickstart-{}.jsonl", std::process::id()));
    let config = AuthorizerConfig::from_toml_str(&format!(
        r#"
        service = "orders-api"

        [[issuers]]
        issuer = "{issuer}"
        audiences = ["orders-api"]
        algorithms = ["RS256", "ES256"]
        discovery = true
        token_type = "at+jwt"

        [posture]
        source = "claims"
        claim = "device"
        max_age_s = 900

        [policy]
        bundle = {bundle:?}

        [decision_log]
        sink = "hash_chained_file"
        path = {log:?}
        mask = ["/subject/claims/email"]
        "#
    ))?;
    let authz = Authorizer::new(config)?;
    authz.verifier().ready().await?;
    println!(
        "issuer {issuer} · policy revision {} · decision log {}\n",
        &authz.policy().active_revision(),
        log.display()
    );

    // 3. Personas.
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let healthy = json!({"id": "mbp-7", "managed": true, "os": "macOS", "disk_encrypted": true,
                         "firewall_enabled": true, "jailbroken": false, "patch_age_days": 4,
                         "assessed_at": now - 120});
    let unencrypted = json!({"id": "tp-2", "managed": true, "os": "Linux", "disk_encrypted": false,
                             "jailbroken": false, "patch_age_days": 9, "assessed_at": now - 60});
    let stale = json!({"id": "mbp-9", "managed": true, "disk_encrypted": true,
                       "assessed_at": now - 7200});
    let claims = |sub: &str, groups: &[&str], device: &Value, extra: Value| {
        let mut c = json!({"iss": issuer, "sub": sub, "aud": "orders-api", "iat": now,
                           "exp": now + 900, "groups": groups, "email": format!("{sub}@example.com"),
                           "device": device});
        if let (Some(c), Value::Object(extra)) = (c.as_object_mut(), extra) {
            c.extend(extra);
        }
        c
    };
    let mfa = json!({"acr": "urn:zt:acr:mfa", "amr": ["pwd", "mfa"], "auth_time": now - 30});
    let alice = signer.sign(
        JwtAlg::RS256,
        &claims("alice", &["admin"], &healthy, json!({})),
    )?;
    let alice_mfa = signer.sign(JwtAlg::RS256, &claims("alice", &["admin"], &healthy, mfa))?;
    let bob = signer.sign(
        JwtAlg::ES256,
        &claims("bob", &["dev"], &unencrypted, json!({})),
    )?;
    let carol = signer.sign(
        JwtAlg::ES256,
        &claims(
            "carol",
            &["dev"],
            &healthy,
            json!({"iat": now - 7200, "exp": now - 3600}),
        ),
    )?;
    let dave = signer.sign(JwtAlg::RS256, &claims("dave", &["dev"], &stale, json!({})))?;
    let vic = signer.sign(
        JwtAlg::ES256,
        &claims("vic", &["viewer"], &healthy, json!({})),
    )?;
    let erin = signer.sign(
        JwtAlg::RS256,
        &claims(
            "erin",
            &["admin"],
            &healthy,
            json!({"iss": "https://evil.example"}),
        ),
    )?;
    let tampered = {
        let forged =
            URL_SAFE_NO_PAD.encode(claims("bob", &["admin"], &healthy, json!({})).to_string());
        let mut parts = bob.split('.');
        let header = parts.next().unwrap_or_default();
        let signature = parts.nth(1).unwrap_or_default();
        format!("{header}.{forged}.{signature}")
    };
    let personas: Vec<(&str, &str, &str, Option<&String>)> = vec![
        (
            "alice, admin, healthy laptop",
            "GET",
            "/orders/42",
            Some(&alice),
        ),
        (
            "alice, admin, no recent MFA",
            "POST",
            "/admin/deploy",
            Some(&alice),
        ),
        (
            "alice, admin, after MFA",
            "POST",
            "/admin/deploy",
            Some(&alice_mfa),
        ),
        (
            "bob, developer, unencrypted disk",
            "GET",
            "/orders/42",
            Some(&bob),
        ),
        ("carol, expired token", "GET", "/orders/42", Some(&carol)),
        ("dave, posture 2 h old", "GET", "/orders/42", Some(&dave)),
        ("vic, viewer, writes", "POST", "/orders", Some(&vic)),
        ("erin, unknown issuer", "GET", "/orders/42", Some(&erin)),
        (
            "mallory, tampered token",
            "GET",
            "/orders/42",
            Some(&tampered),
        ),
        ("anonymous, no token", "GET", "/orders/42", None),
    ];
    println!(
        "{:<34} {:<20} {:<8} reasons",
        "persona", "request", "outcome"
    );
    println!("{}", "-".repeat(110));
    for (name, method, path, token) in &personas {
        let mut request = Request::new(*method, *path);
        if let Some(t) = token {
            request = request.bearer(t.as_str());
        }
        let d = authz.authorize(&request).await;
        let mut reasons: Vec<String> = d.reasons.iter().map(|r| r.to_string()).collect();
        reasons.extend(d.policy_reasons.iter().map(|r| format!("policy:{r}")));
        if let Some(s) = &d.step_up {
            reasons.push(format!(
                "acr_values={} max_age={}",
                s.acr_values.as_deref().unwrap_or("-"),
                s.max_age.unwrap_or_default()
            ));
        }
        println!(
            "{name:<34} {:<20} {:<8} {}",
            format!("{method} {path}"),
            d.outcome.as_str().to_uppercase(),
            reasons.join(", ")
        );
    }

    // 4. Latency over a short loop: tokens seen before (verified-token cache), and new tokens.
    let fresh = |alg: JwtAlg, n: usize| -> Result<Vec<String>, BoxError> {
        (0..n)
            .map(|i| {
                signer.sign(
                    alg,
                    &claims(&format!("user-{i}"), &["dev"], &healthy, json!({})),
                )
            })
            .collect()
    };
    let mut rows = Vec::new();
    for (label, alg) in [
        ("new RS256 token", JwtAlg::RS256),
        ("new ES256 token", JwtAlg::ES256),
    ] {
        let tokens = fresh(alg, 2_000)?;
        let mut ns = Vec::with_capacity(tokens.len());
        for t in &tokens {
            let request = Request::new("GET", "/orders/42").bearer(t.as_str());
            let start = Instant::now();
            let d = authz.authorize_sync(&request);
            ns.push(start.elapsed().as_nanos());
            if !d.is_allowed() {
                return Err(format!("unexpected decision {:?}", d.reasons).into());
            }
        }
        rows.push((label, ns));
    }
    let cached = fresh(JwtAlg::RS256, 100)?;
    let requests: Vec<Request> = cached
        .iter()
        .map(|t| Request::new("GET", "/orders/42").bearer(t.as_str()))
        .collect();
    let mut ns = Vec::with_capacity(20_000);
    for r in requests.iter().cycle().take(20_000) {
        let start = Instant::now();
        let d = authz.authorize_sync(r);
        ns.push(start.elapsed().as_nanos());
        if !d.is_allowed() {
            return Err(format!("unexpected decision {:?}", d.reasons).into());
        }
    }
    rows.push(("token seen before", ns));
    println!("\nauthorize (token + posture + input + policy + log enqueue), this machine:");
    for (label, ns) in rows {
        let n = ns.len();
        let (p50, p95, p99) = percentiles(ns);
        println!("  {label:<18} n={n:<6} p50={p50:>7.2} µs  p95={p95:>7.2} µs  p99={p99:>7.2} µs");
    }
    let m = authz.metrics();
    let policy = m.latency.get("policy").copied().unwrap_or_default();
    println!(
        "  policy stage p50={:.2} µs · verified-token cache hit rate {:.1} % · {} decisions",
        policy.p50_ns as f64 / 1000.0,
        m.token_cache_hit_rate() * 100.0,
        m.decisions
    );

    authz.flush();
    let stats = authz.metrics().decision_log;
    let (records, last) = zt_core::verify_chain(&log)?;
    println!(
        "\ndecision log: {records} records written ({} dropped by the bounded queue), hash chain verified, last hash {}…",
        stats.dropped,
        last.get(..16).unwrap_or_default()
    );
    let _ = std::fs::remove_file(&log);
    let _ = stop.send(());
    server.await??;
    Ok(())
}
