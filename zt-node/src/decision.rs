//! The decision as a plain JavaScript object (camelCase, the same meanings as every surface).

use napi_derive::napi;
use serde_json::Value;
use zt_core::http::HttpAnswer;

/// The RFC 9470 step-up parameters.
#[napi(object)]
pub struct StepUp {
    /// `acr_values` to ask the identity provider for.
    pub acr_values: Option<String>,
    /// The maximum authentication age, seconds.
    pub max_age: Option<i64>,
}

/// Nanoseconds per stage.
#[napi(object)]
pub struct Timings {
    pub token: f64,
    pub posture: f64,
    pub input: f64,
    pub policy: f64,
    pub shadow: f64,
    pub total: f64,
}

/// The answer to one request.
#[napi(object)]
pub struct Decision {
    /// The decision id (also in the decision log).
    pub id: String,
    /// `"allow"`, `"deny"` or `"step_up"`: what the caller must do.
    pub outcome: String,
    /// What the checks and the policy concluded (differs from `outcome` only when not enforced).
    pub evaluated: String,
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Whether `evaluated` was enforced.
    pub enforced: bool,
    /// True when the request proceeds only because of `warn` mode.
    pub warning: bool,
    /// `"enforce"`, `"warn"` or `"log_only"`.
    pub mode: String,
    /// Stable reason codes.
    pub reasons: Vec<String>,
    /// Reasons given by the policy.
    pub policy_reasons: Vec<String>,
    /// Step-up parameters, for a step-up.
    pub step_up: Option<StepUp>,
    /// Obligations from the policy.
    pub obligations: Value,
    /// The policy revision that decided, when the policy ran.
    pub policy_revision: Option<String>,
    /// Nanoseconds per stage.
    pub timings: Timings,
    /// The verified claims, when the token verified.
    pub claims: Option<Value>,
    /// The shadow candidate's result, when one is set.
    pub shadow: Option<Value>,
    /// The HTTP status to answer with (200 when allowed).
    pub http_status: u32,
    /// The `WWW-Authenticate` value for a denial (realm `zt`), when there is one.
    pub www_authenticate: Option<String>,
    /// The RFC 9457 problem body for a denial.
    pub problem: Option<Value>,
}

/// How a middleware answers: proceed or the denial's status, headers and body.
#[napi(object)]
pub struct HttpAnswerObject {
    pub proceed: bool,
    pub status: u32,
    /// `[name, value]` pairs, lower-case names.
    pub headers: Vec<Vec<String>>,
    /// The problem body (JSON text) on a denial.
    pub body: Option<String>,
}

/// A decision and its HTTP answer (from `authorizeHttpSync` / `authorizeHttp`).
#[napi(object)]
pub struct HttpDecision {
    pub decision: Decision,
    pub answer: HttpAnswerObject,
}

fn ns(n: u64) -> f64 {
    // Exact up to 2^53 ns (104 days): far beyond any stage.
    n as f64
}

pub(crate) fn to_js(d: &zt_core::Decision) -> Decision {
    let answer = HttpAnswer::new(d, "zt");
    let t = &d.timings;
    Decision {
        id: d.id.clone(),
        outcome: d.outcome.as_str().to_owned(),
        evaluated: d.evaluated.as_str().to_owned(),
        allowed: d.is_allowed(),
        enforced: d.enforced,
        warning: d.warning(),
        mode: d.mode.as_str().to_owned(),
        reasons: d.reasons.iter().map(|r| r.as_str().to_owned()).collect(),
        policy_reasons: d.policy_reasons.clone(),
        step_up: d.step_up.as_ref().map(|s| StepUp {
            acr_values: s.acr_values.clone(),
            max_age: s.max_age.and_then(|m| i64::try_from(m).ok()),
        }),
        obligations: Value::Object(d.obligations.clone()),
        policy_revision: d.policy_revision.clone(),
        timings: Timings {
            token: ns(t.token_ns),
            posture: ns(t.posture_ns),
            input: ns(t.input_ns),
            policy: ns(t.policy_ns),
            shadow: ns(t.shadow_ns),
            total: ns(t.total_ns),
        },
        claims: d.claims.as_ref().map(|c| Value::Object(c.claims().clone())),
        shadow: d.shadow.as_ref().and_then(|s| serde_json::to_value(s).ok()),
        http_status: u32::from(answer.status),
        www_authenticate: answer.header("www-authenticate").map(str::to_owned),
        problem: answer
            .problem
            .as_ref()
            .and_then(|p| serde_json::to_value(p).ok()),
    }
}

pub(crate) fn answer_to_js(a: &HttpAnswer) -> HttpAnswerObject {
    HttpAnswerObject {
        proceed: a.proceed,
        status: u32::from(a.status),
        headers: a
            .headers
            .iter()
            .map(|(k, v)| vec![(*k).to_owned(), v.clone()])
            .collect(),
        body: a.body(),
    }
}
