//! The Tower layer's round trip without a network: an axum router called through
//! `tower::ServiceExt::oneshot`, with and without `ZtLayer` (cached token, sample bundle and a
//! one-line policy).

#![expect(clippy::expect_used, reason = "bench setup fails loudly")]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;
use tower::ServiceExt as _;
use zt_core::{Authorizer, AuthorizerConfig, ManualClock};
use zt_testkit::{AUD, ISS, NOW, jwk, mint, sample_bundle_dir};
use zt_tower::ZtLayer;

fn authorizer(policy: Option<&str>) -> Authorizer {
    let cfg = json!({
        "issuers": [{"issuer": ISS, "audiences": [AUD],
                     "algorithms": ["ES256"], "jwks": {"keys": [jwk("ec-p256")]}}],
        "policy": {"bundle": sample_bundle_dir()},
        "decision_log": {"sink": "none"},
    });
    let mut b =
        Authorizer::builder(AuthorizerConfig::from_json_str(&cfg.to_string()).expect("config"))
            .clock(Arc::new(ManualClock::at_unix(NOW)));
    if let Some(p) = policy {
        b = b.policy_files(vec![("p.rego".into(), p.as_bytes().to_vec())]);
    }
    b.build().expect("authorizer")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let token = mint(
        "ec-p256",
        jsonwebtoken::Algorithm::ES256,
        &json!({"iss": ISS, "sub": "u1", "aud": AUD, "iat": NOW,
                "exp": NOW + 900, "groups": ["dev"],
                "device": {"managed": true, "disk_encrypted": true, "jailbroken": false,
                           "patch_age_days": 1, "assessed_at": NOW - 10}}),
    );
    let routes = || Router::new().route("/orders/{id}", get(|| async { "ok" }));
    let apps = [
        ("no_layer", routes()),
        (
            "zt_layer_sample_bundle",
            routes().layer(ZtLayer::new(authorizer(None))),
        ),
        (
            "zt_layer_one_line_policy",
            routes().layer(ZtLayer::new(authorizer(Some(
                "package zt.authz\ndecision := true\n",
            )))),
        ),
    ];
    let mut g = c.benchmark_group("tower_round_trip");
    // The decision alone, same authorizer setup and token: the layer's own cost is
    // (zt_layer_one_line_policy - no_layer) - this.
    let one_line = authorizer(Some("package zt.authz\ndecision := true\n"));
    let zreq = zt_core::Request::new("GET", "/orders/42").bearer(&token);
    assert!(one_line.authorize_sync(&zreq).is_allowed());
    g.bench_function("authorize_sync_one_line_policy", |b| {
        b.iter(|| one_line.authorize_sync(black_box(&zreq)))
    });
    for (name, app) in apps {
        let req = || {
            axum::http::Request::get("/orders/42")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .expect("request")
        };
        let status = rt
            .block_on(app.clone().oneshot(req()))
            .expect("response")
            .status();
        assert_eq!(status, 200, "{name}");
        g.bench_function(name, |b| {
            b.iter(|| rt.block_on(app.clone().oneshot(black_box(req()))))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
