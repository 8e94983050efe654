//! Compiling a bundle to regorus's VM program, and evaluating it with one VM per thread.

use super::bundle::Bundle;
use super::guards;
use super::index::{PolicyIndex, RuleIndex};
use super::output::{PolicyFailure, PolicyOutput};
use super::testing::{IndexedTests, TestResult, run_bundle_tests};
use crate::config::PolicyConfig;
use crate::error::PolicyError;
use crate::input::PolicyInput;
use crate::revocation::RevocationList;
use crate::util::text::one_line;
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
    /// The whole bundle as one program; with an index, its base program (no indexed
    /// definition but the placeholders).
    program: Arc<Program>,
    /// The rule index, when the bundle has one.
    index: Option<RuleIndex>,
    index_info: PolicyIndex,
    data: RegoValue,
    max_instructions: usize,
    pub(super) tests: Vec<TestResult>,
    /// `data.zt.enforcement`, packed (see `EnforcementOverride::pack`); 0 when absent.
    pub(crate) enforcement: u64,
    /// The static paths of the `input` references of its policies (test files left out).
    input_refs: Vec<Vec<String>>,
    /// Definitions per rule name, most first (test files left out).
    rule_definitions: Vec<(String, usize)>,
    /// `data.zt.revoked`, when the bundle has it.
    pub(crate) revoked: Option<Arc<RevocationList>>,
}

/// Latency of the policy alone over many evaluations of one input ([`CompiledBundle::bench`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct PolicyBench {
    /// Evaluations timed (after a warm-up of a tenth as many).
    pub iterations: u64,
    /// Median, nanoseconds.
    pub p50_ns: u64,
    /// 95th percentile, nanoseconds.
    pub p95_ns: u64,
    /// 99th percentile, nanoseconds.
    pub p99_ns: u64,
    /// Slowest, nanoseconds.
    pub max_ns: u64,
    /// Mean, nanoseconds.
    pub mean_ns: u64,
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
        super::recursion::check(&compiled)?;
        let data = RegoValue::from(b.data.clone());
        let (index, index_info) = build_index(&compiled, &b, &data, opts)?;
        let program = match &index {
            Some(i) => i
                .programs()
                .first()
                .cloned()
                .ok_or_else(|| PolicyError::Compile {
                    message: "the rule index has no program".to_owned(),
                })?,
            None => Compiler::compile_from_policy(&compiled, &[opts.entrypoint.as_str()]).map_err(
                |e| PolicyError::Compile {
                    message: one_line(&e.to_string()),
                },
            )?,
        };
        let enforcement = bundle_enforcement(&b.data)?;
        let revoked = RevocationList::parse(&b.data)?.map(Arc::new);
        let input_refs = super::reads::input_refs(&b.modules);
        let rule_definitions = super::reads::rule_definitions(&b.modules);
        let tests = if run_tests {
            let indexed = index.as_ref().map(|index| IndexedTests {
                index,
                compiled: &compiled,
                data: &data,
            });
            run_bundle_tests(&mut engine, &b, indexed)
        } else {
            Vec::new()
        };
        let bundle = Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            revision: b.revision,
            program,
            index,
            index_info,
            data,
            max_instructions: opts.max_instructions_usize(),
            tests,
            enforcement,
            input_refs,
            rule_definitions,
            revoked,
        };
        // Evaluate once on an empty input, through every program: missing builtins and VM
        // errors that only show at evaluation time surface now, not on the first request.
        // Undefined is fine here.
        let programs = match &bundle.index {
            Some(i) => i.programs().to_vec(),
            None => vec![bundle.program.clone()],
        };
        for p in programs {
            if let Err(msg) = bundle.eval_program(&p, &RegoValue::new_object())
                && (msg.contains("builtin") || msg.contains("not found") || msg.contains("unknown"))
            {
                return Err(PolicyError::Compile { message: msg });
            }
        }
        Ok(bundle)
    }

    fn eval_raw(&self, input: &RegoValue) -> Result<RegoValue, String> {
        match &self.index {
            Some(i) => match i.program(input) {
                Some(p) => self.eval_program(p, input),
                // Every leaf has a program; were one missing, deny rather than guess.
                None => Err("the rule index has no program for this input".to_owned()),
            },
            None => self.eval_program(&self.program, input),
        }
    }

    /// Evaluate `program` (this bundle's, or one of its index's) on `input` with this thread's
    /// VM for the bundle, which keeps its copy of the data across programs.
    fn eval_program(&self, program: &Arc<Program>, input: &RegoValue) -> Result<RegoValue, String> {
        thread_local! {
            static VMS: RefCell<Vec<(u64, RegoVM)>> = const { RefCell::new(Vec::new()) };
        }
        VMS.with(|cell| {
            let mut vms = cell.borrow_mut();
            let idx = match vms.iter().position(|(id, _)| *id == self.id) {
                Some(i) => i,
                None => {
                    let mut vm = RegoVM::new();
                    vm.load_program(program.clone());
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
            // Another program of the same bundle (the index chose it): same rule paths, same
            // data, so only the program changes.
            if !Arc::ptr_eq(vm.get_program(), program) {
                vm.load_program(program.clone());
            }
            vm.set_input(input.clone());
            vm.execute().map_err(|e| one_line(&e.to_string()))
        })
    }

    /// How the entrypoint is indexed (see docs/policies.md, "Route tables").
    pub fn index(&self) -> &PolicyIndex {
        &self.index_info
    }

    /// With an index: how many definitions of the indexed rules `input` evaluates, and how
    /// many there are (`None` without an index).
    pub fn indexed_definitions(&self, input: &serde_json::Value) -> Option<(usize, usize)> {
        let i = self.index.as_ref()?;
        let input = PolicyInput::from_json_unverified(input);
        Some(i.evaluated(input.as_rego()))
    }

    /// Whether the bundle's policies (tests left out) may read the input at the JSON pointer
    /// `pointer` (`/subject/claims/email`): a lexical, conservative answer (see `zt replay`).
    pub fn reads_input(&self, pointer: &str) -> bool {
        super::reads::reads_pointer(&self.input_refs, pointer)
    }

    /// The entrypoint's raw value on a JSON input document (like `opa eval`), with no
    /// interpretation: `Ok(None)` when it is undefined, `Err` with the engine's message.
    /// For tooling; decisions go through [`CompiledBundle::evaluate`].
    pub fn eval_json(
        &self,
        input: &serde_json::Value,
    ) -> Result<Option<serde_json::Value>, String> {
        let v = self.eval_raw(&crate::util::json::value_to_rego(input))?;
        if v == RegoValue::Undefined {
            return Ok(None);
        }
        v.to_json_str()
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .map(Some)
            .ok_or_else(|| "the result is not representable as JSON".to_owned())
    }

    /// The entrypoint's output as zt reads it, on a JSON input document (tooling: `zt policy
    /// eval`; decisions build their input from verified tokens).
    pub fn evaluate_json(&self, input: &serde_json::Value) -> Result<PolicyOutput, PolicyFailure> {
        self.evaluate(&PolicyInput::from_json_unverified(input))
    }

    /// Definitions per rule name, most first (test files left out; a lexical count). Each
    /// definition of a rule is evaluated in turn, so a rule defined hundreds of times (one
    /// per route, say) makes every decision's cost grow with their number.
    pub fn rule_definitions(&self) -> &[(String, usize)] {
        &self.rule_definitions
    }

    /// Time the policy alone on one input (like `opa bench`): `iterations` evaluations after a
    /// warm-up; an evaluation error is returned at once.
    pub fn bench(&self, input: &serde_json::Value, iterations: u64) -> Result<PolicyBench, String> {
        let input = PolicyInput::from_json_unverified(input);
        let n = iterations.max(1);
        for _ in 0..(n / 10).max(1) {
            self.eval_raw(input.as_rego())?;
        }
        let mut ns: Vec<u64> = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for _ in 0..n {
            let t = std::time::Instant::now();
            let v = self.eval_raw(input.as_rego())?;
            ns.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
            drop(v);
        }
        ns.sort_unstable();
        let at = |p: f64| {
            let i = ((ns.len().saturating_sub(1)) as f64 * p).round() as usize;
            ns.get(i).copied().unwrap_or(0)
        };
        let sum: u128 = ns.iter().map(|&x| u128::from(x)).sum();
        Ok(PolicyBench {
            iterations: n,
            p50_ns: at(0.50),
            p95_ns: at(0.95),
            p99_ns: at(0.99),
            max_ns: ns.last().copied().unwrap_or(0),
            mean_ns: u64::try_from(sum / u128::from(n)).unwrap_or(u64::MAX),
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

/// `data.zt.enforcement` of a bundle, checked.
fn bundle_enforcement(data: &serde_json::Value) -> Result<u64, PolicyError> {
    match data.pointer("/zt/enforcement") {
        None => Ok(0),
        Some(v) => crate::enforcement::EnforcementOverride::from_json(v)
            .map(crate::enforcement::EnforcementOverride::pack)
            .map_err(|e| PolicyError::Bundle {
                detail: format!("`data.zt.enforcement`: {e}"),
            }),
    }
}

/// A regorus engine holding the bundle's modules and data, after zt's guards.
pub(super) fn load_engine(b: &Bundle) -> Result<regorus::Engine, PolicyError> {
    guards::check_nesting(b)?;
    guards::check_function_recursion(b)?;
    engine_with(&b.modules, RegoValue::from(b.data.clone()))
}

/// A regorus engine holding `modules` (file, text) and `data`.
fn engine_with(
    modules: &[(String, String)],
    data: RegoValue,
) -> Result<regorus::Engine, PolicyError> {
    let mut engine = regorus::Engine::new();
    for (file, source) in modules {
        engine
            .add_policy(file.clone(), source.clone())
            .map_err(|e| PolicyError::Parse {
                file: file.clone(),
                message: one_line(&e.to_string()),
            })?;
    }
    engine.add_data(data).map_err(|e| PolicyError::Compile {
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

/// The rule index of a bundle whose entrypoint compiled, unless `policy.indexing` is off or
/// there is nothing to index (the [`PolicyIndex`] then says why).
pub(super) fn build_index(
    compiled: &regorus::CompiledPolicy,
    b: &Bundle,
    data: &RegoValue,
    opts: &PolicyConfig,
) -> Result<(Option<RuleIndex>, PolicyIndex), PolicyError> {
    if !opts.indexing {
        return Ok((
            None,
            PolicyIndex::off("disabled by `policy.indexing = false`"),
        ));
    }
    let mut compile =
        |sources: &[(String, String)]| compile_sources(sources, data, &opts.entrypoint);
    Ok(
        match RuleIndex::build(compiled, &b.modules, &mut compile)? {
            Ok(index) => {
                let info = index.info.clone();
                (Some(index), info)
            }
            Err(reason) => (None, PolicyIndex::off(reason)),
        },
    )
}

/// Compile one program of a rule index from module texts (the bundle's guards already ran
/// on the whole bundle).
fn compile_sources(
    sources: &[(String, String)],
    data: &RegoValue,
    entrypoint: &str,
) -> Result<Arc<Program>, PolicyError> {
    let mut engine = engine_with(sources, data.clone())?;
    let compiled = compile_entrypoint(&mut engine, entrypoint)?;
    Compiler::compile_from_policy(&compiled, &[entrypoint]).map_err(|e| PolicyError::Compile {
        message: one_line(&e.to_string()),
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
