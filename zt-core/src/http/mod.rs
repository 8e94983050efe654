//! What a [`Decision`] means over HTTP: status, `WWW-Authenticate` challenge, zt's headers and
//! an RFC 9457 problem body. No server dependency: zt-tower answers through this module, and the
//! Python (ASGI/WSGI) and Node (Express/Fastify) middleware are to reach it through their
//! bindings, so every surface sends the same bytes for the same decision.
//!
//! | decision | status | `WWW-Authenticate` `error` |
//! | --- | --- | --- |
//! | allowed | 200 (proceed) | — |
//! | `token_missing` | 401 | none (a plain challenge, RFC 6750 §3.1) |
//! | `authorization_malformed` | 401 | `invalid_request` |
//! | token rejected (expired, bad signature, revoked, …) | 401 | `invalid_token` |
//! | step-up | 401 | `insufficient_user_authentication` + `acr_values`, `max_age` (RFC 9470) |
//! | policy or posture deny | 403 | `insufficient_scope` when a policy reason says so, else none |
//! | `jwks_unavailable`, `introspection_unavailable` | 503 | — (no challenge) |
//! | `introspection_pending` | 503 with `Retry-After: 1` | — (no challenge) |
//! | `dpop_nonce_required` | 401 with `DPoP-Nonce` | `use_dpop_nonce` (a `DPoP` challenge) |
//! | `dpop_replay_store_unavailable` and the other DPoP proof reasons | 401 | `invalid_dpop_proof` (a `DPoP` challenge) |
//! | `internal_error` | 500 | — (no challenge) |
//!
//! ```
//! use zt_core::http::HttpAnswer;
//! # use zt_core::{Authorizer, AuthorizerConfig, Request};
//! # let config = AuthorizerConfig::from_toml_str(r#"
//! #     [[issuers]]
//! #     issuer = "https://idp.example.com"
//! #     audiences = ["api"]
//! #     algorithms = ["ES256"]
//! #     jwks = { keys = [{ kty = "EC", kid = "k1", crv = "P-256",
//! #              x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//! #              y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
//! #     [decision_log]
//! #     sink = "none"
//! # "#)?;
//! # let authz = Authorizer::builder(config)
//! #     .policy_files(vec![("a.rego".into(), b"package zt.authz\ndecision := false".to_vec())])
//! #     .build()?;
//! let decision = authz.authorize_sync(&Request::new("GET", "/orders"));
//! let answer = HttpAnswer::new(&decision, "orders");
//! assert_eq!(answer.status, 401);
//! assert!(!answer.proceed);
//! assert_eq!(answer.header("www-authenticate"), Some(r#"Bearer realm="orders""#));
//! let body: serde_json::Value = serde_json::from_str(&answer.body().unwrap())?;
//! assert_eq!(body["reasons"][0], "token_missing");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Security
//! - Headers and bodies carry reason codes and the decision id only, never token contents.
//! - Challenge parameters are RFC 9110 quoted strings: `"` and `\` are escaped, control and
//!   non-ASCII characters dropped, so a hostile realm or policy reason cannot split headers.

mod extract;

pub use extract::{Bearer, HeaderSelection, Headers, bearer, dpop_token, request_from_http};

use crate::codes::EnforcementMode;
use crate::codes::Outcome;
use crate::codes::Reason;
use crate::decision::Decision;

/// The header carrying the decision id on denials.
pub const DECISION_ID_HEADER: &str = "x-zt-decision-id";
/// The header that marks responses to requests allowed only because of `warn` mode.
pub const WOULD_DENY_HEADER: &str = "x-zt-would-deny";
/// The content type of problem bodies (RFC 9457).
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// How to answer one decision over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct HttpAnswer {
    /// Whether the request goes on to the application.
    pub proceed: bool,
    /// The status to answer with when it does not (200 when it does).
    pub status: u16,
    /// The RFC 6750 / RFC 9470 `error` code of the challenge, if any.
    pub bearer_error: Option<&'static str>,
    /// Headers to set, lower-case names: `www-authenticate`, `x-zt-decision-id` and
    /// `content-type` on a denial (with `retry-after` for `introspection_pending`);
    /// `x-zt-would-deny` on a request allowed by `warn` mode; `dpop-nonce` on a DPoP refusal
    /// and on an allowed request whose proof used the previous nonce (with server nonces).
    pub headers: Vec<(&'static str, String)>,
    /// The problem body on a denial.
    pub problem: Option<Problem>,
}

/// An RFC 9457 problem body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Problem {
    /// Always `about:blank`: the status says it all.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The status's reason phrase.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// The reason codes, comma-separated.
    pub detail: String,
    /// The reason codes.
    pub reasons: Vec<Reason>,
    /// The decision id (also in the decision log).
    pub decision_id: String,
    /// The RFC 6750 `error` code, if any.
    pub error: Option<&'static str>,
}

impl HttpAnswer {
    /// The answer for `decision`: proceed when it is allowed (with the `warn` marker when it
    /// was allowed only because of `warn` mode), otherwise [`HttpAnswer::denied`].
    pub fn new(decision: &Decision, realm: &str) -> Self {
        if decision.is_allowed() {
            Self::proceed(decision)
        } else {
            Self::denied(decision, realm)
        }
    }

    /// The answer when a middleware overrides the configured enforcement mode for its routes
    /// (`None` keeps the decision's own): `enforce` denies whatever was not evaluated `allow`;
    /// `warn` lets everything through, marking would-be denials with `x-zt-would-deny`;
    /// `log_only` lets everything through (marked only when the config's mode was `warn`).
    ///
    /// ```
    /// # use zt_core::{Authorizer, AuthorizerConfig, EnforcementMode, Request};
    /// use zt_core::http::HttpAnswer;
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
    /// let decision = authz.authorize_sync(&Request::new("GET", "/orders"));
    /// let answer = HttpAnswer::with_mode(&decision, "orders", Some(EnforcementMode::Warn));
    /// assert!(answer.proceed);
    /// assert_eq!(answer.header("x-zt-would-deny"), Some("token_missing"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_mode(decision: &Decision, realm: &str, mode: Option<EnforcementMode>) -> Self {
        let evaluated_allow = decision.evaluated == Outcome::Allow;
        match mode {
            None => Self::new(decision, realm),
            Some(EnforcementMode::Enforce) if !evaluated_allow => Self::denied(decision, realm),
            Some(EnforcementMode::Enforce) => Self::proceed_marked(decision, false),
            Some(EnforcementMode::Warn) => Self::proceed_marked(decision, !evaluated_allow),
            Some(EnforcementMode::LogOnly) => {
                Self::proceed_marked(decision, !evaluated_allow && decision.warning())
            }
        }
    }

    /// Proceed, with the `x-zt-would-deny` marker when the evaluated outcome was not `allow`
    /// (a `warn` mode decision).
    pub fn proceed(decision: &Decision) -> Self {
        Self::proceed_marked(decision, decision.warning())
    }

    fn proceed_marked(decision: &Decision, marked: bool) -> Self {
        let mut headers = Vec::new();
        if marked {
            headers.push((WOULD_DENY_HEADER, would_deny(decision)));
        }
        // A DPoP proof passed with the previous nonce: the response carries the current one.
        if let Some(nonce) = &decision.dpop_nonce {
            headers.push(("dpop-nonce", nonce.clone()));
        }
        Self {
            proceed: true,
            status: 200,
            bearer_error: None,
            headers,
            problem: None,
        }
    }

    /// The denial for `decision`, whatever its enforced outcome (middleware that enforces a
    /// stricter mode for some routes uses this directly).
    pub fn denied(decision: &Decision, realm: &str) -> Self {
        let (status, bearer_error) = classify(decision);
        let detail = reason_list(decision);
        let mut headers = Vec::with_capacity(3);
        if matches!(status, 401 | 403) {
            headers.push((
                "www-authenticate",
                challenge(realm, bearer_error, &detail, decision),
            ));
        }
        if let Some(nonce) = &decision.dpop_nonce {
            headers.push(("dpop-nonce", nonce.clone()));
        }
        if decision.reasons.contains(&Reason::IntrospectionPending) {
            // The lookup is under way: a retry a moment later is decided from its result.
            headers.push(("retry-after", "1".to_owned()));
        }
        headers.push((DECISION_ID_HEADER, decision.id.clone()));
        headers.push(("content-type", PROBLEM_CONTENT_TYPE.to_owned()));
        Self {
            proceed: false,
            status,
            bearer_error,
            headers,
            problem: Some(Problem {
                kind: "about:blank",
                title: title(status),
                status,
                detail,
                reasons: decision.reasons.clone(),
                decision_id: decision.id.clone(),
                error: bearer_error,
            }),
        }
    }

    /// The value of a header of this answer (names are lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The problem body as JSON text, on a denial.
    pub fn body(&self) -> Option<String> {
        self.problem
            .as_ref()
            .and_then(|p| serde_json::to_string(p).ok())
    }
}

/// The status and RFC 6750 `error` for a decision that does not let the request through.
fn classify(d: &Decision) -> (u16, Option<&'static str>) {
    if d.evaluated == Outcome::StepUp {
        return (401, Some("insufficient_user_authentication"));
    }
    for r in &d.reasons {
        match r {
            Reason::TokenMissing => return (401, None),
            Reason::AuthorizationMalformed => return (401, Some("invalid_request")),
            Reason::JwksUnavailable
            | Reason::IntrospectionPending
            | Reason::IntrospectionUnavailable => return (503, None),
            Reason::InternalError => return (500, None),
            Reason::DpopNonceRequired => return (401, Some("use_dpop_nonce")),
            r if r.is_dpop_proof() => return (401, Some("invalid_dpop_proof")),
            r if r.rejects_token() => return (401, Some("invalid_token")),
            _ => {}
        }
    }
    let scope = d.policy_reasons.iter().any(|r| r == "insufficient_scope");
    (403, scope.then_some("insufficient_scope"))
}

fn title(status: u16) -> &'static str {
    match status {
        401 => "Unauthorized",
        403 => "Forbidden",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn reason_list(d: &Decision) -> String {
    let mut out = String::new();
    for (i, r) in d.reasons.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(r.as_str());
    }
    out
}

/// The `x-zt-would-deny` value: the reasons, or `deny` when there are none.
pub fn would_deny(d: &Decision) -> String {
    let list = reason_list(d);
    if list.is_empty() {
        "deny".to_owned()
    } else {
        list
    }
}

/// The `WWW-Authenticate` value for a decision: `Bearer realm="…"` (`DPoP realm="…",
/// algs="…"` for a DPoP failure), then `error`,
/// `error_description` (when there is an error) and the step-up parameters.
pub fn challenge(
    realm: &str,
    bearer_error: Option<&str>,
    description: &str,
    decision: &Decision,
) -> String {
    // RFC 9449 §7.1: a DPoP failure is answered with a `DPoP` challenge naming the algorithms.
    let dpop = decision
        .reasons
        .iter()
        .any(|r| r.is_dpop_proof() || *r == Reason::DpopSchemeRequired);
    let mut c = if dpop {
        // The authorizer's `[dpop] algorithms` (the default set for a decision made elsewhere).
        let algs = decision
            .dpop_algs
            .as_deref()
            .unwrap_or("ES256 ES384 RS256 PS256 EdDSA");
        format!("DPoP realm={}, algs={}", quote(realm), quote(algs))
    } else {
        format!("Bearer realm={}", quote(realm))
    };
    if let Some(e) = bearer_error {
        c.push_str(", error=");
        c.push_str(&quote(e));
        if !description.is_empty() {
            c.push_str(", error_description=");
            c.push_str(&quote(description));
        }
    }
    if let Some(s) = &decision.step_up {
        if let Some(a) = &s.acr_values {
            c.push_str(", acr_values=");
            c.push_str(&quote(a));
        }
        if let Some(m) = s.max_age {
            c.push_str(&format!(", max_age={m}"));
        }
    }
    c
}

/// Escape a value for an RFC 9110 quoted-string, dropping control and non-ASCII characters.
///
/// ```
/// assert_eq!(zt_core::http::quote("a\"b\\c\r\n"), r#""a\"b\\c""#);
/// ```
pub fn quote(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::EnforcementMode;
    use crate::policy::StepUp;

    fn decision(evaluated: Outcome, reasons: &[Reason]) -> Decision {
        let mut d = Decision::test_sample();
        d.id = "d-1".to_owned();
        d.evaluated = evaluated;
        d.outcome = evaluated;
        d.reasons = reasons.to_vec();
        d
    }

    #[test]
    fn answers_table() {
        use Outcome::*;
        let rb = "Bearer realm=\"api\"";
        let cases = [
            (
                "missing",
                decision(Deny, &[Reason::TokenMissing]),
                401,
                None,
                Some(rb.to_owned()),
            ),
            (
                "malformed header",
                decision(Deny, &[Reason::AuthorizationMalformed]),
                401,
                Some("invalid_request"),
                Some(format!(
                    "{rb}, error=\"invalid_request\", error_description=\"authorization_malformed\""
                )),
            ),
            (
                "expired",
                decision(Deny, &[Reason::TokenExpired]),
                401,
                Some("invalid_token"),
                Some(format!(
                    "{rb}, error=\"invalid_token\", error_description=\"token_expired\""
                )),
            ),
            (
                "revoked",
                decision(Deny, &[Reason::SubjectRevoked]),
                401,
                Some("invalid_token"),
                Some(format!(
                    "{rb}, error=\"invalid_token\", error_description=\"subject_revoked\""
                )),
            ),
            (
                "policy",
                decision(Deny, &[Reason::PolicyDenied]),
                403,
                None,
                Some(rb.to_owned()),
            ),
            (
                "posture then policy",
                decision(Deny, &[Reason::PostureStale, Reason::PolicyDenied]),
                403,
                None,
                Some(rb.to_owned()),
            ),
            (
                "policy error",
                decision(Deny, &[Reason::PolicyError]),
                403,
                None,
                Some(rb.to_owned()),
            ),
            (
                "keys unavailable",
                decision(Deny, &[Reason::JwksUnavailable]),
                503,
                None,
                None,
            ),
            (
                "internal",
                decision(Deny, &[Reason::InternalError]),
                500,
                None,
                None,
            ),
        ];
        for (name, d, status, error, www) in cases {
            let a = HttpAnswer::new(&d, "api");
            assert!(!a.proceed, "{name}");
            assert_eq!(a.status, status, "{name}");
            assert_eq!(a.bearer_error, error, "{name}");
            assert_eq!(
                a.header("www-authenticate").map(str::to_owned),
                www,
                "{name}"
            );
            assert_eq!(a.header(DECISION_ID_HEADER), Some("d-1"), "{name}");
            assert_eq!(
                a.header("content-type"),
                Some(PROBLEM_CONTENT_TYPE),
                "{name}"
            );
            let body: serde_json::Value = serde_json::from_str(&a.body().unwrap()).unwrap();
            let reasons: Vec<&str> = d.reasons.iter().map(|r| r.as_str()).collect();
            assert_eq!(
                body,
                serde_json::json!({
                    "type": "about:blank", "title": title(status), "status": status,
                    "detail": reasons.join(", "), "reasons": reasons, "decision_id": "d-1", "error": error,
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn step_up_and_scope() {
        let mut d = decision(Outcome::StepUp, &[Reason::StepUpRequired]);
        d.step_up = Some(StepUp {
            acr_values: Some("urn:mfa \"x\"".to_owned()),
            max_age: Some(300),
        });
        let a = HttpAnswer::new(&d, "api");
        assert_eq!(a.status, 401);
        assert_eq!(
            a.header("www-authenticate"),
            Some(
                "Bearer realm=\"api\", error=\"insufficient_user_authentication\", error_description=\"step_up_required\", acr_values=\"urn:mfa \\\"x\\\"\", max_age=300"
            )
        );
        let mut d = decision(Outcome::Deny, &[Reason::PolicyDenied]);
        d.policy_reasons = vec!["insufficient_scope".to_owned()];
        let a = HttpAnswer::new(&d, "a\r\nb");
        assert_eq!(a.status, 403);
        assert_eq!(
            a.header("www-authenticate"),
            Some(
                "Bearer realm=\"ab\", error=\"insufficient_scope\", error_description=\"policy_denied\""
            )
        );
    }

    #[test]
    fn allowed_and_warn() {
        let d = decision(Outcome::Allow, &[]);
        let a = HttpAnswer::new(&d, "api");
        assert_eq!(
            (a.proceed, a.status, a.headers.len(), a.body()),
            (true, 200, 0, None)
        );
        let mut w = decision(Outcome::Deny, &[Reason::PolicyDenied]);
        w.outcome = Outcome::Allow;
        w.enforced = false;
        w.mode = EnforcementMode::Warn;
        let a = HttpAnswer::new(&w, "api");
        assert!(a.proceed);
        assert_eq!(a.header(WOULD_DENY_HEADER), Some("policy_denied"));
        // A log_only decision proceeds without the marker; `denied` still gives its denial.
        w.mode = EnforcementMode::LogOnly;
        assert_eq!(HttpAnswer::new(&w, "api").headers, vec![]);
        assert_eq!(HttpAnswer::denied(&w, "api").status, 403);
    }

    #[test]
    fn mode_override_table() {
        use EnforcementMode::{Enforce, LogOnly, Warn};
        let allow = decision(Outcome::Allow, &[]);
        let deny = decision(Outcome::Deny, &[Reason::PolicyDenied]);
        let mut warned = deny.clone();
        warned.outcome = Outcome::Allow;
        warned.enforced = false;
        warned.mode = Warn;
        // (name, decision, override, proceed, would-deny marker)
        let cases = [
            ("allow, none", &allow, None, true, None),
            ("allow, enforce", &allow, Some(Enforce), true, None),
            ("allow, warn", &allow, Some(Warn), true, None),
            ("deny, none", &deny, None, false, None),
            ("deny, warn", &deny, Some(Warn), true, Some("policy_denied")),
            ("deny, log_only", &deny, Some(LogOnly), true, None),
            ("warned, none", &warned, None, true, Some("policy_denied")),
            ("warned, enforce", &warned, Some(Enforce), false, None),
            (
                "warned, log_only",
                &warned,
                Some(LogOnly),
                true,
                Some("policy_denied"),
            ),
        ];
        for (name, d, mode, proceed, marker) in cases {
            let a = HttpAnswer::with_mode(d, "api", mode);
            assert_eq!(
                (a.proceed, a.header(WOULD_DENY_HEADER)),
                (proceed, marker),
                "{name}"
            );
        }
    }

    #[test]
    fn quoting_table() {
        let cases = [
            ("plain", "orders", "\"orders\""),
            ("quote and backslash", "a\"b\\c", "\"a\\\"b\\\\c\""),
            ("control and non-ascii dropped", "a\r\nb\u{e9}", "\"ab\""),
            (
                "header injection",
                "x\r\nSet-Cookie: a=b",
                "\"xSet-Cookie: a=b\"",
            ),
        ];
        for (name, input, want) in cases {
            assert_eq!(quote(input), want, "{name}");
        }
    }
}
