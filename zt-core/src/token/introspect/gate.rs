//! The introspection endpoint's rate limit (a token bucket) and circuit breaker.

use crate::error::IntrospectionProblem;
use std::time::{Duration, Instant};

/// The rate limit (a token bucket) and the circuit breaker of the endpoint.
pub(super) struct Gate {
    pub(super) tokens: f64,
    pub(super) refilled: Instant,
    pub(super) rate_per_s: f64,
    pub(super) burst: f64,
    pub(super) failures: u64,
    pub(super) failure_threshold: u64,
    pub(super) open_for: Duration,
    /// Set while the circuit is open (half-open once past this instant).
    pub(super) open_until: Option<Instant>,
    /// The ticket of the half-open trial call in flight: only its result closes or reopens
    /// the circuit.
    pub(super) trial: Option<u64>,
    /// The last ticket handed out.
    pub(super) tickets: u64,
    /// The last ticket handed out when the circuit last opened: calls admitted before then
    /// are old news once it closes again.
    pub(super) opened_at: u64,
}

/// One admitted call: its outcome goes back to the gate with [`Gate::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ticket(pub(super) u64);

impl Gate {
    /// Whether one call may start now.
    pub(super) fn admit(&mut self, now: Instant) -> Result<Ticket, IntrospectionProblem> {
        if let Some(until) = self.open_until
            && (now < until || self.trial.is_some())
        {
            return Err(IntrospectionProblem::CircuitOpen);
        }
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate_per_s).min(self.burst);
        self.refilled = now;
        if self.tokens < 1.0 {
            return Err(IntrospectionProblem::RateLimited);
        }
        self.tokens -= 1.0;
        self.tickets = self.tickets.wrapping_add(1);
        let ticket = Ticket(self.tickets);
        if self.open_until.is_some() {
            self.trial = Some(ticket.0);
        }
        Ok(ticket)
    }

    /// A call's outcome. While the circuit is open only the trial's outcome counts: calls
    /// admitted before it opened neither close it nor keep it open.
    pub(super) fn record(&mut self, ticket: Ticket, ok: bool, now: Instant) {
        if self.open_until.is_some() {
            if self.trial != Some(ticket.0) {
                return;
            }
            self.trial = None;
            if ok {
                self.open_until = None;
                self.failures = 0;
            } else {
                self.open_until = Some(now + self.open_for);
                self.opened_at = self.tickets;
            }
            return;
        }
        if ticket.0 <= self.opened_at {
            return;
        }
        if ok {
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            if self.failures >= self.failure_threshold {
                self.open_until = Some(now + self.open_for);
                self.opened_at = self.tickets;
            }
        }
    }

    /// Open or half-open: calls are refused, but for one trial.
    pub(super) fn is_open(&self) -> bool {
        self.open_until.is_some()
    }
}
