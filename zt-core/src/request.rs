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
//! The same request can come from JSON (a binding's dict or object, a test fixture) with
//! [`Request::from_value`]; unknown fields are refused:
//!
//! ```
//! use zt_core::Request;
//! let request = Request::from_value(serde_json::json!({
//!     "method": "POST", "path": "/orders", "token": "eyJ...",
//!     "headers": {"x-request-id": "r-1"}, "device": {"managed": true, "assessed_at": 1},
//! })).unwrap();
//! assert_eq!(request.path(), "/orders");
//! let err = Request::from_value(serde_json::json!({"method": "GET", "path": "/", "tokn": "x"}))
//!     .unwrap_err();
//! assert_eq!(err.code(), "request_invalid");
//! assert_eq!(err.field(), "tokn");
//! ```
//!
//! # Security
//! - The token and the posture assertion are redacted from `Debug`.
//! - Headers reach the policy input only when named in `[request] headers`; `authorization`,
//!   `proxy-authorization`, `cookie` and the posture header never do.

use crate::error::RequestError;
use crate::input::DeviceInput;
use crate::input::RequestInfo;
use serde::Deserialize;
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
    /// Why the `Authorization` header could not give a bearer token, when it was malformed.
    pub(crate) malformed_authorization: Option<&'static str>,
    /// The token came with the `DPoP` scheme (RFC 9449) rather than `Bearer`.
    pub(crate) dpop_scheme: bool,
    /// The `DPoP` proof header, or why it is unusable (two headers, not ASCII).
    pub(crate) dpop_proof: Option<Result<String, &'static str>>,
    /// The base64url SHA-256 of the client certificate (RFC 8705 `x5t#S256`).
    pub(crate) client_cert_x5t: Option<String>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("method", &self.info.method)
            // The query string may carry secrets (`?access_token=`): left out.
            .field("path", &self.info.path_only())
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
            .field("malformed_authorization", &self.malformed_authorization)
            .field("dpop_scheme", &self.dpop_scheme)
            .field(
                "dpop_proof",
                &self.dpop_proof.as_ref().map(|_| "[redacted]"),
            )
            .field("client_cert_x5t", &self.client_cert_x5t)
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

    /// The access token presented with the `DPoP` scheme (`Authorization: DPoP <token>`,
    /// RFC 9449); give its proof with [`Request::dpop_proof`].
    pub fn dpop(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self.dpop_scheme = true;
        self
    }

    /// The `DPoP` proof header (a JWS signed with the key the token is bound to).
    pub fn dpop_proof(mut self, proof: impl Into<String>) -> Self {
        self.dpop_proof = Some(Ok(proof.into()));
        self
    }

    /// Mark the `DPoP` header as unusable (more than one, not visible ASCII): a DPoP-bound
    /// token is then denied with `dpop_proof_invalid`.
    pub fn malformed_dpop_proof(mut self, why: &'static str) -> Self {
        self.dpop_proof = Some(Err(why));
        self
    }

    /// The client certificate of a mutual-TLS connection (DER), for tokens bound to it
    /// (RFC 8705 `cnf["x5t#S256"]`). Only its SHA-256 thumbprint is kept.
    pub fn client_certificate(mut self, der: &[u8]) -> Self {
        use base64::Engine as _;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        self.client_cert_x5t =
            Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()));
        self
    }

    /// The client certificate's base64url SHA-256 thumbprint, when the TLS terminator gives it
    /// rather than the certificate.
    pub fn client_certificate_thumbprint(mut self, x5t_s256: impl Into<String>) -> Self {
        self.client_cert_x5t = Some(x5t_s256.into());
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

    /// Mark the request's credentials as malformed (two `Authorization` headers, a header that
    /// is not UTF-8, an empty or ill-formed bearer token, a token in the query string): the
    /// decision is a deny with reason `authorization_malformed`, counted and logged like any
    /// other, and HTTP surfaces answer 401 `invalid_request`. `why` is a fixed description
    /// (never request bytes). Any token set on the request is ignored.
    pub fn malformed_authorization(mut self, why: &'static str) -> Self {
        self.malformed_authorization = Some(why);
        self
    }

    /// A request from a JSON object with the fields `method`, `path` (required), `token`,
    /// `host`, `headers` (an object of name → string, or a list of `[name, value]` pairs),
    /// `source_ip`, `device` (shaped like `input.device`), `posture_assertion`, `resource`
    /// (an object), `spiffe_id`, `dpop_proof` (the `DPoP` header; with it, `token` is taken as
    /// presented with the `DPoP` scheme unless `token_scheme` says `"bearer"`),
    /// `token_scheme` (`"bearer"` or `"dpop"`) and `client_cert_x5t_s256`. Unknown fields are
    /// refused.
    pub fn from_value(value: Value) -> Result<Self, RequestError> {
        let wire: Wire = serde_path_to_error::deserialize(value).map_err(|e| {
            let field = e.path().to_string();
            RequestError::Invalid {
                field,
                message: without_quoted_values(&e.inner().to_string()),
            }
        })?;
        wire.into_request()
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

/// The JSON shape of a request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    method: String,
    path: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    headers: Option<Headers>,
    #[serde(default)]
    source_ip: Option<String>,
    #[serde(default)]
    device: Option<Value>,
    #[serde(default)]
    posture_assertion: Option<String>,
    #[serde(default)]
    resource: Option<Map<String, Value>>,
    #[serde(default)]
    spiffe_id: Option<String>,
    #[serde(default)]
    dpop_proof: Option<String>,
    #[serde(default)]
    token_scheme: Option<Scheme>,
    #[serde(default)]
    client_cert_x5t_s256: Option<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Scheme {
    Bearer,
    Dpop,
}

/// Headers as an object of name → value, or as a list of `[name, value]` pairs (repeats).
#[derive(Deserialize)]
#[serde(untagged)]
enum Headers {
    Map(std::collections::BTreeMap<String, String>),
    Pairs(Vec<(String, String)>),
}

impl Wire {
    fn into_request(self) -> Result<Request, RequestError> {
        let mut r = Request::new(self.method, self.path);
        r.token = self.token;
        r.info.host = self.host;
        r.info.source_ip = self.source_ip;
        r.info.headers = match self.headers {
            None => Vec::new(),
            Some(Headers::Map(m)) => m.into_iter().collect(),
            Some(Headers::Pairs(p)) => p,
        };
        r.device = match self.device {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                DeviceInput::from_json(&v).ok_or_else(|| RequestError::Invalid {
                    field: "device".to_owned(),
                    message: "not a posture object shaped like `input.device`".to_owned(),
                })?,
            ),
        };
        r.posture_assertion = self.posture_assertion;
        r.resource = self.resource.unwrap_or_default();
        r.spiffe_id = self.spiffe_id;
        r.dpop_scheme = match self.token_scheme {
            Some(s) => s == Scheme::Dpop,
            None => self.dpop_proof.is_some(),
        };
        r.dpop_proof = self.dpop_proof.map(Ok);
        r.client_cert_x5t = self.client_cert_x5t_s256;
        Ok(r)
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(d)?;
        wire.into_request().map_err(serde::de::Error::custom)
    }
}

/// A serde message without the values it quotes (`invalid type: string "eyJ…", expected …`):
/// a request field may hold a token. Field names (in backticks) stay.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match c {
            '"' => quoted = !quoted,
            c if !quoted => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" ,", ",")
}
