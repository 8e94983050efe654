//! # zt-core
//!
//! Embeddable zero-trust authorization. A service links zt in-process and asks, per request:
//! *may this identity, on this device, do this action on this resource, now?* zt answers from
//! local work only: an access token verified against cached issuer keys, a device-posture
//! assessment checked for freshness, and a compiled Rego policy.
//!
//! The entry point is the [`Authorizer`]: build it from an [`AuthorizerConfig`], hand it a
//! [`Request`], get a [`Decision`] (`Allow`, `Deny` or `StepUp` with stable [`Reason`] codes).
//! Underneath: token verification with cached, self-refreshing issuer keys
//! ([`TokenVerifier`]), device posture, the policy input document ([`PolicyInput`]), compiled
//! Rego bundles with a safe lifecycle ([`PolicyStore`]), enforcement modes and canary, decision
//! logs ([`verify_chain`] for the hash-chained sink) and metrics ([`MetricsSnapshot`]).
//!
//! ```
//! use zt_core::{AuthorizerConfig, Reason, TokenVerifier};
//!
//! let config = AuthorizerConfig::from_toml_str(r#"
//!     [[issuers]]
//!     issuer = "https://idp.example.com"
//!     audiences = ["orders-api"]
//!     algorithms = ["ES256"]
//!     jwks = { keys = [{ kty = "EC", kid = "k1", crv = "P-256",
//!              x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//!              y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
//! "#)?;
//! let verifier = TokenVerifier::new(&config)?;
//! // Every rejection carries a stable reason code.
//! let err = verifier.verify("eyJhbGciOiJub25lIn0.e30.").unwrap_err();
//! assert_eq!(err.reason(), Reason::TokenMalformed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The manual
//! The repository's `docs/` holds the reference; every Rust example in it runs as a doctest:
//! - `docs/configuration.md`: every config key with its default and range, the reason codes
//!   ([`Reason`]) and the error codes (`code()` of every error type);
//! - `docs/policies.md`: bundles, the policy input document, policy output and step-up,
//!   posture, enforcement modes, and rolling out a policy safely (replay, the rollout gate);
//! - `docs/tokens.md`: DPoP and certificate-bound tokens, introspection, revocation;
//! - `docs/fleet.md`: bundle server, signed bundles, decision-log upload;
//! - `docs/observability.md`: decision logs, metrics, `status()`;
//! - `docs/runbooks.md` and `docs/development.md` (security invariants, layout, tests).
//!
//! # Security
//! Listed in full, each with its test, in `docs/development.md`: fail closed (every failure on
//! the decision path is a deny with a reason, panics included), algorithm from the issuer's
//! allow-list, no keys from token headers, size and depth limits on every untrusted document,
//! no secret or token in any message, decision-log record or policy input.

#![forbid(unsafe_code)]

mod algorithm;
mod authorizer;
mod codes;
mod config;
mod credentials;
mod decision;
mod dpop;
mod enforcement;
mod error;
pub mod http;
mod input;
mod jwks;
mod log;
mod observe;
mod policy;
mod posture;
mod replay;
pub mod report;
mod request;
mod revocation;
mod token;
mod util;

/// Hooks for zt's own fuzz targets, benches and tests: **not part of the stable interface**.
#[doc(hidden)]
pub mod internal;

// ---- Public interface -------------------------------------------------------------------
// Configuration: the one schema for every surface.
pub use config::{
    AuthorizerConfig, BundleKeyConfig, BundleServiceConfig, BundleSigningConfig, ConfigFormat,
    DecisionLogConfig, DecisionLogFormat, DecisionLogSink, DpopConfig, EnforcementConfig,
    IntrospectionConfig, IssuerConfig, JwksConfig, LogServiceConfig, OAuth2Config, PolicyConfig,
    PostureBinding, PostureConfig, PostureSource, PrivateKeyJwtConfig, ReplayStoreConfig,
    ReplayStoreOnError, RequestConfig, RolloutConfig, Secret, StatusConfig, StatusServiceConfig,
    TokenConfig,
};
// The authorizer: requests in, decisions out.
pub use authorizer::{Authorizer, AuthorizerBuilder, ShutdownReport};
pub use codes::{EnforcementMode, Outcome, Reason, UnknownCode, UnknownMode};
pub use decision::{Decision, ShadowResult, Timings};
pub use dpop::{ReplayStoreStats, jwk_thumbprint};
pub use enforcement::{EnforcementOverride, EnforcementSource, EnforcementStatus, canary_bucket};
pub use log::UploadStatus;
pub use observe::status::{AuthorizerStatus, DecisionLogStatus, IssuerStatus, PolicyStatus};
pub use observe::status_upload::StatusUploadStatus;
pub use request::Request;
pub use revocation::{RevocationFeedStatus, RevocationStats};
// HTTP: the same status, challenge and problem body on every surface (module `http`).
pub use http::{HttpAnswer, Problem};
// Decision logs and metrics.
pub use log::{DecisionLogStats, GENESIS_HASH, open_log, verify_chain};
pub use observe::metrics::{IssuerKeyStats, LatencySummary, MetricsSnapshot, ShadowStats};
// Token verification and its proof type.
pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use token::{IntrospectionStats, JwksStatus, TokenCacheStats, TokenVerifier, VerifiedClaims};
// The policy input document.
pub use input::DeviceInput;
pub use input::{InputContext, MASKED, PolicyInput, RequestInfo};
// Policy evaluation and lifecycle.
pub use policy::{
    BundleServiceStatus, BundleSigner, CohortStats, CompiledBundle, IndexedRule, PolicyBench,
    PolicyEvaluation, PolicyFailure, PolicyIndex, PolicyOutput, PolicyStore, PolicyWatcher,
    RolloutStatus, StepUp, TestResult, build_bundle, sign_bundle, sign_bundle_at, test_bundle,
};
// Replaying decision logs against a candidate policy.
pub use replay::{
    BaselineCheck, DamagedLine, FlipGroup, MaskedReads, ReplayOptions, ReplayReport, replay,
    replay_file,
};
// Reports over decision logs (`zt report`; the parts of a report are in module `report`).
pub use report::{Report, ReportError, ReportOptions, parse_report_time, report_files};
// Time.
pub use util::clock::{Clock, ManualClock, SystemClock};
// Errors and reason codes.
pub use error::{
    BuildError, BundleSignatureError, ChainError, ConfigError, IntrospectionProblem, JwksError,
    KeyProblem, Malformed, PolicyError, RequestError, RuntimeError, TokenError,
};

// The README's and docs/'s examples compile and run as doctests.
#[cfg(doctest)]
mod doctests;
