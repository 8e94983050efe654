//! [`PolicyStore`]: the active bundle behind an atomic swap, kept revisions, a shadow candidate.

use super::bundle::{self, Bundle};
use super::compile::CompiledBundle;
use super::output::{PolicyFailure, PolicyOutput};
use crate::config::PolicyConfig;
use crate::error::PolicyError;
use crate::input::PolicyInput;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

static NEXT_STORE: AtomicU64 = AtomicU64::new(1);

/// One evaluation: which revision answered and what it said.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PolicyEvaluation {
    /// The revision that produced the result.
    pub revision: String,
    /// The result, or why there is none (a deny).
    pub result: Result<PolicyOutput, PolicyFailure>,
}

/// The active bundle, kept revisions, and an optional shadow candidate.
pub struct PolicyStore {
    pub(super) opts: PolicyConfig,
    active: RwLock<Arc<CompiledBundle>>,
    kept: Mutex<VecDeque<Arc<CompiledBundle>>>,
    shadow: RwLock<Option<Arc<CompiledBundle>>>,
    /// Identifies this store in the per-thread cache of its bundles.
    id: u64,
    /// Bumped after every change of the active bundle or the shadow candidate.
    generation: AtomicU64,
}

/// The bundles a thread last evaluated for one store.
struct Seen {
    store: u64,
    generation: u64,
    active: Arc<CompiledBundle>,
    shadow: Option<Arc<CompiledBundle>>,
}

thread_local! {
    /// Per thread, so that a decision reads the bundles without touching a lock or a reference
    /// count shared with other cores: only the store's generation (written on swaps alone) is
    /// read. A thread keeps a swapped-out bundle alive until its next decision on that store.
    static SEEN: std::cell::RefCell<Vec<Seen>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore")
            .field("active", &self.active_revision())
            .finish_non_exhaustive()
    }
}

impl PolicyStore {
    /// Load, compile, test and activate the bundle at `path` (directory or `.tar.gz`).
    pub fn load(path: &Path, opts: PolicyConfig) -> Result<Self, PolicyError> {
        let first = Self::candidate(bundle::load(path, opts.limits())?, &opts)?;
        Ok(Self::with_active(first, opts))
    }

    /// Load the bundle named by the `[policy]` section of a configuration.
    pub fn from_config(config: &crate::config::PolicyConfig) -> Result<Self, PolicyError> {
        let Some(path) = &config.bundle else {
            return Err(PolicyError::Bundle {
                detail: "`policy.bundle` is not set".to_owned(),
            });
        };
        Self::load(path, config.clone())
    }

    /// The same from in-memory files `(path inside the bundle, bytes)`.
    pub fn from_files(
        files: Vec<(String, Vec<u8>)>,
        opts: PolicyConfig,
    ) -> Result<Self, PolicyError> {
        let first = Self::candidate(bundle::from_files(files, opts.limits())?, &opts)?;
        Ok(Self::with_active(first, opts))
    }

    fn with_active(first: Arc<CompiledBundle>, opts: PolicyConfig) -> Self {
        Self {
            opts,
            kept: Mutex::new(VecDeque::from([first.clone()])),
            active: RwLock::new(first),
            shadow: RwLock::new(None),
            id: NEXT_STORE.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
        }
    }

    pub(super) fn candidate(
        b: Bundle,
        opts: &PolicyConfig,
    ) -> Result<Arc<CompiledBundle>, PolicyError> {
        let compiled = CompiledBundle::compile(b, opts, opts.run_tests_on_load)?;
        let failed: Vec<String> = compiled
            .tests
            .iter()
            .filter(|t| !t.passed)
            .map(|t| match &t.error {
                Some(e) => format!("{} ({e})", t.name),
                None => t.name.clone(),
            })
            .collect();
        if !failed.is_empty() {
            return Err(PolicyError::TestsFailed { failed });
        }
        Ok(Arc::new(compiled))
    }

    /// Load a new bundle through the gate and activate it; on any error the active bundle is
    /// unchanged. Returns the new revision.
    pub fn reload(&self, path: &Path) -> Result<String, PolicyError> {
        let c = Self::candidate(bundle::load(path, self.opts.limits())?, &self.opts)?;
        Ok(self.activate(c))
    }

    /// [`PolicyStore::reload`] from in-memory files.
    pub fn reload_files(&self, files: Vec<(String, Vec<u8>)>) -> Result<String, PolicyError> {
        let c = Self::candidate(bundle::from_files(files, self.opts.limits())?, &self.opts)?;
        Ok(self.activate(c))
    }

    pub(super) fn activate(&self, c: Arc<CompiledBundle>) -> String {
        let rev = c.revision.clone();
        {
            let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            kept.retain(|k| k.revision != rev);
            kept.push_back(c.clone());
            while kept.len() > self.opts.keep_revisions_usize() {
                kept.pop_front();
            }
        }
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = c;
        self.generation.fetch_add(1, Ordering::Release);
        rev
    }

    /// Make a kept revision active again.
    pub fn rollback(&self, revision: &str) -> Result<(), PolicyError> {
        let found = self
            .kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|k| k.revision == revision)
            .cloned();
        match found {
            Some(c) => {
                *self.active.write().unwrap_or_else(|p| p.into_inner()) = c;
                self.generation.fetch_add(1, Ordering::Release);
                Ok(())
            }
            None => Err(PolicyError::UnknownRevision {
                revision: revision.to_owned(),
            }),
        }
    }

    /// The kept revisions, oldest first.
    pub fn revisions(&self) -> Vec<String> {
        self.kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|k| k.revision.clone())
            .collect()
    }

    /// The active revision.
    pub fn active_revision(&self) -> String {
        self.active().revision.clone()
    }

    /// The active compiled bundle.
    pub fn active(&self) -> Arc<CompiledBundle> {
        self.active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Set (or clear) the shadow candidate from in-memory files; it passes the same gate.
    pub fn set_shadow_files(
        &self,
        files: Option<Vec<(String, Vec<u8>)>>,
    ) -> Result<Option<String>, PolicyError> {
        let c = match files {
            Some(f) => Some(Self::candidate(
                bundle::from_files(f, self.opts.limits())?,
                &self.opts,
            )?),
            None => None,
        };
        let rev = c.as_ref().map(|c| c.revision.clone());
        *self.shadow.write().unwrap_or_else(|p| p.into_inner()) = c;
        self.generation.fetch_add(1, Ordering::Release);
        Ok(rev)
    }

    /// Set the shadow candidate from a directory or archive.
    pub fn set_shadow(&self, path: &Path) -> Result<String, PolicyError> {
        let c = Self::candidate(bundle::load(path, self.opts.limits())?, &self.opts)?;
        let rev = c.revision.clone();
        *self.shadow.write().unwrap_or_else(|p| p.into_inner()) = Some(c);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(rev)
    }

    /// Run `f` on the current active bundle and shadow candidate, read through this thread's
    /// cache (see `SEEN`).
    fn with_current<R>(
        &self,
        f: impl FnOnce(&Arc<CompiledBundle>, Option<&Arc<CompiledBundle>>) -> R,
    ) -> R {
        let generation = self.generation.load(Ordering::Acquire);
        SEEN.with(|cell| {
            let mut seen = cell.borrow_mut();
            let at = seen.iter().position(|s| s.store == self.id);
            let fresh = at
                .and_then(|i| seen.get(i))
                .filter(|s| s.generation == generation);
            if let Some(s) = fresh {
                // Evaluation never re-enters the store, so the borrow can be held (a panic
                // in `f` releases it while unwinding).
                return f(&s.active, s.shadow.as_ref());
            }
            let entry = Seen {
                store: self.id,
                generation,
                active: self.active(),
                shadow: self
                    .shadow
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone(),
            };
            let (active, shadow) = (entry.active.clone(), entry.shadow.clone());
            match at {
                Some(i) => {
                    if let Some(slot) = seen.get_mut(i) {
                        *slot = entry;
                    }
                }
                None => {
                    // A handful of stores per thread; forget the oldest beyond that.
                    if seen.len() >= 4 {
                        seen.remove(0);
                    }
                    seen.push(entry);
                }
            }
            drop(seen);
            f(&active, shadow.as_ref())
        })
    }

    /// Evaluate the active bundle.
    pub fn evaluate(&self, input: &PolicyInput) -> PolicyEvaluation {
        self.with_current(|active, _| PolicyEvaluation {
            revision: active.revision.clone(),
            result: active.evaluate(input),
        })
    }

    /// Evaluate the shadow candidate, if one is set (never enforced).
    pub fn evaluate_shadow(&self, input: &PolicyInput) -> Option<PolicyEvaluation> {
        self.with_current(|_, shadow| {
            shadow.map(|s| PolicyEvaluation {
                revision: s.revision.clone(),
                result: s.evaluate(input),
            })
        })
    }
}
