//! The decision as JSON text in the documented JavaScript shape (camelCase), which
//! `lib/index.js` turns into a plain object with one `JSON.parse`. Building the object through
//! N-API instead (~30 named properties, or an array of elements) costs 10-13 µs per decision in
//! V8's property and element slow paths; one string and V8's JSON parser cost a fraction.

use serde::Serialize;
use serde_json::{Map, Value};
use zt_core::http::HttpAnswer;
use zt_core::{Decision, ShadowResult};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StepUp<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    acr_values: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age: Option<u64>,
}

#[derive(Serialize)]
struct Timings {
    token: u64,
    posture: u64,
    input: u64,
    policy: u64,
    shadow: u64,
    total: u64,
}

/// The documented fields, in order; `claims` is appended from the verified token's cached JSON.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsDecision<'a> {
    id: &'a str,
    outcome: &'static str,
    evaluated: &'static str,
    allowed: bool,
    enforced: bool,
    warning: bool,
    mode: &'static str,
    reasons: Vec<&'static str>,
    policy_reasons: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    step_up: Option<StepUp<'a>>,
    obligations: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_revision: Option<&'a str>,
    timings: Timings,
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
    let t = &d.timings;
    let js = JsDecision {
        id: &d.id,
        outcome: d.outcome.as_str(),
        evaluated: d.evaluated.as_str(),
        allowed: d.is_allowed(),
        enforced: d.enforced,
        warning: d.warning(),
        mode: d.mode.as_str(),
        reasons: d.reasons.iter().map(|r| r.as_str()).collect(),
        policy_reasons: &d.policy_reasons,
        step_up: d.step_up.as_ref().map(|s| StepUp {
            acr_values: s.acr_values.as_deref(),
            max_age: s.max_age,
        }),
        obligations: &d.obligations,
        policy_revision: d.policy_revision.as_deref(),
        timings: Timings {
            token: t.token_ns,
            posture: t.posture_ns,
            input: t.input_ns,
            policy: t.policy_ns,
            shadow: t.shadow_ns,
            total: t.total_ns,
        },
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
