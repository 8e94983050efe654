#![cfg(test)]
//! End to end with a real identity provider: the npm package `oidc-provider` on 127.0.0.1
//! issues client_credentials JWT access tokens (RS256 and ES256); an axum service behind
//! zt-tower finds the keys through OIDC discovery; the provider restarts with a new key set and
//! the service accepts tokens with the new `kid` without restarting. DPoP-bound tokens, and
//! opaque tokens checked at the provider's introspection endpoint.
//!
//! Needs Node.js and `npm install --prefix zt-tower/tests/idp` (the README's test command does
//! both). Without them this test fails loudly; set `ZT_SKIP_NODE_E2E=1` to skip it on purpose.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;
use zt_core::{Authorizer, AuthorizerConfig};
use zt_tower::ZtLayer;

fn idp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/idp")
}

/// The provider process; killed by its pid when dropped.
struct Idp {
    child: Child,
    port: u16,
    kids: Vec<String>,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_idp(port: u16) -> Idp {
    let mut child = Command::new("node")
        .arg("server.mjs")
        .current_dir(idp_dir())
        .env("PORT", port.to_string())
        .env("ZT_IDP_LIFETIME_S", "120")
        // The introspecting resource server's secret is this process's PATH (tests cannot
        // set environment variables of their own; zt reads it with `client_secret_env`).
        .env(
            "ZT_IDP_INTROSPECT_SECRET",
            std::env::var("PATH").expect("PATH"),
        )
        .env(
            "ZT_IDP_INTROSPECT_JWKS",
            zt_testkit::jwks(&["ec-p256"]).to_string(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    // The provider's stderr is kept (bounded) so that a provider that does not start says why.
    let stderr = child.stderr.take().expect("stderr");
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = errors.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut lines = sink.lock().unwrap();
            if lines.len() < 40 {
                lines.push(line);
            }
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("listening ") {
                let _ = tx.send(line);
            }
        }
        // The sender drops here: a provider that exits before listening ends the wait at once.
    });
    // Generous: on a loaded 2-core CI machine node, the provider and a 2048-bit RSA key
    // generation compete with a parallel test run.
    let line = match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(l) => l,
        Err(why) => {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            std::thread::sleep(Duration::from_millis(200));
            let stderr = errors.lock().unwrap().join("\n");
            panic!("oidc-provider did not start ({why:?}, {status}); its stderr:\n{stderr}");
        }
    };
    let mut parts = line.split(' ').skip(1);
    let port = parts.next().and_then(|p| p.parse().ok()).expect("port");
    Idp {
        child,
        port,
        kids: parts.map(str::to_owned).collect(),
    }
}

/// Node and the provider package present, or a loud failure (or an explicit, loud skip).
fn node_ready() -> bool {
    let node = Command::new("node").arg("--version").output();
    let installed = idp_dir().join("node_modules/oidc-provider").is_dir();
    if node.is_ok_and(|o| o.status.success()) && installed {
        return true;
    }
    let why = "Node.js or zt-tower/tests/idp/node_modules is missing: run the README's test \
               command (./scripts/test.sh), which runs `npm install --prefix zt-tower/tests/idp`";
    if std::env::var("ZT_SKIP_NODE_E2E").as_deref() == Ok("1") {
        eprintln!("\n!!! SKIPPED the oidc-provider end-to-end test (ZT_SKIP_NODE_E2E=1): {why}\n");
        return false;
    }
    panic!("{why}");
}

/// A DPoP proof by fixture key `ec-p256` (ES256) for `htm` `htu`, with `ath` when given.
fn dpop_proof(htm: &str, htu: &str, access_token: Option<&str>, jti: &str) -> String {
    zt_testkit::try_dpop_proof("ec-p256", "ES256", htm, htu, access_token, now(), jti).unwrap()
}

/// A DPoP-bound access token: the token request carries a proof by `ec-p256`.
async fn dpop_client_credentials(port: u16) -> (String, serde_json::Value) {
    let url = format!("http://127.0.0.1:{port}/token");
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(&url)
        .basic_auth(
            "zt-test",
            Some("zt-test-secret-not-a-real-secret-0123456789"),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .header("dpop", dpop_proof("POST", &url, None, "token-request-1"))
        .body("grant_type=client_credentials&resource=urn%3Azt%3Aorders")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    (
        v["access_token"].as_str().expect("access_token").to_owned(),
        v,
    )
}

async fn client_credentials(port: u16, resource: &str) -> String {
    let body = format!(
        "grant_type=client_credentials&resource={}",
        resource.replace(':', "%3A")
    );
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://127.0.0.1:{port}/token"))
        .basic_auth(
            "zt-test",
            Some("zt-test-secret-not-a-real-secret-0123456789"),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    v["access_token"].as_str().expect("access_token").to_owned()
}

fn header_of(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_provider_tokens_and_key_rotation_without_restart() {
    if !node_ready() {
        return;
    }
    let idp = start_idp(0);
    let issuer = format!("http://127.0.0.1:{}", idp.port);
    let cfg = serde_json::json!({
        "issuers": [{"issuer": issuer, "audiences": [AUD], "algorithms": ["RS256", "ES256"],
                     "discovery": true, "token_type": "at+jwt"}],
        "jwks": {"unknown_kid_cooldown_s": 1},
        "decision_log": {"sink": "none"},
    });
    let authz = Authorizer::builder(AuthorizerConfig::from_json_str(&cfg.to_string()).unwrap())
        .policy_files(vec![("p.rego".into(), POLICY.as_bytes().to_vec())])
        .build()
        .unwrap();
    authz.verifier().ready().await.unwrap();
    let server = serve(app(ZtLayer::new(authz.clone()).realm("orders"))).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |token: String| {
        let http = http.clone();
        let url = server.url("/orders/1");
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };

    let rs = client_credentials(idp.port, "urn:zt:orders").await;
    let es = client_credentials(idp.port, "urn:zt:orders-es").await;
    assert_eq!(header_of(&rs)["alg"], "RS256");
    assert_eq!(header_of(&es)["alg"], "ES256");
    assert_eq!(header_of(&rs)["typ"], "at+jwt");
    assert_eq!(get(rs.clone()).await, (200, "zt-test|zt-test".to_owned()));
    assert_eq!(get(es.clone()).await.0, 200);

    // The provider restarts on the same address with a brand-new key set.
    let port = idp.port;
    let old_kids = idp.kids.clone();
    drop(idp);
    let idp = start_idp(port);
    assert!(idp.kids.iter().all(|k| !old_kids.contains(k)), "new keys");
    // Past the unknown-kid cooldown (1 s) since the first fetch.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let rs2 = client_credentials(idp.port, "urn:zt:orders").await;
    let es2 = client_credentials(idp.port, "urn:zt:orders-es").await;
    assert_ne!(header_of(&rs2)["kid"], header_of(&rs)["kid"]);
    assert_eq!(get(rs2).await.0, 200, "new kid accepted after one refetch");
    assert_eq!(get(es2).await.0, 200);
    // The old keys are gone from the issuer's set: their tokens no longer verify.
    let (status, _) = get(rs).await;
    assert_eq!(status, 401, "a token signed by a retired key is rejected");
    let status = authz.verifier().jwks_status(&issuer).unwrap();
    assert!(status.fetches >= 2, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_bound_tokens_from_the_real_provider() {
    if !node_ready() {
        return;
    }
    let idp = start_idp(0);
    let issuer = format!("http://127.0.0.1:{}", idp.port);
    let (token, response) = dpop_client_credentials(idp.port).await;
    assert_eq!(response["token_type"], "DPoP");
    let payload: serde_json::Value = {
        use base64::Engine as _;
        let p = token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        payload["cnf"]["jkt"].as_str(),
        Some(zt_testkit::try_jkt("ec-p256").unwrap().as_str()),
        "the provider bound the token to the proof's key"
    );

    // The service on 127.0.0.1 over plain HTTP: `base_url` says what `htu` names.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let cfg = serde_json::json!({
        "issuers": [{"issuer": issuer, "audiences": [AUD], "algorithms": ["RS256", "ES256"],
                     "discovery": true, "token_type": "at+jwt"}],
        "dpop": {"base_url": base},
        "decision_log": {"sink": "none"},
    });
    let authz = Authorizer::builder(AuthorizerConfig::from_json_str(&cfg.to_string()).unwrap())
        .policy_files(vec![("p.rego".into(), POLICY.as_bytes().to_vec())])
        .build()
        .unwrap();
    authz.verifier().ready().await.unwrap();
    let app = app(ZtLayer::new(authz.clone()).realm("orders"));
    let server = serve_on(port, app).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{base}/orders/1");
    let send = |scheme: &'static str, proof: Option<String>| {
        let http = http.clone();
        let url = url.clone();
        let token = token.clone();
        async move {
            let mut req = http
                .get(url)
                .header("authorization", format!("{scheme} {token}"));
            if let Some(p) = proof {
                req = req.header("dpop", p);
            }
            let r = req.send().await.unwrap();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), challenge)
        }
    };
    let proof = dpop_proof("GET", &url, Some(&token), "resource-1");
    assert_eq!(send("DPoP", Some(proof.clone())).await.0, 200);
    // The same proof again: replayed.
    let (status, challenge) = send("DPoP", Some(proof)).await;
    assert_eq!(status, 401);
    let challenge = challenge.unwrap();
    assert!(
        challenge.starts_with("DPoP realm=\"orders\"")
            && challenge.contains("error_description=\"dpop_replayed\""),
        "{challenge}"
    );
    // As a bearer token; without a proof; a proof for another method.
    let (status, challenge) = send("Bearer", None).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("dpop_scheme_required"));
    let (status, challenge) = send("DPoP", None).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("dpop_proof_missing"));
    let wrong = dpop_proof("POST", &url, Some(&token), "resource-2");
    let (status, challenge) = send("DPoP", Some(wrong)).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("dpop_proof_invalid"));
    server.abort();
}

/// The provider's counters (`GET /__zt/stats`): `introspections`, `tokens`.
async fn provider_stats(port: u16) -> serde_json::Value {
    let text = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{port}/__zt/stats"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Introspection requests the provider has seen.
async fn introspections(port: u16) -> u64 {
    provider_stats(port).await["introspections"]
        .as_u64()
        .unwrap()
}

/// Revoke `token` at the provider (RFC 7009).
async fn revoke(port: u16, token: &str) {
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://127.0.0.1:{port}/token/revocation"))
        .basic_auth(
            "zt-test",
            Some("zt-test-secret-not-a-real-secret-0123456789"),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

const CLIENT_POLICY: &str = "package zt.authz\nimport rego.v1\ndefault decision := false\n\
    decision if input.subject.claims.client_id == \"zt-test\"\n";

fn introspecting(issuer: &str, introspection: serde_json::Value) -> Authorizer {
    let cfg = serde_json::json!({
        "issuers": [{"issuer": issuer, "audiences": [AUD], "algorithms": ["RS256", "ES256"],
                     "discovery": true, "token_type": "at+jwt",
                     "introspection": introspection}],
        "decision_log": {"sink": "none"},
    });
    Authorizer::builder(AuthorizerConfig::from_json_str(&cfg.to_string()).unwrap())
        .policy_files(vec![("p.rego".into(), CLIENT_POLICY.as_bytes().to_vec())])
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_tokens_through_the_real_providers_introspection() {
    use zt_core::{Reason, Request};
    if !node_ready() {
        return;
    }
    let idp = start_idp(0);
    let port = idp.port;
    let issuer = format!("http://127.0.0.1:{port}");
    let endpoint = format!("{issuer}/token/introspection");
    let authz = introspecting(
        &issuer,
        serde_json::json!({"endpoint": endpoint, "client_id": "zt-introspect-basic",
                           "client_secret_env": "PATH", "ttl_s": 2, "inactive_ttl_s": 1,
                           "rate_per_s": 20, "burst": 20}),
    );
    let server = serve(app(ZtLayer::new(authz.clone()).realm("orders"))).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |token: String| {
        let http = http.clone();
        let url = server.url("/orders/1");
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value =
                serde_json::from_str(&r.text().await.unwrap()).unwrap_or_default();
            (status, body["reasons"].clone())
        }
    };
    let decide = |token: String| {
        let authz = authz.clone();
        async move {
            authz
                .authorize(&Request::new("GET", "/orders/1").bearer(token))
                .await
                .reasons
        }
    };

    // Active: an opaque token (no JWS) from the provider, allowed through zt-tower.
    let opaque = client_credentials(port, "urn:zt:opaque").await;
    assert!(!opaque.contains('.'), "an opaque token: {opaque}");
    assert_eq!(get(opaque.clone()).await.0, 200);
    assert_eq!(introspections(port).await, 1);
    // A JWT of the same provider is still verified locally.
    let jwt = client_credentials(port, "urn:zt:orders").await;
    assert_eq!(decide(jwt).await, []);
    assert_eq!(introspections(port).await, 1);

    // Inactive: a token the provider never issued.
    let (status, reasons) = get("never-issued-by-the-provider".to_owned()).await;
    assert_eq!(
        (status, reasons),
        (401, serde_json::json!(["token_inactive"]))
    );

    // 1000 concurrent requests with one new token: one call to the provider.
    let fresh = client_credentials(port, "urn:zt:opaque").await;
    let before = introspections(port).await;
    let tasks: Vec<_> = (0..1000)
        .map(|_| tokio::spawn(decide(fresh.clone())))
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), []);
    }
    assert_eq!(introspections(port).await, before + 1);

    // Revoked at the provider: still allowed from the cache, denied once ttl_s (2 s) passed.
    let revoked = client_credentials(port, "urn:zt:opaque").await;
    assert_eq!(decide(revoked.clone()).await, []);
    revoke(port, &revoked).await;
    assert_eq!(decide(revoked.clone()).await, [], "cached until ttl_s");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(decide(revoked).await, [Reason::TokenInactive]);

    // A storm of random tokens: the provider sees at most burst + rate × time calls.
    let before = introspections(port).await;
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..500)
        .map(|i| tokio::spawn(decide(format!("storm-{i}-{}", now()))))
        .collect();
    let mut unavailable = 0;
    for t in tasks {
        let r = t.await.unwrap();
        assert!(
            r == [Reason::TokenInactive] || r == [Reason::IntrospectionUnavailable],
            "{r:?}"
        );
        unavailable += usize::from(r == [Reason::IntrospectionUnavailable]);
    }
    let calls = introspections(port).await - before;
    let bound = 20.0 + 20.0 * started.elapsed().as_secs_f64() + 1.0;
    assert!((calls as f64) <= bound, "{calls} calls, bound {bound:.1}");
    assert!(
        unavailable as f64 >= 500.0 - bound,
        "{unavailable} of 500 refused"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // private_key_jwt: another resource server authenticates with a signed assertion.
    let key_file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../zt-core/tests/data/keys/ec-p256.pem");
    let signed = introspecting(
        &issuer,
        serde_json::json!({"endpoint": endpoint, "client_id": "zt-introspect-jwt",
                           "private_key_jwt": {"key_file": key_file, "algorithm": "ES256",
                                               "kid": "ec-p256"}}),
    );
    let token = client_credentials(port, "urn:zt:opaque").await;
    let d = signed
        .authorize(&Request::new("GET", "/orders/1").bearer(token))
        .await;
    assert!(d.is_allowed(), "{:?}", d.reasons);

    // The provider goes down: cached tokens keep working until their ttl_s, new ones are
    // denied without a wait longer than the call's timeout.
    let cached = client_credentials(port, "urn:zt:opaque").await;
    let unseen = client_credentials(port, "urn:zt:opaque").await;
    assert_eq!(decide(cached.clone()).await, []);
    drop(idp);
    assert_eq!(get(cached).await.0, 200);
    let (status, reasons) = get(unseen).await;
    assert_eq!(
        (status, reasons),
        (503, serde_json::json!(["introspection_unavailable"]))
    );
}

/// What the fleet server saw: per path, the answers it gave and the client ids of the tokens
/// it accepted (verified with the provider's keys, found through discovery).
#[derive(Default)]
struct FleetSeen {
    refused_once: std::sync::Mutex<std::collections::HashSet<String>>,
    accepted: std::sync::Mutex<Vec<(String, String)>>,
    refused: std::sync::Mutex<Vec<String>>,
    log_records: std::sync::atomic::AtomicUsize,
}

/// A bundle server, a revocation feed and a decision-log collector in one axum app on
/// 127.0.0.1. Each refuses the first request on its path with 401 (an expired token, as far as
/// zt can tell), then accepts a token only when it verifies: a JWT access token (RFC 9068) of
/// the provider, for `orders-api`.
async fn fleet_server(idp_port: u16, bundle: Vec<u8>, seen: std::sync::Arc<FleetSeen>) -> Served {
    let verifier = {
        let cfg = serde_json::json!({
            "issuers": [{"issuer": format!("http://127.0.0.1:{idp_port}"), "audiences": [AUD],
                         "algorithms": ["RS256"], "discovery": true, "token_type": "at+jwt"}],
            "decision_log": {"sink": "none"},
        });
        let cfg = AuthorizerConfig::from_json_str(&cfg.to_string()).unwrap();
        std::sync::Arc::new(
            tokio::task::spawn_blocking(move || zt_core::TokenVerifier::new(&cfg).unwrap())
                .await
                .unwrap(),
        )
    };
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::response::IntoResponse;
    let handler = move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let seen = seen.clone();
        let bundle = bundle.clone();
        let verifier = verifier.clone();
        async move {
            let path = uri.path().to_owned();
            let token = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned);
            let Some(token) = token else {
                seen.refused.lock().unwrap().push(path);
                return StatusCode::UNAUTHORIZED.into_response();
            };
            if seen.refused_once.lock().unwrap().insert(path.clone()) {
                seen.refused.lock().unwrap().push(path);
                return StatusCode::UNAUTHORIZED.into_response();
            }
            let Ok(claims) = verifier.verify_async(&token).await else {
                seen.refused.lock().unwrap().push(path);
                return StatusCode::UNAUTHORIZED.into_response();
            };
            let client = claims
                .get("client_id")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned();
            seen.accepted.lock().unwrap().push((path.clone(), client));
            match path.as_str() {
                "/bundles/zt/authz.tar.gz" => bundle.into_response(),
                "/revoked.json" => {
                    r#"{"token_ids": ["revoked-jti"], "subjects": []}"#.into_response()
                }
                "/v1/status" => {
                    let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(report["labels"]["app"], "zt");
                    StatusCode::NO_CONTENT.into_response()
                }
                "/v1/logs" => {
                    let mut gz = flate2::read::GzDecoder::new(&body[..]);
                    let mut text = String::new();
                    std::io::Read::read_to_string(&mut gz, &mut text).unwrap();
                    let records: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
                    seen.log_records
                        .fetch_add(records.len(), std::sync::atomic::Ordering::Relaxed);
                    StatusCode::NO_CONTENT.into_response()
                }
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    serve(axum::Router::new().fallback(handler)).await
}

/// Token requests the provider has seen.
async fn token_requests(port: u16) -> u64 {
    provider_stats(port).await["tokens"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_services_with_oauth2_client_credentials_from_the_real_provider() {
    use zt_core::Request;
    if !node_ready() {
        return;
    }
    let idp = start_idp(0);
    let port = idp.port;
    let issuer = format!("http://127.0.0.1:{port}");
    let bundle = zt_core::build_bundle(
        &zt_testkit::sample_bundle_dir(),
        &zt_core::PolicyConfig::default(),
        Some("fleet-r1"),
        None,
    )
    .unwrap();
    let seen = std::sync::Arc::new(FleetSeen::default());
    let fleet = fleet_server(port, bundle, seen.clone()).await;
    let key_file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../zt-core/tests/data/keys/ec-p256.pem");
    let basic = |scopes: serde_json::Value| {
        serde_json::json!({"token_url": format!("{issuer}/token"), "client_id": "zt-fleet-basic",
                           "client_secret_env": "PATH", "scopes": scopes})
    };
    let cfg = serde_json::json!({
        "issuers": [{"issuer": issuer, "audiences": [AUD], "algorithms": ["RS256", "ES256"],
                     "discovery": true, "token_type": "at+jwt"}],
        "policy": {"service": {"url": fleet.url(""), "path": "bundles/zt/authz.tar.gz",
                               "oauth2": basic(serde_json::json!(["orders:read"]))}},
        "revocation": {"url": fleet.url("/revoked.json"),
                       "oauth2": {"token_url": format!("{issuer}/token"), "client_id": "zt-fleet-jwt",
                                  "private_key_jwt": {"key_file": key_file, "algorithm": "ES256",
                                                      "kid": "ec-p256"}}},
        "decision_log": {"sink": "service",
                         "service": {"url": fleet.url(""), "path": "v1/logs", "max_delay_ms": 50,
                                     "oauth2": basic(serde_json::json!([]))}},
        "status": {"service": {"url": fleet.url(""), "path": "v1/status", "interval_s": 3600,
                               "oauth2": basic(serde_json::json!([]))}},
    });
    let authz = tokio::task::spawn_blocking(move || {
        Authorizer::builder(AuthorizerConfig::from_json_str(&cfg.to_string()).unwrap())
            .build()
            .unwrap()
    })
    .await
    .unwrap();

    // The bundle and the revocation list came with tokens the provider issued, each after one
    // 401 and one new token.
    let status = authz.status();
    assert_eq!(status.policy.revision, "fleet-r1");
    let feed = status.revocation_feed.unwrap();
    assert_eq!((feed.token_ids, feed.last_error), (1, None));
    assert_eq!(status.policy.service.unwrap().last_error, None);

    // The status report came too, after its own 401 and new token.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !seen
        .accepted
        .lock()
        .unwrap()
        .iter()
        .any(|(p, _)| p == "/v1/status")
    {
        assert!(std::time::Instant::now() < deadline, "no status report");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A decision is logged and uploaded: refused once, then accepted with a new token.
    let token = client_credentials(port, "urn:zt:orders").await;
    let _ = authz
        .authorize(&Request::new("GET", "/orders/1").bearer(token))
        .await;
    let flushing = authz.clone();
    tokio::task::spawn_blocking(move || flushing.flush())
        .await
        .unwrap();
    assert_eq!(
        seen.log_records.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let mut accepted = seen.accepted.lock().unwrap().clone();
    accepted.sort();
    // A status report may go out again when the issuer's keys load (a change it reports).
    accepted.dedup();
    assert_eq!(
        accepted,
        [
            (
                "/bundles/zt/authz.tar.gz".to_owned(),
                "zt-fleet-basic".to_owned()
            ),
            ("/revoked.json".to_owned(), "zt-fleet-jwt".to_owned()),
            ("/v1/logs".to_owned(), "zt-fleet-basic".to_owned()),
            ("/v1/status".to_owned(), "zt-fleet-basic".to_owned()),
        ]
    );
    assert_eq!(seen.refused.lock().unwrap().len(), 4);
    // Two tokens per service (the first refused), and the test's own one.
    assert_eq!(token_requests(port).await, 9);

    // A second upload reuses the cached token: no token request.
    let token = client_credentials(port, "urn:zt:orders").await;
    let _ = authz
        .authorize(&Request::new("GET", "/orders/2").bearer(token))
        .await;
    let flushing = authz.clone();
    tokio::task::spawn_blocking(move || flushing.flush())
        .await
        .unwrap();
    assert_eq!(
        seen.log_records.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_eq!(token_requests(port).await, 10);

    // A wrong secret: the feed reports the token endpoint's refusal, without the secret.
    let bad = serde_json::json!({
        "issuers": [{"issuer": issuer, "audiences": [AUD], "algorithms": ["RS256"],
                     "discovery": true}],
        "revocation": {"url": fleet.url("/revoked.json"),
                       "oauth2": {"token_url": format!("{issuer}/token"),
                                  "client_id": "zt-fleet-basic", "client_secret_env": "HOME"}},
        "decision_log": {"sink": "none"},
    });
    let bad = tokio::task::spawn_blocking(move || {
        Authorizer::builder(AuthorizerConfig::from_json_str(&bad.to_string()).unwrap())
            .policy_files(vec![("p.rego".into(), CLIENT_POLICY.as_bytes().to_vec())])
            .build()
            .unwrap()
    })
    .await
    .unwrap();
    let error = bad.status().revocation_feed.unwrap().last_error.unwrap();
    assert_eq!(error, "token endpoint: HTTP status 401 (invalid_client)");
    drop(idp);
}
