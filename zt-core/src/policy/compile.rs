//! Compiling a bundle to regorus's VM program, and evaluating it with one VM per thread.

use super::bundle::Bundle;
use super::guards;
use super::output::{PolicyFailure, PolicyOutput};
use super::testing::{TestResult, run_bundle_tests};
use crate::config::PolicyConfig;
use crate::error::PolicyError;
use crate::input::PolicyInput;
use regorus::Value as RegoValue;
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::RegoVM;
use regorus::rvm::program::Program;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A compiled, immutable bundle.
pub struct CompiledBundle {
    id: u64,
    pub(super) revision: String,
    program: Arc<Program>,
    data: RegoValue,
    max_instructions: usize,
    pub(super) tests: Vec<TestResult>,
}

impl std::fmt::Debug for CompiledBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledBundle")
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

impl CompiledBundle {
    /// The bundle's revision.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The results of the bundle's own tests (empty when tests were not run).
    pub fn tests(&self) -> &[TestResult] {
        &self.tests
    }

    pub(crate) fn compile(
        b: Bundle,
        opts: &PolicyConfig,
        run_tests: bool,
    ) -> Result<Self, PolicyError> {
        let mut engine = load_engine(&b)?;
        let compiled = compile_entrypoint(&mut engine, &opts.entrypoint)?;
        let program = Compiler::compile_from_policy(&compiled, &[opts.entrypoint.as_str()])
            .map_err(|e| PolicyError::Compile {
                message: one_line(&e.to_string()),
            })?;
        let tests = if run_tests {
            run_bundle_tests(&mut engine, &b)
        } else {
            Vec::new()
        };
        let bundle = Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            revision: b.revision,
            program,
            data: RegoValue::from(b.data),
            max_instructions: opts.max_instructions_usize(),
            tests,
        };
        // Evaluate once on an empty input: missing builtins and VM errors that only show at
        // evaluation time surface now, not on the first request. Undefined is fine here.
        if let Err(e) = bundle.eval_raw(&RegoValue::new_object()) {
            let msg = e;
            if msg.contains("builtin") || msg.contains("not found") || msg.contains("unknown") {
                return Err(PolicyError::Compile { message: msg });
            }
        }
        Ok(bundle)
    }

    fn eval_raw(&self, input: &RegoValue) -> Result<RegoValue, String> {
        thread_local! {
            static VMS: RefCell<Vec<(u64, RegoVM)>> = const { RefCell::new(Vec::new()) };
        }
        VMS.with(|cell| {
            let mut vms = cell.borrow_mut();
            let idx = match vms.iter().position(|(id, _)| *id == self.id) {
                Some(i) => i,
                None => {
                    let mut vm = RegoVM::new();
                    vm.load_program(self.program.clone());
                    // A copy of its own per thread: the VM takes references into the data as it
                    // runs, and reference counts shared by every thread's VM were the main
                    // cost of a second core (see benches/README.md).
                    vm.set_data(deep_copy(&self.data))
                        .map_err(|e| one_line(&e.to_string()))?;
                    vm.set_max_instructions(self.max_instructions);
                    // Keep a handful: active, shadow, and a recently swapped-out bundle.
                    if vms.len() >= 4 {
                        vms.remove(0);
                    }
                    vms.push((self.id, vm));
                    vms.len() - 1
                }
            };
            let Some((_, vm)) = vms.get_mut(idx) else {
                return Err("policy VM missing".to_owned());
            };
            vm.set_input(input.clone());
            vm.execute().map_err(|e| one_line(&e.to_string()))
        })
    }

    /// Evaluate the entrypoint on `input`.
    pub fn evaluate(&self, input: &PolicyInput) -> Result<PolicyOutput, PolicyFailure> {
        match self.eval_raw(input.as_rego()) {
            Ok(v) => PolicyOutput::from_value(&v),
            Err(e) => Err(PolicyFailure::Error(e)),
        }
    }
}

/// A regorus engine holding the bundle's modules and data, after zt's guards.
pub(super) fn load_engine(b: &Bundle) -> Result<regorus::Engine, PolicyError> {
    guards::check_nesting(b)?;
    guards::check_function_recursion(b)?;
    let mut engine = regorus::Engine::new();
    for (file, source) in &b.modules {
        engine
            .add_policy(file.clone(), source.clone())
            .map_err(|e| PolicyError::Parse {
                file: file.clone(),
                message: one_line(&e.to_string()),
            })?;
    }
    engine
        .add_data(RegoValue::from(b.data.clone()))
        .map_err(|e| PolicyError::Compile {
            message: one_line(&e.to_string()),
        })?;
    Ok(engine)
}

/// Compile the entrypoint; an entrypoint that names no rule is
/// [`PolicyError::EntrypointMissing`] with the packages the bundle has.
pub(super) fn compile_entrypoint(
    engine: &mut regorus::Engine,
    entrypoint: &str,
) -> Result<regorus::CompiledPolicy, PolicyError> {
    let packages = engine.get_packages().unwrap_or_default();
    let in_a_package = packages.iter().any(|p| {
        entrypoint
            .strip_prefix(p.as_str())
            .is_some_and(|r| r.starts_with('.'))
    });
    let missing = || PolicyError::EntrypointMissing {
        entrypoint: entrypoint.to_owned(),
        packages: packages.clone(),
    };
    if !in_a_package {
        return Err(missing());
    }
    let entry: regorus::Rc<str> = entrypoint.into();
    engine.compile_with_entrypoint(&entry).map_err(|e| {
        let message = one_line(&e.to_string());
        // regorus's words for a path that is no rule (0.14.1).
        if message.contains("not a valid rule path") {
            missing()
        } else {
            PolicyError::Compile { message }
        }
    })
}

/// A copy of a value that shares no reference-counted part with the original.
fn deep_copy(v: &RegoValue) -> RegoValue {
    match v {
        RegoValue::String(s) => RegoValue::from(&**s),
        RegoValue::Array(a) => RegoValue::from(a.iter().map(deep_copy).collect::<Vec<_>>()),
        RegoValue::Set(s) => RegoValue::from(
            s.iter()
                .map(deep_copy)
                .collect::<std::collections::BTreeSet<_>>(),
        ),
        RegoValue::Object(o) => RegoValue::from(
            o.iter()
                .map(|(k, v)| (deep_copy(k), deep_copy(v)))
                .collect::<std::collections::BTreeMap<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// Collapse a (possibly multi-line) engine message to one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
