//! The shared replay store (`[dpop.replay_store]`): spent proof ids recorded in Redis, so a
//! proof used on any instance is refused by every other (RFC 9449 §11.1).
//!
//! A proof id is recorded with `SET prefix+id 1 NX PX window`: the first instance to set it
//! wins, every later one gets nil and refuses the proof (`dpop_replayed`). The key is the
//! base64url SHA-256 of the key thumbprint and the `jti`, so no client text reaches Redis and
//! every key has the same length.
//!
//! Redis is reached through one multiplexed connection (redis-rs's `ConnectionManager`: every
//! concurrent request is pipelined on it, and it reconnects by itself) driven by zt's private
//! runtime, so any caller can wait for it: `authorize` awaits a channel, `authorize_sync`
//! blocks on it. Each request waits at most `timeout_ms`. After a failure the store is skipped
//! for a short, doubling pause (100 ms up to 2 s, reset by the next success) so that a Redis
//! outage costs requests no wait; `on_error` then decides.

use crate::codes::Reason;
use crate::config::{ReplayStoreConfig, ReplayStoreOnError};
use crate::util::worker::Worker;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A proof id this instance has not seen, to be recorded in the store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    /// SHA-256 of the key thumbprint and the `jti`.
    pub(crate) id: [u8; 32],
    /// How long the id must be remembered, milliseconds.
    pub(crate) ttl_ms: u64,
}

/// What the store said of one proof id.
enum Answer {
    Fresh,
    Seen,
    Failed(String),
    /// Not asked: the store failed moments before.
    Skipped,
}

/// The shared replay store's counters and state (`status().dpop_replay_store`, and the
/// `zt_dpop_replay_store_*` metrics).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ReplayStoreStats {
    /// The store's URL (it never carries a password).
    pub url: String,
    /// `deny` or `local`.
    pub on_error: ReplayStoreOnError,
    /// Whether the last call succeeded (`true` before the first call).
    pub up: bool,
    /// Proof ids recorded (the first use anywhere).
    pub fresh: u64,
    /// Proof ids the store had seen (a replay on this or another instance).
    pub replayed: u64,
    /// Calls that failed or timed out.
    pub errors: u64,
    /// Requests that did not call the store because it failed moments before.
    pub skipped: u64,
    /// Requests decided by this instance's cache alone after an error or a skip
    /// (`on_error = "local"`).
    pub local_fallbacks: u64,
    /// Requests refused with `dpop_replay_store_unavailable` (`on_error = "deny"`).
    pub denied: u64,
    /// The last error, if the last call failed.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Counters {
    fresh: AtomicU64,
    replayed: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
    local_fallbacks: AtomicU64,
    denied: AtomicU64,
}

/// Consecutive failures and the pause they impose.
struct Breaker {
    started: Instant,
    failures: AtomicU32,
    /// Milliseconds since `started` before which the store is skipped.
    closed_until_ms: AtomicU64,
}

impl Breaker {
    const FIRST_PAUSE_MS: u64 = 100;
    const LONGEST_PAUSE_MS: u64 = 2_000;

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn paused(&self) -> bool {
        self.now_ms() < self.closed_until_ms.load(Ordering::Relaxed)
    }

    fn record(&self, ok: bool) {
        if ok {
            self.failures.store(0, Ordering::Relaxed);
            self.closed_until_ms.store(0, Ordering::Relaxed);
            return;
        }
        let n = self.failures.fetch_add(1, Ordering::Relaxed).min(16);
        let pause = Self::FIRST_PAUSE_MS
            .saturating_mul(1 << n)
            .min(Self::LONGEST_PAUSE_MS);
        self.closed_until_ms
            .store(self.now_ms().saturating_add(pause), Ordering::Relaxed);
    }
}

/// The shared store of spent proof ids.
pub(crate) struct ReplayStore {
    connection: redis::aio::ConnectionManager,
    /// Drives the connection; dropped with the store.
    worker: Worker,
    prefix: String,
    timeout: Duration,
    on_error: ReplayStoreOnError,
    url: String,
    counters: Counters,
    breaker: Breaker,
    last_error: Mutex<Option<String>>,
}

impl ReplayStore {
    /// The store for `[dpop.replay_store]`. Nothing is sent yet: the connection opens with
    /// the first proof, so a Redis that is down at start delays nothing. An error names the
    /// unset password variable or the URL Redis's client refuses.
    pub(crate) fn new(c: &ReplayStoreConfig) -> Result<Self, String> {
        let mut info = redis::IntoConnectionInfo::into_connection_info(c.url.as_str())
            .map_err(|_| "`dpop.replay_store.url` is not a Redis URL".to_owned())?;
        if let Some(var) = &c.password_env {
            let password = std::env::var(var).map_err(|_| {
                format!("`dpop.replay_store.password_env`: `{var}` is not set or not UTF-8")
            })?;
            let mut settings = info.redis_settings().clone().set_password(password);
            if let Some(user) = &c.username {
                settings = settings.set_username(user);
            }
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info)
            .map_err(|_| "`dpop.replay_store.url` is not a Redis URL".to_owned())?;
        let timeout = Duration::from_millis(c.timeout_ms);
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let worker = Worker::start("zt-dpop-store")
            .map_err(|e| crate::error::RuntimeError::from(e).to_string())?;
        let connection = {
            // The connection's tasks run on zt's runtime, whoever calls.
            let _entered = worker.handle().enter();
            redis::aio::ConnectionManager::new_lazy_with_config(client, config)
                .map_err(|_| "the Redis client cannot be set up".to_owned())?
        };
        Ok(Self {
            connection,
            worker,
            prefix: c.prefix.clone(),
            timeout,
            on_error: c.on_error,
            url: c.url.clone(),
            counters: Counters::default(),
            breaker: Breaker {
                started: Instant::now(),
                failures: AtomicU32::new(0),
                closed_until_ms: AtomicU64::new(0),
            },
            last_error: Mutex::new(None),
        })
    }

    /// Record `p`, awaiting the store: `Ok` when the id is new everywhere (or, with
    /// `on_error = "local"`, when the store failed), else the refusal.
    pub(crate) async fn spend(&self, p: Pending) -> Result<(), Reason> {
        let answer = match self.start(p) {
            Ok(rx) => rx.await.unwrap_or_else(|_| stopped()),
            Err(a) => a,
        };
        self.settle(answer)
    }

    /// [`ReplayStore::spend`], blocking the calling thread (for at most `timeout_ms`: the
    /// call runs on zt's runtime, which ends it then).
    pub(crate) fn spend_blocking(&self, p: Pending) -> Result<(), Reason> {
        let answer = match self.start(p) {
            Ok(rx) => futures::executor::block_on(rx).unwrap_or_else(|_| stopped()),
            Err(a) => a,
        };
        self.settle(answer)
    }

    /// Start the `SET NX PX` on zt's runtime; `Err` with the answer at once when the store
    /// is paused after a failure.
    fn start(&self, p: Pending) -> Result<tokio::sync::oneshot::Receiver<Answer>, Answer> {
        if self.breaker.paused() {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(Answer::Skipped);
        }
        let mut key = String::with_capacity(self.prefix.len() + 43);
        key.push_str(&self.prefix);
        URL_SAFE_NO_PAD.encode_string(p.id, &mut key);
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(1).arg("NX").arg("PX").arg(p.ttl_ms.max(1));
        let mut conn = self.connection.clone();
        let timeout = self.timeout;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.worker.handle().spawn(async move {
            let answer = match tokio::time::timeout(timeout, conn.send_packed_command(&cmd)).await {
                Err(_) => Answer::Failed(format!("no answer within {} ms", timeout.as_millis())),
                Ok(Ok(redis::Value::Okay)) => Answer::Fresh,
                Ok(Ok(redis::Value::Nil)) => Answer::Seen,
                Ok(Ok(_)) => Answer::Failed("unexpected answer to SET".to_owned()),
                Ok(Err(e)) => Answer::Failed(describe(&e)),
            };
            let _ = tx.send(answer);
        });
        Ok(rx)
    }

    fn settle(&self, answer: Answer) -> Result<(), Reason> {
        let c = &self.counters;
        match answer {
            Answer::Fresh => {
                self.succeeded();
                c.fresh.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Answer::Seen => {
                self.succeeded();
                c.replayed.fetch_add(1, Ordering::Relaxed);
                Err(Reason::DpopReplayed)
            }
            Answer::Failed(_) | Answer::Skipped => {
                if let Answer::Failed(why) = answer {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                    self.breaker.record(false);
                    *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
                }
                match self.on_error {
                    ReplayStoreOnError::Local => {
                        c.local_fallbacks.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    }
                    _ => {
                        c.denied.fetch_add(1, Ordering::Relaxed);
                        Err(Reason::DpopReplayStoreUnavailable)
                    }
                }
            }
        }
    }

    fn succeeded(&self) {
        self.breaker.record(true);
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some() {
            *last = None;
        }
    }

    /// The counters and state.
    pub(crate) fn stats(&self) -> ReplayStoreStats {
        let c = &self.counters;
        let last_error = self
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        ReplayStoreStats {
            url: self.url.clone(),
            on_error: self.on_error,
            up: last_error.is_none(),
            fresh: c.fresh.load(Ordering::Relaxed),
            replayed: c.replayed.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            local_fallbacks: c.local_fallbacks.load(Ordering::Relaxed),
            denied: c.denied.load(Ordering::Relaxed),
            last_error,
        }
    }
}

/// The answer when zt's runtime is gone (the authorizer is shutting down).
fn stopped() -> Answer {
    Answer::Failed("the store's runtime has stopped".to_owned())
}

/// A Redis error in a few words: its kind and code, never the command (the key) or the
/// connection's credentials.
fn describe(e: &redis::RedisError) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connection_refusal() {
        "connection refused".to_owned()
    } else if e.is_io_error() || e.is_connection_dropped() {
        "connection failed".to_owned()
    } else {
        match e.code() {
            Some(code) => format!("Redis answered {code}"),
            None => format!("{:?}", e.kind()),
        }
    }
}
