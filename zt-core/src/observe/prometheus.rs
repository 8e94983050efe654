//! The Prometheus text exposition of a [`MetricsSnapshot`] (metric names start with `zt_`),
//! written with the `prometheus-client` crate.

use super::metrics::*;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

/// The snapshot in the text exposition format (empty if encoding fails).
pub(crate) fn encode(snapshot: &MetricsSnapshot) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(Exporter(snapshot.clone())));
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        out.clear();
    }
    out
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
        decisions(s, &mut encoder)?;
        settings(s, &mut encoder)?;
        revocations(s, &mut encoder)?;
        introspection_and_latency(s, &mut encoder)?;
        Ok(())
    }
}

/// Decision counters: outcomes, enforcement, reasons, shadow, caches, key sets, the log.
fn decisions(
    s: &MetricsSnapshot,
    encoder: &mut DescriptorEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    counter_family(
        encoder,
        "zt_decisions",
        "Decisions by evaluated outcome and whether it was enforced",
        s.evaluated.iter().map(|(o, n)| (vec![("outcome", *o)], *n)),
    )?;
    counter_family(
        encoder,
        "zt_unenforced_decisions",
        "Decisions whose evaluated outcome was not enforced (warn, log_only, canary)",
        [(vec![], s.unenforced)],
    )?;
    counter_family(
        encoder,
        "zt_warnings",
        "Decisions allowed only because of warn mode",
        [(vec![], s.warnings)],
    )?;
    counter_family(
        encoder,
        "zt_reasons",
        "Reason codes on decisions",
        s.by_reason.iter().map(|(r, n)| (vec![("reason", *r)], *n)),
    )?;
    counter_family(
        encoder,
        "zt_errors",
        "Decisions with an error reason",
        [(vec![], s.errors)],
    )?;
    counter_family(
        encoder,
        "zt_token_cache_lookups",
        "Verified-token cache lookups",
        [
            (vec![("result", "hit")], s.token_cache.hits),
            (vec![("result", "miss")], s.token_cache.misses),
        ],
    )?;
    counter_family(
        encoder,
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
        encoder,
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
        encoder,
        "zt_shadow_divergences",
        "Shadow candidate results that differ from the active policy",
        [
            (vec![("direction", "allow_to_deny")], s.shadow.allow_to_deny),
            (vec![("direction", "deny_to_allow")], s.shadow.deny_to_allow),
        ],
    )?;
    counter_family(
        encoder,
        "zt_decision_log_records",
        "Decision-log records by fate",
        [
            (vec![("state", "written")], s.decision_log.written),
            (vec![("state", "dropped")], s.decision_log.dropped),
            (vec![("state", "failed")], s.decision_log.failed),
        ],
    )?;
    counter_family(
        encoder,
        "zt_rollout_rollbacks",
        "Rollout candidates rolled back by the gate or aborted by an operator",
        [(vec![], s.rollout.rollbacks)],
    )?;
    counter_family(
        encoder,
        "zt_rollout_promotions",
        "Rollout candidates promoted to 100 %",
        [(vec![], s.rollout.promotions)],
    )?;
    Ok(())
}

/// Gauges of the settings in force, the bundle service and the decision-log upload.
fn settings(
    s: &MetricsSnapshot,
    encoder: &mut DescriptorEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    gauge_family(
        encoder,
        "zt_rollout_stage",
        "Current rollout stage, 1-based (0: no rollout in progress)",
        [(vec![], s.rollout.stage.map_or(0, |i| i as i64 + 1))],
    )?;
    gauge_family(
        encoder,
        "zt_rollout_candidate_percent",
        "Percent of subjects on the rollout candidate (0: shadow or none)",
        [(vec![], s.rollout.candidate_percent.unwrap_or(0) as i64)],
    )?;
    gauge_family(
        encoder,
        "zt_policy_indexed",
        "Whether decisions on the bundle go through the rule index (1) or evaluate every definition (0)",
        s.policy_index
            .iter()
            .map(|(b, i)| (vec![("bundle", *b)], i64::from(i.indexed))),
    )?;
    gauge_family(
        encoder,
        "zt_policy_index_programs",
        "Programs the bundle's rule index compiled (1 without an index)",
        s.policy_index
            .iter()
            .map(|(b, i)| (vec![("bundle", *b)], i.programs as i64)),
    )?;
    if let Some(e) = &s.enforcement {
        gauge_family(
            encoder,
            "zt_enforcement_mode",
            "The enforcement mode in force (1 for the current mode)",
            ["enforce", "warn", "log_only"]
                .map(|m| (vec![("mode", m)], i64::from(e.mode.as_str() == m))),
        )?;
        gauge_family(
            encoder,
            "zt_enforcement_canary_percent",
            "The enforcement canary percentage in force",
            [(vec![], e.canary_percent as i64)],
        )?;
    }
    if let Some(b) = &s.bundle_service {
        counter_family(
            encoder,
            "zt_bundle_polls",
            "Bundle server polls by result",
            [
                (vec![("result", "downloaded")], b.downloads),
                (vec![("result", "not_modified")], b.not_modified),
                (vec![("result", "error")], b.errors),
            ],
        )?;
        counter_family(
            encoder,
            "zt_bundle_download_bytes",
            "Bytes of bundles downloaded",
            [(vec![], b.download_bytes)],
        )?;
        gauge_family(
            encoder,
            "zt_bundle_last_success_timestamp_seconds",
            "When a poll of the bundle server last succeeded (Unix seconds; 0: never)",
            [(vec![], (b.last_success_ms / 1000) as i64)],
        )?;
    }
    if let Some(u) = &s.decision_log_upload {
        counter_family(
            encoder,
            "zt_decision_log_uploads",
            "Decision-log upload requests by result",
            [
                (vec![("result", "accepted")], u.batches_sent),
                (vec![("result", "retried")], u.retries),
                (vec![("result", "failed")], u.batches_failed),
            ],
        )?;
        counter_family(
            encoder,
            "zt_decision_log_upload_bytes",
            "Compressed decision-log bytes the collector accepted",
            [(vec![], u.bytes_sent)],
        )?;
        gauge_family(
            encoder,
            "zt_decision_log_upload_pending_batches",
            "Decision-log batches waiting for upload",
            [(vec![], u.pending_batches as i64)],
        )?;
        gauge_family(
            encoder,
            "zt_decision_log_last_upload_timestamp_seconds",
            "When the collector last accepted an upload (Unix seconds; 0: never)",
            [(vec![], (u.last_success_ms / 1000) as i64)],
        )?;
    }
    Ok(())
}

/// Revocation lists: sizes and ages.
fn revocations(
    s: &MetricsSnapshot,
    encoder: &mut DescriptorEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    let r = &s.revocations;
    gauge_family(
        encoder,
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
        encoder,
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
    Ok(())
}

/// Introspection counters and the latency histograms.
fn introspection_and_latency(
    s: &MetricsSnapshot,
    encoder: &mut DescriptorEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    if let Some(i) = &s.introspection {
        counter_family(
            encoder,
            "zt_introspection_calls",
            "Calls to the introspection endpoint by result",
            [
                (vec![("result", "ok")], i.calls.saturating_sub(i.failures)),
                (vec![("result", "failed")], i.failures),
            ],
        )?;
        counter_family(
            encoder,
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
            encoder,
            "zt_introspection_circuit_open",
            "1 while the introspection endpoint's circuit breaker is open",
            [(vec![], i64::from(i.circuit_open))],
        )?;
    }
    if let Some(r) = &s.dpop_replay_store {
        counter_family(
            encoder,
            "zt_dpop_replay_store_calls",
            "Calls to the shared DPoP replay store by result",
            [
                (vec![("result", "fresh")], r.fresh),
                (vec![("result", "replayed")], r.replayed),
                (vec![("result", "error")], r.errors),
            ],
        )?;
        counter_family(
            encoder,
            "zt_dpop_replay_store_unavailable",
            "DPoP requests decided without the store (it failed, or failed moments before), by what on_error did",
            [
                (vec![("action", "deny")], r.denied),
                (vec![("action", "local")], r.local_fallbacks),
            ],
        )?;
        counter_family(
            encoder,
            "zt_dpop_replay_store_skipped",
            "DPoP requests that did not call the store because it failed moments before",
            [(vec![], r.skipped)],
        )?;
        gauge_family(
            encoder,
            "zt_dpop_replay_store_up",
            "1 while the last call to the shared DPoP replay store succeeded",
            [(vec![], i64::from(r.up))],
        )?;
    }
    counter_family(
        encoder,
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
