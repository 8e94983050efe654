//! Observability: the metrics recorder on the decision path, the snapshot every view reads,
//! the authorizer's status, its reports to a control plane, and the Prometheus exporter.
//!
//! Each stage below exposes its stats as plain data; only the authorizer (and lib.rs) import
//! this module, and it assembles the parts here.

pub(crate) mod metrics;
mod prometheus;
pub(crate) mod snapshot;
pub(crate) mod status;
pub(crate) mod status_upload;
