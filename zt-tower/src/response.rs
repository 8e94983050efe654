//! Denial responses: the status, challenge and RFC 9457 problem body come from
//! [`zt_core::http`] (the same bytes every zt surface sends); the gRPC mapping lives here.

use crate::body::ZtBody;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, StatusCode};
use std::sync::Arc;
use zt_core::Decision;
use zt_core::http::HttpAnswer;

/// A request zt refuses, handed to a [`DenyHook`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Denial<'a> {
    /// The decision (every denial has one: a malformed `Authorization` header is decided too,
    /// with reason `authorization_malformed`).
    pub decision: &'a Decision,
    /// The HTTP status zt would answer with.
    pub status: StatusCode,
    /// The RFC 6750 / 9470 `error` code, if any (`invalid_token`, `invalid_request`, ...).
    pub bearer_error: Option<&'static str>,
    /// Whether the request is gRPC.
    pub grpc: bool,
}

/// Replaces zt's denial response: return `Some` to answer with your own response.
pub type DenyHook = Arc<dyn Fn(&Denial<'_>) -> Option<http::Response<Bytes>> + Send + Sync>;

fn grpc_status(status: u16) -> u16 {
    match status {
        401 => 16, // UNAUTHENTICATED
        403 => 7,  // PERMISSION_DENIED
        503 => 14, // UNAVAILABLE
        _ => 13,   // INTERNAL
    }
}

/// `grpc-message` percent-encoding (gRPC over HTTP/2 spec).
fn grpc_message(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The default response for a denial: zt-core's HTTP answer, or a trailers-only gRPC status.
pub(crate) fn render(answer: &HttpAnswer, grpc: bool) -> http::Response<Bytes> {
    let mut builder = http::Response::builder();
    let body = if grpc {
        let problem = answer.problem.as_ref();
        builder = builder
            .status(StatusCode::OK)
            .header(CONTENT_TYPE, "application/grpc")
            .header("grpc-status", grpc_status(answer.status).to_string());
        if let Some(id) = answer.header(zt_core::http::DECISION_ID_HEADER) {
            builder = builder.header(zt_core::http::DECISION_ID_HEADER, id);
        }
        let msg = format!("zt: {}", problem.map_or("", |p| p.detail.as_str()));
        if let Ok(v) = HeaderValue::from_str(&grpc_message(&msg)) {
            builder = builder.header("grpc-message", v);
        }
        Bytes::new()
    } else {
        builder = builder.status(answer.status);
        for (name, value) in &answer.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                builder = builder.header(n, v);
            }
        }
        Bytes::from(answer.body().unwrap_or_default())
    };
    builder.body(body).unwrap_or_else(|_| {
        let mut r = http::Response::new(Bytes::new());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// Apply an object of header name → string value; names or values that are not valid headers
/// are skipped (and traced).
pub(crate) fn apply_headers(headers: &mut http::HeaderMap, obligation: Option<&serde_json::Value>) {
    let Some(serde_json::Value::Object(map)) = obligation else {
        return;
    };
    for (k, v) in map {
        let value = v.as_str().and_then(|v| HeaderValue::from_str(v).ok());
        match (HeaderName::from_bytes(k.as_bytes()), value) {
            (Ok(name), Some(value)) => {
                headers.insert(name, value);
            }
            _ => {
                tracing::warn!(header = %k, "zt: obligation header is not a valid header, skipped")
            }
        }
    }
}

/// The inner service's response with the obligation's response headers and zt's own (the
/// warn marker, a fresh `DPoP-Nonce`).
pub(crate) fn finish_response<B>(
    resp: http::Response<B>,
    response_headers: Option<&serde_json::Value>,
    answer_headers: Vec<(http::HeaderName, HeaderValue)>,
) -> http::Response<ZtBody<B>> {
    let mut resp = resp.map(ZtBody::inner);
    apply_headers(resp.headers_mut(), response_headers);
    for (k, v) in answer_headers {
        resp.headers_mut().insert(k, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_message_encoding() {
        assert_eq!(grpc_message("a b%ç"), "a b%25%C3%A7");
        assert_eq!(grpc_status(401), 16);
        assert_eq!(grpc_status(500), 13);
    }
}
