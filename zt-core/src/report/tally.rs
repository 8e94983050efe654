//! One pass over the records: counters, histograms and per-route, per-hour and per-subject
//! tallies, each bounded.

use super::privilege::Subjects;
use super::{
    Bucket, ChainSummary, Count, DamagedLine, LatencyBucket, Outcomes, Percentiles, Report,
    ReportOptions, RouteStats, ShadowSummary, Window, WouldDeny,
};
use crate::codes::Reason;
use crate::log::ChainCheck;
use hdrhistogram::Histogram;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Longest line read; a longer one is counted as damaged.
const MAX_LINE: usize = 16 << 20;
/// Damaged lines named in the report.
const MAX_DAMAGED: usize = 20;
/// Distinct routes tallied; later ones count under `(other)`.
const MAX_ROUTES: usize = 1000;
/// Distinct reason codes tallied per list; later ones count under `(other)`.
const MAX_CODES: usize = 1000;
/// Routes and codes in the report.
const TOP: usize = 50;
const STAGES: [&str; 5] = ["token", "posture", "input", "policy", "shadow"];

/// The parts of a record the report reads (zt's shape).
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(default)]
    event: Option<serde::de::IgnoredAny>,
    #[serde(borrow, default)]
    outcome: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    evaluated: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    mode: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasons: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    policy_reasons: Vec<Cow<'a, str>>,
    #[serde(default)]
    timings_ns: Option<BTreeMap<Cow<'a, str>, u64>>,
    #[serde(borrow, default)]
    shadow: Option<Shadow<'a>>,
    #[serde(borrow, default)]
    input: Option<Input<'a>>,
    #[serde(borrow, default)]
    result: Option<Output<'a>>,
}

#[derive(Deserialize)]
struct Shadow<'a> {
    #[serde(borrow)]
    outcome: Cow<'a, str>,
    #[serde(default)]
    diverged: bool,
}

#[derive(Deserialize)]
struct Input<'a> {
    #[serde(borrow, default)]
    request: Option<RequestPart<'a>>,
    #[serde(borrow, default)]
    subject: Option<&'a serde_json::value::RawValue>,
}

#[derive(Deserialize)]
struct RequestPart<'a> {
    #[serde(borrow, default)]
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    path: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Output<'a> {
    #[serde(borrow, default)]
    grants: Vec<Cow<'a, str>>,
}

/// The subject's identity in the logged input.
#[derive(Deserialize)]
struct SubjectId<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    issuer: Option<Cow<'a, str>>,
}

struct Route {
    count: u64,
    deny: u64,
    latency: Option<Histogram<u64>>,
}

pub(super) struct Tally {
    since: u64,
    until: u64,
    decisions: u64,
    outcomes: Outcomes,
    policy_errors: u64,
    would_deny: WouldDeny,
    shadow: ShadowSummary,
    total: Histogram<u64>,
    stages: Vec<Histogram<u64>>,
    reasons: HashMap<String, u64>,
    policy_reasons: HashMap<String, u64>,
    routes: HashMap<(String, String), Route>,
    hours: BTreeMap<u64, (u64, u64)>,
    from_ms: Option<u64>,
    to_ms: Option<u64>,
    events: u64,
    damaged: u64,
    damaged_lines: Vec<DamagedLine>,
    chain: Option<ChainSummary>,
    subjects: Option<Subjects>,
    files: Vec<String>,
    /// Files read that carry no hash chain.
    unchained: Vec<String>,
    lines: u64,
}

/// The histograms' top: an hour (a longer decision counts as an hour).
const MAX_NS: u64 = 3_600_000_000_000;

fn histogram(sigfig: u8) -> Option<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_NS, sigfig).ok()
}

impl Tally {
    /// `None` when the histograms cannot be made.
    pub(super) fn new(opts: &ReportOptions, review: bool) -> Option<Self> {
        let stages = STAGES
            .iter()
            .map(|_| histogram(3))
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            since: opts.since_ms.unwrap_or(0),
            until: opts.until_ms.unwrap_or(u64::MAX),
            decisions: 0,
            outcomes: Outcomes::default(),
            policy_errors: 0,
            would_deny: WouldDeny::default(),
            shadow: ShadowSummary::default(),
            total: histogram(3)?,
            stages,
            reasons: HashMap::new(),
            policy_reasons: HashMap::new(),
            routes: HashMap::new(),
            hours: BTreeMap::new(),
            from_ms: None,
            to_ms: None,
            events: 0,
            damaged: 0,
            damaged_lines: Vec::new(),
            chain: None,
            subjects: review.then(Subjects::default),
            files: Vec::new(),
            unchained: Vec::new(),
            lines: 0,
        })
    }

    /// Read one file; `Err` only when it cannot be opened or read.
    pub(super) fn read_file(&mut self, path: &Path) -> std::io::Result<()> {
        let name = path.display().to_string();
        let mut r = crate::log::open_log(path)?;
        let mut buf = Vec::new();
        // Chained or not is decided by the file's first non-blank line; from then on every
        // line of a chained file is checked, damaged ones included.
        let mut chain: Option<ChainCheck> = None;
        let mut decided = false;
        let mut chain_error: Option<String> = None;
        let mut line_no: u64 = 0;
        while let Some(whole) = crate::log::next_line(&mut *r, &mut buf, MAX_LINE)? {
            line_no += 1;
            self.lines += 1;
            let at = usize::try_from(line_no).unwrap_or(usize::MAX);
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = if whole {
                std::str::from_utf8(&buf).ok()
            } else {
                None
            };
            if !decided {
                decided = true;
                if text.is_some_and(crate::log::is_chained) {
                    chain = Some(ChainCheck::default());
                }
            }
            if let (Some(c), None) = (chain.as_mut(), chain_error.as_ref()) {
                let checked = match text {
                    Some(t) => c.line(at, t).map_err(|e| e.to_string()),
                    None => Err(format!("line {at} is not a chained record")),
                };
                if let Err(e) = checked {
                    chain_error = Some(format!("{name}: {e}"));
                }
            }
            let Some(text) = text else {
                let why = if whole {
                    "not UTF-8"
                } else {
                    "longer than 16 MiB"
                };
                self.damage(&name, line_no, why);
                continue;
            };
            match serde_json::from_str::<Record<'_>>(text) {
                Ok(rec) => self.record(&rec, &name, line_no),
                Err(e) => {
                    let why = match e.classify() {
                        serde_json::error::Category::Syntax => "not JSON",
                        serde_json::error::Category::Eof => "truncated",
                        _ => "not a decision record",
                    };
                    self.damage(&name, line_no, why);
                }
            }
        }
        match chain {
            Some(c) => {
                let s = self.chain.get_or_insert(ChainSummary {
                    verified: true,
                    records: 0,
                    error: None,
                });
                s.records += u64::try_from(c.records).unwrap_or(u64::MAX);
                if let Some(e) = chain_error {
                    s.verified = false;
                    s.error.get_or_insert(e);
                }
            }
            None => self.unchained.push(name.clone()),
        }
        self.files.push(name);
        Ok(())
    }

    fn damage(&mut self, file: &str, line: u64, why: &str) {
        self.damaged += 1;
        if self.damaged_lines.len() < MAX_DAMAGED {
            self.damaged_lines.push(DamagedLine {
                file: file.to_owned(),
                line,
                error: why.to_owned(),
            });
        }
    }

    fn record(&mut self, rec: &Record<'_>, file: &str, line: u64) {
        let at = rec.timestamp.as_deref().and_then(parse_rfc3339);
        match at {
            Some(t) if t < self.since || t >= self.until => return,
            // With a window, a record that cannot be placed in time is not counted in it.
            None if self.since > 0 || self.until < u64::MAX => {
                self.damage(file, line, "no usable timestamp for --since/--until");
                return;
            }
            _ => {}
        }
        if rec.event.is_some() {
            self.events += 1;
            return;
        }
        let Some(outcome) = rec.outcome.as_deref() else {
            self.damage(file, line, "not a decision record");
            return;
        };
        self.decisions += 1;
        let denied = outcome == "deny";
        match outcome {
            "allow" => self.outcomes.allow += 1,
            "deny" => self.outcomes.deny += 1,
            "step_up" => self.outcomes.step_up += 1,
            _ => {}
        }
        let evaluated = rec.evaluated.as_deref().unwrap_or(outcome);
        if evaluated != "allow" && outcome == "allow" {
            match rec.mode.as_deref() {
                Some("warn") => self.would_deny.warn += 1,
                Some("log_only") => self.would_deny.log_only += 1,
                _ => {}
            }
        }
        let mut policy_failed = false;
        for r in &rec.reasons {
            if matches!(
                r.as_ref(),
                "policy_error" | "policy_undefined" | "policy_output_invalid"
            ) {
                policy_failed = true;
            }
            bump(&mut self.reasons, r);
        }
        self.policy_errors += u64::from(policy_failed);
        for r in &rec.policy_reasons {
            bump(&mut self.policy_reasons, r);
        }
        if let Some(s) = &rec.shadow {
            self.shadow.compared += 1;
            self.shadow.diverged += u64::from(s.diverged);
            if evaluated == "allow" && s.outcome != "allow" {
                self.shadow.candidate_denied_control_allowed += 1;
            }
        }
        let total = rec
            .timings_ns
            .as_ref()
            .and_then(|t| t.get("total").copied());
        if let Some(t) = &rec.timings_ns {
            for (i, stage) in STAGES.iter().enumerate() {
                if let (Some(v), Some(h)) = (t.get(*stage), self.stages.get_mut(i))
                    && *v > 0
                {
                    let _ = h.record((*v).min(MAX_NS));
                }
            }
        }
        if let Some(v) = total {
            let _ = self.total.record(v.clamp(1, MAX_NS));
        }
        if let Some(t) = at {
            self.from_ms = Some(self.from_ms.map_or(t, |f| f.min(t)));
            self.to_ms = Some(self.to_ms.map_or(t, |f| f.max(t)));
            let key = t / 3_600_000;
            if self.hours.len() < MAX_HOURS || self.hours.contains_key(&key) {
                let hour = self.hours.entry(key).or_default();
                hour.0 += 1;
                hour.1 += u64::from(denied);
            }
        }
        let input = rec.input.as_ref();
        if let Some(req) = input.and_then(|i| i.request.as_ref()) {
            self.route(&req.method, &req.path, denied, total);
        }
        if let (Some(subjects), Some(raw)) = (self.subjects.as_mut(), input.and_then(|i| i.subject))
            && let Ok(id) = serde_json::from_str::<SubjectId<'_>>(raw.get())
            && let (Some(sub), Some(iss)) = (id.id, id.issuer)
        {
            let grants = match (&rec.result, outcome) {
                (Some(out), "allow") => out.grants.iter().map(|g| g.as_ref()).collect(),
                _ => Vec::new(),
            };
            subjects.seen(&iss, &sub, raw.get(), &grants);
        }
    }

    fn route(&mut self, method: &str, path: &str, denied: bool, total_ns: Option<u64>) {
        let key = (clip(method, 16), clip(&fold_path(path), MAX_KEY));
        let key = if self.routes.len() >= MAX_ROUTES && !self.routes.contains_key(&key) {
            ("*".to_owned(), "(other)".to_owned())
        } else {
            key
        };
        let r = self.routes.entry(key).or_insert_with(|| Route {
            count: 0,
            deny: 0,
            latency: histogram(2),
        });
        r.count += 1;
        r.deny += u64::from(denied);
        if let (Some(v), Some(h)) = (total_ns, r.latency.as_mut()) {
            let _ = h.record(v.clamp(1, MAX_NS));
        }
    }

    /// The report, and the subjects for the least-privilege review when there is one.
    pub(super) fn finish(mut self) -> (Report, Option<Subjects>) {
        // Where some files are chained, every file must be: a file without its chain (its
        // hashes stripped) is not vouched for.
        if let (Some(c), Some(first)) = (self.chain.as_mut(), self.unchained.first()) {
            c.verified = false;
            c.error
                .get_or_insert_with(|| format!("{first}: not hash-chained, unlike the other logs"));
        }
        let n = self.decisions;
        let rate = |x: u64| if n == 0 { 0.0 } else { x as f64 / n as f64 };
        let mut shadow = self.shadow;
        shadow.false_positive_rate = if shadow.compared == 0 {
            0.0
        } else {
            shadow.candidate_denied_control_allowed as f64 / shadow.compared as f64
        };
        let mut routes: Vec<RouteStats> = self
            .routes
            .into_iter()
            .map(|((method, route), r)| RouteStats {
                method,
                route,
                count: r.count,
                deny_rate: if r.count == 0 {
                    0.0
                } else {
                    r.deny as f64 / r.count as f64
                },
                p95_us: r.latency.as_ref().map_or(0.0, |h| percentiles(h).p95),
            })
            .collect();
        routes.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| (&a.route, &a.method).cmp(&(&b.route, &b.method)))
        });
        routes.truncate(TOP);
        let span_h = match (self.from_ms, self.to_ms) {
            (Some(f), Some(t)) => (t - f) / 3_600_000,
            _ => 0,
        };
        let (bucket, buckets) = if span_h <= 72 {
            ("hour", buckets(&self.hours, 1))
        } else {
            ("day", buckets(&self.hours, 24))
        };
        let token_failures = top(self
            .reasons
            .iter()
            .filter(|(k, _)| k.parse::<Reason>().is_ok_and(Reason::rejects_token))
            .map(|(k, v)| (k.clone(), *v))
            .collect());
        let report = Report {
            decisions: n,
            window: Window {
                from: self.from_ms.map(crate::util::time::rfc3339),
                to: self.to_ms.map(crate::util::time::rfc3339),
            },
            outcomes: self.outcomes.clone(),
            deny_rate: rate(self.outcomes.deny),
            step_up_rate: rate(self.outcomes.step_up),
            policy_error_rate: rate(self.policy_errors),
            would_deny: self.would_deny,
            shadow,
            latency_us: percentiles(&self.total),
            latency_distribution: distribution(&self.total),
            stages_us: STAGES
                .iter()
                .zip(&self.stages)
                .filter(|(_, h)| !h.is_empty())
                .map(|(s, h)| ((*s).to_owned(), percentiles(h)))
                .collect(),
            reasons: top(self.reasons.into_iter().collect()),
            policy_reasons: top(self.policy_reasons.into_iter().collect()),
            token_failures,
            routes,
            bucket,
            buckets,
            events: self.events,
            damaged: self.damaged,
            damaged_lines: self.damaged_lines,
            chain: self.chain,
            least_privilege: None,
            files: self.files,
            lines: self.lines,
            elapsed_ms: 0,
        };
        (report, self.subjects)
    }
}

/// Longest route or code kept (longer ones are cut: a log line may be 16 MiB).
const MAX_KEY: usize = 256;

/// `s` cut to at most `max` bytes (at a character boundary).
pub(super) fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

fn bump(map: &mut HashMap<String, u64>, code: &str) {
    let code = &clip(code, MAX_KEY);
    if let Some(n) = map.get_mut(code) {
        *n += 1;
    } else if map.len() < MAX_CODES {
        map.insert(code.clone(), 1);
    } else {
        *map.entry("(other)".to_owned()).or_default() += 1;
    }
}

/// The `TOP` most frequent, ties by code.
fn top(mut v: Vec<(String, u64)>) -> Vec<Count> {
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter()
        .take(TOP)
        .map(|(code, count)| Count { code, count })
        .collect()
}

/// Distinct hours tallied (ten years); records in later new hours are left out of `buckets`.
const MAX_HOURS: usize = 87_840;
/// Buckets filled in between the first and the last; beyond, only those with records.
const MAX_FILLED: u64 = 3660;

/// Hours rolled up into buckets of `hours` hours, empty ones included between the first and
/// the last (when there are at most `MAX_FILLED`).
fn buckets(hours: &BTreeMap<u64, (u64, u64)>, hours_per: u64) -> Vec<Bucket> {
    let mut rolled: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (h, (d, x)) in hours {
        let e = rolled.entry(h / hours_per).or_default();
        e.0 += d;
        e.1 += x;
    }
    let (Some(first), Some(last)) = (
        rolled.keys().next().copied(),
        rolled.keys().next_back().copied(),
    ) else {
        return Vec::new();
    };
    let keys: Vec<u64> = if last - first < MAX_FILLED {
        (first..=last).collect()
    } else {
        rolled.keys().copied().collect()
    };
    keys.into_iter()
        .map(|b| {
            let (d, x) = rolled.get(&b).copied().unwrap_or_default();
            Bucket {
                start: crate::util::time::rfc3339(b * hours_per * 3_600_000),
                decisions: d,
                deny: x,
                deny_rate: if d == 0 { 0.0 } else { x as f64 / d as f64 },
            }
        })
        .collect()
}

/// Bounds of `latency_distribution`, microseconds.
const DISTRIBUTION_US: [u64; 13] = [
    2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 100_000,
];

/// Decisions per latency bucket (an empty histogram gives no buckets).
fn distribution(h: &Histogram<u64>) -> Vec<LatencyBucket> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(DISTRIBUTION_US.len() + 1);
    let mut below = 0u64;
    for le in DISTRIBUTION_US {
        let upto = h.count_between(0, le.saturating_mul(1000));
        out.push(LatencyBucket {
            le_us: Some(le as f64),
            count: upto.saturating_sub(below),
        });
        below = upto;
    }
    out.push(LatencyBucket {
        le_us: None,
        count: h.len().saturating_sub(below),
    });
    out
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        p50: us(h.value_at_quantile(0.50), h),
        p95: us(h.value_at_quantile(0.95), h),
        p99: us(h.value_at_quantile(0.99), h),
        max: us(h.max(), h),
    }
}

/// Nanoseconds as microseconds with one decimal (the histogram's equivalent value, so a
/// percentile never reads above the largest value recorded).
fn us(ns: u64, h: &Histogram<u64>) -> f64 {
    let v = h.highest_equivalent(ns).min(h.max());
    (v as f64 / 100.0).round() / 10.0
}

/// A path with its ids folded: numbers → `{n}`, UUIDs → `{uuid}`, hex strings of 16 or more
/// characters → `{hex}`; the query is dropped.
pub(super) fn fold_path(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let hex = seg.len() >= 16 && seg.bytes().all(|b| b.is_ascii_hexdigit());
        let uuid = seg.len() == 36
            && seg.bytes().enumerate().all(|(j, b)| {
                if matches!(j, 8 | 13 | 18 | 23) {
                    b == b'-'
                } else {
                    b.is_ascii_hexdigit()
                }
            });
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("{n}");
        } else if uuid {
            out.push_str("{uuid}");
        } else if hex {
            out.push_str("{hex}");
        } else {
            out.push_str(seg);
        }
    }
    out
}

/// RFC 3339 (`2026-12-07T08:00:00.123Z`, `+01:00` offsets, fractions) as Unix ms.
pub(super) fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match mo {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=12).contains(&mo) || !(1..=month_days).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = digits.parse().ok()?;
    }
    let offset_min = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6
            && matches!(tz.as_bytes().first(), Some(b'+' | b'-'))
            && tz.as_bytes().get(3) == Some(&b':') =>
        {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (oh * 60 + om)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y2, m2) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    u64::try_from(secs * 1000 + ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fold_ids() {
        assert_eq!(fold_path("/orders/42"), "/orders/{n}");
        assert_eq!(fold_path("/orders/42/items/7?x=1"), "/orders/{n}/items/{n}");
        assert_eq!(
            fold_path("/u/3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
            "/u/{uuid}"
        );
        assert_eq!(fold_path("/blobs/0123456789abcdef0"), "/blobs/{hex}");
        assert_eq!(fold_path("/v2/orders"), "/v2/orders");
        assert_eq!(fold_path("/"), "/");
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-12-07T08:00:00.123Z"),
            Some(1_796_630_400_123)
        );
        assert_eq!(
            parse_rfc3339("2026-12-07T09:00:00+01:00"),
            parse_rfc3339("2026-12-07T08:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2026-02-29T00:00:00Z"),
            None,
            "not a leap year"
        );
        assert!(parse_rfc3339("2028-02-29T00:00:00Z").is_some());
        assert_eq!(parse_rfc3339("2026-04-31T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-12-07"), None);
        assert_eq!(parse_rfc3339("2026-12-07T08:00:00"), None);
        assert_eq!(parse_rfc3339("2026-12-07T08:00:00+99x99"), None);
        assert_eq!(parse_rfc3339("2026-12-07T08:00:00+24:00"), None);
        // The same text as zt writes it.
        let t = 1_796_630_400_123;
        assert_eq!(parse_rfc3339(&crate::util::time::rfc3339(t)), Some(t));
    }
}
