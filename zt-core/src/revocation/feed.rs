//! The revocation feed (`[revocation] url`): a JSON document `{"token_ids": [...], "subjects":
//! [{"issuer", "subject"}]}` polled with `If-None-Match`/`ETag` (a `304` costs nothing). Each
//! new document replaces the feed's list as a whole, so a name left out is un-revoked. The
//! feed is merged with the in-process lists (`revoke_*`) and the active bundle's
//! `data.zt.revoked`: a token on any of them is denied.
//!
//! The first poll happens while the authorizer is built (bounded by twice `timeout_ms`); when it
//! fails the authorizer still starts, with an empty feed, and says so in its status. A document
//! that does not parse is refused whole and the previous list stays. The poller is one thread
//! with its own single-threaded runtime; it stops with the authorizer.

use super::RevocationList;
use crate::codes::Reason;
use crate::config::RevocationConfig;
use crate::credentials::Credentials;
use crate::util::poll::{self, Fetched};
use crate::util::time::unix_ms;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// The feed's state, for [`AuthorizerStatus`](crate::AuthorizerStatus).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RevocationFeedStatus {
    /// The document's URL (without credentials or query).
    pub url: String,
    /// Token ids on the current list.
    pub token_ids: u64,
    /// Subjects on the current list.
    pub subjects: u64,
    /// Documents downloaded (status 200), including refused ones.
    pub downloads: u64,
    /// Polls answered `304 Not Modified`.
    pub not_modified: u64,
    /// Polls that failed (network, status, size, or a document that does not parse).
    pub errors: u64,
    /// When the current list was applied (Unix ms; 0: never).
    pub updated_at_ms: u64,
    /// The last poll that succeeded (Unix ms; 0: none).
    pub last_success_ms: u64,
    /// The last failure, if the last poll failed.
    pub last_error: Option<String>,
    /// The `ETag` of the current list.
    pub etag: Option<String>,
}

#[derive(Default)]
struct State {
    url: String,
    list: RwLock<Arc<RevocationList>>,
    /// Whether the list is non-empty (the decision path skips the lock when not).
    any: AtomicBool,
    downloads: AtomicU64,
    not_modified: AtomicU64,
    errors: AtomicU64,
    updated_at_ms: AtomicU64,
    last_success_ms: AtomicU64,
    /// (last error, ETag of the current list)
    text: Mutex<(Option<String>, Option<String>)>,
}

impl State {
    fn failed(&self, why: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.text.lock().unwrap_or_else(|p| p.into_inner()).0 = Some(why);
    }

    fn succeeded(&self) {
        self.last_success_ms.store(unix_ms(), Ordering::Relaxed);
        self.text.lock().unwrap_or_else(|p| p.into_inner()).0 = None;
    }

    fn etag(&self) -> Option<String> {
        self.text
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    /// Apply a downloaded document, or refuse it whole.
    fn apply(&self, bytes: &[u8], etag: Option<String>) {
        self.downloads.fetch_add(1, Ordering::Relaxed);
        let parsed = crate::util::json::parse_object(bytes, 8)
            .map_err(|e| e.as_str().to_owned())
            .and_then(|doc| RevocationList::from_document(&serde_json::Value::Object(doc)));
        match parsed {
            Ok(list) => {
                let any = !list.token_ids.is_empty() || !list.subjects.is_empty();
                *self.list.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(list);
                self.any.store(any, Ordering::Release);
                self.updated_at_ms.store(unix_ms(), Ordering::Relaxed);
                self.text.lock().unwrap_or_else(|p| p.into_inner()).1 = etag;
                self.succeeded();
            }
            Err(why) => self.failed(format!("the document is refused: {why}")),
        }
    }
}

/// A running revocation feed; dropping it stops the poller.
pub(crate) struct RevocationFeed {
    state: Arc<State>,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl RevocationFeed {
    /// Start polling; returns after the first poll (or twice `timeout_ms` and a second).
    pub(crate) fn start(cfg: &RevocationConfig) -> Result<Self, String> {
        let credentials = Credentials::from_config(
            "revocation",
            cfg.bearer_token_env.as_deref(),
            cfg.oauth2.as_ref(),
        )?;
        let state = Arc::new(State {
            url: cfg.url.clone(),
            ..State::default()
        });
        let (first_tx, first_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let poller = Poller {
            cfg: cfg.clone(),
            credentials,
            state: state.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("zt-revocation-feed".to_owned())
            .spawn(move || poller.run(&first_tx, stop_rx))
            .map_err(|e| format!("cannot start the revocation poller: {}", e.kind()))?;
        // A first poll may fetch a token, be refused, fetch another and poll again.
        let token_ms = cfg.oauth2.as_ref().map_or(0, |o| o.timeout_ms);
        let wait = Duration::from_millis(
            (cfg.timeout_ms.saturating_add(token_ms))
                .saturating_mul(2)
                .saturating_add(1000),
        );
        if first_rx.recv_timeout(wait).is_err() {
            state.failed("no answer in time".to_owned());
        }
        Ok(Self {
            state,
            stop: Mutex::new(Some(stop_tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The reason to deny, when the token id or the subject is on the feed's list.
    pub(crate) fn revoked(
        &self,
        jti: Option<&str>,
        subject_key: &dyn Fn() -> String,
    ) -> Option<Reason> {
        if !self.state.any.load(Ordering::Acquire) {
            return None;
        }
        let list = self
            .state
            .list
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        list.check(jti, &mut None, subject_key)
    }

    pub(crate) fn status(&self) -> RevocationFeedStatus {
        let s = &self.state;
        let (token_ids, subjects) = {
            let l = s.list.read().unwrap_or_else(|p| p.into_inner());
            (l.token_ids.len() as u64, l.subjects.len() as u64)
        };
        let (last_error, etag) = s.text.lock().unwrap_or_else(|p| p.into_inner()).clone();
        RevocationFeedStatus {
            url: poll::shown_url(&s.url),
            token_ids,
            subjects,
            downloads: s.downloads.load(Ordering::Relaxed),
            not_modified: s.not_modified.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            updated_at_ms: s.updated_at_ms.load(Ordering::Relaxed),
            last_success_ms: s.last_success_ms.load(Ordering::Relaxed),
            last_error,
            etag,
        }
    }

    /// Stop polling (idempotent); a poll in progress is abandoned.
    pub(crate) fn stop(&self) {
        drop(self.stop.lock().unwrap_or_else(|p| p.into_inner()).take());
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}

impl Drop for RevocationFeed {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Poller {
    cfg: RevocationConfig,
    credentials: Credentials,
    state: Arc<State>,
}

impl Poller {
    fn run(
        self,
        first: &std::sync::mpsc::SyncSender<()>,
        mut stop: tokio::sync::oneshot::Receiver<()>,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let (Ok(rt), Ok(client)) = (runtime, poll::client(self.cfg.timeout_ms)) else {
            self.state.failed("cannot start an HTTP client".to_owned());
            let _ = first.send(());
            return;
        };
        let mut failures: u32 = 0;
        let mut first = Some(first);
        rt.block_on(async {
            loop {
                let etag = self.state.etag();
                let fetched = tokio::select! {
                    f = self.credentials.get(&client, &self.cfg.url, etag.as_deref(),
                                             self.cfg.max_bytes, "revocation.max_bytes") => f,
                    _ = &mut stop => return,
                };
                let errors = self.state.errors.load(Ordering::Relaxed);
                match fetched {
                    Ok(Fetched::NotModified) => {
                        self.state.not_modified.fetch_add(1, Ordering::Relaxed);
                        self.state.succeeded();
                    }
                    Ok(Fetched::Body(bytes, etag)) => self.state.apply(&bytes, etag),
                    Err(why) => self.state.failed(why),
                }
                let ok = self.state.errors.load(Ordering::Relaxed) == errors;
                failures = if ok { 0 } else { failures.saturating_add(1) };
                if let Some(tx) = first.take() {
                    let _ = tx.send(());
                }
                let wait =
                    poll::next_wait(self.cfg.polling_min_s, self.cfg.polling_max_s, failures);
                if tokio::time::timeout(wait, &mut stop).await.is_ok() {
                    return;
                }
            }
        });
        rt.shutdown_background();
    }
}
