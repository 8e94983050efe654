//! [`PolicyStore`]: the active bundle behind an atomic swap, kept revisions, a shadow candidate.

use super::bundle::{self, Bundle};
use super::compile::CompiledBundle;
use super::output::{PolicyFailure, PolicyOutput};
use super::rollout::{Gate, Observed, Ready, RolloutStatus, Run, Side, Ticket};
use crate::config::{PolicyConfig, RolloutConfig};
use crate::error::PolicyError;
use crate::input::PolicyInput;
use crate::util::time::unix_ms;
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
    /// The candidate being rolled out, when the gate is on and one is.
    rollout: RwLock<Option<Arc<Run>>>,
    gate: Gate,
    /// Identifies this store in the per-thread cache of its bundles.
    id: u64,
    /// Bumped after every change of the active bundle or the shadow candidate.
    generation: AtomicU64,
    /// When the active bundle was activated (Unix ms, system clock).
    activated_ms: AtomicU64,
}

/// The bundles a thread last evaluated for one store.
struct Seen {
    store: u64,
    generation: u64,
    active: Arc<CompiledBundle>,
    shadow: Option<Arc<CompiledBundle>>,
    rollout: Option<Arc<Run>>,
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

impl CompiledBundle {
    /// Load, compile and (with `run_tests_on_load`) test the bundle at `path` through the same
    /// gate as a store, without activating it anywhere (replay, `zt policy eval`).
    pub fn load(path: &Path, opts: &PolicyConfig) -> Result<Arc<Self>, PolicyError> {
        PolicyStore::candidate(bundle::load(path, opts)?, opts)
    }

    /// [`CompiledBundle::load`] from in-memory files `(path inside the bundle, bytes)`.
    pub fn from_files(
        files: Vec<(String, Vec<u8>)>,
        opts: &PolicyConfig,
    ) -> Result<Arc<Self>, PolicyError> {
        PolicyStore::candidate(bundle::from_files(files, opts)?, opts)
    }
}

impl PolicyStore {
    /// Load, compile, test and activate the bundle at `path` (directory or `.tar.gz`).
    pub fn load(path: &Path, opts: PolicyConfig) -> Result<Self, PolicyError> {
        let first = Self::candidate(bundle::load(path, &opts)?, &opts)?;
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
        let first = Self::candidate(bundle::from_files(files, &opts)?, &opts)?;
        Ok(Self::with_active(first, opts))
    }

    pub(super) fn with_active(first: Arc<CompiledBundle>, opts: PolicyConfig) -> Self {
        Self {
            opts,
            kept: Mutex::new(VecDeque::from([first.clone()])),
            active: RwLock::new(first),
            shadow: RwLock::new(None),
            rollout: RwLock::new(None),
            gate: Gate::default(),
            id: NEXT_STORE.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            activated_ms: AtomicU64::new(unix_ms()),
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
    /// unchanged. Returns the new revision. With the rollout gate on
    /// ([`PolicyStore::set_rollout`]) the revision becomes the rollout candidate instead and
    /// is activated when it has passed every stage.
    pub fn reload(&self, path: &Path) -> Result<String, PolicyError> {
        let c = Self::candidate(bundle::load(path, &self.opts)?, &self.opts)?;
        self.adopt(c)
    }

    /// [`PolicyStore::reload`] from in-memory files.
    pub fn reload_files(&self, files: Vec<(String, Vec<u8>)>) -> Result<String, PolicyError> {
        let c = Self::candidate(bundle::from_files(files, &self.opts)?, &self.opts)?;
        self.adopt(c)
    }

    /// Activate a compiled candidate, or start its rollout when the gate is on.
    pub(super) fn adopt(&self, c: Arc<CompiledBundle>) -> Result<String, PolicyError> {
        let rev = c.revision.clone();
        let Some(config) = self.gate.config() else {
            return Ok(self.activate(c));
        };
        let _transition = self.gate.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.gate.is_rejected(&rev) {
            return Err(PolicyError::RolledBack { revision: rev });
        }
        let control = self.active_revision();
        let current = self.current_rollout();
        if rev == control {
            // Loading the active revision again ends a rollout in favour of it.
            if let Some(run) = current {
                self.set_rollout_run(None);
                self.gate.push(0, run.event("rollout_aborted", &[], 0));
            }
            return Ok(rev);
        }
        if current
            .as_ref()
            .is_some_and(|r| r.candidate.revision == rev)
        {
            return Ok(rev);
        }
        if let Some(old) = &current {
            self.gate.push(0, old.event("rollout_superseded", &[], 0));
        }
        let run = Arc::new(Run::new(c, control, 0, config));
        self.gate.push(0, run.event("rollout_started", &[], 0));
        self.set_rollout_run(Some(run));
        Ok(rev)
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
        self.activated_ms.store(unix_ms(), Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Release);
        rev
    }

    fn set_rollout_run(&self, run: Option<Arc<Run>>) {
        *self.rollout.write().unwrap_or_else(|p| p.into_inner()) = run;
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn current_rollout(&self) -> Option<Arc<Run>> {
        self.rollout
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Turn the rollout gate on (or off with `None`: a rollout in progress then ends, the
    /// control stays active, and the candidate is not marked as refused). The config is
    /// checked like the `[enforcement.rollout]` section.
    pub fn set_rollout(
        &self,
        config: Option<RolloutConfig>,
    ) -> Result<(), crate::error::ConfigError> {
        if let Some(c) = &config {
            c.validate()?;
        }
        *self.gate.config.lock().unwrap_or_else(|p| p.into_inner()) = config.clone();
        if config.is_none() {
            let _transition = self.gate.lock.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(run) = self.current_rollout() {
                self.gate
                    .push(0, run.event("rollout_aborted", &["gate_turned_off"], 0));
                self.set_rollout_run(None);
            }
        }
        Ok(())
    }

    /// The rollout gate's state.
    pub fn rollout_status(&self) -> RolloutStatus {
        let mut s = RolloutStatus {
            enabled: self.gate.config().is_some(),
            stages: self.gate.config().map(|c| c.stages).unwrap_or_default(),
            rollbacks: self.gate.rollbacks.load(Ordering::Relaxed),
            promotions: self.gate.promotions.load(Ordering::Relaxed),
            last_event: self.gate.last_event(),
            ..RolloutStatus::default()
        };
        if let Some(run) = self.current_rollout() {
            run.fill(&mut s);
        }
        s
    }

    /// Promote the rollout candidate now, skipping the remaining stages (an operator's call).
    /// Returns its revision, or `None` when no rollout is in progress.
    pub fn rollout_promote(&self) -> Option<String> {
        let _transition = self.gate.lock.lock().unwrap_or_else(|p| p.into_inner());
        let run = self.current_rollout()?;
        self.gate
            .push(0, run.event("rollout_promoted", &["operator"], 0));
        self.gate.promotions.fetch_add(1, Ordering::Relaxed);
        *self.rollout.write().unwrap_or_else(|p| p.into_inner()) = None;
        Some(self.activate(run.candidate.clone()))
    }

    /// Abort the rollout: the control stays active and the candidate's revision is not rolled
    /// out again. Returns the candidate's revision, or `None` when no rollout is in progress.
    pub fn rollout_abort(&self) -> Option<String> {
        let _transition = self.gate.lock.lock().unwrap_or_else(|p| p.into_inner());
        let run = self.current_rollout()?;
        self.gate.reject(&run.candidate.revision);
        self.gate.rollbacks.fetch_add(1, Ordering::Relaxed);
        self.gate
            .push(0, run.event("rollout_aborted", &["operator"], 0));
        self.set_rollout_run(None);
        Some(run.candidate.revision.clone())
    }

    /// Judge a stage that is ready: roll back, promote, or start the next stage (`full`:
    /// it may pass; otherwise only a breach is acted on).
    fn judge(&self, run: &Arc<Run>, now_ms: u64, full: bool) {
        // Another decision is judging: it sees the same counters.
        let _transition = match self.gate.lock.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        match self.current_rollout() {
            Some(current) if Arc::ptr_eq(&current, run) => {}
            _ => return,
        }
        let breached = run.breaches();
        if !breached.is_empty() {
            self.gate.reject(&run.candidate.revision);
            self.gate.rollbacks.fetch_add(1, Ordering::Relaxed);
            self.gate
                .push(now_ms, run.event("rollout_rolled_back", &breached, now_ms));
            self.set_rollout_run(None);
            return;
        }
        if !full {
            return;
        }
        match run.next_stage() {
            Some(stage) => {
                self.gate
                    .push(now_ms, run.event("rollout_stage_passed", &[], now_ms));
                self.set_rollout_run(Some(Arc::new(run.next(stage))));
            }
            None => {
                self.gate
                    .push(now_ms, run.event("rollout_promoted", &[], now_ms));
                self.gate.promotions.fetch_add(1, Ordering::Relaxed);
                *self.rollout.write().unwrap_or_else(|p| p.into_inner()) = None;
                self.activate(run.candidate.clone());
            }
        }
    }

    /// Count a routed decision into its run, and judge the stage when it is ready.
    pub(crate) fn observe(
        &self,
        t: &Ticket,
        control: Option<Observed>,
        candidate: Option<Observed>,
        now_ms: u64,
    ) {
        match t.run.observe(control, candidate, now_ms) {
            Ready::No => {}
            Ready::BreachesOnly => self.judge(&t.run, now_ms, false),
            Ready::Full => self.judge(&t.run, now_ms, true),
        }
    }

    /// Events of the rollout gate not yet written to a decision log: `(at_ms, event)`, with
    /// `at_ms` 0 for events that happened outside a decision.
    pub(crate) fn take_rollout_events(&self) -> Vec<(u64, serde_json::Value)> {
        self.gate.take_events()
    }

    /// Whether the active bundle's or the rollout candidate's `data.zt.revoked` lists the
    /// token id or the subject (`issuer \0 subject`): `Some(reason)` when it does. A
    /// candidate's revocations apply at once, to everyone: revoking is never staged.
    pub(crate) fn revoked(
        &self,
        jti: Option<&str>,
        subject_key: &dyn Fn() -> String,
    ) -> Option<crate::codes::Reason> {
        self.with_current(|active, _, rollout| {
            let lists = [
                active.revoked.as_deref(),
                rollout.and_then(|r| r.candidate.revoked.as_deref()),
            ];
            let mut key = None;
            lists
                .iter()
                .flatten()
                .find_map(|l| l.check(jti, &mut key, subject_key))
        })
    }

    /// Entries of the active bundle's `data.zt.revoked`: `(token ids, subjects)`.
    pub(crate) fn revoked_counts(&self) -> (usize, usize) {
        self.active()
            .revoked
            .as_ref()
            .map_or((0, 0), |r| (r.token_ids.len(), r.subjects.len()))
    }

    /// When the active bundle was activated (Unix ms, system clock).
    pub fn activated_at_ms(&self) -> u64 {
        self.activated_ms.load(Ordering::Relaxed)
    }

    /// The active bundle's `data.zt.enforcement`, packed (through this thread's cache).
    pub(crate) fn active_enforcement(&self) -> u64 {
        self.with_current(|active, _, _| active.enforcement)
    }

    /// Whether `revision` is active, being rolled out, or was rolled back by the gate or by
    /// an operator's [`PolicyStore::rollback`] (a watcher does not load it again; a changed
    /// bundle has another revision).
    pub(super) fn knows(&self, revision: &str) -> bool {
        revision == self.active_revision()
            || self
                .current_rollout()
                .is_some_and(|r| r.candidate.revision == revision)
            || self.gate.is_rejected(revision)
    }

    /// Make a kept revision active again. A [`PolicyStore::watch`]er then leaves the revision
    /// rolled away from alone until the bundle on disk changes (an explicit `reload` of it
    /// still works, except through the rollout gate).
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
                // An operator's rollback ends a rollout in progress (its candidate is dropped),
                // and a bundle watcher does not bring the revision rolled away from back.
                let _transition = self.gate.lock.lock().unwrap_or_else(|p| p.into_inner());
                let leaving = self.active_revision();
                if leaving != c.revision {
                    self.gate.reject(&leaving);
                }
                if let Some(run) = self.current_rollout() {
                    self.gate.reject(&run.candidate.revision);
                    self.gate
                        .push(0, run.event("rollout_aborted", &["rollback"], 0));
                    *self.rollout.write().unwrap_or_else(|p| p.into_inner()) = None;
                }
                *self.active.write().unwrap_or_else(|p| p.into_inner()) = c;
                self.activated_ms.store(unix_ms(), Ordering::Relaxed);
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

    /// How the active bundle and the shadow candidate (when there is one) are indexed, as
    /// `("active" | "shadow", index)`.
    pub fn indexes(&self) -> Vec<(&'static str, super::PolicyIndex)> {
        let mut out = vec![("active", self.active().index().clone())];
        if let Some(s) = self
            .shadow
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            out.push(("shadow", s.index().clone()));
        }
        out
    }

    /// Set (or clear) the shadow candidate from in-memory files; it passes the same gate.
    pub fn set_shadow_files(
        &self,
        files: Option<Vec<(String, Vec<u8>)>>,
    ) -> Result<Option<String>, PolicyError> {
        let c = match files {
            Some(f) => Some(Self::candidate(
                bundle::from_files(f, &self.opts)?,
                &self.opts,
            )?),
            None => None,
        };
        let rev = c.as_ref().map(|c| c.revision.clone());
        *self.shadow.write().unwrap_or_else(|p| p.into_inner()) = c;
        self.generation.fetch_add(1, Ordering::Release);
        Ok(rev)
    }

    /// Promote the shadow candidate: it is cleared and activated, or, with the rollout gate
    /// on, rolled out. Returns its revision, or `None` when no shadow candidate is set.
    pub fn promote_shadow(&self) -> Result<Option<String>, PolicyError> {
        let c = self
            .shadow
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.generation.fetch_add(1, Ordering::Release);
        c.map(|c| self.adopt(c)).transpose()
    }

    /// Set the shadow candidate from a directory or archive.
    pub fn set_shadow(&self, path: &Path) -> Result<String, PolicyError> {
        let c = Self::candidate(bundle::load(path, &self.opts)?, &self.opts)?;
        let rev = c.revision.clone();
        *self.shadow.write().unwrap_or_else(|p| p.into_inner()) = Some(c);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(rev)
    }

    /// Run `f` on the current active bundle and shadow candidate, read through this thread's
    /// cache (see `SEEN`).
    fn with_current<R>(
        &self,
        f: impl FnOnce(&Arc<CompiledBundle>, Option<&Arc<CompiledBundle>>, Option<&Arc<Run>>) -> R,
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
                return f(&s.active, s.shadow.as_ref(), s.rollout.as_ref());
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
                rollout: self.current_rollout(),
            };
            let (active, shadow, rollout) = (
                entry.active.clone(),
                entry.shadow.clone(),
                entry.rollout.clone(),
            );
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
            f(&active, shadow.as_ref(), rollout.as_ref())
        })
    }

    /// Evaluate the active bundle.
    pub fn evaluate(&self, input: &PolicyInput) -> PolicyEvaluation {
        self.with_current(|active, _, _| PolicyEvaluation {
            revision: active.revision.clone(),
            result: active.evaluate(input),
        })
    }

    /// Evaluate for a verified subject: the active bundle, or, during a rollout, the bundle
    /// the subject's cohort is routed to (plus the candidate in the shadow stage). Also returns
    /// the `data.zt.enforcement` of the bundle that decided, so that a decision's mode and its
    /// result come from one revision.
    pub(crate) fn evaluate_routed(
        &self,
        input: &PolicyInput,
        issuer: &str,
        subject: &str,
    ) -> (PolicyEvaluation, Option<Ticket>, u64) {
        let eval = |b: &Arc<CompiledBundle>| PolicyEvaluation {
            revision: b.revision.clone(),
            result: b.evaluate(input),
        };
        self.with_current(|active, _, rollout| {
            let Some(run) = rollout else {
                return (eval(active), None, active.enforcement);
            };
            let ticket = |side, shadow| Ticket {
                run: run.clone(),
                side,
                shadow,
            };
            if run.bp == 0 {
                let shadow = eval(&run.candidate);
                let t = ticket(Side::Both, Some(shadow));
                (eval(active), Some(t), active.enforcement)
            } else if crate::enforcement::rollout_bucket(issuer, subject) < run.bp {
                let t = ticket(Side::Candidate, None);
                (eval(&run.candidate), Some(t), run.candidate.enforcement)
            } else {
                (
                    eval(active),
                    Some(ticket(Side::Control, None)),
                    active.enforcement,
                )
            }
        })
    }

    /// Evaluate the shadow candidate, if one is set (never enforced).
    pub fn evaluate_shadow(&self, input: &PolicyInput) -> Option<PolicyEvaluation> {
        self.with_current(|_, shadow, _| {
            shadow.map(|s| PolicyEvaluation {
                revision: s.revision.clone(),
                result: s.evaluate(input),
            })
        })
    }
}
