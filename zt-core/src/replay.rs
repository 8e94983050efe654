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

use crate::codes::Outcome;
use crate::decision::interpret;
use crate::input::{MASKED, PolicyInput};
use crate::policy::CompiledBundle;
use std::borrow::Cow;
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
    /// `method`, largest groups first: at most 100 per dimension (see `groups_omitted`); past
    /// 10,000 distinct keys per dimension and thread, further keys count as `(other)`.
    pub groups: BTreeMap<&'static str, Vec<FlipGroup>>,
    /// Groups left out of `groups` per dimension (beyond the 100 largest).
    pub groups_omitted: BTreeMap<&'static str, u64>,
    /// Why reading the log stopped early (an I/O error), if it did: the report covers only
    /// the lines before it.
    pub read_error: Option<String>,
    /// Records per recorded policy revision.
    pub recorded_revisions: BTreeMap<String, u64>,
    /// Masked fields the candidate refers to.
    pub masked_reads: MaskedReads,
    /// The baseline check, when a baseline was given.
    pub baseline: Option<BaselineCheck>,
    /// Why the config's bundle could not serve as the baseline ([`replay_file`]), if it could not.
    pub baseline_error: Option<String>,
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

/// Replay the log at `log` against the bundle at `candidate` as `zt replay` does: the
/// candidate is loaded through the config's `[policy]` gate (entrypoint, limits, tests), the
/// masked fields are the config's `decision_log.mask`, and the config's `policy.bundle`, when
/// set, is the baseline (when it does not load, the report says why in `baseline_error`).
/// `examples` decision ids are kept per group (3 when 0). One call for the CLI and the bindings.
pub fn replay_file(
    config: &crate::AuthorizerConfig,
    log: &std::path::Path,
    candidate: &std::path::Path,
    examples: usize,
) -> Result<ReplayReport, crate::PolicyError> {
    let cand = CompiledBundle::load(candidate, &config.policy)?;
    let (baseline, baseline_error) = match &config.policy.bundle {
        Some(path) => match CompiledBundle::load(path, &config.policy) {
            Ok(b) => (Some(b), None),
            Err(e) => (None, Some(e.to_string())),
        },
        None => (None, None),
    };
    // Plain or gzip (a rotated log): the reader `zt report` uses too.
    let file = crate::log::open_log(log).map_err(|e| crate::PolicyError::Io {
        path: log.display().to_string(),
        kind: e.kind().to_string(),
    })?;
    let opts = ReplayOptions {
        mask: config.decision_log.mask.clone(),
        baseline: baseline.as_deref(),
        examples,
    };
    let mut report = replay(file, &cand, &opts);
    report.baseline_error = baseline_error;
    Ok(report)
}

const MAX_DAMAGED: usize = 100;
const DIMENSIONS: [&str; 4] = ["path", "subject", "reason", "method"];
/// Groups kept per dimension in the report.
const MAX_GROUPS: usize = 100;
/// Distinct keys per dimension and worker before further keys count as `(other)`.
const MAX_KEYS: usize = 10_000;
const OTHER: &str = "(other)";
/// Longest line read; a longer one is reported and skipped.
const MAX_LINE: usize = 16 << 20;

/// A numbered line, or `None` for one longer than [`MAX_LINE`].
type Chunk = Vec<(usize, Option<Vec<u8>>)>;
/// Lines handed to a worker at a time.
const CHUNK: usize = 1024;

/// Replay the decision log read from `log` against `candidate`. Never fails: unreadable or
/// damaged lines are reported in [`ReplayReport::damaged`]. Records are evaluated on every
/// core (`std::thread::available_parallelism`, at most 8 threads).
pub fn replay(
    log: impl BufRead,
    candidate: &CompiledBundle,
    opts: &ReplayOptions<'_>,
) -> ReplayReport {
    let started = std::time::Instant::now();
    let ctx = Context {
        candidate,
        baseline: opts.baseline,
        examples: if opts.examples == 0 { 3 } else { opts.examples },
        // The masked pointers the candidate refers to, decided once.
        read_masks: opts
            .mask
            .iter()
            .filter(|p| candidate.reads_input(p))
            .cloned()
            .collect(),
    };
    let (parts, read_error) = evaluate_in_parallel(log, &ctx);
    let mut r = merge(parts, read_error, &ctx, candidate, opts);
    r.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    r
}

/// Evaluate every record of `log` on up to 8 worker threads fed by this one; each worker
/// returns its partial report.
fn evaluate_in_parallel(
    log: impl BufRead,
    ctx: &Context<'_>,
) -> (Vec<Partial>, Option<DamagedLine>) {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 8);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(workers * 2);
    let rx = std::sync::Mutex::new(rx);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut part = Partial::default();
                    loop {
                        let next = rx.lock().map(|r| r.recv());
                        let Ok(Ok(chunk)) = next else { break };
                        for (line_no, bytes) in chunk {
                            let Some(bytes) = bytes else {
                                part.damaged(line_no, "longer than 16 MiB".to_owned());
                                continue;
                            };
                            // A panic in the engine on one record must not lose the others
                            // (nor stop this worker, which would stall the reader).
                            let one = std::panic::AssertUnwindSafe(|| {
                                part.line(ctx, line_no, &bytes);
                            });
                            if std::panic::catch_unwind(one).is_err() {
                                part.damaged(line_no, "evaluating this record failed".to_owned());
                            }
                        }
                    }
                    part
                })
            })
            .collect();
        let read_error = feed(log, &tx);
        drop(tx);
        let joined: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        let failed = joined.iter().filter(|j| j.is_err()).count();
        let parts: Vec<Partial> = joined.into_iter().filter_map(Result::ok).collect();
        let read_error = read_error.or_else(|| {
            (failed > 0).then(|| DamagedLine {
                line: 0,
                error: format!("{failed} replay worker(s) failed: the report is incomplete"),
            })
        });
        (parts, read_error)
    })
}

/// The report from the workers' partial reports: totals, damaged lines, flip groups.
fn merge(
    parts: Vec<Partial>,
    read_error: Option<DamagedLine>,
    ctx: &Context<'_>,
    candidate: &CompiledBundle,
    opts: &ReplayOptions<'_>,
) -> ReplayReport {
    let mut r = ReplayReport {
        candidate_revision: candidate.revision().to_owned(),
        baseline: opts.baseline.map(|b| BaselineCheck {
            revision: b.revision().to_owned(),
            ..BaselineCheck::default()
        }),
        ..ReplayReport::default()
    };
    let mut groups: BTreeMap<(&'static str, String, String), (u64, Vec<String>)> = BTreeMap::new();
    let mut damaged: Vec<DamagedLine> = Vec::new();
    if let Some(e) = read_error {
        r.read_error = Some(format!("line {}: {}", e.line, e.error));
        r.damaged_count += 1;
        damaged.push(e);
    }
    for p in parts {
        r.records += p.records;
        r.replayed += p.replayed;
        r.not_evaluated += p.not_evaluated;
        r.events += p.events;
        r.flips += p.flips;
        r.damaged_count += p.damaged_count;
        damaged.extend(p.damaged);
        for (k, n) in p.by_kind {
            *r.by_kind.entry(k).or_default() += n;
        }
        for (k, n) in p.recorded_revisions {
            *r.recorded_revisions.entry(k).or_default() += n;
        }
        r.masked_reads.records += p.masked_records;
        for (k, n) in p.masked_fields {
            *r.masked_reads.fields.entry(k).or_default() += n;
        }
        if let Some(b) = r.baseline.as_mut() {
            b.checked += p.baseline_checked;
            b.mismatches += p.baseline_mismatches;
            b.examples.extend(p.baseline_examples);
            b.examples.truncate(ctx.examples);
        }
        for (k, (n, ex)) in p.groups {
            let g = groups.entry(k).or_default();
            g.0 += n;
            g.1.extend(ex);
            g.1.truncate(ctx.examples);
        }
    }
    damaged.sort_by_key(|d| d.line);
    damaged.truncate(MAX_DAMAGED);
    r.damaged = damaged;
    for ((dim, key, kind), (count, examples)) in groups {
        r.groups.entry(dim).or_default().push(FlipGroup {
            key,
            kind,
            count,
            examples,
        });
    }
    for (dim, g) in &mut r.groups {
        g.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        if g.len() > MAX_GROUPS {
            r.groups_omitted.insert(dim, (g.len() - MAX_GROUPS) as u64);
            g.truncate(MAX_GROUPS);
        }
    }
    r
}

/// Read `log` in chunks of numbered lines (each at most [`MAX_LINE`] bytes); a read error
/// ends the log and is returned.
fn feed(mut log: impl BufRead, tx: &std::sync::mpsc::SyncSender<Chunk>) -> Option<DamagedLine> {
    use std::io::Read as _;
    let mut chunk: Chunk = Vec::with_capacity(CHUNK);
    let mut line_no = 0usize;
    let mut error = None;
    let cap = MAX_LINE as u64 + 1;
    loop {
        let mut buf = Vec::new();
        match (&mut log).take(cap).read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                error = Some(DamagedLine {
                    line: line_no + 1,
                    error: format!("cannot read: {}", e.kind()),
                });
                break;
            }
        }
        line_no += 1;
        if buf.len() > MAX_LINE {
            // Skip the rest of the line without holding it.
            loop {
                buf.clear();
                match (&mut log).take(cap).read_until(b'\n', &mut buf) {
                    Ok(0) => break,
                    Ok(_) if buf.last() == Some(&b'\n') => break,
                    Ok(_) => {}
                    Err(e) => {
                        error = Some(DamagedLine {
                            line: line_no,
                            error: format!("cannot read: {}", e.kind()),
                        });
                        break;
                    }
                }
            }
            chunk.push((line_no, None));
            if error.is_some() {
                break;
            }
        } else {
            chunk.push((line_no, Some(buf)));
        }
        if chunk.len() == CHUNK
            && tx
                .send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                .is_err()
        {
            return error;
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(chunk);
    }
    error
}

struct Context<'a> {
    candidate: &'a CompiledBundle,
    baseline: Option<&'a CompiledBundle>,
    examples: usize,
    read_masks: Vec<String>,
}

/// One worker's share of the report.
#[derive(Default)]
struct Partial {
    records: u64,
    replayed: u64,
    not_evaluated: u64,
    events: u64,
    flips: u64,
    damaged_count: u64,
    damaged: Vec<DamagedLine>,
    by_kind: BTreeMap<String, u64>,
    recorded_revisions: BTreeMap<String, u64>,
    masked_records: u64,
    masked_fields: BTreeMap<String, u64>,
    baseline_checked: u64,
    baseline_mismatches: u64,
    baseline_examples: Vec<String>,
    groups: BTreeMap<(&'static str, String, String), (u64, Vec<String>)>,
    /// Distinct keys per dimension in `groups`.
    distinct: [usize; 4],
}

/// The fields of a decision-log line replay reads; the input stays raw JSON until regorus
/// parses it into its compact form.
#[derive(serde::Deserialize)]
struct Line<'a> {
    #[serde(default, borrow)]
    event: Option<&'a serde_json::value::RawValue>,
    #[serde(default, borrow)]
    decision_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    evaluated: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    policy_revision: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "present")]
    input: Option<&'a serde_json::value::RawValue>,
    /// `null` when the policy did not run: present, unlike a missing key.
    #[serde(default, borrow, deserialize_with = "present")]
    result: Option<&'a serde_json::value::RawValue>,
}

/// A present key as `Some`, even when its value is `null`.
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<&'de serde_json::value::RawValue>, D::Error> {
    <&serde_json::value::RawValue as serde::Deserialize>::deserialize(d).map(Some)
}

impl Partial {
    fn damaged(&mut self, line: usize, error: String) {
        self.damaged_count += 1;
        if self.damaged.len() < MAX_DAMAGED {
            self.damaged.push(DamagedLine { line, error });
        }
    }

    fn line(&mut self, ctx: &Context<'_>, line_no: usize, bytes: &[u8]) {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        // UTF-8 checked once for the line, not string by string as `from_slice` does.
        let Ok(text) = std::str::from_utf8(bytes) else {
            return self.damaged(line_no, "not UTF-8".to_owned());
        };
        let line: Line<'_> = match serde_json::from_str(text) {
            Ok(l) => l,
            Err(e) if e.is_eof() => return self.damaged(line_no, "truncated JSON".to_owned()),
            Err(e) => return self.damaged(line_no, format!("not a JSON object: {e}")),
        };
        if line.event.is_some() {
            self.events += 1;
            return;
        }
        let missing = |k: &str| format!("not a decision record: no `{k}`");
        let (Some(id), Some(input), Some(result)) = (line.decision_id, line.input, line.result)
        else {
            return self.damaged(line_no, missing("decision_id`, `input` or `result"));
        };
        let recorded = match line.evaluated.as_deref() {
            Some("allow") => Outcome::Allow,
            Some("deny") => Outcome::Deny,
            Some("step_up") => Outcome::StepUp,
            _ => return self.damaged(line_no, missing("evaluated")),
        };
        let revision = line.policy_revision;
        if result.get() == "null" {
            self.records += 1;
            self.count_revision(revision.as_deref());
            self.not_evaluated += 1;
            return;
        }
        // serde_json and zt's direct conversion: about twice as fast as regorus's own parser
        // on these documents (`--bin replay` has both).
        let parsed = serde_json::from_str::<serde_json::Value>(input.get())
            .map(|v| crate::util::json::value_to_rego(&v));
        let Ok(doc) = parsed else {
            return self.damaged(line_no, "`input` is not a JSON document".to_owned());
        };
        self.records += 1;
        self.count_revision(revision.as_deref());
        self.replayed += 1;
        let subject = &doc["subject"];
        let acr = str_at(&subject["acr"]);
        let auth_time = subject["auth_time"].as_u64().ok();
        let now = doc["context"]["now"].as_u64().unwrap_or(0);
        let input = PolicyInput::from_rego_unverified(doc.clone());

        if let Some(b) = ctx.baseline
            && revision.as_deref() == Some(b.revision())
        {
            self.baseline_checked += 1;
            let again = interpret(&b.evaluate(&input), acr, auth_time, now).outcome;
            if again != recorded {
                self.baseline_mismatches += 1;
                if self.baseline_examples.len() < ctx.examples {
                    self.baseline_examples.push(id.to_string());
                }
            }
        }

        let mut any_masked = false;
        for p in &ctx.read_masks {
            if str_at(pointer(&doc, p)) == Some(MASKED) {
                any_masked = true;
                *self.masked_fields.entry(p.clone()).or_default() += 1;
            }
        }
        self.masked_records += u64::from(any_masked);

        let result = ctx.candidate.evaluate(&input);
        let verdict = interpret(&result, acr, auth_time, now);
        if verdict.outcome == recorded {
            return;
        }
        self.flips += 1;
        let kind = format!("{}->{}", recorded.as_str(), verdict.outcome.as_str());
        *self.by_kind.entry(kind.clone()).or_default() += 1;
        let reason = match &result {
            Ok(out) if !out.reasons.is_empty() => out.reasons.join(","),
            _ => verdict.reasons.first().map_or_else(
                || verdict.outcome.as_str().to_owned(),
                |x| x.as_str().to_owned(),
            ),
        };
        let request = &doc["request"];
        let keys = [
            path_prefix(str_at(&request["path"])),
            str_at(&subject["id"]).unwrap_or("-").to_owned(),
            reason,
            str_at(&request["method"]).unwrap_or("-").to_owned(),
        ];
        for (i, (dim, key)) in DIMENSIONS.into_iter().zip(keys).enumerate() {
            let mut k = (dim, key, kind.clone());
            if !self.groups.contains_key(&k) {
                match self.distinct.get_mut(i) {
                    Some(n) if *n < MAX_KEYS => *n += 1,
                    _ => k.1 = OTHER.to_owned(),
                }
            }
            let g = self.groups.entry(k).or_default();
            g.0 += 1;
            if g.1.len() < ctx.examples {
                g.1.push(id.to_string());
            }
        }
    }

    fn count_revision(&mut self, revision: Option<&str>) {
        if let Some(rev) = revision {
            match self.recorded_revisions.get_mut(rev) {
                Some(n) => *n += 1,
                None => {
                    self.recorded_revisions.insert(rev.to_owned(), 1);
                }
            }
        }
    }
}

fn str_at(v: &regorus::Value) -> Option<&str> {
    v.as_string().ok().map(|s| &**s)
}

/// The value at a JSON pointer (`Undefined` when absent).
fn pointer<'v>(doc: &'v regorus::Value, ptr: &str) -> &'v regorus::Value {
    let mut v = doc;
    for seg in ptr.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        v = match (v, seg.parse::<u64>()) {
            (regorus::Value::Array(_), Ok(i)) => &v[&regorus::Value::from(i)],
            _ => &v[seg.as_str()],
        };
    }
    v
}

/// `/orders/42` → `/orders`; `/` and a missing path → `/`.
fn path_prefix(path: Option<&str>) -> String {
    let p = path.unwrap_or("/");
    let first = p.trim_start_matches('/').split('/').next().unwrap_or("");
    format!("/{first}")
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
