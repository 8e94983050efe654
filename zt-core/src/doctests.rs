//! The examples of the README, of every page under docs/ and of the package READMEs compile
//! and run as doctests. Pages without Rust blocks (fleet.md, observability.md,
//! development.md, zt-py's, zt-node's and zt-cli's READMEs) have no struct here; zt-tower's README runs
//! in zt-tower, which has axum.

/// The README's examples.
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// docs/configuration.md.
#[doc = include_str!("../../docs/configuration.md")]
pub struct ConfigurationDoctests;

/// docs/policies.md.
#[doc = include_str!("../../docs/policies.md")]
pub struct PoliciesDoctests;

/// docs/tokens.md.
#[doc = include_str!("../../docs/tokens.md")]
pub struct TokensDoctests;

/// zt-core's README (what crates.io shows).
#[doc = include_str!("../README.md")]
pub struct CoreReadmeDoctests;

/// docs/runbooks.md.
#[doc = include_str!("../../docs/runbooks.md")]
pub struct RunbooksDoctests;
