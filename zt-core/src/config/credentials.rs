//! `oauth2 = { ... }`: OAuth2 client credentials (RFC 6749 §4.4) for the services zt calls —
//! the bundle server, the revocation feed and the decision-log collector — as OPA's
//! `credentials.oauth2` configures them.

use super::PrivateKeyJwtConfig;
use serde::{Deserialize, Serialize};

/// An OAuth2 client-credentials grant: zt asks `token_url` for an access token, sends it as
/// a bearer token, keeps it until shortly before it expires, and asks again once when the
/// service answers 401.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OAuth2Config {
    /// The token endpoint (`https`, or `http` on loopback).
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// `client_secret_basic`: the secret from this environment variable (never inline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// `private_key_jwt` (RFC 7523): sign a client assertion with this key instead; its `aud`
    /// defaults to `token_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_jwt: Option<PrivateKeyJwtConfig>,
    /// Scopes to ask for (`scope`, space-separated on the wire); none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Per token request (100..=60000 ms, default 5000).
    #[serde(default = "super::policy::default_service_timeout_ms")]
    pub timeout_ms: u64,
}
