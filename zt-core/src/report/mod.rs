//! `zt report`: the numbers a small team watches, from the decision logs of a fleet — totals
//! and rates, latency percentiles per stage, top reasons, routes, the canary's false-positive
//! estimate — and the least-privilege review: per subject, the permissions held but not used.
//!
//! The logs are read once, streaming, in bounded memory: plain and gzip files, several at a
//! time (rotated ones), their hash chain checked in the same pass when they carry one. Only
//! zt's record shape is read (`decision_log.format = "zt"`); a damaged line is counted and
//! named, never fatal.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("zt-report-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let log = dir.join("decisions.log");
//! std::fs::write(&log, concat!(
//!     r#"{"timestamp":"2026-12-07T08:00:00.000Z","decision_id":"a","outcome":"allow","evaluated":"allow","mode":"enforce","reasons":[],"timings_ns":{"total":12000},"input":{"request":{"method":"GET","path":"/orders/42"}}}"#, "\n",
//!     r#"{"timestamp":"2026-12-07T08:00:01.000Z","decision_id":"b","outcome":"deny","evaluated":"deny","mode":"enforce","reasons":["token_expired"],"timings_ns":{"total":3000},"input":{"request":{"method":"GET","path":"/orders/7"}}}"#, "\n",
//! ))?;
//! let report = zt_core::report_files(&[log], &zt_core::ReportOptions::default())?;
//! assert_eq!(report.decisions, 2);
//! assert_eq!(report.deny_rate, 0.5);
//! assert_eq!(report.routes[0].route, "/orders/{n}");
//! assert_eq!(report.reasons[0].code, "token_expired");
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod html;
mod markdown;
mod privilege;
mod tally;

use crate::config::PolicyConfig;
pub use crate::error::ReportError;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub use privilege::{LeastPrivilege, SubjectEntitlements};

/// What to read and how.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReportOptions {
    /// Only records at or after this time (Unix ms).
    pub since_ms: Option<u64>,
    /// Only records before this time (Unix ms).
    pub until_ms: Option<u64>,
    /// The bundle whose `entitlements` and `privileged` rules the least-privilege review
    /// evaluates (in the entrypoint's package); no review without it.
    pub bundle: Option<PathBuf>,
    /// How the bundle loads (entrypoint, limits); its tests are not run.
    pub policy: PolicyConfig,
}

impl ReportOptions {
    /// Options for records in `[since_ms, until_ms)`, with the review of `bundle` when given.
    pub fn new(since_ms: Option<u64>, until_ms: Option<u64>, bundle: Option<PathBuf>) -> Self {
        Self {
            since_ms,
            until_ms,
            bundle,
            policy: PolicyConfig::default(),
        }
    }
}

/// The report (the keys of its JSON form are a contract: docs/observability.md, "Reports").
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Decision records in the window.
    pub decisions: u64,
    /// The first and last record's time (RFC 3339), of those in the window.
    pub window: Window,
    /// Decisions by what happened to the request.
    pub outcomes: Outcomes,
    /// Denied decisions / decisions (0 without decisions).
    pub deny_rate: f64,
    /// Step-up decisions / decisions.
    pub step_up_rate: f64,
    /// Decisions whose policy failed (`policy_error`, `policy_undefined`,
    /// `policy_output_invalid`) / decisions.
    pub policy_error_rate: f64,
    /// Denies the policy evaluated but the mode did not enforce, by mode.
    pub would_deny: WouldDeny,
    /// The shadow candidate or the rollout's candidate against the active policy.
    pub shadow: ShadowSummary,
    /// Whole-decision latency (`timings_ns.total`), microseconds.
    pub latency_us: Percentiles,
    /// Latency per stage (`token`, `posture`, `input`, `policy`, `shadow`), microseconds.
    pub stages_us: BTreeMap<String, Percentiles>,
    /// How whole-decision latencies spread: decisions per bucket, up to each bound.
    pub latency_distribution: Vec<LatencyBucket>,
    /// zt's reason codes, most frequent first.
    pub reasons: Vec<Count>,
    /// The policy's own reasons, most frequent first.
    pub policy_reasons: Vec<Count>,
    /// Tokens refused before the policy (the reason codes that reject a token).
    pub token_failures: Vec<Count>,
    /// Per route (method and path with ids folded: `/orders/42` → `/orders/{n}`), most
    /// requested first.
    pub routes: Vec<RouteStats>,
    /// `hour` or `day`: the size of `buckets` (hours for windows up to three days).
    pub bucket: &'static str,
    /// Decisions and denies per bucket, oldest first.
    pub buckets: Vec<Bucket>,
    /// Rollout-gate events read.
    pub events: u64,
    /// Lines that are not records (damaged, truncated, another shape).
    pub damaged: u64,
    /// The first damaged lines, with where and why.
    pub damaged_lines: Vec<DamagedLine>,
    /// The hash chain, when the logs carry one.
    pub chain: Option<ChainSummary>,
    /// The least-privilege review, with a bundle.
    pub least_privilege: Option<LeastPrivilege>,
    /// The files read, in order.
    pub files: Vec<String>,
    /// Lines read (records, events, damaged, out of the window).
    pub lines: u64,
    /// Reading time, milliseconds.
    pub elapsed_ms: u64,
}

/// `window`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Window {
    /// The first record's time.
    pub from: Option<String>,
    /// The last record's time.
    pub to: Option<String>,
}

/// `outcomes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Outcomes {
    /// Allowed (including unenforced denies).
    pub allow: u64,
    /// Denied.
    pub deny: u64,
    /// Sent to step up.
    pub step_up: u64,
}

/// `would_deny`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct WouldDeny {
    /// In `warn` mode.
    pub warn: u64,
    /// In `log_only` mode.
    pub log_only: u64,
}

/// `shadow`: what a candidate policy would have done on the same requests.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ShadowSummary {
    /// Decisions a candidate also evaluated.
    pub compared: u64,
    /// Of those, where allow/deny differed.
    pub diverged: u64,
    /// The candidate denied what the active policy allowed: the canary's false positives.
    pub candidate_denied_control_allowed: u64,
    /// `candidate_denied_control_allowed` / `compared`.
    pub false_positive_rate: f64,
}

/// Latency percentiles, microseconds.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// One bucket of `latency_distribution`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct LatencyBucket {
    /// The bucket's upper bound, microseconds (`null`: no bound, the rest).
    pub le_us: Option<f64>,
    /// Decisions in the bucket (above the previous bound, up to this one).
    pub count: u64,
}

/// A code and how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Count {
    /// The code.
    pub code: String,
    /// Occurrences.
    pub count: u64,
}

/// One route of `routes`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct RouteStats {
    /// The request method.
    pub method: String,
    /// The path with ids folded (`{n}` numbers, `{uuid}`, `{hex}` long hex strings).
    pub route: String,
    /// Decisions.
    pub count: u64,
    /// Denied / decisions.
    pub deny_rate: f64,
    /// 95th percentile of the decision's latency, microseconds.
    pub p95_us: f64,
}

/// One bucket of `buckets`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Bucket {
    /// The bucket's start (RFC 3339).
    pub start: String,
    /// Decisions.
    pub decisions: u64,
    /// Denied.
    pub deny: u64,
    /// Denied / decisions.
    pub deny_rate: f64,
}

/// A line that is not a record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DamagedLine {
    /// The file.
    pub file: String,
    /// The line (1-based).
    pub line: u64,
    /// What is wrong.
    pub error: String,
}

/// `chain`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ChainSummary {
    /// Every chained file verified from its first line to its last.
    pub verified: bool,
    /// Chained records checked.
    pub records: u64,
    /// Where the chain breaks (`file:line: why`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Report {
    /// The report as Markdown: the numbers above as tables.
    pub fn to_markdown(&self) -> String {
        markdown::render(self)
    }

    /// The report as one self-contained HTML page: the tables, and charts as inline SVG
    /// (decisions and deny rate over time, the latency distribution, top reasons, least
    /// privilege). No script, no external resource (a Content-Security-Policy forbids both).
    pub fn to_html(&self) -> String {
        html::render(self)
    }
}

/// The totals table of the Markdown and HTML forms: label and formatted value.
fn totals(r: &Report) -> Vec<(&'static str, String)> {
    vec![
        ("allow", r.outcomes.allow.to_string()),
        ("deny", r.outcomes.deny.to_string()),
        ("step_up", r.outcomes.step_up.to_string()),
        ("deny rate", percent(r.deny_rate)),
        ("step-up rate", percent(r.step_up_rate)),
        ("policy error rate", percent(r.policy_error_rate)),
        ("would deny (warn)", r.would_deny.warn.to_string()),
        ("would deny (log_only)", r.would_deny.log_only.to_string()),
        ("shadow compared", r.shadow.compared.to_string()),
        ("shadow diverged", r.shadow.diverged.to_string()),
        (
            "candidate denied what the control allowed",
            format!(
                "{} ({})",
                r.shadow.candidate_denied_control_allowed,
                percent(r.shadow.false_positive_rate)
            ),
        ),
        ("rollout events", r.events.to_string()),
        ("damaged lines", r.damaged.to_string()),
    ]
}

/// A fraction as a percentage with two decimals (`0.25` → `25.00 %`).
fn percent(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

/// Read the decision logs at `paths` (plain or gzip, in the order given) and report on the
/// records in the window. An unreadable file or a bundle that does not load is an error; a
/// damaged line or a broken chain is in the report.
pub fn report_files(paths: &[PathBuf], opts: &ReportOptions) -> Result<Report, ReportError> {
    let started = std::time::Instant::now();
    let review = match &opts.bundle {
        Some(b) => Some(privilege::Review::load(b, &opts.policy)?),
        None => None,
    };
    let mut t = tally::Tally::new(opts, review.is_some()).ok_or(ReportError::Memory)?;
    for path in paths {
        t.read_file(path).map_err(|e| ReportError::Io {
            path: path.display().to_string(),
            kind: e.kind().to_string(),
        })?;
    }
    let (mut report, subjects) = t.finish();
    if let (Some(review), Some(subjects)) = (review, subjects) {
        report.least_privilege = Some(review.evaluate(subjects));
    }
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(report)
}

/// A time for `--since` / `--until`: RFC 3339 (`2026-12-07T08:00:00Z`, fractions and offsets
/// allowed) or a date (`2026-12-07`, midnight UTC), as Unix ms.
///
/// ```
/// assert_eq!(zt_core::parse_report_time("1970-01-02"), Some(86_400_000));
/// assert_eq!(zt_core::parse_report_time("1970-01-01T01:00:00.5+01:00"), Some(500));
/// assert_eq!(zt_core::parse_report_time("yesterday"), None);
/// ```
pub fn parse_report_time(s: &str) -> Option<u64> {
    tally::parse_rfc3339(s).or_else(|| {
        if s.len() == 10 {
            tally::parse_rfc3339(&format!("{s}T00:00:00Z"))
        } else {
            None
        }
    })
}
