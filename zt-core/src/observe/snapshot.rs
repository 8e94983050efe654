//! The one snapshot builder. The authorizer hands over its stages ([`Sources`]); each stage
//! answers with plain data, gathered here once, and every view is cut from the same parts:
//! [`Sources::metrics`] (which Prometheus renders) and [`Sources::status`].

use super::metrics::{IssuerKeyStats, Metrics, MetricsSnapshot};
use super::status::{AuthorizerStatus, DecisionLogStatus, IssuerStatus, PolicyStatus};
use crate::config::DecisionLogSink;
use crate::enforcement::EnforcementStatus;
use crate::log::Logger;
use crate::policy::{BundleServiceStatus, PolicyStore};
use crate::revocation::{RevocationFeedStatus, RevocationStats};
use crate::token::TokenVerifier;
use std::path::PathBuf;

/// The stages of one authorizer, and the small facts only the authorizer knows.
pub(crate) struct Sources<'a> {
    /// Now (Unix ms, authorizer clock).
    pub(crate) now_ms: u64,
    pub(crate) verifier: &'a TokenVerifier,
    pub(crate) recorder: &'a Metrics,
    pub(crate) logger: &'a Logger,
    pub(crate) log_sink: DecisionLogSink,
    pub(crate) log_capacity: u64,
    pub(crate) policy: &'a PolicyStore,
    pub(crate) bundle_source: Option<PathBuf>,
    pub(crate) bundle_service: Option<BundleServiceStatus>,
    pub(crate) enforcement: EnforcementStatus,
    pub(crate) override_file_errors: u64,
    pub(crate) revocations: RevocationStats,
    pub(crate) revocation_feed: Option<RevocationFeedStatus>,
    pub(crate) replay_store: Option<crate::dpop::ReplayStoreStats>,
    pub(crate) status_service: Option<super::status_upload::StatusUploadStatus>,
}

impl Sources<'_> {
    /// The metrics snapshot: the recorder's counters and histograms and every stage's stats.
    pub(crate) fn metrics(self) -> MetricsSnapshot {
        let v = self.verifier;
        let jwks = v
            .issuers()
            .into_iter()
            .filter_map(|issuer| {
                let s = v.jwks_status(&issuer)?;
                Some(IssuerKeyStats {
                    issuer,
                    fetches: s.fetches,
                    fetch_failures: s.fetch_failures,
                    lookup_hits: s.lookup_hits,
                    lookup_misses: s.lookup_misses,
                })
            })
            .collect();
        let r = self.recorder.recorded();
        MetricsSnapshot {
            decisions: r.decisions,
            evaluated: r.evaluated,
            outcome: r.outcome,
            unenforced: r.unenforced,
            warnings: r.warnings,
            by_reason: r.by_reason,
            errors: r.errors,
            latency: r.latency,
            token_cache: v.cache_stats(),
            jwks,
            shadow: r.shadow,
            decision_log: self.logger.stats(),
            rollout: self.policy.rollout_status(),
            enforcement: Some(self.enforcement),
            enforcement_override_file_errors: self.override_file_errors,
            bundle_service: self.bundle_service,
            decision_log_upload: self.logger.upload_status(),
            revocations: self.revocations,
            introspection: v.introspection_stats(),
            dpop_replay_store: self.replay_store,
            policy_index: self.policy.indexes().into_iter().collect(),
            now_ms: self.now_ms,
            buckets: r.buckets,
        }
    }

    /// What an operator's health check reads (see [`Authorizer::status`](crate::Authorizer::status)).
    pub(crate) fn status(self) -> AuthorizerStatus {
        let now = self.now_ms;
        let v = self.verifier;
        let issuers: Vec<IssuerStatus> = v
            .issuers()
            .into_iter()
            .map(|issuer| {
                let f = v.key_freshness(&issuer);
                // HMAC issuers have no key set: their secret is always usable.
                let has_source = f.is_some();
                let f = f.unwrap_or_default();
                let s = v.jwks_status(&issuer);
                IssuerStatus {
                    usable: !has_source
                        || (f.keys > 0 && f.usable_until_ms.is_none_or(|u| now <= u)),
                    issuer,
                    keys: f.keys,
                    fetched_at_ms: f.fetched_at_ms,
                    fresh_until_ms: f.fresh_until_ms,
                    usable_until_ms: f.usable_until_ms,
                    last_error: s
                        .as_ref()
                        .and_then(|s| s.last_error.as_ref())
                        .map(|e| e.code()),
                    fetches: s.as_ref().map_or(0, |s| s.fetches),
                    fetch_failures: s.as_ref().map_or(0, |s| s.fetch_failures),
                }
            })
            .collect();
        let log = self.logger.stats();
        let decision_log = DecisionLogStatus {
            sink: self.log_sink,
            queue_capacity: self.log_capacity,
            queued: log
                .enqueued
                .saturating_sub(log.written + log.failed + log.dropped),
            stats: log,
            upload: self.logger.upload_status(),
        };
        let policy = self.policy;
        AuthorizerStatus {
            ready: issuers.iter().all(|i| i.usable) && !self.logger.closed(),
            policy: PolicyStatus {
                revision: policy.active_revision(),
                source: self.bundle_source,
                activated_at_ms: policy.activated_at_ms(),
                revisions: policy.revisions(),
                rollout: policy.rollout_status(),
                service: self.bundle_service,
                index: policy.active().index().clone(),
            },
            issuers,
            decision_log,
            enforcement: self.enforcement,
            revocations: self.revocations,
            revocation_feed: self.revocation_feed,
            introspection: v.introspection_stats(),
            dpop_replay_store: self.replay_store,
            status_service: self.status_service,
        }
    }
}
