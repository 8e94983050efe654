//! Fetching key sets and discovery documents over HTTP, bounded in time and size.

use super::Source;
use super::keyset::{KeySet, load_file};
use crate::config::JwksConfig;
use crate::error::JwksError;
use crate::util::json;
use crate::util::poll::url_allowed;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// One fetch of an issuer's keys (discovery, then the key set), run on the worker.
pub(super) struct FetchJob {
    pub(super) issuer: Arc<str>,
    pub(super) source: Source,
    pub(super) client: reqwest::Client,
    pub(super) config: JwksConfig,
    pub(super) discovered: Option<String>,
}

/// A fetched key set, its `Cache-Control: max-age`, and the discovered `jwks_uri`.
pub(super) type Fetched = (KeySet, Option<u64>, Option<String>);

impl FetchJob {
    pub(super) async fn run(self) -> Result<Fetched, JwksError> {
        // Bound the whole job (discovery + key set) even if a server trickles bytes.
        let limit = Duration::from_millis(self.config.timeout_ms.saturating_mul(2));
        let what = match &self.source {
            Source::Uri(u) => u.clone(),
            _ => self.issuer.to_string(),
        };
        match tokio::time::timeout(limit, self.run_inner()).await {
            Ok(r) => r,
            Err(_) => Err(JwksError::Timeout {
                url: what,
                timeout_ms: self.config.timeout_ms.saturating_mul(2),
            }),
        }
    }

    async fn run_inner(&self) -> Result<Fetched, JwksError> {
        match &self.source {
            Source::Inline => Err(JwksError::WorkerStopped),
            Source::File(path) => {
                let set = load_file(path, self.config.max_response_bytes)?;
                Ok((set, None, None))
            }
            Source::Uri(uri) => {
                let (bytes, max_age) = self.get(uri).await?;
                Ok((KeySet::parse(&bytes, uri)?, max_age, None))
            }
            Source::Discovery => {
                let jwks_uri = match &self.discovered {
                    Some(u) => u.clone(),
                    None => self.discover().await?,
                };
                let (bytes, max_age) = self.get(&jwks_uri).await?;
                let set = KeySet::parse(&bytes, &jwks_uri)?;
                Ok((set, max_age, Some(jwks_uri)))
            }
        }
    }

    async fn discover(&self) -> Result<String, JwksError> {
        let url = discovery_url(&self.issuer);
        let (bytes, _) = self.get(&url).await?;
        parse_discovery(&bytes, &self.issuer, &url)
    }

    /// GET `url` with the size limit applied while streaming. Returns the body and the
    /// `Cache-Control: max-age` in seconds, if any.
    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<u64>), JwksError> {
        if !url_allowed(url) {
            return Err(JwksError::InsecureUrl {
                url: url.to_owned(),
            });
        }
        let limit = usize::try_from(self.config.max_response_bytes).unwrap_or(usize::MAX);
        let map_err = |e: reqwest::Error| {
            if e.is_timeout() {
                JwksError::Timeout {
                    url: url.to_owned(),
                    timeout_ms: self.config.timeout_ms,
                }
            } else {
                JwksError::Request {
                    url: url.to_owned(),
                }
            }
        };
        let mut resp = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(map_err)?;
        if !resp.status().is_success() {
            return Err(JwksError::Status {
                url: url.to_owned(),
                status: resp.status().as_u16(),
            });
        }
        let too_large = || JwksError::TooLarge {
            source_name: url.to_owned(),
            limit,
        };
        if resp.content_length().is_some_and(|l| l > limit as u64) {
            return Err(too_large());
        }
        let max_age = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_max_age);
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(map_err)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    }
}

/// Check an OpenID discovery document served at `url` for `issuer`; returns its `jwks_uri`.
pub(crate) fn parse_discovery(bytes: &[u8], issuer: &str, url: &str) -> Result<String, JwksError> {
    let malformed = |detail: &'static str| JwksError::Malformed {
        source_name: url.to_owned(),
        what: "OpenID discovery document",
        detail,
    };
    let doc = json::parse_object(bytes, json::MAX_DEPTH).map_err(|e| malformed(e.as_str()))?;
    match doc.get("issuer") {
        Some(Value::String(iss)) if iss.as_str() == issuer => {}
        Some(Value::String(_)) => {
            return Err(JwksError::IssuerMismatch {
                url: url.to_owned(),
            });
        }
        _ => return Err(malformed("`issuer` is missing or not a string")),
    }
    match doc.get("jwks_uri") {
        Some(Value::String(u)) if url_allowed(u.as_str()) => Ok(u.clone()),
        Some(Value::String(u)) => Err(JwksError::InsecureUrl { url: u.clone() }),
        _ => Err(malformed("`jwks_uri` is missing or not a string")),
    }
}

/// `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4).
pub(crate) fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// The `max-age` of a `Cache-Control` value; `no-store`/`no-cache` count as 0.
pub(super) fn parse_max_age(value: &str) -> Option<u64> {
    let mut max_age = None;
    for directive in value.split(',') {
        let d = directive.trim();
        let lower = d.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        if let Some(v) = lower.strip_prefix("max-age=") {
            max_age = v.trim_matches('"').parse::<u64>().ok();
        }
    }
    max_age
}
