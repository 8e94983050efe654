//! The builder: validates the config, reads keys, starts the background parts.

use super::{Authorizer, Inner};
use crate::config::{AuthorizerConfig, DecisionLogSink};
use crate::enforcement::{OverrideWatcher, RuntimeEnforcement};
use crate::error::{BuildError, RuntimeError};
use crate::log::{LogCallback, Logger};
use crate::observe::metrics::Metrics;
use crate::observe::status_upload::{Labels, StatusUploader};
use crate::policy::PolicyStore;
use crate::posture::PostureAssessor;
use crate::revocation::Revocations;
use crate::token::TokenVerifier;
use crate::util::clock::Clock;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// Builds an [`Authorizer`]; [`AuthorizerBuilder::build`] validates everything.
#[must_use]
pub struct AuthorizerBuilder {
    pub(super) config: AuthorizerConfig,
    pub(super) clock: Option<Arc<dyn Clock>>,
    pub(super) files: Option<Vec<(String, Vec<u8>)>>,
    pub(super) store: Option<Arc<PolicyStore>>,
    pub(super) callback: Option<LogCallback>,
}

impl AuthorizerBuilder {
    /// Use this clock (tests, replays) instead of the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Use an in-memory bundle `(path, bytes)` instead of `policy.bundle`.
    pub fn policy_files(mut self, files: Vec<(String, Vec<u8>)>) -> Self {
        self.files = Some(files);
        self
    }

    /// Use an existing policy store (shared, for example, with a bundle watcher).
    pub fn policy_store(mut self, store: Arc<PolicyStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Register the callback for `decision_log.sink = "callback"`. It runs on the log thread.
    pub fn log_callback(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.callback = Some(Arc::new(f));
        self
    }

    /// Validate the config, load and test the policy, open the decision log, start key fetches.
    pub fn build(self) -> Result<Authorizer, BuildError> {
        let c = self.config;
        c.validate()?;
        if let Some(signing) = &c.policy.signing {
            // Read the bundle-signing keys now, so a missing or wrong key fails at start, not
            // at a reload.
            crate::policy::signing::Verifier::from_config(signing).map_err(|message| {
                crate::error::ConfigError::Invalid {
                    file: None,
                    key: "policy.signing".to_owned(),
                    message,
                }
            })?;
        }
        if self.callback.is_some() && c.decision_log.sink != DecisionLogSink::Callback {
            return Err(BuildError::CallbackUnused);
        }
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(crate::util::clock::SystemClock));
        let verifier = TokenVerifier::with_clock(&c, clock.clone())?;
        let mut bundle_service = None;
        let policy = match (self.store, self.files) {
            (Some(store), _) => store,
            (None, Some(files)) => Arc::new(PolicyStore::from_files(files, c.policy.clone())?),
            (None, None) if c.policy.service.is_some() => {
                let (store, service) = PolicyStore::from_service(&c.policy)?;
                bundle_service = Some(service);
                store
            }
            (None, None) if c.policy.bundle.is_some() => {
                Arc::new(PolicyStore::from_config(&c.policy)?)
            }
            (None, None) => return Err(BuildError::NoPolicy),
        };
        let logger = Logger::new(
            &c.decision_log,
            c.service.clone(),
            c.policy.entrypoint.clone(),
            self.callback,
        )?;
        let metrics = Metrics::new().ok_or(RuntimeError::Histograms)?;
        let posture = PostureAssessor::new(&c.posture);
        let excluded = posture.header().map(str::to_owned);
        let headers: Arc<[String]> = c
            .request
            .headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .filter(|h| Some(h) != excluded.as_ref())
            .collect();
        if c.enforcement.rollout.is_some() {
            policy.set_rollout(c.enforcement.rollout.clone())?;
        }
        let enforcement = Arc::new(RuntimeEnforcement::new(&c.enforcement));
        let override_watcher = OverrideWatcher::start(
            &enforcement,
            std::time::Duration::from_millis(c.enforcement.override_poll_ms),
        );
        let revocation_feed =
            match &c.revocation {
                Some(r) => Some(crate::revocation::RevocationFeed::start(r).map_err(
                    |message| crate::error::ConfigError::Invalid {
                        file: None,
                        key: "revocation".to_owned(),
                        message,
                    },
                )?),
                None => None,
            };
        let dpop = crate::dpop::DpopChecker::new(&c.dpop).map_err(|(key, message)| {
            crate::error::ConfigError::Invalid {
                file: None,
                key: key.to_owned(),
                message,
            }
        })?;
        let status_uploader = match &c.status.service {
            Some(s) => Some(StatusUploader::new(s).map_err(|message| {
                crate::error::ConfigError::Invalid {
                    file: None,
                    key: "status.service".to_owned(),
                    message,
                }
            })?),
            None => None,
        };
        let mut prefix = [0u8; 8];
        let _ = aws_lc_rs::rand::fill(&mut prefix);
        let authz = Authorizer {
            inner: Arc::new(Inner {
                verifier,
                policy,
                posture,
                enforcement,
                override_watcher,
                headers,
                service: c.service.clone(),
                logger,
                metrics,
                revocations: Revocations::new(revocation_feed),
                bundle_source: c.policy.bundle.clone(),
                log_sink: c.decision_log.sink,
                log_capacity: c.decision_log.queue_capacity,
                bundle_service,
                dpop,
                require_dpop: c
                    .issuers
                    .iter()
                    .filter(|i| i.require_dpop)
                    .map(|i| i.issuer.clone())
                    .collect(),
                status_uploader,
                clock,
                id_prefix: u64::from_le_bytes(prefix),
                id_counter: AtomicU64::new(0),
            }),
        };
        if let Some(s) = &authz.inner.status_uploader {
            // The reporter holds the authorizer weakly: it ends when the authorizer goes.
            let weak = Arc::downgrade(&authz.inner);
            let labels = Labels {
                id: format!("{:016x}", authz.inner.id_prefix),
                service: c.service.clone(),
            };
            s.start(
                labels,
                Box::new(move || weak.upgrade().map(|inner| Authorizer { inner }.status())),
            )
            .map_err(|_| RuntimeError::Thread {
                name: "zt-status",
                kind: "spawn failed".to_owned(),
            })?;
        }
        Ok(authz)
    }
}
