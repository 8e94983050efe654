//! Shared test helpers: key fixtures, raw token minting, and a real JWKS/discovery server.
#![allow(dead_code)] // each test crate uses a different subset

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const NOW: u64 = 1_800_000_000;

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The public JWK of a fixture key (`rsa2048-a`, `ec-p256`, ...), with its `kid`.
pub fn jwk(name: &str) -> Value {
    let text = std::fs::read_to_string(data_dir().join(format!("keys/{name}.jwk.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn jwks(names: &[&str]) -> Value {
    json!({ "keys": names.iter().map(|n| jwk(n)).collect::<Vec<_>>() })
}

pub fn encoding_key(name: &str) -> jsonwebtoken::EncodingKey {
    let pem = std::fs::read(data_dir().join(format!("keys/{name}.pem"))).unwrap();
    if name.starts_with("rsa") {
        jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap()
    } else if name.starts_with("ec") {
        jsonwebtoken::EncodingKey::from_ec_pem(&pem).unwrap()
    } else {
        jsonwebtoken::EncodingKey::from_ed_pem(&pem).unwrap()
    }
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn jwt_alg(alg: &str) -> jsonwebtoken::Algorithm {
    alg.parse().unwrap()
}

/// Sign raw header and payload JSON text (so tests can craft duplicate keys, odd types, ...).
pub fn sign_raw(header: &str, payload: &str, key: &str, alg: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig =
        jsonwebtoken::crypto::sign(input.as_bytes(), &encoding_key(key), jwt_alg(alg)).unwrap();
    format!("{input}.{sig}")
}

/// Sign with an HMAC secret.
pub fn sign_hmac(header: &str, payload: &str, secret: &[u8], alg: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(secret),
        jwt_alg(alg),
    )
    .unwrap();
    format!("{input}.{sig}")
}

/// Standard valid claims for `iss`, issued at NOW for one hour.
pub fn claims(iss: &str) -> Value {
    json!({
        "iss": iss, "sub": "alice", "aud": "api", "iat": NOW, "nbf": NOW, "exp": NOW + 3600,
        "jti": "id-1", "scope": "read write"
    })
}

/// Sign JSON values with a fixture key: header gets `alg` and `kid` = key name.
pub fn mint(key: &str, alg: &str, claims: &Value) -> String {
    let header = json!({ "alg": alg, "kid": key, "typ": "at+jwt" });
    sign_raw(&header.to_string(), &claims.to_string(), key, alg)
}

/// What the test server serves and counts.
pub struct ServerState {
    pub issuer: Mutex<String>,
    pub jwks: Mutex<String>,
    pub jwks_status: Mutex<StatusCode>,
    pub cache_control: Mutex<Option<String>>,
    pub delay: Mutex<Duration>,
    pub jwks_hits: AtomicU64,
    pub discovery_hits: AtomicU64,
    pub other_hits: AtomicU64,
}

/// A real HTTP server on 127.0.0.1 with an ephemeral port, serving discovery and a JWKS.
pub struct JwksServer {
    pub base: String,
    pub state: Arc<ServerState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl JwksServer {
    /// Start on the current tokio runtime. The issuer defaults to the server's base URL.
    pub async fn start(jwks: &Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ServerState {
            issuer: Mutex::new(base.clone()),
            jwks: Mutex::new(jwks.to_string()),
            jwks_status: Mutex::new(StatusCode::OK),
            cache_control: Mutex::new(None),
            delay: Mutex::new(Duration::ZERO),
            jwks_hits: AtomicU64::new(0),
            discovery_hits: AtomicU64::new(0),
            other_hits: AtomicU64::new(0),
        });
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(serve_jwks))
            .fallback(other)
            .with_state(state.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    // Bounded lifetime: a test server never outlives two minutes.
                    let _ = tokio::time::timeout(Duration::from_secs(120), stopped).await;
                })
                .await;
        });
        Self {
            base,
            state,
            stop: Some(stop),
        }
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.base)
    }

    pub fn set_jwks(&self, v: &Value) {
        *self.state.jwks.lock().unwrap() = v.to_string();
    }

    pub fn set_jwks_raw(&self, s: String) {
        *self.state.jwks.lock().unwrap() = s;
    }

    pub fn set_status(&self, s: StatusCode) {
        *self.state.jwks_status.lock().unwrap() = s;
    }

    pub fn set_delay(&self, d: Duration) {
        *self.state.delay.lock().unwrap() = d;
    }

    pub fn set_cache_control(&self, v: Option<&str>) {
        *self.state.cache_control.lock().unwrap() = v.map(str::to_owned);
    }

    pub fn set_issuer(&self, iss: &str) {
        *self.state.issuer.lock().unwrap() = iss.to_owned();
    }

    pub fn jwks_hits(&self) -> u64 {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    pub fn discovery_hits(&self) -> u64 {
        self.state.discovery_hits.load(Ordering::SeqCst)
    }

    pub fn other_hits(&self) -> u64 {
        self.state.other_hits.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn discovery(State(s): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    s.discovery_hits.fetch_add(1, Ordering::SeqCst);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let doc = json!({
        "issuer": *s.issuer.lock().unwrap(),
        "jwks_uri": format!("http://{host}/jwks"),
    });
    axum::Json(doc).into_response()
}

async fn serve_jwks(State(s): State<Arc<ServerState>>) -> Response {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let delay = *s.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = *s.jwks_status.lock().unwrap();
    let body = s.jwks.lock().unwrap().clone();
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(cc) = s.cache_control.lock().unwrap().clone() {
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_str(&cc).unwrap());
    }
    resp
}

async fn other(State(s): State<Arc<ServerState>>) -> StatusCode {
    s.other_hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::NOT_FOUND
}
