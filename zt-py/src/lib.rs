//! `zt._zt`: the Python binding of zt-core. Thin by design: each method converts its
//! arguments, makes one zt-core call and converts the result back (values come from zt-core's
//! serde types, so Python sees exactly what Rust, the CLI and the logs see).
//!
//! The GIL is kept for `authorize` (microseconds; re-acquiring a released GIL can cost
//! milliseconds when another thread is busy) and released for slow work: loading and compiling
//! bundles, flushing, shutting down and the bounded key refetch of `authorize_async`.

mod authorizer;
mod convert;
mod decision;

use pyo3::prelude::*;
use zt_core::BuildError;

/// Raise the Python exception of `class` (defined in `zt._errors`) from a serialised zt error.
pub(crate) fn raise(py: Python<'_>, class: &str, error: &impl serde::Serialize) -> PyErr {
    let json = serde_json::to_string(error).unwrap_or_else(|_| "{}".to_owned());
    let made = py
        .import("zt._errors")
        .and_then(|m| m.getattr("_from_json"))
        .and_then(|f| f.call1((class, json)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// The Python exception for a build error, by its kind.
pub(crate) fn build_error(py: Python<'_>, e: &BuildError) -> PyErr {
    let class = match e {
        BuildError::Policy(_) => "PolicyError",
        BuildError::Runtime(_) => "ZtRuntimeError",
        _ => "ConfigError",
    };
    raise(py, class, e)
}

/// The private extension module behind `import zt`.
#[pymodule]
fn _zt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<authorizer::Authorizer>()?;
    m.add_class::<decision::Decision>()?;
    m.add_class::<decision::Pending>()?;
    m.add_function(wrap_pyfunction!(authorizer::replay, m)?)?;
    m.add_function(wrap_pyfunction!(authorizer::report, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
