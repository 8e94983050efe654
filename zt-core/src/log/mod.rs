//! Decision logs: one JSON object per decision, written off the request path.
//!
//! Each record holds `timestamp` (RFC 3339, UTC), `service`, `entrypoint`, the decision's own
//! serialised fields (`decision_id`, `outcome`, `evaluated`, `enforced`, `mode`, `warning`,
//! `reasons`, `policy_reasons`, `step_up`, `obligations`, `policy_revision`, `timings_ns`,
//! `shadow`: the same shape as [`Decision::to_json`](crate::Decision::to_json)), `input`
//! (masked) and `result` (the policy's output or failure). The `hash_chained_file` sink adds
//! `prev_hash` and `hash`.
//!
//! `authorize` only moves the record's parts into a bounded queue (`decision_log.queue_capacity`);
//! a background thread masks, serialises and writes them. When the queue is full the record is
//! dropped and counted ([`DecisionLogStats::dropped`]); `authorize` never waits for a sink.
//! [`Authorizer::flush`](crate::Authorizer::flush) waits until every queued record is written;
//! [`Authorizer::shutdown`](crate::Authorizer::shutdown) does the same within a timeout and stops
//! the writer (dropping the last handle of an authorizer shuts down with a 10 s timeout).
//!
//! # Hash chain
//! Line *n* is `{…,"prev_hash":H(n-1),"hash":H(n)}` where `H(n)` is the SHA-256 (hex) of line
//! *n*'s bytes without its `,"hash":…` suffix, and `H(0)` is 64 zeros. [`verify_chain`] finds
//! the first edited, removed, inserted or reordered line. Truncating the *end* of the file can
//! only be detected against a hash kept elsewhere (the last hash is returned for that purpose).
//!
//! # Security
//! - The token, the posture assertion and the `authorization` / `cookie` headers never reach a
//!   record; values at the `decision_log.mask` JSON pointers are replaced before serialisation.

mod chain;
mod opa;
mod reader;
mod upload;
pub(crate) use chain::{ChainCheck, is_chained};
pub use chain::{GENESIS_HASH, verify_chain};
use chain::{last_chain_hash, sha256_hex};
pub(crate) use reader::next_line;
pub use reader::open_log;
pub use upload::UploadStatus;

use crate::config::{DecisionLogConfig, DecisionLogFormat, DecisionLogSink};
use crate::decision::Decision;
use crate::error::{BuildError, RuntimeError};
use crate::input::{PolicyInput, RequestInfo};
use crate::policy::{PolicyFailure, PolicyOutput};
use crate::util::time::rfc3339;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

/// A callback sink: receives each record as one JSON object (no trailing newline).
pub type LogCallback = Arc<dyn Fn(&str) + Send + Sync>;

/// What the log knows about the input of one decision.
pub(crate) enum LogInput {
    /// The full policy input.
    Policy(PolicyInput),
    /// The token did not verify: only the request part, with the headers the input would keep.
    Request(RequestInfo, Arc<[String]>),
}

/// A policy output as the log keeps it: its `reasons` and `obligations` are the decision's
/// `policy_reasons` and `obligations` (the same values), so they are not copied twice.
pub(crate) struct LoggedOutput {
    pub(crate) allow: bool,
    pub(crate) step_up: Option<crate::policy::StepUp>,
    pub(crate) grants: Vec<String>,
}

impl LoggedOutput {
    pub(crate) fn of(out: &PolicyOutput) -> Self {
        Self {
            allow: out.allow,
            step_up: out.step_up.clone(),
            grants: out.grants.clone(),
        }
    }
}

/// One decision's parts, moved to the log worker.
pub(crate) struct Entry {
    pub(crate) decision: Decision,
    pub(crate) timestamp_ms: u64,
    pub(crate) input: LogInput,
    pub(crate) result: Option<Result<LoggedOutput, PolicyFailure>>,
}

enum Msg {
    Record(Box<Entry>),
    /// A rollout-gate event: `(at_ms, {"event": …, …})`.
    Event(Box<(u64, Value)>),
    Flush(SyncSender<()>),
    /// Flush, acknowledge and stop.
    Stop(SyncSender<()>),
}

/// Decision-log counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DecisionLogStats {
    /// Records handed to the queue.
    pub enqueued: u64,
    /// Records written by the sink.
    pub written: u64,
    /// Records dropped because the queue was full.
    pub dropped: u64,
    /// Records lost to sink errors (for example a full disk; for `service`: refused by the
    /// collector, retries exhausted, or larger than one request may be).
    pub failed: u64,
    /// With `sink = "service"` and a `path`: records the file beside the upload could not
    /// take (the upload is counted on its own).
    pub file_failed: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    enqueued: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
    file_failed: AtomicU64,
    /// Set by `shutdown`: later records are dropped (and counted) instead of queued.
    closed: AtomicBool,
    /// Set when `shutdown` timed out: the worker drops what is still queued instead of writing
    /// (and the uploader stops retrying).
    pub(crate) abandon: AtomicBool,
    /// Set by the worker when it has stopped after a `Stop`.
    stopped: AtomicBool,
}

/// The decision logger: a bounded queue and a writer thread.
pub(crate) struct Logger {
    tx: Option<SyncSender<Msg>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
    worker_id: Option<std::thread::ThreadId>,
    counters: Arc<Counters>,
    upload: Option<upload::StatusHandle>,
}

/// How long dropping the last handle of an authorizer waits for its decision log.
const DROP_TIMEOUT: Duration = Duration::from_secs(10);

struct Formatter {
    pub(super) service: Option<String>,
    pub(super) entrypoint: String,
    pub(super) mask: Vec<String>,
    format: DecisionLogFormat,
}

enum Sink {
    Stdout,
    File {
        out: std::io::BufWriter<std::fs::File>,
        buf: Vec<u8>,
    },
    Chained {
        out: std::io::BufWriter<std::fs::File>,
        last_hash: String,
    },
    Callback(LogCallback),
    /// Uploaded in batches; `file` is the optional local file beside it.
    Service {
        batcher: upload::Batcher,
        file: Option<std::io::BufWriter<std::fs::File>>,
        buf: Vec<u8>,
        counters: Arc<Counters>,
    },
}

/// Whether a record the sink took counts as written now or when the upload settles it.
enum Taken {
    Written,
    Pending,
}

impl Logger {
    pub(crate) fn new(
        c: &DecisionLogConfig,
        service: Option<String>,
        entrypoint: String,
        callback: Option<LogCallback>,
    ) -> Result<Self, BuildError> {
        let counters = Arc::new(Counters::default());
        let sink = match c.sink {
            DecisionLogSink::None => {
                return Ok(Self {
                    tx: None,
                    worker: Mutex::new(None),
                    worker_id: None,
                    counters,
                    upload: None,
                });
            }
            DecisionLogSink::Stdout => Sink::Stdout,
            DecisionLogSink::File => Sink::File {
                out: open_append(c.path.as_deref())?.0,
                buf: Vec::with_capacity(4096),
            },
            DecisionLogSink::HashChainedFile => {
                let (out, path) = open_append(c.path.as_deref())?;
                let last_hash = last_chain_hash(&path).map_err(|kind| BuildError::DecisionLog {
                    path: path.clone(),
                    kind,
                })?;
                Sink::Chained { out, last_hash }
            }
            DecisionLogSink::Callback => Sink::Callback(callback.ok_or(BuildError::NoCallback)?),
            DecisionLogSink::Service => {
                let service = c.service.as_ref().ok_or_else(|| {
                    BuildError::Config(crate::error::ConfigError::Invalid {
                        file: None,
                        key: "decision_log.service".to_owned(),
                        message: "required for the `service` sink".to_owned(),
                    })
                })?;
                let file = match &c.path {
                    Some(p) => Some(open_append(Some(p))?.0),
                    None => None,
                };
                let batcher =
                    upload::Batcher::start(service, counters.clone()).map_err(|message| {
                        BuildError::Config(crate::error::ConfigError::Invalid {
                            file: None,
                            key: "decision_log.service".to_owned(),
                            message,
                        })
                    })?;
                Sink::Service {
                    batcher,
                    file,
                    buf: Vec::with_capacity(4096),
                    counters: counters.clone(),
                }
            }
        };
        let upload = match &sink {
            Sink::Service { batcher, .. } => Some(batcher.status_handle()),
            _ => None,
        };
        let capacity = usize::try_from(c.queue_capacity).unwrap_or(4096);
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
        let fmt = Formatter {
            service,
            entrypoint,
            mask: c.mask.clone(),
            format: c.format,
        };
        let worker_counters = counters.clone();
        let worker = std::thread::Builder::new()
            .name("zt-decision-log".to_owned())
            .spawn(move || run_worker(rx, sink, fmt, &worker_counters))
            .map_err(|e| RuntimeError::Thread {
                name: "zt-decision-log",
                kind: e.kind().to_string(),
            })?;
        Ok(Self {
            tx: Some(tx),
            worker_id: Some(worker.thread().id()),
            worker: Mutex::new(Some(worker)),
            counters,
            upload,
        })
    }

    /// Whether records are wanted at all (skip building them when not).
    pub(crate) fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queue a record; never blocks. Returns false when it was dropped.
    pub(crate) fn enqueue(&self, entry: Entry) -> bool {
        let Some(tx) = &self.tx else { return false };
        self.counters.enqueued.fetch_add(1, Ordering::Relaxed);
        if self.counters.closed.load(Ordering::Acquire) {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        match tx.try_send(Msg::Record(Box::new(entry))) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Queue an event record (`{"timestamp", "service", "event", …}`); counted like a
    /// decision record. Never blocks.
    pub(crate) fn enqueue_event(&self, at_ms: u64, event: Value) -> bool {
        let Some(tx) = &self.tx else { return false };
        self.counters.enqueued.fetch_add(1, Ordering::Relaxed);
        if self.counters.closed.load(Ordering::Acquire)
            || tx.try_send(Msg::Event(Box::new((at_ms, event)))).is_err()
        {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Wait until every record queued before this call is written. Not bounded: a stuck
    /// callback sink blocks it (use `shutdown` for a bound). Returns at once after `shutdown`.
    pub(crate) fn flush(&self) {
        let Some(tx) = &self.tx else { return };
        if self.counters.closed.load(Ordering::Acquire) {
            return;
        }
        let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
        if tx.send(Msg::Flush(ack_tx)).is_ok() {
            let _ = ack_rx.recv();
        }
    }

    /// Stop taking records, write what is queued and stop the writer, waiting at most
    /// `timeout`. Returns whether everything queued was handled in time; when not, the writer
    /// drops (and counts) what is still queued as soon as its sink returns, and is not waited
    /// for. Idempotent and cheap after the first call: a later call never waits again.
    pub(crate) fn shutdown(&self, timeout: Duration) -> bool {
        // A huge timeout (a binding's `inf`) means no deadline worth having: a day.
        const LONGEST: Duration = Duration::from_secs(86_400);
        let deadline = Instant::now() + timeout.min(LONGEST);
        let c = &self.counters;
        c.closed.store(true, Ordering::Release);
        let Some(tx) = &self.tx else { return true };
        if c.stopped.load(Ordering::Acquire) {
            self.join_worker();
            return !c.abandon.load(Ordering::Acquire);
        }
        if c.abandon.load(Ordering::Acquire) {
            // An earlier shutdown timed out: the writer is stuck in its sink; do not wait again.
            return false;
        }
        let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel(1);
        if self.worker_id == Some(std::thread::current().id()) {
            // Called from the writer itself (a callback, or the last handle dropped there):
            // it cannot wait for itself. It stops after this batch; later records are dropped.
            let _ = tx.try_send(Msg::Stop(ack_tx));
            return false;
        }
        let mut msg = Msg::Stop(ack_tx);
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                // Stopped by a concurrent shutdown.
                Err(TrySendError::Disconnected(_)) => {
                    self.join_worker();
                    return !c.abandon.load(Ordering::Acquire);
                }
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TrySendError::Full(_)) => {
                    c.abandon.store(true, Ordering::Release);
                    return false;
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if ack_rx.recv_timeout(left).is_err() {
            c.abandon.store(true, Ordering::Release);
            return false;
        }
        self.join_worker();
        !c.abandon.load(Ordering::Acquire)
    }

    /// Join a writer that has stopped (immediate: it returns right after acknowledging).
    fn join_worker(&self) {
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = worker {
            let _ = w.join();
        }
    }

    /// Whether `shutdown` has begun (records are no longer taken).
    pub(crate) fn closed(&self) -> bool {
        self.tx.is_some() && self.counters.closed.load(Ordering::Acquire)
    }

    pub(crate) fn stats(&self) -> DecisionLogStats {
        let c = &self.counters;
        DecisionLogStats {
            enqueued: c.enqueued.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            file_failed: c.file_failed.load(Ordering::Relaxed),
        }
    }

    /// The uploader's state, for `sink = "service"`.
    pub(crate) fn upload_status(&self) -> Option<upload::UploadStatus> {
        self.upload.as_ref().map(upload::StatusHandle::status)
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        // Bounded: a stuck sink (a callback waiting for a lock its host holds) cannot hang the
        // drop; the writer then stops on its own once its queue is closed.
        self.shutdown(DROP_TIMEOUT);
        self.tx = None;
    }
}

fn open_append(
    path: Option<&Path>,
) -> Result<(std::io::BufWriter<std::fs::File>, PathBuf), BuildError> {
    let path = path.ok_or_else(|| BuildError::DecisionLog {
        path: PathBuf::new(),
        kind: "no path configured".to_owned(),
    })?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| BuildError::DecisionLog {
            path: path.to_owned(),
            kind: e.kind().to_string(),
        })?;
    Ok((std::io::BufWriter::new(file), path.to_owned()))
}

/// While records keep coming, the writer looks for more every `TICK` instead of blocking in
/// `recv`: a sender then never has to wake it (a futex call of a few microseconds on the
/// request path). After `IDLE_TICKS` empty looks it blocks until the next message.
const TICK: Duration = Duration::from_millis(1);
const IDLE_TICKS: u32 = 50;

/// What the writer waits for next.
enum Next {
    Msg(Msg),
    /// The sink's deadline (an upload batch's `max_delay_ms`) has come.
    Due,
    /// Every sender is gone.
    Closed,
}

/// The next message: at once when one is queued; otherwise after polling while the log is busy,
/// or by blocking once it has been idle; or `Due` when the sink's deadline comes first.
fn next_message(rx: &Receiver<Msg>, idle: &mut u32, deadline: Option<Instant>) -> Next {
    loop {
        match rx.try_recv() {
            Ok(m) => {
                *idle = 0;
                return Next::Msg(m);
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return Next::Closed,
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Next::Due;
        }
        if *idle < IDLE_TICKS {
            *idle += 1;
            std::thread::sleep(TICK);
            continue;
        }
        let got = match deadline {
            Some(d) => match rx.recv_timeout(d.saturating_duration_since(Instant::now())) {
                Ok(m) => Some(m),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return Next::Due,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
            },
            None => rx.recv().ok(),
        };
        return match got {
            Some(m) => {
                *idle = 0;
                Next::Msg(m)
            }
            None => Next::Closed,
        };
    }
}

fn run_worker(rx: Receiver<Msg>, mut sink: Sink, fmt: Formatter, counters: &Counters) {
    let mut idle = 0;
    loop {
        let first = match next_message(&rx, &mut idle, sink.deadline()) {
            Next::Msg(m) => m,
            Next::Due => {
                sink.tick();
                continue;
            }
            Next::Closed => break,
        };
        let mut acks = Vec::new();
        let mut batch = vec![first];
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
            if batch.len() >= 256 {
                break;
            }
        }
        let mut stops = Vec::new();
        for m in batch {
            match m {
                Msg::Record(_) | Msg::Event(_) if counters.abandon.load(Ordering::Relaxed) => {
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Msg::Record(entry) => {
                    let render =
                        |prev: Option<&str>, out: &mut Vec<u8>| fmt.render_into(&entry, prev, out);
                    count(sink.write(render), counters);
                }
                Msg::Event(event) => {
                    let (at_ms, body) = &*event;
                    let render = |prev: Option<&str>, out: &mut Vec<u8>| {
                        fmt.render_event_into(*at_ms, body, prev, out)
                    };
                    count(sink.write(render), counters);
                }
                Msg::Flush(ack) => acks.push(ack),
                Msg::Stop(ack) => stops.push(ack),
            }
        }
        sink.flush();
        if !stops.is_empty() {
            // Records that raced past the `closed` check are dropped, and counted.
            drain_after_stop(&rx, counters, &mut acks, &mut stops);
            // Everything taken is uploaded (or given up) before the stop is acknowledged.
            sink.finish();
            // Records that raced past the `closed` check while the upload drained.
            drain_after_stop(&rx, counters, &mut acks, &mut stops);
            counters.stopped.store(true, Ordering::Release);
        } else if !acks.is_empty() {
            sink.sync();
        } else {
            sink.tick();
        }
        for ack in acks.into_iter().chain(stops.iter().cloned()) {
            let _ = ack.send(());
        }
        if !stops.is_empty() {
            return;
        }
    }
    sink.finish();
}

/// After a stop: what is still queued is dropped (counted), flushes and stops acknowledged.
fn drain_after_stop(
    rx: &Receiver<Msg>,
    counters: &Counters,
    acks: &mut Vec<SyncSender<()>>,
    stops: &mut Vec<SyncSender<()>>,
) {
    while let Ok(m) = rx.try_recv() {
        match m {
            Msg::Record(_) | Msg::Event(_) => {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Msg::Flush(ack) => acks.push(ack),
            Msg::Stop(ack) => stops.push(ack),
        }
    }
}

fn count(taken: Result<Taken, ()>, counters: &Counters) {
    match taken {
        Ok(Taken::Written) => {
            counters.written.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Taken::Pending) => {}
        Err(()) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One record: the decision's own serialised shape, flattened, plus what only the log holds
/// (time, service, entrypoint, the masked input and the raw policy result).
#[derive(serde::Serialize)]
struct Record<'a> {
    timestamp: String,
    service: Option<&'a str>,
    entrypoint: &'a str,
    #[serde(flatten)]
    decision: &'a Decision,
    input: &'a regorus::Value,
    result: ResultField<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_hash: Option<&'a str>,
}

/// The policy's raw result as the record shows it: `null`, the output (`allow`, `reasons`,
/// `step_up`, `obligations`, and `grants` when the policy names any, as [`PolicyOutput`]
/// serialises), or the failure.
pub(super) struct ResultField<'a> {
    pub(super) result: &'a Option<Result<LoggedOutput, PolicyFailure>>,
    pub(super) decision: &'a Decision,
}

impl serde::Serialize for ResultField<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        match self.result {
            None => s.serialize_none(),
            Some(Ok(out)) => {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("allow", &out.allow)?;
                m.serialize_entry("reasons", &self.decision.policy_reasons)?;
                m.serialize_entry("step_up", &out.step_up)?;
                m.serialize_entry("obligations", &self.decision.obligations)?;
                if !out.grants.is_empty() {
                    m.serialize_entry("grants", &out.grants)?;
                }
                m.end()
            }
            Some(Err(f)) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("error", f.reason().as_str())?;
                m.serialize_entry("message", &f.to_string())?;
                m.end()
            }
        }
    }
}

impl Formatter {
    /// Append the record as one line of JSON (no newline) to `out`; `prev_hash` for chained
    /// sinks.
    fn render_into(&self, e: &Entry, prev_hash: Option<&str>, out: &mut Vec<u8>) -> Result<(), ()> {
        let input = match &e.input {
            LogInput::Policy(p) => p.masked(&self.mask),
            LogInput::Request(r, keep) => {
                crate::input::request_only(r, &|h| keep.iter().any(|k| k == h), &self.mask)
            }
        };
        if self.format == DecisionLogFormat::Opa {
            return opa::render_into(self, e, &input, prev_hash, out);
        }
        let record = Record {
            timestamp: rfc3339(e.timestamp_ms),
            service: self.service.as_deref(),
            entrypoint: &self.entrypoint,
            decision: &e.decision,
            input: &input,
            result: ResultField {
                result: &e.result,
                decision: &e.decision,
            },
            prev_hash,
        };
        serde_json::to_writer(out, &record).map_err(|_| ())
    }

    /// An event record: `timestamp`, `service`, then the event's own fields.
    fn render_event_into(
        &self,
        at_ms: u64,
        body: &Value,
        prev_hash: Option<&str>,
        out: &mut Vec<u8>,
    ) -> Result<(), ()> {
        #[derive(serde::Serialize)]
        struct EventRecord<'a> {
            timestamp: String,
            service: Option<&'a str>,
            #[serde(flatten)]
            body: &'a Value,
            #[serde(skip_serializing_if = "Option::is_none")]
            prev_hash: Option<&'a str>,
        }
        let record = EventRecord {
            timestamp: rfc3339(at_ms),
            service: self.service.as_deref(),
            body,
            prev_hash,
        };
        serde_json::to_writer(out, &record).map_err(|_| ())
    }
}

/// Renders one line (no newline) into the buffer, given the chain's previous hash.
type Render<'a> = dyn Fn(Option<&str>, &mut Vec<u8>) -> Result<(), ()> + 'a;

fn render_string(render: &Render<'_>, prev_hash: Option<&str>) -> Result<String, ()> {
    let mut out = Vec::with_capacity(1024);
    render(prev_hash, &mut out)?;
    String::from_utf8(out).map_err(|_| ())
}

impl Sink {
    fn write(
        &mut self,
        render: impl Fn(Option<&str>, &mut Vec<u8>) -> Result<(), ()>,
    ) -> Result<Taken, ()> {
        let render: &Render<'_> = &render;
        match self {
            Sink::Stdout => {
                let line = render_string(render, None)?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}").map_err(|_| ())?;
            }
            Sink::File { out, buf } => {
                // One reused buffer: no allocation per record for the line itself.
                buf.clear();
                render(None, buf)?;
                buf.push(b'\n');
                out.write_all(buf).map_err(|_| ())?;
            }
            Sink::Chained { out, last_hash } => {
                let body = render_string(render, Some(last_hash))?;
                let hash = sha256_hex(body.as_bytes());
                let open = body.strip_suffix('}').ok_or(())?;
                writeln!(out, "{open},\"hash\":\"{hash}\"}}").map_err(|_| ())?;
                *last_hash = hash;
            }
            Sink::Callback(f) => {
                let line = render_string(render, None)?;
                // A panicking callback must not take the log worker down with it.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&line)))
                    .map_err(|_| ())?;
            }
            Sink::Service {
                batcher,
                file,
                buf,
                counters,
            } => {
                buf.clear();
                render(None, buf)?;
                let pushed = batcher.push(buf);
                // The local copy takes every record, even one too large to upload.
                if let Some(out) = file {
                    buf.push(b'\n');
                    if out.write_all(buf).is_err() {
                        counters.file_failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                pushed?;
                return Ok(Taken::Pending);
            }
        }
        Ok(Taken::Written)
    }

    /// After each run of messages: push buffered bytes out (files), never waiting on a network.
    fn flush(&mut self) {
        match self {
            Sink::Stdout => {
                let _ = std::io::stdout().flush();
            }
            Sink::File { out, .. } | Sink::Chained { out, .. } => {
                let _ = out.flush();
            }
            Sink::Service {
                file: Some(out), ..
            } => {
                let _ = out.flush();
            }
            Sink::Callback(_) | Sink::Service { file: None, .. } => {}
        }
    }

    /// When the sink next needs the writer without a message (an upload batch's deadline).
    fn deadline(&self) -> Option<Instant> {
        match self {
            Sink::Service { batcher, .. } => batcher.deadline(),
            _ => None,
        }
    }

    /// Send an upload batch whose time has come.
    fn tick(&mut self) {
        if let Sink::Service { batcher, .. } = self {
            batcher.tick();
        }
    }

    /// For `flush`: everything taken so far is written, uploaded or given up.
    fn sync(&mut self) {
        self.flush();
        if let Sink::Service { batcher, .. } = self {
            batcher.flush();
        }
    }

    /// The writer stops: [`Sink::sync`], and the uploader stops too.
    fn finish(&mut self) {
        self.flush();
        if let Sink::Service { batcher, .. } = self {
            batcher.stop();
        }
    }
}
