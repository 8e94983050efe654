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
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
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
    pub(crate) fn snapshot(
        &self,
        token_cache: TokenCacheStats,
        jwks: Vec<IssuerKeyStats>,
        decision_log: DecisionLogStats,
    ) -> MetricsSnapshot {
        let Some(m) = self.merged() else {
            return MetricsSnapshot {
                token_cache,
                jwks,
                decision_log,
                ..MetricsSnapshot::default()
            };
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
        MetricsSnapshot {
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
            token_cache,
            jwks,
            shadow: ShadowStats {
                evaluations: m.shadow_evaluations,
                allow_to_deny: m.shadow_allow_to_deny,
                deny_to_allow: m.shadow_deny_to_allow,
            },
            decision_log,
            buckets,
            ..MetricsSnapshot::default()
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
    pub decision_log_upload: Option<crate::upload::UploadStatus>,
    /// Revocation lists (in process and the active bundle's `data.zt.revoked`).
    pub revocations: crate::status::RevocationStats,
    /// Token introspection, with an issuer's `introspection`.
    pub introspection: Option<crate::token::IntrospectionStats>,
    /// When the snapshot was taken (Unix ms, authorizer clock), for the ages below.
    #[serde(skip)]
    pub(crate) now_ms: u64,
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

fn gauge_family<'a>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Vec<(&'a str, &'a str)>, i64)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        let family = metric.encode_family(&labels)?;
        prometheus_client::metrics::gauge::ConstGauge::new(v).encode(family)?;
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
        counter_family(
            &mut encoder,
            "zt_rollout_rollbacks",
            "Rollout candidates rolled back by the gate or aborted by an operator",
            [(vec![], s.rollout.rollbacks)],
        )?;
        counter_family(
            &mut encoder,
            "zt_rollout_promotions",
            "Rollout candidates promoted to 100 %",
            [(vec![], s.rollout.promotions)],
        )?;
        gauge_family(
            &mut encoder,
            "zt_rollout_stage",
            "Current rollout stage, 1-based (0: no rollout in progress)",
            [(vec![], s.rollout.stage.map_or(0, |i| i as i64 + 1))],
        )?;
        gauge_family(
            &mut encoder,
            "zt_rollout_candidate_percent",
            "Percent of subjects on the rollout candidate (0: shadow or none)",
            [(vec![], s.rollout.candidate_percent.unwrap_or(0) as i64)],
        )?;
        if let Some(e) = &s.enforcement {
            gauge_family(
                &mut encoder,
                "zt_enforcement_mode",
                "The enforcement mode in force (1 for the current mode)",
                ["enforce", "warn", "log_only"]
                    .map(|m| (vec![("mode", m)], i64::from(e.mode.as_str() == m))),
            )?;
            gauge_family(
                &mut encoder,
                "zt_enforcement_canary_percent",
                "The enforcement canary percentage in force",
                [(vec![], e.canary_percent as i64)],
            )?;
        }
        if let Some(b) = &s.bundle_service {
            counter_family(
                &mut encoder,
                "zt_bundle_polls",
                "Bundle server polls by result",
                [
                    (vec![("result", "downloaded")], b.downloads),
                    (vec![("result", "not_modified")], b.not_modified),
                    (vec![("result", "error")], b.errors),
                ],
            )?;
            counter_family(
                &mut encoder,
                "zt_bundle_download_bytes",
                "Bytes of bundles downloaded",
                [(vec![], b.download_bytes)],
            )?;
            gauge_family(
                &mut encoder,
                "zt_bundle_last_success_timestamp_seconds",
                "When a poll of the bundle server last succeeded (Unix seconds; 0: never)",
                [(vec![], (b.last_success_ms / 1000) as i64)],
            )?;
        }
        if let Some(u) = &s.decision_log_upload {
            counter_family(
                &mut encoder,
                "zt_decision_log_uploads",
                "Decision-log upload requests by result",
                [
                    (vec![("result", "accepted")], u.batches_sent),
                    (vec![("result", "retried")], u.retries),
                    (vec![("result", "failed")], u.batches_failed),
                ],
            )?;
            counter_family(
                &mut encoder,
                "zt_decision_log_upload_bytes",
                "Compressed decision-log bytes the collector accepted",
                [(vec![], u.bytes_sent)],
            )?;
            gauge_family(
                &mut encoder,
                "zt_decision_log_upload_pending_batches",
                "Decision-log batches waiting for upload",
                [(vec![], u.pending_batches as i64)],
            )?;
            gauge_family(
                &mut encoder,
                "zt_decision_log_last_upload_timestamp_seconds",
                "When the collector last accepted an upload (Unix seconds; 0: never)",
                [(vec![], (u.last_success_ms / 1000) as i64)],
            )?;
        }
        let r = &s.revocations;
        gauge_family(
            &mut encoder,
            "zt_revocations",
            "Revoked token ids and subjects, by source",
            [
                (
                    vec![("source", "api"), ("kind", "token_id")],
                    r.token_ids as i64,
                ),
                (
                    vec![("source", "api"), ("kind", "subject")],
                    r.subjects as i64,
                ),
                (
                    vec![("source", "bundle"), ("kind", "token_id")],
                    r.bundle_token_ids as i64,
                ),
                (
                    vec![("source", "bundle"), ("kind", "subject")],
                    r.bundle_subjects as i64,
                ),
                (
                    vec![("source", "feed"), ("kind", "token_id")],
                    r.feed_token_ids as i64,
                ),
                (
                    vec![("source", "feed"), ("kind", "subject")],
                    r.feed_subjects as i64,
                ),
            ],
        )?;
        let age = |at: u64| {
            if at == 0 {
                0
            } else {
                (s.now_ms.saturating_sub(at) / 1000) as i64
            }
        };
        gauge_family(
            &mut encoder,
            "zt_revocation_list_age_seconds",
            "Seconds since a revocation list last changed (0: never set)",
            [
                (vec![("source", "api")], age(r.updated_at_ms)),
                (vec![("source", "bundle")], age(r.bundle_activated_at_ms)),
                // The feed's time is the system clock's, whatever the authorizer's clock.
                (
                    vec![("source", "feed")],
                    if r.feed_updated_at_ms == 0 {
                        0
                    } else {
                        (crate::util::clock::Clock::now_unix_ms(&crate::util::clock::SystemClock)
                            .saturating_sub(r.feed_updated_at_ms)
                            / 1000) as i64
                    },
                ),
            ],
        )?;
        if let Some(i) = &s.introspection {
            counter_family(
                &mut encoder,
                "zt_introspection_calls",
                "Calls to the introspection endpoint by result",
                [
                    (vec![("result", "ok")], i.calls.saturating_sub(i.failures)),
                    (vec![("result", "failed")], i.failures),
                ],
            )?;
            counter_family(
                &mut encoder,
                "zt_introspection_lookups",
                "Opaque-token lookups not sent to the endpoint, by why",
                [
                    (vec![("result", "cache_hit")], i.cache_hits),
                    (vec![("result", "shared")], i.shared),
                    (vec![("result", "rate_limited")], i.rate_limited),
                    (vec![("result", "circuit_open")], i.circuit_refused),
                ],
            )?;
            gauge_family(
                &mut encoder,
                "zt_introspection_circuit_open",
                "1 while the introspection endpoint's circuit breaker is open",
                [(vec![], i64::from(i.circuit_open))],
            )?;
        }
        counter_family(
            &mut encoder,
            "zt_enforcement_override_file_errors",
            "Times the enforcement override file was refused",
            [(vec![], s.enforcement_override_file_errors)],
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
