//! `Zt` used directly, like tower-http's services: constructors, accessors, and a malformed
//! `Authorization` header decided (counted and logged) by the authorizer.

#![cfg(test)]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use std::sync::{Arc, Mutex};
use tower::Service as _;
use zt_core::{Authorizer, AuthorizerConfig};
use zt_tower::Zt;

fn authorizer(records: Arc<Mutex<Vec<String>>>) -> Authorizer {
    let jwk: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../zt-core/tests/data/keys/ec-p256.jwk.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let config = AuthorizerConfig::from_value(serde_json::json!({
        "issuers": [{"issuer": "https://idp.example.com", "audiences": ["api"],
                     "algorithms": ["ES256"], "jwks": {"keys": [jwk]}}],
        "decision_log": {"sink": "callback"},
    }))
    .unwrap();
    Authorizer::builder(config)
        .policy_files(vec![(
            "a.rego".into(),
            b"package zt.authz\ndecision := true".to_vec(),
        )])
        .log_callback(move |line| records.lock().unwrap().push(line.to_owned()))
        .build()
        .unwrap()
}

async fn call(
    svc: &mut Zt<Router>,
    req: http::Request<Body>,
) -> http::Response<zt_tower::ZtBody<Body>> {
    futures::future::poll_fn(|cx| {
        <Zt<Router> as tower::Service<http::Request<Body>>>::poll_ready(svc, cx)
    })
    .await
    .unwrap();
    svc.call(req).await.unwrap()
}

#[tokio::test]
async fn zt_new_accessors_and_malformed_headers_are_decided() {
    let records = Arc::new(Mutex::new(Vec::new()));
    let authz = authorizer(records.clone());
    let app = Router::new().route("/", get(|| async { "ok" }));
    let mut svc = Zt::new(app, authz.clone());
    let _: &Router = svc.get_ref();
    let _: &mut Router = svc.get_mut();

    let req = http::Request::builder()
        .uri("/")
        .header("authorization", "Bearer a.b.c")
        .header("authorization", "Bearer a.b.c")
        .body(Body::empty())
        .unwrap();
    let resp = call(&mut svc, req).await;
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("error=\"invalid_request\""),
        "{challenge}"
    );
    let id = resp.headers()[zt_tower::DECISION_ID_HEADER]
        .to_str()
        .unwrap()
        .to_owned();

    authz.flush();
    let m = authz.metrics();
    assert_eq!(m.decisions, 1);
    assert_eq!(m.by_reason.get("authorization_malformed"), Some(&1));
    let logged = records.lock().unwrap().clone();
    assert_eq!(logged.len(), 1);
    let record: serde_json::Value = serde_json::from_str(&logged[0]).unwrap();
    assert_eq!(record["decision_id"], id.as_str());
    assert_eq!(
        record["reasons"],
        serde_json::json!(["authorization_malformed"])
    );

    // `Zt::layer` is a working layer (the realm and everything else at their defaults), and
    // `into_inner` hands back a router that still serves.
    let layer: zt_tower::ZtLayer = Zt::<Router>::layer(authz);
    let mut wrapped = tower::Layer::layer(&layer, svc.into_inner());
    let resp = call(
        &mut wrapped,
        http::Request::builder()
            .uri("/")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"zt\""
    );
    let mut bare = wrapped.into_inner();
    let resp = <Router as tower::Service<http::Request<Body>>>::call(
        &mut bare,
        http::Request::builder()
            .uri("/")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
}
