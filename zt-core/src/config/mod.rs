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
use policy::default_service_timeout_ms;
use serde::{Deserialize, Serialize};
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
    /// Status reports to a control plane (`[status] service`, OPA's status API).
    #[serde(default)]
    pub status: StatusConfig,
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
    /// Share spent proof ids between instances (RFC 9449 §11.1): each `jti` (per key
    /// thumbprint) is also recorded in Redis, so a proof used on any instance is refused by
    /// all. Unset: each instance remembers its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_store: Option<ReplayStoreConfig>,
}

/// `[dpop.replay_store]`: the Redis server that records spent DPoP proof ids for every
/// instance, with `SET key NX PX window`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ReplayStoreConfig {
    /// `redis://host:port/db` (or `redis+unix:///path?db=N` for a local socket). No password in
    /// the URL: use `password_env`.
    pub url: String,
    /// Prepended to every key (1..=64 printable ASCII characters, default `zt:dpop:`).
    #[serde(default = "default_replay_store_prefix")]
    pub prefix: String,
    /// How long a decision waits for Redis, milliseconds (1..=10000, default 100). Past it the
    /// store counts as failed for that request.
    #[serde(default = "default_replay_store_timeout_ms")]
    pub timeout_ms: u64,
    /// What a request gets when Redis fails or times out: `deny` (default,
    /// `dpop_replay_store_unavailable`) or `local` (this instance's own replay cache decides).
    #[serde(default)]
    pub on_error: ReplayStoreOnError,
    /// The ACL user (Redis 6+), with `password_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The environment variable holding the password (`AUTH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

/// `dpop.replay_store.on_error`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReplayStoreOnError {
    /// Refuse the proof (`dpop_replay_store_unavailable`, 401): a replay on another instance
    /// cannot be ruled out.
    #[default]
    Deny,
    /// Accept what this instance's own cache accepts, and count it.
    Local,
}

fn default_replay_store_prefix() -> String {
    "zt:dpop:".to_owned()
}

fn default_replay_store_timeout_ms() -> u64 {
    100
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
            replay_store: None,
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
    /// OAuth2 client credentials instead of `bearer_token_env` (docs/fleet.md, "Credentials").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
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

mod credentials;
mod issuer;
mod load;
mod log;
mod policy;
mod status;
mod validate;

pub use credentials::OAuth2Config;
pub use issuer::{IntrospectionConfig, IssuerConfig, PrivateKeyJwtConfig, Secret};
pub use log::{DecisionLogConfig, DecisionLogFormat, DecisionLogSink, LogServiceConfig};
pub use policy::{BundleKeyConfig, BundleServiceConfig, BundleSigningConfig, PolicyConfig};
pub use status::{StatusConfig, StatusServiceConfig};

#[cfg(test)]
mod tests;
