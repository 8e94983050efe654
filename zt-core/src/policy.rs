//! Policy evaluation with regorus, and the safe policy lifecycle.
//!
//! A bundle is compiled once: regorus parses it, compiles the entrypoint, and lowers it to its
//! compiled VM (RVM) program. Evaluation keeps one VM per thread and bundle (a thread-local
//! cache), so threads share the immutable `Arc<Program>` but never a VM, and take no lock
//! for writing. Every evaluation has an instruction limit, so a pathological policy becomes a
//! `policy_error` deny, never a hang.
//!
//! [`PolicyStore`] holds the active bundle behind an atomic swap. Loading a candidate compiles it
//! and (when asked) runs its `test_` rules like `opa test`; a candidate that fails either is
//! never activated and the previous bundle keeps serving. The last revisions are kept for
//! [`PolicyStore::rollback`]. A shadow candidate can be evaluated next to the active bundle.
//!
//! ```
//! use zt_core::{PolicyStore, PolicyStoreOptions, PolicyInput};
//!
//! let store = PolicyStore::from_files(
//!     vec![("authz.rego".into(), b"package zt.authz\nimport rego.v1\ndecision if input.request.method == \"GET\"\ntest_get if decision with input as {\"request\": {\"method\": \"GET\"}}".to_vec())],
//!     PolicyStoreOptions::default(),
//! ).unwrap();
//! let input = PolicyInput::from_json_unverified(&serde_json::json!({"request": {"method": "GET"}}));
//! let eval = store.evaluate(&input);
//! assert!(eval.result.unwrap().allow);
//! ```
//!
//! # Security
//! - Only bundles that compile (unknown builtins such as `http.send` or `io.jwt.*` are refused
//!   at load) and pass their own tests are activated.
//! - Evaluation work is bounded by `policy.max_instructions`.
//! - Undefined output, a wrong output type or an evaluation error is a deny with a reason.

use crate::bundle::{self, Bundle, Limits};
use crate::error::{PolicyError, Reason};
use crate::input::PolicyInput;
use regorus::Value as RegoValue;
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::RegoVM;
use regorus::rvm::program::Program;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How bundles are loaded and evaluated.
#[derive(Debug, Clone)]
pub struct PolicyStoreOptions {
    /// The rule evaluated per request.
    pub entrypoint: String,
    /// Run the bundle's `test_` rules before activating it.
    pub run_tests_on_load: bool,
    /// Instruction limit per evaluation.
    pub max_instructions: usize,
    /// Largest policy or data file.
    pub max_file_bytes: u64,
    /// Largest bundle (sum of files).
    pub max_bundle_bytes: u64,
    /// Revisions kept for rollback (the active one included).
    pub keep_revisions: usize,
}

impl Default for PolicyStoreOptions {
    /// The defaults of the `[policy]` configuration section.
    fn default() -> Self {
        Self::from_config(&crate::config::PolicyConfig::default())
    }
}

impl PolicyStoreOptions {
    /// Options from the `[policy]` section of a configuration.
    pub fn from_config(c: &crate::config::PolicyConfig) -> Self {
        Self {
            entrypoint: c.entrypoint.clone(),
            run_tests_on_load: c.run_tests_on_load,
            max_instructions: usize::try_from(c.max_instructions).unwrap_or(usize::MAX),
            max_file_bytes: c.max_file_bytes,
            max_bundle_bytes: c.max_bundle_bytes,
            keep_revisions: usize::try_from(c.keep_revisions).unwrap_or(5),
        }
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_file_bytes: self.max_file_bytes,
            max_bundle_bytes: self.max_bundle_bytes,
        }
    }
}

/// A compiled, immutable bundle.
pub struct CompiledBundle {
    id: u64,
    revision: String,
    program: Arc<Program>,
    data: RegoValue,
    max_instructions: usize,
    tests: Vec<TestResult>,
}

impl std::fmt::Debug for CompiledBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledBundle")
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

/// The outcome of one Rego `test_` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// `data.<package>.<rule>`.
    pub name: String,
    /// Whether it evaluated to `true`.
    pub passed: bool,
    /// The evaluation error, if any.
    pub error: Option<String>,
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
        opts: &PolicyStoreOptions,
        run_tests: bool,
    ) -> Result<Self, PolicyError> {
        check_nesting(&b)?;
        check_function_recursion(&b)?;
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
        let entry: regorus::Rc<str> = opts.entrypoint.as_str().into();
        let compiled =
            engine
                .compile_with_entrypoint(&entry)
                .map_err(|e| PolicyError::Compile {
                    message: one_line(&e.to_string()),
                })?;
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
            max_instructions: opts.max_instructions,
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
                    vm.set_data(self.data.clone())
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

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Deepest `[`/`{` nesting accepted in a Rego module.
const MAX_REGO_NESTING: usize = 16;

/// Refuse deeply nested brackets before regorus parses them.
///
/// Workaround for regorus 0.14.1: its parser backtracks between comprehensions and literals at
/// every `[` and `{`, so parse time doubles per nesting level (measured: 20 levels ≈ 0.6 s,
/// 32 levels ≈ hours) — a pushed bundle, or a fuzzer, could hang policy loading. Real
/// policies nest a few levels; 16 parses in ~35 ms. Brackets inside strings and comments do
/// not count.
fn check_nesting(b: &Bundle) -> Result<(), PolicyError> {
    for (file, src) in &b.modules {
        let mut depth = 0usize;
        let mut line = 1usize;
        let mut chars = src.chars();
        while let Some(c) = chars.next() {
            match c {
                '\n' => line += 1,
                '#' => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            line += 1;
                            break;
                        }
                    }
                }
                '"' => {
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => {
                                chars.next();
                            }
                            '\n' => {
                                line += 1;
                                break;
                            }
                            '"' => break,
                            _ => {}
                        }
                    }
                }
                '`' => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            line += 1;
                        }
                        if c == '`' {
                            break;
                        }
                    }
                }
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_REGO_NESTING {
                        return Err(PolicyError::Compile {
                            message: format!(
                                "`{file}` line {line}: brackets nested more than {MAX_REGO_NESTING} deep"
                            ),
                        });
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Refuse recursive functions before regorus sees them.
///
/// Workaround for regorus 0.14.1: a recursive function (`f(x) := f(x)`) compiles, and then its
/// evaluation recurses natively until the process aborts with a stack overflow, in the VM and
/// in the interpreter alike, whatever the instruction limit. Rego forbids recursion (OPA
/// rejects it at compile time), so zt does the same for functions defined at the start of a
/// line in one package, calling each other by their plain name. Rule recursion is already
/// refused by regorus's compiler.
fn check_function_recursion(b: &Bundle) -> Result<(), PolicyError> {
    use std::collections::{BTreeMap, BTreeSet};
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (file, src) in &b.modules {
        // Function name -> body text of all its definitions in this module.
        let mut bodies: BTreeMap<String, String> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in src.lines() {
            let starts_head = line
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if starts_head {
                let name: String = line.chars().take_while(|c| ident(*c)).collect();
                let rest = line.get(name.len()..).unwrap_or_default();
                current = if rest.starts_with('(')
                    && !matches!(name.as_str(), "package" | "import" | "default")
                {
                    Some(name.clone())
                } else {
                    None
                };
                if let Some(n) = &current {
                    // The head's own parameter list is not a call.
                    let after_params = rest
                        .find(')')
                        .map_or("", |i| rest.get(i + 1..).unwrap_or_default());
                    bodies.entry(n.clone()).or_default().push_str(after_params);
                    bodies.entry(n.clone()).or_default().push('\n');
                }
                continue;
            }
            if let Some(n) = &current {
                bodies.entry(n.clone()).or_default().push_str(line);
                bodies.entry(n.clone()).or_default().push('\n');
            }
        }
        let names: BTreeSet<&str> = bodies.keys().map(String::as_str).collect();
        let calls = |body: &str| -> BTreeSet<String> {
            let mut out = BTreeSet::new();
            let chars: Vec<char> = body.chars().collect();
            let mut i = 0;
            while i < chars.len() {
                let prev_ok = i == 0 || chars.get(i - 1).is_some_and(|c| !ident(*c) && *c != '.');
                if prev_ok && chars.get(i).is_some_and(|c| ident(*c)) {
                    let start = i;
                    while chars.get(i).is_some_and(|c| ident(*c)) {
                        i += 1;
                    }
                    let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
                    if chars.get(i) == Some(&'(') && names.contains(word.as_str()) {
                        out.insert(word);
                    }
                } else {
                    i += 1;
                }
            }
            out
        };
        let graph: BTreeMap<&str, BTreeSet<String>> =
            bodies.iter().map(|(k, v)| (k.as_str(), calls(v))).collect();
        // Depth-first search for a cycle.
        fn visit<'a>(
            n: &'a str,
            graph: &'a BTreeMap<&'a str, BTreeSet<String>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Option<Vec<String>> {
            if let Some(pos) = path.iter().position(|p| *p == n) {
                let mut cycle: Vec<String> = path
                    .get(pos..)
                    .unwrap_or_default()
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect();
                cycle.push(n.to_owned());
                return Some(cycle);
            }
            if done.contains(n) {
                return None;
            }
            path.push(n);
            for next in graph.get(n).into_iter().flatten() {
                if let Some((k, _)) = graph.get_key_value(next.as_str())
                    && let Some(c) = visit(k, graph, path, done)
                {
                    return Some(c);
                }
            }
            path.pop();
            done.insert(n);
            None
        }
        let mut done = BTreeSet::new();
        for n in graph.keys() {
            if let Some(cycle) = visit(n, &graph, &mut Vec::new(), &mut done) {
                return Err(PolicyError::Compile {
                    message: format!(
                        "`{file}`: recursion is not allowed in Rego: {}",
                        cycle.join(" -> ")
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The names of `test_` rules per package, found in the module sources.
fn test_rules(b: &Bundle) -> Vec<String> {
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

fn run_bundle_tests(engine: &mut regorus::Engine, b: &Bundle) -> Vec<TestResult> {
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

/// Step-up requirements from the policy (RFC 9470).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepUp {
    /// Required `acr_values`.
    pub acr_values: Option<String>,
    /// Maximum authentication age, seconds.
    pub max_age: Option<u64>,
}

/// A valid policy result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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

/// One evaluation: which revision answered and what it said.
#[derive(Debug, Clone)]
pub struct PolicyEvaluation {
    /// The revision that produced the result.
    pub revision: String,
    /// The result, or why there is none (a deny).
    pub result: Result<PolicyOutput, PolicyFailure>,
}

/// The active bundle, kept revisions, and an optional shadow candidate.
pub struct PolicyStore {
    opts: PolicyStoreOptions,
    active: RwLock<Arc<CompiledBundle>>,
    kept: Mutex<VecDeque<Arc<CompiledBundle>>>,
    shadow: RwLock<Option<Arc<CompiledBundle>>>,
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore")
            .field("active", &self.active_revision())
            .finish_non_exhaustive()
    }
}

impl PolicyStore {
    /// Load, compile, test and activate the bundle at `path` (directory or `.tar.gz`).
    pub fn load(path: &Path, opts: PolicyStoreOptions) -> Result<Self, PolicyError> {
        let first = Self::candidate(bundle::load(path, opts.limits())?, &opts)?;
        Ok(Self::with_active(first, opts))
    }

    /// Load the bundle named by the `[policy]` section of a configuration.
    pub fn from_config(config: &crate::config::PolicyConfig) -> Result<Self, PolicyError> {
        let Some(path) = &config.bundle else {
            return Err(PolicyError::Bundle {
                detail: "`policy.bundle` is not set".to_owned(),
            });
        };
        Self::load(path, PolicyStoreOptions::from_config(config))
    }

    /// The same from in-memory files `(path inside the bundle, bytes)`.
    pub fn from_files(
        files: Vec<(String, Vec<u8>)>,
        opts: PolicyStoreOptions,
    ) -> Result<Self, PolicyError> {
        let first = Self::candidate(bundle::from_files(files, opts.limits())?, &opts)?;
        Ok(Self::with_active(first, opts))
    }

    fn with_active(first: Arc<CompiledBundle>, opts: PolicyStoreOptions) -> Self {
        Self {
            opts,
            kept: Mutex::new(VecDeque::from([first.clone()])),
            active: RwLock::new(first),
            shadow: RwLock::new(None),
        }
    }

    fn candidate(b: Bundle, opts: &PolicyStoreOptions) -> Result<Arc<CompiledBundle>, PolicyError> {
        let compiled = CompiledBundle::compile(b, opts, opts.run_tests_on_load)?;
        let failed: Vec<String> = compiled
            .tests
            .iter()
            .filter(|t| !t.passed)
            .map(|t| match &t.error {
                Some(e) => format!("{} ({e})", t.name),
                None => t.name.clone(),
            })
            .collect();
        if !failed.is_empty() {
            return Err(PolicyError::TestsFailed { failed });
        }
        Ok(Arc::new(compiled))
    }

    /// Load a new bundle through the gate and activate it; on any error the active bundle is
    /// unchanged. Returns the new revision.
    pub fn reload(&self, path: &Path) -> Result<String, PolicyError> {
        let c = Self::candidate(bundle::load(path, self.opts.limits())?, &self.opts)?;
        Ok(self.activate(c))
    }

    /// [`PolicyStore::reload`] from in-memory files.
    pub fn reload_files(&self, files: Vec<(String, Vec<u8>)>) -> Result<String, PolicyError> {
        let c = Self::candidate(bundle::from_files(files, self.opts.limits())?, &self.opts)?;
        Ok(self.activate(c))
    }

    fn activate(&self, c: Arc<CompiledBundle>) -> String {
        let rev = c.revision.clone();
        {
            let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            kept.retain(|k| k.revision != rev);
            kept.push_back(c.clone());
            while kept.len() > self.opts.keep_revisions.max(1) {
                kept.pop_front();
            }
        }
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = c;
        rev
    }

    /// Watch a bundle directory or archive: every `interval`, load it and, when its revision
    /// differs from the active one, activate it through the same gate as [`PolicyStore::reload`].
    /// A candidate that fails is recorded in [`PolicyWatcher::last_error`] and not retried until
    /// its content changes. Watching stops when the watcher is dropped.
    pub fn watch(self: &Arc<Self>, path: &Path, interval: std::time::Duration) -> PolicyWatcher {
        let state = Arc::new(WatchState {
            stop: std::sync::atomic::AtomicBool::new(false),
            last_error: Mutex::new(None),
            reloads: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(self);
        let (st, path) = (state.clone(), path.to_path_buf());
        let thread = std::thread::Builder::new()
            .name("zt-policy-watch".to_owned())
            .spawn(move || {
                let mut failed_revision: Option<String> = None;
                while !st.stop.load(Ordering::Relaxed) {
                    std::thread::park_timeout(interval);
                    if st.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Some(store) = weak.upgrade() else { break };
                    let loaded = bundle::load(&path, store.opts.limits());
                    let outcome = match loaded {
                        Ok(b) if b.revision == store.active_revision() => Ok(false),
                        Ok(b) if failed_revision.as_deref() == Some(b.revision.as_str()) => {
                            Ok(false)
                        }
                        Ok(b) => {
                            let rev = b.revision.clone();
                            match Self::candidate(b, &store.opts) {
                                Ok(c) => {
                                    store.activate(c);
                                    Ok(true)
                                }
                                Err(e) => {
                                    failed_revision = Some(rev);
                                    Err(e)
                                }
                            }
                        }
                        Err(e) => Err(e),
                    };
                    match outcome {
                        Ok(true) => {
                            st.reloads.fetch_add(1, Ordering::Relaxed);
                            *st.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            *st.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        }
                    }
                }
            })
            .ok();
        PolicyWatcher { state, thread }
    }

    /// Make a kept revision active again.
    pub fn rollback(&self, revision: &str) -> Result<(), PolicyError> {
        let found = self
            .kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|k| k.revision == revision)
            .cloned();
        match found {
            Some(c) => {
                *self.active.write().unwrap_or_else(|p| p.into_inner()) = c;
                Ok(())
            }
            None => Err(PolicyError::UnknownRevision {
                revision: revision.to_owned(),
            }),
        }
    }

    /// The kept revisions, oldest first.
    pub fn revisions(&self) -> Vec<String> {
        self.kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|k| k.revision.clone())
            .collect()
    }

    /// The active revision.
    pub fn active_revision(&self) -> String {
        self.active().revision.clone()
    }

    /// The active compiled bundle.
    pub fn active(&self) -> Arc<CompiledBundle> {
        self.active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Set (or clear) the shadow candidate from in-memory files; it passes the same gate.
    pub fn set_shadow_files(
        &self,
        files: Option<Vec<(String, Vec<u8>)>>,
    ) -> Result<Option<String>, PolicyError> {
        let c = match files {
            Some(f) => Some(Self::candidate(
                bundle::from_files(f, self.opts.limits())?,
                &self.opts,
            )?),
            None => None,
        };
        let rev = c.as_ref().map(|c| c.revision.clone());
        *self.shadow.write().unwrap_or_else(|p| p.into_inner()) = c;
        Ok(rev)
    }

    /// Set the shadow candidate from a directory or archive.
    pub fn set_shadow(&self, path: &Path) -> Result<String, PolicyError> {
        let c = Self::candidate(bundle::load(path, self.opts.limits())?, &self.opts)?;
        let rev = c.revision.clone();
        *self.shadow.write().unwrap_or_else(|p| p.into_inner()) = Some(c);
        Ok(rev)
    }

    /// Evaluate the active bundle.
    pub fn evaluate(&self, input: &PolicyInput) -> PolicyEvaluation {
        let active = self.active();
        PolicyEvaluation {
            revision: active.revision.clone(),
            result: active.evaluate(input),
        }
    }

    /// Evaluate the shadow candidate, if one is set (never enforced).
    pub fn evaluate_shadow(&self, input: &PolicyInput) -> Option<PolicyEvaluation> {
        let shadow = self
            .shadow
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        Some(PolicyEvaluation {
            revision: shadow.revision.clone(),
            result: shadow.evaluate(input),
        })
    }
}

struct WatchState {
    stop: std::sync::atomic::AtomicBool,
    last_error: Mutex<Option<PolicyError>>,
    reloads: AtomicU64,
}

/// Watches a bundle for changes; stops when dropped.
pub struct PolicyWatcher {
    state: Arc<WatchState>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for PolicyWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyWatcher").finish_non_exhaustive()
    }
}

impl PolicyWatcher {
    /// The error of the last failed candidate (cleared by the next successful reload).
    pub fn last_error(&self) -> Option<PolicyError> {
        self.state
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Bundles activated by this watcher.
    pub fn reloads(&self) -> u64 {
        self.state.reloads.load(Ordering::Relaxed)
    }
}

impl Drop for PolicyWatcher {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
