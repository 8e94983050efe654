//! The decision as JSON text in the documented JavaScript shape (camelCase), which
//! `lib/index.js` turns into a plain object with one `JSON.parse`. Building the object through
//! N-API instead (~30 named properties, or an array of elements) costs 10-13 µs per decision in
//! V8's property and element slow paths; one string and V8's JSON parser cost a fraction.

use serde::Serialize;
use serde_json::{Map, Value};
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
    let plain = HttpAnswer::new(d, "zt");
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
    let mut out = serde_json::to_string(&js).unwrap_or_else(|_| "{}".to_owned());
    if let Some(c) = &d.claims
        && out.ends_with('}')
    {
        out.pop();
        out.push_str(",\"claims\":");
        out.push_str(c.claims_json());
        out.push('}');
    }
    out
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
