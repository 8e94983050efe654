//! End to end: `Authorizer::authorize_sync` (token + posture + input + policy + enforcement +
//! metrics), with a token seen before (verified-token cache hit) and with new tokens (cache
//! off), next to the raw dependencies doing the same work: jsonwebtoken `decode` plus a raw
//! regorus RVM evaluation of the sample bundle on the same input.

#![expect(clippy::expect_used, reason = "bench setup fails loudly")]
#![expect(
    clippy::indexing_slicing,
    reason = "fixture JSON and in-range bench indices"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm as JwtAlg, DecodingKey, Validation};
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;
use zt_core::{Authorizer, AuthorizerConfig, ManualClock, Request};
use zt_testkit::{AUD, ISS, NOW, jwk, mint, sample_bundle_dir};

fn authorizer(cache_entries: u64, sink: &str) -> Authorizer {
    let cfg = json!({
        "issuers": [{"issuer": ISS, "audiences": [AUD],
                     "algorithms": ["RS256", "ES256"],
                     "jwks": {"keys": [jwk("rsa2048-a"), jwk("ec-p256")]}}],
        "token": {"cache_entries": cache_entries},
        "policy": {"bundle": sample_bundle_dir()},
        "decision_log": {"sink": sink},
    });
    let cfg = AuthorizerConfig::from_json_str(&cfg.to_string()).expect("config");
    let mut b = Authorizer::builder(cfg).clock(Arc::new(ManualClock::at_unix(NOW)));
    if sink == "callback" {
        b = b.log_callback(|line| {
            black_box(line);
        });
    }
    b.build().expect("authorizer")
}

fn claims(i: usize) -> serde_json::Value {
    json!({
        "iss": ISS, "sub": format!("user-{i}"), "aud": AUD,
        "iat": NOW, "exp": NOW + 900, "groups": ["dev"], "scope": "orders:read",
        "device": {"id": "d1", "managed": true, "disk_encrypted": true, "jailbroken": false,
                   "patch_age_days": 3, "assessed_at": NOW - 60},
    })
}

fn request(token: &str) -> Request {
    Request::new("GET", "/orders/42").bearer(token)
}

fn bench(c: &mut Criterion) {
    let rs: Vec<String> = (0..512)
        .map(|i| mint("rsa2048-a", JwtAlg::RS256, &claims(i)))
        .collect();
    let es: Vec<String> = (0..512)
        .map(|i| mint("ec-p256", JwtAlg::ES256, &claims(i)))
        .collect();

    let cached = authorizer(10_000, "none");
    let logged = authorizer(10_000, "callback");
    let uncached = authorizer(0, "none");
    let first = rs.first().expect("tokens");
    let d = cached.authorize_sync(&request(first));
    assert!(d.is_allowed(), "{:?} {:?}", d.reasons, d.policy_reasons);

    let mut g = c.benchmark_group("authorize");
    g.bench_function("cached_token", |b| {
        let r = request(first);
        b.iter(|| cached.authorize_sync(black_box(&r)))
    });
    g.bench_function("cached_token_with_decision_log", |b| {
        let r = request(first);
        b.iter(|| logged.authorize_sync(black_box(&r)))
    });
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

    // Raw dependencies on the same inputs: jsonwebtoken decode + regorus RVM evaluation.
    let mut engine = regorus::Engine::new();
    engine
        .add_policy_from_file(sample_bundle_dir().join("zt/authz.rego"))
        .expect("policy");
    let data =
        std::fs::read_to_string(sample_bundle_dir().join("zt/config/data.json")).expect("data");
    engine
        .add_data(
            regorus::Value::from_json_str(&format!(r#"{{"zt": {{"config": {data}}}}}"#))
                .expect("json"),
        )
        .expect("data");
    let entry: regorus::Rc<str> = "data.zt.authz.decision".into();
    let compiled = engine.compile_with_entrypoint(&entry).expect("compile");
    let program = regorus::languages::rego::compiler::Compiler::compile_from_policy(
        &compiled,
        &["data.zt.authz.decision"],
    )
    .expect("rvm");
    let mut vm = regorus::rvm::RegoVM::new();
    vm.load_program(program);
    vm.set_data(engine.get_data()).expect("data");
    let input = json!({
        "subject": {"id": "user-1", "issuer": ISS, "audience": [AUD],
                    "groups": ["dev"], "roles": [], "scopes": ["orders:read"], "acr": null,
                    "amr": [], "auth_time": null, "claims": claims(1)},
        "request": {"method": "GET", "path": "/orders/42", "segments": ["orders", "42"],
                    "host": null, "headers": {}, "source_ip": null},
        "device": {"id": "d1", "managed": true, "os": null, "os_version": null,
                   "patch_age_days": 3, "disk_encrypted": true, "firewall_enabled": null,
                   "edr_running": null, "screen_lock_enabled": null, "jailbroken": false,
                   "assessed_at": NOW - 60, "age_s": 60, "source": "claims", "extra": {}},
        "workload": {"spiffe_id": null}, "resource": {},
        "context": {"now": NOW, "service": null},
    });
    let raw_input = regorus::Value::from(input);
    let (rj, ej) = (jwk("rsa2048-a"), jwk("ec-p256"));
    let rsa_key = DecodingKey::from_rsa_components(
        rj["n"].as_str().expect("n"),
        rj["e"].as_str().expect("e"),
    );
    let ec_key =
        DecodingKey::from_ec_components(ej["x"].as_str().expect("x"), ej["y"].as_str().expect("y"));
    for (name, key, alg, tokens) in [
        (
            "raw_jsonwebtoken_plus_regorus_rs256",
            rsa_key,
            JwtAlg::RS256,
            &rs,
        ),
        (
            "raw_jsonwebtoken_plus_regorus_es256",
            ec_key,
            JwtAlg::ES256,
            &es,
        ),
    ] {
        let key = key.expect("decoding key");
        let mut validation = Validation::new(alg);
        validation.set_audience(&[AUD]);
        validation.set_issuer(&[ISS]);
        validation.validate_exp = false;
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

    // Throughput with 1 and 2 threads sharing one authorizer (cached tokens, 512 subjects).
    let mut g = c.benchmark_group("authorize_threads");
    let shared = authorizer(10_000, "none");
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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
