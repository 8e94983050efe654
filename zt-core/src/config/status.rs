//! `[status]`: reports of the instance's state to a control plane, as OPA's status API.

use super::OAuth2Config;
use serde::{Deserialize, Serialize};

/// `[status]`: where the instance reports its state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct StatusConfig {
    /// POST a status report (OPA's status API) to this service on start, whenever the active
    /// bundle, an error or the rollout changes, and every `interval_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<StatusServiceConfig>,
}

/// `[status] service`: the status receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StatusServiceConfig {
    /// The receiver's base URL (`https`, or `http` on loopback).
    pub url: String,
    /// The path under `url` (default `status`, as OPA posts to `{url}/status`).
    #[serde(default = "default_status_path")]
    pub path: String,
    /// A report at least this often when nothing changes, seconds (1..=86400, default 60).
    #[serde(default = "default_status_interval_s")]
    pub interval_s: u64,
    /// Per request (100..=60000 ms, default 5000).
    #[serde(default = "super::policy::default_service_timeout_ms")]
    pub timeout_ms: u64,
    /// A bearer token for the receiver, from this environment variable (never inline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
    /// OAuth2 client credentials instead of `bearer_token_env` (docs/fleet.md, "Credentials").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
}

fn default_status_path() -> String {
    "status".to_owned()
}

const fn default_status_interval_s() -> u64 {
    60
}
