//! The [`Authorizer`]: token → posture → input → policy → enforcement → log and metrics.
//!
//! ```
//! use zt_core::{Authorizer, AuthorizerConfig, Outcome, Reason, Request};
//!
//! let config = AuthorizerConfig::from_toml_str(r#"
//!     [[issuers]]
//!     issuer = "https://idp.example.com"
//!     audiences = ["orders-api"]
//!     algorithms = ["ES256"]
//!     jwks = { keys = [{ kty = "EC", kid = "k1", crv = "P-256",
//!              x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//!              y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
//!     [decision_log]
//!     sink = "none"
//! "#)?;
//! let authz = Authorizer::builder(config)
//!     .policy_files(vec![("authz.rego".into(),
//!         b"package zt.authz\nimport rego.v1\ndecision if input.subject.id == \"alice\"".to_vec())])
//!     .build()?;
//! // Anything a request can contain is a decision, never an error.
//! let decision = authz.authorize_sync(&Request::new("GET", "/orders"));
//! assert_eq!(decision.outcome, Outcome::Deny);
//! assert_eq!(decision.reasons, vec![Reason::TokenMissing]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Security
//! - Fail closed: a missing or rejected token, a revoked token or subject, a policy failure or
//!   an internal panic each give `Deny` with a reason; `warn`/`log_only` let requests through
//!   only because the operator chose that mode, and a request whose token fails verification is
//!   always enforced under `enforce`, whatever the canary.
//! - The hot path performs no I/O and takes no global write lock: cached keys, the verified-token
//!   cache, a per-thread policy VM, atomics, one per-thread metrics shard and a bounded queue.

use crate::codes::EnforcementMode;
use crate::codes::Outcome;
use crate::codes::Reason;
use crate::config::{AuthorizerConfig, DecisionLogSink};
use crate::decision::{self, Decision, ShadowResult, Timings, Verdict};
use crate::enforcement::{
    EnforcementOverride, EnforcementStatus, OverrideWatcher, RuntimeEnforcement,
};
use crate::error::{BuildError, RuntimeError};
use crate::input::PolicyInput;
use crate::log::{DecisionLogStats, Entry, LogCallback, LogInput, LoggedOutput, Logger};
use crate::observe::metrics::{IssuerKeyStats, Metrics, MetricsSnapshot};
use crate::policy::rollout::{Observed, Side};
use crate::policy::{PolicyFailure, PolicyOutput, PolicyStore, RolloutStatus};
use crate::posture::{self, Found, PostureAssessor};
use crate::request::Request;
use crate::revocation::{Edit, RevocationStats, Revocations};
use crate::token::{TokenVerifier, VerifiedClaims};
use crate::util::clock::Clock;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Decides requests. Cheap to clone and share across threads (an `Arc` inside).
#[derive(Clone)]
pub struct Authorizer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("verifier", &self.inner.verifier)
            .field("policy", &self.inner.policy)
            .field("enforcement", &self.enforcement())
            .finish_non_exhaustive()
    }
}

struct Inner {
    verifier: TokenVerifier,
    policy: Arc<PolicyStore>,
    posture: PostureAssessor,
    enforcement: Arc<RuntimeEnforcement>,
    override_watcher: Option<OverrideWatcher>,
    headers: Arc<[String]>,
    service: Option<String>,
    // Its Drop shuts the log writer down within a bound (see `Authorizer::shutdown`).
    logger: Logger,
    metrics: Metrics,
    /// In-process lists and the feed (the bundle's lists live with the policy).
    revocations: Revocations,
    /// `policy.bundle` and the decision log's sink and capacity, for `status()`.
    bundle_source: Option<std::path::PathBuf>,
    log_sink: DecisionLogSink,
    log_capacity: u64,
    /// The bundle poller, with `policy.service`.
    bundle_service: Option<crate::policy::service::BundleService>,
    /// DPoP proof checks and their replay cache.
    dpop: crate::dpop::DpopChecker,
    /// Issuers whose tokens must all be DPoP-bound (`require_dpop`).
    require_dpop: Vec<String>,
    clock: Arc<dyn Clock>,
    id_prefix: u64,
    id_counter: AtomicU64,
}

/// Builds an [`Authorizer`]; [`AuthorizerBuilder::build`] validates everything.
#[must_use]
pub struct AuthorizerBuilder {
    config: AuthorizerConfig,
    clock: Option<Arc<dyn Clock>>,
    files: Option<Vec<(String, Vec<u8>)>>,
    store: Option<Arc<PolicyStore>>,
    callback: Option<LogCallback>,
}

impl AuthorizerBuilder {
    /// Use this clock (tests, replays) instead of the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Use an in-memory bundle `(path, bytes)` instead of `policy.bundle`.
    pub fn policy_files(mut self, files: Vec<(String, Vec<u8>)>) -> Self {
        self.files = Some(files);
        self
    }

    /// Use an existing policy store (shared, for example, with a bundle watcher).
    pub fn policy_store(mut self, store: Arc<PolicyStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Register the callback for `decision_log.sink = "callback"`. It runs on the log thread.
    pub fn log_callback(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.callback = Some(Arc::new(f));
        self
    }

    /// Validate the config, load and test the policy, open the decision log, start key fetches.
    pub fn build(self) -> Result<Authorizer, BuildError> {
        let c = self.config;
        c.validate()?;
        if let Some(signing) = &c.policy.signing {
            // Read the bundle-signing keys now, so a missing or wrong key fails at start, not
            // at a reload.
            crate::policy::signing::Verifier::from_config(signing).map_err(|message| {
                crate::error::ConfigError::Invalid {
                    file: None,
                    key: "policy.signing".to_owned(),
                    message,
                }
            })?;
        }
        if self.callback.is_some() && c.decision_log.sink != DecisionLogSink::Callback {
            return Err(BuildError::CallbackUnused);
        }
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(crate::util::clock::SystemClock));
        let verifier = TokenVerifier::with_clock(&c, clock.clone())?;
        let mut bundle_service = None;
        let policy = match (self.store, self.files) {
            (Some(store), _) => store,
            (None, Some(files)) => Arc::new(PolicyStore::from_files(files, c.policy.clone())?),
            (None, None) if c.policy.service.is_some() => {
                let (store, service) = PolicyStore::from_service(&c.policy)?;
                bundle_service = Some(service);
                store
            }
            (None, None) if c.policy.bundle.is_some() => {
                Arc::new(PolicyStore::from_config(&c.policy)?)
            }
            (None, None) => return Err(BuildError::NoPolicy),
        };
        let logger = Logger::new(
            &c.decision_log,
            c.service.clone(),
            c.policy.entrypoint.clone(),
            self.callback,
        )?;
        let metrics = Metrics::new().ok_or(RuntimeError::Histograms)?;
        let posture = PostureAssessor::new(&c.posture);
        let excluded = posture.header().map(str::to_owned);
        let headers: Arc<[String]> = c
            .request
            .headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .filter(|h| Some(h) != excluded.as_ref())
            .collect();
        if c.enforcement.rollout.is_some() {
            policy.set_rollout(c.enforcement.rollout.clone())?;
        }
        let enforcement = Arc::new(RuntimeEnforcement::new(&c.enforcement));
        let override_watcher = OverrideWatcher::start(
            &enforcement,
            std::time::Duration::from_millis(c.enforcement.override_poll_ms),
        );
        let revocation_feed =
            match &c.revocation {
                Some(r) => Some(crate::revocation::RevocationFeed::start(r).map_err(
                    |message| crate::error::ConfigError::Invalid {
                        file: None,
                        key: "revocation".to_owned(),
                        message,
                    },
                )?),
                None => None,
            };
        let dpop = crate::dpop::DpopChecker::new(&c.dpop).map_err(|message| {
            crate::error::ConfigError::Invalid {
                file: None,
                key: if c.dpop.nonce_secret_file.is_some() {
                    "dpop.nonce_secret_file".to_owned()
                } else {
                    "dpop.nonce_secret_env".to_owned()
                },
                message,
            }
        })?;
        let mut prefix = [0u8; 8];
        let _ = aws_lc_rs::rand::fill(&mut prefix);
        Ok(Authorizer {
            inner: Arc::new(Inner {
                verifier,
                policy,
                posture,
                enforcement,
                override_watcher,
                headers,
                service: c.service.clone(),
                logger,
                metrics,
                revocations: Revocations::new(revocation_feed),
                bundle_source: c.policy.bundle.clone(),
                log_sink: c.decision_log.sink,
                log_capacity: c.decision_log.queue_capacity,
                bundle_service,
                dpop,
                require_dpop: c
                    .issuers
                    .iter()
                    .filter(|i| i.require_dpop)
                    .map(|i| i.issuer.clone())
                    .collect(),
                clock,
                id_prefix: u64::from_le_bytes(prefix),
                id_counter: AtomicU64::new(0),
            }),
        })
    }
}

/// What [`Authorizer::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Whether every queued decision-log record was handled before the timeout.
    pub completed: bool,
    /// Records still queued (or being written) when the timeout passed: the writer drops them
    /// instead of writing them (at most one in progress may still be written; with
    /// `sink = "service"`, one upload request already in flight may still be accepted).
    pub abandoned: u64,
    /// The log's counters at return: `dropped` includes records refused after shutdown began
    /// and, when the timeout passed, the records still queued are dropped shortly after.
    pub decision_log: DecisionLogStats,
}

/// The verification results a decision starts from.
struct Verified {
    token: Result<VerifiedClaims, Reason>,
    assertion: Option<Result<VerifiedClaims, Reason>>,
    token_ns: u64,
    assertion_ns: u64,
}

impl Authorizer {
    /// Build from a config (policy from `policy.bundle`).
    pub fn new(config: AuthorizerConfig) -> Result<Self, BuildError> {
        Self::builder(config).build()
    }

    /// A builder for options that do not live in the config (clock, in-memory policy, callback).
    pub fn builder(config: AuthorizerConfig) -> AuthorizerBuilder {
        AuthorizerBuilder {
            config,
            clock: None,
            files: None,
            store: None,
            callback: None,
        }
    }

    /// Decide from cached keys only: no I/O, never blocks. An unknown `kid` is a deny
    /// (`unknown_key`) and schedules a key refresh in the background.
    pub fn authorize_sync(&self, request: &Request) -> Decision {
        let t0 = Instant::now();
        let run = std::panic::AssertUnwindSafe(|| {
            let inner = &*self.inner;
            let token = presented_token(request)
                .and_then(|t| inner.verifier.verify(t).map_err(|e| e.reason()));
            let token_ns = elapsed(t0);
            let t1 = Instant::now();
            let assertion = self
                .assertion_jwt(request)
                .map(|jwt| posture::verify_assertion(&inner.verifier, jwt));
            let verified = Verified {
                token,
                assertion,
                token_ns,
                assertion_ns: elapsed(t1),
            };
            self.decide(request, verified, t0)
        });
        std::panic::catch_unwind(run).unwrap_or_else(|_| self.panicked(request, t0))
    }

    /// Decide, awaiting at most one bounded key refresh for an unknown `kid` (shared with
    /// concurrent callers, at most one per issuer per `unknown_kid_cooldown_s`). Works from any
    /// async runtime.
    pub async fn authorize(&self, request: &Request) -> Decision {
        use futures::FutureExt as _;
        let t0 = Instant::now();
        let run = std::panic::AssertUnwindSafe(async {
            let inner = &*self.inner;
            let token = match presented_token(request) {
                Ok(t) => inner.verifier.verify_async(t).await.map_err(|e| e.reason()),
                Err(reason) => Err(reason),
            };
            let token_ns = elapsed(t0);
            let t1 = Instant::now();
            let assertion = match self.assertion_jwt(request) {
                Some(jwt) => Some(
                    inner
                        .verifier
                        .verify_signed_async(jwt)
                        .await
                        .map_err(|e| e.reason()),
                ),
                None => None,
            };
            let verified = Verified {
                token,
                assertion,
                token_ns,
                assertion_ns: elapsed(t1),
            };
            self.decide(request, verified, t0)
        });
        match run.catch_unwind().await {
            Ok(d) => d,
            Err(_) => self.panicked(request, t0),
        }
    }

    /// [`Authorizer::authorize`] on the calling thread: blocks for at most one bounded key
    /// fetch or introspection call, for one-shot tools (the CLI's `zt decide`). Do not call it
    /// on an async runtime's worker thread; services use `authorize` or `authorize_sync`.
    pub fn authorize_blocking(&self, request: &Request) -> Decision {
        futures::executor::block_on(self.authorize(request))
    }

    fn assertion_jwt<'r>(&self, request: &'r Request) -> Option<&'r str> {
        if !self.inner.posture.uses_assertion() || request.device.is_some() {
            return None;
        }
        if let Some(a) = &request.posture_assertion {
            return Some(a);
        }
        let name = self.inner.posture.header()?;
        request
            .info
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The decision after a panic anywhere on the decision path: an enforced deny
    /// (`internal_error`), counted and logged like any other when that still works.
    fn panicked(&self, request: &Request, t0: Instant) -> Decision {
        let mut d = self.bare(Outcome::Deny, vec![Reason::InternalError]);
        d.timings.total_ns = elapsed(t0);
        let fallback = d.clone();
        let record = std::panic::AssertUnwindSafe(|| {
            let input = LogInput::Request(request.info.clone(), self.inner.headers.clone());
            // The injected clock may be what panicked: fall back to the system clock.
            let clock = std::panic::AssertUnwindSafe(|| self.inner.clock.now_unix_ms());
            let now_ms = std::panic::catch_unwind(clock)
                .unwrap_or_else(|_| crate::util::clock::SystemClock.now_unix_ms());
            self.finish(d, input, None, now_ms)
        });
        std::panic::catch_unwind(record).unwrap_or(fallback)
    }

    /// A decision id: the authorizer's random 64-bit prefix and a 64-bit sequence, formatted
    /// like a UUID. Each thread takes sequence numbers in blocks, so ids are unique without a
    /// counter shared between cores on every decision (ids are ordered per thread only).
    fn next_id(&self) -> String {
        const BLOCK: u64 = 1024;
        thread_local! {
            /// `(authorizer, next, end)` of this thread's current block.
            static BLOCKS: std::cell::Cell<(usize, u64, u64)> = const { std::cell::Cell::new((0, 0, 0)) };
        }
        let me = Arc::as_ptr(&self.inner) as usize;
        let n = BLOCKS.with(|b| {
            let (owner, mut next, mut end) = b.get();
            if owner != me || next >= end {
                next = self.inner.id_counter.fetch_add(BLOCK, Ordering::Relaxed);
                end = next.saturating_add(BLOCK);
            }
            b.set((me, next + 1, end));
            next
        });
        format_id(self.inner.id_prefix, n)
    }

    /// An enforced decision with no policy run.
    fn bare(&self, evaluated: Outcome, reasons: Vec<Reason>) -> Decision {
        Decision {
            id: self.next_id(),
            outcome: evaluated,
            evaluated,
            enforced: true,
            mode: EnforcementMode::Enforce,
            reasons,
            policy_reasons: Vec::new(),
            step_up: None,
            obligations: serde_json::Map::new(),
            policy_revision: None,
            timings: Timings::default(),
            shadow: None,
            claims: None,
            dpop_algs: None,
            dpop_nonce: None,
        }
    }

    fn decide(&self, request: &Request, v: Verified, t0: Instant) -> Decision {
        let inner = &*self.inner;
        let now_ms = inner.clock.now_unix_ms();
        let now = now_ms / 1000;
        let mut timings = Timings {
            token_ns: v.token_ns,
            ..Timings::default()
        };
        let claims = v
            .token
            .and_then(|c| self.admit(c))
            .and_then(|c| self.confirm(c, request, now));
        let (claims, next_nonce) = match claims {
            Ok(c) => c,
            Err(reason) => {
                let enforcement = inner.enforcement.current(inner.policy.active_enforcement());
                let mode = enforcement.mode_for(None);
                let (outcome, enforced) = crate::enforcement::enforce(Outcome::Deny, mode);
                let mut d = self.bare(Outcome::Deny, vec![reason]);
                if reason.is_dpop_proof() || reason == Reason::DpopSchemeRequired {
                    d.dpop_algs = Some(inner.dpop.algs_text());
                    // Every DPoP refusal hands out the current nonce (RFC 9449 §9), so a
                    // client learns it from its first failure of any kind.
                    d.dpop_nonce = inner.dpop.nonces.as_ref().map(|n| n.current(now));
                }
                d.outcome = outcome;
                d.enforced = enforced;
                d.mode = mode;
                timings.total_ns = elapsed(t0);
                d.timings = timings;
                let input = LogInput::Request(request.info.clone(), inner.headers.clone());
                return self.finish(d, input, None, now_ms);
            }
        };

        // Posture.
        let tp = Instant::now();
        let found = match (&request.device, &v.assertion) {
            (Some(d), _) => Found::Given(d),
            (None, Some(_)) => Found::Assertion,
            (None, None) => Found::Nothing,
        };
        let assessment = inner.posture.assess(&claims, found, v.assertion, now);
        timings.posture_ns = v.assertion_ns + elapsed(tp);

        // Input.
        let ti = Instant::now();
        let headers = &inner.headers;
        let keep = |h: &str| headers.iter().any(|k| k == h);
        let input = PolicyInput::build_with(
            &claims,
            &request.info,
            &keep,
            assessment.device,
            request.spiffe_id.as_deref(),
            &request.resource,
            (now, inner.service.as_deref()),
        );
        timings.input_ns = elapsed(ti);

        // Policy: the active bundle, or the cohort's side of a rollout.
        let tq = Instant::now();
        let (issuer, subject) = (claims.issuer(), claims.subject().unwrap_or(""));
        let (evaluation, ticket, bundle_enforcement) =
            inner.policy.evaluate_routed(&input, issuer, subject);
        // One resolved setting for the whole decision: the operator's override, else the
        // deciding bundle's `data.zt.enforcement`, else the config.
        let enforcement = inner.enforcement.current(bundle_enforcement);
        timings.policy_ns = elapsed(tq);
        let mut reasons: Vec<Reason> = assessment.reason.into_iter().collect();
        let verdict = interpret(&evaluation.result, &claims, now);
        reasons.extend(verdict.reasons.iter().copied());

        // Shadow candidate (the operator's; else the rollout's candidate in its shadow stage).
        let ts = Instant::now();
        let user_shadow = inner.policy.evaluate_shadow(&input);
        let mut shadow = user_shadow.map(|s| {
            let cand = interpret(&s.result, &claims, now);
            let active_allows = verdict.outcome == Outcome::Allow;
            let cand_allows = cand.outcome == Outcome::Allow;
            inner.metrics.record_shadow(active_allows, cand_allows);
            ShadowResult {
                revision: s.revision,
                outcome: cand.outcome,
                reasons: cand.reasons,
                diverged: active_allows != cand_allows,
            }
        });
        if let Some(t) = ticket {
            let seen = |outcome, result: &Result<PolicyOutput, PolicyFailure>| Observed {
                outcome,
                policy_error: result.is_err(),
            };
            let this = seen(verdict.outcome, &evaluation.result);
            let (control, candidate) = match (t.side, &t.shadow) {
                (Side::Both, Some(s)) => {
                    let cand = interpret(&s.result, &claims, now);
                    let observed = seen(cand.outcome, &s.result);
                    if shadow.is_none() {
                        shadow = Some(ShadowResult {
                            revision: s.revision.clone(),
                            diverged: (cand.outcome == Outcome::Allow)
                                != (verdict.outcome == Outcome::Allow),
                            outcome: cand.outcome,
                            reasons: cand.reasons,
                        });
                    }
                    (Some(this), Some(observed))
                }
                (Side::Candidate, _) => (None, Some(this)),
                _ => (Some(this), None),
            };
            inner.policy.observe(&t, control, candidate, now_ms);
        }
        if shadow.is_some() {
            timings.shadow_ns = elapsed(ts);
        }

        let mode = enforcement.mode_for(Some((issuer, subject)));
        let (outcome, enforced) = crate::enforcement::enforce(verdict.outcome, mode);
        // The log keeps the policy's result: copy its parts only when there is a log.
        let logged_result = inner.logger.enabled().then(|| match &evaluation.result {
            Ok(out) => Ok(LoggedOutput::of(out)),
            Err(f) => Err(f.clone()),
        });
        let (policy_reasons, obligations) = match evaluation.result {
            Ok(out) => (out.reasons, out.obligations),
            Err(_) => (Vec::new(), serde_json::Map::new()),
        };
        timings.total_ns = elapsed(t0);
        let d = Decision {
            id: self.next_id(),
            outcome,
            evaluated: verdict.outcome,
            enforced,
            mode,
            reasons,
            policy_reasons,
            step_up: verdict.step_up,
            obligations,
            policy_revision: Some(evaluation.revision),
            timings,
            shadow,
            claims: Some(claims),
            dpop_algs: None,
            // A proof with the previous window's nonce passed: hand out the current one.
            dpop_nonce: next_nonce,
        };
        self.finish(d, LogInput::Policy(input), logged_result, now_ms)
    }

    /// Checks on a verified token beyond its signature: posture-issuer tokens and revocation.
    fn admit(&self, claims: VerifiedClaims) -> Result<VerifiedClaims, Reason> {
        let inner = &*self.inner;
        // INVARIANT: a posture assertion is never an access token.
        if inner.posture.posture_issuer() == Some(claims.issuer()) {
            return Err(Reason::UnknownIssuer);
        }
        if let Some(reason) = inner.revocations.check(&inner.policy, &claims) {
            return Err(reason);
        }
        Ok(claims)
    }

    /// Proof of possession for sender-constrained tokens: a DPoP proof for a token bound with
    /// `cnf.jkt` (or any token of a `require_dpop` issuer, or one sent with the `DPoP` scheme),
    /// and the client certificate for a token bound with `cnf["x5t#S256"]`.
    /// With it, the DPoP nonce to hand out on the response, when the proof's is about to age
    /// out.
    fn confirm(
        &self,
        claims: VerifiedClaims,
        request: &Request,
        now: u64,
    ) -> Result<(VerifiedClaims, Option<String>), Reason> {
        let inner = &*self.inner;
        let mut next_nonce = None;
        let (jkt, x5t) = match claims.get("cnf") {
            None => (None, None),
            Some(cnf) => confirmation(cnf)?,
        };
        let required = !inner.require_dpop.is_empty()
            && inner.require_dpop.iter().any(|i| i == claims.issuer());
        if jkt.is_some() || required || request.dpop_scheme {
            if !request.dpop_scheme {
                return Err(Reason::DpopSchemeRequired);
            }
            let jkt = jkt.ok_or(Reason::DpopBindingMismatch)?;
            let proof = match &request.dpop_proof {
                None => return Err(Reason::DpopProofMissing),
                Some(Err(_)) => return Err(Reason::DpopProofInvalid),
                Some(Ok(p)) => p,
            };
            let path = request.info.path_only();
            // A path with dot segments would be compared after resolving them while the
            // router may not resolve them: refused rather than guessed.
            if has_dot_segment(path) {
                return Err(Reason::DpopProofInvalid);
            }
            let url = match (&inner.dpop.base_url, &request.info.host) {
                (Some(base), _) => format!("{base}{path}"),
                // The Host header must be an authority alone: `api.example.com/public#` would
                // otherwise make `htu` name another resource.
                (None, Some(host)) if plain_authority(host) => format!("https://{host}{path}"),
                _ => return Err(Reason::DpopProofInvalid),
            };
            let cx = crate::dpop::ProofContext {
                method: &request.info.method,
                url: &url,
                access_token: request.token.as_deref().unwrap_or_default(),
                jkt,
                now,
            };
            next_nonce = inner.dpop.check(proof, &cx)?;
        }
        if let Some(x5t) = x5t {
            let presented = request.client_cert_x5t.as_deref().unwrap_or_default();
            if presented.is_empty()
                || aws_lc_rs::constant_time::verify_slices_are_equal(
                    presented.as_bytes(),
                    x5t.as_bytes(),
                )
                .is_err()
            {
                return Err(Reason::CertificateBindingMismatch);
            }
        }
        Ok((claims, next_nonce))
    }

    /// The algorithms DPoP proofs may use (for a `WWW-Authenticate: DPoP algs="..."`).
    pub fn dpop_algorithms(&self) -> &[crate::Algorithm] {
        self.inner.dpop.algorithms()
    }

    fn finish(
        &self,
        d: Decision,
        input: LogInput,
        result: Option<Result<LoggedOutput, PolicyFailure>>,
        now_ms: u64,
    ) -> Decision {
        let inner = &*self.inner;
        inner.metrics.record(
            d.evaluated,
            d.outcome,
            d.enforced,
            d.warning(),
            &d.reasons,
            &d.timings,
        );
        self.log_rollout_events(now_ms);
        if inner.logger.enabled() {
            let mut logged = d.clone();
            logged.claims = None;
            inner.logger.enqueue(Entry {
                decision: logged,
                timestamp_ms: now_ms,
                input,
                result,
            });
        }
        d
    }

    /// Queue the rollout gate's pending events in the decision log (`at_ms` 0: now).
    fn log_rollout_events(&self, now_ms: u64) {
        for (at_ms, event) in self.inner.policy.take_rollout_events() {
            let at = if at_ms == 0 { now_ms } else { at_ms };
            self.inner.logger.enqueue_event(at, event);
        }
    }

    /// Revoke a token by its `jti`: every later decision on a token with this id is a deny
    /// (`token_revoked`), and cached verifications are dropped.
    pub fn revoke_token_id(&self, jti: &str) {
        self.edit_revocations(Edit::RevokeTokenId(jti));
    }

    /// Revoke every token of a subject from an issuer (`subject_revoked`).
    pub fn revoke_subject(&self, issuer: &str, subject: &str) {
        self.edit_revocations(Edit::RevokeSubject(issuer, subject));
    }

    /// Lift a `jti` revocation.
    pub fn unrevoke_token_id(&self, jti: &str) {
        self.edit_revocations(Edit::UnrevokeTokenId(jti));
    }

    /// Lift a subject revocation.
    pub fn unrevoke_subject(&self, issuer: &str, subject: &str) {
        self.edit_revocations(Edit::UnrevokeSubject(issuer, subject));
    }

    fn edit_revocations(&self, edit: Edit<'_>) {
        let inner = &*self.inner;
        inner.revocations.edit(edit, inner.clock.now_unix_ms());
        inner.verifier.clear_signed_cache();
    }

    /// Switch the enforcement mode at runtime, for every later decision (each decision is
    /// decided under one mode and records it). This is the operator's override: it wins over
    /// the active bundle's `data.zt.enforcement`, which wins over `[enforcement]` in the
    /// config; `enforcement.override_file` writes the same override when its content changes
    /// (the later of the two wins). [`Authorizer::clear_enforcement_override`] lifts it.
    ///
    /// ```
    /// # use zt_core::{Authorizer, AuthorizerConfig, EnforcementMode, EnforcementSource, Request};
    /// # let config = AuthorizerConfig::from_toml_str(r#"
    /// #     [[issuers]]
    /// #     issuer = "https://idp.example.com"
    /// #     audiences = ["api"]
    /// #     algorithms = ["ES256"]
    /// #     jwks = { keys = [{ kty = "EC", kid = "k1", crv = "P-256",
    /// #              x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    /// #              y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
    /// #     [decision_log]
    /// #     sink = "none"
    /// # "#)?;
    /// let authz = Authorizer::builder(config)
    ///     .policy_files(vec![("a.rego".into(), b"package zt.authz\ndecision := false".to_vec())])
    ///     .build()?;
    /// authz.set_mode(EnforcementMode::LogOnly);
    /// let d = authz.authorize_sync(&Request::new("GET", "/"));
    /// assert!(d.is_allowed()); // missing token: would deny, logged only
    /// assert_eq!(authz.enforcement().mode_source, EnforcementSource::Override);
    /// authz.clear_enforcement_override();
    /// assert!(!authz.authorize_sync(&Request::new("GET", "/")).is_allowed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_mode(&self, mode: EnforcementMode) {
        self.inner.enforcement.edit(|o| o.mode = Some(mode));
    }

    /// Set the enforcement canary percentage at runtime (the operator's override, like
    /// [`Authorizer::set_mode`]). More than 100 is an error that names the range.
    pub fn set_canary_percent(&self, percent: u64) -> Result<(), crate::error::ConfigError> {
        if percent > 100 {
            return Err(crate::error::ConfigError::OutOfRange {
                file: None,
                key: "enforcement.canary_percent".to_owned(),
                value: percent,
                min: 0,
                max: 100,
            });
        }
        self.inner
            .enforcement
            .edit(|o| o.canary_percent = Some(percent));
        Ok(())
    }

    /// Lift the operator's override: the bundle's `data.zt.enforcement` and the config apply
    /// again (until the override file changes).
    pub fn clear_enforcement_override(&self) {
        self.inner
            .enforcement
            .edit(|o| *o = EnforcementOverride::default());
    }

    /// The enforcement settings in force, and where each comes from.
    pub fn enforcement(&self) -> EnforcementStatus {
        self.inner
            .enforcement
            .status(self.inner.policy.active_enforcement())
    }

    /// What an operator's health check needs: the policy (revision, source, activation time,
    /// rollout), key-set freshness per issuer, the decision log's queue, the enforcement in
    /// force and the revocation lists. `ready` is false while an issuer has no usable keys
    /// or the decision log no longer takes records.
    pub fn status(&self) -> crate::observe::status::AuthorizerStatus {
        use crate::observe::status::{
            AuthorizerStatus, DecisionLogStatus, IssuerStatus, PolicyStatus,
        };
        let inner = &*self.inner;
        let now = inner.clock.now_unix_ms();
        let v = &inner.verifier;
        let issuers: Vec<IssuerStatus> = v
            .issuers()
            .into_iter()
            .map(|issuer| {
                let f = v.key_freshness(&issuer);
                // HMAC issuers have no key set: their secret is always usable.
                let has_source = f.is_some();
                let f = f.unwrap_or_default();
                let s = v.jwks_status(&issuer);
                IssuerStatus {
                    usable: !has_source
                        || (f.keys > 0 && f.usable_until_ms.is_none_or(|u| now <= u)),
                    issuer,
                    keys: f.keys,
                    fetched_at_ms: f.fetched_at_ms,
                    fresh_until_ms: f.fresh_until_ms,
                    usable_until_ms: f.usable_until_ms,
                    last_error: s
                        .as_ref()
                        .and_then(|s| s.last_error.as_ref())
                        .map(|e| e.code()),
                    fetches: s.as_ref().map_or(0, |s| s.fetches),
                    fetch_failures: s.as_ref().map_or(0, |s| s.fetch_failures),
                }
            })
            .collect();
        let log = inner.logger.stats();
        let decision_log = DecisionLogStatus {
            sink: inner.log_sink,
            queue_capacity: inner.log_capacity,
            queued: log
                .enqueued
                .saturating_sub(log.written + log.failed + log.dropped),
            stats: log,
            upload: inner.logger.upload_status(),
        };
        let policy = inner.policy.as_ref();
        AuthorizerStatus {
            ready: issuers.iter().all(|i| i.usable) && !inner.logger.closed(),
            policy: PolicyStatus {
                revision: policy.active_revision(),
                source: inner.bundle_source.clone(),
                activated_at_ms: policy.activated_at_ms(),
                revisions: policy.revisions(),
                rollout: policy.rollout_status(),
                service: self.bundle_service_status(),
            },
            issuers,
            decision_log,
            enforcement: self.enforcement(),
            revocations: self.revocation_stats(),
            revocation_feed: inner.revocations.feed_status(),
            introspection: v.introspection_stats(),
        }
    }

    fn bundle_service_status(&self) -> Option<crate::policy::BundleServiceStatus> {
        self.inner
            .bundle_service
            .as_ref()
            .map(crate::policy::service::BundleService::status)
    }

    fn revocation_stats(&self) -> RevocationStats {
        self.inner.revocations.stats(&self.inner.policy)
    }

    /// The rollout gate's state (also in [`Authorizer::metrics`]).
    pub fn rollout(&self) -> RolloutStatus {
        self.inner.policy.rollout_status()
    }

    /// The policy store: reload, roll back, set a shadow candidate, watch a directory.
    pub fn policy(&self) -> &Arc<PolicyStore> {
        &self.inner.policy
    }

    /// The header names (lower-case) that reach `input.request.headers`; middleware copies
    /// only these (and the posture header) into a [`Request`].
    pub fn request_headers(&self) -> &[String] {
        &self.inner.headers
    }

    /// The header carrying posture assertions, when `posture.source = "assertion"`.
    pub fn posture_header(&self) -> Option<&str> {
        self.inner.posture.header()
    }

    /// The token verifier (key-set status, readiness).
    pub fn verifier(&self) -> &TokenVerifier {
        &self.inner.verifier
    }

    /// Wait until every decision-log record queued so far is written.
    pub fn flush(&self) {
        self.log_rollout_events(self.inner.clock.now_unix_ms());
        self.inner.logger.flush();
    }

    /// Stop the background work explicitly, without relying on `Drop` (a binding's garbage
    /// collector, or a host holding a lock a log callback needs, must not deadlock): stop
    /// taking decision-log records, write what is queued and stop the log writer, waiting at
    /// most `timeout`, and stop key fetches. Returns what the log did.
    ///
    /// The authorizer keeps deciding afterwards (from cached keys; an unknown `kid` is
    /// `unknown_key`), but records are no longer logged: they are counted as dropped. When the
    /// timeout passes first, the writer drops what is still queued as soon as its sink returns
    /// and is not waited for; the report says so. Idempotent.
    ///
    /// ```
    /// # use zt_core::{Authorizer, AuthorizerConfig, Request};
    /// # let config = AuthorizerConfig::from_toml_str(r#"
    /// #     [[issuers]]
    /// #     issuer = "https://idp.example.com"
    /// #     audiences = ["api"]
    /// #     algorithms = ["ES256"]
    /// #     jwks = { keys = [{ kty = "EC", kid = "k1", crv = "P-256",
    /// #              x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    /// #              y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
    /// #     [decision_log]
    /// #     sink = "callback"
    /// # "#)?;
    /// let authz = Authorizer::builder(config)
    ///     .policy_files(vec![("a.rego".into(), b"package zt.authz\ndecision := true".to_vec())])
    ///     .log_callback(|_record| {})
    ///     .build()?;
    /// authz.authorize_sync(&Request::new("GET", "/"));
    /// let report = authz.shutdown(std::time::Duration::from_secs(5));
    /// assert!(report.completed);
    /// assert_eq!(report.decision_log.written, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&self, timeout: std::time::Duration) -> ShutdownReport {
        let inner = &*self.inner;
        if let Some(w) = &inner.override_watcher {
            w.stop();
        }
        self.log_rollout_events(inner.clock.now_unix_ms());
        if let Some(s) = &inner.bundle_service {
            s.stop();
        }
        inner.revocations.stop();
        let completed = inner.logger.shutdown(timeout);
        inner.verifier.shutdown();
        let log = inner.logger.stats();
        ShutdownReport {
            completed,
            abandoned: log
                .enqueued
                .saturating_sub(log.written + log.failed + log.dropped),
            decision_log: log,
        }
    }

    /// A snapshot of the metrics.
    pub fn metrics(&self) -> MetricsSnapshot {
        let inner = &*self.inner;
        let v = &inner.verifier;
        let jwks = v
            .issuers()
            .into_iter()
            .filter_map(|issuer| {
                let s = v.jwks_status(&issuer)?;
                Some(IssuerKeyStats {
                    issuer,
                    fetches: s.fetches,
                    fetch_failures: s.fetch_failures,
                    lookup_hits: s.lookup_hits,
                    lookup_misses: s.lookup_misses,
                })
            })
            .collect();
        let mut s = inner
            .metrics
            .snapshot(v.cache_stats(), jwks, inner.logger.stats());
        s.rollout = self.rollout();
        s.revocations = self.revocation_stats();
        s.bundle_service = self.bundle_service_status();
        s.decision_log_upload = self.inner.logger.upload_status();
        s.introspection = v.introspection_stats();
        s.now_ms = inner.clock.now_unix_ms();
        s.enforcement = Some(self.enforcement());
        s.enforcement_override_file_errors = inner.enforcement.file_errors.load(Ordering::Relaxed);
        s
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        self.metrics().to_prometheus()
    }
}

/// The token the request presents, or why there is none to verify.
fn presented_token(request: &Request) -> Result<&str, Reason> {
    match (request.malformed_authorization, request.token.as_deref()) {
        (Some(_), _) => Err(Reason::AuthorizationMalformed),
        (None, Some(t)) => Ok(t),
        (None, None) => Err(Reason::TokenMissing),
    }
}

/// The token's confirmation (`cnf`, RFC 7800): `jkt` (DPoP) and/or `x5t#S256` (mTLS). Any
/// other shape is a binding zt cannot check, and is refused rather than ignored.
fn confirmation(cnf: &serde_json::Value) -> Result<(Option<&str>, Option<&str>), Reason> {
    let obj = cnf.as_object().ok_or(Reason::ConfirmationUnsupported)?;
    let mut out = (None, None);
    for (k, v) in obj {
        let v = v.as_str().ok_or(Reason::ConfirmationUnsupported)?;
        match k.as_str() {
            "jkt" => out.0 = Some(v),
            "x5t#S256" => out.1 = Some(v),
            _ => return Err(Reason::ConfirmationUnsupported),
        }
    }
    if out == (None, None) {
        return Err(Reason::ConfirmationUnsupported);
    }
    Ok(out)
}

/// Whether a path has a `.` or `..` segment, percent-encoded or not.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|seg| {
        let lower = seg.to_ascii_lowercase().replace("%2e", ".");
        lower == "." || lower == ".."
    })
}

/// Whether `host` is a host and optional port only (no userinfo, path, query or fragment).
fn plain_authority(host: &str) -> bool {
    !host.contains('@') && host.parse::<http::uri::Authority>().is_ok()
}

/// The policy's verdict for a verified token (see [`decision::interpret`]).
fn interpret(
    result: &Result<PolicyOutput, PolicyFailure>,
    claims: &VerifiedClaims,
    now: u64,
) -> Verdict {
    decision::interpret(
        result,
        claims.get("acr").and_then(serde_json::Value::as_str),
        claims.get("auth_time").and_then(serde_json::Value::as_u64),
        now,
    )
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex) from a prefix and a sequence number, without
/// the formatting machinery.
fn format_id(prefix: u64, n: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut put = |from: usize, to: usize, mut v: u64| {
        for slot in out.iter_mut().take(to).skip(from).rev() {
            *slot = HEX.get((v & 0xf) as usize).copied().unwrap_or(b'0');
            v >>= 4;
        }
    };
    put(0, 8, prefix >> 32);
    put(9, 13, (prefix >> 16) & 0xffff);
    put(14, 18, prefix & 0xffff);
    put(19, 23, (n >> 48) & 0xffff);
    put(24, 36, n & 0xffff_ffff_ffff);
    // All ASCII: the conversion cannot fail.
    std::str::from_utf8(&out)
        .map(str::to_owned)
        .unwrap_or_default()
}

fn elapsed(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl crate::http::HeaderSelection for Authorizer {
    fn request_headers(&self) -> &[String] {
        Authorizer::request_headers(self)
    }

    fn posture_header(&self) -> Option<&str> {
        Authorizer::posture_header(self)
    }
}

#[cfg(test)]
mod tests {
    use super::format_id;

    #[test]
    fn decision_id_format() {
        let p: u64 = 0x0123_4567_89ab_cdef;
        let n: u64 = 0xfedc_ba98_7654_3210;
        let want = format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            p >> 32,
            (p >> 16) & 0xffff,
            p & 0xffff,
            (n >> 48) & 0xffff,
            n & 0xffff_ffff_ffff
        );
        assert_eq!(format_id(p, n), want);
        assert_eq!(format_id(0, 1), "00000000-0000-0000-0000-000000000001");
    }
}
