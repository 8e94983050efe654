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
use crate::error::PolicyError;
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
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BundleService {
    pub(crate) fn status(&self) -> BundleServiceStatus {
        let s = &self.state;
        let (last_error, etag) = s.text.lock().unwrap_or_else(|p| p.into_inner()).clone();
        BundleServiceStatus {
            url: s.url.clone(),
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

    /// Stop polling (idempotent).
    pub(crate) fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take()
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
        let token = match &cfg.bearer_token_env {
            Some(name) => Some(std::env::var(name).map_err(|_| PolicyError::Bundle {
                detail: format!("`policy.service.bearer_token_env`: `{name}` is not set"),
            })?),
            None => None,
        };
        let (first_tx, first_rx) = std::sync::mpsc::sync_channel::<First>(1);
        let (store_tx, store_rx) = std::sync::mpsc::sync_channel::<Weak<PolicyStore>>(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let poller = Poller {
            cfg: cfg.clone(),
            url,
            token,
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
        let mut service = BundleService {
            state: state.clone(),
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        let wait = Duration::from_millis(cfg.timeout_ms.saturating_mul(2).saturating_add(1000));
        let first = first_rx
            .recv_timeout(wait)
            .unwrap_or_else(|_| Err("no answer in time".to_owned()));
        let downloaded = first.and_then(|(bytes, etag)| {
            let c = bundle::from_archive_bytes(&bytes, opts.limits())
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
                    .ok_or_else(|| PolicyError::Bundle {
                        detail: format!(
                            "the bundle server gave no usable bundle ({why}) and no bundle is persisted in `policy.persist_dir`"
                        ),
                    })
                    .and_then(|bytes| {
                        Self::candidate(bundle::from_archive_bytes(&bytes, opts.limits())?, opts)
                    })
            }
        };
        let first = match first {
            Ok(c) => c,
            Err(e) => {
                // The poller waits for the store: close its channel before stopping it.
                drop(store_tx);
                service.stop();
                return Err(e);
            }
        };
        let store = Arc::new(Self::with_active(first, opts.clone()));
        if store_tx.send(Arc::downgrade(&store)).is_err() {
            service.stop();
        }
        Ok((store, service))
    }
}

struct Poller {
    cfg: BundleServiceConfig,
    url: String,
    token: Option<String>,
    limit: u64,
    opts: PolicyConfig,
    state: Arc<State>,
}

enum Fetched {
    Bundle(Vec<u8>, Option<String>),
    NotModified,
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
        let (Ok(rt), Ok(client)) = (runtime, self.client()) else {
            let _ = first.send(Err("cannot start an HTTP client".to_owned()));
            return;
        };
        let answer = rt
            .block_on(self.fetch(&client, None))
            .and_then(|f| match f {
                Fetched::Bundle(bytes, etag) => Ok((bytes, etag)),
                Fetched::NotModified => Err("304 without a bundle".to_owned()),
            });
        if let Ok((bytes, _)) = &answer {
            self.count_download(bytes.len());
        }
        let _ = first.send(answer);
        let Ok(weak) = store.recv() else { return };
        let mut failures: u32 = 0;
        rt.block_on(async {
            loop {
                let wait = self.next_wait(failures);
                if tokio::time::timeout(wait, &mut stop).await.is_ok() {
                    return;
                }
                let Some(store) = weak.upgrade() else { return };
                let etag = self
                    .state
                    .text
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .1
                    .clone();
                let ok = match self.fetch(&client, etag.as_deref()).await {
                    Ok(Fetched::NotModified) => {
                        self.state.not_modified.fetch_add(1, Ordering::Relaxed);
                        self.state.succeeded(None);
                        true
                    }
                    Ok(Fetched::Bundle(bytes, etag)) => {
                        self.count_download(bytes.len());
                        self.activate(&store, &bytes, etag)
                    }
                    Err(why) => {
                        self.state.failed(why);
                        false
                    }
                };
                failures = if ok { 0 } else { failures.saturating_add(1) };
            }
        });
    }

    fn count_download(&self, n: usize) {
        self.state.downloads.fetch_add(1, Ordering::Relaxed);
        self.state.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Through the gate into the store; persisted when it got in.
    fn activate(&self, store: &PolicyStore, bytes: &[u8], etag: Option<String>) -> bool {
        let adopted = bundle::from_archive_bytes(bytes, self.opts.limits())
            .and_then(|b| PolicyStore::candidate(b, &self.opts))
            .and_then(|c| store.adopt(c));
        match adopted {
            Ok(_) => {
                persist(&self.opts, bytes);
                self.state.succeeded(Some(etag));
                true
            }
            Err(e) => {
                // Remember its ETag anyway: the same bad bundle is not downloaded again.
                self.state.text.lock().unwrap_or_else(|p| p.into_inner()).1 = etag;
                self.state.failed(e.to_string());
                false
            }
        }
    }

    fn next_wait(&self, failures: u32) -> Duration {
        let (min, max) = (self.cfg.polling_min_s, self.cfg.polling_max_s);
        let mut r = [0u8; 8];
        let _ = aws_lc_rs::rand::fill(&mut r);
        let span_ms = (max - min).saturating_mul(1000);
        let jitter = u64::from_le_bytes(r) % span_ms.saturating_add(1);
        let base = min.saturating_mul(1000).saturating_add(jitter);
        let backoff = base.saturating_mul(1u64 << failures.min(10));
        Duration::from_millis(backoff.min(max.saturating_mul(10_000)))
    }

    fn client(&self) -> Result<reqwest::Client, ()> {
        let timeout = Duration::from_millis(self.cfg.timeout_ms);
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 3
                    || !crate::config::url_allowed(attempt.url().as_str())
                {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .user_agent(concat!("zt/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| ())
    }

    async fn fetch(&self, client: &reqwest::Client, etag: Option<&str>) -> Result<Fetched, String> {
        let mut req = client.get(&self.url);
        if let Some(e) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, e);
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let mut resp = req.send().await.map_err(describe)?;
        match resp.status().as_u16() {
            304 => return Ok(Fetched::NotModified),
            200 => {}
            other => return Err(format!("HTTP status {other}")),
        }
        let too_large = || {
            format!(
                "larger than `policy.max_bundle_bytes` ({} bytes)",
                self.limit
            )
        };
        if resp.content_length().is_some_and(|n| n > self.limit) {
            return Err(too_large());
        }
        let etag = resp
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(describe)? {
            if body.len() as u64 + chunk.len() as u64 > self.limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Bundle(body, etag))
    }
}

/// A transport error in a few words (never the URL's credentials: the token is a header).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
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
    let tmp = path.with_extension("tar.gz.tmp");
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if written.is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
