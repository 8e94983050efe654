//! The index proper: dimensions that sort an input value into a class, and a trie over them
//! whose leaves are the sets of definitions a request can satisfy.
//!
//! Each dimension maps the value it looks at to a small class number, so that all values of
//! one class satisfy the same conditions. A trie node splits its definition set on one
//! dimension: a child per class that satisfies some member's condition, holding those members
//! and every member without a condition on that dimension; the default child holds only the
//! latter. Definitions in a leaf are the only ones of the indexed rules that can succeed for an
//! input that reaches it.

use super::analyze::{Cond, Def, DimKey, Seg};
use regorus::Value;
use std::collections::{BTreeMap, HashMap};

/// How many dimensions one index may use.
const MAX_DIMS: usize = 8;

/// A dimension and its classes. Class 0 is "satisfies no condition".
#[derive(Debug)]
pub(crate) struct Dim {
    pub(crate) key: DimKey,
    classes: Classes,
}

#[derive(Debug)]
enum Classes {
    /// Strings (exactly, or by their longest indexed prefix) and booleans.
    Value {
        strs: HashMap<Box<str>, u32>,
        prefixes: HashMap<Box<str>, u32>,
        /// Prefix lengths in bytes, longest first.
        prefix_lens: Vec<usize>,
        /// The classes of `false` and `true` (0 when no condition names them).
        bools: (u32, u32),
    },
    /// Array lengths.
    Len(HashMap<usize, u32>),
    /// 1: the collection holds the literal (or the value is not a collection, which the index
    /// does not judge); 0: it does not, or there is no value.
    Member(Value),
}

impl Dim {
    /// The class of `input`'s value for this dimension.
    pub(crate) fn classify(&self, input: &Value) -> u32 {
        let v = resolve(input, self.path());
        match &self.classes {
            Classes::Value {
                strs,
                prefixes,
                prefix_lens,
                bools,
            } => match v {
                Some(Value::String(s)) => {
                    if let Some(c) = strs.get(&**s) {
                        return *c;
                    }
                    for &n in prefix_lens {
                        if let Some(p) = s.get(..n)
                            && let Some(c) = prefixes.get(p)
                        {
                            return *c;
                        }
                    }
                    0
                }
                Some(Value::Bool(b)) => {
                    if *b {
                        bools.1
                    } else {
                        bools.0
                    }
                }
                _ => 0,
            },
            Classes::Len(lens) => match v {
                Some(Value::Array(a)) => lens.get(&a.len()).copied().unwrap_or(0),
                _ => 0,
            },
            Classes::Member(lit) => match v {
                Some(Value::Array(a)) => u32::from(a.contains(lit)),
                Some(Value::Set(s)) => u32::from(s.contains(lit)),
                Some(Value::Object(o)) => u32::from(o.values().any(|x| x == lit)),
                None | Some(Value::Undefined) => 0,
                Some(_) => 1,
            },
        }
    }

    fn path(&self) -> &[Seg] {
        match &self.key {
            DimKey::Value(p) | DimKey::Len(p) | DimKey::Member(p, _) => p,
        }
    }
}

/// The value at `path` under `input`, as regorus would read `input.a[0]`.
fn resolve<'a>(input: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let mut v = input;
    for seg in path {
        v = match (seg, v) {
            (Seg::Key(k), Value::Object(o)) => o.get(&Value::String(k.as_str().into()))?,
            // A set indexed by a member yields the member.
            (Seg::Key(k), Value::Set(s)) => s.get(&Value::String(k.as_str().into()))?,
            (Seg::Index(i), Value::Array(a)) => a.get(*i)?,
            (Seg::Index(i), Value::Object(o)) => o.get(&Value::from(*i as u64))?,
            _ => return None,
        };
    }
    Some(v)
}

/// Where a step of the trie leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Node(u32),
    Leaf(u32),
}

#[derive(Debug)]
pub(crate) struct Node {
    dim: u32,
    children: HashMap<u32, Next>,
    default: Next,
}

/// The built trie: dimensions, nodes, and the leaf sets (definition ids, sorted).
#[derive(Debug)]
pub(crate) struct Trie {
    pub(crate) dims: Vec<Dim>,
    nodes: Vec<Node>,
    root: Next,
    pub(crate) leaves: Vec<Vec<u32>>,
}

impl Trie {
    /// The leaf `input` reaches.
    pub(crate) fn leaf(&self, input: &Value) -> u32 {
        let mut at = self.root;
        loop {
            match at {
                Next::Leaf(l) => return l,
                Next::Node(n) => {
                    let Some(node) = self.nodes.get(n as usize) else {
                        // Unreachable by construction; the caller falls back to every definition.
                        return u32::MAX;
                    };
                    let class = self
                        .dims
                        .get(node.dim as usize)
                        .map_or(0, |d| d.classify(input));
                    at = node.children.get(&class).copied().unwrap_or(node.default);
                }
            }
        }
    }

    /// Build the trie over `defs`, or say why not (too large). `budget` bounds the work: the
    /// total size of the sets built.
    pub(crate) fn build(defs: &[Def], budget: usize) -> Result<Self, String> {
        let (dims, conds) = choose_dims(defs);
        let mut b = Builder {
            dims: &dims,
            conds: &conds,
            accepting: dims.iter().map(accepting_table).collect(),
            nodes: Vec::new(),
            leaves: Vec::new(),
            leaf_ids: HashMap::new(),
            memo: HashMap::new(),
            budget,
        };
        let all: Vec<u32> =
            (0..u32::try_from(defs.len()).map_err(|_| "too many definitions")?).collect();
        let root = b.build(all, 0)?;
        let (nodes, leaves) = (b.nodes, b.leaves);
        Ok(Self {
            dims,
            nodes,
            root,
            leaves,
        })
    }

    /// Nodes in the trie.
    pub(crate) fn nodes(&self) -> usize {
        self.nodes.len()
    }
}

/// The dimensions worth indexing on (most distinct literals first), with each definition's
/// conditions as `(dimension number, condition)`.
fn choose_dims(defs: &[Def]) -> (Vec<Dim>, Vec<Vec<(u32, Cond)>>) {
    let mut stats: BTreeMap<&DimKey, (usize, std::collections::BTreeSet<&Cond>)> = BTreeMap::new();
    for d in defs {
        for (k, c) in &d.conds {
            let e = stats.entry(k).or_default();
            e.0 += 1;
            e.1.insert(c);
        }
    }
    let mut order: Vec<(&DimKey, usize, usize)> = stats
        .iter()
        .map(|(k, (n, distinct))| (*k, distinct.len(), *n))
        .collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(b.0)));
    order.truncate(MAX_DIMS);
    let keys: Vec<DimKey> = order.into_iter().map(|(k, _, _)| k.clone()).collect();
    let conds: Vec<Vec<(u32, Cond)>> = defs
        .iter()
        .map(|d| {
            let mut v: Vec<(u32, Cond)> = d
                .conds
                .iter()
                .filter_map(|(k, c)| {
                    let i = keys.iter().position(|x| x == k)?;
                    Some((u32::try_from(i).ok()?, c.clone()))
                })
                .collect();
            v.sort();
            v
        })
        .collect();
    let dims = keys
        .into_iter()
        .map(|key| {
            let classes = classes_for(&key, defs);
            Dim { key, classes }
        })
        .collect();
    (dims, conds)
}

fn classes_for(key: &DimKey, defs: &[Def]) -> Classes {
    let conds = defs
        .iter()
        .flat_map(|d| d.conds.iter())
        .filter(|(k, _)| k == key)
        .map(|(_, c)| c);
    let mut next = 1u32;
    let mut id = || {
        let c = next;
        next += 1;
        c
    };
    match key {
        DimKey::Member(_, lit) => Classes::Member(Value::String(lit.as_str().into())),
        DimKey::Len(_) => {
            let mut lens = HashMap::new();
            for c in conds {
                if let Cond::Len(n) = c {
                    lens.entry(*n).or_insert_with(&mut id);
                }
            }
            Classes::Len(lens)
        }
        DimKey::Value(_) => {
            let mut strs: HashMap<Box<str>, u32> = HashMap::new();
            let mut prefixes: HashMap<Box<str>, u32> = HashMap::new();
            let mut bools = (0, 0);
            for c in conds {
                match c {
                    Cond::Str(s) => {
                        strs.entry(s.as_str().into()).or_insert_with(&mut id);
                    }
                    Cond::Prefix(p) => {
                        prefixes.entry(p.as_str().into()).or_insert_with(&mut id);
                    }
                    Cond::Bool(b) => {
                        let slot = if *b { &mut bools.1 } else { &mut bools.0 };
                        if *slot == 0 {
                            *slot = id();
                        }
                    }
                    Cond::Len(_) | Cond::Member => {}
                }
            }
            let mut prefix_lens: Vec<usize> = prefixes.keys().map(|p| p.len()).collect();
            prefix_lens.sort_unstable_by(|a, b| b.cmp(a));
            prefix_lens.dedup();
            Classes::Value {
                strs,
                prefixes,
                prefix_lens,
                bools,
            }
        }
    }
}

/// For each condition of a dimension, the classes whose values satisfy it.
fn accepting_table(dim: &Dim) -> HashMap<Cond, Vec<u32>> {
    let mut t: HashMap<Cond, Vec<u32>> = HashMap::new();
    match &dim.classes {
        Classes::Member(_) => {
            t.insert(Cond::Member, vec![1]);
        }
        Classes::Len(lens) => {
            for (n, c) in lens {
                t.insert(Cond::Len(*n), vec![*c]);
            }
        }
        Classes::Value {
            strs,
            prefixes,
            bools,
            ..
        } => {
            for (s, c) in strs {
                t.insert(Cond::Str(s.to_string()), vec![*c]);
            }
            for (b, c) in [(false, bools.0), (true, bools.1)] {
                if c != 0 {
                    t.insert(Cond::Bool(b), vec![c]);
                }
            }
            // A string class (exact, or "longest indexed prefix is q") satisfies prefix p when
            // its string starts with p. Sorted, the strings starting with p are one run.
            let mut keys: Vec<(&str, u32)> = strs
                .iter()
                .chain(prefixes.iter())
                .map(|(k, c)| (&**k, *c))
                .collect();
            keys.sort_unstable();
            for p in prefixes.keys() {
                let from = keys.partition_point(|(k, _)| *k < &**p);
                let run: Vec<u32> = keys
                    .get(from..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|(k, _)| k.starts_with(&**p))
                    .map(|(_, c)| *c)
                    .collect();
                t.insert(Cond::Prefix(p.to_string()), run);
            }
        }
    }
    t
}

struct Builder<'a> {
    dims: &'a [Dim],
    conds: &'a [Vec<(u32, Cond)>],
    accepting: Vec<HashMap<Cond, Vec<u32>>>,
    nodes: Vec<Node>,
    leaves: Vec<Vec<u32>>,
    leaf_ids: HashMap<Vec<u32>, u32>,
    memo: HashMap<(Vec<u32>, usize), Next>,
    budget: usize,
}

impl Builder<'_> {
    fn build(&mut self, set: Vec<u32>, from: usize) -> Result<Next, String> {
        let key = (set, from);
        if let Some(n) = self.memo.get(&key) {
            return Ok(*n);
        }
        let (set, from) = key;
        let dim = (from..self.dims.len())
            .find(|d| set.len() > 1 && set.iter().any(|m| self.cond(*m, *d).is_some()));
        let next = match dim {
            None => self.leaf(set.clone()),
            Some(d) => self.split(&set, d)?,
        };
        self.memo.insert((set, from), next);
        Ok(next)
    }

    fn cond(&self, m: u32, d: usize) -> Option<&Cond> {
        let conds = self.conds.get(m as usize)?;
        conds.iter().find(|(x, _)| *x as usize == d).map(|(_, c)| c)
    }

    fn split(&mut self, set: &[u32], d: usize) -> Result<Next, String> {
        let mut any = Vec::new();
        let mut by_class: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for &m in set {
            match self.cond(m, d) {
                None => any.push(m),
                Some(c) => {
                    let classes = self
                        .accepting
                        .get(d)
                        .and_then(|t| t.get(c))
                        .cloned()
                        .unwrap_or_default();
                    for class in classes {
                        by_class.entry(class).or_default().push(m);
                    }
                }
            }
        }
        let cost = by_class
            .values()
            .map(|v| v.len() + any.len())
            .sum::<usize>()
            + any.len();
        self.budget = self
            .budget
            .checked_sub(cost)
            .ok_or("the index would be too large")?;
        let default = self.build(any.clone(), d + 1)?;
        let mut children = HashMap::with_capacity(by_class.len());
        for (class, members) in by_class {
            let mut s = any.clone();
            s.extend(members);
            s.sort_unstable();
            s.dedup();
            let child = self.build(s, d + 1)?;
            if child != default {
                children.insert(class, child);
            }
        }
        if children.is_empty() {
            return Ok(default);
        }
        let id = u32::try_from(self.nodes.len()).map_err(|_| "too many index nodes")?;
        self.nodes.push(Node {
            dim: u32::try_from(d).map_err(|_| "too many dimensions")?,
            children,
            default,
        });
        Ok(Next::Node(id))
    }

    fn leaf(&mut self, set: Vec<u32>) -> Next {
        if let Some(id) = self.leaf_ids.get(&set) {
            return Next::Leaf(*id);
        }
        let id = u32::try_from(self.leaves.len()).unwrap_or(u32::MAX);
        self.leaves.push(set.clone());
        self.leaf_ids.insert(set, id);
        Next::Leaf(id)
    }
}
