//! The decision for JavaScript: JSON text in the documented shape (camelCase). `authorizeSync`
//! puts a head before it (the fields a caller reads on every decision, see [`head_and_json`]) and
//! `lib/index.js` parses the JSON only when another field is read; the other calls hand over the
//! JSON text alone, which `lib/index.js` turns into a plain object with one `JSON.parse`. Building the object through N-API instead (~30
//! named properties, or an array of elements) costs 10-13 µs per decision in V8's property and
//! element slow paths; one string and V8's JSON parser cost a fraction.

use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt::Write as _;
use zt_core::http::HttpAnswer;
use zt_core::{Decision, EnforcementMode, Outcome, Reason, ShadowResult, Timings};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StepUp<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    acr_values: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age: Option<u64>,
}

/// The documented fields, in order; `claims` is appended from the verified token's cached JSON.
/// The one camelCase view of a decision: every value inside it (codes, timings, shadow, problem)
/// is zt-core's own serde shape, only the top-level names and `stepUp` are camelCased here.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsDecision<'a> {
    id: &'a str,
    outcome: Outcome,
    evaluated: Outcome,
    allowed: bool,
    enforced: bool,
    warning: bool,
    mode: EnforcementMode,
    reasons: &'a [Reason],
    policy_reasons: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    step_up: Option<StepUp<'a>>,
    obligations: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_revision: Option<&'a str>,
    timings: &'a Timings,
    http_status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    www_authenticate: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shadow: Option<&'a ShadowResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'a zt_core::Problem>,
}

#[derive(Serialize)]
struct JsAnswer<'a> {
    proceed: bool,
    status: u16,
    headers: &'a [(&'static str, String)],
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
}

/// The decision as JSON text (the default HTTP mapping, realm `zt`, for `httpStatus`,
/// `wwwAuthenticate` and `problem`).
pub(crate) fn decision_json(d: &Decision) -> String {
    let mut out = String::with_capacity(1024);
    write_decision_json(d, &HttpAnswer::new(d, "zt"), &mut out);
    out
}

/// [`decision_json`] appended to `out`, with the answer already worked out.
fn write_decision_json(d: &Decision, plain: &HttpAnswer, out: &mut String) {
    let js = JsDecision {
        id: &d.id,
        outcome: d.outcome,
        evaluated: d.evaluated,
        allowed: d.is_allowed(),
        enforced: d.enforced,
        warning: d.warning(),
        mode: d.mode,
        reasons: &d.reasons,
        policy_reasons: &d.policy_reasons,
        step_up: d.step_up.as_ref().map(|s| StepUp {
            acr_values: s.acr_values.as_deref(),
            max_age: s.max_age,
        }),
        obligations: &d.obligations,
        policy_revision: d.policy_revision.as_deref(),
        timings: &d.timings,
        http_status: plain.status,
        www_authenticate: plain.header("www-authenticate"),
        shadow: d.shadow.as_ref(),
        problem: plain.problem.as_ref(),
    };
    match serde_json::to_string(&js) {
        Ok(json) => out.push_str(&json),
        Err(_) => out.push_str("{}"),
    }
    if let Some(c) = &d.claims
        && out.ends_with('}')
    {
        out.pop();
        out.push_str(",\"claims\":");
        out.push_str(c.claims_json());
        out.push('}');
    }
}

/// `{"decision": ..., "answer": {proceed, status, headers, body}}` for the middleware calls.
pub(crate) fn http_json(d: &Decision, answer: &HttpAnswer) -> String {
    let a = serde_json::to_string(&JsAnswer {
        proceed: answer.proceed,
        status: answer.status,
        headers: &answer.headers,
        body: answer.body(),
    })
    .unwrap_or_else(|_| "{}".to_owned());
    format!("{{\"decision\":{},\"answer\":{a}}}", decision_json(d))
}

/// The separator of a head's fields (ASCII unit separator: in no code, id or status).
const SEP: char = '\u{1f}';
/// Between the head and the JSON text (ASCII record separator).
const END_OF_HEAD: char = '\u{1e}';

/// For `authorizeSync`: the head (the fields a caller reads on every decision), then the JSON
/// text, which `lib/index.js` parses only when a field outside the head is read. The head is
/// `outcome`, `allowed` (`1` or `0`), `httpStatus`, `id` and the reason codes joined by `,`,
/// separated by U+001F; U+001E ends it.
///
/// One string rather than a native object per decision: a wrapped native object is freed by a
/// finalizer that Node runs only when the event loop turns, so a synchronous loop of decisions
/// would hold every one of them until it ends.
pub(crate) fn head_and_json(d: &Decision) -> String {
    let allowed = d.is_allowed();
    let plain = HttpAnswer::new(d, "zt");
    let mut out = String::with_capacity(1536);
    out.push_str(d.outcome.as_str());
    out.push(SEP);
    out.push(if allowed { '1' } else { '0' });
    out.push(SEP);
    let _ = write!(out, "{}", plain.status);
    out.push(SEP);
    out.push_str(&d.id);
    out.push(SEP);
    for (i, r) in d.reasons.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r.as_str());
    }
    out.push(END_OF_HEAD);
    write_decision_json(d, &plain, &mut out);
    out
}
