//! Which definitions constrain `input` with literals, read from regorus's syntax tree.
//!
//! A definition is *indexable* when it is a single body (no `else`, no second block) of a
//! complete, partial set or partial object rule, outside test files, and at least one of its
//! top-level literals (not negated, without `with`) is an index condition:
//!
//! | literal | condition |
//! | --- | --- |
//! | `input.a.b == "lit"`, `"lit" == input.a.b`, `=` likewise (also `true`/`false`) | the value equals the literal |
//! | `input.a.b = ["x", _, y]` (or `==` with constants) | an array of that length, constant elements equal |
//! | `input.a.b[0] == "x"` | element 0 equals it |
//! | `glob.match("/api/*", ["/"], input.a.b)` (delimiters `["/"]`) | a string starting with the pattern's literal prefix (`/api/`) |
//! | `"lit" in input.a.b` | the collection holds the literal |
//!
//! Every condition is a necessary condition of the literal it comes from: a value that fails it
//! makes that literal fail, and with it the body. Anything else in the body is left alone, so the
//! definition stays a candidate for every value the conditions accept.

use regorus::unstable::{AssignOp, BoolOp, Expr, Literal, Module, Query, Rule, RuleHead};

/// One step of a path under `input`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Seg {
    /// An object key (`.a`, `["a"]`).
    Key(String),
    /// An array position (`[0]`).
    Index(usize),
}

/// What a condition looks at: a value, an array's length, or whether a collection holds a literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum DimKey {
    /// The value at the path.
    Value(Vec<Seg>),
    /// The length of the array at the path.
    Len(Vec<Seg>),
    /// Whether the collection at the path holds the string.
    Member(Vec<Seg>, String),
}

/// What a condition asks of its [`DimKey`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Cond {
    /// The string.
    Str(String),
    /// The boolean.
    Bool(bool),
    /// This array length.
    Len(usize),
    /// A string starting with this (non-empty) prefix.
    Prefix(String),
    /// The collection holds the literal.
    Member,
}

/// An indexable definition.
#[derive(Debug)]
pub(crate) struct Def {
    /// The module the definition is in (index into the bundle's modules).
    pub(crate) module: usize,
    /// Its text, `start..end` bytes of the module.
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Its conditions, at most one per dimension.
    pub(crate) conds: Vec<(DimKey, Cond)>,
    /// Its cost when packed with others: 1, plus 1 per call in its body (`glob.match` compiles
    /// or looks up a matcher; a program holds fewer such definitions).
    pub(crate) weight: usize,
}

/// A rule with indexable definitions.
#[derive(Debug)]
pub(crate) struct IndexedRule {
    pub(crate) path: String,
    /// Its definitions, indexable or not (defaults left out).
    pub(crate) definitions: usize,
    /// Indices into [`Analysis::defs`], in source order.
    pub(crate) defs: Vec<u32>,
}

/// The result of reading a bundle's rules.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    pub(crate) defs: Vec<Def>,
    pub(crate) rules: Vec<IndexedRule>,
}

/// Read the compiled policy's rules. `Err` names why the bundle cannot be indexed at all.
pub(crate) fn analyze(
    compiled: &regorus::CompiledPolicy,
    modules: &[(String, String)],
) -> Result<Analysis, String> {
    for m in compiled.get_modules() {
        if let Some(why) = rebinds_input(m) {
            return Err(why);
        }
    }
    let globs = !glob_shadowed(compiled);
    let mut out = Analysis::default();
    for (path, rules) in compiled.get_rules() {
        let name = path.rsplit('.').next().unwrap_or_default();
        if name.starts_with("test_") || rules.len() < 2 {
            continue;
        }
        let mut defs = Vec::new();
        let mut specs = 0usize;
        for rule in rules {
            if matches!(rule.as_ref(), Rule::Spec { .. }) {
                specs += 1;
            }
            let span = rule.span();
            let Some(module) = modules.iter().position(|(f, _)| f == span.source.file()) else {
                continue;
            };
            if modules
                .get(module)
                .is_some_and(|(f, _)| f.ends_with("_test.rego"))
            {
                continue;
            }
            let conds = conditions(rule, globs);
            if conds.is_empty() {
                continue;
            }
            let id = u32::try_from(out.defs.len()).map_err(|_| "too many definitions")?;
            defs.push(id);
            let text = modules.get(module).map_or("", |(_, t)| t.as_str());
            out.defs.push(Def {
                module,
                start: span.start as usize,
                end: rule_end(text, span.end as usize),
                conds,
                weight: 1 + calls(rule),
            });
        }
        if !defs.is_empty() {
            out.rules.push(IndexedRule {
                path: path.clone(),
                definitions: specs,
                defs,
            });
        }
    }
    Ok(out)
}

/// Where a rule whose span ends at `end` ends in its text. regorus's span of a string token
/// leaves out its closing quote, so a rule ending with a string literal (`allow if x == "a"`)
/// ends one byte later (regorus 0.14.1).
pub(crate) fn rule_end(text: &str, end: usize) -> usize {
    match text.as_bytes().get(end) {
        Some(b'"' | b'`') => end + 1,
        _ => end,
    }
}

/// Calls in a definition's body (top-level literals).
fn calls(rule: &Rule) -> usize {
    let Rule::Spec { bodies, .. } = rule else {
        return 0;
    };
    bodies
        .iter()
        .flat_map(|b| b.query.stmts.iter())
        .filter(|s| match &s.literal {
            Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => {
                matches!(expr.as_ref(), Expr::Call { .. })
            }
            _ => false,
        })
        .count()
}

/// Whether `glob.match` might not be regorus's builtin: regorus resolves a call through the
/// module's imports and the bundle's own rules before its builtins, so an import named `glob`
/// or a rule or package with a `glob` component could stand in for it.
fn glob_shadowed(compiled: &regorus::CompiledPolicy) -> bool {
    let has_glob = |path: &str| path.split('.').any(|c| c == "glob");
    compiled.get_rules().keys().any(|p| has_glob(p))
        || compiled.get_modules().iter().any(|m| {
            has_glob(m.package.refr.span().text())
                || m.imports.iter().any(|i| {
                    i.r#as.as_ref().is_some_and(|a| a.text() == "glob")
                        || has_glob(i.refr.span().text())
                })
        })
}

/// The index conditions of one definition (empty when it has none or is not indexable);
/// `globs`: whether `glob.match` is the builtin.
fn conditions(rule: &Rule, globs: bool) -> Vec<(DimKey, Cond)> {
    let Rule::Spec { head, bodies, .. } = rule else {
        return Vec::new();
    };
    if matches!(head, RuleHead::Func { .. }) || bodies.len() != 1 {
        return Vec::new();
    }
    let Some(body) = bodies.first() else {
        return Vec::new();
    };
    if body.is_else {
        return Vec::new();
    }
    let mut out: Vec<(DimKey, Cond)> = Vec::new();
    for stmt in &body.query.stmts {
        if !stmt.with_mods.is_empty() {
            continue;
        }
        let Literal::Expr { expr, .. } = &stmt.literal else {
            continue;
        };
        for (dim, cond) in literal_conditions(expr, globs) {
            // One condition per dimension: each is necessary, so keeping the first is sound.
            if !out.iter().any(|(d, _)| *d == dim) {
                out.push((dim, cond));
            }
        }
    }
    out
}

fn literal_conditions(expr: &Expr, globs: bool) -> Vec<(DimKey, Cond)> {
    match expr {
        Expr::BoolExpr {
            op: BoolOp::Eq,
            lhs,
            rhs,
            ..
        } => equality(lhs, rhs),
        Expr::AssignExpr {
            op: AssignOp::Eq,
            lhs,
            rhs,
            ..
        } => equality(lhs, rhs),
        Expr::Call { fcn, params, .. } if globs && is_glob_match(fcn) => glob(params),
        Expr::Membership {
            key: None,
            value,
            collection,
            ..
        } => match (string_lit(value), input_path(collection)) {
            (Some(s), Some(p)) => vec![(DimKey::Member(p, s), Cond::Member)],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// `ref == const` or `ref = pattern`, either way round.
fn equality(lhs: &Expr, rhs: &Expr) -> Vec<(DimKey, Cond)> {
    let (path, other) = match (input_path(lhs), input_path(rhs)) {
        (Some(p), None) => (p, rhs),
        (None, Some(p)) => (p, lhs),
        _ => return Vec::new(),
    };
    if let Some(c) = scalar(other) {
        return vec![(DimKey::Value(path), c)];
    }
    let Expr::Array { items, .. } = other else {
        return Vec::new();
    };
    let mut out = vec![(DimKey::Len(path.clone()), Cond::Len(items.len()))];
    for (i, item) in items.iter().enumerate() {
        // A variable (`_`, or one bound elsewhere) or a composite element: no condition on
        // that element, the length still holds.
        if let Some(c) = scalar(item) {
            let mut p = path.clone();
            p.push(Seg::Index(i));
            out.push((DimKey::Value(p), c));
        }
    }
    out
}

fn is_glob_match(fcn: &Expr) -> bool {
    match fcn {
        Expr::RefDot {
            refr,
            field: (_, f),
            ..
        } => {
            matches!(refr.as_ref(), Expr::Var { span, .. } if span.text() == "glob")
                && f.as_string().is_ok_and(|s| &**s == "match")
        }
        _ => false,
    }
}

/// `glob.match(<constant pattern>, ["/"], <input ref>)`: a prefix condition.
fn glob(params: &[regorus::unstable::Ref<Expr>]) -> Vec<(DimKey, Cond)> {
    let [pattern, delims, value] = params else {
        return Vec::new();
    };
    let (Some(pattern), Some(path)) = (string_lit(pattern), input_path(value)) else {
        return Vec::new();
    };
    // With `/` as the only delimiter regorus matches the text as written. Other delimiters,
    // and none (`null`: `/` becomes `\0` on both sides, so a value with `\0` for `/` matches),
    // rewrite the text before matching, so a prefix of the pattern is not a prefix of the
    // values it matches.
    let plain = match delims.as_ref() {
        Expr::Array { items, .. } => {
            !items.is_empty()
                && items
                    .iter()
                    .all(|i| string_lit(i).is_some_and(|s| s == "/"))
        }
        _ => false,
    };
    let prefix = literal_prefix(&pattern);
    if !plain || prefix.is_empty() {
        return Vec::new();
    }
    vec![(DimKey::Value(path), Cond::Prefix(prefix.to_owned()))]
}

/// The part of a glob pattern before its first special character.
pub(crate) fn literal_prefix(pattern: &str) -> &str {
    let end = pattern
        .find(['*', '?', '[', ']', '{', '}', '\\', ',', '!'])
        .unwrap_or(pattern.len());
    pattern.get(..end).unwrap_or_default()
}

fn string_lit(e: &Expr) -> Option<String> {
    match e {
        Expr::String { value, .. } | Expr::RawString { value, .. } => {
            value.as_string().ok().map(|s| s.to_string())
        }
        _ => None,
    }
}

fn scalar(e: &Expr) -> Option<Cond> {
    match e {
        Expr::Bool { value, .. } => match value {
            regorus::Value::Bool(b) => Some(Cond::Bool(*b)),
            _ => None,
        },
        _ => string_lit(e).map(Cond::Str),
    }
}

/// The path of a reference rooted at `input` with constant steps (`input.a["b"][0]`).
fn input_path(e: &Expr) -> Option<Vec<Seg>> {
    let p = input_path_inner(e)?;
    (!p.is_empty()).then_some(p)
}

fn input_path_inner(e: &Expr) -> Option<Vec<Seg>> {
    match e {
        Expr::Var { span, .. } if span.text() == "input" => Some(Vec::new()),
        Expr::RefDot {
            refr,
            field: (_, f),
            ..
        } => {
            let mut p = input_path_inner(refr)?;
            p.push(Seg::Key(f.as_string().ok()?.to_string()));
            Some(p)
        }
        Expr::RefBrack { refr, index, .. } => {
            let mut p = input_path_inner(refr)?;
            let seg = match index.as_ref() {
                Expr::Number { span, .. } => {
                    let t = span.text();
                    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    Seg::Index(t.parse().ok()?)
                }
                other => Seg::Key(string_lit(other)?),
            };
            p.push(seg);
            Some(p)
        }
        _ => None,
    }
}

/// Whether a module binds a local or an import to the name `input` (then `input.x` in its
/// rules would not be the input document, and the bundle is not indexed).
fn rebinds_input(m: &Module) -> Option<String> {
    let file = m.package.span.source.file();
    if m.imports
        .iter()
        .any(|i| i.r#as.as_ref().is_some_and(|a| a.text() == "input"))
    {
        return Some(format!("{file}: an import is named `input`"));
    }
    let mut found = false;
    for rule in &m.policy {
        if let Rule::Spec { head, bodies, .. } = rule.as_ref() {
            if let RuleHead::Func { args, .. } = head {
                found |= args.iter().any(|a| mentions_var(a, "input"));
            }
            for b in bodies {
                found |= query_rebinds(&b.query);
            }
        }
    }
    found.then(|| format!("{file}: a local variable is named `input`"))
}

fn query_rebinds(q: &Query) -> bool {
    q.stmts.iter().any(|s| match &s.literal {
        Literal::SomeVars { vars, .. } => vars.iter().any(|v| v.text() == "input"),
        Literal::SomeIn {
            key,
            value,
            collection,
            ..
        } => {
            key.as_ref().is_some_and(|k| mentions_var(k, "input"))
                || mentions_var(value, "input")
                || expr_rebinds(collection)
        }
        Literal::Every {
            key,
            value,
            domain,
            query,
            ..
        } => {
            key.as_ref().is_some_and(|k| k.text() == "input")
                || value.text() == "input"
                || expr_rebinds(domain)
                || query_rebinds(query)
        }
        Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => expr_rebinds(expr),
    })
}

/// `input := …` (also inside comprehensions), or a comprehension binding it.
fn expr_rebinds(e: &Expr) -> bool {
    match e {
        Expr::AssignExpr { op, lhs, rhs, .. } => {
            (*op == AssignOp::ColEq && mentions_var(lhs, "input"))
                || expr_rebinds(lhs)
                || expr_rebinds(rhs)
        }
        Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
            expr_rebinds(term) || query_rebinds(query)
        }
        Expr::ObjectCompr {
            key, value, query, ..
        } => expr_rebinds(key) || expr_rebinds(value) || query_rebinds(query),
        Expr::Call { params, .. } => params.iter().any(|p| expr_rebinds(p)),
        Expr::Array { items, .. } | Expr::Set { items, .. } => {
            items.iter().any(|i| expr_rebinds(i))
        }
        Expr::Object { fields, .. } => fields
            .iter()
            .any(|(_, k, v)| expr_rebinds(k) || expr_rebinds(v)),
        Expr::UnaryExpr { expr, .. } => expr_rebinds(expr),
        Expr::RefBrack { refr, index, .. } => expr_rebinds(refr) || expr_rebinds(index),
        Expr::RefDot { refr, .. } => expr_rebinds(refr),
        Expr::BinExpr { lhs, rhs, .. }
        | Expr::BoolExpr { lhs, rhs, .. }
        | Expr::ArithExpr { lhs, rhs, .. } => expr_rebinds(lhs) || expr_rebinds(rhs),
        Expr::Membership {
            key,
            value,
            collection,
            ..
        } => {
            key.as_ref().is_some_and(|k| expr_rebinds(k))
                || expr_rebinds(value)
                || expr_rebinds(collection)
        }
        _ => false,
    }
}

/// Whether `name` occurs as a plain variable in a term (not as the root of a reference).
fn mentions_var(e: &Expr, name: &str) -> bool {
    match e {
        Expr::Var { span, .. } => span.text() == name,
        Expr::Array { items, .. } | Expr::Set { items, .. } => {
            items.iter().any(|i| mentions_var(i, name))
        }
        Expr::Object { fields, .. } => fields
            .iter()
            .any(|(_, k, v)| mentions_var(k, name) || mentions_var(v, name)),
        _ => false,
    }
}

/// A dimension's name as a policy author writes it (`input.request.path`,
/// `count(input.request.segments)`, `"dev" in input.subject.groups`).
pub(crate) fn describe(dim: &DimKey) -> String {
    fn path(p: &[Seg]) -> String {
        let mut s = String::from("input");
        for seg in p {
            match seg {
                Seg::Key(k)
                    if !k.is_empty()
                        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !k.starts_with(|c: char| c.is_ascii_digit()) =>
                {
                    s.push('.');
                    s.push_str(k);
                }
                Seg::Key(k) => s.push_str(&format!("[{k:?}]")),
                Seg::Index(i) => s.push_str(&format!("[{i}]")),
            }
        }
        s
    }
    match dim {
        DimKey::Value(p) => path(p),
        DimKey::Len(p) => format!("count({})", path(p)),
        DimKey::Member(p, lit) => format!("{lit:?} in {}", path(p)),
    }
}
