//! What the layer reads from a request, and the axum extractors for what it leaves behind.

use http::{HeaderMap, Uri};
use std::net::{IpAddr, SocketAddr};
use zt_core::{Authorizer, Request};

/// The peer's address, for `input.request.source_ip`. Insert it yourself, or serve an axum app
/// with `into_make_service_with_connect_info::<SocketAddr>()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The SPIFFE id of a peer whose client certificate the TLS acceptor verified
/// (`input.workload.spiffe_id`). zt trusts whoever inserts it: only a TLS layer should.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpiffeId(pub String);

/// The DER certificate of a peer whose client certificate the TLS acceptor verified, for
/// certificate-bound tokens (RFC 8705 `cnf["x5t#S256"]`). zt trusts whoever inserts it: only a
/// TLS layer should.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate(pub Vec<u8>);

/// Whether the request is gRPC (content type `application/grpc`, `application/grpc+proto`, …).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// Build the zt request through zt-core's one extraction (bearer token, method, target, host,
/// configured headers, peer, the `DPoP` scheme and proof), plus the SPIFFE id and client
/// certificate a TLS layer left.
pub(crate) fn zt_request<B>(req: &http::Request<B>, authz: &Authorizer) -> Request {
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path(), |p| p.as_str());
    let authority = req.uri().authority().map(|a| a.as_str());
    let peer = peer_addr(req.extensions()).map(|a| ip_text(a.ip()));
    let out = zt_core::http::request_from_http(
        authz,
        req.method().as_str(),
        target,
        req.headers(),
        authority,
        peer.as_deref(),
    );
    let out = match req.extensions().get::<PeerSpiffeId>() {
        Some(PeerSpiffeId(id)) => out.spiffe_id(id.clone()),
        None => out,
    };
    match req.extensions().get::<PeerCertificate>() {
        Some(PeerCertificate(der)) => out.client_certificate(der),
        None => out,
    }
}

/// The peer's address as text, exactly as `IpAddr`'s `Display` writes it. IPv4 (most peers) is
/// written digit by digit: `Display` goes through the formatting machinery, 1,355 instructions
/// per request, a fifth of the layer's extraction (`scripts/layer-profile.sh`).
fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut out = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
            out
        }
        IpAddr::V6(_) => ip.to_string(),
    }
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
        let _ = zt_request(&req, authz);
    }
}

#[cfg(test)]
mod tests {
    use super::ip_text;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    #[test]
    fn peer_address_text_is_displays() {
        // Every octet value in every position, and the edges between digit counts.
        for v in 0..=255u8 {
            for octets in [
                [v, 0, 0, 0],
                [0, v, 0, 0],
                [0, 0, v, 0],
                [0, 0, 0, v],
                [v, v, 9, 99],
            ] {
                let ip = IpAddr::V4(Ipv4Addr::from(octets));
                assert_eq!(ip_text(ip), ip.to_string());
            }
        }
        for ip in [
            IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255)),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()),
        ] {
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }
}
