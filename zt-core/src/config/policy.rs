//! `[policy]`: where bundles come from (a directory, an archive, a bundle server), how they are
//! checked (signatures, tests at load, limits) and kept.

use super::OAuth2Config;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    /// Index rules with many definitions (route tables) so that a decision evaluates only
    /// the definitions that can match (default true; see docs/policies.md, "Route tables").
    pub indexing: bool,
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

    /// The section's shape, without reading a key (config validation is pure; the keys are read
    /// when the authorizer is built): keys present, key ids non-empty and unique, exactly one
    /// source per key and the right kind for its algorithm, the pinned `keyid` among them, the
    /// `exclude_files` globs valid. Returns the compiled globs.
    pub(crate) fn check_shape(&self) -> Result<globset::GlobSet, String> {
        if self.keys.is_empty() {
            return Err("`policy.signing.keys` is empty".to_owned());
        }
        let mut ids = std::collections::HashSet::new();
        for k in &self.keys {
            if k.keyid.is_empty() {
                return Err("a key in `policy.signing.keys` has an empty `keyid`".to_owned());
            }
            k.check_source()
                .map_err(|e| format!("key `{}`: {e}", k.keyid))?;
            if !ids.insert(k.keyid.as_str()) {
                return Err(format!("key id `{}` is configured twice", k.keyid));
            }
        }
        if let Some(id) = &self.keyid
            && !ids.contains(id.as_str())
        {
            return Err(format!(
                "`policy.signing.keyid` `{id}` is not among `policy.signing.keys`"
            ));
        }
        let mut exclude = globset::GlobSetBuilder::new();
        for pattern in &self.exclude_files {
            let glob = globset::GlobBuilder::new(pattern.trim_start_matches('/'))
                .literal_separator(true)
                .build()
                .map_err(|e| format!("`policy.signing.exclude_files`: {e}"))?;
            exclude.add(glob);
        }
        exclude
            .build()
            .map_err(|e| format!("`policy.signing.exclude_files`: {e}"))
    }
}

impl BundleKeyConfig {
    /// Exactly one of `key_file`, `jwk`, `secret_env`, and the kind the algorithm takes.
    pub(crate) fn check_source(&self) -> Result<(), String> {
        let alg = self.algorithm;
        match (&self.key_file, &self.jwk, &self.secret_env) {
            (Some(_), None, None) if alg.is_hmac() => {
                Err(format!("{alg} needs `secret_env`, not a key file"))
            }
            (None, Some(_), None) if alg.is_hmac() => {
                Err(format!("{alg} needs `secret_env`, not a JWK"))
            }
            (None, None, Some(_)) if !alg.is_hmac() => {
                Err(format!("`secret_env` is only for HS256/384/512, not {alg}"))
            }
            (Some(_), None, None) | (None, Some(_), None) | (None, None, Some(_)) => Ok(()),
            _ => Err("set exactly one of `key_file`, `jwk`, `secret_env`".to_owned()),
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
    /// OAuth2 client credentials instead of `bearer_token_env` (docs/fleet.md, "Credentials").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
}

fn default_polling_min_s() -> u64 {
    60
}

fn default_polling_max_s() -> u64 {
    120
}

pub(super) fn default_service_timeout_ms() -> u64 {
    5000
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            bundle: None,
            entrypoint: "data.zt.authz.decision".to_owned(),
            run_tests_on_load: true,
            max_instructions: 100_000,
            indexing: true,
            max_file_bytes: 1024 * 1024,
            max_bundle_bytes: 16 * 1024 * 1024,
            keep_revisions: 5,
            service: None,
            persist_dir: None,
            signing: None,
        }
    }
}
