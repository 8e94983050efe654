//! Denial responses: RFC 6750 / RFC 9470 challenges, RFC 9457 problem bodies, gRPC statuses.

use crate::extract::BearerProblem;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde_json::json;
use std::sync::Arc;
use zt_core::{Decision, Outcome, Reason};

/// A request zt refuses, handed to a [`DenyHook`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Denial<'a> {
    /// The decision, when the authorizer ran (not for a malformed `Authorization` header).
    pub decision: Option<&'a Decision>,
    /// The HTTP status zt would answer with.
    pub status: StatusCode,
    /// The RFC 6750 / 9470 `error` code, if any (`invalid_token`, `invalid_request`, ...).
    pub bearer_error: Option<&'static str>,
    /// Whether the request is gRPC.
    pub grpc: bool,
}

/// Replaces zt's denial response: return `Some` to answer with your own response.
pub type DenyHook = Arc<dyn Fn(&Denial<'_>) -> Option<http::Response<Bytes>> + Send + Sync>;

/// Escape a value for an RFC 9110 quoted-string (and drop control characters).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || !c.is_ascii() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What to answer for a decision that does not let the request through.
pub(crate) fn classify(d: &Decision) -> (StatusCode, Option<&'static str>) {
    if d.evaluated == Outcome::StepUp {
        return (
            StatusCode::UNAUTHORIZED,
            Some("insufficient_user_authentication"),
        );
    }
    for r in &d.reasons {
        match r {
            Reason::TokenMissing => return (StatusCode::UNAUTHORIZED, None),
            Reason::JwksUnavailable => return (StatusCode::SERVICE_UNAVAILABLE, None),
            Reason::InternalError => return (StatusCode::INTERNAL_SERVER_ERROR, None),
            r if r.rejects_token() => return (StatusCode::UNAUTHORIZED, Some("invalid_token")),
            _ => {}
        }
    }
    let scope = d.policy_reasons.iter().any(|r| r == "insufficient_scope");
    (StatusCode::FORBIDDEN, scope.then_some("insufficient_scope"))
}

pub(crate) fn bearer_problem(p: BearerProblem) -> (StatusCode, Option<&'static str>, &'static str) {
    match p {
        BearerProblem::Missing => (StatusCode::UNAUTHORIZED, None, "no bearer token"),
        BearerProblem::Invalid(why) => (StatusCode::UNAUTHORIZED, Some("invalid_request"), why),
    }
}

fn grpc_status(status: StatusCode) -> u16 {
    match status {
        StatusCode::UNAUTHORIZED => 16,        // UNAUTHENTICATED
        StatusCode::FORBIDDEN => 7,            // PERMISSION_DENIED
        StatusCode::SERVICE_UNAVAILABLE => 14, // UNAVAILABLE
        _ => 13,                               // INTERNAL
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

/// The default response for a denial.
pub(crate) fn render(realm: &str, denial: &Denial<'_>, description: &str) -> http::Response<Bytes> {
    let mut challenge = format!("Bearer realm={}", quote(realm));
    if let Some(e) = denial.bearer_error {
        challenge.push_str(&format!(", error={}", quote(e)));
        if !description.is_empty() {
            challenge.push_str(&format!(", error_description={}", quote(description)));
        }
    }
    if let Some(s) = denial.decision.and_then(|d| d.step_up.as_ref()) {
        if let Some(a) = &s.acr_values {
            challenge.push_str(&format!(", acr_values={}", quote(a)));
        }
        if let Some(m) = s.max_age {
            challenge.push_str(&format!(", max_age={m}"));
        }
    }
    let reasons: Vec<&str> = denial
        .decision
        .map(|d| d.reasons.iter().map(|r| r.as_str()).collect())
        .unwrap_or_default();
    let id = denial.decision.map(|d| d.id.as_str());
    let mut builder = http::Response::builder();
    if let Ok(v) = HeaderValue::from_str(&challenge)
        && matches!(
            denial.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        )
    {
        builder = builder.header(WWW_AUTHENTICATE, v);
    }
    if let Some(id) = id.and_then(|i| HeaderValue::from_str(i).ok()) {
        builder = builder.header(crate::DECISION_ID_HEADER, id);
    }
    let body = if denial.grpc {
        builder = builder
            .status(StatusCode::OK)
            .header(CONTENT_TYPE, "application/grpc")
            .header("grpc-status", grpc_status(denial.status).to_string());
        let msg = if reasons.is_empty() {
            description.to_owned()
        } else {
            format!("zt: {}", reasons.join(", "))
        };
        if let Ok(v) = HeaderValue::from_str(&grpc_message(&msg)) {
            builder = builder.header("grpc-message", v);
        }
        Bytes::new()
    } else {
        builder = builder
            .status(denial.status)
            .header(CONTENT_TYPE, "application/problem+json");
        let problem = json!({
            "type": "about:blank",
            "title": denial.status.canonical_reason().unwrap_or("Error"),
            "status": denial.status.as_u16(),
            "detail": if reasons.is_empty() { description.to_owned() } else { reasons.join(", ") },
            "reasons": reasons,
            "decision_id": id,
            "error": denial.bearer_error,
        });
        Bytes::from(problem.to_string())
    };
    builder.body(body).unwrap_or_else(|_| {
        let mut r = http::Response::new(Bytes::new());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_table() {
        let cases = [
            ("plain", "orders", "\"orders\""),
            ("quote and backslash", "a\"b\\c", "\"a\\\"b\\\\c\""),
            ("control and non-ascii dropped", "a\r\nb\u{e9}", "\"ab\""),
        ];
        for (name, input, want) in cases {
            assert_eq!(quote(input), want, "{name}");
        }
        assert_eq!(grpc_message("a b%ç"), "a b%25%C3%A7");
    }
}
