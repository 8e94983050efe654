//! Metrics: latency histograms per stage, counters by outcome and reason, cache hit rates,
//! key-set fetches, shadow divergences and dropped log records.
//!
//! Latencies go into HDR histograms (the `hdrhistogram` crate, 2 significant digits), sharded
//! by thread so the hot path takes one uncontended lock per decision and no global one; the
//! counters live in the same shards. [`Authorizer::metrics`](crate::Authorizer::metrics) returns a
//! [`MetricsSnapshot`] with p50/p95/p99 per stage; [`Authorizer::prometheus`] renders the
//! Prometheus text exposition format with the `prometheus-client` crate.
//!
//! [`Authorizer::prometheus`]: crate::Authorizer::prometheus

use crate::codes::Outcome;
use crate::codes::Reason;
use crate::decision::Timings;
use crate::log::DecisionLogStats;
use crate::token::TokenCacheStats;
use crate::util::counters::{Padded, SHARDS, shard_index};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::Mutex;

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

/// One thread shard: histograms and counters, behind one lock taken once per decision (by
/// the threads that share the shard, and by snapshots).
struct Shard {
    hists: Hists,
    evaluated: [u64; 3],
    outcome: [u64; 3],
    unenforced: u64,
    warnings: u64,
    reasons: Vec<u64>,
    shadow_evaluations: u64,
    shadow_allow_to_deny: u64,
    shadow_deny_to_allow: u64,
}

impl Shard {
    /// Empty histograms and zero counters (`None` when a histogram cannot be allocated).
    fn empty() -> Option<Self> {
        Some(Self {
            hists: new_hists()?,
            evaluated: [0; 3],
            outcome: [0; 3],
            unenforced: 0,
            warnings: 0,
            reasons: vec![0; Reason::ALL.len()],
            shadow_evaluations: 0,
            shadow_allow_to_deny: 0,
            shadow_deny_to_allow: 0,
        })
    }
}

/// Live counters and histograms of one authorizer.
pub(crate) struct Metrics {
    shards: Vec<Padded<Mutex<Shard>>>,
}

impl Metrics {
    pub(crate) fn new() -> Option<Self> {
        let mut shards = Vec::with_capacity(SHARDS);
        for _ in 0..SHARDS {
            shards.push(Padded(Mutex::new(Shard::empty()?)));
        }
        Some(Self { shards })
    }

    fn with_shard(&self, f: impl FnOnce(&mut Shard)) {
        if let Some(shard) = self.shards.get(shard_index()) {
            f(&mut shard.0.lock().unwrap_or_else(|p| p.into_inner()));
        }
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
        self.with_shard(|s| {
            let add = |c: Option<&mut u64>| {
                if let Some(c) = c {
                    *c += 1;
                }
            };
            add(s.evaluated.get_mut(evaluated.index()));
            add(s.outcome.get_mut(outcome.index()));
            s.unenforced += u64::from(!enforced);
            s.warnings += u64::from(warning);
            for r in reasons {
                add(s.reasons.get_mut(r.index()));
            }
            let values = [
                t.token_ns,
                t.posture_ns,
                t.input_ns,
                t.policy_ns,
                t.shadow_ns,
                t.total_ns,
            ];
            for (i, (hist, v)) in s.hists.iter_mut().zip(values).enumerate() {
                // The shadow stage is recorded only when it ran.
                if i != 4 || v > 0 {
                    hist.saturating_record(v.max(1));
                }
            }
        });
    }

    pub(crate) fn record_shadow(&self, active_allows: bool, candidate_allows: bool) {
        self.with_shard(|s| {
            s.shadow_evaluations += 1;
            match (active_allows, candidate_allows) {
                (true, false) => s.shadow_allow_to_deny += 1,
                (false, true) => s.shadow_deny_to_allow += 1,
                _ => {}
            }
        });
    }

    /// All shards added up: histograms and counters.
    fn merged(&self) -> Option<Shard> {
        let mut total = Shard::empty()?;
        for shard in &self.shards {
            let s = shard.0.lock().unwrap_or_else(|p| p.into_inner());
            for (t, h) in total.hists.iter_mut().zip(s.hists.iter()) {
                let _ = t.add(h);
            }
            let sum = |t: &mut [u64], s: &[u64]| t.iter_mut().zip(s).for_each(|(t, s)| *t += s);
            sum(&mut total.evaluated, &s.evaluated);
            sum(&mut total.outcome, &s.outcome);
            sum(&mut total.reasons, &s.reasons);
            total.unenforced += s.unenforced;
            total.warnings += s.warnings;
            total.shadow_evaluations += s.shadow_evaluations;
            total.shadow_allow_to_deny += s.shadow_allow_to_deny;
            total.shadow_deny_to_allow += s.shadow_deny_to_allow;
        }
        Some(total)
    }
    /// What the recorder counted, as plain data (the rest of a snapshot comes from the stages,
    /// see `observe::snapshot`).
    pub(crate) fn recorded(&self) -> Recorded {
        let Some(m) = self.merged() else {
            return Recorded::default();
        };
        let outcomes = |a: &[u64; 3]| {
            [Outcome::Allow, Outcome::Deny, Outcome::StepUp]
                .iter()
                .zip(a.iter())
                .map(|(o, c)| (o.as_str(), *c))
                .collect::<BTreeMap<_, _>>()
        };
        let by_reason = Reason::ALL
            .iter()
            .zip(m.reasons.iter())
            .map(|(r, c)| (r.as_str(), *c))
            .filter(|(_, n)| *n > 0)
            .collect();
        let latency = STAGES
            .iter()
            .zip(m.hists.iter())
            .map(|(name, h)| (*name, LatencySummary::of(h)))
            .collect();
        let buckets = STAGES
            .iter()
            .zip(m.hists.iter())
            .map(|(name, h)| (*name, PromHistogram::of(h)))
            .collect();
        let evaluated = outcomes(&m.evaluated);
        Recorded {
            decisions: evaluated.values().sum(),
            evaluated,
            outcome: outcomes(&m.outcome),
            unenforced: m.unenforced,
            warnings: m.warnings,
            by_reason,
            errors: [
                Reason::PolicyError,
                Reason::InternalError,
                Reason::JwksUnavailable,
                Reason::IntrospectionUnavailable,
            ]
            .iter()
            .filter_map(|r| m.reasons.get(r.index()).copied())
            .sum(),
            latency,
            shadow: ShadowStats {
                evaluations: m.shadow_evaluations,
                allow_to_deny: m.shadow_allow_to_deny,
                deny_to_allow: m.shadow_deny_to_allow,
            },
            buckets,
        }
    }
}

/// The recorder's part of a [`MetricsSnapshot`].
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    pub(crate) decisions: u64,
    pub(crate) evaluated: BTreeMap<&'static str, u64>,
    pub(crate) outcome: BTreeMap<&'static str, u64>,
    pub(crate) unenforced: u64,
    pub(crate) warnings: u64,
    pub(crate) by_reason: BTreeMap<&'static str, u64>,
    pub(crate) errors: u64,
    pub(crate) latency: BTreeMap<&'static str, LatencySummary>,
    pub(crate) shadow: ShadowStats,
    pub(crate) buckets: BTreeMap<&'static str, PromHistogram>,
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
pub(crate) struct PromHistogram {
    pub(crate) sum_s: f64,
    pub(crate) count: u64,
    pub(crate) buckets: Vec<(f64, u64)>,
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
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
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
    /// Decisions with an error reason (`policy_error`, `internal_error`, `jwks_unavailable`,
    /// `introspection_unavailable`).
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
    /// The rollout gate.
    pub rollout: crate::policy::RolloutStatus,
    /// The enforcement settings in force (filled by the authorizer).
    pub enforcement: Option<crate::enforcement::EnforcementStatus>,
    /// Times the enforcement override file was refused (it did not parse).
    pub enforcement_override_file_errors: u64,
    /// The bundle server's poller, with `policy.service`.
    pub bundle_service: Option<crate::policy::BundleServiceStatus>,
    /// The decision-log upload, with `decision_log.sink = "service"`.
    pub decision_log_upload: Option<crate::log::UploadStatus>,
    /// Revocation lists (in process and the active bundle's `data.zt.revoked`).
    pub revocations: crate::revocation::RevocationStats,
    /// Token introspection, with an issuer's `introspection`.
    pub introspection: Option<crate::token::IntrospectionStats>,
    /// The DPoP replay store shared between instances, with `[dpop.replay_store]`.
    pub dpop_replay_store: Option<crate::dpop::ReplayStoreStats>,
    /// The rule index of the active bundle and of the shadow candidate, by `"active"` /
    /// `"shadow"`.
    pub policy_index: BTreeMap<&'static str, crate::policy::PolicyIndex>,
    /// When the snapshot was taken (Unix ms, authorizer clock), for the ages below.
    #[serde(skip)]
    pub(crate) now_ms: u64,
    #[serde(skip)]
    pub(crate) buckets: BTreeMap<&'static str, PromHistogram>,
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
        super::prometheus::encode(self)
    }
}
