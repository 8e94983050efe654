//! The operator's surface: revocation, enforcement mode and canary, rollout, status,
//! metrics, flush and shutdown.

use super::{Authorizer, ShutdownReport};
use crate::codes::EnforcementMode;
use crate::enforcement::{EnforcementOverride, EnforcementStatus};
use crate::observe::metrics::MetricsSnapshot;
use crate::observe::snapshot::Sources;
use crate::policy::RolloutStatus;
use crate::revocation::{Edit, RevocationStats};
use std::sync::atomic::Ordering;

impl Authorizer {
    /// Revoke a token by its `jti`: every later decision on a token with this id is a deny
    /// (`token_revoked`), and cached verifications are dropped.
    pub fn revoke_token_id(&self, jti: &str) {
        self.edit_revocations(Edit::RevokeTokenId(jti));
    }

    /// Revoke every token of a subject from an issuer (`subject_revoked`).
    pub fn revoke_subject(&self, issuer: &str, subject: &str) {
        self.edit_revocations(Edit::RevokeSubject(issuer, subject));
    }

    /// Lift a `jti` revocation.
    pub fn unrevoke_token_id(&self, jti: &str) {
        self.edit_revocations(Edit::UnrevokeTokenId(jti));
    }

    /// Lift a subject revocation.
    pub fn unrevoke_subject(&self, issuer: &str, subject: &str) {
        self.edit_revocations(Edit::UnrevokeSubject(issuer, subject));
    }

    fn edit_revocations(&self, edit: Edit<'_>) {
        let inner = &*self.inner;
        inner.revocations.edit(edit, inner.clock.now_unix_ms());
        inner.verifier.clear_signed_cache();
    }

    /// Switch the enforcement mode at runtime, for every later decision (each decision is
    /// decided under one mode and records it). This is the operator's override: it wins over
    /// the active bundle's `data.zt.enforcement`, which wins over `[enforcement]` in the
    /// config; `enforcement.override_file` writes the same override when its content changes
    /// (the later of the two wins). [`Authorizer::clear_enforcement_override`] lifts it.
    ///
    /// ```
    /// # use zt_core::{Authorizer, AuthorizerConfig, EnforcementMode, EnforcementSource, Request};
    /// # let config = AuthorizerConfig::from_toml_str(r#"
    /// #     [[issuers]]
    /// #     issuer = "https://idp.example.com"
    /// #     audiences = ["api"]
    /// #     algorithms = ["ES256"]
    /// #     jwks = { keys = [{ kty = "EC", kid = "k1", crv = "P-256",
    /// #              x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    /// #              y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
    /// #     [decision_log]
    /// #     sink = "none"
    /// # "#)?;
    /// let authz = Authorizer::builder(config)
    ///     .policy_files(vec![("a.rego".into(), b"package zt.authz\ndecision := false".to_vec())])
    ///     .build()?;
    /// authz.set_mode(EnforcementMode::LogOnly);
    /// let d = authz.authorize_sync(&Request::new("GET", "/"));
    /// assert!(d.is_allowed()); // missing token: would deny, logged only
    /// assert_eq!(authz.enforcement().mode_source, EnforcementSource::Override);
    /// authz.clear_enforcement_override();
    /// assert!(!authz.authorize_sync(&Request::new("GET", "/")).is_allowed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_mode(&self, mode: EnforcementMode) {
        self.inner.enforcement.edit(|o| o.mode = Some(mode));
    }

    /// Set the enforcement canary percentage at runtime (the operator's override, like
    /// [`Authorizer::set_mode`]). More than 100 is an error that names the range.
    pub fn set_canary_percent(&self, percent: u64) -> Result<(), crate::error::ConfigError> {
        if percent > 100 {
            return Err(crate::error::ConfigError::OutOfRange {
                file: None,
                key: "enforcement.canary_percent".to_owned(),
                value: percent,
                min: 0,
                max: 100,
            });
        }
        self.inner
            .enforcement
            .edit(|o| o.canary_percent = Some(percent));
        Ok(())
    }

    /// Lift the operator's override: the bundle's `data.zt.enforcement` and the config apply
    /// again (until the override file changes).
    pub fn clear_enforcement_override(&self) {
        self.inner
            .enforcement
            .edit(|o| *o = EnforcementOverride::default());
    }

    /// The enforcement settings in force, and where each comes from.
    pub fn enforcement(&self) -> EnforcementStatus {
        self.inner
            .enforcement
            .status(self.inner.policy.active_enforcement())
    }

    /// The rollout gate's state (also in [`Authorizer::metrics`]).
    pub fn rollout(&self) -> RolloutStatus {
        self.inner.policy.rollout_status()
    }

    /// Wait until every decision-log record queued so far is written.
    pub fn flush(&self) {
        self.log_rollout_events(self.inner.clock.now_unix_ms());
        self.inner.logger.flush();
    }

    /// Stop the background work explicitly, without relying on `Drop` (a binding's garbage
    /// collector, or a host holding a lock a log callback needs, must not deadlock): stop
    /// taking decision-log records, write what is queued and stop the log writer, waiting at
    /// most `timeout`, and stop key fetches. Returns what the log did.
    ///
    /// The authorizer keeps deciding afterwards (from cached keys; an unknown `kid` is
    /// `unknown_key`), but records are no longer logged: they are counted as dropped. When the
    /// timeout passes first, the writer drops what is still queued as soon as its sink returns
    /// and is not waited for; the report says so. Idempotent.
    ///
    /// ```
    /// # use zt_core::{Authorizer, AuthorizerConfig, Request};
    /// # let config = AuthorizerConfig::from_toml_str(r#"
    /// #     [[issuers]]
    /// #     issuer = "https://idp.example.com"
    /// #     audiences = ["api"]
    /// #     algorithms = ["ES256"]
    /// #     jwks = { keys = [{ kty = "EC", kid = "k1", crv = "P-256",
    /// #              x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    /// #              y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
    /// #     [decision_log]
    /// #     sink = "callback"
    /// # "#)?;
    /// let authz = Authorizer::builder(config)
    ///     .policy_files(vec![("a.rego".into(), b"package zt.authz\ndecision := true".to_vec())])
    ///     .log_callback(|_record| {})
    ///     .build()?;
    /// authz.authorize_sync(&Request::new("GET", "/"));
    /// let report = authz.shutdown(std::time::Duration::from_secs(5));
    /// assert!(report.completed);
    /// assert_eq!(report.decision_log.written, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&self, timeout: std::time::Duration) -> ShutdownReport {
        let inner = &*self.inner;
        if let Some(w) = &inner.override_watcher {
            w.stop();
        }
        self.log_rollout_events(inner.clock.now_unix_ms());
        if let Some(s) = &inner.bundle_service {
            s.stop();
        }
        if let Some(s) = &inner.status_uploader {
            s.stop();
        }
        inner.revocations.stop();
        let completed = inner.logger.shutdown(timeout);
        inner.verifier.shutdown();
        let log = inner.logger.stats();
        ShutdownReport {
            completed,
            abandoned: log
                .enqueued
                .saturating_sub(log.written + log.failed + log.dropped),
            decision_log: log,
        }
    }

    /// What an operator's health check needs: the policy (revision, source, activation time,
    /// rollout), key-set freshness per issuer, the decision log's queue, the enforcement in
    /// force and the revocation lists. `ready` is false while an issuer has no usable keys
    /// or the decision log no longer takes records.
    pub fn status(&self) -> crate::observe::status::AuthorizerStatus {
        self.sources().status()
    }

    /// Every stage of this authorizer, for the one snapshot builder in `observe`.
    fn sources(&self) -> Sources<'_> {
        let inner = &*self.inner;
        Sources {
            now_ms: inner.clock.now_unix_ms(),
            verifier: &inner.verifier,
            recorder: &inner.metrics,
            logger: &inner.logger,
            log_sink: inner.log_sink,
            log_capacity: inner.log_capacity,
            policy: &inner.policy,
            bundle_source: inner.bundle_source.clone(),
            bundle_service: self.bundle_service_status(),
            enforcement: self.enforcement(),
            override_file_errors: inner.enforcement.file_errors.load(Ordering::Relaxed),
            revocations: self.revocation_stats(),
            revocation_feed: inner.revocations.feed_status(),
            replay_store: inner.dpop.store.as_ref().map(|s| s.stats()),
            status_service: inner.status_uploader.as_ref().map(|s| s.status()),
        }
    }

    fn bundle_service_status(&self) -> Option<crate::policy::BundleServiceStatus> {
        self.inner
            .bundle_service
            .as_ref()
            .map(crate::policy::service::BundleService::status)
    }

    fn revocation_stats(&self) -> RevocationStats {
        self.inner.revocations.stats(&self.inner.policy)
    }

    /// A snapshot of the metrics.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.sources().metrics()
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        self.metrics().to_prometheus()
    }
}
