//! Decision-log upload (`sink = "service"`): OPA's decision-log API. Records are collected into
//! a JSON array of bounded size and sent as `POST {url}/{path}` with `Content-Encoding: gzip`
//! when the next record would not fit, `max_delay_ms` after the batch's first record, on
//! `flush` and at shutdown.
//!
//! The decision-log writer builds batches; an uploader thread (its own single-threaded
//! runtime) sends them, retrying with exponential backoff and jitter. The writer never waits
//! for the network except in `flush`/`shutdown`: a sealed batch goes to a bounded queue
//! (`buffer_batches`), and when that is full the batch's records are dropped and counted.
//! Every record ends in exactly one counter: `written` (the collector answered 2xx),
//! `failed` (refused with a 4xx, or retries exhausted, or too large for one request) or
//! `dropped` (queue full, or abandoned by a timed-out shutdown).

use crate::config::LogServiceConfig;
use crate::credentials::Credentials;
use crate::util::time::unix_ms;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The decision log's counters: the uploader settles each record in one of them.
use super::Counters;

/// The uploader's state, for status and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct UploadStatus {
    /// `{url}/{path}` (without credentials or query).
    pub url: String,
    /// Requests the collector accepted (2xx).
    pub batches_sent: u64,
    /// Attempts that failed and were retried.
    pub retries: u64,
    /// Batches given up (refused or retries exhausted); their records count as `failed`.
    pub batches_failed: u64,
    /// Compressed bytes accepted by the collector.
    pub bytes_sent: u64,
    /// Batches waiting for upload.
    pub pending_batches: u64,
    /// The last accepted upload (Unix ms; 0: none).
    pub last_success_ms: u64,
    /// The last failure, if the last attempt failed.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Stats {
    batches_sent: AtomicU64,
    retries: AtomicU64,
    batches_failed: AtomicU64,
    bytes_sent: AtomicU64,
    pending: AtomicU64,
    last_success_ms: AtomicU64,
    last_error: Mutex<Option<String>>,
}

enum Msg {
    /// A JSON array of `records` records.
    Batch { body: Vec<u8>, records: u64 },
    /// Acknowledge once every earlier batch is done.
    Flush(SyncSender<()>),
}

/// The writer's side: the batch being built and the queue to the uploader thread.
pub(crate) struct Batcher {
    body: Vec<u8>,
    records: u64,
    first_at: Option<Instant>,
    limit: usize,
    max_delay: Duration,
    flush_wait: Duration,
    tx: Option<SyncSender<Msg>>,
    thread: Option<std::thread::JoinHandle<()>>,
    outcome: Arc<Counters>,
    stats: Arc<Stats>,
    url: String,
}

impl Batcher {
    pub(crate) fn start(c: &LogServiceConfig, outcome: Arc<Counters>) -> Result<Self, String> {
        let url = format!(
            "{}/{}",
            c.url.trim_end_matches('/'),
            c.path.trim_start_matches('/')
        );
        let credentials = Credentials::from_config(
            "decision_log.service",
            c.bearer_token_env.as_deref(),
            c.oauth2.as_ref(),
        )?;
        let client = crate::util::poll::post_client(c.timeout_ms)
            .map_err(|_| "the HTTP client cannot be built".to_owned())?;
        let capacity = usize::try_from(c.buffer_batches).unwrap_or(64);
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
        let stats = Arc::new(Stats::default());
        let up = Uploader {
            client,
            url: url.clone(),
            credentials,
            max_retries: u32::try_from(c.max_retries).unwrap_or(5),
            outcome: outcome.clone(),
            stats: stats.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("zt-log-upload".to_owned())
            .spawn(move || up.run(&rx))
            .map_err(|e| format!("the upload thread cannot start: {}", e.kind()))?;
        Ok(Self {
            body: Vec::new(),
            records: 0,
            first_at: None,
            limit: usize::try_from(c.upload_size_limit_bytes).unwrap_or(1 << 20),
            max_delay: Duration::from_millis(c.max_delay_ms),
            // One request and its first retry (each perhaps after a token request), whatever
            // `max_retries` says.
            flush_wait: Duration::from_millis(
                (c.timeout_ms
                    .saturating_add(c.oauth2.as_ref().map_or(0, |o| o.timeout_ms)))
                .saturating_mul(2)
                .saturating_add(2_000),
            ),
            tx: Some(tx),
            thread: Some(thread),
            outcome,
            stats,
            url,
        })
    }

    /// Add one rendered record (a JSON object). Err when it can never be sent (larger than a
    /// request may be): the caller counts it as failed.
    pub(crate) fn push(&mut self, record: &[u8]) -> Result<(), ()> {
        if record.len() + 2 > self.limit {
            return Err(());
        }
        if !self.body.is_empty() && self.body.len() + record.len() + 2 > self.limit {
            self.seal();
        }
        self.body
            .push(if self.body.is_empty() { b'[' } else { b',' });
        self.body.extend_from_slice(record);
        self.records += 1;
        self.first_at.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// When the batch being built must be sent.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.first_at.map(|t| t + self.max_delay)
    }

    /// Send the batch if its time has come.
    pub(crate) fn tick(&mut self) {
        if self.deadline().is_some_and(|d| Instant::now() >= d) {
            self.seal();
        }
    }

    /// Hand the batch being built to the uploader (dropping it, counted, when the uploader's
    /// queue is full).
    pub(crate) fn seal(&mut self) {
        self.first_at = None;
        if self.records == 0 {
            return;
        }
        self.body.push(b']');
        let body = std::mem::take(&mut self.body);
        let records = std::mem::take(&mut self.records);
        let Some(tx) = &self.tx else {
            self.outcome.dropped.fetch_add(records, Ordering::Relaxed);
            return;
        };
        self.stats.pending.fetch_add(1, Ordering::Relaxed);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            tx.try_send(Msg::Batch { body, records })
        {
            self.stats.pending.fetch_sub(1, Ordering::Relaxed);
            self.outcome.dropped.fetch_add(records, Ordering::Relaxed);
        }
    }

    /// Send what is batched and wait until every batch is uploaded or given up, for at most
    /// `flush_wait` (a collector that is down must not hold `flush` for the retries of every
    /// buffered batch); what is still pending then settles later.
    pub(crate) fn flush(&mut self) {
        self.seal();
        let Some(tx) = &self.tx else { return };
        let deadline = Instant::now() + self.flush_wait;
        let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
        let mut msg = Msg::Flush(ack_tx);
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
        let _ = ack_rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }

    /// Send what is batched, then stop the uploader once every batch is settled (a timed-out
    /// `shutdown` sets the abandon flag, which ends the retries).
    pub(crate) fn stop(&mut self) {
        self.seal();
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// A handle that reads the status from other threads.
    pub(crate) fn status_handle(&self) -> StatusHandle {
        StatusHandle {
            url: self.url.clone(),
            stats: self.stats.clone(),
        }
    }
}

/// Reads the uploader's status from any thread.
#[derive(Clone)]
pub(crate) struct StatusHandle {
    url: String,
    stats: Arc<Stats>,
}

impl StatusHandle {
    pub(crate) fn status(&self) -> UploadStatus {
        status(&self.url, &self.stats)
    }
}

fn status(url: &str, s: &Stats) -> UploadStatus {
    UploadStatus {
        url: crate::util::poll::shown_url(url),
        batches_sent: s.batches_sent.load(Ordering::Relaxed),
        retries: s.retries.load(Ordering::Relaxed),
        batches_failed: s.batches_failed.load(Ordering::Relaxed),
        bytes_sent: s.bytes_sent.load(Ordering::Relaxed),
        pending_batches: s.pending.load(Ordering::Relaxed),
        last_success_ms: s.last_success_ms.load(Ordering::Relaxed),
        last_error: s
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Uploader {
    client: reqwest::Client,
    url: String,
    credentials: Credentials,
    max_retries: u32,
    outcome: Arc<Counters>,
    stats: Arc<Stats>,
}

/// What one attempt came to.
enum Attempt {
    Accepted,
    /// Worth retrying (network, timeout, 408, 429, 5xx).
    Retry(String),
    /// Not worth retrying (another 4xx, a redirect).
    Refused(String),
}

impl Uploader {
    fn run(self, rx: &Receiver<Msg>) {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            // Without a runtime nothing can be sent: every batch fails, counted.
            for m in rx {
                match m {
                    Msg::Batch { records, .. } => {
                        self.stats.pending.fetch_sub(1, Ordering::Relaxed);
                        self.give_up(records, "no async runtime");
                    }
                    Msg::Flush(ack) => drop(ack.send(())),
                }
            }
            return;
        };
        for m in rx {
            match m {
                Msg::Batch { body, records } => {
                    self.stats.pending.fetch_sub(1, Ordering::Relaxed);
                    self.send(&rt, &body, records);
                }
                Msg::Flush(ack) => drop(ack.send(())),
            }
        }
    }

    fn give_up(&self, records: u64, why: &str) {
        self.stats.batches_failed.fetch_add(1, Ordering::Relaxed);
        self.outcome.failed.fetch_add(records, Ordering::Relaxed);
        *self
            .stats
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(why.to_owned());
    }

    fn send(&self, rt: &tokio::runtime::Runtime, json: &[u8], records: u64) {
        if self.outcome.abandon.load(Ordering::Acquire) {
            self.outcome.dropped.fetch_add(records, Ordering::Relaxed);
            return;
        }
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(json.len() / 4),
            flate2::Compression::fast(),
        );
        let Ok(body) = gz.write_all(json).and_then(|()| gz.finish()) else {
            self.give_up(records, "compression failed");
            return;
        };
        let mut attempt = 0u32;
        loop {
            match rt.block_on(self.post(&body)) {
                Attempt::Accepted => {
                    self.stats.batches_sent.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .bytes_sent
                        .fetch_add(body.len() as u64, Ordering::Relaxed);
                    self.stats
                        .last_success_ms
                        .store(unix_ms(), Ordering::Relaxed);
                    *self
                        .stats
                        .last_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = None;
                    self.outcome.written.fetch_add(records, Ordering::Relaxed);
                    return;
                }
                Attempt::Refused(why) => return self.give_up(records, &why),
                Attempt::Retry(why) if attempt >= self.max_retries => {
                    return self
                        .give_up(records, &format!("{why}; gave up after {attempt} retries"));
                }
                Attempt::Retry(why) => {
                    *self
                        .stats
                        .last_error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = Some(why);
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    if !self.sleep(crate::util::poll::backoff(attempt)) {
                        self.outcome.dropped.fetch_add(records, Ordering::Relaxed);
                        return;
                    }
                    attempt += 1;
                }
            }
        }
    }

    /// Sleep, waking early (false) when a shutdown gives up on the log.
    fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.outcome.abandon.load(Ordering::Acquire) {
                return false;
            }
            std::thread::sleep(
                end.saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(20)),
            );
        }
        !self.outcome.abandon.load(Ordering::Acquire)
    }

    /// Send one batch; a 401 fetches a new OAuth2 token and sends it once more at once.
    async fn post(&self, body: &[u8]) -> Attempt {
        let token = match self.credentials.token().await {
            Ok(t) => t,
            Err(why) => return Attempt::Retry(why),
        };
        match self.post_with(body, token.as_deref()).await {
            Attempt::Refused(why)
                if why == crate::util::poll::UNAUTHORIZED
                    && self.credentials.refused(token.as_deref()).await =>
            {
                match self.credentials.token().await {
                    Ok(t) => self.post_with(body, t.as_deref()).await,
                    Err(why) => Attempt::Retry(why),
                }
            }
            other => other,
        }
    }

    async fn post_with(&self, body: &[u8], token: Option<&str>) -> Attempt {
        let mut req = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_ENCODING, "gzip")
            .body(body.to_vec());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match status {
                    200..=299 => Attempt::Accepted,
                    408 | 429 | 500..=599 => Attempt::Retry(format!("HTTP status {status}")),
                    other => Attempt::Refused(format!("HTTP status {other}")),
                }
            }
            Err(e) if e.is_builder() => Attempt::Refused("the request cannot be built".to_owned()),
            Err(e) if e.is_timeout() => Attempt::Retry("timed out".to_owned()),
            Err(e) if e.is_connect() => Attempt::Retry("cannot connect".to_owned()),
            Err(_) => Attempt::Retry("request failed".to_owned()),
        }
    }
}
