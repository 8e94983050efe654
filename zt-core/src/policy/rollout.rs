//! The rollout gate: a candidate revision promoted in stages, judged against the control.
//!
//! See [`RolloutConfig`] for the contract. The state of a stage is one immutable [`Run`] (the
//! candidate, its stage, and atomic counters per cohort) read by decisions through the store's
//! per-thread cache; a transition (next stage, promotion, rollback, abort) replaces or removes
//! the run under one lock and bumps the store's generation, so every decision evaluates exactly
//! one revision and counts into the run it was routed by. Events are queued here and written
//! to the decision log by the authorizer that decides next.

use super::compile::CompiledBundle;
use crate::codes::Outcome;
use crate::config::RolloutConfig;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Decisions of one cohort in the current stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct CohortStats {
    /// Decisions in the cohort.
    pub decisions: u64,
    /// Of which the evaluated outcome was `deny`.
    pub denies: u64,
    /// Of which the evaluated outcome was `step_up`.
    pub step_ups: u64,
    /// Of which the policy failed (`policy_error`, undefined or a wrong output type).
    pub policy_errors: u64,
}

impl CohortStats {
    fn rate(n: u64, of: u64) -> f64 {
        if of == 0 { 0.0 } else { n as f64 / of as f64 }
    }

    /// Deny rate in 0..=1.
    pub fn deny_rate(&self) -> f64 {
        Self::rate(self.denies, self.decisions)
    }

    /// Step-up rate in 0..=1.
    pub fn step_up_rate(&self) -> f64 {
        Self::rate(self.step_ups, self.decisions)
    }

    /// Policy-error rate in 0..=1.
    pub fn policy_error_rate(&self) -> f64 {
        Self::rate(self.policy_errors, self.decisions)
    }

    fn to_json(self) -> Value {
        json!({
            "decisions": self.decisions,
            "deny_rate": self.deny_rate(),
            "step_up_rate": self.step_up_rate(),
            "policy_error_rate": self.policy_error_rate(),
        })
    }
}

/// The rollout gate's state (in [`MetricsSnapshot`](crate::MetricsSnapshot) and
/// [`Authorizer::rollout`](crate::Authorizer::rollout)).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct RolloutStatus {
    /// Whether `[enforcement.rollout]` is configured.
    pub enabled: bool,
    /// The candidate being rolled out.
    pub candidate_revision: Option<String>,
    /// The revision serving everyone else (and everyone after a rollback).
    pub control_revision: Option<String>,
    /// The current stage (0-based index into `stages`).
    pub stage: Option<usize>,
    /// The configured stages.
    pub stages: Vec<u64>,
    /// Percent of subjects on the candidate (0 = shadow).
    pub candidate_percent: Option<u64>,
    /// When the stage saw its first decision (Unix ms, authorizer clock).
    pub stage_started_ms: Option<u64>,
    /// The candidate cohort in this stage (in shadow: the candidate's results on every decision).
    pub candidate: CohortStats,
    /// The control cohort in this stage.
    pub control: CohortStats,
    /// Candidates rolled back by the gate (or aborted by an operator).
    pub rollbacks: u64,
    /// Candidates promoted to 100 %.
    pub promotions: u64,
    /// The last event, as written to the decision log.
    pub last_event: Option<Value>,
}

#[derive(Default)]
struct Cohort {
    decisions: AtomicU64,
    denies: AtomicU64,
    step_ups: AtomicU64,
    errors: AtomicU64,
}

impl Cohort {
    fn add(&self, o: Observed) {
        self.decisions.fetch_add(1, Ordering::Relaxed);
        match o.outcome {
            Outcome::Deny => {
                self.denies.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::StepUp => {
                self.step_ups.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Allow => {}
        }
        if o.policy_error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn stats(&self) -> CohortStats {
        CohortStats {
            decisions: self.decisions.load(Ordering::Relaxed),
            denies: self.denies.load(Ordering::Relaxed),
            step_ups: self.step_ups.load(Ordering::Relaxed),
            policy_errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// One stage of one candidate.
pub(crate) struct Run {
    pub(crate) candidate: Arc<CompiledBundle>,
    control: String,
    stage: usize,
    /// Candidate share in basis points; 0 is shadow.
    pub(crate) bp: u64,
    config: RolloutConfig,
    /// 0 until the stage's first decision.
    started_ms: AtomicU64,
    control_cohort: Cohort,
    candidate_cohort: Cohort,
}

impl Run {
    pub(crate) fn new(
        candidate: Arc<CompiledBundle>,
        control: String,
        stage: usize,
        config: RolloutConfig,
    ) -> Self {
        let percent = config.stages.get(stage).copied().unwrap_or(100);
        Self {
            candidate,
            control,
            stage,
            bp: percent.min(100) * 100,
            config,
            started_ms: AtomicU64::new(0),
            control_cohort: Cohort::default(),
            candidate_cohort: Cohort::default(),
        }
    }

    pub(crate) fn percent(&self) -> u64 {
        self.bp / 100
    }

    /// Count one decision, and say whether the stage can be judged now.
    ///
    /// A stage is judged for breaches as soon as both cohorts have `min_decisions` (the
    /// control too, outside shadow: a rate over a handful of decisions says nothing), then on
    /// every 16th candidate decision; it can pass only once `min_duration_s` has also gone by.
    pub(crate) fn observe(
        &self,
        control: Option<Observed>,
        candidate: Option<Observed>,
        now_ms: u64,
    ) -> Ready {
        let _ =
            self.started_ms
                .compare_exchange(0, now_ms.max(1), Ordering::AcqRel, Ordering::Acquire);
        if let Some(o) = control {
            self.control_cohort.add(o);
        }
        let Some(o) = candidate else {
            return Ready::No;
        };
        self.candidate_cohort.add(o);
        let min = self.config.min_decisions;
        let cand = self.candidate_cohort.decisions.load(Ordering::Relaxed);
        let ctrl = self.control_cohort.decisions.load(Ordering::Relaxed);
        if cand < min || (self.bp != 0 && ctrl < min) {
            return Ready::No;
        }
        let started = self.started_ms.load(Ordering::Acquire);
        if now_ms.saturating_sub(started) >= self.config.min_duration_s.saturating_mul(1000) {
            Ready::Full
        } else if cand.is_multiple_of(16) || cand == min {
            Ready::BreachesOnly
        } else {
            Ready::No
        }
    }

    /// The thresholds the stage breaches (empty: it passes).
    pub(crate) fn breaches(&self) -> Vec<&'static str> {
        let (cand, ctrl) = (self.candidate_cohort.stats(), self.control_cohort.stats());
        let c = &self.config;
        let mut out = Vec::new();
        if cand.deny_rate() - ctrl.deny_rate() > c.max_deny_rate_increase {
            out.push("deny_rate_increase");
        }
        if cand.step_up_rate() - ctrl.step_up_rate() > c.max_step_up_rate_increase {
            out.push("step_up_rate_increase");
        }
        if cand.policy_error_rate() - ctrl.policy_error_rate() > c.max_policy_error_rate_increase {
            out.push("policy_error_rate_increase");
        }
        out
    }

    /// The next stage's percentage, or `None` when passing this stage means promotion.
    pub(crate) fn next_stage(&self) -> Option<usize> {
        let next = self.stage + 1;
        match self.config.stages.get(next) {
            Some(p) if *p < 100 => Some(next),
            _ => None,
        }
    }

    pub(crate) fn next(&self, stage: usize) -> Self {
        Self::new(
            self.candidate.clone(),
            self.control.clone(),
            stage,
            self.config.clone(),
        )
    }

    /// An event of this run, with the numbers of its stage.
    pub(crate) fn event(&self, name: &str, breached: &[&str], at_ms: u64) -> Value {
        let c = &self.config;
        json!({
            "event": name,
            "at_ms": at_ms,
            "rollout": {
                "candidate_revision": self.candidate.revision(),
                "control_revision": self.control,
                "stage": self.stage,
                "candidate_percent": self.percent(),
                "candidate": self.candidate_cohort.stats().to_json(),
                "control": self.control_cohort.stats().to_json(),
                "breached": breached,
                "thresholds": {
                    "min_decisions": c.min_decisions,
                    "min_duration_s": c.min_duration_s,
                    "max_deny_rate_increase": c.max_deny_rate_increase,
                    "max_step_up_rate_increase": c.max_step_up_rate_increase,
                    "max_policy_error_rate_increase": c.max_policy_error_rate_increase,
                },
            },
        })
    }

    pub(crate) fn fill(&self, s: &mut RolloutStatus) {
        s.candidate_revision = Some(self.candidate.revision().to_owned());
        s.control_revision = Some(self.control.clone());
        s.stage = Some(self.stage);
        s.candidate_percent = Some(self.percent());
        let started = self.started_ms.load(Ordering::Acquire);
        s.stage_started_ms = (started != 0).then_some(started);
        s.candidate = self.candidate_cohort.stats();
        s.control = self.control_cohort.stats();
    }
}

/// Whether a stage can be judged after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ready {
    No,
    /// Enough decisions: roll back on a breach, but too early to pass.
    BreachesOnly,
    /// Enough decisions and time: roll back or pass.
    Full,
}

/// What one decision said, for the cohort counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observed {
    pub(crate) outcome: Outcome,
    pub(crate) policy_error: bool,
}

/// Which side of a run a decision was routed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Control,
    Candidate,
    /// Shadow stage: the control decided, the candidate was evaluated too.
    Both,
}

/// A decision's place in the current run: report back with [`PolicyStore::observe`].
pub(crate) struct Ticket {
    pub(crate) run: Arc<Run>,
    pub(crate) side: Side,
    /// The candidate's evaluation in the shadow stage.
    pub(crate) shadow: Option<super::PolicyEvaluation>,
}

/// The gate's configuration, counters and pending events (one per store).
#[derive(Default)]
pub(crate) struct Gate {
    pub(crate) config: Mutex<Option<RolloutConfig>>,
    /// Serialises transitions.
    pub(crate) lock: Mutex<()>,
    /// Revisions rolled back (most recent last, bounded).
    rejected: Mutex<Vec<String>>,
    events: Mutex<Vec<(u64, Value)>>,
    pending: AtomicBool,
    pub(crate) rollbacks: AtomicU64,
    pub(crate) promotions: AtomicU64,
    last_event: Mutex<Option<Value>>,
}

impl Gate {
    pub(crate) fn config(&self) -> Option<RolloutConfig> {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn reject(&self, revision: &str) {
        let mut r = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        r.retain(|x| x != revision);
        r.push(revision.to_owned());
        if r.len() > 64 {
            r.remove(0);
        }
    }

    pub(crate) fn is_rejected(&self, revision: &str) -> bool {
        self.rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|x| x == revision)
    }

    pub(crate) fn push(&self, at_ms: u64, event: Value) {
        *self.last_event.lock().unwrap_or_else(|p| p.into_inner()) = Some(event.clone());
        let mut q = self.events.lock().unwrap_or_else(|p| p.into_inner());
        // Nobody deciding means nobody draining: keep the most recent only.
        if q.len() >= 256 {
            q.remove(0);
        }
        q.push((at_ms, event));
        self.pending.store(true, Ordering::Release);
    }

    pub(crate) fn take_events(&self) -> Vec<(u64, Value)> {
        // A load first: every decision asks, and only a write would share the cache line.
        if !self.pending.load(Ordering::Acquire) || !self.pending.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn last_event(&self) -> Option<Value> {
        self.last_event
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
