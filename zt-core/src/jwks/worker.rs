//! The machinery every issuer shares: the HTTP client and zt's private fetch runtime.

use crate::config::JwksConfig;
use crate::error::RuntimeError;
use crate::util::clock::Clock;
use crate::util::worker::Worker;
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
            (Some(client), Some(Worker::start("zt-jwks")?))
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
        worker.as_ref().map(|w| w.handle().clone())
    }

    /// Stop the fetch runtime: fetches in flight are cancelled (their waiters see
    /// `jwks_worker_stopped`), cached keys keep serving, and no fetch starts again.
    pub(crate) fn stop(&self) {
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(worker);
    }
}
