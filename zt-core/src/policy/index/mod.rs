//! Rule indexing: evaluate only the definitions that can match the request.
//!
//! regorus evaluates every definition of a rule in turn, so a route table written as one
//! `allow` per route costs time in proportion to its length. At load, zt reads the rules the
//! entrypoint can reach ([`analyze`]), finds the definitions whose bodies constrain `input`
//! with literals (equality, array patterns over `input.request.segments`, `glob.match` with a
//! literal prefix, `"lit" in input.x`), and builds a trie over those references ([`trie`]).
//! Each leaf of the trie is the set of definitions an input reaching it can satisfy; leaves are
//! packed, a few definitions at a time, into RVM programs compiled from the bundle's text with
//! every other indexed definition left out. A decision looks the input up in the trie (a few
//! hash lookups) and runs that program on the thread's VM, which keeps its data.
//!
//! Left out means *provably cannot succeed*: every index condition is necessary for its body,
//! so a definition whose condition the input fails would fail too. Definitions the analysis
//! does not understand (`else` chains, functions, several bodies, no index condition) stay in
//! every program, and a bundle that binds a local named `input` is not indexed at all.
//!
//! Why programs and not an index in data: the policy author writes the route table the way
//! OPA's documentation does, and zt keeps the bundle's text as the one source of truth;
//! a program per leaf needs no rewrite of the policy and no change to regorus. The
//! price is memory (a few kilobytes per program) and load time (a compile per program),
//! both measured in benches/README.md.

mod analyze;
mod trie;

pub(crate) use analyze::rule_end;

use crate::error::PolicyError;
use analyze::Analysis;
use regorus::rvm::program::Program;
use std::sync::Arc;
use trie::Trie;

/// A rule is indexed when it has at least this many definitions with index conditions.
const MIN_INDEXED_DEFINITIONS: usize = 4;
/// The weight of the indexed definitions packed into one program at most (unless one leaf
/// weighs more): four plain definitions, two with a call (`glob.match`).
const PACK: usize = 4;
/// Bound on the trie's construction work (total size of the definition sets it builds).
const BUILD_BUDGET: usize = 50_000_000;

/// How a bundle's entrypoint is indexed ([`crate::CompiledBundle::index`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PolicyIndex {
    /// Whether decisions go through the index.
    pub indexed: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The references the index looks at, in the order it looks (`input.request.path`,
    /// `count(input.request.segments)`, `"admin" in input.subject.groups`).
    pub refs: Vec<String>,
    /// The indexed rules.
    pub rules: Vec<IndexedRule>,
    /// Programs compiled (one per group of leaves; the unindexed bundle is one).
    pub programs: usize,
    /// Nodes in the trie.
    pub nodes: usize,
    /// Milliseconds spent building the index and compiling its programs.
    pub build_ms: u64,
    /// Approximate heap bytes held by the programs.
    pub program_bytes: u64,
}

/// An indexed rule ([`PolicyIndex::rules`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct IndexedRule {
    /// The rule's path (`data.zt.authz.allow`).
    pub path: String,
    /// Its definitions.
    pub definitions: usize,
    /// Of which the index can leave out.
    pub indexed: usize,
}

impl PolicyIndex {
    pub(crate) fn off(reason: impl Into<String>) -> Self {
        Self {
            indexed: false,
            reason: Some(reason.into()),
            refs: Vec::new(),
            rules: Vec::new(),
            programs: 1,
            nodes: 0,
            build_ms: 0,
            program_bytes: 0,
        }
    }
}

/// The index of a compiled bundle: the trie and a program per group of leaves.
pub(crate) struct RuleIndex {
    trie: Trie,
    /// Program per leaf.
    leaf_program: Vec<u32>,
    programs: Vec<Arc<Program>>,
    /// Definitions of the indexed rules each program holds (with placeholders), sorted.
    groups: Vec<Vec<u32>>,
    /// Where each indexed definition is: module, start, end.
    defs_at: Vec<(usize, usize, usize)>,
    /// Definitions of the indexed rules.
    total_defs: usize,
    pub(crate) info: PolicyIndex,
}

impl std::fmt::Debug for RuleIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleIndex")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Compiles one program from module texts (the bundle's own files, some definitions left out).
pub(crate) type CompileFn<'a> =
    dyn FnMut(&[(String, String)]) -> Result<Arc<Program>, PolicyError> + 'a;

impl RuleIndex {
    /// Build the index of `compiled` (from `modules`), compiling its programs with `compile`.
    /// `Ok(Err(reason))` when there is nothing to index or the index would be too large; the
    /// caller then compiles the whole bundle as one program.
    pub(crate) fn build(
        compiled: &regorus::CompiledPolicy,
        modules: &[(String, String)],
        compile: &mut CompileFn<'_>,
    ) -> Result<Result<Self, String>, PolicyError> {
        let started = std::time::Instant::now();
        let analysis = match analyze::analyze(compiled, modules) {
            Ok(a) => a,
            Err(why) => return Ok(Err(why)),
        };
        let analysis = keep_large_rules(analysis);
        if analysis.rules.is_empty() {
            return Ok(Err(format!(
                "no rule has {MIN_INDEXED_DEFINITIONS} or more definitions with index conditions"
            )));
        }
        let trie = match Trie::build(&analysis.defs, BUILD_BUDGET) {
            Ok(t) => t,
            Err(why) => return Ok(Err(why)),
        };
        let weights: Vec<usize> = analysis.defs.iter().map(|d| d.weight).collect();
        let (leaf_program, groups) = pack(&trie.leaves, &weights);
        let remainders = remainders(modules, &analysis);
        let defs_at: Vec<(usize, usize, usize)> = analysis
            .defs
            .iter()
            .map(|d| (d.module, d.start, d.end))
            .collect();
        let groups: Vec<Vec<u32>> = groups
            .iter()
            .map(|g| with_placeholders(&analysis, g))
            .collect();
        let mut programs = Vec::with_capacity(groups.len());
        for set in &groups {
            match compile(&sources(modules, &remainders, &defs_at, set)) {
                Ok(p) => programs.push(p),
                // The whole bundle compiled; should a part not, evaluate the whole.
                Err(e) => return Ok(Err(format!("an index program does not compile: {e}"))),
            }
        }
        let total_defs = analysis.defs.len();
        let info = PolicyIndex {
            indexed: true,
            reason: None,
            refs: trie
                .dims
                .iter()
                .map(|d| analyze::describe(&d.key))
                .collect(),
            rules: analysis
                .rules
                .iter()
                .map(|r| IndexedRule {
                    path: r.path.clone(),
                    definitions: r.definitions,
                    indexed: r.defs.len(),
                })
                .collect(),
            programs: programs.len(),
            nodes: trie.nodes(),
            build_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            program_bytes: programs.iter().map(|p| program_bytes(p)).sum(),
        };
        Ok(Ok(Self {
            trie,
            leaf_program,
            programs,
            groups,
            defs_at,
            total_defs,
            info,
        }))
    }

    /// The program for `input` (`None` cannot happen: every leaf has a program).
    pub(crate) fn program(&self, input: &regorus::Value) -> Option<&Arc<Program>> {
        self.programs.get(self.program_index(input))
    }

    fn program_index(&self, input: &regorus::Value) -> usize {
        let leaf = self.trie.leaf(input);
        self.leaf_program
            .get(leaf as usize)
            .map_or(usize::MAX, |p| *p as usize)
    }

    /// Every program (for the warm-up check at load).
    pub(crate) fn programs(&self) -> &[Arc<Program>] {
        &self.programs
    }

    /// Definitions of the indexed rules `input` evaluates, and how many there are.
    pub(crate) fn evaluated(&self, input: &regorus::Value) -> (usize, usize) {
        let n = self
            .groups
            .get(self.program_index(input))
            .map_or(self.total_defs, Vec::len);
        (n, self.total_defs)
    }

    /// The indexed definitions (ids) the program for `input` holds.
    pub(crate) fn definitions_for(&self, input: &regorus::Value) -> &[u32] {
        self.groups
            .get(self.program_index(input))
            .map_or(&[][..], Vec::as_slice)
    }

    /// Module texts holding the indexed definitions `set` and no other, as the programs are
    /// built, with the byte ranges `cuts` (module, start, end) also cut from their modules.
    pub(crate) fn sources_for(
        &self,
        modules: &[(String, String)],
        set: &[u32],
        cuts: &[(usize, usize, usize)],
    ) -> Vec<(String, String)> {
        modules
            .iter()
            .enumerate()
            .map(|(i, (name, text))| {
                let mut ranges: Vec<(usize, usize)> = self
                    .defs_at
                    .iter()
                    .enumerate()
                    .filter(|(d, (m, _, _))| {
                        *m == i && u32::try_from(*d).is_ok_and(|d| set.binary_search(&d).is_err())
                    })
                    .map(|(_, (_, a, b))| (*a, *b))
                    .chain(
                        cuts.iter()
                            .filter(|(m, _, _)| *m == i)
                            .map(|(_, a, b)| (*a, *b)),
                    )
                    .collect();
                (name.clone(), cut(text, &mut ranges))
            })
            .collect()
    }
}

/// Only rules with enough indexable definitions; definitions of the others are renumbered away.
fn keep_large_rules(a: Analysis) -> Analysis {
    let kept: std::collections::HashSet<u32> = a
        .rules
        .iter()
        .filter(|r| r.defs.len() >= MIN_INDEXED_DEFINITIONS)
        .flat_map(|r| r.defs.iter().copied())
        .collect();
    let mut renumber: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    let mut defs = Vec::new();
    for (i, d) in (0u32..).zip(a.defs) {
        if kept.contains(&i) {
            renumber.insert(i, u32::try_from(defs.len()).unwrap_or(u32::MAX));
            defs.push(d);
        }
    }
    let rules = a
        .rules
        .into_iter()
        .filter(|r| r.defs.len() >= MIN_INDEXED_DEFINITIONS)
        .map(|mut r| {
            r.defs = r
                .defs
                .iter()
                .filter_map(|d| renumber.get(d).copied())
                .collect();
            r
        })
        .collect();
    Analysis { defs, rules }
}

/// Group leaves into programs: leaf sets packed in order, up to [`PACK`] weight per program;
/// empty leaves share program 0 (the base: only the placeholders). Returns the program of
/// each leaf and each program's definitions.
fn pack(leaves: &[Vec<u32>], weights: &[usize]) -> (Vec<u32>, Vec<Vec<u32>>) {
    let weight = |set: &[u32]| -> usize {
        set.iter()
            .map(|d| weights.get(*d as usize).copied().unwrap_or(PACK))
            .sum()
    };
    let mut groups: Vec<Vec<u32>> = vec![Vec::new()];
    let mut order: Vec<(usize, &Vec<u32>)> = leaves.iter().enumerate().collect();
    order.sort_by(|a, b| a.1.cmp(b.1));
    let mut leaf_program = vec![0u32; leaves.len()];
    // The group still taking leaves (its index into `groups`).
    let mut open: Option<usize> = None;
    for (i, set) in order {
        if set.is_empty() {
            continue;
        }
        let merged = open.and_then(|g| {
            let mut u = groups.get(g)?.clone();
            u.extend(set);
            u.sort_unstable();
            u.dedup();
            (weight(&u) <= PACK).then_some((g, u))
        });
        let g = match merged {
            Some((g, u)) => {
                if let Some(slot) = groups.get_mut(g) {
                    *slot = u;
                }
                g
            }
            None => {
                groups.push(set.clone());
                groups.len() - 1
            }
        };
        if weight(set) < PACK {
            open = Some(g);
        }
        if let Some(slot) = leaf_program.get_mut(i) {
            *slot = u32::try_from(g).unwrap_or(0);
        }
    }
    (leaf_program, groups)
}

/// A group's definitions, plus the first definition of every indexed rule that would otherwise
/// have none left in the program (a rule must keep a definition to keep its path; one that
/// cannot succeed costs one evaluation).
fn with_placeholders(a: &Analysis, group: &[u32]) -> Vec<u32> {
    let mut set = group.to_vec();
    for r in &a.rules {
        let others_remain = r.definitions > r.defs.len();
        if !others_remain
            && !r.defs.iter().any(|d| set.contains(d))
            && let Some(first) = r.defs.first()
        {
            set.push(*first);
        }
    }
    set.sort_unstable();
    set
}

/// Each module's text with every indexed definition cut out.
fn remainders(modules: &[(String, String)], a: &Analysis) -> Vec<String> {
    modules
        .iter()
        .enumerate()
        .map(|(i, (_, text))| {
            let mut ranges: Vec<(usize, usize)> = a
                .defs
                .iter()
                .filter(|d| d.module == i)
                .map(|d| (d.start, d.end))
                .collect();
            cut(text, &mut ranges)
        })
        .collect()
}

/// `text` without the byte ranges (each a whole rule at top level), and without the blank and
/// comment lines after each, so that thousands of cut routes leave no text behind.
fn cut(text: &str, ranges: &mut [(usize, usize)]) -> String {
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0usize;
    for &mut (start, end) in ranges {
        if start < pos {
            continue;
        }
        out.push_str(text.get(pos..start).unwrap_or_default());
        pos = skip_blank_and_comments(text, end);
    }
    out.push_str(text.get(pos..).unwrap_or_default());
    out
}

/// From `at` (top level, after a rule), past whitespace and whole comment lines.
fn skip_blank_and_comments(text: &str, mut at: usize) -> usize {
    let bytes = text.as_bytes();
    loop {
        while bytes.get(at).is_some_and(|b| b.is_ascii_whitespace()) {
            at += 1;
        }
        if bytes.get(at) == Some(&b'#') {
            while bytes.get(at).is_some_and(|b| *b != b'\n') {
                at += 1;
            }
        } else {
            return at;
        }
    }
}

/// The module texts of one program: the remainders plus the program's definitions.
fn sources(
    modules: &[(String, String)],
    remainders: &[String],
    defs_at: &[(usize, usize, usize)],
    set: &[u32],
) -> Vec<(String, String)> {
    let mut texts: Vec<String> = remainders.to_vec();
    for d in set {
        let Some(&(module, start, end)) = defs_at.get(*d as usize) else {
            continue;
        };
        if let (Some(t), Some((_, src))) = (texts.get_mut(module), modules.get(module)) {
            t.push('\n');
            t.push_str(src.get(start..end).unwrap_or_default());
            t.push('\n');
        }
    }
    modules
        .iter()
        .zip(texts)
        .map(|((name, _), text)| (name.clone(), text))
        .collect()
}

/// Heap bytes a program holds, approximately (its tables, not the values they point to).
fn program_bytes(p: &Program) -> u64 {
    use std::mem::size_of_val;
    let spans =
        p.instruction_spans.len() * std::mem::size_of::<Option<regorus::rvm::program::SpanInfo>>();
    let bytes = size_of_val(p.instructions.as_slice())
        + size_of_val(p.literals.as_slice())
        + spans
        + p.sources
            .iter()
            .map(|s| s.content.len() + s.name.len())
            .sum::<usize>()
        + p.rule_infos.len() * std::mem::size_of::<regorus::rvm::program::RuleInfo>()
        + size_of_val(p.resolved_builtins.as_slice());
    bytes as u64
}
