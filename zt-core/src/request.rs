//! The request an [`Authorizer`](crate::Authorizer) decides on.
//!
//! ```
//! use zt_core::Request;
//! let request = Request::new("GET", "/orders/42")
//!     .bearer("eyJ...")
//!     .host("orders.example.com")
//!     .header("x-request-id", "r-1")
//!     .source_ip("10.0.0.7");
//! assert_eq!(request.method(), "GET");
//! // The token never shows in Debug output.
//! assert!(!format!("{request:?}").contains("eyJ"));
//! ```
//!
//! # Security
//! - The token and the posture assertion are redacted from `Debug`.
//! - Headers reach the policy input only when named in `[request] headers`; `authorization`,
//!   `proxy-authorization`, `cookie` and the posture header never do.

use crate::input::RequestInfo;
use crate::posture::DeviceInput;
use serde_json::{Map, Value};

/// One request to authorize. Build it with the chained setters.
#[derive(Clone, Default)]
pub struct Request {
    pub(crate) token: Option<String>,
    pub(crate) info: RequestInfo,
    pub(crate) device: Option<DeviceInput>,
    pub(crate) posture_assertion: Option<String>,
    pub(crate) spiffe_id: Option<String>,
    pub(crate) resource: Map<String, Value>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("method", &self.info.method)
            .field("path", &self.info.path)
            .field("host", &self.info.host)
            .field(
                "headers",
                &self.info.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("source_ip", &self.info.source_ip)
            .field("device", &self.device.is_some())
            .field(
                "posture_assertion",
                &self.posture_assertion.as_ref().map(|_| "[redacted]"),
            )
            .field("spiffe_id", &self.spiffe_id)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// A request with a method and a path (a query string is allowed and ignored by the input).
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            info: RequestInfo::new(method, path),
            ..Self::default()
        }
    }

    /// The bearer access token (without the `Bearer ` prefix).
    pub fn bearer(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// `Host` / `:authority`.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.info.host = Some(host.into());
        self
    }

    /// Add a header. Only names listed in `[request] headers` enter the policy input; the
    /// configured posture header is read from here too.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.info.headers.push((name.into(), value.into()));
        self
    }

    /// The peer address.
    pub fn source_ip(mut self, ip: impl Into<String>) -> Self {
        self.info.source_ip = Some(ip.into());
        self
    }

    /// A posture obtained by the caller; used instead of the configured source and checked
    /// for freshness like any other.
    pub fn device(mut self, device: DeviceInput) -> Self {
        self.device = Some(device);
        self
    }

    /// A posture assertion (a JWT); otherwise it is read from the configured posture header.
    pub fn posture_assertion(mut self, jwt: impl Into<String>) -> Self {
        self.posture_assertion = Some(jwt.into());
        self
    }

    /// The peer workload's SPIFFE id (from a verified client certificate).
    pub fn spiffe_id(mut self, id: impl Into<String>) -> Self {
        self.spiffe_id = Some(id.into());
        self
    }

    /// Resource attributes (`input.resource`).
    pub fn resource(mut self, resource: Map<String, Value>) -> Self {
        self.resource = resource;
        self
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.info.method
    }

    /// The path as given.
    pub fn path(&self) -> &str {
        &self.info.path
    }

    /// Whether a token was supplied.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }
}
