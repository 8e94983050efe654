//! The native module behind the `zt-node` npm package. Thin by design: each method converts
//! its arguments, makes one zt-core call and converts the result back. `lib/index.js` adds the
//! JavaScript around it (`ZtError`, the promise of `authorize`, Express and Fastify).
//!
//! `authorizeSync` is the hot path: synchronous, no I/O, no thread hop. `authorizeBegin` polls
//! the core's async decision once: with cached keys it is ready at once; otherwise the pending
//! decision (one bounded key refetch) finishes on libuv's thread pool.

mod decision;
mod pool;

use decision::{decision_json, head_and_json, http_json};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use zt_core::http::HttpAnswer;
use zt_core::{AuthorizerConfig, BuildError, DeviceInput, EnforcementMode, Request};

/// A zt error for JavaScript: the message is the core's serialised error with `kind`
/// (`ZT_CONFIG`, `ZT_POLICY`, `ZT_TOKEN`, `ZT_RUNTIME`); `lib/index.js` turns it into a
/// `ZtError` with `code`, `reason` and the details.
fn zt_error(kind: &str, error: &impl serde::Serialize) -> napi::Error {
    let mut v = serde_json::to_value(error).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("kind".into(), kind.into());
    }
    napi::Error::new(Status::GenericFailure, format!("zt:{v}"))
}

fn build_error(e: &BuildError) -> napi::Error {
    let kind = match e {
        BuildError::Policy(_) => "ZT_POLICY",
        BuildError::Runtime(_) => "ZT_RUNTIME",
        _ => "ZT_CONFIG",
    };
    zt_error(kind, e)
}

fn type_error(message: String) -> napi::Error {
    napi::Error::new(Status::InvalidArg, message)
}

/// The request's fields, positional (`lib/index.js` passes them from the request object:
/// reading them there is far cheaper than through N-API).
#[allow(
    clippy::too_many_arguments,
    reason = "the request's fields, in the order lib/index.js passes them"
)]
fn request(
    method: String,
    path: String,
    token: Option<String>,
    host: Option<String>,
    headers: Option<HashMap<String, String>>,
    source_ip: Option<String>,
    device: Option<Value>,
    posture_assertion: Option<String>,
    resource: Option<Value>,
) -> Result<Request> {
    let mut out = Request::new(method, path);
    if let Some(t) = token {
        out = out.bearer(t);
    }
    if let Some(h) = host {
        out = out.host(h);
    }
    if let Some(ip) = source_ip {
        out = out.source_ip(ip);
    }
    if let Some(a) = posture_assertion {
        out = out.posture_assertion(a);
    }
    for (k, v) in headers.unwrap_or_default() {
        out = out.header(k, v);
    }
    match device {
        None | Some(Value::Null) => {}
        Some(d) => {
            let device = DeviceInput::from_json(&d).ok_or_else(|| {
                type_error("`device` must be a posture object shaped like `input.device`".into())
            })?;
            out = out.device(device);
        }
    }
    match resource {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => out = out.resource(m),
        Some(_) => return Err(type_error("`resource` must be an object".into())),
    }
    Ok(out)
}

/// The positional request arguments of the `authorize*` methods.
macro_rules! request_args {
    ($m:ident, $p:ident, $t:ident, $h:ident, $hd:ident, $ip:ident, $d:ident, $pa:ident, $r:ident) => {
        request($m, $p, $t, $h, $hd, $ip, $d, $pa, $r)?
    };
}

/// How a direct request's token is bound (RFC 9449 DPoP, RFC 8705 certificates).
#[napi(object)]
pub struct Binding {
    /// The `DPoP` proof: the token is then presented with the `DPoP` scheme.
    pub dpop_proof: Option<String>,
    /// The client certificate (DER), for a certificate-bound token.
    pub client_certificate: Option<Uint8Array>,
}

/// Apply a [`Binding`] to a request built with a bearer token.
fn bind(mut request: Request, token: Option<&str>, binding: Option<Binding>) -> Request {
    let Some(b) = binding else { return request };
    if let Some(proof) = b.dpop_proof {
        if let Some(t) = token {
            request = request.dpop(t);
        }
        request = request.dpop_proof(proof);
    }
    if let Some(der) = b.client_certificate {
        request = request.client_certificate(&der);
    }
    request
}

/// Options of `authorizeHttpSync` / `authorizeHttpBegin`.
#[napi(object)]
pub struct HttpOptions {
    /// The peer's address.
    pub client: Option<String>,
    /// HTTP/2 `:authority`, when there is no `Host` header.
    pub authority: Option<String>,
    /// The challenge's realm (default `zt`).
    pub realm: Option<String>,
    /// The client certificate (DER), for certificate-bound tokens (RFC 8705).
    pub client_certificate: Option<Uint8Array>,
    /// `"enforce"`, `"warn"` or `"log_only"`: override the configured mode for these routes.
    pub mode: Option<String>,
}

/// An enforcement mode by its config name (zt-core's one string form); `TypeError` otherwise.
fn parse_mode(mode: &str) -> Result<EnforcementMode> {
    mode.parse()
        .map_err(|e: zt_core::UnknownMode| type_error(e.to_string()))
}

/// `rawHeaders` (Node's flat `[name, value, name, value, ...]`) as pairs.
fn raw_pairs(raw: &[String]) -> Vec<(&str, &str)> {
    raw.chunks_exact(2)
        .filter_map(|c| match c {
            [k, v] => Some((k.as_str(), v.as_str())),
            _ => None,
        })
        .collect()
}

type DecisionFuture = Pin<Box<dyn Future<Output = zt_core::Decision> + Send>>;

/// A decision waiting for one bounded key refetch (an unknown `kid`); `wait()` finishes it on
/// libuv's thread pool and resolves with the decision (and its HTTP answer when it came from
/// `authorizeHttpBegin`).
#[napi]
pub struct PendingDecision {
    future: Mutex<Option<DecisionFuture>>,
    http: Option<(String, Option<EnforcementMode>)>,
}

/// The libuv task that finishes a pending decision.
pub struct Wait {
    future: Option<DecisionFuture>,
    http: Option<(String, Option<EnforcementMode>)>,
}

impl Task for Wait {
    type Output = zt_core::Decision;
    type JsValue = String;

    fn compute(&mut self) -> Result<Self::Output> {
        let future = self
            .future
            .take()
            .ok_or_else(|| napi::Error::from_reason("zt: pending decision already awaited"))?;
        Ok(futures::executor::block_on(future))
    }

    fn resolve(&mut self, _env: Env, d: Self::Output) -> Result<Self::JsValue> {
        Ok(match &self.http {
            None => decision_json(&d),
            Some((realm, mode)) => http_decision_json(&d, realm, *mode),
        })
    }
}

#[napi]
impl PendingDecision {
    /// A promise of the decision (JSON text: `lib/index.js` parses it).
    #[napi(ts_return_type = "Promise<string>")]
    pub fn wait(&self) -> Result<AsyncTask<Wait>> {
        let future = self
            .future
            .lock()
            .map_err(|_| napi::Error::from_reason("zt: pending decision lock poisoned"))?
            .take();
        Ok(AsyncTask::new(Wait {
            future,
            http: self.http.clone(),
        }))
    }
}

fn http_decision_json(d: &zt_core::Decision, realm: &str, mode: Option<EnforcementMode>) -> String {
    http_json(d, &HttpAnswer::with_mode(d, realm, mode))
}

/// Decides requests. Build it with `fromFile`, `fromToml` or `fromConfig`, or off the JS thread
/// with `loadFile`, `loadToml` or `loadConfig`.
#[napi]
pub struct Authorizer {
    inner: zt_core::Authorizer,
}

type LogSink = ThreadsafeFunction<String, Unknown<'static>, String, Status, false, true, 0>;

fn build(
    config: std::result::Result<AuthorizerConfig, zt_core::ConfigError>,
    policy_files: Option<HashMap<String, String>>,
    log_callback: Option<Function<'_, String, Unknown<'static>>>,
) -> Result<Authorizer> {
    let config = config.map_err(|e| build_error(&e.into()))?;
    let sink = log_callback.map(log_sink).transpose()?;
    build_with(config, policy_files, sink).map(|inner| Authorizer { inner })
}

/// The log callback as a threadsafe function (made on the JS thread). Weak: a pending log
/// record never keeps the process alive. Non-blocking: the log thread only queues the call; the
/// function runs on the JS thread.
fn log_sink(f: Function<'_, String, Unknown<'static>>) -> Result<LogSink> {
    f.build_threadsafe_function()
        .callee_handled::<false>()
        .weak::<true>()
        .build()
}

/// Build the core authorizer (any thread: `pool::LoadTask` calls it off the JS thread).
fn build_with(
    config: AuthorizerConfig,
    policy_files: Option<HashMap<String, String>>,
    sink: Option<LogSink>,
) -> Result<zt_core::Authorizer> {
    let mut b = zt_core::Authorizer::builder(config);
    if let Some(files) = policy_files {
        let mut files: Vec<(String, Vec<u8>)> = files
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        files.sort();
        b = b.policy_files(files);
    }
    if let Some(sink) = sink {
        b = b.log_callback(move |record| {
            let _ = sink.call(record.to_owned(), ThreadsafeFunctionCallMode::NonBlocking);
        });
    }
    b.build().map_err(|e| build_error(&e))
}

#[napi]
impl Authorizer {
    /// Load a config file (.toml, .yaml, .yml, .json).
    #[napi(factory)]
    pub fn from_file(
        path: String,
        policy_files: Option<HashMap<String, String>>,
        log_callback: Option<Function<'_, String, Unknown<'static>>>,
    ) -> Result<Self> {
        build(
            AuthorizerConfig::from_path(&path),
            policy_files,
            log_callback,
        )
    }

    /// Parse a TOML config.
    #[napi(factory)]
    pub fn from_toml(
        text: String,
        policy_files: Option<HashMap<String, String>>,
        log_callback: Option<Function<'_, String, Unknown<'static>>>,
    ) -> Result<Self> {
        build(
            AuthorizerConfig::from_toml_str(&text),
            policy_files,
            log_callback,
        )
    }

    /// A config object (the same schema as the files).
    #[napi(factory)]
    pub fn from_config(
        config: Value,
        policy_files: Option<HashMap<String, String>>,
        log_callback: Option<Function<'_, String, Unknown<'static>>>,
    ) -> Result<Self> {
        build(
            AuthorizerConfig::from_value(config),
            policy_files,
            log_callback,
        )
    }

    /// Decide from cached keys: synchronous, no I/O; never throws for what a request contains.
    /// The decision's head, then its JSON text: `lib/index.js` wraps it in its `Decision`
    /// class (the head read at once, the JSON parsed on first use).
    #[napi(ts_return_type = "string")]
    #[allow(clippy::too_many_arguments, reason = "the request's fields")]
    pub fn authorize_sync(
        &self,
        method: String,
        path: String,
        token: Option<String>,
        host: Option<String>,
        headers: Option<HashMap<String, String>>,
        source_ip: Option<String>,
        device: Option<Value>,
        posture_assertion: Option<String>,
        resource: Option<Value>,
        binding: Option<Binding>,
    ) -> Result<String> {
        let bearer = token.clone();
        let request = request_args!(
            method,
            path,
            token,
            host,
            headers,
            source_ip,
            device,
            posture_assertion,
            resource
        );
        let request = bind(request, bearer.as_deref(), binding);
        Ok(head_and_json(&self.inner.authorize_sync(&request)))
    }

    /// Bench hook (not a public API): the same request decided `n` times by `authorize_sync`
    /// inside Rust; returns the total nanoseconds. The binding's overhead is `authorizeSync`
    /// minus this, per call, on the same input.
    #[napi(js_name = "_authorizeSyncLoop")]
    #[allow(clippy::too_many_arguments, reason = "the request's fields")]
    pub fn authorize_sync_loop(
        &self,
        n: u32,
        method: String,
        path: String,
        token: Option<String>,
        host: Option<String>,
        headers: Option<HashMap<String, String>>,
        source_ip: Option<String>,
        device: Option<Value>,
        posture_assertion: Option<String>,
        resource: Option<Value>,
    ) -> Result<f64> {
        let request = request_args!(
            method,
            path,
            token,
            host,
            headers,
            source_ip,
            device,
            posture_assertion,
            resource
        );
        let started = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(self.inner.authorize_sync(std::hint::black_box(&request)));
        }
        Ok(started.elapsed().as_nanos() as f64)
    }

    /// The decision (JSON text) at once when keys are cached, else a `PendingDecision` (see
    /// `authorize` in `lib/index.js`).
    #[napi(ts_return_type = "string | PendingDecision")]
    #[allow(clippy::too_many_arguments, reason = "the request's fields")]
    pub fn authorize_begin(
        &self,
        method: String,
        path: String,
        token: Option<String>,
        host: Option<String>,
        headers: Option<HashMap<String, String>>,
        source_ip: Option<String>,
        device: Option<Value>,
        posture_assertion: Option<String>,
        resource: Option<Value>,
        binding: Option<Binding>,
    ) -> Result<Either<String, PendingDecision>> {
        let bearer = token.clone();
        let request = request_args!(
            method,
            path,
            token,
            host,
            headers,
            source_ip,
            device,
            posture_assertion,
            resource
        );
        let request = bind(request, bearer.as_deref(), binding);
        Ok(match begin(&self.inner, request) {
            Ok(d) => Either::A(decision_json(&d)),
            Err(future) => Either::B(PendingDecision {
                future: Mutex::new(Some(future)),
                http: None,
            }),
        })
    }

    /// Decide an HTTP request as a server sees it: `target` is the path the app routes on
    /// with its query, `rawHeaders` Node's flat `[name, value, ...]` list. Extraction as in
    /// zt-tower; returns the decision and how to answer it.
    #[napi(ts_return_type = "string")]
    pub fn authorize_http_sync(
        &self,
        method: String,
        target: String,
        raw_headers: Vec<String>,
        options: Option<HttpOptions>,
    ) -> Result<String> {
        let (request, realm, mode) = self.http_request(&method, &target, &raw_headers, options)?;
        let d = self.inner.authorize_sync(&request);
        Ok(http_decision_json(&d, &realm, mode))
    }

    /// `authorizeHttpSync` with the key refetch of `authorizeBegin`.
    #[napi(ts_return_type = "string | PendingDecision")]
    pub fn authorize_http_begin(
        &self,
        method: String,
        target: String,
        raw_headers: Vec<String>,
        options: Option<HttpOptions>,
    ) -> Result<Either<String, PendingDecision>> {
        let (request, realm, mode) = self.http_request(&method, &target, &raw_headers, options)?;
        Ok(match begin(&self.inner, request) {
            Ok(d) => Either::A(http_decision_json(&d, &realm, mode)),
            Err(future) => Either::B(PendingDecision {
                future: Mutex::new(Some(future)),
                http: Some((realm, mode)),
            }),
        })
    }

    /// Verify a token alone: its claims, or throws `ZtError` (`ZT_TOKEN`, `reason`).
    #[napi]
    pub fn verify_sync(&self, token: String) -> Result<Value> {
        self.inner
            .verifier()
            .verify(&token)
            .map(|c| Value::Object(c.claims().clone()))
            .map_err(|e| zt_error("ZT_TOKEN", &e))
    }

    /// Revoke a token by its `jti`.
    #[napi]
    pub fn revoke_token_id(&self, jti: String) {
        self.inner.revoke_token_id(&jti);
    }

    /// Revoke every token of `subject` from `issuer`.
    #[napi]
    pub fn revoke_subject(&self, issuer: String, subject: String) {
        self.inner.revoke_subject(&issuer, &subject);
    }

    /// Lift a `jti` revocation made with `revokeTokenId`.
    #[napi]
    pub fn unrevoke_token_id(&self, jti: String) {
        self.inner.unrevoke_token_id(&jti);
    }

    /// Lift a subject revocation made with `revokeSubject`.
    #[napi]
    pub fn unrevoke_subject(&self, issuer: String, subject: String) {
        self.inner.unrevoke_subject(&issuer, &subject);
    }

    /// A snapshot of the metrics.
    #[napi]
    pub fn metrics(&self) -> Result<Value> {
        serde_json::to_value(self.inner.metrics())
            .map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    /// The metrics in the Prometheus text format.
    #[napi]
    pub fn prometheus(&self) -> String {
        self.inner.prometheus()
    }

    /// Wait until every queued decision-log record is handed to its sink (a callback sink:
    /// queued to the JS thread).
    #[napi]
    pub fn flush(&self) {
        self.inner.flush();
    }

    /// Stop the decision log and key fetches within `timeoutMs` (default 5000); returns the
    /// report. Safe to call twice; decisions still work afterwards (not logged). Blocks the
    /// calling thread up to the bound: `close` is the promise, on libuv's pool.
    #[napi]
    pub fn close_sync(&self, timeout_ms: Option<f64>) -> Result<Value> {
        serde_json::to_value(self.inner.shutdown(pool::shutdown_timeout(timeout_ms)))
            .map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    /// `closeSync` on libuv's thread pool: a promise of the report as JSON text.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn close(&self, timeout_ms: Option<f64>) -> AsyncTask<pool::CloseTask> {
        AsyncTask::new(pool::CloseTask::new(&self.inner, timeout_ms))
    }

    /// Load a bundle (directory or .tar.gz) through the compile-and-test gate and activate it;
    /// returns the new revision. On error the active bundle keeps serving. Compiles on the
    /// calling thread: `reload` is the promise, on libuv's pool.
    #[napi]
    pub fn reload_sync(&self, path: String) -> Result<String> {
        self.inner
            .policy()
            .reload(std::path::Path::new(&path))
            .map_err(|e| zt_error("ZT_POLICY", &e))
    }

    /// `reloadSync` on libuv's thread pool: a promise of the new revision.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn reload(&self, path: String) -> AsyncTask<pool::PolicyTask> {
        AsyncTask::new(pool::PolicyTask::new(
            &self.inner,
            path,
            pool::PolicyOp::Reload,
        ))
    }

    /// Make a kept revision active again.
    #[napi]
    pub fn rollback(&self, revision: String) -> Result<()> {
        self.inner
            .policy()
            .rollback(&revision)
            .map_err(|e| zt_error("ZT_POLICY", &e))
    }

    /// The kept revisions, oldest first.
    #[napi]
    pub fn revisions(&self) -> Vec<String> {
        self.inner.policy().revisions()
    }

    /// Evaluate a shadow candidate bundle next to the active one (never enforced); its
    /// revision. Compiles on the calling thread: `setShadow` is the promise.
    #[napi]
    pub fn set_shadow_sync(&self, path: String) -> Result<String> {
        self.inner
            .policy()
            .set_shadow(std::path::Path::new(&path))
            .map_err(|e| zt_error("ZT_POLICY", &e))
    }

    /// `setShadowSync` on libuv's thread pool: a promise of the candidate's revision.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn set_shadow(&self, path: String) -> AsyncTask<pool::PolicyTask> {
        AsyncTask::new(pool::PolicyTask::new(
            &self.inner,
            path,
            pool::PolicyOp::SetShadow,
        ))
    }

    /// Promote the shadow candidate (activated, or rolled out when the rollout gate is on);
    /// its revision, or null when none is set.
    #[napi]
    pub fn promote_shadow(&self) -> Result<Option<String>> {
        self.inner
            .policy()
            .promote_shadow()
            .map_err(|e| zt_error("ZT_POLICY", &e))
    }

    /// Switch the enforcement mode at runtime (the operator's override).
    #[napi]
    pub fn set_mode(&self, mode: String) -> Result<()> {
        self.inner.set_mode(parse_mode(&mode)?);
        Ok(())
    }

    /// Set the enforcement canary percentage at runtime (0..=100).
    #[napi]
    pub fn set_canary_percent(&self, percent: u32) -> Result<()> {
        self.inner
            .set_canary_percent(u64::from(percent))
            .map_err(|e| zt_error("ZT_CONFIG", &e))
    }

    /// Lift the operator's override.
    #[napi]
    pub fn clear_enforcement_override(&self) {
        self.inner.clear_enforcement_override();
    }

    /// The enforcement settings in force and where each comes from.
    #[napi]
    pub fn enforcement(&self) -> Result<Value> {
        serde_json::to_value(self.inner.enforcement())
            .map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    /// What a health check needs: readiness, policy, key-set freshness per issuer, the
    /// decision log's queue, enforcement and revocations.
    #[napi]
    pub fn status(&self) -> Result<Value> {
        serde_json::to_value(self.inner.status())
            .map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    /// The rollout gate's state.
    #[napi]
    pub fn rollout(&self) -> Result<Value> {
        serde_json::to_value(self.inner.rollout())
            .map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    /// Abort the rollout in progress; the candidate's revision, or null.
    #[napi]
    pub fn rollout_abort(&self) -> Option<String> {
        self.inner.policy().rollout_abort()
    }

    /// Promote the rollout candidate now; its revision, or null.
    #[napi]
    pub fn rollout_promote(&self) -> Option<String> {
        self.inner.policy().rollout_promote()
    }

    fn http_request(
        &self,
        method: &str,
        target: &str,
        raw_headers: &[String],
        options: Option<HttpOptions>,
    ) -> Result<(Request, String, Option<EnforcementMode>)> {
        let o = options.unwrap_or(HttpOptions {
            client: None,
            authority: None,
            realm: None,
            client_certificate: None,
            mode: None,
        });
        let mode = o.mode.as_deref().map(parse_mode).transpose()?;
        let pairs = raw_pairs(raw_headers);
        let request = zt_core::http::request_from_http(
            &self.inner,
            method,
            target,
            &pairs[..],
            o.authority.as_deref(),
            o.client.as_deref(),
        );
        let request = match &o.client_certificate {
            Some(der) => request.client_certificate(der),
            None => request,
        };
        Ok((request, o.realm.unwrap_or_else(|| "zt".to_owned()), mode))
    }
}

/// Start the async decision and poll it once: ready at once with cached keys (no thread hop);
/// otherwise the future, to be finished by [`PendingDecision::wait`].
fn begin(
    authz: &zt_core::Authorizer,
    request: Request,
) -> std::result::Result<zt_core::Decision, DecisionFuture> {
    let authz = authz.clone();
    let mut future: DecisionFuture = Box::pin(async move { authz.authorize(&request).await });
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(d) => Ok(d),
        Poll::Pending => Err(future),
    }
}
