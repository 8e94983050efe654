//! Polling a document over HTTP with `If-None-Match`/`ETag`, shared by the bundle service and
//! the revocation feed: the client (timeouts, no proxy, at most three redirects and only to
//! allowed URLs), one conditional `GET` with a size limit, and jittered waits with
//! exponential backoff.

use std::time::Duration;

/// What one poll brought.
pub(crate) enum Fetched {
    /// A new document and its `ETag`.
    Body(Vec<u8>, Option<String>),
    /// `304 Not Modified`.
    NotModified,
}

/// The HTTP client for pollers: key sets and discovery, the bundle server, the revocation feed.
pub(crate) fn client(timeout_ms: u64) -> Result<reqwest::Client, ()> {
    let timeout = Duration::from_millis(timeout_ms);
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 3 || !url_allowed(attempt.url().as_str()) {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .user_agent(concat!("zt/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| ())
}

/// The HTTP client for requests that carry something (decision-log uploads, introspection):
/// bounded by `timeout_ms`, no proxy, and no redirects, so the body never goes elsewhere.
pub(crate) fn post_client(timeout_ms: u64) -> Result<reqwest::Client, ()> {
    let timeout = Duration::from_millis(timeout_ms);
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("zt/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| ())
}

/// The error of [`get`] for a 401 answer (the credentials were refused).
pub(crate) const UNAUTHORIZED: &str = "HTTP status 401";

/// `GET url` with `If-None-Match: etag` and a bearer token; bodies over `limit` bytes are
/// refused (`limit_name` names the setting in the message).
pub(crate) async fn get(
    client: &reqwest::Client,
    url: &str,
    etag: Option<&str>,
    token: Option<&str>,
    limit: u64,
    limit_name: &str,
) -> Result<Fetched, String> {
    let mut req = client.get(url);
    if let Some(e) = etag {
        req = req.header(reqwest::header::IF_NONE_MATCH, e);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let mut resp = req.send().await.map_err(describe)?;
    match resp.status().as_u16() {
        304 => return Ok(Fetched::NotModified),
        200 => {}
        other => return Err(format!("HTTP status {other}")),
    }
    let too_large = || format!("larger than `{limit_name}` ({limit} bytes)");
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let etag = resp
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(describe)? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched::Body(body, etag))
}

/// A transport error in a few words (never the URL's credentials: the token is a header).
pub(crate) fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    }
}

/// The wait before the next poll: `min_s` doubled per failure (at most ten times `max_s`),
/// plus a random part of `max_s - min_s`, so that instances do not poll in step.
pub(crate) fn next_wait(min_s: u64, max_s: u64, failures: u32) -> Duration {
    let mut r = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut r);
    let span_ms = max_s.saturating_sub(min_s).saturating_mul(1000);
    let jitter = u64::from_le_bytes(r) % span_ms.saturating_add(1);
    let backoff = min_s
        .saturating_mul(1000)
        .saturating_mul(1u64 << failures.min(10))
        .min(max_s.saturating_mul(10_000));
    // Jitter last, so that instances at the cap do not retry in step.
    Duration::from_millis(backoff.saturating_add(jitter))
}

/// The URL as status shows it: without credentials or query (presigned URLs carry secrets).
pub(crate) fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => String::new(),
    }
}

/// Is `url` an allowed key-set or discovery URL: `https`, or `http` on a loopback host.
pub(crate) fn url_allowed(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.scheme() {
        "https" => parsed.host().is_some(),
        "http" => match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

/// 200 ms × 2^attempt, at most 30 s, plus up to half of that at random (instances that lost
/// the collector together do not retry in step).
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = 200u64.saturating_mul(1 << attempt.min(8)).min(30_000);
    let mut r = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut r);
    let jitter = u64::from_le_bytes(r) % (base / 2 + 1);
    Duration::from_millis(base + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_back_off_and_stay_bounded() {
        assert!(next_wait(1, 1, 0) == Duration::from_secs(1));
        assert!(next_wait(1, 2, 0) <= Duration::from_secs(2));
        assert!(next_wait(1, 2, 3) >= Duration::from_secs(8));
        assert!(next_wait(60, 120, 30) <= Duration::from_secs(1320));
    }

    #[test]
    fn shown_urls_lose_credentials_and_query() {
        assert_eq!(
            shown_url("https://u:p@b.example/x?sig=secret"),
            "https://b.example/x"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(
            backoff(0) >= Duration::from_millis(200) && backoff(0) <= Duration::from_millis(300)
        );
        assert!(backoff(3) >= Duration::from_millis(1600));
        assert!(backoff(20) <= Duration::from_millis(45_000));
    }
}
