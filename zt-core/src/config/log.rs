//! `[decision_log]`: the sink, the mask (personal claims by default) and the upload to a
//! collector.

use super::OAuth2Config;
use super::policy::default_service_timeout_ms;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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

/// The shape of decision-log records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DecisionLogFormat {
    /// zt's record: the decision's fields, `input`, `result` (docs/observability.md).
    #[default]
    Zt,
    /// OPA's decision event (`decision_id`, `labels`, `path`, `input`, `result`, `bundles`,
    /// `timestamp`, `metrics`, ...), so that a collector built for OPA takes it unchanged;
    /// zt's own fields under `custom.zt`.
    Opa,
}

/// Decision log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct DecisionLogConfig {
    /// Sink (default `stdout`).
    pub sink: DecisionLogSink,
    /// Record shape (default `zt`; `opa` writes OPA's decision events, which `zt replay`
    /// does not read).
    pub format: DecisionLogFormat,
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
    /// OAuth2 client credentials instead of `bearer_token_env` (docs/fleet.md, "Credentials").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
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
            format: DecisionLogFormat::Zt,
            path: None,
            mask: DEFAULT_MASK.iter().map(|p| (*p).to_owned()).collect(),
            queue_capacity: 4096,
            service: None,
        }
    }
}
