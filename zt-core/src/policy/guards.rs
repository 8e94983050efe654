//! Work-arounds for regorus 0.14.1, in one place: checks that run on a bundle's sources before
//! regorus parses them, each refusing input that would make regorus hang or abort.

use super::bundle::Bundle;
use crate::error::PolicyError;

/// Deepest `[`/`{` nesting accepted in a Rego module.
const MAX_REGO_NESTING: usize = 16;

/// Refuse deeply nested brackets before regorus parses them.
///
/// Workaround for regorus 0.14.1: its parser backtracks between comprehensions and literals at
/// every `[` and `{`, so parse time doubles per nesting level (measured: 20 levels ≈ 0.6 s,
/// 32 levels ≈ hours) — a pushed bundle, or a fuzzer, could hang policy loading. Real
/// policies nest a few levels; 16 parses in ~35 ms. Brackets inside strings and comments do
/// not count.
pub(super) fn check_nesting(b: &Bundle) -> Result<(), PolicyError> {
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
pub(super) fn check_function_recursion(b: &Bundle) -> Result<(), PolicyError> {
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
