//! Replay: which logged decisions a candidate policy would flip.
//!
//! Each decision-log record whose policy ran holds the (masked) input and the outcome zt
//! evaluated. [`replay`] evaluates the candidate bundle on every such input, interprets its
//! output exactly as the authorizer does (step-up from `input.subject.acr` / `auth_time` and
//! `input.context.now`), and compares the result with the recorded one: a *flip* is a record
//! whose evaluated outcome would change (`allow->deny`, `deny->allow`, `allow->step_up`, …).
//! Flips are grouped by path prefix, subject, the candidate's reason and method, with a few
//! decision ids per group.
//!
//! - Records whose policy did not run (rejected tokens, revocations) cannot flip: counted as
//!   `not_evaluated`. Rollout-gate events are counted as `events`.
//! - A line that is not a decision record (damaged, truncated, garbage) is reported by line
//!   number and skipped.
//! - Masked input fields (`decision_log.mask`) hold `"[masked]"`, not the real value: when the
//!   candidate's policies refer to a masked field, the record is counted in `masked_reads`
//!   with the field, since its replayed result may differ from what the real value gives.
//! - With `baseline` set (the config's `policy.bundle`), records logged under the baseline's
//!   revision are also re-evaluated against it: a mismatch with the recorded outcome means the
//!   log cannot reproduce that decision (a masked or time-dependent input), so its flips are
//!   suspect. Reported as `baseline.mismatches`.
//!
//! ```
//! use zt_core::{CompiledBundle, PolicyConfig, ReplayOptions};
//! let candidate = CompiledBundle::from_files(
//!     vec![("p.rego".into(), b"package zt.authz\ndecision := false".to_vec())],
//!     &PolicyConfig::default(),
//! )?;
//! let log = r#"{"decision_id":"d1","evaluated":"allow","input":{"request":{"method":"GET","path":"/a"}},"result":{"allow":true}}
//! not json
//! "#;
//! let report = zt_core::replay(log.as_bytes(), &candidate, &ReplayOptions::default());
//! assert_eq!(report.flips, 1);
//! assert_eq!(report.by_kind["allow->deny"], 1);
//! assert_eq!(report.damaged[0].line, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::decision::{Outcome, interpret};
use crate::input::{MASKED, PolicyInput};
use crate::policy::CompiledBundle;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;

/// What to compare against and how much to report.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReplayOptions<'a> {
    /// The JSON pointers masked in the log (`decision_log.mask`).
    pub mask: Vec<String>,
    /// The bundle the log was written under, to check that records reproduce.
    pub baseline: Option<&'a CompiledBundle>,
    /// Decision ids kept per group (default 3 when 0).
    pub examples: usize,
}

/// One group of flips (for example path prefix `/orders`, `allow->deny`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct FlipGroup {
    /// The group's key (a path prefix, subject, reason or method).
    pub key: String,
    /// The flip: `allow->deny`, `deny->allow`, `allow->step_up`, ...
    pub kind: String,
    /// Flipped records in the group.
    pub count: u64,
    /// A few of their decision ids.
    pub examples: Vec<String>,
}

/// A line that is not a usable decision record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DamagedLine {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub error: String,
}

/// The baseline check (see the [module docs](self)).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct BaselineCheck {
    /// The baseline's revision.
    pub revision: String,
    /// Records logged under that revision and re-evaluated.
    pub checked: u64,
    /// Of which the re-evaluated outcome differs from the recorded one.
    pub mismatches: u64,
    /// A few of their decision ids.
    pub examples: Vec<String>,
}

/// Masked fields the candidate refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct MaskedReads {
    /// Records holding at least one masked value the candidate refers to.
    pub records: u64,
    /// Per masked JSON pointer, the records affected.
    pub fields: BTreeMap<String, u64>,
}

/// The result of a replay.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ReplayReport {
    /// The candidate's revision.
    pub candidate_revision: String,
    /// Decision records read (events and damaged lines not included).
    pub records: u64,
    /// Records re-evaluated (the policy ran when they were decided).
    pub replayed: u64,
    /// Records decided before the policy (rejected token, revocation): they cannot flip.
    pub not_evaluated: u64,
    /// Rollout-gate event records (skipped).
    pub events: u64,
    /// Lines that are not decision records, reported and skipped (the first 100).
    pub damaged: Vec<DamagedLine>,
    /// All damaged lines.
    pub damaged_count: u64,
    /// Records whose evaluated outcome the candidate changes.
    pub flips: u64,
    /// Flips by kind (`allow->deny`, ...).
    pub by_kind: BTreeMap<String, u64>,
    /// Flips grouped by `path` (first segment), `subject`, `reason` (the candidate's) and
    /// `method`, largest groups first.
    pub groups: BTreeMap<&'static str, Vec<FlipGroup>>,
    /// Records per recorded policy revision.
    pub recorded_revisions: BTreeMap<String, u64>,
    /// Masked fields the candidate refers to.
    pub masked_reads: MaskedReads,
    /// The baseline check, when a baseline was given.
    pub baseline: Option<BaselineCheck>,
    /// Wall-clock time of the replay, in milliseconds.
    pub elapsed_ms: u64,
}

impl ReplayReport {
    /// Records replayed per second (0 when too fast to tell).
    pub fn records_per_second(&self) -> u64 {
        (self.records * 1000)
            .checked_div(self.elapsed_ms)
            .unwrap_or(0)
    }
}

const MAX_DAMAGED: usize = 100;
const DIMENSIONS: [&str; 4] = ["path", "subject", "reason", "method"];

/// Replay the decision log read from `log` against `candidate`. Never fails: unreadable or
/// damaged lines are reported in [`ReplayReport::damaged`].
pub fn replay(
    log: impl BufRead,
    candidate: &CompiledBundle,
    opts: &ReplayOptions<'_>,
) -> ReplayReport {
    let started = std::time::Instant::now();
    let examples = if opts.examples == 0 { 3 } else { opts.examples };
    // The masked pointers the candidate refers to, decided once.
    let read_masks: Vec<&str> = opts
        .mask
        .iter()
        .map(String::as_str)
        .filter(|p| candidate.reads_input(p))
        .collect();
    let mut r = ReplayReport {
        candidate_revision: candidate.revision().to_owned(),
        baseline: opts.baseline.map(|b| BaselineCheck {
            revision: b.revision().to_owned(),
            ..BaselineCheck::default()
        }),
        ..ReplayReport::default()
    };
    let mut groups: BTreeMap<(&'static str, String, String), (u64, Vec<String>)> = BTreeMap::new();
    let damaged = |r: &mut ReplayReport, line: usize, error: String| {
        r.damaged_count += 1;
        if r.damaged.len() < MAX_DAMAGED {
            r.damaged.push(DamagedLine { line, error });
        }
    };
    let mut buf = Vec::new();
    let mut reader = log;
    let mut line_no = 0usize;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                damaged(&mut r, line_no + 1, format!("cannot read: {}", e.kind()));
                break;
            }
        }
        line_no += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: Value = match serde_json::from_slice(&buf) {
            Ok(v) => v,
            Err(e) if e.is_eof() => {
                damaged(&mut r, line_no, "truncated JSON".to_owned());
                continue;
            }
            Err(e) => {
                damaged(&mut r, line_no, format!("not JSON: {e}"));
                continue;
            }
        };
        if record.get("event").is_some() {
            r.events += 1;
            continue;
        }
        let rec = match Record::read(&record) {
            Ok(rec) => rec,
            Err(e) => {
                damaged(&mut r, line_no, e);
                continue;
            }
        };
        r.records += 1;
        if let Some(rev) = rec.revision {
            *r.recorded_revisions.entry(rev.to_owned()).or_default() += 1;
        }
        if rec.result_null {
            r.not_evaluated += 1;
            continue;
        }
        r.replayed += 1;
        let input = PolicyInput::from_json_unverified(rec.input);
        let subject = rec.input.get("subject");
        let acr = subject.and_then(|s| s.get("acr")).and_then(Value::as_str);
        let auth_time = subject
            .and_then(|s| s.get("auth_time"))
            .and_then(Value::as_u64);
        let now = rec
            .input
            .pointer("/context/now")
            .and_then(Value::as_u64)
            .unwrap_or(0);

        if let (Some(b), Some(check)) = (opts.baseline, r.baseline.as_mut())
            && rec.revision == Some(b.revision())
        {
            check.checked += 1;
            let again = interpret(&b.evaluate(&input), acr, auth_time, now).outcome;
            if again != rec.evaluated {
                check.mismatches += 1;
                if check.examples.len() < examples {
                    check.examples.push(rec.id.to_owned());
                }
            }
        }

        let mut any_masked = false;
        for p in &read_masks {
            if rec.input.pointer(p).and_then(Value::as_str) == Some(MASKED) {
                any_masked = true;
                *r.masked_reads.fields.entry((*p).to_owned()).or_default() += 1;
            }
        }
        if any_masked {
            r.masked_reads.records += 1;
        }

        let result = candidate.evaluate(&input);
        let verdict = interpret(&result, acr, auth_time, now);
        if verdict.outcome == rec.evaluated {
            continue;
        }
        r.flips += 1;
        let kind = format!("{}->{}", rec.evaluated.as_str(), verdict.outcome.as_str());
        *r.by_kind.entry(kind.clone()).or_default() += 1;
        let reason = match &result {
            Ok(out) if !out.reasons.is_empty() => out.reasons.join(","),
            _ => verdict.reasons.first().map_or_else(
                || verdict.outcome.as_str().to_owned(),
                |x| x.as_str().to_owned(),
            ),
        };
        let keys = [
            path_prefix(rec.input.pointer("/request/path").and_then(Value::as_str)),
            text(rec.input.pointer("/subject/id")),
            reason,
            text(rec.input.pointer("/request/method")),
        ];
        for (dim, key) in DIMENSIONS.into_iter().zip(keys) {
            let g = groups.entry((dim, key, kind.clone())).or_default();
            g.0 += 1;
            if g.1.len() < examples {
                g.1.push(rec.id.to_owned());
            }
        }
    }
    for ((dim, key, kind), (count, ex)) in groups {
        r.groups.entry(dim).or_default().push(FlipGroup {
            key,
            kind,
            count,
            examples: ex,
        });
    }
    for g in r.groups.values_mut() {
        g.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    }
    r.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    r
}

/// The parts of a decision record replay needs.
struct Record<'a> {
    id: &'a str,
    evaluated: Outcome,
    revision: Option<&'a str>,
    input: &'a Value,
    result_null: bool,
}

impl<'a> Record<'a> {
    fn read(v: &'a Value) -> Result<Self, String> {
        let missing = |k: &str| format!("not a decision record: no `{k}`");
        let id = v
            .get("decision_id")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("decision_id"))?;
        let evaluated = match v.get("evaluated").and_then(Value::as_str) {
            Some("allow") => Outcome::Allow,
            Some("deny") => Outcome::Deny,
            Some("step_up") => Outcome::StepUp,
            _ => return Err(missing("evaluated")),
        };
        let input = v.get("input").ok_or_else(|| missing("input"))?;
        let result = v.get("result").ok_or_else(|| missing("result"))?;
        Ok(Self {
            id,
            evaluated,
            revision: v.get("policy_revision").and_then(Value::as_str),
            input,
            result_null: result.is_null(),
        })
    }
}

/// `/orders/42` → `/orders`; `/` and a missing path → `/`.
fn path_prefix(path: Option<&str>) -> String {
    let p = path.unwrap_or("/");
    let first = p.trim_start_matches('/').split('/').next().unwrap_or("");
    format!("/{first}")
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_prefix_table() {
        for (path, want) in [
            (Some("/orders/42"), "/orders"),
            (Some("/"), "/"),
            (Some("admin"), "/admin"),
            (None, "/"),
        ] {
            assert_eq!(path_prefix(path), want, "{path:?}");
        }
    }
}
