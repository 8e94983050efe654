//! `[status] service`: the instance's state POSTed to a control plane in the shape of OPA's
//! status API — on start, whenever the active bundle, an error, the key sets' health or the
//! rollout changes, and every `interval_s` otherwise.
//!
//! A thread of its own looks at [`AuthorizerStatus`] four times a second and compares a few
//! stable fields (revision, activation time, errors, usable key sets, rollout stage); a change
//! sends a report at once (at most one a second). A failed report is tried again after 200 ms × 2^n (at most 30 s,
//! with jitter), and always with the newest state. The thread holds the authorizer weakly, and
//! ends with it.

use super::status::AuthorizerStatus;
use crate::config::StatusServiceConfig;
use crate::credentials::Credentials;
use crate::util::poll;
use crate::util::time::{rfc3339, unix_ms};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the state is looked at.
const TICK: Duration = Duration::from_millis(250);
/// The shortest gap between two reports a change triggers (a flapping part must not make every
/// instance report four times a second).
const MIN_GAP: Duration = Duration::from_secs(1);

/// The status reports' counters (`status().status_service`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct StatusUploadStatus {
    /// Where reports go.
    pub url: String,
    /// Reports the receiver accepted.
    pub reports_sent: u64,
    /// Reports that failed (each is tried again with the newest state).
    pub failures: u64,
    /// When the last report was accepted (Unix ms; 0: never).
    pub last_success_ms: u64,
    /// Why the last report failed, when it did.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Stats {
    sent: AtomicU64,
    failures: AtomicU64,
    last_success_ms: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// Who reports: OPA's `labels` (`app`, `id`, `version`, and zt's `service`).
pub(crate) struct Labels {
    pub(crate) id: String,
    pub(crate) service: Option<String>,
}

/// What the thread gets the state from: `None` once the authorizer is gone.
pub(crate) type Snapshot = Box<dyn Fn() -> Option<AuthorizerStatus> + Send>;

/// The reporter of one authorizer.
pub(crate) struct StatusUploader {
    url: String,
    stats: Arc<Stats>,
    /// The credentials and settings until the thread starts.
    pending: Mutex<Option<(Credentials, Duration, u64)>>,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl StatusUploader {
    /// The reporter for `[status] service`; an error names the credential that cannot be read.
    pub(crate) fn new(c: &StatusServiceConfig) -> Result<Self, String> {
        let credentials = Credentials::from_config(
            "status.service",
            c.bearer_token_env.as_deref(),
            c.oauth2.as_ref(),
        )?;
        Ok(Self {
            url: format!(
                "{}/{}",
                c.url.trim_end_matches('/'),
                c.path.trim_start_matches('/')
            ),
            stats: Arc::new(Stats::default()),
            pending: Mutex::new(Some((
                credentials,
                Duration::from_secs(c.interval_s),
                c.timeout_ms,
            ))),
            stop: Mutex::new(None),
        })
    }

    /// Start reporting (once); the first report goes out at once.
    pub(crate) fn start(&self, labels: Labels, snapshot: Snapshot) -> Result<(), String> {
        let Some((credentials, interval, timeout_ms)) = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return Ok(());
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let reporter = Reporter {
            url: self.url.clone(),
            credentials,
            interval,
            timeout_ms,
            labels,
            stats: self.stats.clone(),
        };
        std::thread::Builder::new()
            .name("zt-status".to_owned())
            .spawn(move || reporter.run(&snapshot, stop_rx))
            .map_err(|e| format!("the status thread cannot start: {}", e.kind()))?;
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop_tx);
        Ok(())
    }

    /// Stop reporting (the thread ends within a tick; it is not waited for).
    pub(crate) fn stop(&self) {
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(tx) = stop {
            let _ = tx.send(());
        }
    }

    /// The counters.
    pub(crate) fn status(&self) -> StatusUploadStatus {
        let s = &self.stats;
        StatusUploadStatus {
            url: poll::shown_url(&self.url),
            reports_sent: s.sent.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            last_success_ms: s.last_success_ms.load(Ordering::Relaxed),
            last_error: s
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

impl Drop for StatusUploader {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Reporter {
    url: String,
    credentials: Credentials,
    interval: Duration,
    timeout_ms: u64,
    labels: Labels,
    stats: Arc<Stats>,
}

impl Reporter {
    fn run(self, snapshot: &Snapshot, mut stop: tokio::sync::oneshot::Receiver<()>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let (Ok(rt), Ok(client)) = (runtime, poll::post_client(self.timeout_ms)) else {
            self.failed("cannot start an HTTP client".to_owned());
            return;
        };
        rt.block_on(async {
            let mut sent: Option<(String, Instant)> = None;
            let mut failures: u32 = 0;
            let mut retry_at: Option<Instant> = None;
            loop {
                let Some(status) = snapshot() else { return };
                let now = Instant::now();
                let sig = signature(&status);
                let changed = sent.as_ref().is_none_or(|(s, at)| {
                    let age = now.saturating_duration_since(*at);
                    (*s != sig && age >= MIN_GAP) || age >= self.interval
                });
                if changed && retry_at.is_none_or(|t| now >= t) {
                    let body = payload(&status, &self.labels, unix_ms());
                    match self.send(&client, &body).await {
                        Ok(()) => {
                            sent = Some((sig, now));
                            failures = 0;
                            retry_at = None;
                        }
                        Err(why) => {
                            self.failed(why);
                            retry_at = Some(Instant::now() + poll::backoff(failures));
                            failures = failures.saturating_add(1);
                        }
                    }
                }
                if tokio::time::timeout(TICK, &mut stop).await.is_ok() {
                    return;
                }
            }
        });
    }

    fn failed(&self, why: String) {
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        *self
            .stats
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(why);
    }

    /// POST one report; a 401 fetches a new OAuth2 token and sends it once more.
    async fn send(&self, client: &reqwest::Client, body: &[u8]) -> Result<(), String> {
        let token = self.credentials.token().await?;
        match self.post(client, body, token.as_deref()).await {
            Err(e)
                if e == poll::UNAUTHORIZED && self.credentials.refused(token.as_deref()).await =>
            {
                let token = self.credentials.token().await?;
                self.post(client, body, token.as_deref()).await
            }
            other => other,
        }
        .map(|()| {
            self.stats.sent.fetch_add(1, Ordering::Relaxed);
            self.stats
                .last_success_ms
                .store(unix_ms(), Ordering::Relaxed);
            *self
                .stats
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = None;
        })
    }

    async fn post(
        &self,
        client: &reqwest::Client,
        body: &[u8],
        token: Option<&str>,
    ) -> Result<(), String> {
        let mut req = client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(poll::describe)?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            other => Err(format!("HTTP status {other}")),
        }
    }
}

/// The fields whose change is worth a report at once (no counters, no ages).
fn signature(s: &AuthorizerStatus) -> String {
    let issuers: Vec<Value> = s
        .issuers
        .iter()
        .map(|i| json!([i.issuer, i.usable, i.keys, i.last_error]))
        .collect();
    let rollout = &s.policy.rollout;
    json!({
        "ready": s.ready,
        "revision": s.policy.revision,
        "activated": s.policy.activated_at_ms,
        "bundle_error": s.policy.service.as_ref().map(|b| &b.last_error),
        "rollout": [rollout.enabled, rollout.candidate_revision, rollout.stage,
                    rollout.rollbacks, rollout.promotions],
        "issuers": issuers,
        "feed_error": s.revocation_feed.as_ref().map(|f| &f.last_error),
        "upload_error": s.decision_log.upload.as_ref().map(|u| &u.last_error),
        "replay_store_up": s.dpop_replay_store.as_ref().map(|r| r.up),
    })
    .to_string()
}

/// OPA's status report (`labels`, `bundles`, `decision_logs`, `plugins`) with zt's whole
/// status under `zt` (key sets, rollout, revocations, enforcement, ...).
fn payload(s: &AuthorizerStatus, labels: &Labels, now_ms: u64) -> Vec<u8> {
    let service = s.policy.service.as_ref();
    let mut bundle = serde_json::Map::new();
    bundle.insert("name".into(), json!("zt"));
    bundle.insert("active_revision".into(), json!(s.policy.revision));
    bundle.insert(
        "last_successful_activation".into(),
        json!(rfc3339(s.policy.activated_at_ms)),
    );
    if let Some(b) = service {
        if b.last_success_ms > 0 {
            let at = json!(rfc3339(b.last_success_ms));
            bundle.insert("last_successful_download".into(), at.clone());
            bundle.insert("last_successful_request".into(), at);
        }
        if let Some(e) = &b.last_error {
            bundle.insert("code".into(), json!("bundle_error"));
            bundle.insert("message".into(), json!(e));
            bundle.insert("errors".into(), json!([e]));
        }
    }
    let upload_error = s
        .decision_log
        .upload
        .as_ref()
        .and_then(|u| u.last_error.as_ref());
    let state = |error: bool| if error { "ERROR" } else { "OK" };
    let mut plugins = serde_json::Map::new();
    plugins.insert(
        "bundle".into(),
        json!({"state": state(service.is_some_and(|b| b.last_error.is_some()))}),
    );
    plugins.insert("status".into(), json!({"state": "OK"}));
    let mut report = serde_json::Map::new();
    report.insert(
        "labels".into(),
        json!({"app": "zt", "id": labels.id, "version": env!("CARGO_PKG_VERSION"),
               "service": labels.service}),
    );
    report.insert("bundles".into(), json!({ "zt": bundle }));
    if s.decision_log.upload.is_some() {
        plugins.insert(
            "decision_logs".into(),
            json!({"state": state(upload_error.is_some())}),
        );
        if let Some(e) = upload_error {
            report.insert(
                "decision_logs".into(),
                json!({"code": "decision_logs_error", "message": e}),
            );
        }
    }
    report.insert("plugins".into(), Value::Object(plugins));
    report.insert("timestamp".into(), json!(rfc3339(now_ms)));
    report.insert("zt".into(), serde_json::to_value(s).unwrap_or(Value::Null));
    Value::Object(report).to_string().into_bytes()
}
