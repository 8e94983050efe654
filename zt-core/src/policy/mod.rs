//! Policy evaluation with regorus, and the safe policy lifecycle.
//!
//! A bundle is compiled once: regorus parses it, compiles the entrypoint, and lowers it to its
//! compiled VM (RVM) program. Evaluation keeps one VM per thread and bundle (a thread-local
//! cache), so threads share the immutable `Arc<Program>` but never a VM, and take no lock
//! for writing. Every evaluation has an instruction limit, so a pathological policy becomes a
//! `policy_error` deny, never a hang.
//!
//! [`PolicyStore`] holds the active bundle behind an atomic swap. Loading a candidate compiles it
//! and (when asked) runs its `test_` rules like `opa test`; a candidate that fails either is
//! never activated and the previous bundle keeps serving. The last revisions are kept for
//! [`PolicyStore::rollback`]. A shadow candidate can be evaluated next to the active bundle.
//!
//! ```
//! use zt_core::{PolicyConfig, PolicyStore};
//!
//! let store = PolicyStore::from_files(
//!     vec![("authz.rego".into(), b"package zt.authz\nimport rego.v1\ndecision if input.request.method == \"GET\"\ntest_get if decision with input as {\"request\": {\"method\": \"GET\"}}".to_vec())],
//!     PolicyConfig::default(),
//! ).unwrap();
//! # // Requests are decided with inputs built from verified tokens (see `Authorizer`); this
//! # // example evaluates a hand-written document through a test hook.
//! # let input = zt_core::internal::policy_input_unverified(&serde_json::json!({"request": {"method": "GET"}}));
//! let eval = store.evaluate(&input);
//! assert!(eval.result.unwrap().allow);
//! ```
//!
//! # Security
//! - Only bundles that compile (unknown builtins such as `http.send` or `io.jwt.*` are refused
//!   at load) and pass their own tests are activated.
//! - Evaluation work is bounded by `policy.max_instructions`.
//! - Undefined output, a wrong output type or an evaluation error is a deny with a reason.

mod build;
pub(crate) mod bundle;
mod compile;
mod guards;
mod index;
mod options;
mod output;
mod reads;
mod recursion;
pub(crate) mod rollout;
pub(crate) mod service;
pub(crate) mod signing;
mod store;
mod testing;
mod watch;

pub use build::{build_bundle, sign_bundle_at};
pub use compile::{CompiledBundle, PolicyBench};
pub use index::{IndexedRule, PolicyIndex};
pub use output::{PolicyFailure, PolicyOutput, StepUp};
pub use rollout::{CohortStats, RolloutStatus};
pub use service::BundleServiceStatus;
pub use signing::{BundleSigner, sign_bundle};
pub use store::{PolicyEvaluation, PolicyStore};
pub use testing::{TestResult, test_bundle};
pub use watch::PolicyWatcher;
