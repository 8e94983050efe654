//! The [`Authorizer`]: token → posture → input → policy → enforcement → log and metrics.
//!
//! ```
//! use zt_core::{Authorizer, AuthorizerConfig, Outcome, Reason, Request};
//!
//! let config = AuthorizerConfig::from_toml_str(r#"
//!     [[issuers]]
//!     issuer = "https://idp.example.com"
//!     audiences = ["orders-api"]
//!     algorithms = ["ES256"]
//!     jwks = { keys = [{ kty = "EC", kid = "k1", crv = "P-256",
//!              x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//!              y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
//!     [decision_log]
//!     sink = "none"
//! "#)?;
//! let authz = Authorizer::builder(config)
//!     .policy_files(vec![("authz.rego".into(),
//!         b"package zt.authz\nimport rego.v1\ndecision if input.subject.id == \"alice\"".to_vec())])
//!     .build()?;
//! // Anything a request can contain is a decision, never an error.
//! let decision = authz.authorize_sync(&Request::new("GET", "/orders"));
//! assert_eq!(decision.outcome, Outcome::Deny);
//! assert_eq!(decision.reasons, vec![Reason::TokenMissing]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Security
//! - Fail closed: a missing or rejected token, a revoked token or subject, a policy failure or
//!   an internal panic each give `Deny` with a reason; `warn`/`log_only` let requests through
//!   only because the operator chose that mode, and a request whose token fails verification is
//!   always enforced under `enforce`, whatever the canary.
//! - The hot path performs no I/O and takes no global write lock: cached keys, the verified-token
//!   cache, a per-thread policy VM, atomics, one per-thread metrics shard and a bounded queue.

mod admin;
mod build;
mod decide;

pub use build::AuthorizerBuilder;

use crate::config::{AuthorizerConfig, DecisionLogSink};
use crate::enforcement::{OverrideWatcher, RuntimeEnforcement};
use crate::error::BuildError;
use crate::log::{DecisionLogStats, Logger};
use crate::observe::metrics::Metrics;
use crate::policy::PolicyStore;
use crate::posture::PostureAssessor;
use crate::revocation::Revocations;
use crate::token::TokenVerifier;
use crate::util::clock::Clock;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// Decides requests. Cheap to clone and share across threads (an `Arc` inside).
#[derive(Clone)]
pub struct Authorizer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("verifier", &self.inner.verifier)
            .field("policy", &self.inner.policy)
            .field("enforcement", &self.enforcement())
            .finish_non_exhaustive()
    }
}

struct Inner {
    verifier: TokenVerifier,
    policy: Arc<PolicyStore>,
    posture: PostureAssessor,
    enforcement: Arc<RuntimeEnforcement>,
    override_watcher: Option<OverrideWatcher>,
    headers: Arc<[String]>,
    service: Option<String>,
    // Its Drop shuts the log writer down within a bound (see `Authorizer::shutdown`).
    logger: Logger,
    metrics: Metrics,
    /// In-process lists and the feed (the bundle's lists live with the policy).
    revocations: Revocations,
    /// `policy.bundle` and the decision log's sink and capacity, for `status()`.
    bundle_source: Option<std::path::PathBuf>,
    log_sink: DecisionLogSink,
    log_capacity: u64,
    /// The bundle poller, with `policy.service`.
    bundle_service: Option<crate::policy::service::BundleService>,
    /// DPoP proof checks and their replay cache.
    dpop: crate::dpop::DpopChecker,
    /// Issuers whose tokens must all be DPoP-bound (`require_dpop`).
    require_dpop: Vec<String>,
    /// Status reports to a control plane, with `[status] service`.
    status_uploader: Option<crate::observe::status_upload::StatusUploader>,
    clock: Arc<dyn Clock>,
    id_prefix: u64,
    id_counter: AtomicU64,
}

/// What [`Authorizer::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Whether every queued decision-log record was handled before the timeout.
    pub completed: bool,
    /// Records still queued (or being written) when the timeout passed: the writer drops them
    /// instead of writing them (at most one in progress may still be written; with
    /// `sink = "service"`, one upload request already in flight may still be accepted).
    pub abandoned: u64,
    /// The log's counters at return: `dropped` includes records refused after shutdown began
    /// and, when the timeout passed, the records still queued are dropped shortly after.
    pub decision_log: DecisionLogStats,
}

impl Authorizer {
    /// Build from a config (policy from `policy.bundle`).
    pub fn new(config: AuthorizerConfig) -> Result<Self, BuildError> {
        Self::builder(config).build()
    }

    /// A builder for options that do not live in the config (clock, in-memory policy, callback).
    pub fn builder(config: AuthorizerConfig) -> AuthorizerBuilder {
        AuthorizerBuilder {
            config,
            clock: None,
            files: None,
            store: None,
            callback: None,
        }
    }

    /// The algorithms DPoP proofs may use (for a `WWW-Authenticate: DPoP algs="..."`).
    pub fn dpop_algorithms(&self) -> &[crate::Algorithm] {
        self.inner.dpop.algorithms()
    }

    /// The policy store: reload, roll back, set a shadow candidate, watch a directory.
    pub fn policy(&self) -> &Arc<PolicyStore> {
        &self.inner.policy
    }

    /// The header names (lower-case) that reach `input.request.headers`; middleware copies
    /// only these (and the posture header) into a [`Request`].
    pub fn request_headers(&self) -> &[String] {
        &self.inner.headers
    }

    /// The header carrying posture assertions, when `posture.source = "assertion"`.
    pub fn posture_header(&self) -> Option<&str> {
        self.inner.posture.header()
    }

    /// The token verifier (key-set status, readiness).
    pub fn verifier(&self) -> &TokenVerifier {
        &self.inner.verifier
    }
}

impl crate::http::HeaderSelection for Authorizer {
    fn request_headers(&self) -> &[String] {
        Authorizer::request_headers(self)
    }

    fn posture_header(&self) -> Option<&str> {
        Authorizer::posture_header(self)
    }
}
