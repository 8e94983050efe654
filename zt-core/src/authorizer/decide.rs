//! The decision pipeline: verify, admit (revocation), confirm (DPoP, certificates), posture,
//! input, policy, enforcement, log and metrics.

use super::Authorizer;
use crate::codes::EnforcementMode;
use crate::codes::Outcome;
use crate::codes::Reason;
use crate::decision::{self, Decision, ShadowResult, Timings, Verdict};
use crate::input::PolicyInput;
use crate::log::{Entry, LogInput, LoggedOutput};
use crate::policy::rollout::{Observed, Side, Ticket};
use crate::policy::{PolicyEvaluation, PolicyFailure, PolicyOutput};
use crate::posture::{self, Found};
use crate::request::Request;
use crate::token::VerifiedClaims;
use crate::util::clock::Clock;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The verification results a decision starts from (besides the token's).
struct Verified {
    assertion: Option<Result<VerifiedClaims, Reason>>,
    token_ns: u64,
    assertion_ns: u64,
}

/// A decision up to the proof of possession: the admitted claims with the DPoP nonce to hand
/// out, or why the request is refused, and a proof id still to record in the shared replay
/// store.
struct Gated {
    now_ms: u64,
    claims: Result<(VerifiedClaims, Option<String>), Reason>,
    pending: Option<crate::dpop::store::Pending>,
}

impl Authorizer {
    /// Decide from cached keys only: no I/O, never blocks. An unknown `kid` is a deny
    /// (`unknown_key`) and schedules a key refresh in the background.
    ///
    /// The one exception: with `[dpop.replay_store]`, a request carrying a DPoP proof waits
    /// for the shared store, at most `timeout_ms` ([`Authorizer::may_block`] tells which
    /// requests do).
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
                assertion,
                token_ns,
                assertion_ns: elapsed(t1),
            };
            let mut gated = self.gate(request, token);
            if let (Some(p), Some(store)) = (gated.pending.take(), &inner.dpop.store)
                && let Err(reason) = store.spend_blocking(p)
            {
                gated.claims = Err(reason);
            }
            self.decide(request, gated, verified, t0)
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
                assertion,
                token_ns,
                assertion_ns: elapsed(t1),
            };
            let mut gated = self.gate(request, token);
            if let (Some(p), Some(store)) = (gated.pending.take(), &inner.dpop.store)
                && let Err(reason) = store.spend(p).await
            {
                gated.claims = Err(reason);
            }
            self.decide(request, gated, verified, t0)
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

    /// Whether [`Authorizer::authorize_sync`] may wait on I/O for `request`: only with
    /// `[dpop.replay_store]`, for a request carrying a DPoP proof (it waits for the store, at
    /// most `timeout_ms`). Bindings release their interpreter's lock for these.
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
    /// #     sink = "none"
    /// # "#)?;
    /// let authz = Authorizer::builder(config)
    ///     .policy_files(vec![("a.rego".into(), b"package zt.authz\ndecision := true".to_vec())])
    ///     .build()?;
    /// // No replay store configured: never.
    /// assert!(!authz.may_block(&Request::new("GET", "/")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn may_block(&self, request: &Request) -> bool {
        self.inner.dpop.store.is_some() && request.dpop_proof.is_some()
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

    /// The checks on the token before the policy: revocation, then proof of possession
    /// (the shared replay store's part is left to the caller, which may await it).
    fn gate(&self, request: &Request, token: Result<VerifiedClaims, Reason>) -> Gated {
        let now_ms = self.inner.clock.now_unix_ms();
        let mut pending = None;
        let claims = token
            .and_then(|c| self.admit(c))
            .and_then(|c| self.confirm(c, request, now_ms / 1000))
            .map(|(c, checked)| match checked {
                Some(checked) => {
                    pending = checked.pending;
                    (c, checked.next_nonce)
                }
                None => (c, None),
            });
        Gated {
            now_ms,
            claims,
            pending,
        }
    }

    fn decide(&self, request: &Request, g: Gated, v: Verified, t0: Instant) -> Decision {
        let inner = &*self.inner;
        let now_ms = g.now_ms;
        let now = now_ms / 1000;
        let mut timings = Timings {
            token_ns: v.token_ns,
            ..Timings::default()
        };
        let (claims, next_nonce) = match g.claims {
            Ok(c) => c,
            Err(reason) => return self.refused(request, reason, timings, t0, now_ms),
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
        let shadow = self.shadow(&input, &claims, &verdict, &evaluation, ticket, now_ms);
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

    /// A request refused before the policy (token, revocation, proof of possession): a deny
    /// under the mode for an unverified subject, logged with the request part only.
    fn refused(
        &self,
        request: &Request,
        reason: Reason,
        mut timings: Timings,
        t0: Instant,
        now_ms: u64,
    ) -> Decision {
        let inner = &*self.inner;
        let enforcement = inner.enforcement.current(inner.policy.active_enforcement());
        let mode = enforcement.mode_for(None);
        let (outcome, enforced) = crate::enforcement::enforce(Outcome::Deny, mode);
        let mut d = self.bare(Outcome::Deny, vec![reason]);
        if reason.is_dpop_proof() || reason == Reason::DpopSchemeRequired {
            d.dpop_algs = Some(inner.dpop.algs_text());
            // Every DPoP refusal hands out the current nonce (RFC 9449 §9), so a
            // client learns it from its first failure of any kind.
            d.dpop_nonce = inner.dpop.nonces.as_ref().map(|n| n.current(now_ms / 1000));
        }
        d.outcome = outcome;
        d.enforced = enforced;
        d.mode = mode;
        timings.total_ns = elapsed(t0);
        d.timings = timings;
        let input = LogInput::Request(request.info.clone(), inner.headers.clone());
        self.finish(d, input, None, now_ms)
    }

    /// The shadow candidate's result (the operator's; else the rollout's candidate in its
    /// shadow stage), and the rollout gate's observation of this decision.
    fn shadow(
        &self,
        input: &PolicyInput,
        claims: &VerifiedClaims,
        verdict: &Verdict,
        evaluation: &PolicyEvaluation,
        ticket: Option<Ticket>,
        now_ms: u64,
    ) -> Option<ShadowResult> {
        let inner = &*self.inner;
        let now = now_ms / 1000;
        let user_shadow = inner.policy.evaluate_shadow(input);
        let mut shadow = user_shadow.map(|s| {
            let cand = interpret(&s.result, claims, now);
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
        let Some(t) = ticket else {
            return shadow;
        };
        let seen = |outcome, result: &Result<PolicyOutput, PolicyFailure>| Observed {
            outcome,
            policy_error: result.is_err(),
        };
        let this = seen(verdict.outcome, &evaluation.result);
        let (control, candidate) = match (t.side, &t.shadow) {
            (Side::Both, Some(s)) => {
                let cand = interpret(&s.result, claims, now);
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
        shadow
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
    /// With it, the DPoP proof's outcome (the nonce to hand out, the id still to record in the
    /// shared store).
    fn confirm(
        &self,
        claims: VerifiedClaims,
        request: &Request,
        now: u64,
    ) -> Result<(VerifiedClaims, Option<crate::dpop::Checked>), Reason> {
        let inner = &*self.inner;
        let mut checked = None;
        let (jkt, x5t) = match claims.confirmation() {
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
            checked = Some(inner.dpop.check(proof, &cx)?);
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
        Ok((claims, checked))
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
    pub(super) fn log_rollout_events(&self, now_ms: u64) {
        for (at_ms, event) in self.inner.policy.take_rollout_events() {
            let at = if at_ms == 0 { now_ms } else { at_ms };
            self.inner.logger.enqueue_event(at, event);
        }
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
    decision::interpret(result, claims.acr(), claims.auth_time(), now)
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
