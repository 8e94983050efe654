//! Watching a bundle on disk and activating new revisions through the store's gate.

use super::bundle;
use super::store::PolicyStore;
use crate::error::PolicyError;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

impl PolicyStore {
    /// Watch a bundle directory or archive: every `interval`, load it and, when its revision
    /// differs from the active one, activate it through the same gate as [`PolicyStore::reload`].
    /// A candidate that fails is recorded in [`PolicyWatcher::last_error`] and not retried until
    /// its content changes. Watching stops when the watcher is dropped.
    pub fn watch(self: &Arc<Self>, path: &Path, interval: std::time::Duration) -> PolicyWatcher {
        let state = Arc::new(WatchState {
            stop: std::sync::atomic::AtomicBool::new(false),
            last_error: Mutex::new(None),
            reloads: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(self);
        let (st, path) = (state.clone(), path.to_path_buf());
        let thread = std::thread::Builder::new()
            .name("zt-policy-watch".to_owned())
            .spawn(move || {
                let mut failed_revision: Option<String> = None;
                while !st.stop.load(Ordering::Relaxed) {
                    std::thread::park_timeout(interval);
                    if st.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Some(store) = weak.upgrade() else { break };
                    let loaded = bundle::load(&path, &store.opts);
                    let outcome = match loaded {
                        Ok(b) if store.knows(&b.revision) => Ok(false),
                        Ok(b) if failed_revision.as_deref() == Some(b.revision.as_str()) => {
                            Ok(false)
                        }
                        Ok(b) => {
                            let rev = b.revision.clone();
                            match Self::candidate(b, &store.opts) {
                                Ok(c) => match store.adopt(c) {
                                    Ok(_) => Ok(true),
                                    Err(e) => {
                                        failed_revision = Some(rev);
                                        Err(e)
                                    }
                                },
                                Err(e) => {
                                    failed_revision = Some(rev);
                                    Err(e)
                                }
                            }
                        }
                        Err(e) => Err(e),
                    };
                    match outcome {
                        Ok(true) => {
                            st.reloads.fetch_add(1, Ordering::Relaxed);
                            *st.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            *st.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        }
                    }
                }
            })
            .ok();
        PolicyWatcher { state, thread }
    }
}

struct WatchState {
    stop: std::sync::atomic::AtomicBool,
    last_error: Mutex<Option<PolicyError>>,
    reloads: AtomicU64,
}

/// Watches a bundle for changes; stops when dropped.
pub struct PolicyWatcher {
    state: Arc<WatchState>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for PolicyWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyWatcher").finish_non_exhaustive()
    }
}

impl PolicyWatcher {
    /// The error of the last failed candidate (cleared by the next successful reload).
    pub fn last_error(&self) -> Option<PolicyError> {
        self.state
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Bundles activated by this watcher.
    pub fn reloads(&self) -> u64 {
        self.state.reloads.load(Ordering::Relaxed)
    }
}

impl Drop for PolicyWatcher {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
