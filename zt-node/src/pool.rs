//! Work that reads files, compiles policy or waits for the decision log's writer to stop runs on
//! libuv's thread pool, never on the JS thread: building an authorizer (`Authorizer.load*`), a
//! bundle reload or shadow candidate (its compile-and-test gate), `close` (the log writer stopped
//! within its bound) and `replay` (a whole log). `flush` is still synchronous. Each is an [`AsyncTask`]: `compute` makes the one zt-core call off
//! the JS thread, `resolve` converts its result on it.

use crate::{Authorizer, LogSink, build_error, build_with, log_sink, zt_error};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use zt_core::AuthorizerConfig;

/// Where an authorizer's config comes from.
pub enum Source {
    File(String),
    Toml(String),
    Config(Value),
}

/// Builds an authorizer: config, bundle loading, compile and the bundle's own tests.
pub struct LoadTask {
    source: Option<Source>,
    policy_files: Option<HashMap<String, String>>,
    sink: Option<LogSink>,
}

impl Task for LoadTask {
    type Output = zt_core::Authorizer;
    type JsValue = Authorizer;

    fn compute(&mut self) -> Result<Self::Output> {
        let config = match self.source.take() {
            Some(Source::File(path)) => AuthorizerConfig::from_path(&path),
            Some(Source::Toml(text)) => AuthorizerConfig::from_toml_str(&text),
            Some(Source::Config(value)) => AuthorizerConfig::from_value(value),
            None => return Err(napi::Error::from_reason("zt: load already computed")),
        };
        let config = config.map_err(|e| build_error(&e.into()))?;
        build_with(config, self.policy_files.take(), self.sink.take())
    }

    fn resolve(&mut self, _env: Env, inner: Self::Output) -> Result<Self::JsValue> {
        Ok(Authorizer { inner })
    }
}

fn load(
    source: Source,
    policy_files: Option<HashMap<String, String>>,
    log_callback: Option<Function<'_, String, Unknown<'static>>>,
) -> Result<AsyncTask<LoadTask>> {
    // The log sink is a threadsafe function: it must be made here, on the JS thread.
    let sink = log_callback.map(log_sink).transpose()?;
    Ok(AsyncTask::new(LoadTask {
        source: Some(source),
        policy_files,
        sink,
    }))
}

/// `Authorizer.fromFile` off the JS thread: a promise of the native authorizer.
#[napi(ts_return_type = "Promise<Authorizer>")]
pub fn load_file(
    path: String,
    policy_files: Option<HashMap<String, String>>,
    log_callback: Option<Function<'_, String, Unknown<'static>>>,
) -> Result<AsyncTask<LoadTask>> {
    load(Source::File(path), policy_files, log_callback)
}

/// `Authorizer.fromToml` off the JS thread.
#[napi(ts_return_type = "Promise<Authorizer>")]
pub fn load_toml(
    text: String,
    policy_files: Option<HashMap<String, String>>,
    log_callback: Option<Function<'_, String, Unknown<'static>>>,
) -> Result<AsyncTask<LoadTask>> {
    load(Source::Toml(text), policy_files, log_callback)
}

/// `Authorizer.fromConfig` off the JS thread (the object is converted on the JS thread).
#[napi(ts_return_type = "Promise<Authorizer>")]
pub fn load_config(
    config: Value,
    policy_files: Option<HashMap<String, String>>,
    log_callback: Option<Function<'_, String, Unknown<'static>>>,
) -> Result<AsyncTask<LoadTask>> {
    load(Source::Config(config), policy_files, log_callback)
}

/// What a policy task does with its bundle.
#[derive(Clone, Copy)]
pub enum PolicyOp {
    Reload,
    SetShadow,
}

/// A bundle through the compile-and-test gate: activated (`reload`) or set as the shadow
/// candidate (`setShadow`). Resolves with the new revision.
pub struct PolicyTask {
    authz: zt_core::Authorizer,
    path: PathBuf,
    op: PolicyOp,
}

impl PolicyTask {
    pub fn new(authz: &zt_core::Authorizer, path: String, op: PolicyOp) -> Self {
        Self {
            authz: authz.clone(),
            path: PathBuf::from(path),
            op,
        }
    }
}

impl Task for PolicyTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<Self::Output> {
        let policy = self.authz.policy();
        match self.op {
            PolicyOp::Reload => policy.reload(&self.path),
            PolicyOp::SetShadow => policy.set_shadow(&self.path),
        }
        .map_err(|e| zt_error("ZT_POLICY", &e))
    }

    fn resolve(&mut self, _env: Env, revision: Self::Output) -> Result<Self::JsValue> {
        Ok(revision)
    }
}

/// The shutdown bound from JavaScript milliseconds (default 5000; negative is 0; `Infinity` waits
/// up to zt-core's own cap, a day).
pub fn shutdown_timeout(timeout_ms: Option<f64>) -> Duration {
    let ms = timeout_ms.unwrap_or(5000.0);
    Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or(Duration::MAX)
}

/// `close`: the decision log flushed and key fetches stopped within the bound; resolves with
/// the report as JSON text (`lib/index.js` parses it).
pub struct CloseTask {
    authz: zt_core::Authorizer,
    timeout: Duration,
}

impl CloseTask {
    pub fn new(authz: &zt_core::Authorizer, timeout_ms: Option<f64>) -> Self {
        Self {
            authz: authz.clone(),
            timeout: shutdown_timeout(timeout_ms),
        }
    }
}

impl Task for CloseTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<Self::Output> {
        serde_json::to_string(&self.authz.shutdown(self.timeout))
            .map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    fn resolve(&mut self, _env: Env, report: Self::Output) -> Result<Self::JsValue> {
        Ok(report)
    }
}

/// Replay on libuv's thread pool (a replay reads a whole log: never on the JS thread).
pub struct ReplayTask {
    config: String,
    log: String,
    candidate: String,
    examples: usize,
}

impl Task for ReplayTask {
    type Output = zt_core::ReplayReport;
    type JsValue = String;

    fn compute(&mut self) -> Result<Self::Output> {
        let config =
            AuthorizerConfig::from_path(&self.config).map_err(|e| zt_error("ZT_CONFIG", &e))?;
        zt_core::replay_file(
            &config,
            std::path::Path::new(&self.log),
            std::path::Path::new(&self.candidate),
            self.examples,
        )
        .map_err(|e| zt_error("ZT_POLICY", &e))
    }

    fn resolve(&mut self, _env: Env, report: Self::Output) -> Result<Self::JsValue> {
        serde_json::to_string(&report).map_err(|e| napi::Error::from_reason(e.to_string()))
    }
}

/// Replay a decision log against a candidate bundle, as `zt replay` does: a promise of the
/// report as JSON text (`lib/index.js` parses it).
#[napi(ts_return_type = "Promise<string>")]
pub fn replay(
    config_path: String,
    log_path: String,
    candidate_path: String,
    examples: Option<u32>,
) -> AsyncTask<ReplayTask> {
    AsyncTask::new(ReplayTask {
        config: config_path,
        log: log_path,
        candidate: candidate_path,
        examples: examples.map_or(3, |n| n as usize),
    })
}

/// A report on libuv's thread pool (it reads whole logs: never on the JS thread).
pub struct ReportTask {
    logs: Vec<PathBuf>,
    opts: Option<zt_core::ReportOptions>,
    config: Option<String>,
}

impl Task for ReportTask {
    type Output = zt_core::Report;
    type JsValue = String;

    fn compute(&mut self) -> Result<Self::Output> {
        let mut opts = self.opts.take().unwrap_or_default();
        if let Some(c) = &self.config {
            opts.policy = AuthorizerConfig::from_path(c)
                .map_err(|e| zt_error("ZT_CONFIG", &e))?
                .policy;
        }
        zt_core::report_files(&self.logs, &opts).map_err(|e| zt_error("ZT_REPORT", &e))
    }

    fn resolve(&mut self, _env: Env, report: Self::Output) -> Result<Self::JsValue> {
        serde_json::to_string(&report).map_err(|e| napi::Error::from_reason(e.to_string()))
    }
}

/// The KPIs and least-privilege review of decision logs, as `zt report` does: a promise of the
/// report as JSON text (`lib/index.js` parses it). `since`/`until`: RFC 3339 times or dates.
#[napi(ts_return_type = "Promise<string>")]
pub fn report(
    logs: Vec<String>,
    since: Option<String>,
    until: Option<String>,
    bundle: Option<String>,
    config: Option<String>,
) -> Result<AsyncTask<ReportTask>> {
    let time = |name: &str, t: Option<String>| match t {
        None => Ok(None),
        Some(t) => zt_core::parse_report_time(&t).map(Some).ok_or_else(|| {
            napi::Error::new(
                Status::InvalidArg,
                format!("{name}: `{t}` is not an RFC 3339 time or a date"),
            )
        }),
    };
    let opts = zt_core::ReportOptions::new(
        time("since", since)?,
        time("until", until)?,
        bundle.map(PathBuf::from),
    );
    Ok(AsyncTask::new(ReportTask {
        logs: logs.into_iter().map(PathBuf::from).collect(),
        opts: Some(opts),
        config,
    }))
}
