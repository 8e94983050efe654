//! Real HTTP servers on 127.0.0.1 with ephemeral ports: any axum app ([`serve`]), and a JWKS +
//! OIDC discovery server whose answers a test can change and whose hits it can count
//! ([`JwksServer`]).
//!
//! # Security
//! - Only `127.0.0.1:0` is ever bound; nothing here makes an outgoing request.
//! - A server stops when its handle is dropped (its task is aborted, so the listener closes and
//!   open connections shut down gracefully) and after its lifetime at the latest.

use crate::Error;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long a server started without an explicit lifetime runs at most.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(120);

/// A running app on 127.0.0.1 (with peer addresses as axum `ConnectInfo<SocketAddr>`), stopped
/// when dropped.
#[derive(Debug)]
pub struct Served {
    /// The bound address, `127.0.0.1:PORT`.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve `app` on 127.0.0.1 with an ephemeral port on the current tokio runtime, for `lifetime`
/// at most.
pub async fn serve_for(app: axum::Router, lifetime: Duration) -> Result<Served, Error> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    );
    let task = tokio::spawn(async move {
        // Dropping the server future (lifetime over, or the task aborted) closes the listener
        // and tells open connections to finish.
        let _ = tokio::time::timeout(lifetime, server).await;
    });
    Ok(Served { addr, task })
}

/// Serve `app` on 127.0.0.1 with an ephemeral port, for [`DEFAULT_LIFETIME`] at most.
///
/// # Panics
/// When no loopback port can be bound.
#[expect(clippy::expect_used, reason = "test kit: no loopback port, no test")]
pub async fn serve(app: axum::Router) -> Served {
    serve_for(app, DEFAULT_LIFETIME)
        .await
        .expect("listen on 127.0.0.1")
}

/// What the JWKS server serves and counts.
struct ServerState {
    issuer: Mutex<String>,
    jwks: Mutex<String>,
    jwks_status: Mutex<StatusCode>,
    cache_control: Mutex<Option<HeaderValue>>,
    delay: Mutex<Duration>,
    jwks_hits: AtomicU64,
    discovery_hits: AtomicU64,
    other_hits: AtomicU64,
}

/// A poisoned lock only means another test thread panicked; the value is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A real HTTP server on 127.0.0.1 with an ephemeral port, serving OIDC discovery at
/// `/.well-known/openid-configuration` and a key set at `/jwks`; any other path is a counted 404.
/// Stopped when dropped.
pub struct JwksServer {
    /// `http://127.0.0.1:PORT`; also the issuer until [`JwksServer::set_issuer`].
    pub base: String,
    state: Arc<ServerState>,
    served: Served,
}

impl JwksServer {
    /// Start on the current tokio runtime, serving `jwks`, for [`DEFAULT_LIFETIME`] at most.
    /// The issuer defaults to the server's base URL.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[expect(clippy::expect_used, reason = "test kit: no loopback port, no test")]
    pub async fn start(jwks: &Value) -> Self {
        Self::start_for(jwks, DEFAULT_LIFETIME)
            .await
            .expect("listen on 127.0.0.1")
    }

    /// Start on the current tokio runtime, serving `jwks`, for `lifetime` at most.
    pub async fn start_for(jwks: &Value, lifetime: Duration) -> Result<Self, Error> {
        let state = Arc::new(ServerState {
            issuer: Mutex::new(String::new()),
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
        let served = serve_for(app, lifetime).await?;
        let base = format!("http://{}", served.addr);
        *lock(&state.issuer) = base.clone();
        Ok(Self {
            base,
            state,
            served,
        })
    }

    /// The bound address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.served.addr
    }

    /// `{base}/jwks`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.base)
    }

    /// `{base}/.well-known/openid-configuration`.
    pub fn discovery_uri(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.base)
    }

    /// Serve this key set from now on.
    pub fn set_jwks(&self, v: &Value) {
        *lock(&self.state.jwks) = v.to_string();
    }

    /// Serve this text as the key set from now on (need not be JSON).
    pub fn set_jwks_raw(&self, s: String) {
        *lock(&self.state.jwks) = s;
    }

    /// Answer `/jwks` with this status from now on (the body stays the key set).
    pub fn set_status(&self, s: StatusCode) {
        *lock(&self.state.jwks_status) = s;
    }

    /// Wait this long before answering `/jwks`.
    pub fn set_delay(&self, d: Duration) {
        *lock(&self.state.delay) = d;
    }

    /// Send this `Cache-Control` header with `/jwks` (`None`: no header).
    ///
    /// # Panics
    /// When the value is not a valid header value.
    #[expect(clippy::expect_used, reason = "test kit: a bad header is a test bug")]
    pub fn set_cache_control(&self, v: Option<&str>) {
        *lock(&self.state.cache_control) =
            v.map(|v| HeaderValue::from_str(v).expect("a valid Cache-Control value"));
    }

    /// Name this issuer in the discovery document from now on.
    pub fn set_issuer(&self, iss: &str) {
        iss.clone_into(&mut lock(&self.state.issuer));
    }

    /// The issuer the discovery document names.
    pub fn issuer(&self) -> String {
        lock(&self.state.issuer).clone()
    }

    /// Requests to `/jwks` so far.
    pub fn jwks_hits(&self) -> u64 {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// Requests to the discovery document so far.
    pub fn discovery_hits(&self) -> u64 {
        self.state.discovery_hits.load(Ordering::SeqCst)
    }

    /// Requests to any other path so far.
    pub fn other_hits(&self) -> u64 {
        self.state.other_hits.load(Ordering::SeqCst)
    }
}

async fn discovery(State(s): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    s.discovery_hits.fetch_add(1, Ordering::SeqCst);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let issuer = lock(&s.issuer).clone();
    let doc = json!({
        "issuer": issuer,
        "jwks_uri": format!("http://{host}/jwks"),
    });
    axum::Json(doc).into_response()
}

async fn serve_jwks(State(s): State<Arc<ServerState>>) -> Response {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let delay = *lock(&s.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = *lock(&s.jwks_status);
    let body = lock(&s.jwks).clone();
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(cc) = lock(&s.cache_control).clone() {
        resp.headers_mut().insert(header::CACHE_CONTROL, cc);
    }
    resp
}

async fn other(State(s): State<Arc<ServerState>>) -> StatusCode {
    s.other_hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::NOT_FOUND
}
