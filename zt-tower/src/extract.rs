//! What the layer reads from a request, and the axum extractors for what it leaves behind.

use http::header::{AUTHORIZATION, HOST};
use http::{HeaderMap, Uri};
use std::net::SocketAddr;
use zt_core::{Authorizer, Request};

/// The peer's address, for `input.request.source_ip`. Insert it yourself, or serve an axum app
/// with `into_make_service_with_connect_info::<SocketAddr>()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The SPIFFE id of a peer whose client certificate the TLS acceptor verified
/// (`input.workload.spiffe_id`). zt trusts whoever inserts it: only a TLS layer should.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpiffeId(pub String);

/// Why the `Authorization` header could not give a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BearerProblem {
    /// No `Authorization` header, or another scheme (`Basic`): a plain challenge.
    Missing,
    /// More than one header, not UTF-8, empty or malformed token, or a token in the query.
    Invalid(&'static str),
}

/// RFC 6750 `b64token` characters.
fn b64token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// The bearer token of a request, per RFC 6750 §2.1; a token in the query string (§2.3) is
/// refused, not used.
pub(crate) fn bearer<'a>(headers: &'a HeaderMap, uri: &Uri) -> Result<&'a str, BearerProblem> {
    if let Some(q) = uri.query()
        && q.split('&')
            .any(|kv| kv.split('=').next() == Some("access_token"))
    {
        return Err(BearerProblem::Invalid(
            "a token in the query string is not accepted",
        ));
    }
    let mut all = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = all.next() else {
        return Err(BearerProblem::Missing);
    };
    if all.next().is_some() {
        return Err(BearerProblem::Invalid("more than one Authorization header"));
    }
    let bytes = value.as_bytes();
    let (scheme, rest) = match bytes.iter().position(|b| *b == b' ') {
        Some(i) => (
            bytes.get(..i).unwrap_or_default(),
            bytes.get(i + 1..).unwrap_or_default(),
        ),
        None => (bytes, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(BearerProblem::Missing);
    }
    let token = rest.trim_ascii();
    if token.is_empty() {
        return Err(BearerProblem::Invalid("empty bearer token"));
    }
    // `=` only as trailing padding.
    let body_len = token.iter().rposition(|b| *b != b'=').map_or(0, |i| i + 1);
    let well_formed = token.iter().all(|b| b64token_char(*b))
        && token.get(..body_len).is_some_and(|t| !t.contains(&b'='))
        && body_len > 0;
    if !well_formed {
        return Err(BearerProblem::Invalid("malformed bearer token"));
    }
    std::str::from_utf8(token).map_err(|_| BearerProblem::Invalid("malformed bearer token"))
}

/// Whether the request is gRPC (content type `application/grpc`, `application/grpc+proto`, …).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// Build the zt request: token, method, path, host, selected headers, peer, SPIFFE id.
pub(crate) fn zt_request<B>(
    req: &http::Request<B>,
    token: Option<&str>,
    authz: &Authorizer,
) -> Request {
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let mut out = Request::new(req.method().as_str(), path);
    if let Some(token) = token {
        out = out.bearer(token);
    }
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()));
    if let Some(h) = host {
        out = out.host(h);
    }
    let wanted = authz
        .request_headers()
        .iter()
        .map(String::as_str)
        .chain(authz.posture_header());
    for name in wanted {
        // One value per name: the first (a repeated header is not merged).
        if let Some(v) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
            out = out.header(name, v);
        }
    }
    if let Some(addr) = peer_addr(req.extensions()) {
        out = out.source_ip(addr.ip().to_string());
    }
    if let Some(PeerSpiffeId(id)) = req.extensions().get::<PeerSpiffeId>() {
        out = out.spiffe_id(id.clone());
    }
    out
}

fn peer_addr(ext: &http::Extensions) -> Option<SocketAddr> {
    if let Some(PeerAddr(a)) = ext.get::<PeerAddr>() {
        return Some(*a);
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(a)) = ext.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(*a);
    }
    None
}

#[cfg(feature = "axum")]
mod axum_extractors {
    use axum::extract::FromRequestParts;
    use http::StatusCode;
    use http::request::Parts;
    use zt_core::{Decision, VerifiedClaims};

    /// The decision for this request (axum extractor). Rejects with 500 when the route is not
    /// behind a [`ZtLayer`](crate::ZtLayer).
    #[derive(Debug, Clone)]
    pub struct ZtDecision(pub Decision);

    /// The verified claims of this request's token (axum extractor). Rejects with 500 when the
    /// route is not behind a [`ZtLayer`](crate::ZtLayer) (or is a skipped path).
    #[derive(Clone)]
    pub struct ZtClaims(pub VerifiedClaims);

    impl std::fmt::Debug for ZtClaims {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_tuple("ZtClaims").field(&self.0).finish()
        }
    }

    const NOT_INSTALLED: (StatusCode, &str) = (
        StatusCode::INTERNAL_SERVER_ERROR,
        "zt authorization layer is not installed on this route",
    );

    impl<S: Send + Sync> FromRequestParts<S> for ZtDecision {
        type Rejection = (StatusCode, &'static str);

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<Decision>()
                .cloned()
                .map(ZtDecision)
                .ok_or(NOT_INSTALLED)
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for ZtClaims {
        type Rejection = (StatusCode, &'static str);

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<VerifiedClaims>()
                .cloned()
                .map(ZtClaims)
                .ok_or(NOT_INSTALLED)
        }
    }
}

#[cfg(feature = "axum")]
pub use axum_extractors::{ZtClaims, ZtDecision};

/// Fuzzing entry point (not a stable API): the first line of `data` is the request target, each
/// further line `name: value` a header (invalid ones skipped); runs the bearer extraction and
/// builds the zt request.
#[doc(hidden)]
pub fn fuzz_extract(authz: &Authorizer, data: &[u8]) {
    let mut lines = data.split(|b| *b == b'\n');
    let target = lines.next().unwrap_or_default();
    let mut builder = http::Request::builder()
        .uri(Uri::try_from(target).unwrap_or_else(|_| Uri::from_static("/")));
    for line in lines {
        if let Some(i) = line.iter().position(|b| *b == b':') {
            let (name, value) = (
                line.get(..i).unwrap_or_default(),
                line.get(i + 1..).unwrap_or_default(),
            );
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(value.trim_ascii()),
            ) {
                builder = builder.header(n, v);
            }
        }
    }
    if let Ok(req) = builder.body(()) {
        let _ = is_grpc(req.headers());
        let _ = match bearer(req.headers(), req.uri()) {
            Ok(token) => zt_request(&req, Some(token), authz),
            Err(BearerProblem::Missing) => zt_request(&req, None, authz),
            Err(BearerProblem::Invalid(why)) => {
                zt_request(&req, None, authz).malformed_authorization(why)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn bearer_table() {
        type Case<'a> = (
            &'a str,
            &'a [&'a [u8]],
            &'a str,
            Result<&'a str, BearerProblem>,
        );
        let cases: [Case; 12] = [
            ("plain", &[b"Bearer abc.def-_~+/"], "/", Ok("abc.def-_~+/")),
            ("lower-case scheme", &[b"bearer abc"], "/", Ok("abc")),
            ("padding", &[b"BEARER abc=="], "/", Ok("abc==")),
            ("none", &[], "/", Err(BearerProblem::Missing)),
            (
                "basic",
                &[b"Basic dXNlcjpwYXNz"],
                "/",
                Err(BearerProblem::Missing),
            ),
            (
                "empty",
                &[b"Bearer "],
                "/",
                Err(BearerProblem::Invalid("empty bearer token")),
            ),
            (
                "scheme only",
                &[b"Bearer"],
                "/",
                Err(BearerProblem::Invalid("empty bearer token")),
            ),
            (
                "space inside",
                &[b"Bearer a b"],
                "/",
                Err(BearerProblem::Invalid("malformed bearer token")),
            ),
            (
                "non-utf8",
                &[b"Bearer \xff\xfe"],
                "/",
                Err(BearerProblem::Invalid("malformed bearer token")),
            ),
            (
                "inner =",
                &[b"Bearer a=b"],
                "/",
                Err(BearerProblem::Invalid("malformed bearer token")),
            ),
            (
                "two headers",
                &[b"Bearer a", b"Bearer b"],
                "/",
                Err(BearerProblem::Invalid("more than one Authorization header")),
            ),
            (
                "query token",
                &[b"Bearer a"],
                "/x?access_token=a",
                Err(BearerProblem::Invalid(
                    "a token in the query string is not accepted",
                )),
            ),
        ];
        for (name, values, uri, want) in cases {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
            }
            let uri: Uri = uri.parse().unwrap();
            assert_eq!(bearer(&h, &uri), want, "{name}");
        }
    }
}
