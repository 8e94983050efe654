//! Policy evaluation: zt's `PolicyStore::evaluate` on the sample bundle against regorus's own
//! compiled VM on the same program and input, building the input document, and how cost grows
//! with the number of rules.

#![expect(clippy::expect_used, reason = "bench setup fails loudly")]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;
use zt_benches::{Policy, RouteStyle, raw_regorus, route_input, route_table};
use zt_core::{
    Algorithm, AuthorizerConfig, DeviceInput, InputContext, IssuerConfig, ManualClock,
    PolicyConfig, PolicyInput, PolicyStore, RequestInfo, TokenVerifier,
};
use zt_testkit::{AUD, ISS, NOW, jwk, mint, sample_bundle_dir};

fn input_json() -> serde_json::Value {
    json!({
        "subject": {"id": "u1", "groups": ["dev"], "roles": [], "scopes": [], "amr": ["pwd"], "auth_time": NOW - 60},
        "request": {"method": "GET", "path": "/orders/42", "segments": ["orders", "42"]},
        "device": {"managed": true, "disk_encrypted": true, "jailbroken": false, "patch_age_days": 3,
                   "assessed_at": NOW - 60, "age_s": 60, "source": "claims"},
        "context": {"now": NOW}
    })
}

fn bench(c: &mut Criterion) {
    let store =
        PolicyStore::load(&sample_bundle_dir(), PolicyConfig::default()).expect("sample bundle");
    let input = zt_core::internal::policy_input_unverified(&input_json());
    assert!(store.evaluate(&input).result.expect("defined").allow);

    // Raw regorus: the same bundle compiled the same way, one VM reused.
    let (mut engine, compiled, mut vm) = raw_regorus(Policy::Sample);
    let raw_input = regorus::Value::from(input_json());

    let mut g = c.benchmark_group("policy_sample_bundle");
    g.bench_function("zt_evaluate", |b| {
        b.iter(|| store.evaluate(black_box(&input)))
    });
    g.bench_function("raw_regorus_rvm", |b| {
        b.iter(|| {
            vm.set_input(black_box(raw_input.clone()));
            vm.execute()
        })
    });
    g.bench_function("raw_regorus_engine_eval_rule", |b| {
        b.iter(|| {
            engine.set_input(black_box(raw_input.clone()));
            engine.eval_rule("data.zt.authz.decision".to_owned())
        })
    });
    g.bench_function("raw_regorus_compiled_policy", |b| {
        b.iter(|| compiled.eval_with_input(black_box(raw_input.clone())))
    });
    g.finish();

    // Building the input document from verified claims (subject cached per token).
    let mut issuer = IssuerConfig::new(ISS, [AUD], [Algorithm::RS256]);
    issuer.jwks = Some(json!({"keys": [jwk("rsa2048-a")]}));
    let verifier = TokenVerifier::with_clock(
        &AuthorizerConfig::new(vec![issuer]),
        Arc::new(ManualClock::at_unix(NOW)),
    )
    .expect("verifier");
    let token = mint(
        "rsa2048-a",
        jsonwebtoken::Algorithm::RS256,
        &json!({"iss": ISS, "sub": "u1", "aud": AUD, "iat": NOW,
                "exp": NOW + 900, "groups": ["dev"], "scope": "orders:read"}),
    );
    let claims = verifier.verify(&token).expect("valid");
    let request = RequestInfo::new("GET", "/orders/42");
    let mut device = DeviceInput::default();
    device.managed = true;
    device.disk_encrypted = Some(true);
    device.source = "claims".into();
    let ctx = InputContext::new(NOW, None);
    let resource = serde_json::Map::new();
    c.bench_function("input_build", |b| {
        b.iter(|| PolicyInput::build(&claims, &request, Some(&device), None, &resource, &ctx))
    });

    route_tables(c);
}

/// Route tables (issue 27): N `allow` definitions in each of OPA's documented styles, the
/// input matching the last route; zt with its rule index, zt without it, and regorus's own
/// RVM on the whole program (the raw dependency; it cannot hold 10,000 routes in one program).
fn route_tables(c: &mut Criterion) {
    for style in RouteStyle::ALL {
        let mut g = c.benchmark_group(format!("route_table_{}", style.name()));
        g.sample_size(30);
        g.measurement_time(std::time::Duration::from_secs(3));
        for n in [10usize, 1000, 10_000] {
            let files = route_table(style, n);
            let doc = route_input(style, n - 1);
            let input = zt_core::internal::policy_input_unverified(&doc);
            for indexing in [true, false] {
                let mut config = PolicyConfig::default();
                config.indexing = indexing;
                let Ok(store) = PolicyStore::from_files(files.clone(), config) else {
                    assert!(!indexing && n == 10_000, "route table {n} does not load");
                    continue;
                };
                assert!(store.evaluate(&input).result.expect("defined").allow);
                let id = if indexing {
                    "zt_indexed"
                } else {
                    "zt_unindexed"
                };
                g.bench_with_input(BenchmarkId::new(id, n), &input, |b, i| {
                    b.iter(|| store.evaluate(i))
                });
            }
            if n <= 1000 {
                let mut vm = zt_benches::raw_route_vm(&files);
                let raw_input = regorus::Value::from(doc.clone());
                g.bench_with_input(
                    BenchmarkId::new("raw_regorus_rvm", n),
                    &raw_input,
                    |b, i| {
                        b.iter(|| {
                            vm.set_input(black_box(i.clone()));
                            vm.execute()
                        })
                    },
                );
            }
        }
        g.finish();
    }
}

/// Every file of a bundle directory, as `(path inside the bundle, bytes)`.
fn bundle_files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("bundle dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p
                    .strip_prefix(dir)
                    .expect("inside")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((name, std::fs::read(&p).expect("file")));
            }
        }
    }
    out
}

/// Loading a bundle with and without its signature checked (issue 15), against the raw cost of
/// the check: SHA-256 of every file and one ES256 verification.
fn bench_signed_load(c: &mut Criterion) {
    let files = bundle_files(&sample_bundle_dir());
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let signed = zt_testkit::signed_bundle(&refs, "ec-p256", "ES256", "release");
    let signing = json!({"issuers": [{"issuer": ISS, "audiences": [AUD], "algorithms": ["ES256"],
                                      "jwks": {"keys": [jwk("ec-p256")]}}],
                         "policy": {"signing": {"keys": [{"keyid": "release", "algorithm": "ES256",
                                                           "jwk": jwk("ec-p256")}]}}});
    let signing = AuthorizerConfig::from_json_str(&signing.to_string())
        .expect("config")
        .policy;
    let sig_doc: serde_json::Value = serde_json::from_slice(
        &signed
            .iter()
            .find(|(n, _)| n == ".signatures.json")
            .expect("signature")
            .1,
    )
    .expect("json");
    let jws = sig_doc
        .pointer("/signatures/0")
        .and_then(serde_json::Value::as_str)
        .expect("jws")
        .to_owned();
    let (input, sig) = jws.rsplit_once('.').expect("jws");
    let key = jsonwebtoken::DecodingKey::from_ec_pem(zt_testkit::pem("ec-p256").as_bytes())
        .ok()
        .or_else(|| {
            let k = jwk("ec-p256");
            let part = |p: &str| {
                k.get(p)
                    .and_then(serde_json::Value::as_str)
                    .expect("coordinate")
            };
            jsonwebtoken::DecodingKey::from_ec_components(part("x"), part("y")).ok()
        })
        .expect("key");

    let mut g = c.benchmark_group("bundle_load_sample");
    g.sample_size(20);
    g.bench_function("zt_unsigned", |b| {
        b.iter(|| PolicyStore::from_files(files.clone(), PolicyConfig::default()).expect("load"))
    });
    g.bench_function("zt_signed", |b| {
        b.iter(|| PolicyStore::from_files(signed.clone(), signing.clone()).expect("load"))
    });
    g.bench_function("raw_sha256_files_and_es256_verify", |b| {
        b.iter(|| {
            for (_, bytes) in &files {
                black_box(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes));
            }
            jsonwebtoken::crypto::verify(
                sig,
                input.as_bytes(),
                &key,
                jsonwebtoken::Algorithm::ES256,
            )
            .expect("verify")
        })
    });
    g.finish();
}

criterion_group!(benches, bench, bench_signed_load);
criterion_main!(benches);
