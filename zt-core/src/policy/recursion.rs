//! Refusing recursive rules at load, as OPA does (`rego_recursion_error`).
//!
//! regorus 0.14.1's compiled VM follows a rule that refers to itself (`allow if allow`, or
//! `a if b` with `b if a`) until the thread's stack overflows, which aborts the process, and its
//! compiler does not catch every such chain. zt reads which rules each rule refers to from
//! the syntax tree and refuses a bundle whose rules form a cycle, naming it.
//!
//! A reference is a rule's name in its package (unless the definition binds a local variable of
//! that name), a `data.…` path, or a path through an imported alias; it depends on every rule
//! whose path it reads into (`data.p.r.x` reads rule `data.p.r`) or contains (`data.p` reads
//! every rule of package `p`).

use crate::error::PolicyError;
use regorus::unstable::{AssignOp, Expr, Literal, Module, Query, Rule, RuleHead};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Refuse a bundle whose rules refer to themselves, directly or through others.
pub(super) fn check(compiled: &regorus::CompiledPolicy) -> Result<(), PolicyError> {
    let modules = compiled.get_modules();
    // Every rule's path, and its definitions with their module's context.
    let mut rules: BTreeMap<String, Vec<(&Module, &Rule)>> = BTreeMap::new();
    for m in modules.iter() {
        let Some(pkg) = static_path(&m.package.refr) else {
            continue;
        };
        for rule in &m.policy {
            let refr = match rule.as_ref() {
                Rule::Spec { head, .. } => match head {
                    RuleHead::Compr { refr, .. }
                    | RuleHead::Set { refr, .. }
                    | RuleHead::Func { refr, .. } => refr,
                },
                Rule::Default { refr, .. } => refr,
            };
            let Some(head) = static_path(refr) else {
                continue;
            };
            let path = format!("data.{}.{}", pkg.join("."), head.join("."));
            rules.entry(path).or_default().push((m, rule));
        }
    }
    let paths: Vec<&str> = rules.keys().map(String::as_str).collect();
    let mut graph: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for (path, defs) in &rules {
        let mut deps = BTreeSet::new();
        for (m, rule) in defs {
            for (r, call) in references(m, rule) {
                // A call names a function exactly (`time.now_ns()` is no reference to a rule
                // `time`: without a function at that path it is the builtin).
                deps.extend(
                    paths
                        .iter()
                        .copied()
                        .filter(|p| if call { *p == r } else { overlaps(p, &r) }),
                );
            }
        }
        graph.insert(path.as_str(), deps);
    }
    let mut done: BTreeSet<&str> = BTreeSet::new();
    for p in &paths {
        let mut stack = Vec::new();
        if let Some(cycle) = find_cycle(p, &graph, &mut stack, &mut done) {
            return Err(PolicyError::Compile {
                message: format!(
                    "recursion is not allowed in Rego: {} (rule {} refers to itself)",
                    cycle.join(" -> "),
                    cycle.first().map_or("", |s| s.as_str())
                ),
            });
        }
    }
    Ok(())
}

/// Whether reading `reference` reads rule `rule`: one path is a prefix of the other, by whole
/// components.
fn overlaps(rule: &str, reference: &str) -> bool {
    let prefix = |a: &str, b: &str| {
        b.strip_prefix(a)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    };
    prefix(rule, reference) || prefix(reference, rule)
}

fn find_cycle<'a>(
    n: &'a str,
    graph: &HashMap<&'a str, BTreeSet<&'a str>>,
    stack: &mut Vec<&'a str>,
    done: &mut BTreeSet<&'a str>,
) -> Option<Vec<String>> {
    if let Some(at) = stack.iter().position(|s| *s == n) {
        let mut cycle: Vec<String> = stack
            .get(at..)
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
    stack.push(n);
    for next in graph.get(n).into_iter().flatten() {
        if let Some(c) = find_cycle(next, graph, stack, done) {
            return Some(c);
        }
    }
    stack.pop();
    done.insert(n);
    None
}

/// The constant components of a reference up to its first computed index (`a.b["c"]` →
/// `[a, b, c]`; `a[x].c` → `[a]`: it may read anything under `a`), `None` if it starts with
/// anything but a variable.
fn static_path(e: &Expr) -> Option<Vec<String>> {
    static_path_inner(e).map(|(p, _)| p)
}

/// The path, and whether a computed index cut it short.
fn static_path_inner(e: &Expr) -> Option<(Vec<String>, bool)> {
    match e {
        Expr::Var { span, .. } => Some((vec![span.text().to_owned()], false)),
        Expr::RefDot {
            refr,
            field: (_, f),
            ..
        } => {
            let (mut p, cut) = static_path_inner(refr)?;
            if !cut {
                p.push(f.as_string().ok()?.to_string());
            }
            Some((p, cut))
        }
        Expr::RefBrack { refr, index, .. } => {
            let (mut p, cut) = static_path_inner(refr)?;
            if cut {
                return Some((p, true));
            }
            match index.as_ref() {
                Expr::String { value, .. } | Expr::RawString { value, .. } => {
                    p.push(value.as_string().ok()?.to_string());
                    Some((p, false))
                }
                // A computed index: the reference reads the whole collection so far.
                _ => Some((p, true)),
            }
        }
        _ => None,
    }
}

/// The `data` paths a rule's definition reads (each as `data.a.b`), and whether each is a call.
fn references(m: &Module, rule: &Rule) -> Vec<(String, bool)> {
    let pkg = static_path(&m.package.refr).unwrap_or_default().join(".");
    let mut aliases: HashMap<String, String> = HashMap::new();
    for i in &m.imports {
        let Some(path) = static_path(&i.refr) else {
            continue;
        };
        if path.first().map(String::as_str) != Some("data") {
            continue;
        }
        let alias = match &i.r#as {
            Some(a) => a.text().to_owned(),
            None => path.last().cloned().unwrap_or_default(),
        };
        aliases.insert(alias, path.join("."));
    }
    let mut w = Walker {
        pkg,
        aliases,
        locals: BTreeSet::new(),
        out: Vec::new(),
    };
    match rule {
        Rule::Spec { head, bodies, .. } => {
            // Locals first (the whole definition), so that a local named like a rule is not
            // taken for it.
            if let RuleHead::Func { args, .. } = head {
                for a in args {
                    w.bind(a);
                }
            }
            for b in bodies {
                w.collect_locals(&b.query);
            }
            match head {
                RuleHead::Compr { assign, .. } => {
                    if let Some(a) = assign {
                        w.expr(&a.value);
                    }
                }
                RuleHead::Set { key, .. } => {
                    if let Some(k) = key {
                        w.expr(k);
                    }
                }
                RuleHead::Func { assign, .. } => {
                    if let Some(a) = assign {
                        w.expr(&a.value);
                    }
                }
            }
            for b in bodies {
                if let Some(a) = &b.assign {
                    w.expr(&a.value);
                }
                w.query(&b.query);
            }
        }
        Rule::Default { value, .. } => w.expr(value),
    }
    w.out
}

struct Walker {
    pkg: String,
    aliases: HashMap<String, String>,
    locals: BTreeSet<String>,
    out: Vec<(String, bool)>,
}

impl Walker {
    /// Variables a term binds (`x`, `[x, _]`, `{"k": x}`).
    fn bind(&mut self, e: &Expr) {
        match e {
            Expr::Var { span, .. } => {
                self.locals.insert(span.text().to_owned());
            }
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                items.iter().for_each(|i| self.bind(i));
            }
            Expr::Object { fields, .. } => fields.iter().for_each(|(_, _, v)| self.bind(v)),
            _ => {}
        }
    }

    fn collect_locals(&mut self, q: &Query) {
        for s in &q.stmts {
            match &s.literal {
                Literal::SomeVars { vars, .. } => {
                    for v in vars {
                        self.locals.insert(v.text().to_owned());
                    }
                }
                Literal::SomeIn { key, value, .. } => {
                    if let Some(k) = key {
                        self.bind(k);
                    }
                    self.bind(value);
                }
                Literal::Every {
                    key, value, query, ..
                } => {
                    if let Some(k) = key {
                        self.locals.insert(k.text().to_owned());
                    }
                    self.locals.insert(value.text().to_owned());
                    self.collect_locals(query);
                }
                Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => {
                    self.collect_expr_locals(expr);
                }
            }
        }
    }

    fn collect_expr_locals(&mut self, e: &Expr) {
        match e {
            Expr::AssignExpr {
                op: AssignOp::ColEq,
                lhs,
                ..
            } => self.bind(lhs),
            Expr::ArrayCompr { query, .. }
            | Expr::SetCompr { query, .. }
            | Expr::ObjectCompr { query, .. } => self.collect_locals(query),
            _ => {}
        }
    }

    fn query(&mut self, q: &Query) {
        for s in &q.stmts {
            for w in &s.with_mods {
                self.expr(&w.r#as);
            }
            match &s.literal {
                Literal::SomeVars { .. } => {}
                Literal::SomeIn {
                    key,
                    value,
                    collection,
                    ..
                } => {
                    if let Some(k) = key {
                        self.expr(k);
                    }
                    self.expr(value);
                    self.expr(collection);
                }
                Literal::Every { domain, query, .. } => {
                    self.expr(domain);
                    self.query(query);
                }
                Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => self.expr(expr),
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Var { .. } | Expr::RefDot { .. } | Expr::RefBrack { .. } => {
                self.reference(e, false);
            }
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                items.iter().for_each(|i| self.expr(i));
            }
            Expr::Object { fields, .. } => fields.iter().for_each(|(_, k, v)| {
                self.expr(k);
                self.expr(v);
            }),
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
                self.reference(fcn, true);
                params.iter().for_each(|p| self.expr(p));
            }
            Expr::UnaryExpr { expr, .. } => self.expr(expr),
            Expr::BinExpr { lhs, rhs, .. }
            | Expr::BoolExpr { lhs, rhs, .. }
            | Expr::ArithExpr { lhs, rhs, .. }
            | Expr::AssignExpr { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            Expr::Membership {
                key,
                value,
                collection,
                ..
            } => {
                if let Some(k) = key {
                    self.expr(k);
                }
                self.expr(value);
                self.expr(collection);
            }
            _ => {}
        }
    }

    /// A reference (`call`: a function's name): its `data` path when it has one; computed
    /// indices are walked too.
    fn reference(&mut self, e: &Expr, call: bool) {
        // Indices inside the reference may themselves refer to rules.
        let mut at = e;
        loop {
            match at {
                Expr::RefDot { refr, .. } => at = refr,
                Expr::RefBrack { refr, index, .. } => {
                    self.expr(index);
                    at = refr;
                }
                _ => break,
            }
        }
        let Some(path) = static_path(e) else {
            // Rooted at a call or a literal: walk it.
            if !matches!(at, Expr::Var { .. }) {
                self.expr(at);
            }
            return;
        };
        let Some(root) = path.first() else {
            return;
        };
        let rest = path.get(1..).unwrap_or_default().join(".");
        let join = |base: &str| {
            if rest.is_empty() {
                base.to_owned()
            } else {
                format!("{base}.{rest}")
            }
        };
        let full = match root.as_str() {
            "data" => join("data"),
            "input" | "_" => return,
            r if self.locals.contains(r) => return,
            r => match self.aliases.get(r) {
                Some(target) => join(target),
                None => join(&format!("data.{}.{r}", self.pkg)),
            },
        };
        self.out.push((full, call));
    }
}
