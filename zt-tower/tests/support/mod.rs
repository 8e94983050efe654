//! zt-tower's own helpers over zt-testkit (keys, minting, the loopback servers, re-exported
//! here): the orders policy, an authorizer, the protected axum app, and a token shaped for it.
#![allow(
    dead_code,
    reason = "each test crate uses a different subset; `expect` would fail in the others"
)]

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};
use zt_core::{Authorizer, AuthorizerConfig};
pub use zt_testkit::*;
use zt_tower::{ZtClaims, ZtLayer};

pub const POLICY: &str = r#"
package zt.authz
import rego.v1

decision := {"allow": true, "obligations": {
    "request_headers": {"x-zt-subject": input.subject.id},
    "response_headers": {"x-policy": "read"}}} if {
	input.request.method == "GET"
	startswith(input.request.path, "/orders")
}
decision := {"allow": false, "reasons": ["insufficient_scope"]} if {
	input.request.method == "POST"
	startswith(input.request.path, "/orders")
	not "orders:write" in input.subject.scopes
}
decision := {"allow": true} if {
	input.request.method == "POST"
	startswith(input.request.path, "/orders")
	"orders:write" in input.subject.scopes
}
decision := {"allow": false, "step_up": {"acr_values": "urn:zt:acr:mfa", "max_age": 300}} if {
	startswith(input.request.path, "/admin")
}
decision := {"allow": false, "reasons": ["forbidden_path"]} if startswith(input.request.path, "/secret")
decision := {"allow": input.request.headers["x-tenant"] == "acme"} if input.request.path == "/tenant"
"#;

/// A token for `iss` on the real clock, signed by `ec-p256` (ES256): subject `alice`, audience
/// [`AUD`], scope `orders:read`, valid ten minutes; `extra` members replace or add claims.
pub fn mint(iss: &str, extra: Value) -> String {
    let mut claims = live_claims(iss, AUD);
    merge(&mut claims, json!({"scope": "orders:read"}));
    merge(&mut claims, extra);
    zt_testkit::mint("ec-p256", "ES256", &claims)
}

/// A JWKS server on 127.0.0.1 serving `ec-p256`, stopped when dropped.
pub async fn jwks_server() -> JwksServer {
    JwksServer::start(&jwks(&["ec-p256"])).await
}

pub fn authorizer(iss: &str, jwks_uri: &str, mode: &str) -> Authorizer {
    let cfg = json!({
        "issuers": [{"issuer": iss, "audiences": [AUD], "algorithms": ["ES256"],
                     "jwks_uri": jwks_uri}],
        "request": {"headers": ["x-tenant"]},
        "enforcement": {"mode": mode},
        "decision_log": {"sink": "none"},
    });
    Authorizer::builder(AuthorizerConfig::from_json_str(&cfg.to_string()).unwrap())
        .policy_files(vec![("p.rego".into(), POLICY.as_bytes().to_vec())])
        .build()
        .unwrap()
}

async fn whoami(ZtClaims(claims): ZtClaims, headers: axum::http::HeaderMap) -> String {
    let injected = headers
        .get("x-zt-subject")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    format!("{}|{injected}", claims.subject().unwrap_or("-"))
}

pub fn app(layer: ZtLayer) -> Router {
    Router::new()
        .route("/orders/{id}", get(whoami))
        .route("/orders", post(|| async { "created" }))
        .route("/admin/deploy", post(|| async { "deployed" }))
        .route("/secret", get(|| async { "secret" }))
        .route("/tenant", get(|| async { "tenant" }))
        .route("/healthz", get(|| async { "ok" }))
        .layer(layer)
}

/// A free port on 127.0.0.1, for a service whose URL must be known before it starts (a
/// config's `[dpop] base_url`).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Serve `app` on 127.0.0.1:`port` for 60 s at most (abort the handle to stop it sooner).
pub async fn serve_on(port: u16, app: Router) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            ),
        )
        .await;
    })
}
