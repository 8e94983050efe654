//! `[[issuers]]`: one token issuer, its keys, algorithms, claim rules and (for opaque tokens)
//! introspection; secrets held so that no `Debug` shows them.

use crate::algorithm::Algorithm;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// One trusted issuer.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// The exact `iss` value (no normalisation: trailing slashes matter).
    pub issuer: String,
    /// Accepted audiences: the token's `aud` must contain at least one.
    pub audiences: Vec<String>,
    /// Allowed algorithms (never taken from the token alone). May be empty only for an issuer
    /// whose tokens are all opaque (`introspection` set).
    #[serde(default)]
    pub algorithms: Vec<Algorithm>,
    /// Find `jwks_uri` through `{issuer}/.well-known/openid-configuration`.
    #[serde(default)]
    pub discovery: bool,
    /// Fetch the key set from this URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Read the key set from this file (relative paths are relative to the config file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    /// An inline key set (`{"keys": [...]}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Name of an environment variable holding the HMAC shared secret (for HS* algorithms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_secret_env: Option<String>,
    /// File holding the HMAC shared secret (raw bytes; one trailing newline is ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_secret_file: Option<PathBuf>,
    /// The HMAC shared secret set in code (never serialised).
    #[serde(skip)]
    pub hmac_secret: Option<Secret>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds (0..=300, default 60).
    #[serde(default = "default_leeway")]
    pub leeway_s: u64,
    /// Longest accepted token lifetime (`exp - iat`), in seconds (60..=604800, default 86400).
    #[serde(default = "default_max_token_age")]
    pub max_token_age_s: u64,
    /// Required header `typ` (for example `at+jwt`, RFC 9068); compared case-insensitively, with
    /// an optional `application/` prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Every token of this issuer must be DPoP-bound (`cnf.jkt`) and presented with a DPoP
    /// proof (RFC 9449); tokens carrying `cnf.jkt` need one whatever this says.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_dpop: bool,
    /// Check opaque (non-JWT) tokens at this issuer's RFC 7662 introspection endpoint. At most
    /// one issuer may set it: an opaque token names no issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection: Option<IntrospectionConfig>,
}

/// `issuers[].introspection`: token introspection (RFC 7662) for opaque access tokens, with a
/// cache keyed by a keyed hash of the token, one call per token at a time, and a rate limit
/// and circuit breaker so an identity provider in trouble is not flooded.
///
/// ```
/// # use zt_core::AuthorizerConfig;
/// let config = AuthorizerConfig::from_toml_str(r#"
///     [[issuers]]
///     issuer = "https://idp.example.com"
///     audiences = ["orders-api"]
///     introspection = { endpoint = "https://idp.example.com/token/introspection",
///                       client_id = "orders-api", client_secret_env = "ZT_INTROSPECTION_SECRET" }
/// "#)?;
/// let i = config.issuers[0].introspection.as_ref().unwrap();
/// assert_eq!((i.ttl_s, i.inactive_ttl_s), (60, 5));
/// # Ok::<(), zt_core::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IntrospectionConfig {
    /// The introspection endpoint (`https`, or `http` on loopback).
    pub endpoint: String,
    /// The client id zt authenticates as.
    pub client_id: String,
    /// `client_secret_basic`: the client secret, from this environment variable (never inline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// `private_key_jwt` (RFC 7523): sign a client assertion with this key instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_jwt: Option<PrivateKeyJwtConfig>,
    /// Longest an active result is used, seconds (1..=3600, default 60); never past the
    /// token's `exp`.
    #[serde(default = "default_introspection_ttl_s")]
    pub ttl_s: u64,
    /// How long an inactive result is remembered, seconds (1..=300, default 5).
    #[serde(default = "default_introspection_inactive_ttl_s")]
    pub inactive_ttl_s: u64,
    /// An active answer must say it is about an access token (`token_type` `Bearer`/`DPoP`,
    /// `token_use` `access_token`, or `typ` `Bearer`); default true. A member naming another
    /// kind (a refresh token) is refused either way.
    #[serde(default = "default_true")]
    pub require_token_type: bool,
    /// Per call (100..=60000 ms, default 2000).
    #[serde(default = "default_introspection_timeout_ms")]
    pub timeout_ms: u64,
    /// Results kept (100..=10000000, default 100000).
    #[serde(default = "default_introspection_cache_entries")]
    pub cache_entries: u64,
    /// Calls per second allowed on average (1..=100000, default 50).
    #[serde(default = "default_introspection_rate")]
    pub rate_per_s: u64,
    /// Calls allowed in a burst (1..=100000, default 100).
    #[serde(default = "default_introspection_burst")]
    pub burst: u64,
    /// Consecutive failed calls that open the circuit (1..=1000, default 5).
    #[serde(default = "default_introspection_failures")]
    pub failure_threshold: u64,
    /// How long an open circuit refuses calls before one trial call, seconds (1..=3600,
    /// default 30).
    #[serde(default = "default_introspection_open_s")]
    pub open_s: u64,
    /// Largest response (1024..=1048576 bytes, default 65536).
    #[serde(default = "default_introspection_max_bytes")]
    pub max_response_bytes: u64,
}

impl fmt::Debug for IntrospectionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionConfig")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret_env", &self.client_secret_env)
            .field("private_key_jwt", &self.private_key_jwt)
            .field("ttl_s", &self.ttl_s)
            .field("inactive_ttl_s", &self.inactive_ttl_s)
            .field("require_token_type", &self.require_token_type)
            .field("timeout_ms", &self.timeout_ms)
            .field("cache_entries", &self.cache_entries)
            .field("rate_per_s", &self.rate_per_s)
            .field("burst", &self.burst)
            .field("failure_threshold", &self.failure_threshold)
            .field("open_s", &self.open_s)
            .finish_non_exhaustive()
    }
}

/// `introspection.private_key_jwt`: client authentication with a signed assertion (RFC 7523,
/// OpenID Connect Core §9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PrivateKeyJwtConfig {
    /// The private key, a PKCS#8 PEM file (relative paths are relative to the config file).
    pub key_file: PathBuf,
    /// The signing algorithm (asymmetric: RS256, PS256, ES256, ES384, EdDSA, ...).
    pub algorithm: Algorithm,
    /// The header `kid`, when the provider needs one to pick the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The assertion's `aud` (default: the issuer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

const fn default_true() -> bool {
    true
}

const fn default_introspection_ttl_s() -> u64 {
    60
}

const fn default_introspection_inactive_ttl_s() -> u64 {
    5
}

const fn default_introspection_timeout_ms() -> u64 {
    2000
}

const fn default_introspection_cache_entries() -> u64 {
    100_000
}

const fn default_introspection_rate() -> u64 {
    50
}

const fn default_introspection_burst() -> u64 {
    100
}

const fn default_introspection_failures() -> u64 {
    5
}

const fn default_introspection_open_s() -> u64 {
    30
}

const fn default_introspection_max_bytes() -> u64 {
    64 * 1024
}

impl IssuerConfig {
    /// An issuer with the given audiences and algorithms and default limits; set a key source
    /// (`discovery`, `jwks_uri`, `jwks_file`, `jwks` or a shared secret) before use.
    pub fn new<A, S>(
        issuer: impl Into<String>,
        audiences: A,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Self
    where
        A: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            issuer: issuer.into(),
            audiences: audiences.into_iter().map(Into::into).collect(),
            algorithms: algorithms.into_iter().collect(),
            leeway_s: default_leeway(),
            max_token_age_s: default_max_token_age(),
            ..Self::default()
        }
    }
}

impl fmt::Debug for IssuerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerConfig")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .field("discovery", &self.discovery)
            .field("jwks_uri", &self.jwks_uri)
            .field("jwks_file", &self.jwks_file)
            .field("jwks", &self.jwks.as_ref().map(|_| "{..}"))
            .field("hmac_secret_env", &self.hmac_secret_env)
            .field("hmac_secret_file", &self.hmac_secret_file)
            .field("hmac_secret", &self.hmac_secret)
            .field("leeway_s", &self.leeway_s)
            .field("max_token_age_s", &self.max_token_age_s)
            .field("token_type", &self.token_type)
            .field("require_dpop", &self.require_dpop)
            .field("introspection", &self.introspection)
            .finish()
    }
}

/// A secret byte string: redacted in `Debug`, never serialised.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wrap secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}

const fn default_leeway() -> u64 {
    60
}

const fn default_max_token_age() -> u64 {
    86_400
}
