//! Metrics: latency histograms per stage, counters by outcome and reason, cache hit rates,
//! key-set fetches, shadow divergences and dropped log records.
//!
//! Latencies go into HDR histograms (the `hdrhistogram` crate, 2 significant digits), sharded
//! by thread so the hot path takes one uncontended lock per decision and no global one.
//! Counters are atomics. [`Authorizer::metrics`](crate::Authorizer::metrics) returns a
//! [`MetricsSnapshot`] with p50/p95/p99 per stage; [`Authorizer::prometheus`] renders the
//! Prometheus text exposition format with the `prometheus-client` crate.
//!
//! [`Authorizer::prometheus`]: crate::Authorizer::prometheus

use crate::decision::{Outcome, Timings};
use crate::error::Reason;
use crate::log::DecisionLogStats;
use crate::token::TokenCacheStats;
use hdrhistogram::Histogram;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const SHARDS: usize = 8;
/// Stage names, in [`Timings`] order.
pub(crate) const STAGES: [&str; 6] = ["token", "posture", "input", "policy", "shadow", "total"];
/// Upper bounds (seconds) of the exported Prometheus histogram buckets.
const BUCKETS_S: [f64; 16] = [
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 0.1, 1.0,
    10.0,
];

type Hists = [Histogram<u64>; 6];

fn new_hists() -> Option<Hists> {
    let h = || Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 2).ok();
    Some([h()?, h()?, h()?, h()?, h()?, h()?])
}

fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// Live counters and histograms of one authorizer.
pub(crate) struct Metrics {
    shards: Vec<Mutex<Hists>>,
    evaluated: [AtomicU64; 3],
    outcome: [AtomicU64; 3],
    unenforced: AtomicU64,
    warnings: AtomicU64,
    reasons: Vec<AtomicU64>,
    shadow_evaluations: AtomicU64,
    shadow_allow_to_deny: AtomicU64,
    shadow_deny_to_allow: AtomicU64,
}

impl Metrics {
    pub(crate) fn new() -> Option<Self> {
        let mut shards = Vec::with_capacity(SHARDS);
        for _ in 0..SHARDS {
            shards.push(Mutex::new(new_hists()?));
        }
        Some(Self {
            shards,
            evaluated: Default::default(),
            outcome: Default::default(),
            unenforced: AtomicU64::new(0),
            warnings: AtomicU64::new(0),
            reasons: Reason::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            shadow_evaluations: AtomicU64::new(0),
            shadow_allow_to_deny: AtomicU64::new(0),
            shadow_deny_to_allow: AtomicU64::new(0),
        })
    }

    pub(crate) fn record(
        &self,
        evaluated: Outcome,
        outcome: Outcome,
        enforced: bool,
        warning: bool,
        reasons: &[Reason],
        t: &Timings,
    ) {
        let add = |c: Option<&AtomicU64>| {
            if let Some(c) = c {
                c.fetch_add(1, Ordering::Relaxed);
            }
        };
        add(self.evaluated.get(evaluated.index()));
        add(self.outcome.get(outcome.index()));
        if !enforced {
            self.unenforced.fetch_add(1, Ordering::Relaxed);
        }
        if warning {
            self.warnings.fetch_add(1, Ordering::Relaxed);
        }
        for r in reasons {
            add(self.reasons.get(r.index()));
        }
        if let Some(shard) = self.shards.get(shard_index()) {
            let mut h = shard.lock().unwrap_or_else(|p| p.into_inner());
            let values = [
                t.token_ns,
                t.posture_ns,
                t.input_ns,
                t.policy_ns,
                t.shadow_ns,
                t.total_ns,
            ];
            for (i, (hist, v)) in h.iter_mut().zip(values).enumerate() {
                // The shadow stage is recorded only when it ran.
                if i != 4 || v > 0 {
                    hist.saturating_record(v.max(1));
                }
            }
        }
    }

    pub(crate) fn record_shadow(&self, active_allows: bool, candidate_allows: bool) {
        self.shadow_evaluations.fetch_add(1, Ordering::Relaxed);
        match (active_allows, candidate_allows) {
            (true, false) => self.shadow_allow_to_deny.fetch_add(1, Ordering::Relaxed),
            (false, true) => self.shadow_deny_to_allow.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }

    fn merged(&self) -> Option<Hists> {
        let mut total = new_hists()?;
        for shard in &self.shards {
            let h = shard.lock().unwrap_or_else(|p| p.into_inner());
            for (t, s) in total.iter_mut().zip(h.iter()) {
                let _ = t.add(s);
            }
        }
        Some(total)
    }

    pub(crate) fn snapshot(
        &self,
        token_cache: TokenCacheStats,
        jwks: Vec<IssuerKeyStats>,
        decision_log: DecisionLogStats,
    ) -> MetricsSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let outcomes = |a: &[AtomicU64; 3]| {
            [Outcome::Allow, Outcome::Deny, Outcome::StepUp]
                .iter()
                .zip(a.iter())
                .map(|(o, c)| (o.as_str(), load(c)))
                .collect::<BTreeMap<_, _>>()
        };
        let by_reason = Reason::ALL
            .iter()
            .zip(self.reasons.iter())
            .map(|(r, c)| (r.as_str(), load(c)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let merged = self.merged();
        let latency = merged
            .as_ref()
            .map(|m| {
                STAGES
                    .iter()
                    .zip(m.iter())
                    .map(|(name, h)| (*name, LatencySummary::of(h)))
                    .collect()
            })
            .unwrap_or_default();
        let buckets = merged
            .as_ref()
            .map(|m| {
                STAGES
                    .iter()
                    .zip(m.iter())
                    .map(|(name, h)| (*name, PromHistogram::of(h)))
                    .collect()
            })
            .unwrap_or_default();
        let evaluated = outcomes(&self.evaluated);
        MetricsSnapshot {
            decisions: evaluated.values().sum(),
            evaluated,
            outcome: outcomes(&self.outcome),
            unenforced: load(&self.unenforced),
            warnings: load(&self.warnings),
            by_reason,
            errors: [
                Reason::PolicyError,
                Reason::InternalError,
                Reason::JwksUnavailable,
            ]
            .iter()
            .filter_map(|r| self.reasons.get(r.index()).map(load))
            .sum(),
            latency,
            token_cache,
            jwks,
            shadow: ShadowStats {
                evaluations: load(&self.shadow_evaluations),
                allow_to_deny: load(&self.shadow_allow_to_deny),
                deny_to_allow: load(&self.shadow_deny_to_allow),
            },
            decision_log,
            buckets,
        }
    }
}

/// Latency percentiles of one stage, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct LatencySummary {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50_ns: u64,
    /// 95th percentile.
    pub p95_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// Largest sample.
    pub max_ns: u64,
    /// Mean.
    pub mean_ns: f64,
}

impl LatencySummary {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50_ns: h.value_at_quantile(0.50),
            p95_ns: h.value_at_quantile(0.95),
            p99_ns: h.value_at_quantile(0.99),
            max_ns: h.max(),
            mean_ns: h.mean(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
struct PromHistogram {
    sum_s: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl PromHistogram {
    fn of(h: &Histogram<u64>) -> Self {
        let count = h.len();
        // Per-bucket (not cumulative) counts: the encoder accumulates them.
        let mut buckets: Vec<(f64, u64)> = BUCKETS_S
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .map(|b| (b, 0))
            .collect();
        for v in h.iter_recorded() {
            let secs = h.highest_equivalent(v.value_iterated_to()) as f64 / 1e9;
            if let Some((_, n)) = buckets.iter_mut().find(|(bound, _)| secs <= *bound) {
                *n += v.count_at_value();
            }
        }
        Self {
            sum_s: h.mean() * count as f64 / 1e9,
            count,
            buckets,
        }
    }
}

/// One issuer's key-set counters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct IssuerKeyStats {
    /// The issuer.
    pub issuer: String,
    /// Fetches started.
    pub fetches: u64,
    /// Fetches that failed.
    pub fetch_failures: u64,
    /// Key lookups answered from the cached key set.
    pub lookup_hits: u64,
    /// Key lookups that found no usable key.
    pub lookup_misses: u64,
}

/// Shadow-candidate counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ShadowStats {
    /// Inputs evaluated by the candidate.
    pub evaluations: u64,
    /// The active policy allowed, the candidate would deny.
    pub allow_to_deny: u64,
    /// The active policy denied, the candidate would allow.
    pub deny_to_allow: u64,
}

/// A point-in-time copy of an authorizer's metrics.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Decisions made.
    pub decisions: u64,
    /// Decisions by evaluated outcome (`allow`, `deny`, `step_up`).
    pub evaluated: BTreeMap<&'static str, u64>,
    /// Decisions by the outcome returned to the caller.
    pub outcome: BTreeMap<&'static str, u64>,
    /// Decisions whose evaluated outcome was not enforced (warn, log_only, outside the canary).
    pub unenforced: u64,
    /// Decisions allowed only because of `warn` mode.
    pub warnings: u64,
    /// Reason codes seen, with counts (codes never seen are left out).
    pub by_reason: BTreeMap<&'static str, u64>,
    /// Decisions with an error reason (`policy_error`, `internal_error`, `jwks_unavailable`).
    pub errors: u64,
    /// Latency per stage (`token`, `posture`, `input`, `policy`, `shadow`, `total`).
    pub latency: BTreeMap<&'static str, LatencySummary>,
    /// Verified-token cache counters.
    pub token_cache: TokenCacheStats,
    /// Key-set counters per issuer.
    pub jwks: Vec<IssuerKeyStats>,
    /// Shadow-candidate counters.
    pub shadow: ShadowStats,
    /// Decision-log counters (including dropped records).
    pub decision_log: DecisionLogStats,
    #[serde(skip)]
    buckets: BTreeMap<&'static str, PromHistogram>,
}

impl MetricsSnapshot {
    /// Verified-token cache hit rate in 0..=1 (0 when nothing was verified).
    pub fn token_cache_hit_rate(&self) -> f64 {
        let t = self.token_cache.hits + self.token_cache.misses;
        if t == 0 {
            0.0
        } else {
            self.token_cache.hits as f64 / t as f64
        }
    }

    /// Key-set lookup hit rate in 0..=1 over all issuers (0 when no lookup happened).
    pub fn jwks_hit_rate(&self) -> f64 {
        let hits: u64 = self.jwks.iter().map(|j| j.lookup_hits).sum();
        let misses: u64 = self.jwks.iter().map(|j| j.lookup_misses).sum();
        if hits + misses == 0 {
            0.0
        } else {
            hits as f64 / (hits + misses) as f64
        }
    }

    /// The Prometheus text exposition of this snapshot (metric names start with `zt_`).
    pub fn to_prometheus(&self) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(Exporter(self.clone())));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}

#[derive(Debug)]
struct Exporter(MetricsSnapshot);

fn counter_family<'a>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Vec<(&'a str, &'a str)>, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        let family = metric.encode_family(&labels)?;
        ConstCounter::new(v).encode(family)?;
    }
    Ok(())
}

impl prometheus_client::collector::Collector for Exporter {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        counter_family(
            &mut encoder,
            "zt_decisions",
            "Decisions by evaluated outcome and whether it was enforced",
            s.evaluated.iter().map(|(o, n)| (vec![("outcome", *o)], *n)),
        )?;
        counter_family(
            &mut encoder,
            "zt_unenforced_decisions",
            "Decisions whose evaluated outcome was not enforced (warn, log_only, canary)",
            [(vec![], s.unenforced)],
        )?;
        counter_family(
            &mut encoder,
            "zt_warnings",
            "Decisions allowed only because of warn mode",
            [(vec![], s.warnings)],
        )?;
        counter_family(
            &mut encoder,
            "zt_reasons",
            "Reason codes on decisions",
            s.by_reason.iter().map(|(r, n)| (vec![("reason", *r)], *n)),
        )?;
        counter_family(
            &mut encoder,
            "zt_errors",
            "Decisions with an error reason",
            [(vec![], s.errors)],
        )?;
        counter_family(
            &mut encoder,
            "zt_token_cache_lookups",
            "Verified-token cache lookups",
            [
                (vec![("result", "hit")], s.token_cache.hits),
                (vec![("result", "miss")], s.token_cache.misses),
            ],
        )?;
        counter_family(
            &mut encoder,
            "zt_jwks_fetches",
            "Key-set fetches by issuer and result",
            s.jwks.iter().flat_map(|j| {
                [
                    (
                        vec![("issuer", j.issuer.as_str()), ("result", "ok")],
                        j.fetches.saturating_sub(j.fetch_failures),
                    ),
                    (
                        vec![("issuer", j.issuer.as_str()), ("result", "error")],
                        j.fetch_failures,
                    ),
                ]
            }),
        )?;
        counter_family(
            &mut encoder,
            "zt_jwks_lookups",
            "Key lookups in the cached key sets",
            s.jwks.iter().flat_map(|j| {
                [
                    (
                        vec![("issuer", j.issuer.as_str()), ("result", "hit")],
                        j.lookup_hits,
                    ),
                    (
                        vec![("issuer", j.issuer.as_str()), ("result", "miss")],
                        j.lookup_misses,
                    ),
                ]
            }),
        )?;
        counter_family(
            &mut encoder,
            "zt_shadow_divergences",
            "Shadow candidate results that differ from the active policy",
            [
                (vec![("direction", "allow_to_deny")], s.shadow.allow_to_deny),
                (vec![("direction", "deny_to_allow")], s.shadow.deny_to_allow),
            ],
        )?;
        counter_family(
            &mut encoder,
            "zt_decision_log_records",
            "Decision-log records by fate",
            [
                (vec![("state", "written")], s.decision_log.written),
                (vec![("state", "dropped")], s.decision_log.dropped),
                (vec![("state", "failed")], s.decision_log.failed),
            ],
        )?;
        let mut metric = encoder.encode_descriptor(
            "zt_stage_duration_seconds",
            "Time spent per decision stage",
            None,
            MetricType::Histogram,
        )?;
        for (stage, h) in &s.buckets {
            let labels = [("stage", *stage)];
            let mut family = metric.encode_family(&labels)?;
            family.encode_histogram::<NoLabelSet>(h.sum_s, h.count, &h.buckets, None)?;
        }
        Ok(())
    }
}
