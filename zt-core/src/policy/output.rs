//! The policy output contract: a boolean, or `{allow, reasons, step_up, obligations}`.

use crate::error::Reason;
use regorus::Value as RegoValue;
use serde_json::{Map, Value};

/// Step-up requirements from the policy (RFC 9470).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct StepUp {
    /// Required `acr_values`.
    pub acr_values: Option<String>,
    /// Maximum authentication age, seconds.
    pub max_age: Option<u64>,
}

/// A valid policy result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct PolicyOutput {
    /// Whether the policy allows the request.
    pub allow: bool,
    /// Reasons given by the policy.
    pub reasons: Vec<String>,
    /// Step-up requirements, when the policy asks for them.
    pub step_up: Option<StepUp>,
    /// Obligations for the caller.
    pub obligations: Map<String, Value>,
}

/// Why a policy produced no usable result; each is a deny.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyFailure {
    /// The entrypoint is undefined for this input.
    #[error("policy result is undefined")]
    Undefined,
    /// The result has the wrong shape.
    #[error("policy result is invalid: {0}")]
    OutputInvalid(&'static str),
    /// Evaluation failed (including the instruction limit).
    #[error("policy evaluation failed: {0}")]
    Error(String),
}

impl PolicyFailure {
    /// The stable reason code.
    pub fn reason(&self) -> Reason {
        match self {
            PolicyFailure::Undefined => Reason::PolicyUndefined,
            PolicyFailure::OutputInvalid(_) => Reason::PolicyOutputInvalid,
            PolicyFailure::Error(_) => Reason::PolicyError,
        }
    }
}

impl PolicyOutput {
    /// Interpret an entrypoint value per the output contract.
    pub(crate) fn from_value(v: &RegoValue) -> Result<Self, PolicyFailure> {
        let plain = |allow| PolicyOutput {
            allow,
            reasons: Vec::new(),
            step_up: None,
            obligations: Map::new(),
        };
        match v {
            RegoValue::Undefined => Err(PolicyFailure::Undefined),
            RegoValue::Bool(b) => Ok(plain(*b)),
            RegoValue::Object(_) => {
                let json: Value = serde_json::to_value(v)
                    .map_err(|_| PolicyFailure::OutputInvalid("not representable as JSON"))?;
                Self::from_json(&json)
            }
            _ => Err(PolicyFailure::OutputInvalid(
                "must be a boolean or an object",
            )),
        }
    }

    fn from_json(j: &Value) -> Result<Self, PolicyFailure> {
        let allow = match j.get("allow") {
            Some(Value::Bool(b)) => *b,
            None => return Err(PolicyFailure::OutputInvalid("`allow` is missing")),
            Some(_) => return Err(PolicyFailure::OutputInvalid("`allow` is not a boolean")),
        };
        let reasons = match j.get("reasons") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|r| r.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(PolicyFailure::OutputInvalid("`reasons` must be strings"))?,
            Some(_) => return Err(PolicyFailure::OutputInvalid("`reasons` must be a list")),
        };
        let step_up = match j.get("step_up") {
            None | Some(Value::Null) => None,
            Some(Value::Object(s)) => {
                let acr_values = match s.get("acr_values") {
                    None => None,
                    Some(Value::String(a)) => Some(a.clone()),
                    Some(_) => {
                        return Err(PolicyFailure::OutputInvalid(
                            "`step_up.acr_values` must be a string",
                        ));
                    }
                };
                let max_age = match s.get("max_age") {
                    None => None,
                    Some(m) => Some(m.as_u64().ok_or(PolicyFailure::OutputInvalid(
                        "`step_up.max_age` must be a non-negative integer",
                    ))?),
                };
                Some(StepUp {
                    acr_values,
                    max_age,
                })
            }
            Some(_) => return Err(PolicyFailure::OutputInvalid("`step_up` must be an object")),
        };
        let obligations = match j.get("obligations") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(o)) => o.clone(),
            Some(_) => {
                return Err(PolicyFailure::OutputInvalid(
                    "`obligations` must be an object",
                ));
            }
        };
        Ok(Self {
            allow,
            reasons,
            step_up,
            obligations,
        })
    }
}
