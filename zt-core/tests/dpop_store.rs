#![cfg(test)]
//! The shared DPoP replay store (`[dpop.replay_store]`) against a real `redis-server` on
//! 127.0.0.1: instances sharing one Redis refuse each other's replays, 1,000 concurrent uses of
//! one proof across two instances pass once, and a Redis that dies, hangs or comes back gets
//! the configured behaviour.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zt_core::{Authorizer, AuthorizerConfig, ManualClock, Reason, Request};
use zt_testkit::{
    ISS as IDP, NOW, RedisServer, claims, jwks, merge, mint, try_dpop_proof, try_jkt,
};

const URL: &str = "https://api.example.com/orders/7";
const LIFETIME: Duration = Duration::from_secs(240);

fn authz(store: Value) -> Authorizer {
    let doc = json!({
        "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["RS256"],
                     "jwks": jwks(&["rsa2048-a"])}],
        "dpop": {"replay_store": store},
        "decision_log": {"sink": "none"},
    });
    let policy = b"package zt.authz\nimport rego.v1\ndefault decision := false\ndecision if input.subject.confirmation.method == \"dpop\"\n";
    Authorizer::builder(AuthorizerConfig::from_json_str(&doc.to_string()).unwrap())
        .clock(Arc::new(ManualClock::at_unix(NOW)))
        .policy_files(vec![("p.rego".into(), policy.to_vec())])
        .build()
        .unwrap()
}

/// A store config on `redis` under a prefix of its own.
fn store(redis: &RedisServer, prefix: &str, extra: Value) -> Value {
    let mut s =
        json!({"url": redis.url(), "prefix": format!("zt:test:{prefix}:"), "timeout_ms": 500});
    merge(&mut s, extra);
    s
}

fn token() -> String {
    let mut c = claims(IDP);
    merge(&mut c, json!({"cnf": {"jkt": try_jkt("ec-p256").unwrap()}}));
    mint("rsa2048-a", "RS256", &c)
}

fn proof(token: &str, jti: &str) -> String {
    try_dpop_proof("ec-p256", "ES256", "GET", URL, Some(token), NOW, jti).unwrap()
}

fn request(token: &str, proof: &str) -> Request {
    Request::new("GET", "/orders/7")
        .host("api.example.com")
        .dpop(token)
        .dpop_proof(proof)
}

fn reasons(a: &Authorizer, token: &str, proof: &str) -> Vec<Reason> {
    a.authorize_sync(&request(token, proof)).reasons
}

fn redis() -> RedisServer {
    RedisServer::start(LIFETIME).expect("redis-server (the test command installs it)")
}

#[test]
fn instances_sharing_a_store_refuse_each_others_replays() {
    let redis = redis();
    let a = authz(store(&redis, "share", json!({})));
    let b = authz(store(&redis, "share", json!({})));
    let t = token();
    assert!(a.may_block(&request(&t, "x")));
    assert!(!a.may_block(&Request::new("GET", "/").bearer(&t)));

    // Used on A: refused by B, and by A again (its own cache answers first).
    let p = proof(&t, "one");
    assert_eq!(reasons(&a, &t, &p), []);
    assert_eq!(reasons(&b, &t, &p), [Reason::DpopReplayed]);
    assert_eq!(reasons(&a, &t, &p), [Reason::DpopReplayed]);
    // The other way round, and on the async path.
    let q = proof(&t, "two");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(rt.block_on(b.authorize(&request(&t, &q))).is_allowed());
    assert_eq!(
        rt.block_on(a.authorize(&request(&t, &q))).reasons,
        [Reason::DpopReplayed]
    );

    // The key is the prefix and the digest of the thumbprint and `jti`, with an expiry.
    let keys = redis.command(&["KEYS", "zt:test:share:*"]).unwrap();
    assert!(keys.starts_with("*2\r\n"), "{keys}");
    let key = keys.lines().nth(2).unwrap();
    assert_eq!(key.len(), "zt:test:share:".len() + 43, "{key}");
    assert!(!key.contains("one") && !key.contains("two"));
    let ttl: i64 = redis.command(&["PTTL", key]).unwrap()[1..]
        .trim()
        .parse()
        .unwrap();
    assert!((60_000..=67_000).contains(&ttl), "{ttl}");

    // A store under another prefix is another store.
    let c = authz(store(&redis, "other", json!({})));
    assert_eq!(reasons(&c, &t, &p), []);

    let s = a.status().dpop_replay_store.unwrap();
    assert!(s.up);
    assert_eq!((s.fresh, s.replayed, s.errors), (1, 1, 0));
    let prom = b.prometheus();
    assert!(prom.contains("zt_dpop_replay_store_calls_total{result=\"replayed\"} 1"));
    assert!(prom.contains("zt_dpop_replay_store_up{} 1"));
}

#[test]
fn a_thousand_concurrent_uses_across_two_instances_pass_once() {
    let redis = redis();
    let a = authz(store(&redis, "race", json!({})));
    let b = authz(store(&redis, "race", json!({})));
    let t = token();
    let p = proof(&t, "contested");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let allowed = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..1000 {
            let authz = if i % 2 == 0 { a.clone() } else { b.clone() };
            let r = request(&t, &p);
            // Half on the async path, half blocking (as the Python binding does).
            tasks.push(if i % 4 < 2 {
                tokio::spawn(async move { authz.authorize(&r).await })
            } else {
                tokio::task::spawn_blocking(move || authz.authorize_sync(&r))
            });
        }
        let mut allowed = 0;
        for task in tasks {
            let d = task.await.unwrap();
            if d.is_allowed() {
                allowed += 1;
            } else {
                assert_eq!(d.reasons, [Reason::DpopReplayed]);
            }
        }
        allowed
    });
    assert_eq!(allowed, 1);
    // Each instance's own cache stopped all but its first use: two calls reached Redis.
    let calls = |x: &Authorizer| {
        let s = x.status().dpop_replay_store.unwrap();
        s.fresh + s.replayed
    };
    assert_eq!(calls(&a) + calls(&b), 2);
}

/// Retry fresh proofs until one is allowed (the store pauses briefly after failures).
fn wait_until_allowed(a: &Authorizer, t: &str, tag: &str) -> Vec<Reason> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    loop {
        n += 1;
        let got = reasons(a, t, &proof(t, &format!("{tag}-{n}")));
        if got.is_empty() || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn redis_down_denies_by_default_and_recovers_when_it_returns() {
    let mut redis = redis();
    let a = authz(store(&redis, "down", json!({})));
    let b = authz(store(&redis, "down", json!({})));
    let t = token();
    assert_eq!(reasons(&a, &t, &proof(&t, "before")), []);

    redis.stop();
    let p = proof(&t, "during");
    assert_eq!(reasons(&a, &t, &p), [Reason::DpopReplayStoreUnavailable]);
    // The answer: 401 with a DPoP challenge, so a client retries with a new proof.
    let d = a.authorize_sync(&request(&t, &proof(&t, "during-2")));
    assert_eq!(d.reasons, [Reason::DpopReplayStoreUnavailable]);
    let answer = zt_core::HttpAnswer::new(&d, "zt");
    assert_eq!(answer.status, 401);
    let challenge = answer.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
    let s = a.status().dpop_replay_store.unwrap();
    assert!(!s.up);
    assert!(s.errors >= 1 && s.denied == 2, "{s:?}");
    assert!(s.last_error.is_some());
    assert!(
        a.status().ready,
        "a store outage does not take the instance out"
    );
    let prom = a.prometheus();
    assert!(prom.contains("zt_dpop_replay_store_up{} 0"), "{prom}");

    redis.restart().unwrap();
    assert_eq!(wait_until_allowed(&a, &t, "after-a"), []);
    assert_eq!(wait_until_allowed(&b, &t, "after-b"), []);
    assert!(a.status().dpop_replay_store.unwrap().up);
    // The proof refused during the outage stays spent on A.
    assert_eq!(reasons(&a, &t, &p), [Reason::DpopReplayed]);
}

#[test]
fn redis_down_with_on_error_local_falls_back_to_the_instance_cache() {
    let mut redis = redis();
    let a = authz(store(&redis, "local", json!({"on_error": "local"})));
    let t = token();
    redis.stop();
    let p = proof(&t, "alone");
    assert_eq!(reasons(&a, &t, &p), []);
    assert_eq!(reasons(&a, &t, &p), [Reason::DpopReplayed]);
    let s = a.status().dpop_replay_store.unwrap();
    assert_eq!(s.local_fallbacks, 1);
    assert_eq!(s.denied, 0);
    assert!(
        a.prometheus()
            .contains("zt_dpop_replay_store_unavailable_total{action=\"local\"} 1")
    );
    redis.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    while !a.status().dpop_replay_store.unwrap().up && Instant::now() < deadline {
        n += 1;
        let _ = reasons(&a, &t, &proof(&t, &format!("probe-{n}")));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(a.status().dpop_replay_store.unwrap().up);
}

#[test]
fn a_redis_that_never_answers_costs_at_most_the_timeout() {
    // A listener that accepts and reads but never replies.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let a = authz(json!({"url": format!("redis://127.0.0.1:{port}/0"), "timeout_ms": 50}));
    let t = token();
    let started = Instant::now();
    let d = a.authorize_sync(&request(&t, &proof(&t, "hang")));
    assert_eq!(d.reasons, [Reason::DpopReplayStoreUnavailable]);
    // Bounded (a hang check, not a timing assertion).
    assert!(started.elapsed() < Duration::from_secs(5));
    // Right after, the store is skipped rather than waited for.
    let d = a.authorize_sync(&request(&t, &proof(&t, "hang-2")));
    assert_eq!(d.reasons, [Reason::DpopReplayStoreUnavailable]);
    let s = a.status().dpop_replay_store.unwrap();
    assert_eq!(s.skipped, 1, "{s:?}");
}

#[test]
fn a_bad_store_config_is_a_typed_error() {
    let build = |store: Value| {
        let doc = json!({
            "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["RS256"],
                         "jwks": jwks(&["rsa2048-a"])}],
            "dpop": {"replay_store": store},
            "decision_log": {"sink": "none"},
        });
        match AuthorizerConfig::from_json_str(&doc.to_string()) {
            Err(e) => e.to_string(),
            Ok(c) => match Authorizer::builder(c)
                .policy_files(vec![(
                    "p.rego".into(),
                    b"package zt.authz\ndecision := true".to_vec(),
                )])
                .build()
            {
                Err(e) => e.to_string(),
                Ok(_) => "built".to_owned(),
            },
        }
    };
    let e = build(json!({"url": "rediss://127.0.0.1:6380/0"}));
    assert!(
        e.contains("dpop.replay_store.url") && e.contains("TLS"),
        "{e}"
    );
    let e = build(json!({"url": "redis://:hunter2@127.0.0.1:6379/0"}));
    assert!(e.contains("password_env") && !e.contains("hunter2"), "{e}");
    let e = build(json!({"url": "http://127.0.0.1:6379/"}));
    assert!(e.contains("dpop.replay_store.url"), "{e}");
    let e = build(json!({"url": "redis://127.0.0.1:6379/0", "prefix": "has space"}));
    assert!(e.contains("dpop.replay_store.prefix"), "{e}");
    let e = build(json!({"url": "redis://127.0.0.1:6379/0", "timeout_ms": 0}));
    assert!(e.contains("dpop.replay_store.timeout_ms"), "{e}");
    let e = build(json!({"url": "redis://127.0.0.1:6379/0", "on_error": "allow"}));
    assert!(e.contains("on_error"), "{e}");
    let e = build(
        json!({"url": "redis://127.0.0.1:6379/0", "password_env": "ZT_TEST_UNSET_REDIS_PASSWORD"}),
    );
    assert!(
        e.contains("dpop.replay_store") && e.contains("ZT_TEST_UNSET_REDIS_PASSWORD"),
        "{e}"
    );
    // A store that is down at start does not stop the build: it is tried per request.
    assert_eq!(build(json!({"url": "redis://127.0.0.1:9/0"})), "built");
}
