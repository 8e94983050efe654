#![cfg(test)]
//! zt-tower in front of a real tonic 0.14 server (the standard gRPC health service), called by
//! a real tonic client over loopback HTTP/2.

mod support;

use serde_json::json;
use std::time::Duration;
use support::*;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use zt_core::{Authorizer, AuthorizerConfig};
use zt_tower::ZtLayer;

const GRPC_POLICY: &str = r#"
package zt.authz
import rego.v1
decision := {"allow": input.subject.id == "alice"} if input.request.path == "/grpc.health.v1.Health/Check"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_service_allows_and_denies() {
    let jwks = jwks_server().await;
    let cfg = json!({
        "issuers": [{"issuer": ISS, "audiences": [AUD], "algorithms": ["ES256"], "jwks_uri": jwks.jwks_uri()}],
        "decision_log": {"sink": "none"},
    });
    let authz = Authorizer::builder(AuthorizerConfig::from_json_str(&cfg.to_string()).unwrap())
        .policy_files(vec![("p.rego".into(), GRPC_POLICY.as_bytes().to_vec())])
        .build()
        .unwrap();
    authz.verifier().ready().await.unwrap();

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(ZtLayer::new(authz))
            .add_service(health)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async {
                    let _ = tokio::time::timeout(Duration::from_secs(120), stopped).await;
                },
            ),
    );

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let call = |token: Option<String>| {
        let mut req = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        if let Some(t) = token {
            req.metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        req
    };

    let ok = client
        .check(call(Some(mint(ISS, json!({})))))
        .await
        .unwrap();
    assert_eq!(ok.into_inner().status, ServingStatus::Serving as i32);

    let denied = client
        .check(call(Some(mint(ISS, json!({"sub": "bob"})))))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    assert!(denied.message().contains("policy_denied"), "{denied:?}");

    let anonymous = client.check(call(None)).await.unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);

    let expired = mint(ISS, json!({"iat": now() - 7200, "exp": now() - 3600}));
    let rejected = client.check(call(Some(expired))).await.unwrap_err();
    assert_eq!(rejected.code(), tonic::Code::Unauthenticated);
    assert!(rejected.message().contains("token_expired"), "{rejected:?}");

    let _ = stop.send(());
    let _ = server.await;
}
