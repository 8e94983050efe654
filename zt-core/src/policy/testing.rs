//! Running a bundle's Rego `test_` rules, like `opa test`.

use super::bundle::{self, Bundle};
use super::compile::{build_index, compile_entrypoint, load_engine};
use super::index::{RuleIndex, rule_end};
use crate::config::PolicyConfig;
use crate::error::PolicyError;
use crate::util::text::one_line;
use regorus::Value as RegoValue;
use regorus::unstable::{Expr, Literal, Query, Rule, RuleHead};
use std::collections::{BTreeMap, HashMap};
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
    /// Whether it ran with the rule index: its inputs are written out (`with input as {…}`),
    /// and it evaluated the entrypoint over the definitions a decision on those inputs would.
    pub indexed: bool,
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

/// What running tests with the rule index needs.
pub(super) struct IndexedTests<'a> {
    pub(super) index: &'a RuleIndex,
    pub(super) compiled: &'a regorus::CompiledPolicy,
    pub(super) data: &'a RegoValue,
}

/// Run the bundle's tests on `engine` (the whole bundle). With an index, each test whose
/// inputs are all written out runs instead on an engine holding only the definitions the
/// decision's program holds for those inputs (the union, for a test with several), so a test
/// sees what a decision sees.
pub(super) fn run_bundle_tests(
    engine: &mut regorus::Engine,
    b: &Bundle,
    indexed: Option<IndexedTests<'_>>,
) -> Vec<TestResult> {
    let names = test_rules(b);
    let mut results: Vec<Option<TestResult>> = vec![None; names.len()];
    if let Some(ix) = indexed {
        run_indexed(&ix, b, &names, &mut results);
    }
    set_test_timer(engine);
    names
        .into_iter()
        .zip(results)
        .map(|(name, done)| done.unwrap_or_else(|| eval_test(engine, name, false)))
        .collect()
}

fn set_test_timer(engine: &mut regorus::Engine) {
    engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
        limit: std::time::Duration::from_secs(5),
        check_interval: std::num::NonZeroU32::MIN,
    });
}

fn eval_test(engine: &mut regorus::Engine, name: String, indexed: bool) -> TestResult {
    let (passed, error) = match engine.eval_rule(name.clone()) {
        Ok(RegoValue::Bool(true)) => (true, None),
        Ok(_) => (false, None),
        Err(e) => (false, Some(one_line(&e.to_string()))),
    };
    TestResult {
        name,
        passed,
        error,
        indexed,
    }
}

/// A test rule's definitions: where they are, and the inputs they write out (`None` when one
/// is not a constant, or only part of the input is replaced).
#[derive(Default)]
struct TestDefs {
    at: Vec<(usize, usize, usize)>,
    inputs: Option<Vec<RegoValue>>,
    mentions_tests: bool,
}

fn run_indexed(
    ix: &IndexedTests<'_>,
    b: &Bundle,
    names: &[String],
    results: &mut [Option<TestResult>],
) {
    let Some(tests) = test_definitions(ix.compiled, b) else {
        return;
    };
    // Tests that refer to other tests keep every test in every engine.
    let cut_tests = !tests.values().any(|t| t.mentions_tests);
    let mut groups: BTreeMap<Vec<u32>, Vec<usize>> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let Some(inputs) = tests.get(name).and_then(|t| t.inputs.as_ref()) else {
            continue;
        };
        if inputs.is_empty() {
            continue;
        }
        let mut set: Vec<u32> = inputs
            .iter()
            .flat_map(|v| ix.index.definitions_for(v).iter().copied())
            .collect();
        set.sort_unstable();
        set.dedup();
        groups.entry(set).or_default().push(i);
    }
    for (set, members) in groups {
        let cuts: Vec<(usize, usize, usize)> = if cut_tests {
            tests
                .iter()
                .filter(|(n, _)| !members.iter().any(|m| names.get(*m) == Some(*n)))
                .flat_map(|(_, t)| t.at.iter().copied())
                .collect()
        } else {
            Vec::new()
        };
        let mut engine = regorus::Engine::new();
        let loaded = ix
            .index
            .sources_for(&b.modules, &set, &cuts)
            .into_iter()
            .try_for_each(|(file, text)| engine.add_policy(file, text).map(|_| ()))
            .and_then(|()| engine.add_data(ix.data.clone()));
        if let Err(e) = loaded {
            let error = format!(
                "the indexed bundle does not load: {}",
                one_line(&e.to_string())
            );
            for m in members {
                if let (Some(slot), Some(name)) = (results.get_mut(m), names.get(m)) {
                    *slot = Some(TestResult {
                        name: name.clone(),
                        passed: false,
                        error: Some(error.clone()),
                        indexed: true,
                    });
                }
            }
            continue;
        }
        set_test_timer(&mut engine);
        for m in members {
            if let (Some(slot), Some(name)) = (results.get_mut(m), names.get(m)) {
                *slot = Some(eval_test(&mut engine, name.clone(), true));
            }
        }
    }
}

/// Every test rule's definitions, by `data.<package>.<name>`; `None` when a rule that is not a
/// test uses `with` (a helper may then replace the input in ways the tests do not show).
fn test_definitions(
    compiled: &regorus::CompiledPolicy,
    b: &Bundle,
) -> Option<HashMap<String, TestDefs>> {
    let mut out: HashMap<String, TestDefs> = HashMap::new();
    for m in compiled.get_modules() {
        let file = m.package.span.source.file();
        let module = b.modules.iter().position(|(f, _)| f == file)?;
        let pkg = package_path(&m.package.refr)?;
        for rule in &m.policy {
            let Rule::Spec { span, head, bodies } = rule.as_ref() else {
                continue;
            };
            let refr = match head {
                RuleHead::Compr { refr, .. }
                | RuleHead::Set { refr, .. }
                | RuleHead::Func { refr, .. } => refr,
            };
            let name = refr.span().text();
            let mut withs = Withs::default();
            for body in bodies {
                withs.query(&body.query);
            }
            if !name.starts_with("test_") {
                if withs.any {
                    return None;
                }
                continue;
            }
            let t = out
                .entry(format!("data.{pkg}.{name}"))
                .or_insert_with(|| TestDefs {
                    inputs: Some(Vec::new()),
                    ..TestDefs::default()
                });
            let text = b.modules.get(module).map_or("", |(_, t)| t.as_str());
            t.at.push((
                module,
                span.start as usize,
                rule_end(text, span.end as usize),
            ));
            t.mentions_tests |= span.text().matches("test_").count() > 1;
            match (withs.partial, &mut t.inputs) {
                (false, Some(v)) => v.extend(withs.inputs),
                _ => t.inputs = None,
            }
        }
    }
    Some(out)
}

/// `a.b.c` of a package's reference.
fn package_path(e: &Expr) -> Option<String> {
    match e {
        Expr::Var { span, .. } => Some(span.text().to_owned()),
        Expr::RefDot {
            refr,
            field: (_, f),
            ..
        } => Some(format!("{}.{}", package_path(refr)?, f.as_string().ok()?)),
        Expr::RefBrack { refr, index, .. } => match index.as_ref() {
            Expr::String { value, .. } => Some(format!(
                "{}.{}",
                package_path(refr)?,
                value.as_string().ok()?
            )),
            _ => None,
        },
        _ => None,
    }
}

/// The `with` modifiers of a rule's queries.
#[derive(Default)]
struct Withs {
    any: bool,
    /// A `with input as` whose value is not a constant, or a `with input.x as`.
    partial: bool,
    inputs: Vec<RegoValue>,
}

impl Withs {
    fn query(&mut self, q: &Query) {
        for stmt in &q.stmts {
            for w in &stmt.with_mods {
                self.any = true;
                match w.refr.as_ref() {
                    Expr::Var { span, .. } if span.text() == "input" => match ground(&w.r#as) {
                        Some(v) => self.inputs.push(v),
                        None => self.partial = true,
                    },
                    other if rooted_at_input(other) => self.partial = true,
                    // `with data.x as …` changes data, which no index condition reads; any
                    // other target mocks a function (`with glob.match as …`), which can make
                    // a definition the index left out succeed: run on the whole bundle.
                    other if rooted_at(other, "data") => {}
                    _ => self.partial = true,
                }
            }
            match &stmt.literal {
                Literal::Every { query, domain, .. } => {
                    self.query(query);
                    self.expr(domain);
                }
                Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => self.expr(expr),
                Literal::SomeIn { collection, .. } => self.expr(collection),
                Literal::SomeVars { .. } => {}
            }
        }
    }

    /// Comprehensions inside an expression have queries of their own.
    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                self.expr(term);
                self.query(query);
            }
            Expr::ObjectCompr {
                key, value, query, ..
            } => {
                self.expr(key);
                self.expr(value);
                self.query(query);
            }
            Expr::Call { fcn, params, .. } => {
                self.expr(fcn);
                params.iter().for_each(|p| self.expr(p));
            }
            Expr::RefDot { refr, .. } => self.expr(refr),
            Expr::RefBrack { refr, index, .. } => {
                self.expr(refr);
                self.expr(index);
            }
            Expr::BoolExpr { lhs, rhs, .. }
            | Expr::AssignExpr { lhs, rhs, .. }
            | Expr::BinExpr { lhs, rhs, .. }
            | Expr::ArithExpr { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                items.iter().for_each(|i| self.expr(i));
            }
            Expr::Object { fields, .. } => fields.iter().for_each(|(_, k, v)| {
                self.expr(k);
                self.expr(v);
            }),
            Expr::UnaryExpr { expr, .. } => self.expr(expr),
            Expr::Membership {
                value, collection, ..
            } => {
                self.expr(value);
                self.expr(collection);
            }
            _ => {}
        }
    }
}

fn rooted_at_input(e: &Expr) -> bool {
    rooted_at(e, "input")
}

fn rooted_at(e: &Expr, root: &str) -> bool {
    match e {
        Expr::Var { span, .. } => span.text() == root,
        Expr::RefDot { refr, .. } | Expr::RefBrack { refr, .. } => rooted_at(refr, root),
        _ => false,
    }
}

/// The value of a constant term (`{"request": {"method": "GET"}}`), or `None`.
fn ground(e: &Expr) -> Option<RegoValue> {
    match e {
        Expr::String { value, .. }
        | Expr::RawString { value, .. }
        | Expr::Number { value, .. }
        | Expr::Bool { value, .. }
        | Expr::Null { value, .. } => Some(value.clone()),
        Expr::Array { items, .. } => items
            .iter()
            .map(|i| ground(i))
            .collect::<Option<Vec<_>>>()
            .map(RegoValue::from),
        Expr::Set { items, .. } => items
            .iter()
            .map(|i| ground(i))
            .collect::<Option<std::collections::BTreeSet<_>>>()
            .map(RegoValue::from),
        Expr::Object { fields, .. } => fields
            .iter()
            .map(|(_, k, v)| Some((ground(k)?, ground(v)?)))
            .collect::<Option<BTreeMap<_, _>>>()
            .map(RegoValue::from),
        _ => None,
    }
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
    // The index is built for the entrypoint a decision evaluates: the one named, else the
    // config's when the bundle has it.
    let compiled = match entrypoint {
        Some(e) => Some(compile_entrypoint(&mut engine, e)?),
        None => compile_entrypoint(&mut engine, &config.entrypoint).ok(),
    };
    if let Some(c) = &compiled {
        super::recursion::check(c)?;
    }
    let opts = PolicyConfig {
        entrypoint: entrypoint.unwrap_or(&config.entrypoint).to_owned(),
        ..config.clone()
    };
    let data = RegoValue::from(b.data.clone());
    let index = match &compiled {
        Some(c) => build_index(c, &b, &data, &opts)?.0,
        None => None,
    };
    let indexed = match (&index, &compiled) {
        (Some(index), Some(compiled)) => Some(IndexedTests {
            index,
            compiled,
            data: &data,
        }),
        _ => None,
    };
    Ok(run_bundle_tests(&mut engine, &b, indexed))
}
