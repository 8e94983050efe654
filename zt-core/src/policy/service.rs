//! Bundles from a bundle server (OPA's bundle service API): download, poll, persist.
//!
//! `GET {url}/{path}` returns an OPA bundle `.tar.gz` and an `ETag`; later polls send
//! `If-None-Match` and a `304` costs nothing. Each new download goes through the same gate as a
//! local bundle (size limits, compile, tests, and the rollout gate when configured): a bad
//! download never becomes active and the last good bundle keeps serving. Polls wait a random
//! time between `polling_min_s` and `polling_max_s`; failures back off exponentially (up to ten
//! times `polling_max_s`). With `persist_dir`, each activated bundle is written there
//! atomically, and a start that cannot reach the server starts from it.
//!
//! The poller is one thread with its own single-threaded runtime, like the key fetcher; it
//! stops when the authorizer (the [`BundleService`]) is dropped.

use super::bundle;
use super::store::PolicyStore;
use crate::config::{BundleServiceConfig, PolicyConfig};
use crate::credentials::Credentials;
use crate::error::PolicyError;
use crate::util::poll::{self, Fetched};
use crate::util::time::unix_ms;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The bundle service's state ([`AuthorizerStatus`](crate::AuthorizerStatus) and metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct BundleServiceStatus {
    /// `{url}/{path}`.
    pub url: String,
    /// Bundles downloaded (status 200), including those the gate refused.
    pub downloads: u64,
    /// Polls answered `304 Not Modified`.
    pub not_modified: u64,
    /// Polls that failed (network, status, size, or a bundle the gate refused).
    pub errors: u64,
    /// Bytes downloaded.
    pub download_bytes: u64,
    /// The last poll that succeeded (Unix ms; 0: none).
    pub last_success_ms: u64,
    /// The last failure's message, if the last poll failed.
    pub last_error: Option<String>,
    /// The `ETag` of the last bundle downloaded.
    pub etag: Option<String>,
    /// Whether the active bundle came from `persist_dir` at start (the server was unreachable).
    pub started_from_persisted: bool,
}

#[derive(Default)]
struct State {
    url: String,
    downloads: AtomicU64,
    not_modified: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
    last_success_ms: AtomicU64,
    text: Mutex<(Option<String>, Option<String>)>,
    from_persisted: std::sync::atomic::AtomicBool,
    /// The ETag of a download the gate refused: a 304 for it is not a success.
    refused: Mutex<Option<String>>,
}

impl State {
    fn failed(&self, why: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.text.lock().unwrap_or_else(|p| p.into_inner()).0 = Some(why);
    }

    fn succeeded(&self, etag: Option<Option<String>>) {
        self.last_success_ms.store(unix_ms(), Ordering::Relaxed);
        let mut t = self.text.lock().unwrap_or_else(|p| p.into_inner());
        t.0 = None;
        if let Some(e) = etag {
            t.1 = e;
        }
    }
}

/// A running bundle poller; dropping it stops the poller.
pub(crate) struct BundleService {
    state: Arc<State>,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Hands the store to the poller after the first download; closed by `stop`.
    store_tx: Mutex<Option<std::sync::mpsc::SyncSender<Weak<PolicyStore>>>>,
}

impl BundleService {
    pub(crate) fn status(&self) -> BundleServiceStatus {
        let s = &self.state;
        let (last_error, etag) = s.text.lock().unwrap_or_else(|p| p.into_inner()).clone();
        BundleServiceStatus {
            url: poll::shown_url(&s.url),
            downloads: s.downloads.load(Ordering::Relaxed),
            not_modified: s.not_modified.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            download_bytes: s.bytes.load(Ordering::Relaxed),
            last_success_ms: s.last_success_ms.load(Ordering::Relaxed),
            last_error,
            etag,
            started_from_persisted: s.from_persisted.load(Ordering::Relaxed),
        }
    }

    /// Stop polling (idempotent): a poll in progress is abandoned at once.
    pub(crate) fn stop(&self) {
        drop(
            self.store_tx
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        drop(self.stop.lock().unwrap_or_else(|p| p.into_inner()).take());
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}

impl Drop for BundleService {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The first download's outcome, handed from the poller thread to the builder.
type First = Result<(Vec<u8>, Option<String>), String>;

impl PolicyStore {
    /// Start from a bundle server: download the bundle (waiting at most about twice
    /// `timeout_ms`), or, when the server cannot be reached or serves no good bundle, the one
    /// persisted in `persist_dir`; then keep polling. With neither it is an error.
    pub(crate) fn from_service(
        opts: &PolicyConfig,
    ) -> Result<(Arc<PolicyStore>, BundleService), PolicyError> {
        let Some(cfg) = opts.service.clone() else {
            return Err(PolicyError::Bundle {
                detail: "`policy.service` is not set".to_owned(),
            });
        };
        let url = format!(
            "{}/{}",
            cfg.url.trim_end_matches('/'),
            cfg.path.trim_start_matches('/')
        );
        let state = Arc::new(State {
            url: url.clone(),
            ..State::default()
        });
        let credentials = Credentials::from_config(
            "policy.service",
            cfg.bearer_token_env.as_deref(),
            cfg.oauth2.as_ref(),
        )
        .map_err(|detail| PolicyError::Bundle { detail })?;
        let (first_tx, first_rx) = std::sync::mpsc::sync_channel::<First>(1);
        let (store_tx, store_rx) = std::sync::mpsc::sync_channel::<Weak<PolicyStore>>(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let poller = Poller {
            cfg: cfg.clone(),
            url,
            credentials,
            limit: opts.max_bundle_bytes,
            opts: opts.clone(),
            state: state.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("zt-bundle-service".to_owned())
            .spawn(move || poller.run(first_tx, store_rx, stop_rx))
            .map_err(|e| PolicyError::Bundle {
                detail: format!("cannot start the bundle poller: {}", e.kind()),
            })?;
        let service = BundleService {
            state: state.clone(),
            stop: Mutex::new(Some(stop_tx)),
            thread: Mutex::new(Some(thread)),
            store_tx: Mutex::new(Some(store_tx)),
        };
        // A first poll may fetch a token, be refused, fetch another and poll again.
        let token_ms = cfg.oauth2.as_ref().map_or(0, |o| o.timeout_ms);
        let wait = Duration::from_millis(
            (cfg.timeout_ms.saturating_add(token_ms))
                .saturating_mul(2)
                .saturating_add(1000),
        );
        let first = first_rx
            .recv_timeout(wait)
            .unwrap_or_else(|_| Err("no answer in time".to_owned()));
        let downloaded = first.and_then(|(bytes, etag)| {
            let c = bundle::from_archive_bytes(&bytes, opts)
                .and_then(|b| Self::candidate(b, opts))
                .map_err(|e| e.to_string())?;
            persist(opts, &bytes);
            Ok((c, etag))
        });
        let first = match downloaded {
            Ok((c, etag)) => {
                state.succeeded(Some(etag));
                Ok(c)
            }
            Err(why) => {
                state.failed(why.clone());
                state.from_persisted.store(true, Ordering::Relaxed);
                persisted_path(opts)
                    .and_then(|p| std::fs::read(p).ok())
                    .filter(|bytes| bytes.len() as u64 <= opts.max_bundle_bytes)
                    .ok_or_else(|| PolicyError::Bundle {
                        detail: format!(
                            "the bundle server gave no usable bundle ({why}) and no bundle is persisted in `policy.persist_dir`"
                        ),
                    })
                    .and_then(|bytes| {
                        Self::candidate(bundle::from_archive_bytes(&bytes, opts)?, opts)
                    })
            }
        };
        let first = match first {
            Ok(c) => c,
            Err(e) => {
                service.stop();
                return Err(e);
            }
        };
        let store = Arc::new(Self::with_active(first, opts.clone()));
        let sent = service
            .store_tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map(|tx| tx.send(Arc::downgrade(&store)));
        if !matches!(sent, Some(Ok(()))) {
            service.stop();
        }
        Ok((store, service))
    }
}

struct Poller {
    cfg: BundleServiceConfig,
    url: String,
    credentials: Credentials,
    limit: u64,
    opts: PolicyConfig,
    state: Arc<State>,
}

impl Poller {
    fn run(
        self,
        first: std::sync::mpsc::SyncSender<First>,
        store: std::sync::mpsc::Receiver<Weak<PolicyStore>>,
        mut stop: tokio::sync::oneshot::Receiver<()>,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let (Ok(rt), Ok(client)) = (runtime, poll::client(self.cfg.timeout_ms)) else {
            let _ = first.send(Err("cannot start an HTTP client".to_owned()));
            return;
        };
        let answer = rt
            .block_on(self.fetch(&client, None))
            .and_then(|f| match f {
                Fetched::Body(bytes, etag) => Ok((bytes, etag)),
                Fetched::NotModified => Err("304 without a bundle".to_owned()),
            });
        if let Ok((bytes, _)) = &answer {
            self.count_download(bytes.len());
        }
        let _ = first.send(answer);
        let Ok(weak) = store.recv() else { return };
        let mut failures: u32 = 0;
        // A download that started a rollout: persisted once it is the active revision.
        let mut pending: Option<(String, Vec<u8>)> = None;
        rt.block_on(async {
            loop {
                let wait = self.next_wait(failures);
                if tokio::time::timeout(wait, &mut stop).await.is_ok() {
                    return;
                }
                let Some(store) = weak.upgrade() else { return };
                if let Some((rev, bytes)) = &pending
                    && store.active_revision() == *rev
                {
                    persist(&self.opts, bytes);
                    pending = None;
                }
                let etag = self
                    .state
                    .text
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .1
                    .clone();
                let fetched = tokio::select! {
                    f = self.fetch(&client, etag.as_deref()) => f,
                    _ = &mut stop => return,
                };
                let ok = match fetched {
                    Ok(Fetched::NotModified) => {
                        self.state.not_modified.fetch_add(1, Ordering::Relaxed);
                        let refused = self
                            .state
                            .refused
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .clone();
                        // Still the bundle the gate refused: keep saying so.
                        if refused.is_none() || refused != etag {
                            self.state.succeeded(None);
                        }
                        true
                    }
                    Ok(Fetched::Body(bytes, etag)) => {
                        self.count_download(bytes.len());
                        let run = std::panic::AssertUnwindSafe(|| {
                            self.activate(&store, bytes, etag, &mut pending)
                        });
                        std::panic::catch_unwind(run).unwrap_or_else(|_| {
                            self.state
                                .failed("activating the download failed".to_owned());
                            false
                        })
                    }
                    Err(why) => {
                        self.state.failed(why);
                        false
                    }
                };
                failures = if ok { 0 } else { failures.saturating_add(1) };
            }
        });
        // DNS lookups in flight are not waited for.
        rt.shutdown_background();
    }

    fn count_download(&self, n: usize) {
        self.state.downloads.fetch_add(1, Ordering::Relaxed);
        self.state.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Through the gate into the store. Persisted when it is active (with the rollout gate:
    /// once promoted, see `pending`); the same revision downloaded again changes nothing.
    fn activate(
        &self,
        store: &PolicyStore,
        bytes: Vec<u8>,
        etag: Option<String>,
        pending: &mut Option<(String, Vec<u8>)>,
    ) -> bool {
        let candidate = bundle::from_archive_bytes(&bytes, &self.opts)
            .and_then(|b| PolicyStore::candidate(b, &self.opts));
        let adopted = candidate.and_then(|c| {
            if c.revision == store.active_revision() {
                return Ok(c.revision.clone());
            }
            store.adopt(c)
        });
        match adopted {
            Ok(rev) => {
                *self.state.refused.lock().unwrap_or_else(|p| p.into_inner()) = None;
                if store.active_revision() == rev {
                    persist(&self.opts, &bytes);
                    *pending = None;
                } else {
                    *pending = Some((rev, bytes));
                }
                self.state.succeeded(Some(etag));
                true
            }
            Err(e) => {
                // Remember its ETag anyway: the same bad bundle is not downloaded again, and
                // the 304s that follow are not taken for success.
                *self.state.refused.lock().unwrap_or_else(|p| p.into_inner()) = etag.clone();
                self.state.text.lock().unwrap_or_else(|p| p.into_inner()).1 = etag;
                self.state.failed(e.to_string());
                false
            }
        }
    }

    fn next_wait(&self, failures: u32) -> Duration {
        poll::next_wait(self.cfg.polling_min_s, self.cfg.polling_max_s, failures)
    }

    async fn fetch(&self, client: &reqwest::Client, etag: Option<&str>) -> Result<Fetched, String> {
        self.credentials
            .get(
                client,
                &self.url,
                etag,
                self.limit,
                "policy.max_bundle_bytes",
            )
            .await
    }
}

fn persisted_path(opts: &PolicyConfig) -> Option<PathBuf> {
    opts.persist_dir.as_ref().map(|d| d.join("bundle.tar.gz"))
}

/// Write the bundle to `persist_dir` atomically (a temporary file renamed over the old one).
/// Failing to persist does not stop serving.
fn persist(opts: &PolicyConfig, bytes: &[u8]) {
    use std::io::Write as _;
    let Some(path) = persisted_path(opts) else {
        return;
    };
    // A name of its own per writer, so that two authorizers sharing the directory never write
    // into one file.
    let mut r = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut r);
    let tmp = path.with_extension(format!(
        "tar.gz.{}.{:016x}.tmp",
        std::process::id(),
        u64::from_le_bytes(r)
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
    if written.is_ok() && std::fs::rename(&tmp, &path).is_ok() {
        if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
            let _ = dir.sync_all();
        }
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
}
