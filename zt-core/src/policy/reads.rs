//! Which parts of `input` a bundle's policies refer to (for replay's masked-field report).
//!
//! A lexical scan of each module (test files, `*_test.rego`, and `with input as …` are left
//! out): every `input` reference is cut at its first dynamic part, so `input.subject.claims[k]`
//! reads `/subject/claims` and everything under it, and a bare `input` (or `x := input`) reads
//! the whole document. The answer errs towards "reads": a policy that copies `input.subject`
//! into a variable and later reads `.claims.email` from it counts as reading
//! `/subject/claims/email`.

/// The static paths of every `input` reference in the modules.
pub(crate) fn input_refs(modules: &[(String, String)]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for (file, source) in modules {
        if file.ends_with("_test.rego") {
            continue;
        }
        for r in scan(source) {
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}

/// How many definitions each rule has (test files left out), most first: a lexical count of
/// lines that start, unindented, with a rule name (`allow if …`, `allow contains …`, …).
pub(crate) fn rule_definitions(modules: &[(String, String)]) -> Vec<(String, usize)> {
    const NOT_RULES: [&str; 4] = ["package", "import", "default", "else"];
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (file, source) in modules {
        if file.ends_with("_test.rego") {
            continue;
        }
        for line in source.lines() {
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                .collect();
            let starts_rule = line
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if starts_rule && !NOT_RULES.contains(&name.as_str()) && !name.starts_with("test_") {
                *counts.entry(name).or_default() += 1;
            }
        }
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Whether a reference path overlaps the JSON pointer `pointer` (`/subject/claims/email`).
pub(crate) fn reads_pointer(refs: &[Vec<String>], pointer: &str) -> bool {
    let segs: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    refs.iter().any(|r| {
        let n = r.len().min(segs.len());
        r.get(..n) == segs.get(..n)
    })
}

fn scan(src: &str) -> Vec<Vec<String>> {
    let b = src.as_bytes();
    let mut refs = Vec::new();
    let mut i = 0;
    let mut last_ident: &str = "";
    let mut prev_byte = b' ';
    while let Some(&c) = b.get(i) {
        match c {
            b'#' => {
                while b.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
            }
            b'"' => {
                i = skip_string(b, i);
                prev_byte = b'"';
                last_ident = "";
                continue;
            }
            b'`' => {
                i += 1;
                while b.get(i).is_some_and(|&c| c != b'`') {
                    i += 1;
                }
                i += 1;
                prev_byte = b'`';
                last_ident = "";
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while b
                    .get(i)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    i += 1;
                }
                let word = src.get(start..i).unwrap_or("");
                if word == "input" && prev_byte != b'.' && last_ident != "with" {
                    let (path, end) = path_after(src, i);
                    refs.push(path);
                    i = end;
                }
                last_ident = word;
                prev_byte = b'a';
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            c => {
                prev_byte = c;
                last_ident = "";
            }
        }
        i += 1;
    }
    refs
}

/// Index just past the string literal starting at `i` (a `"`).
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The static segments after `input` (ending at `i`), and where the reference ends.
fn path_after(src: &str, mut i: usize) -> (Vec<String>, usize) {
    let b = src.as_bytes();
    let mut path = Vec::new();
    loop {
        match b.get(i) {
            Some(b'.') => {
                let start = i + 1;
                let mut j = start;
                while b
                    .get(j)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    j += 1;
                }
                if j == start {
                    return (path, i);
                }
                path.push(src.get(start..j).unwrap_or("").to_owned());
                i = j;
            }
            Some(b'[') if b.get(i + 1) == Some(&b'"') => {
                let end = skip_string(b, i + 1);
                let lit = src.get(i + 1..end).unwrap_or("\"\"");
                match (serde_json::from_str::<String>(lit), b.get(end)) {
                    (Ok(seg), Some(b']')) => {
                        path.push(seg);
                        i = end + 1;
                    }
                    _ => return (path, end),
                }
            }
            _ => return (path, i),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(src: &str) -> Vec<Vec<String>> {
        input_refs(&[("p.rego".to_owned(), src.to_owned())])
    }

    #[test]
    fn scan_table() {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let cases: [(&str, &str, Vec<Vec<String>>); 7] = [
            (
                "dotted",
                "allow if input.subject.id == \"a\"",
                vec![s(&["subject", "id"])],
            ),
            (
                "bracket string",
                "x := input[\"subject\"][\"claims\"].email",
                vec![s(&["subject", "claims", "email"])],
            ),
            (
                "dynamic index",
                "x := input.subject.claims[k]",
                vec![s(&["subject", "claims"])],
            ),
            ("bare", "x := input", vec![s(&[])]),
            ("comment and string", "# input.a\ny := \"input.b\"", vec![]),
            ("field named input", "y := data.input.a", vec![]),
            ("with modifier", "test_x if allow with input as {}", vec![]),
        ];
        for (name, src, want) in cases {
            assert_eq!(refs(src), want, "{name}");
        }
    }

    #[test]
    fn pointer_overlap() {
        let r = refs("a if input.subject.claims[k]\nb if input.request.path");
        assert!(reads_pointer(&r, "/subject/claims/email"));
        assert!(!reads_pointer(&r, "/subject/id"));
        assert!(reads_pointer(&r, "/request"));
        let tests = input_refs(&[("p_test.rego".to_owned(), "x := input".to_owned())]);
        assert!(tests.is_empty());
    }
}
