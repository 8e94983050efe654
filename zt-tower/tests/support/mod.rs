//! Shared helpers: fixture keys, token minting, a real JWKS server and a protected axum app,
//! all on 127.0.0.1 with ephemeral ports.
#![allow(dead_code)] // each test crate uses a different subset

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zt_core::{Authorizer, AuthorizerConfig};
use zt_tower::{ZtClaims, ZtLayer};

pub const AUD: &str = "orders-api";

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

pub fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../zt-core/tests/data/keys")
}

pub fn jwk(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(keys_dir().join(format!("{name}.jwk.json"))).unwrap())
        .unwrap()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn mint(iss: &str, extra: Value) -> String {
    let n = now();
    let mut claims = json!({"iss": iss, "sub": "alice", "aud": AUD, "iat": n, "exp": n + 600,
                            "scope": "orders:read"});
    if let (Some(c), Value::Object(e)) = (claims.as_object_mut(), extra) {
        c.extend(e);
    }
    let pem = std::fs::read(keys_dir().join("ec-p256.pem")).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ec_pem(&pem).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("ec-p256".into());
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// A JWKS server on 127.0.0.1, stopped when dropped (and after two minutes at most).
pub struct Jwks {
    pub uri: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Jwks {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub async fn jwks_server() -> Jwks {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    let body = json!({"keys": [jwk("ec-p256")]});
    let app = Router::new().route("/jwks", get(move || async move { axum::Json(body) }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::time::timeout(Duration::from_secs(120), stopped).await;
            })
            .await;
    });
    Jwks {
        uri,
        stop: Some(stop),
    }
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

/// Serve an app on 127.0.0.1 (with peer addresses), stopped when the handle drops.
pub struct Served {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub async fn serve(app: Router) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = tokio::time::timeout(Duration::from_secs(120), stopped).await;
        })
        .await;
    });
    Served {
        addr,
        stop: Some(stop),
    }
}
