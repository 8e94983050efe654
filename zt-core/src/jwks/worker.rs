//! The machinery every issuer shares: the HTTP client and zt's private fetch runtime.

use crate::config::JwksConfig;
use crate::error::RuntimeError;
use crate::util::clock::Clock;
use std::sync::{Arc, Mutex};

/// Shared machinery: HTTP client, worker runtime, clock, limits.
pub(crate) struct Env {
    pub(crate) config: JwksConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(super) client: Option<reqwest::Client>,
    worker: Mutex<Option<Worker>>,
}

impl Env {
    pub(crate) fn new(
        config: JwksConfig,
        clock: Arc<dyn Clock>,
        needs_worker: bool,
    ) -> Result<Self, RuntimeError> {
        let (client, worker) = if needs_worker {
            // The pollers' client: bounded, no proxy, at most three redirects to allowed URLs.
            let client = crate::util::poll::client(config.timeout_ms)
                .map_err(|_| RuntimeError::HttpClient)?;
            (Some(client), Some(Worker::start()?))
        } else {
            (None, None)
        };
        Ok(Self {
            config,
            clock,
            client,
            worker: Mutex::new(worker),
        })
    }

    /// A handle to the fetch runtime, unless there is none or it was stopped.
    pub(crate) fn handle(&self) -> Option<tokio::runtime::Handle> {
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner());
        worker.as_ref().map(|w| w.handle.clone())
    }

    /// Stop the fetch runtime: fetches in flight are cancelled (their waiters see
    /// `jwks_worker_stopped`), cached keys keep serving, and no fetch starts again.
    pub(crate) fn stop(&self) {
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(worker);
    }
}

/// A private single-threaded tokio runtime on its own thread. Dropping the last handle lets
/// the thread finish; it is never joined, so dropping zt from inside any runtime (or from a
/// task on this one) cannot deadlock or panic.
pub(crate) struct Worker {
    pub(super) handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Worker {
    fn start() -> Result<Self, RuntimeError> {
        // The runtime is built on its own thread and only its handle comes back: a failure at
        // any step is an error here, and no runtime is ever dropped on the caller's thread
        // (tokio refuses to drop a runtime inside an async context).
        let (handle_tx, handle_rx) = std::sync::mpsc::sync_channel(1);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("zt-jwks".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(rt) => {
                        let _ = handle_tx.send(Ok(rt.handle().clone()));
                        // Returns when the sender is dropped; pending fetches are then cancelled.
                        let _ = rt.block_on(stopped);
                    }
                    Err(_) => {
                        let _ = handle_tx.send(Err(RuntimeError::AsyncRuntime));
                    }
                }
            })
            .map_err(|e| RuntimeError::Thread {
                name: "zt-jwks",
                kind: e.kind().to_string(),
            })?;
        let handle = handle_rx.recv().map_err(|_| RuntimeError::AsyncRuntime)??;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }
}
