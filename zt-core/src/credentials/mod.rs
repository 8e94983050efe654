//! The credentials zt presents to the services it calls (the bundle server, the revocation
//! feed, the decision-log collector): nothing, a static bearer token from the environment, or
//! an OAuth2 client-credentials token (RFC 6749 §4.4) fetched from a token endpoint.
//!
//! An OAuth2 token is fetched on first use, kept until shortly before it expires (a fifth of
//! its lifetime, at most a minute, early), shared by concurrent callers (one fetch at a time),
//! and fetched again once when a service answers 401. Tokens and secrets never appear in an
//! error message, a status or a log.

pub(crate) mod client_auth;

use crate::config::OAuth2Config;
use crate::util::poll::{self, Fetched};
use client_auth::{ClientAuth, form};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Largest token response read.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// How long a token without `expires_in` is kept (a 401 still renews it early).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// What zt presents to one service.
pub(crate) enum Credentials {
    /// Nothing.
    None,
    /// `bearer_token_env`: a static token.
    Bearer(String),
    /// `oauth2`: a client-credentials token.
    OAuth2(Box<TokenSource>),
}

impl Credentials {
    /// The credentials of `section` (`policy.service`, `revocation`, `decision_log.service`)
    /// from its `bearer_token_env` or `oauth2`. An error names the key and the problem (an
    /// unset variable, an unreadable key), never a secret.
    pub(crate) fn from_config(
        section: &str,
        bearer_token_env: Option<&str>,
        oauth2: Option<&OAuth2Config>,
    ) -> Result<Self, String> {
        if let Some(o) = oauth2 {
            return TokenSource::new(o)
                .map(|t| Credentials::OAuth2(Box::new(t)))
                .map_err(|(member, message)| format!("`{section}.oauth2.{member}`: {message}"));
        }
        let Some(var) = bearer_token_env else {
            return Ok(Credentials::None);
        };
        let t = std::env::var(var)
            .map_err(|_| format!("`{section}.bearer_token_env`: `{var}` is not set"))?;
        // A token read from a file often ends in a newline: refuse it here, not as a request
        // error retried for every call.
        if http::HeaderValue::from_str(&format!("Bearer {t}")).is_err() {
            return Err(format!(
                "`{section}.bearer_token_env`: `{var}` holds characters a header cannot carry"
            ));
        }
        Ok(Credentials::Bearer(t))
    }

    /// The bearer token to send now, if any (an OAuth2 token is fetched when there is none
    /// or it is about to expire).
    pub(crate) async fn token(&self) -> Result<Option<String>, String> {
        match self {
            Credentials::None => Ok(None),
            Credentials::Bearer(t) => Ok(Some(t.clone())),
            Credentials::OAuth2(s) => s.token().await.map(Some),
        }
    }

    /// The service refused `token` (401): forget it, so the next [`Credentials::token`]
    /// fetches another. `true` when a new token may help (OAuth2 only).
    pub(crate) async fn refused(&self, token: Option<&str>) -> bool {
        match (self, token) {
            (Credentials::OAuth2(s), Some(t)) => {
                s.forget(t).await;
                true
            }
            _ => false,
        }
    }

    /// `GET url` (see [`poll::get`]) with these credentials; a 401 fetches a new OAuth2
    /// token and tries once more.
    pub(crate) async fn get(
        &self,
        client: &reqwest::Client,
        url: &str,
        etag: Option<&str>,
        limit: u64,
        limit_name: &str,
    ) -> Result<Fetched, String> {
        let token = self.token().await?;
        let first = poll::get(client, url, etag, token.as_deref(), limit, limit_name).await;
        match first {
            Err(e) if e == poll::UNAUTHORIZED && self.refused(token.as_deref()).await => {
                let token = self.token().await?;
                poll::get(client, url, etag, token.as_deref(), limit, limit_name).await
            }
            other => other,
        }
    }
}

/// An OAuth2 client-credentials token, fetched and kept.
pub(crate) struct TokenSource {
    token_url: String,
    client_id: String,
    /// `&scope=...` (form-encoded), or empty.
    scope_param: String,
    auth: ClientAuth,
    client: reqwest::Client,
    timeout: Duration,
    /// The token and when to fetch the next one; the lock also makes concurrent callers wait
    /// for one fetch.
    current: tokio::sync::Mutex<Option<(String, Instant)>>,
    requests: AtomicU64,
}

impl TokenSource {
    fn new(o: &OAuth2Config) -> Result<Self, (&'static str, String)> {
        let auth = ClientAuth::from_config(
            &o.client_id,
            o.client_secret_env.as_deref(),
            o.private_key_jwt.as_ref(),
            &o.token_url,
        )?;
        let client = poll::post_client(o.timeout_ms)
            .map_err(|_| ("token_url", "the HTTP client cannot be built".to_owned()))?;
        let scope_param = if o.scopes.is_empty() {
            String::new()
        } else {
            format!("&scope={}", form(&o.scopes.join(" ")))
        };
        Ok(Self {
            token_url: o.token_url.clone(),
            client_id: o.client_id.clone(),
            scope_param,
            auth,
            client,
            timeout: Duration::from_millis(o.timeout_ms),
            current: tokio::sync::Mutex::new(None),
            requests: AtomicU64::new(0),
        })
    }

    async fn token(&self) -> Result<String, String> {
        let mut current = self.current.lock().await;
        if let Some((token, renew_at)) = current.as_ref()
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        // Renew a fifth of the lifetime early, at most a minute early.
        let early = (lifetime / 5).min(Duration::from_secs(60));
        *current = Some((
            token.clone(),
            Instant::now() + lifetime.saturating_sub(early),
        ));
        Ok(token)
    }

    async fn forget(&self, refused: &str) {
        let mut current = self.current.lock().await;
        // Only the refused token: another caller may have renewed it meanwhile.
        if current.as_ref().is_some_and(|(t, _)| t == refused) {
            *current = None;
        }
    }

    /// One token request: the token and how long it lives.
    async fn fetch(&self) -> Result<(String, Duration), String> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut body = format!("grant_type=client_credentials{}", self.scope_param);
        let request = self
            .client
            .post(&self.token_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        let request = self
            .auth
            .apply(request, &mut body, &self.client_id, unix_now())
            .ok_or_else(|| "token endpoint: the client assertion cannot be signed".to_owned())?;
        let call = async {
            let mut resp = request
                .body(body)
                .send()
                .await
                .map_err(|e| format!("token endpoint: {}", poll::describe(e)))?;
            let status = resp.status().as_u16();
            let mut bytes = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| format!("token endpoint: {}", poll::describe(e)))?
            {
                if bytes.len() + chunk.len() > MAX_TOKEN_RESPONSE {
                    return Err("token endpoint: the answer is too large".to_owned());
                }
                bytes.extend_from_slice(&chunk);
            }
            parse_token_response(status, &bytes)
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or_else(|_| Err("token endpoint: timed out".to_owned()))
    }
}

/// A token response (RFC 6749 §5.1) or error (§5.2), in a few words for the error case: the
/// status and the `error` code (a short ASCII word), never the body.
fn parse_token_response(status: u16, bytes: &[u8]) -> Result<(String, Duration), String> {
    let doc: Option<serde_json::Map<String, serde_json::Value>> =
        crate::util::json::parse_object(bytes, 4).ok();
    if status != 200 {
        let code = doc
            .as_ref()
            .and_then(|d| d.get("error"))
            .and_then(serde_json::Value::as_str)
            .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_graphic()));
        return Err(match code {
            Some(c) => format!("token endpoint: HTTP status {status} ({c})"),
            None => format!("token endpoint: HTTP status {status}"),
        });
    }
    let doc = doc.ok_or_else(|| "token endpoint: the answer is not a JSON object".to_owned())?;
    let token = doc
        .get("access_token")
        .and_then(serde_json::Value::as_str)
        .filter(|t| !t.is_empty() && http::HeaderValue::from_str(&format!("Bearer {t}")).is_ok())
        .ok_or_else(|| "token endpoint: no usable `access_token` in the answer".to_owned())?;
    // Only bearer tokens: a DPoP- or MAC-bound token would be refused by the service anyway.
    if let Some(kind) = doc.get("token_type").and_then(serde_json::Value::as_str)
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err("token endpoint: the token is not a bearer token".to_owned());
    }
    let lifetime = doc
        .get("expires_in")
        .and_then(serde_json::Value::as_u64)
        .filter(|s| *s > 0)
        .map_or(DEFAULT_LIFETIME, |s| Duration::from_secs(s.min(86_400)));
    Ok((token.to_owned(), lifetime))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::parse_token_response;
    use std::time::Duration;

    #[test]
    fn token_responses() {
        let ok = br#"{"access_token":"abc.def","token_type":"Bearer","expires_in":600}"#;
        assert_eq!(
            parse_token_response(200, ok),
            Ok(("abc.def".to_owned(), Duration::from_secs(600)))
        );
        let no_expiry = br#"{"access_token":"abc","token_type":"bearer"}"#;
        assert_eq!(
            parse_token_response(200, no_expiry).map(|t| t.1),
            Ok(Duration::from_secs(300))
        );
        let dpop = br#"{"access_token":"abc","token_type":"DPoP"}"#;
        assert!(parse_token_response(200, dpop).is_err());
        let newline = br#"{"access_token":"abc\n"}"#;
        assert!(parse_token_response(200, newline).is_err());
        let secret = br#"{"error":"invalid_client","error_description":"secret s3cr3t is wrong"}"#;
        let e = parse_token_response(401, secret).unwrap_err();
        assert_eq!(e, "token endpoint: HTTP status 401 (invalid_client)");
        let e = parse_token_response(400, br#"{"error":"bad code with spaces"}"#).unwrap_err();
        assert_eq!(e, "token endpoint: HTTP status 400");
        assert!(parse_token_response(200, b"not json").is_err());
    }
}
