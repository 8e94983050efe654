//! Key fetching against a real HTTP JWKS + discovery server on 127.0.0.1 (ephemeral port).

#![cfg(test)]

use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zt_core::{
    Algorithm, AuthorizerConfig, IssuerConfig, JwksError, ManualClock, Reason, TokenVerifier,
};
use zt_testkit::{JwksServer, NOW, jwks, mint, sign_raw};

fn claims_at(iss: &str, now: u64) -> Value {
    json!({"iss": iss, "sub": "alice", "aud": "api", "iat": now, "exp": now + 600})
}

enum Src {
    Discovery,
    Uri,
}

fn config(
    server: &JwksServer,
    src: Src,
    edit: impl FnOnce(&mut AuthorizerConfig),
) -> AuthorizerConfig {
    let mut issuer = IssuerConfig::new(
        server.base.clone(),
        ["api"],
        [Algorithm::RS256, Algorithm::ES256],
    );
    match src {
        Src::Discovery => issuer.discovery = true,
        Src::Uri => issuer.jwks_uri = Some(server.jwks_uri()),
    }
    let mut c = AuthorizerConfig::new(vec![issuer]);
    edit(&mut c);
    c
}

async fn eventually(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_then_rotation() {
    let server = JwksServer::start(&jwks(&["rsa2048-a"])).await;
    let clock = ManualClock::at_unix(NOW);
    let v = TokenVerifier::with_clock(
        &config(&server, Src::Discovery, |_| {}),
        Arc::new(clock.clone()),
    )
    .unwrap();
    v.ready().await.unwrap();
    assert_eq!((server.discovery_hits(), server.jwks_hits()), (1, 1));
    let iss = server.base.clone();
    let old = mint("rsa2048-a", "RS256", &claims_at(&iss, NOW));
    v.verify(&old).unwrap();

    // Rotation: the issuer publishes a new kid and retires the old one.
    server.set_jwks(&jwks(&["rsa2048-b"]));
    let new = mint("rsa2048-b", "RS256", &claims_at(&iss, NOW));
    // The synchronous path never waits: unknown kid now, fetch in the background.
    assert_eq!(v.verify(&new).unwrap_err().reason(), Reason::UnknownKey);
    eventually("background refetch", || {
        v.jwks_status(&iss).unwrap().key_ids == ["rsa2048-b"]
    })
    .await;
    v.verify(&new).unwrap();
    // The discovered jwks_uri is reused; discovery is not fetched again.
    assert_eq!((server.discovery_hits(), server.jwks_hits()), (1, 2));
    // The retired key no longer verifies, even though its token was cached.
    assert_eq!(
        v.verify_async(&old).await.unwrap_err().reason(),
        Reason::UnknownKey
    );
    assert_eq!(
        server.jwks_hits(),
        2,
        "cooldown: no refetch for the retired kid"
    );

    // A later rotation with the async path: one awaited refetch once the cooldown has passed.
    clock.advance(Duration::from_secs(31));
    server.set_jwks(&jwks(&["rsa2048-b", "ec-p256"]));
    let ec = mint("ec-p256", "ES256", &claims_at(&iss, NOW + 31));
    v.verify_async(&ec).await.unwrap();
    assert_eq!(server.jwks_hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_down_serves_stale_keys_until_max_stale() {
    let server = JwksServer::start(&jwks(&["rsa2048-a"])).await;
    let iss = server.base.clone();
    let clock = ManualClock::at_unix(NOW);
    let cfg = config(&server, Src::Uri, |c| {
        c.jwks.ttl_s = 600;
        c.jwks.max_stale_s = 3600;
        c.jwks.timeout_ms = 500;
    });
    let v = TokenVerifier::with_clock(&cfg, Arc::new(clock.clone())).unwrap();
    v.ready().await.unwrap();
    drop(server); // the issuer goes down: connections are refused from now on
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Past the TTL: the lookup starts a refresh that fails; cached keys keep working.
    clock.set_unix(NOW + 700);
    v.verify(&mint("rsa2048-a", "RS256", &claims_at(&iss, NOW + 700)))
        .unwrap();
    eventually("failed refresh", || {
        v.jwks_status(&iss).unwrap().last_error.is_some()
    })
    .await;
    assert!(matches!(
        v.jwks_status(&iss).unwrap().last_error,
        Some(JwksError::Request { .. })
    ));
    clock.set_unix(NOW + 600 + 3600);
    v.verify(&mint("rsa2048-a", "RS256", &claims_at(&iss, NOW + 4200)))
        .unwrap();

    // Past ttl + max_stale: fail closed.
    clock.set_unix(NOW + 600 + 3601);
    let late = mint("rsa2048-a", "RS256", &claims_at(&iss, NOW + 4201));
    assert_eq!(
        v.verify(&late).unwrap_err().reason(),
        Reason::JwksUnavailable
    );
    assert_eq!(
        v.verify_async(&late).await.unwrap_err().reason(),
        Reason::JwksUnavailable
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_storm_fetches_once_per_cooldown() {
    let server = JwksServer::start(&jwks(&["rsa2048-a"])).await;
    let iss = server.base.clone();
    let clock = ManualClock::at_unix(NOW);
    let v = TokenVerifier::with_clock(&config(&server, Src::Uri, |_| {}), Arc::new(clock.clone()))
        .unwrap();
    v.ready().await.unwrap();
    assert_eq!(server.jwks_hits(), 1);
    // Slow responses widen the window in which callers pile up on the in-flight fetch.
    server.set_delay(Duration::from_millis(200));

    for round in 0..2u64 {
        let now = NOW + round * 31;
        clock.set_unix(now);
        let mut tasks = Vec::new();
        for i in 0..1000u64 {
            let v = v.clone();
            let header = json!({"alg": "RS256", "kid": format!("random-{round}-{i}-{}", i.wrapping_mul(2654435761))});
            let token = sign_raw(
                &header.to_string(),
                &claims_at(&iss, now).to_string(),
                "rsa2048-b",
                "RS256",
            );
            tasks.push(tokio::spawn(async move {
                v.verify_async(&token).await.map_err(|e| e.reason())
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err(), Reason::UnknownKey);
        }
        assert_eq!(
            server.jwks_hits(),
            2 + round,
            "round {round}: one fetch per cooldown"
        );
    }
    // Valid tokens keep verifying throughout.
    v.verify(&mint("rsa2048-a", "RS256", &claims_at(&iss, NOW + 31)))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_server_times_out() {
    let server = JwksServer::start(&jwks(&["rsa2048-a"])).await;
    server.set_delay(Duration::from_secs(5));
    let cfg = config(&server, Src::Uri, |c| c.jwks.timeout_ms = 300);
    let v = TokenVerifier::with_clock(&cfg, Arc::new(ManualClock::at_unix(NOW))).unwrap();
    let start = Instant::now();
    let err = v.ready().await.unwrap_err();
    assert!(
        matches!(
            err,
            JwksError::Timeout {
                timeout_ms: 300,
                ..
            }
        ),
        "{err:?}"
    );
    // Bounded by the configured timeout (with scheduling slack), far below the server's delay.
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let token = mint("rsa2048-a", "RS256", &claims_at(&server.base, NOW));
    assert_eq!(
        v.verify_async(&token).await.unwrap_err().reason(),
        Reason::JwksUnavailable
    );
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_set_responses_keep_old_keys() {
    let server = JwksServer::start(&jwks(&["rsa2048-a"])).await;
    let iss = server.base.clone();
    let clock = ManualClock::at_unix(NOW);
    let cfg = config(&server, Src::Uri, |c| c.jwks.max_response_bytes = 16 * 1024);
    let v = TokenVerifier::with_clock(&cfg, Arc::new(clock.clone())).unwrap();
    v.ready().await.unwrap();

    let mut private = zt_testkit::jwk("rsa2048-b");
    private["d"] = json!("AQAB");
    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>, fn(&JwksError) -> bool);
    let cases: Vec<Case> = vec![
        (
            "oversized",
            Box::new(|| {
                server.set_jwks_raw(format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(20_000)))
            }),
            |e| matches!(e, JwksError::TooLarge { limit: 16384, .. }),
        ),
        (
            "not json",
            Box::new(|| server.set_jwks_raw("{not json".into())),
            |e| matches!(e, JwksError::Malformed { .. }),
        ),
        (
            "duplicate members",
            Box::new(|| server.set_jwks_raw(r#"{"keys":[],"keys":[]}"#.into())),
            |e| matches!(e, JwksError::Malformed { .. }),
        ),
        (
            "only private keys",
            Box::new(|| server.set_jwks(&json!({"keys": [private.clone()]}))),
            |e| matches!(e, JwksError::NoUsableKeys { .. }),
        ),
        (
            "server error",
            Box::new(|| {
                server.set_jwks(&jwks(&["rsa2048-b"]));
                server.set_status(StatusCode::SERVICE_UNAVAILABLE)
            }),
            |e| matches!(e, JwksError::Status { status: 503, .. }),
        ),
    ];
    for (round, (name, set_up, expected)) in cases.into_iter().enumerate() {
        let now = NOW + (round as u64 + 1) * 31;
        clock.set_unix(now);
        set_up();
        let unknown = mint("rsa2048-b", "RS256", &claims_at(&iss, now));
        assert_eq!(
            v.verify_async(&unknown).await.unwrap_err().reason(),
            Reason::UnknownKey,
            "{name}"
        );
        let status = v.jwks_status(&iss).unwrap();
        let err = status.last_error.expect(name);
        assert!(expected(&err), "{name}: {err:?}");
        assert!(
            !err.to_string().contains("xxxx"),
            "{name}: error echoes the document"
        );
        assert_eq!(status.key_ids, ["rsa2048-a"], "{name}: old keys kept");
        v.verify(&mint("rsa2048-a", "RS256", &claims_at(&iss, now)))
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_max_age_within_bounds() {
    for (header, expect_refresh_after) in [("max-age=120", 91), ("max-age=5", 46), ("no-store", 46)]
    {
        let server = JwksServer::start(&jwks(&["rsa2048-a"])).await;
        server.set_cache_control(Some(header));
        let clock = ManualClock::at_unix(NOW);
        let cfg = config(&server, Src::Uri, |c| c.jwks.min_ttl_s = 60);
        let v = TokenVerifier::with_clock(&cfg, Arc::new(clock.clone())).unwrap();
        v.ready().await.unwrap();
        let iss = server.base.clone();
        // Just before three quarters of the effective TTL: no refresh.
        clock.set_unix(NOW + expect_refresh_after - 2);
        v.verify(&mint(
            "rsa2048-a",
            "RS256",
            &claims_at(&iss, NOW + expect_refresh_after - 2),
        ))
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(server.jwks_hits(), 1, "{header}: refreshed too early");
        // Past it: a background refresh, while the request is served from the cached keys.
        clock.set_unix(NOW + expect_refresh_after);
        v.verify(&mint(
            "rsa2048-a",
            "RS256",
            &claims_at(&iss, NOW + expect_refresh_after),
        ))
        .unwrap();
        eventually("refresh ahead", || server.jwks_hits() == 2).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_issuer_must_match() {
    let server = JwksServer::start(&jwks(&["rsa2048-a"])).await;
    server.set_issuer("https://evil.example.com");
    let v = TokenVerifier::with_clock(
        &config(&server, Src::Discovery, |_| {}),
        Arc::new(ManualClock::at_unix(NOW)),
    )
    .unwrap();
    let err = v.ready().await.unwrap_err();
    assert!(matches!(err, JwksError::IssuerMismatch { .. }), "{err:?}");
    assert_eq!(
        server.jwks_hits(),
        0,
        "keys are not fetched from an unverified discovery document"
    );
    let token = mint("rsa2048-a", "RS256", &claims_at(&server.base, NOW));
    assert_eq!(
        v.verify(&token).unwrap_err().reason(),
        Reason::JwksUnavailable
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jku_and_x5u_headers_are_never_fetched() {
    let server = JwksServer::start(&jwks(&["rsa2048-a"])).await;
    let attacker = JwksServer::start(&jwks(&["rsa2048-b"])).await;
    let v = TokenVerifier::with_clock(
        &config(&server, Src::Uri, |_| {}),
        Arc::new(ManualClock::at_unix(NOW)),
    )
    .unwrap();
    v.ready().await.unwrap();
    for header in [
        json!({"alg": "RS256", "kid": "rsa2048-b", "jku": attacker.jwks_uri()}),
        json!({"alg": "RS256", "kid": "rsa2048-a", "jku": attacker.jwks_uri()}),
        json!({"alg": "RS256", "kid": "rsa2048-b", "x5u": format!("{}/cert.pem", attacker.base)}),
    ] {
        let token = sign_raw(
            &header.to_string(),
            &claims_at(&server.base, NOW).to_string(),
            "rsa2048-b",
            "RS256",
        );
        let err = v.verify_async(&token).await.unwrap_err();
        assert!(
            matches!(
                err.reason(),
                Reason::UnknownKey | Reason::TokenSignatureInvalid
            ),
            "{err:?}"
        );
    }
    assert_eq!(
        attacker.jwks_hits() + attacker.discovery_hits() + attacker.other_hits(),
        0,
        "no fetch from token headers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_from_plain_synchronous_code() {
    let server = JwksServer::start(&jwks(&["ec-p256"])).await;
    let cfg = config(&server, Src::Discovery, |_| {});
    let iss = server.base.clone();
    // A thread with no async runtime of its own builds, waits, verifies and drops the verifier.
    tokio::task::spawn_blocking(move || {
        let v = TokenVerifier::with_clock(&cfg, Arc::new(ManualClock::at_unix(NOW))).unwrap();
        v.ready_blocking().unwrap();
        v.verify(&mint("ec-p256", "ES256", &claims_at(&iss, NOW)))
            .unwrap();
        let v2 = v.clone();
        drop(v);
        std::thread::spawn(move || {
            v2.verify(&mint("ec-p256", "ES256", &claims_at(&iss, NOW)))
                .map(|_| ())
        })
        .join()
        .unwrap()
        .unwrap();
    })
    .await
    .unwrap();
}
