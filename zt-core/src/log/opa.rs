//! OPA's decision-event shape (`decision_log.format = "opa"`): what an OPA decision-log
//! collector reads, zt's own decision fields under `custom.zt` (docs/observability.md).

use super::{Entry, Formatter, ResultField};
use crate::decision::Decision;
use crate::util::time::rfc3339;

/// OPA's decision event (`format = "opa"`): what an OPA decision-log collector reads, zt's
/// own decision fields under `custom.zt`.
pub(super) fn render_into(
    fmt: &Formatter,
    e: &Entry,
    input: &regorus::Value,
    prev_hash: Option<&str>,
    out: &mut Vec<u8>,
) -> Result<(), ()> {
    #[derive(serde::Serialize)]
    struct Labels<'a> {
        app: &'static str,
        version: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        service: Option<&'a str>,
    }
    #[derive(serde::Serialize)]
    struct Revision<'a> {
        revision: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Metrics {
        timer_rego_query_eval_ns: u64,
        timer_server_handler_ns: u64,
    }
    #[derive(serde::Serialize)]
    struct Custom<'a> {
        zt: &'a Decision,
    }
    #[derive(serde::Serialize)]
    struct OpaError<'a> {
        code: &'a str,
        message: String,
    }
    #[derive(serde::Serialize)]
    struct Event<'a> {
        labels: Labels<'a>,
        decision_id: &'a str,
        path: String,
        input: &'a regorus::Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<ResultField<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<OpaError<'a>>,
        bundles: std::collections::BTreeMap<&'static str, Revision<'a>>,
        timestamp: String,
        metrics: Metrics,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        masked: Vec<String>,
        custom: Custom<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        prev_hash: Option<&'a str>,
    }
    let d = &e.decision;
    let (result, error) = match &e.result {
        Some(Ok(_)) => (
            Some(ResultField {
                result: &e.result,
                decision: d,
            }),
            None,
        ),
        Some(Err(f)) => (
            None,
            Some(OpaError {
                code: f.reason().as_str(),
                message: f.to_string(),
            }),
        ),
        None => (None, None),
    };
    let mut bundles = std::collections::BTreeMap::new();
    if let Some(rev) = &d.policy_revision {
        bundles.insert("zt", Revision { revision: rev });
    }
    let event = Event {
        labels: Labels {
            app: "zt",
            version: env!("CARGO_PKG_VERSION"),
            service: fmt.service.as_deref(),
        },
        decision_id: &d.id,
        path: opa_path(&fmt.entrypoint),
        input,
        result,
        error,
        bundles,
        timestamp: rfc3339(e.timestamp_ms),
        metrics: Metrics {
            timer_rego_query_eval_ns: d.timings.policy_ns,
            timer_server_handler_ns: d.timings.total_ns,
        },
        masked: fmt
            .mask
            .iter()
            .filter(|p| is_masked(input, p))
            .map(|p| format!("/input{p}"))
            .collect(),
        custom: Custom { zt: d },
        prev_hash,
    };
    serde_json::to_writer(out, &event).map_err(|_| ())
}

/// OPA's `path` of an entrypoint: `data.zt.authz.decision` → `zt/authz/decision`.
fn opa_path(entrypoint: &str) -> String {
    entrypoint
        .strip_prefix("data.")
        .unwrap_or(entrypoint)
        .replace('.', "/")
}

/// Whether the value at the JSON pointer `pointer` is the mask's `"[masked]"`.
fn is_masked(input: &regorus::Value, pointer: &str) -> bool {
    let mut v = input;
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        let next = match v {
            regorus::Value::Object(o) => o.get(&regorus::Value::from(seg.as_str())),
            regorus::Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => return false,
        }
    }
    matches!(v, regorus::Value::String(s) if &**s == "[masked]")
}
