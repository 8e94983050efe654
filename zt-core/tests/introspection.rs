#![cfg(test)]
//! Opaque tokens through RFC 7662 introspection, against an introspection endpoint on
//! 127.0.0.1 whose answers, status and speed each test controls: caching (active, inactive,
//! refused), single flight, the rate limit, the circuit breaker, timeouts, hostile answers and
//! both client authentications.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zt_core::http::HttpAnswer;
use zt_core::{Authorizer, AuthorizerConfig, ManualClock, Reason, Request};
use zt_testkit::{ISS, NOW, Served, jwks, merge, serve};

/// How the endpoint answers.
#[derive(Clone)]
enum Mode {
    /// From the token table (unknown tokens: `{"active": false}`).
    Table,
    /// This status, empty body.
    Status(u16),
    /// This raw body with 200.
    Raw(String),
}

#[derive(Default)]
struct Endpoint {
    tokens: Mutex<HashMap<String, Value>>,
    mode: Mutex<Option<Mode>>,
    delay_ms: AtomicU64,
    calls: AtomicU64,
    /// The `Authorization` header and the form body of the last call.
    last: Mutex<(Option<String>, HashMap<String, String>)>,
}

type Shared = Arc<Endpoint>;

async fn introspect(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    s.calls.fetch_add(1, Ordering::SeqCst);
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    *s.last.lock().unwrap() = (auth, form.clone());
    let delay = s.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mode = s.mode.lock().unwrap().clone().unwrap_or(Mode::Table);
    match mode {
        Mode::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Mode::Raw(text) => ([("content-type", "application/json")], text).into_response(),
        Mode::Table => {
            let token = form.get("token").cloned().unwrap_or_default();
            let answer = s
                .tokens
                .lock()
                .unwrap()
                .get(&token)
                .cloned()
                .unwrap_or(json!({"active": false}));
            axum::Json(answer).into_response()
        }
    }
}

async fn endpoint() -> (Shared, Served) {
    let s: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/introspect", axum::routing::post(introspect))
        .with_state(s.clone());
    (s, serve(app).await)
}

impl Endpoint {
    fn set(&self, token: &str, answer: Value) {
        self.tokens.lock().unwrap().insert(token.to_owned(), answer);
    }
    fn mode(&self, m: Mode) {
        *self.mode.lock().unwrap() = Some(m);
    }
    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

/// An active answer for subject `sub`, good for an hour from `NOW`.
fn active(sub: &str) -> Value {
    json!({"active": true, "iss": ISS, "sub": sub, "aud": "api", "client_id": "app",
           "scope": "orders:read", "exp": NOW + 3600, "iat": NOW, "token_type": "Bearer"})
}

const POLICY: &str = "package zt.authz\nimport rego.v1\ndefault decision := false\ndecision if input.subject.id == \"alice\"\n";

fn config(server: &Served, extra: Value) -> AuthorizerConfig {
    let mut intro = json!({
        "endpoint": server.url("/introspect"), "client_id": "zt api",
        // Tests cannot set environment variables: PATH is the "secret".
        "client_secret_env": "PATH",
    });
    merge(&mut intro, extra);
    let doc = json!({
        "issuers": [{"issuer": ISS, "audiences": ["api"], "algorithms": ["ES256"],
                     "jwks": jwks(&["ec-p256"]), "introspection": intro}],
        "decision_log": {"sink": "none"},
    });
    AuthorizerConfig::from_json_str(&doc.to_string()).unwrap()
}

fn build(config: AuthorizerConfig, clock: &Arc<ManualClock>) -> Authorizer {
    Authorizer::builder(config)
        .clock(clock.clone())
        .policy_files(vec![("p.rego".into(), POLICY.as_bytes().to_vec())])
        .build()
        .unwrap()
}

async fn decide(a: &Authorizer, token: &str) -> Vec<Reason> {
    a.authorize(&Request::new("GET", "/orders").bearer(token))
        .await
        .reasons
}

fn decide_sync(a: &Authorizer, token: &str) -> Vec<Reason> {
    a.authorize_sync(&Request::new("GET", "/orders").bearer(token))
        .reasons
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_inactive_and_refused_answers_are_cached_for_their_time() {
    let (ep, server) = endpoint().await;
    ep.set("tok-alice", active("alice"));
    ep.set("tok-bob", active("bob"));
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = build(
        config(&server, json!({"ttl_s": 60, "inactive_ttl_s": 5})),
        &clock,
    );

    // Active: allowed, the claims are the answer's, and the next decision is a cache hit.
    let d = a
        .authorize(&Request::new("GET", "/orders").bearer("tok-alice"))
        .await;
    assert!(d.is_allowed(), "{:?}", d.reasons);
    let claims = d.claims.unwrap();
    assert!(claims.introspected());
    assert_eq!(claims.algorithm(), None);
    assert_eq!(claims.subject(), Some("alice"));
    assert_eq!(claims.get("scope"), Some(&json!("orders:read")));
    assert_eq!(decide(&a, "tok-alice").await, []);
    assert_eq!(decide_sync(&a, "tok-alice"), []);
    assert_eq!(ep.calls(), 1);
    // The policy still decides: bob is active but not allowed.
    assert_eq!(decide(&a, "tok-bob").await, [Reason::PolicyDenied]);

    // The form body: the token and the hint, never the URL.
    let (auth, form) = ep.last.lock().unwrap().clone();
    assert_eq!(form["token"], "tok-bob");
    assert_eq!(form["token_type_hint"], "access_token");
    // client_secret_basic with both parts form-encoded (RFC 6749 §2.3.1).
    use base64::Engine as _;
    let path = std::env::var("PATH").unwrap();
    let expected = format!(
        "zt+api:{}",
        url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
    );
    let sent = base64::engine::general_purpose::STANDARD
        .decode(auth.unwrap().strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(sent).unwrap(), expected);

    // Inactive: a deny, remembered for inactive_ttl_s.
    assert_eq!(decide(&a, "tok-unknown").await, [Reason::TokenInactive]);
    assert_eq!(decide(&a, "tok-unknown").await, [Reason::TokenInactive]);
    assert_eq!(ep.calls(), 3);
    // Revoked at the provider: seen once the active result's ttl_s has passed.
    ep.set("tok-alice", json!({"active": false}));
    assert_eq!(decide(&a, "tok-alice").await, []);
    clock.advance(Duration::from_secs(61));
    assert_eq!(decide(&a, "tok-alice").await, [Reason::TokenInactive]);
    // The unknown token's inactive answer expired too (5 s) and is asked again.
    let before = ep.calls();
    assert_eq!(decide(&a, "tok-unknown").await, [Reason::TokenInactive]);
    assert_eq!(ep.calls(), before + 1);

    // Active answers zt refuses, each with its reason, and cached like inactive ones.
    let now = NOW + 61;
    let mut other_aud = active("alice");
    merge(&mut other_aud, json!({"aud": "another-api"}));
    let mut refresh = active("alice");
    merge(&mut refresh, json!({"token_type": "refresh_token"}));
    // oidc-provider leaves `token_type` out for refresh tokens; Hydra says `token_use`,
    // Keycloak `typ`.
    let mut untyped = active("alice");
    untyped.as_object_mut().unwrap().remove("token_type");
    let mut hydra_refresh = untyped.clone();
    merge(&mut hydra_refresh, json!({"token_use": "refresh_token"}));
    let mut keycloak_refresh = untyped.clone();
    merge(&mut keycloak_refresh, json!({"typ": "Refresh"}));
    let mut unbound_dpop = active("alice");
    merge(&mut unbound_dpop, json!({"token_type": "DPoP"}));
    let mut other_issuer = active("alice");
    merge(
        &mut other_issuer,
        json!({"iss": "https://other-tenant.example.com"}),
    );
    let mut expired = active("alice");
    merge(&mut expired, json!({"exp": now - 120, "iat": now - 600}));
    let mut no_exp = active("alice");
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut too_long = active("alice");
    merge(&mut too_long, json!({"exp": now + 30 * 86_400}));
    for (token, answer, reason) in [
        ("t-aud", other_aud, Reason::AudienceMismatch),
        ("t-refresh", refresh, Reason::TokenTypeInvalid),
        ("t-untyped", untyped, Reason::TokenTypeInvalid),
        ("t-hydra-refresh", hydra_refresh, Reason::TokenTypeInvalid),
        (
            "t-keycloak-refresh",
            keycloak_refresh,
            Reason::TokenTypeInvalid,
        ),
        ("t-unbound-dpop", unbound_dpop, Reason::TokenTypeInvalid),
        ("t-other-issuer", other_issuer, Reason::UnknownIssuer),
        ("t-expired", expired, Reason::TokenExpired),
        ("t-no-exp", no_exp, Reason::TokenMalformed),
        ("t-long", too_long, Reason::TokenLifetimeExceeded),
    ] {
        ep.set(token, answer);
        assert_eq!(decide(&a, token).await, [reason], "{token}");
        let before = ep.calls();
        assert_eq!(decide(&a, token).await, [reason], "{token}");
        assert_eq!(ep.calls(), before, "{token} is cached");
    }

    // An active result is never used past the token's exp (+ leeway, 60 s), even within
    // ttl_s: 10 s + 60 s later the endpoint, still saying "active", is asked again and the
    // claims checks refuse the token.
    let mut short = active("alice");
    merge(&mut short, json!({"exp": now + 10}));
    ep.set("tok-short", short);
    assert_eq!(decide(&a, "tok-short").await, []);
    clock.advance(Duration::from_secs(50));
    let before = ep.calls();
    assert_eq!(decide(&a, "tok-short").await, [], "within exp + leeway");
    assert_eq!(ep.calls(), before);
    clock.advance(Duration::from_secs(21));
    assert_eq!(decide(&a, "tok-short").await, [Reason::TokenExpired]);
    assert_eq!(ep.calls(), before + 1);

    let stats = a.verifier().introspection_stats().unwrap();
    assert!(stats.cache_hits >= 8, "{stats:?}");
    assert_eq!(stats.failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_sync_answers_pending_then_decides_from_the_lookup() {
    let (ep, server) = endpoint().await;
    ep.set("tok-alice", active("alice"));
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = build(config(&server, json!({})), &clock);
    let d = a.authorize_sync(&Request::new("GET", "/orders").bearer("tok-alice"));
    assert_eq!(d.reasons, [Reason::IntrospectionPending]);
    let answer = HttpAnswer::new(&d, "orders");
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert_eq!(answer.header("www-authenticate"), None);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = decide_sync(&a, "tok-alice");
        if r.is_empty() {
            break;
        }
        assert_eq!(r, [Reason::IntrospectionPending]);
        assert!(
            Instant::now() < deadline,
            "the background lookup never landed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ep.calls(), 1, "the retries joined the one lookup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_with_one_new_token_make_one_call() {
    let (ep, server) = endpoint().await;
    ep.set("tok-alice", active("alice"));
    ep.delay_ms.store(300, Ordering::SeqCst);
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = build(config(&server, json!({})), &clock);
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                decide(&a, "tok-alice").await
            } else {
                decide_sync(&a, "tok-alice")
            }
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.unwrap();
        if i % 2 == 0 {
            assert_eq!(r, [], "every awaiting request is allowed");
        } else {
            assert!(r.is_empty() || r == [Reason::IntrospectionPending], "{r:?}");
        }
    }
    assert_eq!(ep.calls(), 1);
    let stats = a.verifier().introspection_stats().unwrap();
    assert_eq!(stats.calls, 1);
    assert!(stats.shared + stats.cache_hits >= 999, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_holds_under_a_storm_of_random_tokens() {
    let (ep, server) = endpoint().await;
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = build(
        config(&server, json!({"rate_per_s": 5, "burst": 10})),
        &clock,
    );
    ep.set("tok-alice", active("alice"));
    assert_eq!(decide(&a, "tok-alice").await, []);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..2000 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            decide(&a, &format!("storm-{i}")).await
        }));
    }
    let mut unavailable = 0;
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.len(), 1);
        assert!(
            r == [Reason::TokenInactive] || r == [Reason::IntrospectionUnavailable],
            "{r:?}"
        );
        unavailable += usize::from(r == [Reason::IntrospectionUnavailable]);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let allowed_calls = 10.0 + 5.0 * elapsed + 1.0;
    assert!(
        (ep.calls() as f64) <= allowed_calls,
        "{} calls in {elapsed:.2} s",
        ep.calls()
    );
    assert!(unavailable >= 1900, "{unavailable}");
    let stats = a.verifier().introspection_stats().unwrap();
    assert_eq!(stats.rate_limited as usize, unavailable);
    // The bucket is empty, and a cached token is still decided.
    assert_eq!(
        decide(&a, "yet-another-new-token").await,
        [Reason::IntrospectionUnavailable]
    );
    assert_eq!(decide(&a, "tok-alice").await, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_opens_the_breaker_and_cached_tokens_keep_working() {
    let (ep, server) = endpoint().await;
    ep.set("tok-alice", active("alice"));
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = build(
        config(
            &server,
            json!({"failure_threshold": 3, "open_s": 1, "ttl_s": 60}),
        ),
        &clock,
    );
    assert_eq!(decide(&a, "tok-alice").await, []);
    ep.mode(Mode::Status(503));
    for i in 0..3 {
        assert_eq!(
            decide(&a, &format!("new-{i}")).await,
            [Reason::IntrospectionUnavailable]
        );
    }
    assert_eq!(ep.calls(), 4);
    // Open: no call reaches the endpoint; new tokens are denied, the cached one still works.
    for i in 0..20 {
        assert_eq!(
            decide(&a, &format!("more-{i}")).await,
            [Reason::IntrospectionUnavailable]
        );
    }
    assert_eq!(decide(&a, "tok-alice").await, []);
    assert_eq!(ep.calls(), 4);
    let stats = a.status().introspection.unwrap();
    assert!(stats.circuit_open);
    assert_eq!((stats.failures, stats.circuit_refused), (3, 20));
    let prom = a.prometheus();
    assert!(prom.contains("zt_introspection_circuit_open 1"), "{prom}");
    assert!(prom.contains(r#"zt_introspection_calls_total{result="failed"} 3"#));
    assert!(prom.contains(r#"zt_introspection_lookups_total{result="circuit_open"} 20"#));
    assert_eq!(a.metrics().by_reason["introspection_unavailable"], 23);
    // Failures are not cached: once the endpoint is back and the breaker's trial succeeds,
    // the same tokens are decided.
    ep.mode(Mode::Table);
    ep.set("new-0", active("alice"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(decide(&a, "new-0").await, []);
    assert_eq!(decide(&a, "new-1").await, [Reason::TokenInactive]);
    assert!(!a.verifier().introspection_stats().unwrap().circuit_open);
    // ... and the cached active token expires after its ttl_s like any other.
    clock.advance(Duration::from_secs(61));
    ep.mode(Mode::Status(503));
    assert_eq!(
        decide(&a, "tok-alice").await,
        [Reason::IntrospectionUnavailable]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_is_bounded_by_timeout_ms() {
    let (ep, server) = endpoint().await;
    ep.set("tok-alice", active("alice"));
    ep.delay_ms.store(3000, Ordering::SeqCst);
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = build(config(&server, json!({"timeout_ms": 200})), &clock);
    let t0 = Instant::now();
    assert_eq!(
        decide(&a, "tok-alice").await,
        [Reason::IntrospectionUnavailable]
    );
    assert!(
        t0.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_are_denied_and_never_cached() {
    let (ep, server) = endpoint().await;
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = build(config(&server, json!({"failure_threshold": 1000})), &clock);
    let big = format!(r#"{{"active": true, "pad": "{}"}}"#, "x".repeat(100 * 1024));
    let answers = [
        Mode::Raw("not json".into()),
        Mode::Raw("[]".into()),
        Mode::Raw(r#"{"sub": "alice"}"#.into()),
        Mode::Raw(r#"{"active": "true", "sub": "alice"}"#.into()),
        Mode::Raw(r#"{"active": true, "active": false}"#.into()),
        Mode::Raw(big),
        Mode::Status(500),
        Mode::Status(401),
        Mode::Status(302),
    ];
    for (i, mode) in answers.into_iter().enumerate() {
        ep.mode(mode);
        let before = ep.calls();
        assert_eq!(
            decide(&a, "tok-x").await,
            [Reason::IntrospectionUnavailable],
            "answer {i}"
        );
        assert_eq!(ep.calls(), before + 1, "answer {i} was not cached");
    }
    // Tokens that are no b64token are refused without a call.
    let before = ep.calls();
    assert_eq!(decide(&a, "tok\u{7f}en").await, [Reason::TokenMalformed]);
    assert_eq!(ep.calls(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwts_still_verify_locally_and_dpop_bound_opaque_tokens_need_proofs() {
    let (ep, server) = endpoint().await;
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = build(config(&server, json!({})), &clock);
    let mut c = zt_testkit::claims(ISS);
    merge(&mut c, json!({"sub": "alice"}));
    let jwt = zt_testkit::mint("ec-p256", "ES256", &c);
    assert_eq!(decide(&a, &jwt).await, []);
    assert_eq!(ep.calls(), 0, "a JWT is never introspected");

    let jkt = zt_testkit::try_jkt("ec-p256").unwrap();
    let mut bound = active("alice");
    merge(
        &mut bound,
        json!({"cnf": {"jkt": jkt}, "token_type": "DPoP"}),
    );
    ep.set("tok-bound", bound);
    assert_eq!(decide(&a, "tok-bound").await, [Reason::DpopSchemeRequired]);
    let proof = zt_testkit::try_dpop_proof(
        "ec-p256",
        "ES256",
        "GET",
        "https://api.example.com/orders",
        Some("tok-bound"),
        NOW,
        "p-1",
    )
    .unwrap();
    let req = Request::new("GET", "/orders")
        .host("api.example.com")
        .dpop("tok-bound")
        .dpop_proof(&proof);
    let d = a.authorize(&req).await;
    assert!(d.is_allowed(), "{:?}", d.reasons);
    // A proof whose `ath` is another token's hash.
    let other = zt_testkit::try_dpop_proof(
        "ec-p256",
        "ES256",
        "GET",
        "https://api.example.com/orders",
        Some("tok-other"),
        NOW,
        "p-2",
    )
    .unwrap();
    let req = Request::new("GET", "/orders")
        .host("api.example.com")
        .dpop("tok-bound")
        .dpop_proof(&other);
    assert_eq!(a.authorize(&req).await.reasons, [Reason::DpopProofInvalid]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_signs_a_fresh_assertion_per_call() {
    let (ep, server) = endpoint().await;
    ep.set("tok-alice", active("alice"));
    let key_file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keys/ec-p256.pem");
    let cfg = config(
        &server,
        json!({"client_secret_env": null, "private_key_jwt": {
            "key_file": key_file, "algorithm": "ES256", "kid": "ec-p256"}}),
    );
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = build(cfg, &clock);
    assert_eq!(decide(&a, "tok-alice").await, []);
    let (auth, form) = ep.last.lock().unwrap().clone();
    assert_eq!(auth, None);
    assert_eq!(form["client_id"], "zt api");
    assert_eq!(
        form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    let payload = zt_core::internal::verify_jws_for_tests(
        &form["client_assertion"],
        Some(zt_testkit::jwks(&["ec-p256"]).to_string().as_bytes()),
        None,
    )
    .unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["iss"], "zt api");
    assert_eq!(claims["sub"], "zt api");
    assert_eq!(claims["aud"], ISS);
    assert_eq!(claims["exp"], NOW + 60);
    assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
}

#[test]
fn introspection_config_is_checked() {
    let base = || {
        json!({"issuer": ISS, "audiences": ["api"],
               "introspection": {"endpoint": "https://idp.example.com/introspect",
                                 "client_id": "api", "client_secret_env": "PATH"}})
    };
    let load = |issuers: Value| {
        AuthorizerConfig::from_json_str(&json!({ "issuers": issuers }).to_string())
    };
    // An opaque-only issuer needs no algorithms.
    load(json!([base()])).unwrap();
    let err = |issuers: Value| load(issuers).unwrap_err().to_string();
    let mut two = base();
    two["issuer"] = json!("https://other.example.com");
    assert!(err(json!([base(), two])).contains("at most one issuer"));
    let mut plain = base();
    plain["introspection"]["endpoint"] = json!("http://idp.example.com/introspect");
    assert!(err(json!([plain])).contains("https"));
    let mut both = base();
    both["introspection"]["private_key_jwt"] = json!({"key_file": "k.pem", "algorithm": "ES256"});
    assert!(err(json!([both])).contains("exactly one"));
    let mut neither = base();
    neither["introspection"]
        .as_object_mut()
        .unwrap()
        .remove("client_secret_env");
    assert!(err(json!([neither])).contains("exactly one"));
    let mut hmac = base();
    hmac["introspection"]["client_secret_env"] = Value::Null;
    hmac["introspection"]["private_key_jwt"] = json!({"key_file": "k.pem", "algorithm": "HS256"});
    assert!(err(json!([hmac])).contains("asymmetric"));
    let mut ttl = base();
    ttl["introspection"]["ttl_s"] = json!(0);
    assert!(err(json!([ttl])).contains("ttl_s"));
    let mut zero = base();
    zero["introspection"]["inactive_ttl_s"] = json!(0);
    assert!(err(json!([zero])).contains("inactive_ttl_s"));
    let mut creds = base();
    creds["introspection"]["endpoint"] = json!("https://rs:secret@idp.example.com/introspect");
    let e = err(json!([creds]));
    assert!(e.contains("credentials") && !e.contains("secret@"), "{e}");
    let mut no_alg = base();
    no_alg.as_object_mut().unwrap().remove("introspection");
    assert!(err(json!([no_alg])).contains("algorithm"));
    // Unknown keys are refused.
    let mut typo = base();
    typo["introspection"]["ttl"] = json!(5);
    assert!(err(json!([typo])).contains("ttl"));

    // A missing secret variable or key file is a build error naming the key, never a value.
    let secretless = json!({"issuers": [{"issuer": ISS, "audiences": ["api"],
        "introspection": {"endpoint": "https://idp.example.com/introspect", "client_id": "api",
                          "client_secret_env": "ZT_TEST_SURELY_UNSET_VARIABLE"}}]});
    let e = zt_core::TokenVerifier::new(
        &AuthorizerConfig::from_json_str(&secretless.to_string()).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("client_secret_env"), "{e}");
    let keyless = json!({"issuers": [{"issuer": ISS, "audiences": ["api"],
        "introspection": {"endpoint": "https://idp.example.com/introspect", "client_id": "api",
                          "private_key_jwt": {"key_file": "/nonexistent/k.pem", "algorithm": "ES256"}}}]});
    let e = zt_core::TokenVerifier::new(
        &AuthorizerConfig::from_json_str(&keyless.to_string()).unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("private_key_jwt.key_file"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_opaque_tokens_are_unavailable_not_pending() {
    let (ep, server) = endpoint().await;
    ep.set("tok-alice", active("alice"));
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = build(config(&server, json!({})), &clock);
    assert_eq!(decide(&a, "tok-alice").await, []);
    a.verifier().shutdown();
    assert_eq!(decide(&a, "tok-alice").await, [], "the cache still answers");
    assert_eq!(
        decide_sync(&a, "tok-new"),
        [Reason::IntrospectionUnavailable]
    );
    assert_eq!(
        decide(&a, "tok-new").await,
        [Reason::IntrospectionUnavailable]
    );
}

#[test]
fn authorize_awaits_introspection_from_an_executor_that_is_not_tokio() {
    // The bindings' async runtimes (asyncio, libuv) are not tokio: no tokio timer or context
    // may be needed on the awaiting side.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ep, server) = rt.block_on(endpoint());
    ep.set("tok-alice", active("alice"));
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = build(config(&server, json!({})), &clock);
    assert_eq!(futures::executor::block_on(decide(&a, "tok-alice")), []);
    assert_eq!(
        futures::executor::block_on(decide(&a, "tok-unknown")),
        [Reason::TokenInactive]
    );
    assert_eq!(ep.calls(), 2);
}

/// A clock that panics while `panic` is set (to kill introspection tasks mid-call).
#[derive(Debug)]
struct PanickyClock {
    clock: ManualClock,
    panic: std::sync::atomic::AtomicBool,
}

impl zt_core::Clock for PanickyClock {
    fn now_unix_ms(&self) -> u64 {
        if self.panic.load(Ordering::SeqCst) {
            panic!("injected clock failure");
        }
        self.clock.now_unix_ms()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_whose_task_dies_wedges_neither_the_token_nor_the_breaker() {
    let (ep, server) = endpoint().await;
    ep.set("tok-alice", active("alice"));
    let clock = Arc::new(PanickyClock {
        clock: ManualClock::at_unix(NOW),
        panic: false.into(),
    });
    // private_key_jwt reads the clock to sign the assertion: the task dies before the call.
    let key_file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keys/ec-p256.pem");
    let a = Authorizer::builder(config(
        &server,
        json!({"failure_threshold": 1, "open_s": 1, "client_secret_env": null,
               "private_key_jwt": {"key_file": key_file, "algorithm": "ES256"}}),
    ))
    .clock(clock.clone())
    .policy_files(vec![("p.rego".into(), POLICY.as_bytes().to_vec())])
    .build()
    .unwrap();
    // The task panics before its call: a deny, and the breaker opens.
    clock.panic.store(true, Ordering::SeqCst);
    assert_eq!(decide(&a, "tok-alice").await, [Reason::InternalError]);
    clock.panic.store(false, Ordering::SeqCst);
    assert!(a.verifier().introspection_stats().unwrap().circuit_open);
    assert_eq!(
        decide(&a, "tok-alice").await,
        [Reason::IntrospectionUnavailable]
    );
    // Half-open: the trial call's task dies too, and the circuit opens again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    clock.panic.store(true, Ordering::SeqCst);
    assert_eq!(decide(&a, "tok-alice").await, [Reason::InternalError]);
    clock.panic.store(false, Ordering::SeqCst);
    assert_eq!(
        decide(&a, "tok-alice").await,
        [Reason::IntrospectionUnavailable]
    );
    // The next trial succeeds: the token is decided, nothing was left in flight.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(decide(&a, "tok-alice").await, []);
    assert_eq!(ep.calls(), 1);
    let stats = a.verifier().introspection_stats().unwrap();
    assert_eq!((stats.calls, stats.successes, stats.failures), (3, 1, 2));
    assert!(!stats.circuit_open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_in_flight_at_shutdown_ends_as_unavailable() {
    let (ep, server) = endpoint().await;
    ep.set("tok-alice", active("alice"));
    ep.delay_ms.store(2000, Ordering::SeqCst);
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = build(config(&server, json!({})), &clock);
    assert_eq!(decide_sync(&a, "tok-alice"), [Reason::IntrospectionPending]);
    a.verifier().shutdown();
    assert_eq!(
        decide_sync(&a, "tok-alice"),
        [Reason::IntrospectionUnavailable]
    );
    let t0 = Instant::now();
    assert_eq!(
        decide(&a, "tok-alice").await,
        [Reason::IntrospectionUnavailable]
    );
    assert!(t0.elapsed() < Duration::from_millis(1500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_changes_keep_the_introspection_cache() {
    let (ep, server) = endpoint().await;
    ep.set("tok-alice", active("alice"));
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let a = build(config(&server, json!({})), &clock);
    assert_eq!(decide(&a, "tok-alice").await, []);
    a.revoke_subject(ISS, "mallory");
    assert_eq!(decide(&a, "tok-alice").await, []);
    assert_eq!(
        ep.calls(),
        1,
        "an unrelated revocation sent no token to the provider"
    );
    a.revoke_subject(ISS, "alice");
    assert_eq!(decide(&a, "tok-alice").await, [Reason::SubjectRevoked]);
    assert_eq!(ep.calls(), 1);
    // `clear_cache` does drop introspection results: the next decision asks again.
    a.verifier().clear_cache();
    assert_eq!(decide(&a, "tok-alice").await, [Reason::SubjectRevoked]);
    assert_eq!(ep.calls(), 2);
}
