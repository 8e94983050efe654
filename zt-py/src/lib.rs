//! `zt._zt`: the Python binding of zt-core. Thin by design: each method converts its
//! arguments, makes one zt-core call and converts the result back (JSON shapes come from
//! zt-core's serde types, so Python sees exactly what Rust, the CLI and the logs see).
//!
//! The GIL is kept for `authorize` (microseconds; re-acquiring a released GIL can cost
//! milliseconds when another thread is busy) and released for slow work: loading and compiling
//! bundles, flushing and shutting down.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::path::PathBuf;
use std::time::Duration;
use zt_core::http::HttpAnswer;
use zt_core::{AuthorizerConfig, BuildError};

/// Raise the Python exception of `class` (defined in `zt._errors`) from a serialised zt error.
fn raise(py: Python<'_>, class: &str, error: &impl serde::Serialize) -> PyErr {
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

fn build_error(py: Python<'_>, e: &BuildError) -> PyErr {
    let class = match e {
        BuildError::Policy(_) => "PolicyError",
        BuildError::Runtime(_) => "ZtRuntimeError",
        _ => "ConfigError",
    };
    raise(py, class, e)
}

/// A Python object as JSON, through the standard `json` module (dicts, lists, str, numbers,
/// bools, None); anything else is a `TypeError` naming the argument.
fn to_json(py: Python<'_>, name: &str, obj: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    let text: String = py
        .import("json")?
        .call_method1("dumps", (obj,))
        .and_then(|s| s.extract())
        .map_err(|_| PyTypeError::new_err(format!("`{name}` must be JSON-serialisable")))?;
    serde_json::from_str(&text)
        .map_err(|_| PyTypeError::new_err(format!("`{name}` must be JSON-serialisable")))
}

/// JSON text → a Python object (`json.loads`).
fn from_json<'py>(py: Python<'py>, value: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

/// In-memory bundle files: (path inside the bundle, bytes).
type Files = Vec<(String, Vec<u8>)>;

fn policy_files(files: Option<&Bound<'_, PyDict>>) -> PyResult<Option<Files>> {
    let Some(files) = files else { return Ok(None) };
    let mut out = Vec::with_capacity(files.len());
    for (k, v) in files.iter() {
        let name: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err("`policy_files` keys must be str"))?;
        let bytes: Vec<u8> = if v.is_instance_of::<PyString>() {
            v.extract::<String>()?.into_bytes()
        } else {
            v.extract()
                .map_err(|_| PyTypeError::new_err("`policy_files` values must be str or bytes"))?
        };
        out.push((name, bytes));
    }
    Ok(Some(out))
}

/// Decides requests. Build it with `from_file`, `from_toml` or `from_dict`.
#[pyclass(frozen, module = "zt._zt")]
struct Authorizer {
    inner: zt_core::Authorizer,
}

fn build(
    py: Python<'_>,
    config: Result<AuthorizerConfig, zt_core::ConfigError>,
    files: Option<Files>,
) -> PyResult<Authorizer> {
    let config = config.map_err(|e| build_error(py, &BuildError::from(e)))?;
    // Loading and compiling a bundle is slow: let other Python threads run meanwhile.
    let built = py.detach(move || {
        let mut b = zt_core::Authorizer::builder(config);
        if let Some(f) = files {
            b = b.policy_files(f);
        }
        b.build()
    });
    built
        .map(|inner| Authorizer { inner })
        .map_err(|e| build_error(py, &e))
}

#[pymethods]
impl Authorizer {
    /// Load a config file (.toml, .yaml, .yml, .json).
    #[staticmethod]
    #[pyo3(signature = (path, *, policy_files=None))]
    fn from_file(
        py: Python<'_>,
        path: PathBuf,
        policy_files: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let files = self::policy_files(policy_files)?;
        build(py, AuthorizerConfig::from_path(&path), files)
    }

    /// Parse a TOML config.
    #[staticmethod]
    #[pyo3(signature = (text, *, policy_files=None))]
    fn from_toml(
        py: Python<'_>,
        text: &str,
        policy_files: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let files = self::policy_files(policy_files)?;
        build(py, AuthorizerConfig::from_toml_str(text), files)
    }

    /// A config as a dict (the same schema as the files).
    #[staticmethod]
    #[pyo3(signature = (config, *, policy_files=None))]
    fn from_dict(
        py: Python<'_>,
        config: &Bound<'_, PyDict>,
        policy_files: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let files = self::policy_files(policy_files)?;
        let value = to_json(py, "config", config.as_any())?;
        build(py, AuthorizerConfig::from_value(value), files)
    }

    /// Decide one request from cached keys: synchronous, no I/O, never raises for anything
    /// the request contains (a malformed token is a deny). Wrong argument types are `TypeError`.
    #[pyo3(signature = (token=None, *, method, path, host=None, headers=None, source_ip=None,
                        device=None, posture_assertion=None, resource=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the keyword-only Python signature"
    )]
    fn authorize(
        &self,
        py: Python<'_>,
        token: Option<String>,
        method: String,
        path: String,
        host: Option<String>,
        headers: Option<&Bound<'_, PyAny>>,
        source_ip: Option<String>,
        device: Option<&Bound<'_, PyAny>>,
        posture_assertion: Option<String>,
        resource: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Decision> {
        let mut doc = serde_json::Map::new();
        doc.insert("method".into(), method.into());
        doc.insert("path".into(), path.into());
        let strings = [
            ("token", token),
            ("host", host),
            ("source_ip", source_ip),
            ("posture_assertion", posture_assertion),
        ];
        for (k, v) in strings {
            if let Some(v) = v {
                doc.insert(k.into(), v.into());
            }
        }
        let objects = [
            ("headers", headers),
            ("device", device),
            ("resource", resource),
        ];
        for (k, v) in objects {
            if let Some(v) = v.filter(|v| !v.is_none()) {
                doc.insert(k.into(), to_json(py, k, v)?);
            }
        }
        let request = zt_core::Request::from_value(serde_json::Value::Object(doc))
            .map_err(|e| PyTypeError::new_err(e.to_string()))?;
        Ok(Decision {
            inner: self.inner.authorize_sync(&request),
        })
    }

    /// Verify a token alone: its claims as a dict, or `TokenError` with `.reason`.
    fn verify<'py>(&self, py: Python<'py>, token: &str) -> PyResult<Bound<'py, PyAny>> {
        match self.inner.verifier().verify(token) {
            Ok(claims) => from_json(py, &claims.claims()),
            Err(e) => Err(raise(py, "TokenError", &e)),
        }
    }

    /// Revoke a token by its `jti`.
    fn revoke_token_id(&self, jti: &str) {
        self.inner.revoke_token_id(jti);
    }

    /// Revoke every token of `subject` from `issuer`.
    fn revoke_subject(&self, issuer: &str, subject: &str) {
        self.inner.revoke_subject(issuer, subject);
    }

    /// A snapshot of the metrics as a dict.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        from_json(py, &self.inner.metrics())
    }

    /// The metrics in the Prometheus text format.
    fn prometheus(&self) -> String {
        self.inner.prometheus()
    }

    /// Wait until every queued decision-log record is written.
    fn flush(&self, py: Python<'_>) {
        py.detach(|| self.inner.flush());
    }

    /// Stop the decision log and key fetches within `timeout` seconds; returns the report.
    /// Safe to call twice; decisions still work afterwards (not logged).
    #[pyo3(signature = (timeout=5.0))]
    fn close<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Bound<'py, PyAny>> {
        let timeout = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX);
        let report = py.detach(|| self.inner.shutdown(timeout));
        from_json(py, &report)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py, 5.0)?;
        Ok(false)
    }

    /// Load a bundle (directory or .tar.gz) through the compile-and-test gate and activate it;
    /// returns the new revision. On error the active bundle keeps serving.
    fn reload(&self, py: Python<'_>, path: PathBuf) -> PyResult<String> {
        py.detach(|| self.inner.policy().reload(&path))
            .map_err(|e| raise(py, "PolicyError", &e))
    }

    /// Make a kept revision active again.
    fn rollback(&self, py: Python<'_>, revision: &str) -> PyResult<()> {
        self.inner
            .policy()
            .rollback(revision)
            .map_err(|e| raise(py, "PolicyError", &e))
    }

    /// The kept revisions, oldest first.
    fn revisions(&self) -> Vec<String> {
        self.inner.policy().revisions()
    }

    /// Evaluate a shadow candidate bundle next to the active one (never enforced).
    fn set_shadow(&self, py: Python<'_>, path: PathBuf) -> PyResult<String> {
        py.detach(|| self.inner.policy().set_shadow(&path))
            .map_err(|e| raise(py, "PolicyError", &e))
    }
}

/// The answer to one request (immutable).
#[pyclass(frozen, module = "zt._zt")]
struct Decision {
    inner: zt_core::Decision,
}

#[pymethods]
impl Decision {
    /// `"allow"`, `"deny"` or `"step_up"`: what the caller must do.
    #[getter]
    fn outcome(&self) -> &'static str {
        self.inner.outcome.as_str()
    }
    /// What the checks and the policy concluded (differs from `outcome` only when not enforced).
    #[getter]
    fn evaluated(&self) -> &'static str {
        self.inner.evaluated.as_str()
    }
    /// Whether the request may proceed.
    #[getter]
    fn allowed(&self) -> bool {
        self.inner.is_allowed()
    }
    /// Whether `evaluated` was enforced.
    #[getter]
    fn enforced(&self) -> bool {
        self.inner.enforced
    }
    /// True when the request proceeds only because of `warn` mode.
    #[getter]
    fn warning(&self) -> bool {
        self.inner.warning()
    }
    /// The mode that applied: `"enforce"`, `"warn"` or `"log_only"`.
    #[getter]
    fn mode(&self) -> &'static str {
        self.inner.mode.as_str()
    }
    /// Stable reason codes.
    #[getter]
    fn reasons(&self) -> Vec<&'static str> {
        self.inner.reasons.iter().map(|r| r.as_str()).collect()
    }
    /// Reasons given by the policy.
    #[getter]
    fn policy_reasons(&self) -> Vec<String> {
        self.inner.policy_reasons.clone()
    }
    /// The decision id (also in the decision log).
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }
    /// The policy revision that decided, when the policy ran.
    #[getter]
    fn policy_revision(&self) -> Option<&str> {
        self.inner.policy_revision.as_deref()
    }
    /// `{"acr_values", "max_age"}` for a step-up, else None.
    #[getter]
    fn step_up<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        from_json(py, &self.inner.step_up)
    }
    /// Obligations from the policy.
    #[getter]
    fn obligations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        from_json(py, &self.inner.obligations)
    }
    /// Nanoseconds per stage.
    #[getter]
    fn timings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        from_json(py, &self.inner.timings)
    }
    /// The shadow candidate's result, or None.
    #[getter]
    fn shadow<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        from_json(py, &self.inner.shadow)
    }
    /// The verified claims, when the token verified.
    #[getter]
    fn claims<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        from_json(py, &self.inner.claims.as_ref().map(|c| c.claims()))
    }
    /// The decision as a dict (the shape of `to_json`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        from_json(py, &self.inner)
    }
    /// The decision as JSON text (the shape every zt surface prints).
    fn to_json(&self) -> String {
        self.inner.to_json().to_string()
    }
    /// The HTTP status to answer with (200 when allowed).
    fn http_status(&self) -> u16 {
        HttpAnswer::new(&self.inner, "zt").status
    }
    /// The `WWW-Authenticate` value for a denial (None when allowed, or for 500/503).
    #[pyo3(signature = (realm="zt"))]
    fn www_authenticate(&self, realm: &str) -> Option<String> {
        HttpAnswer::new(&self.inner, realm)
            .header("www-authenticate")
            .map(str::to_owned)
    }
    /// The RFC 9457 problem body for a denial (None when allowed).
    #[pyo3(signature = (realm="zt"))]
    fn problem<'py>(&self, py: Python<'py>, realm: &str) -> PyResult<Bound<'py, PyAny>> {
        from_json(py, &HttpAnswer::new(&self.inner, realm).problem)
    }
    fn __repr__(&self) -> String {
        format!(
            "Decision(outcome={:?}, reasons={:?}, id={:?})",
            self.inner.outcome.as_str(),
            self.reasons(),
            self.inner.id
        )
    }
}

/// The private extension module behind `import zt`.
#[pymodule]
fn _zt(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Authorizer>()?;
    m.add_class::<Decision>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
