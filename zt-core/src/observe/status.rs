//! [`AuthorizerStatus`]: what an operator's health check needs, in one call.
//!
//! ```
//! # use zt_core::{Authorizer, AuthorizerConfig};
//! # let config = AuthorizerConfig::from_toml_str(r#"
//! #     [[issuers]]
//! #     issuer = "https://idp.example.com"
//! #     audiences = ["api"]
//! #     algorithms = ["ES256"]
//! #     jwks = { keys = [{ kty = "EC", kid = "k1", crv = "P-256",
//! #              x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//! #              y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
//! #     [decision_log]
//! #     sink = "none"
//! # "#)?;
//! let authz = Authorizer::builder(config)
//!     .policy_files(vec![("a.rego".into(), b"package zt.authz\ndecision := true".to_vec())])
//!     .build()?;
//! let status = authz.status();
//! assert!(status.ready);
//! assert_eq!(status.issuers[0].keys, 1);
//! assert_eq!(status.policy.revision, authz.policy().active_revision());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::enforcement::EnforcementStatus;
use crate::log::DecisionLogStats;
use crate::policy::RolloutStatus;

/// The state of an authorizer: policy, keys per issuer, decision log, enforcement and
/// revocations (`Authorizer::status`, and `status()` in the bindings).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct AuthorizerStatus {
    /// Every issuer has keys it may use now (fresh, or stale within `jwks.max_stale_s`) and
    /// the decision log takes records.
    pub ready: bool,
    /// The policy.
    pub policy: PolicyStatus,
    /// Key-set freshness per issuer, sorted by issuer.
    pub issuers: Vec<IssuerStatus>,
    /// The decision log's queue.
    pub decision_log: DecisionLogStatus,
    /// The enforcement settings in force.
    pub enforcement: EnforcementStatus,
    /// Revocation lists.
    pub revocations: crate::revocation::RevocationStats,
    /// The revocation feed's poller, with `[revocation]`.
    pub revocation_feed: Option<crate::revocation::RevocationFeedStatus>,
    /// Token introspection, with an issuer's `introspection`.
    pub introspection: Option<crate::token::IntrospectionStats>,
    /// The DPoP replay store shared between instances, with `[dpop.replay_store]` (`up`
    /// false while it fails; it does not change `ready`: `on_error` decides what requests get).
    pub dpop_replay_store: Option<crate::dpop::ReplayStoreStats>,
    /// The status reports to a control plane, with `[status] service`.
    pub status_service: Option<super::status_upload::StatusUploadStatus>,
}

/// The policy part of [`AuthorizerStatus`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct PolicyStatus {
    /// The active revision.
    pub revision: String,
    /// Where bundles come from: the configured `policy.bundle`, or `None` for in-memory files.
    pub source: Option<std::path::PathBuf>,
    /// When the active revision was activated (Unix ms).
    pub activated_at_ms: u64,
    /// Kept revisions, oldest first.
    pub revisions: Vec<String>,
    /// The rollout gate.
    pub rollout: RolloutStatus,
    /// The bundle server's poller, with `policy.service`.
    pub service: Option<crate::policy::BundleServiceStatus>,
    /// How the active bundle is indexed (docs/policies.md, "Route tables").
    pub index: crate::policy::PolicyIndex,
}

/// One issuer's keys in [`AuthorizerStatus`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct IssuerStatus {
    /// The issuer.
    pub issuer: String,
    /// Usable keys in the current key set (0: none loaded).
    pub keys: usize,
    /// When the current key set was fetched (Unix ms; `None` for none or inline keys).
    pub fetched_at_ms: Option<u64>,
    /// Until when it is fresh (`None`: never expires, or none loaded).
    pub fresh_until_ms: Option<u64>,
    /// Until when it may serve while the issuer is unreachable (`fresh_until_ms` +
    /// `jwks.max_stale_s`; `None`: never expires, or none loaded).
    pub usable_until_ms: Option<u64>,
    /// Whether the keys may be used now.
    pub usable: bool,
    /// The last fetch error's code, when the last fetch failed.
    pub last_error: Option<&'static str>,
    /// Fetches started / failed.
    pub fetches: u64,
    /// Fetches that failed.
    pub fetch_failures: u64,
}

/// The decision log in [`AuthorizerStatus`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DecisionLogStatus {
    /// The sink (`stdout`, `file`, `hash_chained_file`, `callback`, `none`).
    pub sink: crate::config::DecisionLogSink,
    /// The queue's capacity (`decision_log.queue_capacity`).
    pub queue_capacity: u64,
    /// Records queued and not yet written, failed or dropped.
    pub queued: u64,
    /// The counters.
    pub stats: DecisionLogStats,
    /// The upload to a collector, with `sink = "service"`.
    pub upload: Option<crate::log::UploadStatus>,
}
