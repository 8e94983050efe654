//! `Decision`: the answer to one request, and `_Pending`: a decision waiting for a key refetch.

use crate::convert::to_py;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use zt_core::http::HttpAnswer;
use zt_core::{EnforcementMode, Request};

/// An enforcement mode by its config name (zt-core's one string form); `ValueError` otherwise.
pub(crate) fn parse_mode(mode: &str) -> PyResult<EnforcementMode> {
    mode.parse()
        .map_err(|e: zt_core::UnknownMode| PyValueError::new_err(e.to_string()))
}

/// The answer to one request (immutable).
#[pyclass(frozen, module = "zt._zt")]
pub(crate) struct Decision {
    pub(crate) inner: zt_core::Decision,
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
        to_py(py, &self.inner.step_up)
    }
    /// Obligations from the policy.
    #[getter]
    fn obligations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.obligations)
    }
    /// Nanoseconds per stage.
    #[getter]
    fn timings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.timings)
    }
    /// The shadow candidate's result, or None.
    #[getter]
    fn shadow<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.shadow)
    }
    /// The verified claims, when the token verified.
    #[getter]
    fn claims<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.claims.as_ref().map(|c| c.claims()))
    }
    /// The decision as a dict (the shape of `to_json`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner)
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
        to_py(py, &HttpAnswer::new(&self.inner, realm).problem)
    }
    /// How a middleware answers this decision: `{"proceed", "status", "headers", "body"}`,
    /// `headers` a list of `(name, value)` pairs and `body` the RFC 9457 problem as bytes on a
    /// denial. `mode` (`"enforce"`, `"warn"`, `"log_only"`) overrides the configured mode for
    /// the caller's routes; None keeps the decision's own.
    #[pyo3(signature = (realm="zt", mode=None))]
    fn http_answer<'py>(
        &self,
        py: Python<'py>,
        realm: &str,
        mode: Option<&str>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mode = mode.map(parse_mode).transpose()?;
        let answer = HttpAnswer::with_mode(&self.inner, realm, mode);
        let out = PyDict::new(py);
        out.set_item("proceed", answer.proceed)?;
        out.set_item("status", answer.status)?;
        out.set_item("headers", &answer.headers)?;
        out.set_item(
            "body",
            answer.body().map(|b| PyBytes::new(py, b.as_bytes())),
        )?;
        Ok(out)
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

type DecisionFuture = Pin<Box<dyn Future<Output = zt_core::Decision> + Send>>;

/// A decision that awaits a bounded key refetch (an unknown `kid`). Made by
/// `Authorizer.authorize_async`; `zt._aio.settle` waits for it on a worker thread so the event
/// loop keeps running.
#[pyclass(frozen, name = "_Pending", module = "zt._zt")]
pub(crate) struct Pending {
    future: Mutex<Option<DecisionFuture>>,
}

/// Start the async decision and poll it once: with cached keys it is ready at once (no thread
/// hop, no await); otherwise the future is kept to be finished by [`Pending::wait`].
pub(crate) fn begin<'py>(
    py: Python<'py>,
    authz: &zt_core::Authorizer,
    request: Request,
) -> PyResult<Bound<'py, PyAny>> {
    let authz = authz.clone();
    let mut future: DecisionFuture = Box::pin(async move { authz.authorize(&request).await });
    let mut cx = Context::from_waker(Waker::noop());
    let begun = match future.as_mut().poll(&mut cx) {
        Poll::Ready(inner) => Bound::new(py, Decision { inner })?.into_any(),
        Poll::Pending => Bound::new(
            py,
            Pending {
                future: Mutex::new(Some(future)),
            },
        )?
        .into_any(),
    };
    py.import("zt._aio")?.getattr("settle")?.call1((begun,))
}

#[pymethods]
impl Pending {
    /// Block (without the GIL) until the decision is made; at most the bounded key refetch.
    fn wait(&self, py: Python<'_>) -> PyResult<Decision> {
        let future = self
            .future
            .lock()
            .map_err(|_| PyRuntimeError::new_err("zt: pending decision lock poisoned"))?
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("zt: pending decision already awaited"))?;
        let inner = py.detach(move || futures::executor::block_on(future));
        Ok(Decision { inner })
    }
}
