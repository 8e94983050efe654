//! The configuration schema shared by every surface (Rust, Tower, CLI, and the coming Python and
//! Node bindings).
//!
//! One structure, loadable from TOML, YAML or JSON (chosen by file extension) or built in code.
//! Every section but `issuers` has defaults, so a file holding only issuers is a valid config.
//!
//! ```
//! use zt_core::{Algorithm, AuthorizerConfig, IssuerConfig};
//!
//! let config = AuthorizerConfig::from_toml_str(r#"
//!     [[issuers]]
//!     issuer = "https://idp.example.com/realms/acme"
//!     audiences = ["orders-api"]
//!     algorithms = ["RS256", "ES256"]
//!     discovery = true
//!
//!     [jwks]
//!     ttl_s = 300
//! "#).unwrap();
//! assert_eq!(config.jwks.ttl_s, 300);
//! assert_eq!(config.issuers[0].leeway_s, 60);
//!
//! // The same in code:
//! let mut issuer = IssuerConfig::new("https://idp.example.com/realms/acme", ["orders-api"], [Algorithm::RS256]);
//! issuer.discovery = true;
//! let built = AuthorizerConfig::new(vec![issuer]);
//! built.validate().unwrap();
//!
//! // Unknown keys and out-of-range numbers are errors naming the key and the range:
//! let err = AuthorizerConfig::from_toml_str("[jwks]\nttl_s = 1\n[[issuers]]\nissuer = \"https://x\"\naudiences = [\"a\"]\nalgorithms = [\"RS256\"]\ndiscovery = true").unwrap_err();
//! assert_eq!(err.to_string(), "`jwks.ttl_s` = 1 is out of range: allowed 30..=86400");
//! ```
//!
//! # Security
//! - Shared HMAC secrets are never read from the configuration document itself: only from an
//!   environment variable or a file it names (or set in code), and they never appear in `Debug`.
//! - Plain-`http` key URLs are accepted only for loopback hosts.
//! - `none` cannot be listed as an algorithm.

use crate::algorithm::Algorithm;
use crate::codes::EnforcementMode;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthorizerConfig {
    /// The name of the service asking (`input.context.service`, decision-log `service`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Trusted token issuers (at least one).
    pub issuers: Vec<IssuerConfig>,
    /// Which request attributes enter the policy input.
    #[serde(default)]
    pub request: RequestConfig,
    /// Key-set caching and fetching.
    #[serde(default)]
    pub jwks: JwksConfig,
    /// Token limits and the verified-token cache.
    #[serde(default)]
    pub token: TokenConfig,
    /// Device posture.
    #[serde(default)]
    pub posture: PostureConfig,
    /// Policy bundle.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Enforcement mode and canary.
    #[serde(default)]
    pub enforcement: EnforcementConfig,
    /// Decision log.
    #[serde(default)]
    pub decision_log: DecisionLogConfig,
    /// A revocation feed polled over HTTP, merged with the other revocation lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<RevocationConfig>,
    /// How DPoP proofs (RFC 9449) are checked.
    #[serde(default)]
    pub dpop: DpopConfig,
}

/// `[dpop]`: how DPoP proofs are checked, for tokens bound with `cnf.jkt` and issuers with
/// `require_dpop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct DpopConfig {
    /// Proof algorithms accepted (asymmetric only; default ES256, ES384, RS256, PS256, EdDSA).
    pub algorithms: Vec<Algorithm>,
    /// How old a proof's `iat` may be, seconds (1..=3600, default 60); its `jti` is remembered
    /// this long.
    pub max_age_s: u64,
    /// Clock skew allowed on `iat`, seconds (0..=300, default 5).
    pub leeway_s: u64,
    /// Proof ids remembered against replay (1000..=10000000, default 100000).
    pub replay_cache_entries: u64,
    /// The scheme and authority `htu` is compared with (`https://api.example.com`), for a
    /// service behind a proxy; default `https://` and the request's `Host`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Require server nonces (RFC 9449 §9): the HMAC secret that mints and checks them, from
    /// this environment variable (at least 32 bytes). Instances sharing the secret accept each
    /// other's nonces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce_secret_env: Option<String>,
    /// The same secret from a file (one trailing newline ignored; relative to the config file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce_secret_file: Option<PathBuf>,
    /// How long a nonce is current, seconds (10..=3600, default 300); the previous one is
    /// accepted too, so a nonce lives between one and two lifetimes.
    pub nonce_lifetime_s: u64,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self {
            algorithms: vec![
                Algorithm::ES256,
                Algorithm::ES384,
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::EdDSA,
            ],
            max_age_s: 60,
            leeway_s: 5,
            replay_cache_entries: 100_000,
            base_url: None,
            nonce_secret_env: None,
            nonce_secret_file: None,
            nonce_lifetime_s: 300,
        }
    }
}

/// `[revocation]`: a JSON document `{"token_ids": [...], "subjects": [{"issuer", "subject"}]}`
/// polled with `If-None-Match`/`ETag`; each new document replaces the previous one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RevocationConfig {
    /// The document's URL (`https`, or `http` on loopback).
    pub url: String,
    /// Shortest wait between polls, seconds (1..=86400, default 30).
    #[serde(default = "default_revocation_min_s")]
    pub polling_min_s: u64,
    /// Longest wait between polls, seconds (polling_min_s..=86400, default 60).
    #[serde(default = "default_revocation_max_s")]
    pub polling_max_s: u64,
    /// Per request (100..=60000 ms, default 5000).
    #[serde(default = "default_service_timeout_ms")]
    pub timeout_ms: u64,
    /// Largest document (1024..=268435456 bytes, default 16777216).
    #[serde(default = "default_revocation_max_bytes")]
    pub max_bytes: u64,
    /// A bearer token, from this environment variable (never inline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
}

const fn default_revocation_min_s() -> u64 {
    30
}
const fn default_revocation_max_s() -> u64 {
    60
}
const fn default_revocation_max_bytes() -> u64 {
    16 * 1024 * 1024
}

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

/// Key-set caching and fetching.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct JwksConfig {
    /// How long a fetched key set is fresh when the server sends no `Cache-Control: max-age`
    /// (30..=86400, default 600).
    pub ttl_s: u64,
    /// Lower bound applied to a server's `max-age` (10..=86400, default 60).
    pub min_ttl_s: u64,
    /// Upper bound applied to a server's `max-age` (30..=604800, default 86400).
    pub max_ttl_s: u64,
    /// How long past its TTL a key set keeps serving while the issuer is unreachable
    /// (0..=2592000, default 86400).
    pub max_stale_s: u64,
    /// At most one refetch per issuer per this many seconds for unknown `kid`s (1..=3600, default 30).
    pub unknown_kid_cooldown_s: u64,
    /// HTTP timeout for one fetch, in milliseconds (100..=60000, default 3000).
    pub timeout_ms: u64,
    /// Largest accepted key-set or discovery document, in bytes (1024..=4194304, default 262144).
    pub max_response_bytes: u64,
}

impl Default for JwksConfig {
    fn default() -> Self {
        Self {
            ttl_s: 600,
            min_ttl_s: 60,
            max_ttl_s: 86_400,
            max_stale_s: 86_400,
            unknown_kid_cooldown_s: 30,
            timeout_ms: 3_000,
            max_response_bytes: 256 * 1024,
        }
    }
}

/// Token limits and the verified-token cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct TokenConfig {
    /// Largest accepted token, checked before decoding (256..=65536, default 16384).
    pub max_bytes: u64,
    /// Verified tokens kept in the cache (0 disables it; 0..=1000000, default 10000).
    pub cache_entries: u64,
    /// Longest time a verification result is reused, never past `exp` (1..=3600, default 60).
    pub cache_ttl_s: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024,
            cache_entries: 10_000,
            cache_ttl_s: 60,
        }
    }
}

/// Where device posture comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PostureSource {
    /// A claim inside the access token.
    Claims,
    /// A separate signed posture JWT in a request header.
    Assertion,
    /// No posture: `input.device` is always null.
    None,
}

/// How a posture assertion is bound to the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PostureBinding {
    /// The assertion's `sub` equals the access token's `sub`.
    Sub,
    /// The assertion's device id equals the access token's device id claim.
    DeviceId,
}

/// Request attributes that enter the policy input.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RequestConfig {
    /// Header names (case-insensitive) copied into `input.request.headers`; no others are.
    /// `authorization`, `proxy-authorization`, `cookie` and the posture header never are.
    pub headers: Vec<String>,
}

/// Device posture.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PostureConfig {
    /// `claims`, `assertion` or `none` (default `claims`).
    pub source: PostureSource,
    /// With `claims`: the claim holding the posture object (default `device`).
    pub claim: String,
    /// Posture older than this is stale (1..=604800, default 900).
    pub max_age_s: u64,
    /// With `assertion`: the request header carrying the posture JWT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// With `assertion`: the posture issuer (must also be listed under `issuers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// With `assertion`: how the assertion is bound to the subject (default `sub`).
    pub bind: PostureBinding,
    /// With `bind = "device_id"`: the access-token claim holding the device id (default
    /// `device_id`); it must equal the assertion's `id`.
    pub device_id_claim: String,
}

impl Default for PostureConfig {
    fn default() -> Self {
        Self {
            source: PostureSource::Claims,
            claim: "device".to_owned(),
            max_age_s: 900,
            header: None,
            issuer: None,
            bind: PostureBinding::Sub,
            device_id_claim: "device_id".to_owned(),
        }
    }
}

/// Policy bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// A directory of `.rego`/`.json` files or an OPA bundle `.tar.gz`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<PathBuf>,
    /// The rule evaluated per request (default `data.zt.authz.decision`).
    pub entrypoint: String,
    /// Run the bundle's `test_` rules before activating it (default true).
    pub run_tests_on_load: bool,
    /// Instruction limit per evaluation (1000..=10000000, default 100000).
    pub max_instructions: u64,
    /// Largest policy or data file in bytes (1024..=67108864, default 1048576).
    pub max_file_bytes: u64,
    /// Largest bundle in bytes (1024..=268435456, default 16777216).
    pub max_bundle_bytes: u64,
    /// Revisions kept for rollback (1..=100, default 5).
    pub keep_revisions: u64,
    /// Download bundles from a bundle server (OPA's bundle service API) instead of `bundle`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<BundleServiceConfig>,
    /// With `service`: where the last activated bundle is kept (written atomically), to start
    /// from when the server is unreachable at start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persist_dir: Option<PathBuf>,
    /// Verify OPA bundle signatures (`.signatures.json`) before compiling any bundle, from any
    /// source; an unsigned or badly signed bundle is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<BundleSigningConfig>,
}

/// `[policy.signing]`: OPA's bundle signature format. `.signatures.json` holds one JWS whose
/// payload lists every file of the bundle with its digest; it must be signed by one of `keys`
/// with that key's algorithm, and the files must match the list exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BundleSigningConfig {
    /// The verification keys, by key id.
    pub keys: Vec<BundleKeyConfig>,
    /// Verify with this key whatever the signature names (OPA's `signing.keyid`); without it the
    /// signature's `kid` header (or its deprecated `keyid` claim) chooses among `keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    /// The `scope` the signature must carry (OPA's `signing.scope`; default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Files left out of verification, as glob patterns (`*` does not cross `/`), for example
    /// `["docs/*"]`. They are also never loaded as policy or data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_files: Vec<String>,
}

impl BundleSigningConfig {
    /// One PEM public key (the CLI's `--verification-key`, `--verification-key-id`,
    /// `--signing-alg`).
    ///
    /// ```
    /// use zt_core::{Algorithm, BundleSigningConfig};
    /// let s = BundleSigningConfig::pem_key("default", Algorithm::RS256, "bundle.pub.pem");
    /// assert_eq!(s.keys[0].keyid, "default");
    /// ```
    pub fn pem_key(keyid: &str, algorithm: crate::Algorithm, path: impl Into<PathBuf>) -> Self {
        Self {
            keys: vec![BundleKeyConfig {
                keyid: keyid.to_owned(),
                algorithm,
                key_file: Some(path.into()),
                jwk: None,
                secret_env: None,
            }],
            keyid: None,
            scope: None,
            exclude_files: Vec::new(),
        }
    }
}

/// One bundle verification key: a public key (PEM file or inline JWK) or, for HS256/384/512,
/// a shared secret from an environment variable. Exactly one of `key_file`, `jwk`, `secret_env`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BundleKeyConfig {
    /// The key id signatures name.
    pub keyid: String,
    /// The one algorithm this key verifies (`RS256`, `ES256`, `EdDSA`, `HS256`, ...).
    pub algorithm: crate::Algorithm,
    /// A PEM public key (`-----BEGIN PUBLIC KEY-----`, or `RSA PUBLIC KEY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// A public JWK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwk: Option<serde_json::Map<String, serde_json::Value>>,
    /// The environment variable holding an HMAC secret (HS* only; never inline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

/// `[policy.service]`: a bundle server speaking OPA's bundle service API (any static HTTPS
/// server or object store works): `GET {url}/{path}` with `If-None-Match`, `304` = unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BundleServiceConfig {
    /// The server's base URL (`https`, or `http` on loopback).
    pub url: String,
    /// The bundle's path on the server (`bundles/authz.tar.gz`).
    pub path: String,
    /// Shortest wait between polls, seconds (1..=86400, default 60).
    #[serde(default = "default_polling_min_s")]
    pub polling_min_s: u64,
    /// Longest wait between polls, seconds (polling_min_s..=86400, default 120); each wait is
    /// drawn at random in between, and failures back off exponentially up to 10 × this.
    #[serde(default = "default_polling_max_s")]
    pub polling_max_s: u64,
    /// Per request (100..=60000 ms, default 5000).
    #[serde(default = "default_service_timeout_ms")]
    pub timeout_ms: u64,
    /// A bearer token for the server, from this environment variable (never inline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
}

fn default_polling_min_s() -> u64 {
    60
}
fn default_polling_max_s() -> u64 {
    120
}
fn default_service_timeout_ms() -> u64 {
    5000
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            bundle: None,
            entrypoint: "data.zt.authz.decision".to_owned(),
            run_tests_on_load: true,
            max_instructions: 100_000,
            max_file_bytes: 1024 * 1024,
            max_bundle_bytes: 16 * 1024 * 1024,
            keep_revisions: 5,
            service: None,
            persist_dir: None,
            signing: None,
        }
    }
}

/// Enforcement mode and canary, the operator's override file, and the rollout gate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct EnforcementConfig {
    /// `enforce`, `warn` or `log_only` (default `enforce`).
    pub mode: EnforcementMode,
    /// Percentage of subjects (stable hash of issuer and subject) enforced; the rest run as
    /// `log_only` (0..=100, default 100).
    pub canary_percent: u64,
    /// A small JSON or TOML file (`{"mode": "log_only", "canary_percent": 50}`, either key
    /// optional) polled every `override_poll_ms`: while it exists its values override the
    /// bundle's `data.zt.enforcement` and this section; deleting it lifts the override. See
    /// [`Authorizer::set_mode`](crate::Authorizer::set_mode) for the precedence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_file: Option<PathBuf>,
    /// How often `override_file` is read, in milliseconds (50..=60000, default 1000).
    pub override_poll_ms: u64,
    /// The automated rollout gate for new policy revisions (off unless the section is present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutConfig>,
}

impl Default for EnforcementConfig {
    fn default() -> Self {
        Self {
            mode: EnforcementMode::Enforce,
            canary_percent: 100,
            override_file: None,
            override_poll_ms: 1000,
            rollout: None,
        }
    }
}

/// `[enforcement.rollout]`: how a new policy revision is promoted.
///
/// A revision loaded while this section is present does not become active at once: it is the
/// *candidate* and the active revision is the *control*. Each stage sends `stages[i]` percent of
/// subjects (a stable hash of issuer and subject, independent of `canary_percent`) to the
/// candidate; stage `0` is shadow (the candidate is evaluated next to the control on every
/// decision and never decides). A stage is judged once it has seen `min_decisions` candidate
/// decisions and `min_duration_s` have passed (on the authorizer's clock): the candidate
/// cohort's deny rate, step-up rate and `policy_error` rate are compared with the control
/// cohort's. Any increase above its threshold rolls the candidate back (the control stays
/// active); otherwise the next stage starts, and passing the last stage below 100 activates
/// the candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RolloutConfig {
    /// Percent of subjects on the candidate per stage, increasing, ending at 100; `0` (first
    /// only) is shadow. Default `[0, 5, 25, 100]`.
    pub stages: Vec<u64>,
    /// Candidate decisions a stage must see before it is judged (1..=10000000, default 200).
    pub min_decisions: u64,
    /// Seconds a stage lasts at least, from its first decision (0..=604800, default 300).
    pub min_duration_s: u64,
    /// Largest allowed increase of the deny rate, candidate minus control (0..=1, default 0.05).
    pub max_deny_rate_increase: f64,
    /// Largest allowed increase of the step-up rate (0..=1, default 0.05).
    pub max_step_up_rate_increase: f64,
    /// Largest allowed increase of the `policy_error` rate (0..=1, default 0.001).
    pub max_policy_error_rate_increase: f64,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            stages: vec![0, 5, 25, 100],
            min_decisions: 200,
            min_duration_s: 300,
            max_deny_rate_increase: 0.05,
            max_step_up_rate_increase: 0.05,
            max_policy_error_rate_increase: 0.001,
        }
    }
}

/// Decision-log sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DecisionLogSink {
    /// One JSON line per decision on standard output.
    Stdout,
    /// Appended to `path`.
    File,
    /// Appended to `path`, each record chained to the previous one by hash.
    HashChainedFile,
    /// Handed to a callback registered in code.
    Callback,
    /// Uploaded in gzip-compressed JSON batches to a collector (OPA's decision-log API,
    /// `[decision_log.service]`); with `path`, also appended to that file.
    Service,
    /// No decision log.
    None,
}

/// Decision log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct DecisionLogConfig {
    /// Sink (default `stdout`).
    pub sink: DecisionLogSink,
    /// File for the `file` and `hash_chained_file` sinks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// JSON pointers into the input document whose values are masked in the log (default:
    /// [`DecisionLogConfig::DEFAULT_MASK`], the personal claims of OpenID Connect). An
    /// explicit list replaces the default; `mask = []` logs everything.
    pub mask: Vec<String>,
    /// Records queued for the sink before new ones are dropped (1..=1000000, default 4096).
    pub queue_capacity: u64,
    /// The collector for `sink = "service"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<LogServiceConfig>,
}

/// `[decision_log.service]`: a collector speaking OPA's decision-log API: `POST {url}/{path}`
/// with a gzip-compressed JSON array of records (`Content-Encoding: gzip`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LogServiceConfig {
    /// The collector's base URL (`https`, or `http` on loopback).
    pub url: String,
    /// The path records are posted to (default `logs`, as OPA's).
    #[serde(default = "default_log_path")]
    pub path: String,
    /// Largest uncompressed JSON body per request (4096..=67108864, default 1048576); a batch
    /// is sent as soon as the next record would not fit.
    #[serde(default = "default_upload_size")]
    pub upload_size_limit_bytes: u64,
    /// A batch is sent at most this long after its first record (10..=600000 ms, default 1000).
    #[serde(default = "default_upload_delay")]
    pub max_delay_ms: u64,
    /// Batches waiting for upload (while the collector is slow or down) before new records are
    /// dropped and counted (1..=4096, default 64).
    #[serde(default = "default_upload_buffer")]
    pub buffer_batches: u64,
    /// Retries per batch after the first attempt, with exponential backoff from 200 ms up to
    /// 30 s (0..=20, default 5); then the batch's records are counted as failed.
    #[serde(default = "default_upload_retries")]
    pub max_retries: u64,
    /// Per request (100..=60000 ms, default 5000).
    #[serde(default = "default_service_timeout_ms")]
    pub timeout_ms: u64,
    /// A bearer token for the collector, from this environment variable (never inline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
}

fn default_log_path() -> String {
    "logs".to_owned()
}
const fn default_upload_size() -> u64 {
    1024 * 1024
}
const fn default_upload_delay() -> u64 {
    1000
}
const fn default_upload_buffer() -> u64 {
    64
}
const fn default_upload_retries() -> u64 {
    5
}

/// The OpenID Connect standard claims that describe a person rather than an identity (OIDC
/// Core §5.1): masked unless the operator lists others, so a log written with the defaults
/// carries no e-mail address, phone number, name, postal address or birth date.
const DEFAULT_MASK: &[&str] = &[
    "/subject/claims/email",
    "/subject/claims/phone_number",
    "/subject/claims/name",
    "/subject/claims/given_name",
    "/subject/claims/family_name",
    "/subject/claims/middle_name",
    "/subject/claims/nickname",
    "/subject/claims/address",
    "/subject/claims/birthdate",
];

impl DecisionLogConfig {
    /// The default `mask`: the personal claims of OpenID Connect (e-mail, phone number,
    /// names, postal address, birth date).
    ///
    /// ```
    /// use zt_core::DecisionLogConfig;
    /// assert!(DecisionLogConfig::DEFAULT_MASK.contains(&"/subject/claims/email"));
    /// assert_eq!(DecisionLogConfig::default().mask.len(), DecisionLogConfig::DEFAULT_MASK.len());
    /// ```
    pub const DEFAULT_MASK: &'static [&'static str] = DEFAULT_MASK;
}

impl Default for DecisionLogConfig {
    fn default() -> Self {
        Self {
            sink: DecisionLogSink::Stdout,
            path: None,
            mask: DEFAULT_MASK.iter().map(|p| (*p).to_owned()).collect(),
            queue_capacity: 4096,
            service: None,
        }
    }
}

const fn default_leeway() -> u64 {
    60
}

const fn default_max_token_age() -> u64 {
    86_400
}

/// Configuration file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigFormat {
    /// TOML.
    Toml,
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

mod load;
mod validate;

#[cfg(test)]
mod tests;
