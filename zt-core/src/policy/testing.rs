//! Running a bundle's Rego `test_` rules, like `opa test`.

use super::bundle::{self, Bundle};
use super::compile::{CompiledBundle, one_line};
use super::options::PolicyStoreOptions;
use crate::error::PolicyError;
use regorus::Value as RegoValue;
use std::path::Path;

/// The outcome of one Rego `test_` rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct TestResult {
    /// `data.<package>.<rule>`.
    pub name: String,
    /// Whether it evaluated to `true`.
    pub passed: bool,
    /// The evaluation error, if any.
    pub error: Option<String>,
}

/// The names of `test_` rules per package, found in the module sources.
pub(super) fn test_rules(b: &Bundle) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, src) in &b.modules {
        let Some(pkg) = bundle::package_of(src) else {
            continue;
        };
        let pkg = pkg.replace('/', ".");
        for line in src.lines() {
            if !line.starts_with("test_") {
                continue;
            }
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let full = format!("data.{pkg}.{name}");
            if !out.contains(&full) {
                out.push(full);
            }
        }
    }
    out
}

pub(super) fn run_bundle_tests(engine: &mut regorus::Engine, b: &Bundle) -> Vec<TestResult> {
    engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
        limit: std::time::Duration::from_secs(5),
        check_interval: std::num::NonZeroU32::MIN,
    });
    test_rules(b)
        .into_iter()
        .map(|name| match engine.eval_rule(name.clone()) {
            Ok(RegoValue::Bool(true)) => TestResult {
                name,
                passed: true,
                error: None,
            },
            Ok(_) => TestResult {
                name,
                passed: false,
                error: None,
            },
            Err(e) => TestResult {
                name,
                passed: false,
                error: Some(one_line(&e.to_string())),
            },
        })
        .collect()
}

/// Run a bundle's tests without activating it (for `zt policy test`).
pub fn test_bundle(path: &Path, opts: &PolicyStoreOptions) -> Result<Vec<TestResult>, PolicyError> {
    let b = bundle::load(path, opts.limits())?;
    Ok(CompiledBundle::compile(b, opts, true)?.tests)
}
