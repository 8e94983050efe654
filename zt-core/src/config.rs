//! The configuration schema shared by every surface (Rust, Tower, Python, Node, CLI).
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
use crate::error::ConfigError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
}

/// One trusted issuer.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The exact `iss` value (no normalisation: trailing slashes matter).
    pub issuer: String,
    /// Accepted audiences: the token's `aud` must contain at least one.
    pub audiences: Vec<String>,
    /// Allowed algorithms (never taken from the token alone).
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
pub enum PostureBinding {
    /// The assertion's `sub` equals the access token's `sub`.
    Sub,
    /// The assertion's device id equals the access token's device id claim.
    DeviceId,
}

/// Request attributes that enter the policy input.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestConfig {
    /// Header names (case-insensitive) copied into `input.request.headers`; no others are.
    /// `authorization`, `proxy-authorization`, `cookie` and the posture header never are.
    pub headers: Vec<String>,
}

/// Device posture.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
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
        }
    }
}

/// Enforcement mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnforcementMode {
    /// Denies are enforced.
    Enforce,
    /// Denies are allowed through but marked and counted.
    Warn,
    /// Everything is allowed; what would have happened is logged.
    LogOnly,
}

/// Enforcement mode and canary.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnforcementConfig {
    /// `enforce`, `warn` or `log_only` (default `enforce`).
    pub mode: EnforcementMode,
    /// Percentage of subjects (stable hash of issuer and subject) enforced; the rest run as
    /// `log_only` (0..=100, default 100).
    pub canary_percent: u64,
}

impl Default for EnforcementConfig {
    fn default() -> Self {
        Self {
            mode: EnforcementMode::Enforce,
            canary_percent: 100,
        }
    }
}

/// Decision-log sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionLogSink {
    /// One JSON line per decision on standard output.
    Stdout,
    /// Appended to `path`.
    File,
    /// Appended to `path`, each record chained to the previous one by hash.
    HashChainedFile,
    /// Handed to a callback registered in code.
    Callback,
    /// No decision log.
    None,
}

/// Decision log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionLogConfig {
    /// Sink (default `stdout`).
    pub sink: DecisionLogSink,
    /// File for the `file` and `hash_chained_file` sinks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// JSON pointers into the input document whose values are masked in the log.
    pub mask: Vec<String>,
    /// Records queued for the sink before new ones are dropped (1..=1000000, default 4096).
    pub queue_capacity: u64,
}

impl Default for DecisionLogConfig {
    fn default() -> Self {
        Self {
            sink: DecisionLogSink::Stdout,
            path: None,
            mask: Vec::new(),
            queue_capacity: 4096,
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
pub enum ConfigFormat {
    /// TOML.
    Toml,
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

impl AuthorizerConfig {
    /// A config with the given issuers and every other section at its defaults.
    pub fn new(issuers: Vec<IssuerConfig>) -> Self {
        Self {
            issuers,
            ..Self::default()
        }
    }

    /// Load and validate a file; the format comes from the extension (`.toml`, `.yaml`/`.yml`,
    /// `.json`). Relative `jwks_file`, `hmac_secret_file`, `policy.bundle` and
    /// `decision_log.path` are resolved against the file's directory.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => ConfigFormat::Toml,
            Some("yaml" | "yml") => ConfigFormat::Yaml,
            Some("json") => ConfigFormat::Json,
            _ => {
                return Err(ConfigError::UnknownFormat {
                    path: path.to_path_buf(),
                });
            }
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.to_path_buf(),
            kind: e.kind().to_string(),
        })?;
        let mut config = Self::parse(&text, format).map_err(|e| e.with_file(path))?;
        if let Some(dir) = path.parent() {
            config.resolve_relative_to(dir);
        }
        config.validate().map_err(|e| e.with_file(path))?;
        Ok(config)
    }

    /// Parse and validate TOML.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::from_str_as(text, ConfigFormat::Toml)
    }

    /// Parse and validate YAML.
    pub fn from_yaml_str(text: &str) -> Result<Self, ConfigError> {
        Self::from_str_as(text, ConfigFormat::Yaml)
    }

    /// Parse and validate JSON.
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        Self::from_str_as(text, ConfigFormat::Json)
    }

    /// Parse and validate a document in the given format.
    pub fn from_str_as(text: &str, format: ConfigFormat) -> Result<Self, ConfigError> {
        let config = Self::parse(text, format)?;
        config.validate()?;
        Ok(config)
    }

    fn parse(text: &str, format: ConfigFormat) -> Result<Self, ConfigError> {
        match format {
            ConfigFormat::Toml => {
                let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Parse {
                    file: None,
                    key: ".".to_owned(),
                    message: toml_message(&e, text),
                })?;
                serde_path_to_error::deserialize(de)
                    .map_err(|e| tracked(e.path(), toml_message(e.inner(), text)))
            }
            ConfigFormat::Yaml => {
                serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(text))
                    .map_err(|e| tracked(e.path(), one_line(&e.inner().to_string())))
            }
            ConfigFormat::Json => {
                let mut de = serde_json::Deserializer::from_str(text);
                let config = serde_path_to_error::deserialize(&mut de)
                    .map_err(|e| tracked(e.path(), one_line(&e.inner().to_string())))?;
                de.end().map_err(|e| ConfigError::Parse {
                    file: None,
                    key: ".".to_owned(),
                    message: e.to_string(),
                })?;
                Ok(config)
            }
        }
    }

    fn resolve_relative_to(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        for issuer in &mut self.issuers {
            issuer.jwks_file.as_mut().map(fix);
            issuer.hmac_secret_file.as_mut().map(fix);
        }
        self.policy.bundle.as_mut().map(fix);
        self.decision_log.path.as_mut().map(fix);
    }

    /// Check every bound and cross-field rule. Called by the loaders and by builders that take
    /// a config; call it yourself after editing a config in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.issuers.is_empty() {
            return Err(invalid("issuers", "at least one issuer is required"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, issuer) in self.issuers.iter().enumerate() {
            let key = |name: &str| format!("issuers[{i}].{name}");
            if issuer.issuer.is_empty() {
                return Err(invalid(&key("issuer"), "must not be empty"));
            }
            if !seen.insert(issuer.issuer.as_str()) {
                return Err(invalid(&key("issuer"), "the same issuer is listed twice"));
            }
            if issuer.audiences.is_empty() || issuer.audiences.iter().any(String::is_empty) {
                return Err(invalid(
                    &key("audiences"),
                    "at least one non-empty audience is required",
                ));
            }
            if issuer.algorithms.is_empty() {
                return Err(invalid(
                    &key("algorithms"),
                    "at least one algorithm is required",
                ));
            }
            range(&key("leeway_s"), issuer.leeway_s, 0, 300)?;
            range(&key("max_token_age_s"), issuer.max_token_age_s, 60, 604_800)?;
            let sources = [
                issuer.discovery,
                issuer.jwks_uri.is_some(),
                issuer.jwks_file.is_some(),
                issuer.jwks.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            let secrets = [
                issuer.hmac_secret_env.is_some(),
                issuer.hmac_secret_file.is_some(),
                issuer.hmac_secret.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            let wants_hmac = issuer.algorithms.iter().any(|a| a.is_hmac());
            let wants_keys = issuer.algorithms.iter().any(|a| !a.is_hmac());
            if sources > 1 {
                return Err(invalid(
                    &key("discovery"),
                    "set only one of `discovery`, `jwks_uri`, `jwks_file`, `jwks`",
                ));
            }
            if wants_keys && sources == 0 {
                return Err(invalid(
                    &key("algorithms"),
                    "asymmetric algorithms need a key source: `discovery`, `jwks_uri`, `jwks_file` or `jwks`",
                ));
            }
            if secrets > 1 {
                return Err(invalid(
                    &key("hmac_secret_env"),
                    "set only one of `hmac_secret_env`, `hmac_secret_file`",
                ));
            }
            if wants_hmac != (secrets == 1) {
                return Err(invalid(
                    &key("algorithms"),
                    "HS256/HS384/HS512 need exactly one shared secret (`hmac_secret_env` or `hmac_secret_file`), and a shared secret needs an HS algorithm",
                ));
            }
            if let Some(uri) = &issuer.jwks_uri
                && !crate::jwks::url_allowed(uri)
            {
                return Err(invalid(
                    &key("jwks_uri"),
                    "must be an https URL (plain http only for loopback hosts)",
                ));
            }
            if issuer.discovery && !crate::jwks::url_allowed(&issuer.issuer) {
                return Err(invalid(
                    &key("issuer"),
                    "discovery needs an https issuer URL (plain http only for loopback hosts)",
                ));
            }
            if issuer.token_type.as_ref().is_some_and(String::is_empty) {
                return Err(invalid(&key("token_type"), "must not be empty"));
            }
        }
        let j = &self.jwks;
        range("jwks.ttl_s", j.ttl_s, 30, 86_400)?;
        range("jwks.min_ttl_s", j.min_ttl_s, 10, 86_400)?;
        range("jwks.max_ttl_s", j.max_ttl_s, j.min_ttl_s.max(30), 604_800)?;
        range("jwks.max_stale_s", j.max_stale_s, 0, 2_592_000)?;
        range(
            "jwks.unknown_kid_cooldown_s",
            j.unknown_kid_cooldown_s,
            1,
            3_600,
        )?;
        range("jwks.timeout_ms", j.timeout_ms, 100, 60_000)?;
        range(
            "jwks.max_response_bytes",
            j.max_response_bytes,
            1_024,
            4 * 1024 * 1024,
        )?;
        let t = &self.token;
        range("token.max_bytes", t.max_bytes, 256, 65_536)?;
        range("token.cache_entries", t.cache_entries, 0, 1_000_000)?;
        range("token.cache_ttl_s", t.cache_ttl_s, 1, 3_600)?;
        if self.request.headers.len() > 64 {
            return Err(invalid("request.headers", "at most 64 header names"));
        }
        for (i, h) in self.request.headers.iter().enumerate() {
            let ok = !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.!#$%&'*+^`|~".contains(&b));
            if !ok {
                return Err(invalid(
                    &format!("request.headers[{i}]"),
                    "must be a valid HTTP header name",
                ));
            }
        }
        let p = &self.posture;
        range("posture.max_age_s", p.max_age_s, 1, 604_800)?;
        if p.source == PostureSource::Claims && p.claim.is_empty() {
            return Err(invalid("posture.claim", "must not be empty"));
        }
        if p.source == PostureSource::Assertion {
            if p.header.as_deref().is_none_or(str::is_empty) {
                return Err(invalid(
                    "posture.header",
                    "required when `posture.source` is `assertion`",
                ));
            }
            match &p.issuer {
                None => {
                    return Err(invalid(
                        "posture.issuer",
                        "required when `posture.source` is `assertion`",
                    ));
                }
                Some(iss) if !self.issuers.iter().any(|i| &i.issuer == iss) => {
                    return Err(invalid(
                        "posture.issuer",
                        "must also be listed under `issuers`",
                    ));
                }
                Some(_) => {}
            }
        }
        if self.policy.entrypoint.is_empty() || !self.policy.entrypoint.starts_with("data.") {
            return Err(invalid(
                "policy.entrypoint",
                "must be a rule path starting with `data.`",
            ));
        }
        let pc = &self.policy;
        range(
            "policy.max_instructions",
            pc.max_instructions,
            1_000,
            10_000_000,
        )?;
        range(
            "policy.max_file_bytes",
            pc.max_file_bytes,
            1_024,
            64 * 1024 * 1024,
        )?;
        range(
            "policy.max_bundle_bytes",
            pc.max_bundle_bytes,
            1_024,
            256 * 1024 * 1024,
        )?;
        range("policy.keep_revisions", pc.keep_revisions, 1, 100)?;
        range(
            "enforcement.canary_percent",
            self.enforcement.canary_percent,
            0,
            100,
        )?;
        let d = &self.decision_log;
        range(
            "decision_log.queue_capacity",
            d.queue_capacity,
            1,
            1_000_000,
        )?;
        if matches!(
            d.sink,
            DecisionLogSink::File | DecisionLogSink::HashChainedFile
        ) && d.path.is_none()
        {
            return Err(invalid(
                "decision_log.path",
                "required for the `file` and `hash_chained_file` sinks",
            ));
        }
        for (i, m) in d.mask.iter().enumerate() {
            if !m.starts_with('/') {
                return Err(invalid(
                    &format!("decision_log.mask[{i}]"),
                    "must be a JSON pointer starting with `/`",
                ));
            }
        }
        Ok(())
    }
}

fn tracked(path: &serde_path_to_error::Path, message: String) -> ConfigError {
    ConfigError::Parse {
        file: None,
        key: path.to_string(),
        message,
    }
}

/// The TOML error's message with a line and column, without the quoted source snippet.
fn toml_message(e: &toml::de::Error, text: &str) -> String {
    let msg = one_line(e.message());
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{msg} (line {line}, column {column})")
        }
        None => msg,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn invalid(key: &str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        file: None,
        key: key.to_owned(),
        message: message.to_owned(),
    }
}

fn range(key: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            file: None,
            key: key.to_owned(),
            value,
            min,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[[issuers]]\nissuer = \"https://idp.example.com\"\naudiences = [\"api\"]\nalgorithms = [\"RS256\"]\ndiscovery = true\n";

    #[test]
    fn issuers_only_is_valid_with_defaults() {
        let c = AuthorizerConfig::from_toml_str(BASE).unwrap();
        assert_eq!(c.jwks.ttl_s, 600);
        assert_eq!(c.jwks.max_stale_s, 86_400);
        assert_eq!(c.jwks.unknown_kid_cooldown_s, 30);
        assert_eq!(c.token.max_bytes, 16_384);
        assert_eq!(c.policy.entrypoint, "data.zt.authz.decision");
        assert_eq!(c.enforcement.mode, EnforcementMode::Enforce);
    }

    #[test]
    fn errors_name_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "unknown top-level key",
                "colour = 1\n",
                "invalid config at `colour`: unknown field `colour`",
            ),
            (
                "unknown nested key",
                "[jwks]\nttl = 5\n",
                "invalid config at `jwks.ttl`: unknown field `ttl`",
            ),
            (
                "unknown issuer key",
                "",
                "invalid config at `issuers[0].audience`: unknown field `audience`",
            ),
            (
                "range",
                "[jwks]\nmax_stale_s = 99999999\n",
                "`jwks.max_stale_s` = 99999999 is out of range: allowed 0..=2592000",
            ),
            (
                "alg none",
                "",
                "invalid config at `issuers[1].algorithms[0]`: unknown algorithm `none`",
            ),
            (
                "canary",
                "[enforcement]\ncanary_percent = 101\n",
                "`enforcement.canary_percent` = 101 is out of range: allowed 0..=100",
            ),
            (
                "mode",
                "[enforcement]\nmode = \"yolo\"\n",
                "invalid config at `enforcement.mode`: unknown variant `yolo`",
            ),
        ];
        for (name, extra, want) in cases {
            let doc = match *name {
                "unknown issuer key" => BASE.replace("audiences", "audience"),
                "alg none" => format!(
                    "{BASE}[[issuers]]\nissuer = \"b\"\naudiences = [\"a\"]\nalgorithms = [\"none\"]\n"
                ),
                _ => format!("{extra}{BASE}"),
            };
            let err = AuthorizerConfig::from_toml_str(&doc)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(want), "case {name}: got {err}");
        }
    }

    #[test]
    fn cross_field_rules() {
        let base = || {
            let mut i = IssuerConfig::new("https://idp.example.com", ["api"], [Algorithm::RS256]);
            i.discovery = true;
            i
        };
        let cases: Vec<(&str, IssuerConfig, &str)> = vec![
            (
                "no key source",
                IssuerConfig::new("https://x", ["a"], [Algorithm::RS256]),
                "issuers[0].algorithms",
            ),
            (
                "two sources",
                {
                    let mut i = base();
                    i.jwks_uri = Some("https://x/jwks".into());
                    i
                },
                "issuers[0].discovery",
            ),
            (
                "hmac without secret",
                {
                    let mut i = base();
                    i.algorithms.push(Algorithm::HS256);
                    i
                },
                "issuers[0].algorithms",
            ),
            (
                "plain http",
                {
                    let mut i = base();
                    i.discovery = false;
                    i.jwks_uri = Some("http://idp.example.com/jwks".into());
                    i
                },
                "issuers[0].jwks_uri",
            ),
            (
                "no audience",
                {
                    let mut i = base();
                    i.audiences.clear();
                    i
                },
                "issuers[0].audiences",
            ),
        ];
        for (name, issuer, key) in cases {
            let err = AuthorizerConfig::new(vec![issuer]).validate().unwrap_err();
            match err {
                ConfigError::Invalid { key: k, .. } => assert_eq!(k, key, "case {name}"),
                other => panic!("case {name}: {other}"),
            }
        }
        let mut loopback = base();
        loopback.discovery = false;
        loopback.jwks_uri = Some("http://127.0.0.1:8080/jwks".into());
        AuthorizerConfig::new(vec![loopback]).validate().unwrap();
    }

    #[test]
    fn yaml_and_json_agree_with_toml() {
        let yaml = "issuers:\n  - issuer: https://idp.example.com\n    audiences: [api]\n    algorithms: [RS256]\n    discovery: true\njwks:\n  ttl_s: 120\n";
        let json = r#"{"issuers":[{"issuer":"https://idp.example.com","audiences":["api"],"algorithms":["RS256"],"discovery":true}],"jwks":{"ttl_s":120}}"#;
        let a = AuthorizerConfig::from_yaml_str(yaml).unwrap();
        let b = AuthorizerConfig::from_json_str(json).unwrap();
        assert_eq!(a.jwks.ttl_s, 120);
        assert_eq!(b.jwks.ttl_s, 120);
        let err = AuthorizerConfig::from_yaml_str(&yaml.replace("ttl_s", "ttl"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`jwks.ttl`"), "{err}");
        let err = AuthorizerConfig::from_json_str(&json.replace("\"ttl_s\":120", "\"ttl_s\":-1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`jwks.ttl_s`"), "{err}");
    }

    #[test]
    fn secret_is_redacted() {
        let mut i = IssuerConfig::new("https://x", ["a"], [Algorithm::HS256]);
        i.hmac_secret = Some(Secret::new(
            b"super-secret-value-super-secret-value".to_vec(),
        ));
        let dbg = format!("{i:?}");
        assert!(!dbg.contains("super-secret"), "{dbg}");
    }
}
