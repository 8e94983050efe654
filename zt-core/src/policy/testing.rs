//! Running a bundle's Rego `test_` rules, like `opa test`.

use super::bundle::{self, Bundle};
use super::compile::{compile_entrypoint, load_engine};
use crate::config::PolicyConfig;
use crate::error::PolicyError;
use crate::util::text::one_line;
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

/// Run every `test_` rule of the bundle at `path` (a directory or an OPA bundle `.tar.gz`),
/// whatever its packages, like `opa test`, without activating it. `entrypoint`, when given,
/// must name a rule that compiles ([`PolicyError::EntrypointMissing`] lists the packages
/// found otherwise). A bundle that does not parse or compile is an `Err`; failing tests are
/// results with `passed: false`.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("zt-test-bundle-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("a.rego"), "package any.pkg\nimport rego.v1\ntest_ok if true\n").unwrap();
/// let config = zt_core::PolicyConfig::default();
/// let results = zt_core::test_bundle(&dir, &config, None).unwrap();
/// assert_eq!((results[0].name.as_str(), results[0].passed), ("data.any.pkg.test_ok", true));
/// let err = zt_core::test_bundle(&dir, &config, Some("data.zt.authz.decision")).unwrap_err();
/// assert_eq!(err.code(), "policy_entrypoint_missing");
/// assert!(err.to_string().contains("data.any.pkg"));
/// # std::fs::remove_dir_all(&dir).ok();
/// ```
pub fn test_bundle(
    path: &Path,
    config: &PolicyConfig,
    entrypoint: Option<&str>,
) -> Result<Vec<TestResult>, PolicyError> {
    let b = bundle::load(path, config)?;
    let mut engine = load_engine(&b)?;
    if let Some(e) = entrypoint {
        compile_entrypoint(&mut engine, e)?;
    }
    Ok(run_bundle_tests(&mut engine, &b))
}
