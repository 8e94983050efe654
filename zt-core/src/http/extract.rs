//! What zt reads from an HTTP request: the bearer token (RFC 6750 §2.1, strictly), the host,
//! the configured headers and the peer. One implementation for every server integration —
//! zt-tower, the Python ASGI/WSGI middleware and the Node middleware all build their
//! [`Request`] here, so the same request gives the same decision everywhere.
//!
//! ```
//! use zt_core::http::{Bearer, bearer};
//!
//! let headers = [("authorization", "Bearer abc.def")];
//! assert_eq!(bearer(&headers[..], "/orders"), Bearer::Token("abc.def"));
//! assert_eq!(bearer(&[] as &[(&str, &str)], "/orders"), Bearer::Missing);
//! // A token in the query string (RFC 6750 §2.3) is refused, never used.
//! assert!(matches!(bearer(&headers[..], "/orders?access_token=x"), Bearer::Invalid(_)));
//! ```

use crate::request::Request;

/// Request headers as a server holds them. Implemented for [`http::HeaderMap`] and for slices of
/// `(name, value)` pairs (ASGI's list of byte pairs, WSGI's environ turned into pairs, Node's
/// raw headers), with names compared case-insensitively.
pub trait Headers {
    /// Every value of the header `name` (lower-case), in the order received.
    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's;
}

impl Headers for http::HeaderMap {
    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        self.get_all(name).iter().map(http::HeaderValue::as_bytes)
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> Headers for [(N, V)] {
    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        self.iter()
            .filter(move |(n, _)| n.as_ref().eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_ref())
    }
}

/// What the `Authorization` header gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer<'a> {
    /// One well-formed bearer token.
    Token(&'a str),
    /// No `Authorization` header, or another scheme (`Basic`): decided as `token_missing`.
    Missing,
    /// More than one header, not UTF-8, an empty or malformed token, or a token in the query
    /// string: decided as `authorization_malformed` (the text says which, without the token).
    Invalid(&'static str),
}

/// Whether `b` is a `b64token` character (RFC 6750 §2.1) other than the `=` of padding.
/// Comparisons only, so that the check over a ~1 kB token compiles to vector instructions.
fn b64token_body_char(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter
        | digit
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// The bearer token of a request, per RFC 6750 §2.1. `target` is the request target (path and
/// query): a token in the query string (§2.3) is refused, not used.
pub fn bearer<'a, H: Headers + ?Sized>(headers: &'a H, target: &str) -> Bearer<'a> {
    credential(headers, target, b"bearer")
}

/// The access token of `Authorization: DPoP <token>` (RFC 9449 §7.1), checked like a bearer
/// token; [`Bearer::Missing`] for another scheme.
///
/// ```
/// use zt_core::http::{Bearer, dpop_token};
/// let headers = [("authorization", "DPoP abc.def")];
/// assert_eq!(dpop_token(&headers[..], "/orders"), Bearer::Token("abc.def"));
/// ```
pub fn dpop_token<'a, H: Headers + ?Sized>(headers: &'a H, target: &str) -> Bearer<'a> {
    credential(headers, target, b"dpop")
}

fn credential<'a, H: Headers + ?Sized>(headers: &'a H, target: &str, want: &[u8]) -> Bearer<'a> {
    if let Some((_, query)) = target.split_once('?')
        && query
            .split('&')
            .any(|kv| kv.split('=').next() == Some("access_token"))
    {
        return Bearer::Invalid("a token in the query string is not accepted");
    }
    let mut all = headers.values("authorization");
    let Some(bytes) = all.next() else {
        return Bearer::Missing;
    };
    if all.next().is_some() {
        return Bearer::Invalid("more than one Authorization header");
    }
    let (scheme, rest) = match bytes.iter().position(|b| *b == b' ') {
        Some(i) => (
            bytes.get(..i).unwrap_or_default(),
            bytes.get(i + 1..).unwrap_or_default(),
        ),
        None => (bytes, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(want) {
        return Bearer::Missing;
    }
    let token = rest.trim_ascii();
    if token.is_empty() {
        return Bearer::Invalid("empty bearer token");
    }
    // `=` only as trailing padding (a JWS has none), and something before it; the rest
    // b64token characters, checked in one loop without early exit (vector instructions).
    let padding = token.iter().rev().take_while(|b| **b == b'=').count();
    let body = token.get(..token.len() - padding).unwrap_or_default();
    let well_formed =
        !body.is_empty() && body.iter().fold(true, |ok, b| ok & b64token_body_char(*b));
    if !well_formed {
        return Bearer::Invalid("malformed bearer token");
    }
    match std::str::from_utf8(token) {
        Ok(t) => Bearer::Token(t),
        Err(_) => Bearer::Invalid("malformed bearer token"),
    }
}

/// A header value as text when it is visible ASCII (and tabs), as `http::HeaderValue::to_str`
/// reads it; other values (obs-text, controls) are not given to the policy.
fn visible_ascii(v: &[u8]) -> Option<&str> {
    if v.iter().all(|b| *b == b'\t' || (0x20..0x7f).contains(b)) {
        std::str::from_utf8(v).ok()
    } else {
        None
    }
}

/// Which request headers reach the policy input: implemented by
/// [`Authorizer`](crate::Authorizer) from its config (`[request] headers` and the posture
/// header), so middleware copies only these into a [`Request`].
pub trait HeaderSelection {
    /// The header names (lower-case) that reach `input.request.headers`.
    fn request_headers(&self) -> &[String];
    /// The header carrying posture assertions, if any.
    fn posture_header(&self) -> Option<&str>;
}

impl<T: HeaderSelection + ?Sized> HeaderSelection for &T {
    fn request_headers(&self) -> &[String] {
        (**self).request_headers()
    }

    fn posture_header(&self) -> Option<&str> {
        (**self).posture_header()
    }
}

impl<T: HeaderSelection + ?Sized> HeaderSelection for std::sync::Arc<T> {
    fn request_headers(&self) -> &[String] {
        (**self).request_headers()
    }

    fn posture_header(&self) -> Option<&str> {
        (**self).posture_header()
    }
}

/// The zt [`Request`] for an HTTP request: the bearer or `DPoP` token and the `DPoP` proof
/// header (a malformed `Authorization` is
/// kept as such, so the decision says `authorization_malformed`), method, target, host (the
/// `Host` header, else `authority` — HTTP/2's `:authority`), the headers the config names
/// (`[request] headers` and the posture header; the first value of each, when it is visible
/// ASCII) and the peer's address. `target` must be the path the application routes on (with
/// the query): a server that routes on the percent-decoded path must pass that path
/// (re-encoded), or `/%61dmin` would reach `/admin` routes under a policy that saw `/%61dmin`. Add a SPIFFE id, device or resource with the [`Request`] builder methods.
///
/// ```
/// use zt_core::http::request_from_http;
/// # use zt_core::{Authorizer, AuthorizerConfig};
/// # let config = AuthorizerConfig::from_toml_str(r#"
/// #     [[issuers]]
/// #     issuer = "https://idp.example.com"
/// #     audiences = ["api"]
/// #     algorithms = ["ES256"]
/// #     jwks = { keys = [{ kty = "EC", kid = "k1", crv = "P-256",
/// #              x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
/// #              y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
/// #     [decision_log]
/// #     sink = "none"
/// # "#)?;
/// # let authz = Authorizer::builder(config)
/// #     .policy_files(vec![("a.rego".into(), b"package zt.authz\ndecision := false".to_vec())])
/// #     .build()?;
/// let headers = [("host", "api.example.com"), ("authorization", "Bearer")];
/// let request = request_from_http(&authz, "GET", "/orders?page=2", &headers[..], None, Some("10.0.0.7"));
/// let decision = authz.authorize_sync(&request);
/// assert_eq!(decision.reasons[0].as_str(), "authorization_malformed");
/// // A shared authorizer works as well (`&Arc<Authorizer>`, `&&Authorizer`).
/// let shared = std::sync::Arc::new(authz.clone());
/// let again = request_from_http(&shared, "GET", "/orders", &headers[..], None, None);
/// assert_eq!(shared.authorize_sync(&again).reasons, decision.reasons);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn request_from_http<A: HeaderSelection + ?Sized, H: Headers + ?Sized>(
    authz: &A,
    method: &str,
    target: &str,
    headers: &H,
    authority: Option<&str>,
    peer_ip: Option<&str>,
) -> Request {
    let mut out = Request::new(method, target);
    out = match bearer(headers, target) {
        Bearer::Token(token) => out.bearer(token),
        Bearer::Missing => match dpop_token(headers, target) {
            Bearer::Token(token) => out.dpop(token),
            Bearer::Missing => out,
            Bearer::Invalid(why) => out.malformed_authorization(why),
        },
        Bearer::Invalid(why) => out.malformed_authorization(why),
    };
    // The DPoP proof (RFC 9449 §4.3: exactly one header).
    let mut proofs = headers.values("dpop");
    if let Some(first) = proofs.next() {
        out = match (proofs.next(), visible_ascii(first)) {
            (None, Some(p)) => out.dpop_proof(p),
            (Some(_), _) => out.malformed_dpop_proof("more than one DPoP header"),
            (None, None) => out.malformed_dpop_proof("a DPoP header that is not visible ASCII"),
        };
    }
    let host = headers
        .values("host")
        .next()
        .and_then(visible_ascii)
        .or(authority);
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
        if let Some(v) = headers.values(name).next().and_then(visible_ascii) {
            out = out.header(name, v);
        }
    }
    if let Some(ip) = peer_ip {
        out = out.source_ip(ip);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_table() {
        type Case<'a> = (&'a str, &'a [&'a [u8]], &'a str, Bearer<'a>);
        let cases: [Case; 13] = [
            (
                "plain",
                &[b"Bearer abc.def-_~+/"],
                "/",
                Bearer::Token("abc.def-_~+/"),
            ),
            (
                "lower-case scheme",
                &[b"bearer abc"],
                "/",
                Bearer::Token("abc"),
            ),
            ("padding", &[b"BEARER abc=="], "/", Bearer::Token("abc==")),
            (
                "other query",
                &[b"Bearer abc"],
                "/?a=1&b",
                Bearer::Token("abc"),
            ),
            ("none", &[], "/", Bearer::Missing),
            ("basic", &[b"Basic dXNlcjpwYXNz"], "/", Bearer::Missing),
            (
                "empty",
                &[b"Bearer "],
                "/",
                Bearer::Invalid("empty bearer token"),
            ),
            (
                "scheme only",
                &[b"Bearer"],
                "/",
                Bearer::Invalid("empty bearer token"),
            ),
            (
                "space inside",
                &[b"Bearer a b"],
                "/",
                Bearer::Invalid("malformed bearer token"),
            ),
            (
                "non-utf8",
                &[b"Bearer \xff\xfe"],
                "/",
                Bearer::Invalid("malformed bearer token"),
            ),
            (
                "inner =",
                &[b"Bearer a=b"],
                "/",
                Bearer::Invalid("malformed bearer token"),
            ),
            (
                "two headers",
                &[b"Bearer a", b"Bearer b"],
                "/",
                Bearer::Invalid("more than one Authorization header"),
            ),
            (
                "query token",
                &[b"Bearer a"],
                "/x?access_token=a",
                Bearer::Invalid("a token in the query string is not accepted"),
            ),
        ];
        for (name, values, target, want) in cases {
            // The same answer from a slice of pairs (any case) and from an http::HeaderMap.
            let pairs: Vec<(&[u8], &[u8])> =
                values.iter().map(|v| (&b"Authorization"[..], *v)).collect();
            assert_eq!(bearer(&pairs[..], target), want, "{name} (pairs)");
            let mut map = http::HeaderMap::new();
            for v in values {
                map.append(
                    http::header::AUTHORIZATION,
                    http::HeaderValue::from_bytes(v).unwrap(),
                );
            }
            assert_eq!(bearer(&map, target), want, "{name} (HeaderMap)");
        }
    }

    #[test]
    fn header_text_is_visible_ascii_only() {
        assert_eq!(visible_ascii(b"acme\tcorp"), Some("acme\tcorp"));
        assert_eq!(visible_ascii("caf\u{e9}".as_bytes()), None);
        assert_eq!(visible_ascii(b"a\r\nb"), None);
        assert_eq!(visible_ascii(b"a\x7f"), None);
    }
}
