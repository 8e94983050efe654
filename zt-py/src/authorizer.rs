//! `Authorizer`: builds from the one config schema and decides requests.

use crate::convert::{header_pairs, string, text_headers, to_py, to_value};
use crate::decision::{Decision, begin, parse_mode};
use crate::{build_error, raise};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use std::path::PathBuf;
use std::time::Duration;
use zt_core::{AuthorizerConfig, DeviceInput, Request};

/// How long dropping or closing at interpreter exit waits for the decision log.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

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
#[pyclass(frozen, weakref, module = "zt._zt")]
pub(crate) struct Authorizer {
    inner: zt_core::Authorizer,
}

impl Drop for Authorizer {
    fn drop(&mut self) {
        // The decision-log worker may need the GIL (a Python callback): stop it with the GIL
        // released, bounded, instead of letting zt-core's Drop wait while we hold it.
        let inner = &self.inner;
        let stopped = Python::try_attach(|py| py.detach(|| inner.shutdown(CLOSE_TIMEOUT)));
        if stopped.is_none() {
            inner.shutdown(CLOSE_TIMEOUT);
        }
    }
}

/// Build the authorizer (GIL released while the bundle loads and compiles), then register it so
/// `zt._lifecycle` closes it at interpreter exit, while Python still runs callbacks.
fn build(
    py: Python<'_>,
    config: Result<AuthorizerConfig, zt_core::ConfigError>,
    files: Option<&Bound<'_, PyDict>>,
    log_callback: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<Authorizer>> {
    let files = policy_files(files)?;
    let callback = match log_callback.filter(|c| !c.is_none()) {
        Some(c) if !c.is_callable() => {
            return Err(PyTypeError::new_err("`log_callback` must be callable"));
        }
        Some(c) => Some(c.clone().unbind()),
        None => None,
    };
    let config = config.map_err(|e| build_error(py, &e.into()))?;
    let built = py.detach(move || {
        let mut b = zt_core::Authorizer::builder(config);
        if let Some(f) = files {
            b = b.policy_files(f);
        }
        if let Some(cb) = callback {
            b = b.log_callback(move |record| call_sink(&cb, record));
        }
        b.build()
    });
    let inner = built.map_err(|e| build_error(py, &e))?;
    let obj = Py::new(py, Authorizer { inner })?;
    py.import("zt._lifecycle")?
        .getattr("track")?
        .call1((obj.clone_ref(py),))?;
    Ok(obj)
}

/// Hand one decision-log record to the Python callable, on the log thread. An exception is
/// reported through `sys.unraisablehook` (it cannot reach any request); once the interpreter is
/// finalizing, records are dropped rather than touching a dying interpreter.
fn call_sink(callback: &Py<PyAny>, record: &str) {
    Python::try_attach(|py| {
        if let Err(e) = callback.call1(py, (record,)) {
            e.write_unraisable(py, Some(callback.bind(py)));
        }
    });
}

/// The request of the keyword arguments of `authorize` / `authorize_async`.
#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the keyword-only Python signature"
)]
fn request<'py>(
    token: Option<&Bound<'py, PyAny>>,
    method: &Bound<'py, PyAny>,
    path: &Bound<'py, PyAny>,
    host: Option<&Bound<'py, PyAny>>,
    headers: Option<&Bound<'py, PyAny>>,
    source_ip: Option<&Bound<'py, PyAny>>,
    device: Option<&Bound<'py, PyAny>>,
    posture_assertion: Option<&Bound<'py, PyAny>>,
    resource: Option<&Bound<'py, PyAny>>,
    (dpop_proof, client_certificate): Binding<'_, 'py>,
) -> PyResult<Request> {
    let given = |o: Option<&Bound<'py, PyAny>>| o.filter(|o| !o.is_none()).cloned();
    let mut r = Request::new(string("method", method)?, string("path", path)?);
    let proof = given(dpop_proof)
        .map(|p| string("dpop_proof", &p))
        .transpose()?;
    match (given(token), proof) {
        // A DPoP proof means the token is presented with the `DPoP` scheme (RFC 9449).
        (Some(t), Some(p)) => r = r.dpop(string("token", &t)?).dpop_proof(p),
        (Some(t), None) => r = r.bearer(string("token", &t)?),
        (None, Some(p)) => r = r.dpop_proof(p),
        (None, None) => {}
    }
    if let Some(der) = certificate(client_certificate)? {
        r = r.client_certificate(&der);
    }
    if let Some(h) = given(host) {
        r = r.host(string("host", &h)?);
    }
    if let Some(ip) = given(source_ip) {
        r = r.source_ip(string("source_ip", &ip)?);
    }
    if let Some(a) = given(posture_assertion) {
        r = r.posture_assertion(string("posture_assertion", &a)?);
    }
    if let Some(h) = given(headers) {
        for (k, v) in text_headers(header_pairs("headers", &h)?) {
            r = r.header(k, v);
        }
    }
    if let Some(d) = given(device) {
        let device = DeviceInput::from_json(&to_value("device", &d)?).ok_or_else(|| {
            PyTypeError::new_err("`device` must be a posture dict shaped like `input.device`")
        })?;
        r = r.device(device);
    }
    if let Some(res) = given(resource) {
        match to_value("resource", &res)? {
            serde_json::Value::Object(map) => r = r.resource(map),
            _ => return Err(PyTypeError::new_err("`resource` must be a dict")),
        }
    }
    Ok(r)
}

/// The DPoP proof and the client certificate (DER `bytes`) of a direct request.
type Binding<'a, 'py> = (Option<&'a Bound<'py, PyAny>>, Option<&'a Bound<'py, PyAny>>);

/// A client certificate argument: DER `bytes`, or `None`.
fn certificate(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<u8>>> {
    match obj.filter(|o| !o.is_none()) {
        None => Ok(None),
        Some(o) => o
            .cast::<PyBytes>()
            .map(|b| Some(b.as_bytes().to_vec()))
            .map_err(|_| PyTypeError::new_err("`client_certificate` must be DER bytes")),
    }
}

/// The request of `authorize_http` / `authorize_http_async`, through zt-core's one extraction.
fn http_request(
    authz: &zt_core::Authorizer,
    method: &Bound<'_, PyAny>,
    target: &Bound<'_, PyAny>,
    headers: &Bound<'_, PyAny>,
    (client, authority): (Option<&Bound<'_, PyAny>>, Option<&Bound<'_, PyAny>>),
    client_certificate: Option<&Bound<'_, PyAny>>,
) -> PyResult<Request> {
    let der = certificate(client_certificate)?;
    let method = string("method", method)?;
    let target = string("target", target)?;
    let pairs = header_pairs("headers", headers)?;
    let client = client
        .filter(|c| !c.is_none())
        .map(|c| string("client", c))
        .transpose()?;
    let authority = authority
        .filter(|a| !a.is_none())
        .map(|a| string("authority", a))
        .transpose()?;
    let request = zt_core::http::request_from_http(
        authz,
        &method,
        &target,
        &pairs[..],
        authority.as_deref(),
        client.as_deref(),
    );
    Ok(match der {
        Some(der) => request.client_certificate(&der),
        None => request,
    })
}

#[pymethods]
impl Authorizer {
    /// Load a config file (.toml, .yaml, .yml, .json).
    #[staticmethod]
    #[pyo3(signature = (path, *, policy_files=None, log_callback=None))]
    fn from_file(
        py: Python<'_>,
        path: PathBuf,
        policy_files: Option<&Bound<'_, PyDict>>,
        log_callback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<Self>> {
        build(
            py,
            AuthorizerConfig::from_path(&path),
            policy_files,
            log_callback,
        )
    }

    /// Parse a TOML config.
    #[staticmethod]
    #[pyo3(signature = (text, *, policy_files=None, log_callback=None))]
    fn from_toml(
        py: Python<'_>,
        text: &str,
        policy_files: Option<&Bound<'_, PyDict>>,
        log_callback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<Self>> {
        build(
            py,
            AuthorizerConfig::from_toml_str(text),
            policy_files,
            log_callback,
        )
    }

    /// A config as a dict (the same schema as the files).
    #[staticmethod]
    #[pyo3(signature = (config, *, policy_files=None, log_callback=None))]
    fn from_dict(
        py: Python<'_>,
        config: &Bound<'_, PyDict>,
        policy_files: Option<&Bound<'_, PyDict>>,
        log_callback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<Self>> {
        let value = to_value("config", config.as_any())?;
        build(
            py,
            AuthorizerConfig::from_value(value),
            policy_files,
            log_callback,
        )
    }

    /// Decide one request from cached keys: synchronous, no I/O, never raises for anything
    /// the request contains (a malformed token is a deny). Wrong argument types are `TypeError`.
    #[pyo3(signature = (token=None, *, method, path, host=None, headers=None, source_ip=None,
                        device=None, posture_assertion=None, resource=None, dpop_proof=None,
                        client_certificate=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the keyword-only Python signature"
    )]
    fn authorize(
        &self,
        token: Option<&Bound<'_, PyAny>>,
        method: &Bound<'_, PyAny>,
        path: &Bound<'_, PyAny>,
        host: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        source_ip: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
        posture_assertion: Option<&Bound<'_, PyAny>>,
        resource: Option<&Bound<'_, PyAny>>,
        dpop_proof: Option<&Bound<'_, PyAny>>,
        client_certificate: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Decision> {
        let request = request(
            token,
            method,
            path,
            host,
            headers,
            source_ip,
            device,
            posture_assertion,
            resource,
            (dpop_proof, client_certificate),
        )?;
        Ok(Decision {
            inner: decide_sync(method.py(), &self.inner, &request),
        })
    }

    /// `await authorize_async(...)`: like `authorize`, but an unknown `kid` awaits at most one
    /// bounded key refetch (shared with concurrent callers) on a worker thread, so the event
    /// loop keeps serving; with cached keys it returns at once.
    #[pyo3(signature = (token=None, *, method, path, host=None, headers=None, source_ip=None,
                        device=None, posture_assertion=None, resource=None, dpop_proof=None,
                        client_certificate=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the keyword-only Python signature"
    )]
    fn authorize_async<'py>(
        &self,
        py: Python<'py>,
        token: Option<&Bound<'py, PyAny>>,
        method: &Bound<'py, PyAny>,
        path: &Bound<'py, PyAny>,
        host: Option<&Bound<'py, PyAny>>,
        headers: Option<&Bound<'py, PyAny>>,
        source_ip: Option<&Bound<'py, PyAny>>,
        device: Option<&Bound<'py, PyAny>>,
        posture_assertion: Option<&Bound<'py, PyAny>>,
        resource: Option<&Bound<'py, PyAny>>,
        dpop_proof: Option<&Bound<'py, PyAny>>,
        client_certificate: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = request(
            token,
            method,
            path,
            host,
            headers,
            source_ip,
            device,
            posture_assertion,
            resource,
            (dpop_proof, client_certificate),
        )?;
        begin(py, &self.inner, request)
    }

    /// Decide an HTTP request as a server sees it: `target` is the path with its query,
    /// `headers` a dict or `(name, value)` pairs of `str` or `bytes` (ASGI's raw headers as
    /// they are). The bearer token, host and configured headers are read the way zt-tower
    /// reads them (a malformed `Authorization` or a token in the query is a deny).
    #[pyo3(signature = (method, target, headers, *, client=None, authority=None,
                        client_certificate=None))]
    fn authorize_http(
        &self,
        method: &Bound<'_, PyAny>,
        target: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        client: Option<&Bound<'_, PyAny>>,
        authority: Option<&Bound<'_, PyAny>>,
        client_certificate: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Decision> {
        let request = http_request(
            &self.inner,
            method,
            target,
            headers,
            (client, authority),
            client_certificate,
        )?;
        Ok(Decision {
            inner: decide_sync(method.py(), &self.inner, &request),
        })
    }

    /// `await authorize_http_async(...)`: `authorize_http` with the key refetch of
    /// `authorize_async`.
    #[pyo3(signature = (method, target, headers, *, client=None, authority=None,
                        client_certificate=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the keyword-only Python signature"
    )]
    fn authorize_http_async<'py>(
        &self,
        py: Python<'py>,
        method: &Bound<'py, PyAny>,
        target: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        client: Option<&Bound<'py, PyAny>>,
        authority: Option<&Bound<'py, PyAny>>,
        client_certificate: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = http_request(
            &self.inner,
            method,
            target,
            headers,
            (client, authority),
            client_certificate,
        )?;
        begin(py, &self.inner, request)
    }

    /// Bench hook (not a public API, not in the stubs): the same arguments as `authorize`,
    /// decided `n` times by `authorize_sync` inside Rust; returns the total nanoseconds. The
    /// binding's overhead is Python `authorize` minus this, per call, on the same input.
    #[pyo3(signature = (n, token=None, *, method, path, host=None, headers=None, source_ip=None,
                        device=None, posture_assertion=None, resource=None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the keyword-only Python signature"
    )]
    fn _authorize_sync_loop(
        &self,
        n: u64,
        token: Option<&Bound<'_, PyAny>>,
        method: &Bound<'_, PyAny>,
        path: &Bound<'_, PyAny>,
        host: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        source_ip: Option<&Bound<'_, PyAny>>,
        device: Option<&Bound<'_, PyAny>>,
        posture_assertion: Option<&Bound<'_, PyAny>>,
        resource: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u128> {
        let request = request(
            token,
            method,
            path,
            host,
            headers,
            source_ip,
            device,
            posture_assertion,
            resource,
            (None, None),
        )?;
        let started = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(self.inner.authorize_sync(std::hint::black_box(&request)));
        }
        Ok(started.elapsed().as_nanos())
    }

    /// Verify a token alone: its claims as a dict, or `TokenError` with `.reason`.
    fn verify<'py>(&self, py: Python<'py>, token: &str) -> PyResult<Bound<'py, PyAny>> {
        match self.inner.verifier().verify(token) {
            Ok(claims) => to_py(py, &claims.claims()),
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

    /// Lift a `jti` revocation made with `revoke_token_id`.
    fn unrevoke_token_id(&self, jti: &str) {
        self.inner.unrevoke_token_id(jti);
    }

    /// Lift a subject revocation made with `revoke_subject`.
    fn unrevoke_subject(&self, issuer: &str, subject: &str) {
        self.inner.unrevoke_subject(issuer, subject);
    }

    /// A snapshot of the metrics as a dict.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.metrics())
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
        to_py(py, &report)
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

    /// Promote the shadow candidate (activated, or rolled out when the rollout gate is on);
    /// returns its revision, or None when no shadow candidate is set.
    fn promote_shadow(&self, py: Python<'_>) -> PyResult<Option<String>> {
        py.detach(|| self.inner.policy().promote_shadow())
            .map_err(|e| raise(py, "PolicyError", &e))
    }

    /// Switch the enforcement mode at runtime: "enforce", "warn" or "log_only" (the operator's
    /// override: it wins over the bundle's `data.zt.enforcement` and the config).
    fn set_mode(&self, mode: &str) -> PyResult<()> {
        self.inner.set_mode(parse_mode(mode)?);
        Ok(())
    }

    /// Set the enforcement canary percentage at runtime (0..=100; `ConfigError` beyond).
    fn set_canary_percent(&self, py: Python<'_>, percent: u64) -> PyResult<()> {
        self.inner
            .set_canary_percent(percent)
            .map_err(|e| raise(py, "ConfigError", &e))
    }

    /// Lift the operator's override: the bundle's `data.zt.enforcement` and the config apply.
    fn clear_enforcement_override(&self) {
        self.inner.clear_enforcement_override();
    }

    /// The enforcement settings in force and where each comes from, as a dict.
    fn enforcement<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.enforcement())
    }

    /// What a health check needs, as a dict: `ready`, `policy` (revision, source, activation,
    /// rollout), `issuers` (key-set freshness), `decision_log` (queue), `enforcement`,
    /// `revocations`.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.status())
    }

    /// The rollout gate's state as a dict.
    fn rollout<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.rollout())
    }

    /// Abort the rollout in progress (the control stays active); returns the candidate's
    /// revision, or None when no rollout is in progress.
    fn rollout_abort(&self) -> Option<String> {
        self.inner.policy().rollout_abort()
    }

    /// Promote the rollout candidate now, skipping the remaining stages.
    fn rollout_promote(&self) -> Option<String> {
        self.inner.policy().rollout_promote()
    }
}

/// Replay a decision log against a candidate bundle, as `zt replay` does; returns the report
/// as a dict (`flips`, `by_kind`, `groups`, `damaged`, `masked_reads`, `baseline`, ...).
#[pyfunction]
#[pyo3(signature = (config, log, candidate, *, examples=3))]
pub(crate) fn replay<'py>(
    py: Python<'py>,
    config: PathBuf,
    log: PathBuf,
    candidate: PathBuf,
    examples: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let config = AuthorizerConfig::from_path(&config).map_err(|e| raise(py, "ConfigError", &e))?;
    let report = py
        .detach(|| zt_core::replay_file(&config, &log, &candidate, examples))
        .map_err(|e| raise(py, "PolicyError", &e))?;
    to_py(py, &report)
}

/// The KPIs and least-privilege review of decision logs, as `zt report` does; returns the
/// report as a dict (`decisions`, `deny_rate`, `latency_us`, `routes`, `least_privilege`, ...).
/// `since`/`until` are RFC 3339 times or dates.
#[pyfunction]
#[pyo3(signature = (logs, *, since=None, until=None, bundle=None, config=None))]
pub(crate) fn report<'py>(
    py: Python<'py>,
    logs: Vec<PathBuf>,
    since: Option<String>,
    until: Option<String>,
    bundle: Option<PathBuf>,
    config: Option<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let time = |name: &str, t: Option<String>| match t {
        None => Ok(None),
        Some(t) => zt_core::parse_report_time(&t).map(Some).ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "{name}: `{t}` is not an RFC 3339 time or a date"
            ))
        }),
    };
    let mut opts =
        zt_core::ReportOptions::new(time("since", since)?, time("until", until)?, bundle);
    if let Some(c) = config {
        opts.policy = AuthorizerConfig::from_path(&c)
            .map_err(|e| raise(py, "ConfigError", &e))?
            .policy;
    }
    let report = py
        .detach(|| zt_core::report_files(&logs, &opts))
        .map_err(|e| raise(py, "ZtError", &e))?;
    to_py(py, &report)
}

/// `authorize_sync`, with the GIL released when it may wait for I/O (a DPoP proof with
/// `[dpop.replay_store]`: at most `timeout_ms`), so other Python threads run meanwhile.
fn decide_sync(
    py: Python<'_>,
    authz: &zt_core::Authorizer,
    request: &zt_core::Request,
) -> zt_core::Decision {
    if authz.may_block(request) {
        py.detach(|| authz.authorize_sync(request))
    } else {
        authz.authorize_sync(request)
    }
}
