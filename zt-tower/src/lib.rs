//! # zt-tower
//!
//! Tower middleware that puts a zt [`Authorizer`](zt_core::Authorizer) in front of any
//! `tower::Service` over `http` requests: axum 0.8 routers (`Router::layer`, `route_layer`),
//! tonic 0.14 servers (`Server::builder().layer(..)`) and plain hyper services.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use zt_tower::{ZtClaims, ZtLayer};
//!
//! async fn whoami(ZtClaims(claims): ZtClaims) -> String {
//!     claims.subject().unwrap_or("-").to_owned()
//! }
//!
//! # fn demo(authz: zt_core::Authorizer) {
//! let app: Router = Router::new()
//!     .route("/whoami", get(whoami))
//!     .route("/healthz", get(|| async { "ok" }))
//!     .layer(ZtLayer::new(authz).realm("orders").skip_path("/healthz"));
//! # }
//! ```
//!
//! Per request the layer extracts the bearer token (RFC 6750: exactly one `Authorization:
//! Bearer` header, case-insensitive scheme, never a token in the query string), method, path,
//! host, the headers named in `[request] headers`, the posture header, the peer address and a
//! peer SPIFFE id, asks the authorizer, and then either calls the inner service or answers:
//!
//! | decision | HTTP | gRPC |
//! | --- | --- | --- |
//! | no bearer token | 401, `WWW-Authenticate: Bearer realm="…"` | `UNAUTHENTICATED` |
//! | malformed `Authorization` (two headers, not UTF-8, empty token, token in the query) | 401, `error="invalid_request"` | `UNAUTHENTICATED` |
//! | token rejected (expired, bad signature, revoked, …) | 401, `error="invalid_token"` | `UNAUTHENTICATED` |
//! | step-up | 401, `error="insufficient_user_authentication"`, `acr_values`, `max_age` (RFC 9470) | `UNAUTHENTICATED` |
//! | policy or posture deny | 403 (`error="insufficient_scope"` when a policy reason says `insufficient_scope`) | `PERMISSION_DENIED` |
//! | issuer keys unavailable | 503 | `UNAVAILABLE` |
//! | internal error | 500 | `INTERNAL` |
//!
//! Status, challenge, headers and the `application/problem+json` body (RFC 9457: `status`,
//! `title`, `detail`, the `reasons` and the `decision_id`, never token contents) come from
//! [`zt_core::http`], so every zt surface answers the same decision with the same bytes. A
//! malformed `Authorization` header is decided by the authorizer too (reason
//! `authorization_malformed`), so it is counted and logged. gRPC requests (content type
//! `application/grpc…`) get a trailers-only response with `grpc-status` and `grpc-message`.
//! [`ZtLayer::on_deny`] replaces any of these responses.
//!
//! On allow, the [`Decision`](zt_core::Decision) and the
//! [`VerifiedClaims`](zt_core::VerifiedClaims) are in the request extensions (axum extractors
//! [`ZtDecision`] and [`ZtClaims`]); the policy's `request_headers` / `response_headers`
//! obligations (objects of header name → value) are applied; in `warn` mode the response carries
//! `x-zt-would-deny: <reasons>`; the `Authorization` header is marked sensitive.
//!
//! ## Peer address and SPIFFE id
//! The peer address comes from a [`PeerAddr`] extension, or from axum's
//! `ConnectInfo<SocketAddr>` (serve with `into_make_service_with_connect_info::<SocketAddr>()`).
//! A TLS acceptor that verifies client certificates puts the peer's SPIFFE id (the `spiffe://`
//! URI SAN of the verified certificate) into the request as a [`PeerSpiffeId`] extension, for
//! example from a `tower::Service` wrapper around the connection's service, and the verified
//! client certificate (DER) as a [`PeerCertificate`] extension, for tokens bound to it
//! (RFC 8705); zt never parses certificates itself, it only hashes them.
//!
//! ## DPoP
//! `Authorization: DPoP <token>` and the `DPoP` proof header are read like a bearer token
//! (RFC 9449); a failed proof is answered 401 with `WWW-Authenticate: DPoP realm="…",
//! algs="…", error="invalid_dpop_proof"`.
//!
//! # Security
//! - A request is forwarded only on an `Allow` decision (or an operator-chosen `warn`/`log_only`
//!   mode); every failure, including a malformed header, is a 401/403/5xx.
//! - Response headers and bodies carry reason codes and the decision id only; header parameters
//!   are quoted-string escaped.

#![forbid(unsafe_code)]

mod body;
mod extract;
mod future;
mod layer;
mod response;
mod service;

// ---- Public interface -------------------------------------------------------------------
pub use body::ZtBody;
pub use extract::{PeerAddr, PeerCertificate, PeerSpiffeId};
#[cfg(feature = "axum")]
pub use extract::{ZtClaims, ZtDecision};
pub use future::ResponseFuture;
pub use layer::ZtLayer;
pub use response::{Denial, DenyHook};
pub use service::Zt;

/// Hooks for zt's own fuzz targets: **not part of the stable interface**.
#[doc(hidden)]
pub mod internal {
    pub use crate::extract::fuzz_extract;
}

/// The header that marks requests allowed only because of `warn` mode.
pub const WOULD_DENY_HEADER: &str = zt_core::http::WOULD_DENY_HEADER;
/// The header carrying the decision id on denials.
pub const DECISION_ID_HEADER: &str = zt_core::http::DECISION_ID_HEADER;

/// The README's example compiles and runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
