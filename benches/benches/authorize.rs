//! End to end: `Authorizer::authorize_sync` (token + posture + input + policy + enforcement +
//! metrics), with a token seen before (verified-token cache hit) and with new tokens (cache
//! off), next to the raw dependencies doing the same work: regorus's RVM alone on the same input
//! document, and jsonwebtoken `decode` plus that RVM evaluation. Also decision logging to a file
//! and throughput with one and two threads.

#![expect(clippy::expect_used, reason = "bench setup fails loudly")]
#![expect(clippy::indexing_slicing, reason = "in-range bench indices")]

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::Algorithm as JwtAlg;
use std::hint::black_box;
use std::sync::Arc;
use zt_benches::{Policy, authorizer, input_document, raw_decoding, raw_vm, request, tokens};
use zt_core::Request;

fn bench(c: &mut Criterion) {
    let rs = tokens(JwtAlg::RS256, 512);
    let es = tokens(JwtAlg::ES256, 512);
    let first = rs.first().expect("tokens");
    let log_dir = std::env::temp_dir().join(format!("zt-bench-log-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let log_path = log_dir.join("decisions.jsonl");

    let cached = authorizer(10_000, "none", Policy::Sample, None);
    let one_line = authorizer(10_000, "none", Policy::OneLine, None);
    let logged = authorizer(10_000, "file", Policy::Sample, Some(&log_path));
    let uncached = authorizer(0, "none", Policy::Sample, None);
    for a in [&cached, &one_line, &logged] {
        let d = a.authorize_sync(&request(first));
        assert!(d.is_allowed(), "{:?} {:?}", d.reasons, d.policy_reasons);
    }
    let raw_input = regorus::Value::from(input_document());

    let mut g = c.benchmark_group("authorize");
    for (name, authz) in [
        ("cached_token", &cached),
        ("cached_token_one_line_policy", &one_line),
        ("cached_token_file_log", &logged),
    ] {
        g.bench_function(name, |b| {
            let r = request(first);
            b.iter(|| authz.authorize_sync(black_box(&r)))
        });
    }
    for (name, policy) in [
        ("raw_rvm_sample_bundle", Policy::Sample),
        ("raw_rvm_one_line_policy", Policy::OneLine),
    ] {
        let mut vm = raw_vm(policy);
        g.bench_function(name, |b| {
            b.iter(|| {
                vm.set_input(black_box(raw_input.clone()));
                vm.execute()
            })
        });
    }
    for (name, tokens) in [("new_rs256_token", &rs), ("new_es256_token", &es)] {
        let requests: Vec<Request> = tokens.iter().map(|t| request(t)).collect();
        g.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % requests.len();
                uncached.authorize_sync(black_box(&requests[i]))
            })
        });
    }
    // New RS256 tokens with the one-line policy: against the signature check alone.
    let uncached_one_line = authorizer(0, "none", Policy::OneLine, None);
    let rs_requests: Vec<Request> = rs.iter().map(|t| request(t)).collect();
    g.bench_function("new_rs256_token_one_line_policy", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % rs_requests.len();
            uncached_one_line.authorize_sync(black_box(&rs_requests[i]))
        })
    });
    // The floor (DESIGN.md): the signature check with a key parsed once, the signature decoded
    // outside the timing; and that plus the raw RVM evaluation of the sample bundle.
    let check = zt_benches::parsed_key_check(JwtAlg::RS256, "rsa2048-a", b"");
    let signed: Vec<(String, Vec<u8>)> = rs
        .iter()
        .map(|t| {
            use base64::Engine as _;
            let (input, sig) = t.rsplit_once('.').expect("three parts");
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig)
                .expect("signature");
            assert!(check(input.as_bytes(), &sig), "the raw check verifies");
            (input.to_owned(), sig)
        })
        .collect();
    g.bench_function("raw_parsed_key_verify_rs256", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % signed.len();
            let (input, sig) = &signed[i];
            check(black_box(input.as_bytes()), black_box(sig))
        })
    });
    let mut vm = raw_vm(Policy::Sample);
    g.bench_function("raw_parsed_key_verify_plus_regorus_rs256", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % signed.len();
            let (input, sig) = &signed[i];
            let ok = check(black_box(input.as_bytes()), black_box(sig));
            vm.set_input(black_box(raw_input.clone()));
            (ok, vm.execute())
        })
    });
    // Raw dependencies on the same inputs: jsonwebtoken decode + regorus RVM evaluation.
    let mut vm = raw_vm(Policy::Sample);
    for (name, alg, tokens) in [
        ("raw_jsonwebtoken_plus_regorus_rs256", JwtAlg::RS256, &rs),
        ("raw_jsonwebtoken_plus_regorus_es256", JwtAlg::ES256, &es),
    ] {
        let (key, validation) = raw_decoding(alg);
        g.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % tokens.len();
                let t = jsonwebtoken::decode::<serde_json::Value>(&tokens[i], &key, &validation)
                    .expect("valid");
                vm.set_input(black_box(raw_input.clone()));
                (t, vm.execute())
            })
        });
    }
    g.finish();
    logged.flush();
    let log = logged.metrics().decision_log;
    println!(
        "file sink during the bench: enqueued {} written {} dropped {}",
        log.enqueued, log.written, log.dropped
    );
    drop(logged);
    let _ = std::fs::remove_dir_all(&log_dir);
}

/// Throughput with 1 and 2 threads sharing one authorizer (cached tokens, 512 subjects), and
/// regorus alone on the same thread counts as the control.
fn bench_threads(c: &mut Criterion) {
    let rs = tokens(JwtAlg::RS256, 512);
    let mut g = c.benchmark_group("authorize_threads");
    let shared = authorizer(10_000, "none", Policy::Sample, None);
    let requests: Arc<Vec<Request>> = Arc::new(rs.iter().map(|t| request(t)).collect());
    for r in requests.iter() {
        assert!(shared.authorize_sync(r).is_allowed());
    }
    for threads in [1usize, 2] {
        g.throughput(criterion::Throughput::Elements(1));
        g.bench_function(format!("{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(threads as u64);
                let start = std::time::Instant::now();
                std::thread::scope(|s| {
                    for t in 0..threads {
                        let (a, reqs) = (&shared, &requests);
                        s.spawn(move || {
                            for i in 0..per_thread as usize {
                                black_box(a.authorize_sync(&reqs[(i + t * 7) % reqs.len()]));
                            }
                        });
                    }
                });
                // `iters` decisions in this wall time: the reported time per iteration is
                // 1 / throughput.
                start.elapsed()
            })
        });
    }
    // Control: the same thread counts running regorus alone, one VM and one input document per
    // thread, nothing shared.
    // What this machine gives two threads of independent work bounds what zt can show.
    for threads in [1usize, 2] {
        g.throughput(criterion::Throughput::Elements(1));
        g.bench_function(format!("raw_rvm_{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(threads as u64);
                let mut vms: Vec<_> = (0..threads).map(|_| raw_vm(Policy::Sample)).collect();
                let start = std::time::Instant::now();
                std::thread::scope(|s| {
                    for vm in vms.iter_mut() {
                        // Each thread its own document: nothing shared between the threads.
                        let doc = regorus::Value::from(input_document());
                        s.spawn(move || {
                            for _ in 0..per_thread {
                                vm.set_input(doc.clone());
                                black_box(vm.execute().ok());
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

/// A DPoP-checked decision (RFC 9449: proof parse, ES256 verification with the embedded key,
/// claims, thumbprint, replay cache) against the same decision with a plain bearer token, and
/// the raw ES256 verification of the proof alone (issue 16).
fn bench_dpop(c: &mut Criterion) {
    use base64::Engine as _;
    use serde_json::json;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let authz = authorizer(10_000, "none", Policy::Sample, None);
    let mut jwk = zt_testkit::jwk("ec-p256");
    for k in ["kid", "alg", "use"] {
        jwk.as_object_mut().expect("object").remove(k);
    }
    let jkt = zt_core::jwk_thumbprint(jwk.as_object().expect("object")).expect("thumbprint");
    let mut claims = zt_benches::claims(1);
    claims["cnf"] = json!({"jkt": jkt});
    let bound = zt_testkit::mint("rsa2048-a", "RS256", &claims);
    let plain = tokens(JwtAlg::RS256, 1).remove(0);
    let ath = b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bound.as_bytes()).as_ref());
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}).to_string();
    let counter = std::cell::Cell::new(0u64);
    let proof = || {
        counter.set(counter.get() + 1);
        let body = json!({"jti": format!("bench-{}", counter.get()), "htm": "GET",
                          "htu": "https://api.example.com/orders/42", "iat": zt_testkit::NOW,
                          "ath": ath});
        zt_testkit::sign_raw(&header, &body.to_string(), "ec-p256", "ES256")
    };
    let dpop_request = |p: String| {
        Request::new("GET", "/orders/42")
            .host("api.example.com")
            .dpop(bound.clone())
            .dpop_proof(p)
    };
    let plain_request = Request::new("GET", "/orders/42")
        .host("api.example.com")
        .bearer(plain.clone());
    let d = authz.authorize_sync(&dpop_request(proof()));
    assert!(d.is_allowed(), "{:?}", d.reasons);
    assert!(authz.authorize_sync(&plain_request).is_allowed());
    let sample = proof();
    let (input, sig) = sample.rsplit_once('.').expect("jws");
    let x = jwk.get("x").and_then(serde_json::Value::as_str).expect("x");
    let y = jwk.get("y").and_then(serde_json::Value::as_str).expect("y");
    let key = jsonwebtoken::DecodingKey::from_ec_components(x, y).expect("key");

    let mut g = c.benchmark_group("authorize_dpop");
    g.bench_function("plain_bearer_cached_token", |b| {
        b.iter(|| authz.authorize_sync(black_box(&plain_request)))
    });
    g.bench_function("dpop_cached_token", |b| {
        b.iter_batched(
            || dpop_request(proof()),
            |r| authz.authorize_sync(&r),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("raw_es256_verify_of_the_proof", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::verify(sig, input.as_bytes(), &key, JwtAlg::ES256)
                .expect("verify")
        })
    });
    g.finish();
}

/// An opaque token decided from the introspection cache (RFC 7662: keyed hash of the token,
/// cache lookup, the claims checks once per call) against a cached JWT in the same authorizer,
/// the raw HMAC-SHA-256 of the token (the cache key's cost), and a new opaque token each time,
/// which makes one call to an introspection endpoint on 127.0.0.1 (issue 16).
fn bench_introspection(c: &mut Criterion) {
    use serde_json::json;
    // The endpoint: every token is active with the claims of subject 1.
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut answer = zt_benches::claims(1);
            answer["active"] = json!(true);
            answer["token_type"] = json!("Bearer");
            let body = answer.to_string();
            let app = axum::Router::new().route(
                "/introspect",
                axum::routing::post(move || {
                    let body = body.clone();
                    async move { ([("content-type", "application/json")], body) }
                }),
            );
            let served = zt_testkit::serve(app).await;
            port_tx.send(served.addr.port()).expect("port");
            std::future::pending::<()>().await;
        });
    });
    let port = port_rx.recv().expect("endpoint");
    let cfg = json!({
        "issuers": [{"issuer": zt_testkit::ISS, "audiences": [zt_testkit::AUD],
                     "algorithms": ["RS256"], "jwks": {"keys": [zt_testkit::jwk("rsa2048-a")]},
                     "introspection": {"endpoint": format!("http://127.0.0.1:{port}/introspect"),
                                       "client_id": "bench", "client_secret_env": "PATH",
                                       "ttl_s": 3600, "rate_per_s": 100000, "burst": 100000,
                                       "cache_entries": 10000000}}],
        "policy": {"bundle": zt_testkit::sample_bundle_dir()},
        "decision_log": {"sink": "none"},
    });
    let authz = zt_core::Authorizer::builder(
        zt_core::AuthorizerConfig::from_json_str(&cfg.to_string()).expect("config"),
    )
    .clock(Arc::new(zt_core::ManualClock::at_unix(zt_testkit::NOW)))
    .build()
    .expect("authorizer");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let jwt = tokens(JwtAlg::RS256, 2).remove(1);
    let opaque = "2YotnFZFEjr1zCsicMWpAA-bench-opaque-token";
    for t in [jwt.as_str(), opaque] {
        let d = rt.block_on(authz.authorize(&request(t)));
        assert!(d.is_allowed(), "{:?} {:?}", d.reasons, d.policy_reasons);
    }
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[7u8; 32]);

    let mut g = c.benchmark_group("authorize_introspection");
    g.bench_function("jwt_cached_token", |b| {
        let r = request(&jwt);
        b.iter(|| authz.authorize_sync(black_box(&r)))
    });
    g.bench_function("opaque_cached_token", |b| {
        let r = request(opaque);
        b.iter(|| authz.authorize_sync(black_box(&r)))
    });
    g.bench_function("raw_hmac_sha256_of_the_token", |b| {
        b.iter(|| aws_lc_rs::hmac::sign(&key, black_box(opaque.as_bytes())))
    });
    let counter = std::cell::Cell::new(0u64);
    g.bench_function("opaque_new_token_loopback_call", |b| {
        b.iter_batched(
            || {
                counter.set(counter.get() + 1);
                request(&format!("bench-new-opaque-{}", counter.get()))
            },
            |r| {
                let d = rt.block_on(authz.authorize(&r));
                assert!(d.is_allowed(), "{:?}", d.reasons);
                d
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// The shared DPoP replay store (issue 28): the same DPoP decision with the instance's cache
/// only and with `[dpop.replay_store]` on a real redis-server on 127.0.0.1 (sync and async
/// paths), next to the raw dependency: redis-rs's `SET NX PX` on a multiplexed connection.
fn bench_dpop_store(c: &mut Criterion) {
    use base64::Engine as _;
    use serde_json::json;
    let redis = zt_testkit::RedisServer::start(std::time::Duration::from_secs(3600))
        .expect("redis-server (installed by the test command)");
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let make = |store: Option<serde_json::Value>| {
        let mut cfg = json!({
            "issuers": [{"issuer": zt_testkit::ISS, "audiences": [zt_testkit::AUD],
                         "algorithms": ["RS256"], "jwks": {"keys": [zt_testkit::jwk("rsa2048-a")]}}],
            "policy": {"bundle": zt_testkit::sample_bundle_dir()},
            "decision_log": {"sink": "none"},
        });
        if let Some(s) = store {
            cfg["dpop"] = json!({"replay_store": s});
        }
        let cfg = zt_core::AuthorizerConfig::from_json_str(&cfg.to_string()).expect("config");
        zt_core::Authorizer::builder(cfg)
            .clock(Arc::new(zt_core::ManualClock::at_unix(zt_testkit::NOW)))
            .build()
            .expect("authorizer")
    };
    let local = make(None);
    let shared = make(Some(json!({"url": redis.url(), "prefix": "bench:"})));
    let jwk = zt_testkit::try_dpop_jwk("ec-p256").expect("jwk");
    let jkt = zt_core::jwk_thumbprint(jwk.as_object().expect("object")).expect("thumbprint");
    let mut claims = zt_benches::claims(1);
    claims["cnf"] = json!({"jkt": jkt});
    let bound = zt_testkit::mint("rsa2048-a", "RS256", &claims);
    let ath = b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bound.as_bytes()).as_ref());
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}).to_string();
    let counter = std::cell::Cell::new(0u64);
    let request = || {
        counter.set(counter.get() + 1);
        let body = json!({"jti": format!("store-{}", counter.get()), "htm": "GET",
                          "htu": "https://api.example.com/orders/42", "iat": zt_testkit::NOW,
                          "ath": ath});
        Request::new("GET", "/orders/42")
            .host("api.example.com")
            .dpop(bound.clone())
            .dpop_proof(zt_testkit::sign_raw(
                &header,
                &body.to_string(),
                "ec-p256",
                "ES256",
            ))
    };
    for a in [&local, &shared] {
        let d = a.authorize_sync(&request());
        assert!(d.is_allowed(), "{:?}", d.reasons);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut raw = rt
        .block_on(
            redis::Client::open(redis.url().as_str())
                .expect("client")
                .get_multiplexed_async_connection(),
        )
        .expect("connection");
    let keys = std::cell::Cell::new(0u64);

    let mut g = c.benchmark_group("authorize_dpop_store");
    g.bench_function("dpop_local_cache_only", |b| {
        b.iter_batched(
            request,
            |r| local.authorize_sync(&r),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("dpop_redis_store_sync", |b| {
        b.iter_batched(
            request,
            |r| shared.authorize_sync(&r),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("dpop_redis_store_async", |b| {
        b.iter_batched(
            request,
            |r| rt.block_on(shared.authorize(&r)),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("raw_redis_set_nx_px", |b| {
        b.iter(|| {
            keys.set(keys.get() + 1);
            let mut cmd = redis::cmd("SET");
            cmd.arg(format!("raw:{}", keys.get()))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(67_000);
            rt.block_on(cmd.query_async::<Option<String>>(&mut raw))
                .expect("SET")
        })
    });
    g.finish();
    let s = shared.status().dpop_replay_store.expect("store");
    assert_eq!(s.errors, 0, "{s:?}");
}

criterion_group!(
    benches,
    bench,
    bench_threads,
    bench_dpop,
    bench_dpop_store,
    bench_introspection
);
criterion_main!(benches);
