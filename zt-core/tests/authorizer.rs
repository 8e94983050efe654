#![cfg(test)]
//! The Authorizer through the public API: every outcome and reason code, enforcement modes and
//! the canary, shadow divergence, revocation, posture sources, metrics and concurrency.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use zt_core::{
    Authorizer, AuthorizerConfig, DeviceInput, EnforcementMode, ManualClock, Outcome, Reason,
    Request,
};
use zt_testkit::{
    ISS as IDP, NOW, claims, jwks, merge, mint, sample_bundle_dir, sign_hmac, sign_raw,
};

const MDM: &str = "https://mdm.example.com";

/// A policy that answers per path, so one authorizer can produce every policy outcome.
const PATH_POLICY: &str = r#"
package zt.authz
import rego.v1

decision := {"allow": true, "reasons": ["ok"], "obligations": {"add_headers": {"x-user": input.subject.id}}} if input.request.path == "/allow"
decision := {"allow": false, "reasons": ["nope"]} if input.request.path == "/deny"
decision := {"allow": "yes"} if input.request.path == "/invalid"
decision := count([x | some x in numbers.range(1, 10000000)]) > 0 if input.request.path == "/error"
decision := {"allow": false, "step_up": {"acr_values": "urn:zt:acr:mfa", "max_age": 300}} if input.request.path == "/stepup"
decision := {"allow": true, "step_up": {"acr_values": "urn:zt:acr:mfa urn:zt:acr:hwk", "max_age": 300}} if input.request.path == "/needs-mfa"
decision := {"allow": input.device != null, "reasons": ["device_checked"]} if input.request.path == "/device"
decision := true if input.request.path == "/bool"
"#;

fn idp_issuer() -> Value {
    json!({
        "issuer": IDP, "audiences": ["api"], "algorithms": ["RS256", "ES256"],
        "jwks": jwks(&["rsa2048-a", "ec-p256", "rsa1024"]), "token_type": "at+jwt",
        "max_token_age_s": 7200,
    })
}

fn config(extra: Value) -> AuthorizerConfig {
    let mut doc = json!({
        "issuers": [idp_issuer()],
        "decision_log": {"sink": "none"},
    });
    merge(&mut doc, extra);
    AuthorizerConfig::from_json_str(&doc.to_string()).unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_unix(NOW))
}

fn build(cfg: AuthorizerConfig, policy: &str) -> Authorizer {
    Authorizer::builder(cfg)
        .clock(clock())
        .policy_files(vec![("authz.rego".into(), policy.as_bytes().to_vec())])
        .build()
        .unwrap()
}

fn sample(cfg: AuthorizerConfig) -> Authorizer {
    let mut cfg = cfg;
    cfg.policy.bundle = Some(sample_bundle_dir());
    Authorizer::builder(cfg).clock(clock()).build().unwrap()
}

fn token_with(f: impl FnOnce(&mut Value)) -> String {
    let mut c = claims(IDP);
    f(&mut c);
    mint("ec-p256", "ES256", &c)
}

fn token() -> String {
    token_with(|_| {})
}

fn get(path: &str, token: &str) -> Request {
    Request::new("GET", path).bearer(token)
}

#[test]
fn every_token_reason_is_a_deny_with_that_reason() {
    let authz = build(config(json!({})), PATH_POLICY);
    let hs = sign_hmac(
        &json!({"alg": "HS256", "typ": "at+jwt"}).to_string(),
        &claims(IDP).to_string(),
        b"0123456789abcdef0123456789abcdef",
        "HS256",
    );
    let mut forged = token();
    forged.replace_range(forged.len() - 4.., "AAAA");
    let typ_jwt = sign_raw(
        &json!({"alg": "ES256", "kid": "ec-p256", "typ": "JWT"}).to_string(),
        &claims(IDP).to_string(),
        "ec-p256",
        "ES256",
    );
    let crit = sign_raw(
        &json!({"alg": "ES256", "kid": "ec-p256", "typ": "at+jwt", "crit": ["exp"]}).to_string(),
        &claims(IDP).to_string(),
        "ec-p256",
        "ES256",
    );
    let unknown_kid = sign_raw(
        &json!({"alg": "ES256", "kid": "nope", "typ": "at+jwt"}).to_string(),
        &claims(IDP).to_string(),
        "ec-p256",
        "ES256",
    );
    // Signed by another key: the 1024-bit key is refused before any signature check.
    let weak_key = sign_raw(
        &json!({"alg": "RS256", "kid": "rsa1024", "typ": "at+jwt"}).to_string(),
        &claims(IDP).to_string(),
        "rsa2048-a",
        "RS256",
    );
    let mismatch = sign_raw(
        &json!({"alg": "ES256", "kid": "rsa2048-a", "typ": "at+jwt"}).to_string(),
        &claims(IDP).to_string(),
        "ec-p256",
        "ES256",
    );
    let cases: Vec<(&str, Request, Reason)> = vec![
        (
            "no token",
            Request::new("GET", "/allow"),
            Reason::TokenMissing,
        ),
        (
            "too large",
            get("/allow", &"a".repeat(20_000)),
            Reason::TokenTooLarge,
        ),
        (
            "malformed",
            get("/allow", "not.a.token"),
            Reason::TokenMalformed,
        ),
        (
            "crit header",
            get("/allow", &crit),
            Reason::TokenHeaderUnsupported,
        ),
        ("typ JWT", get("/allow", &typ_jwt), Reason::TokenTypeInvalid),
        (
            "unknown issuer",
            get(
                "/allow",
                &token_with(|c| c["iss"] = json!("https://evil.example")),
            ),
            Reason::UnknownIssuer,
        ),
        (
            "HS256 not allowed",
            get("/allow", &hs),
            Reason::AlgorithmNotAllowed,
        ),
        (
            "unknown kid",
            get("/allow", &unknown_kid),
            Reason::UnknownKey,
        ),
        (
            "1024-bit key",
            get("/allow", &weak_key),
            Reason::KeyRejected,
        ),
        (
            "ES256 on an RSA kid",
            get("/allow", &mismatch),
            Reason::KeyAlgorithmMismatch,
        ),
        (
            "bad signature",
            get("/allow", &forged),
            Reason::TokenSignatureInvalid,
        ),
        (
            "expired",
            get(
                "/allow",
                &token_with(|c| {
                    c["iat"] = json!(NOW - 7000);
                    c["nbf"] = json!(NOW - 7000);
                    c["exp"] = json!(NOW - 3000);
                }),
            ),
            Reason::TokenExpired,
        ),
        (
            "not yet valid",
            get("/allow", &token_with(|c| c["nbf"] = json!(NOW + 600))),
            Reason::TokenNotYetValid,
        ),
        (
            "issued in future",
            get(
                "/allow",
                &token_with(|c| {
                    c["iat"] = json!(NOW + 600);
                    c["nbf"] = json!(NOW);
                }),
            ),
            Reason::TokenIssuedInFuture,
        ),
        (
            "lifetime",
            get("/allow", &token_with(|c| c["exp"] = json!(NOW + 86_400))),
            Reason::TokenLifetimeExceeded,
        ),
        (
            "audience",
            get("/allow", &token_with(|c| c["aud"] = json!("other"))),
            Reason::AudienceMismatch,
        ),
    ];
    for (name, request, reason) in cases {
        let d = authz.authorize_sync(&request);
        assert_eq!(d.outcome, Outcome::Deny, "{name}");
        assert_eq!(d.reasons, vec![reason], "{name}");
        assert!(d.enforced, "{name}");
        assert!(d.claims.is_none(), "{name}");
        assert!(d.policy_revision.is_none(), "{name}: policy must not run");
    }
}

#[test]
fn jwks_unavailable_is_a_deny() {
    let mut issuer = idp_issuer();
    issuer["jwks"] = Value::Null;
    issuer.as_object_mut().unwrap().remove("jwks");
    // A loopback port nothing listens on: the fetch fails fast.
    issuer["jwks_uri"] = json!("http://127.0.0.1:9/jwks");
    let cfg = AuthorizerConfig::from_json_str(
        &json!({"issuers": [issuer], "decision_log": {"sink": "none"}}).to_string(),
    )
    .unwrap();
    let authz = build(cfg, PATH_POLICY);
    let d = authz.authorize_sync(&get("/allow", &token()));
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.reasons, vec![Reason::JwksUnavailable]);
}

#[test]
fn every_policy_outcome_and_reason() {
    let authz = build(config(json!({})), PATH_POLICY);
    let mfa_recent = token_with(|c| {
        c["acr"] = json!("urn:zt:acr:hwk");
        c["auth_time"] = json!(NOW - 100);
    });
    let mfa_old = token_with(|c| {
        c["acr"] = json!("urn:zt:acr:mfa");
        c["auth_time"] = json!(NOW - 1000);
    });
    type Case<'a> = (&'a str, &'a str, String, Outcome, Vec<Reason>);
    let cases: Vec<Case> = vec![
        ("allow", "/allow", token(), Outcome::Allow, vec![]),
        ("boolean allow", "/bool", token(), Outcome::Allow, vec![]),
        (
            "deny",
            "/deny",
            token(),
            Outcome::Deny,
            vec![Reason::PolicyDenied],
        ),
        (
            "undefined",
            "/other",
            token(),
            Outcome::Deny,
            vec![Reason::PolicyUndefined],
        ),
        (
            "invalid",
            "/invalid",
            token(),
            Outcome::Deny,
            vec![Reason::PolicyOutputInvalid],
        ),
        (
            "error",
            "/error",
            token(),
            Outcome::Deny,
            vec![Reason::PolicyError],
        ),
        (
            "policy step-up",
            "/stepup",
            token(),
            Outcome::StepUp,
            vec![Reason::StepUpRequired],
        ),
        (
            "built-in step-up met",
            "/needs-mfa",
            mfa_recent,
            Outcome::Allow,
            vec![],
        ),
        (
            "acr missing",
            "/needs-mfa",
            token(),
            Outcome::StepUp,
            vec![Reason::StepUpRequired],
        ),
        (
            "auth too old",
            "/needs-mfa",
            mfa_old,
            Outcome::StepUp,
            vec![Reason::StepUpRequired],
        ),
    ];
    for (name, path, tok, outcome, reasons) in cases {
        let d = authz.authorize_sync(&get(path, &tok));
        assert_eq!(d.outcome, outcome, "{name}");
        assert_eq!(d.evaluated, outcome, "{name}");
        assert_eq!(d.reasons, reasons, "{name}");
        assert_eq!(
            d.policy_revision.as_deref(),
            Some(authz.policy().active_revision().as_str()),
            "{name}"
        );
        assert!(d.claims.is_some(), "{name}");
        if outcome == Outcome::StepUp {
            let s = d.step_up.as_ref().unwrap();
            assert!(
                s.acr_values.as_deref().unwrap().contains("urn:zt:acr:mfa"),
                "{name}"
            );
            assert_eq!(s.max_age, Some(300), "{name}");
        }
    }
    let d = authz.authorize_sync(&get("/allow", &token()));
    assert_eq!(d.policy_reasons, vec!["ok"]);
    assert_eq!(d.obligations["add_headers"]["x-user"], json!("alice"));
    let j = d.to_json();
    assert_eq!(j["outcome"], json!("allow"));
    assert_eq!(j["reasons"], json!([]));
    assert!(j["decision_id"].as_str().unwrap().len() >= 32);
}

#[tokio::test]
async fn async_authorize_matches_sync() {
    let authz = build(config(json!({})), PATH_POLICY);
    for path in ["/allow", "/deny", "/stepup", "/other"] {
        let r = get(path, &token());
        let a = authz.authorize(&r).await;
        let s = authz.authorize_sync(&r);
        assert_eq!((a.outcome, &a.reasons), (s.outcome, &s.reasons), "{path}");
        assert_ne!(a.id, s.id, "decision ids are unique");
    }
}

#[test]
fn modes_warn_and_log_only_allow_but_mark() {
    for (mode, warning) in [("warn", true), ("log_only", false)] {
        let authz = build(config(json!({"enforcement": {"mode": mode}})), PATH_POLICY);
        for (path, evaluated) in [("/deny", Outcome::Deny), ("/stepup", Outcome::StepUp)] {
            let d = authz.authorize_sync(&get(path, &token()));
            assert_eq!(d.outcome, Outcome::Allow, "{mode} {path}");
            assert_eq!(d.evaluated, evaluated, "{mode} {path}");
            assert!(!d.enforced, "{mode} {path}");
            assert_eq!(d.warning(), warning, "{mode} {path}");
        }
        // Token failures follow the mode too: the operator chose not to enforce.
        let d = authz.authorize_sync(&get("/allow", "garbage"));
        assert_eq!(d.outcome, Outcome::Allow, "{mode}");
        assert_eq!(d.reasons, vec![Reason::TokenMalformed], "{mode}");
        let allowed = authz.authorize_sync(&get("/allow", &token()));
        assert!(allowed.enforced && !allowed.warning(), "{mode}");
        let m = authz.metrics();
        assert_eq!(m.unenforced, 3, "{mode}");
        assert_eq!(m.warnings, if warning { 3 } else { 0 }, "{mode}");
        assert_eq!(m.evaluated["deny"], 2, "{mode}");
        assert_eq!(m.outcome["allow"], 4, "{mode}");
    }
}

#[test]
fn canary_split_is_stable_and_close_to_the_percentage() {
    let mk = || {
        build(
            config(json!({"enforcement": {"canary_percent": 30}})),
            PATH_POLICY,
        )
    };
    let (a, b) = (mk(), mk());
    let n = 10_000;
    let mut enforced = 0;
    for i in 0..n {
        let sub = format!("user-{i}");
        let t = token_with(|c| c["sub"] = json!(sub));
        let r = get("/deny", &t);
        let da = a.authorize_sync(&r);
        let db = b.authorize_sync(&r);
        assert_eq!(da.mode, db.mode, "stable across authorizers for {sub}");
        let in_canary = zt_core::canary_bucket(IDP, &sub) < 3000;
        assert_eq!(da.enforced, in_canary, "{sub}");
        if da.enforced {
            enforced += 1;
            assert_eq!(
                (da.outcome, da.mode),
                (Outcome::Deny, EnforcementMode::Enforce)
            );
        } else {
            assert_eq!(
                (da.outcome, da.mode),
                (Outcome::Allow, EnforcementMode::LogOnly)
            );
        }
    }
    let pct = f64::from(enforced) * 100.0 / f64::from(n);
    assert!(
        (28.5..=31.5).contains(&pct),
        "enforced {pct}% of subjects, want ~30%"
    );
    // An unverifiable identity cannot pick its side of the canary.
    let d = a.authorize_sync(&get("/allow", "garbage"));
    assert!(d.enforced);
    assert_eq!(d.outcome, Outcome::Deny);
    // Pinned: the split must not move between releases.
    assert_eq!(zt_core::canary_bucket(IDP, "alice"), 7362);
}

#[test]
fn shadow_divergences_are_counted_both_ways() {
    let authz = build(config(json!({})), PATH_POLICY);
    let candidate = r#"
package zt.authz
import rego.v1
decision := {"allow": false, "reasons": ["tightened"]} if input.request.path == "/allow"
decision := {"allow": true} if input.request.path == "/deny"
decision := {"allow": false} if input.request.path == "/bool"
"#;
    let rev = authz
        .policy()
        .set_shadow_files(Some(vec![("c.rego".into(), candidate.as_bytes().to_vec())]))
        .unwrap()
        .unwrap();
    let d = authz.authorize_sync(&get("/allow", &token()));
    assert_eq!(d.outcome, Outcome::Allow, "shadow is never enforced");
    let s = d.shadow.unwrap();
    assert_eq!(
        (s.outcome, s.diverged, s.revision.as_str()),
        (Outcome::Deny, true, rev.as_str())
    );
    let d = authz.authorize_sync(&get("/deny", &token()));
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(d.shadow.unwrap().diverged);
    authz.authorize_sync(&get("/bool", &token()));
    let same = authz.authorize_sync(&get("/other", &token()));
    assert!(!same.shadow.unwrap().diverged, "both deny");
    let m = authz.metrics().shadow;
    assert_eq!((m.evaluations, m.allow_to_deny, m.deny_to_allow), (4, 2, 1));
}

#[test]
fn revocation_by_jti_and_subject() {
    let authz = build(config(json!({})), PATH_POLICY);
    let t = token();
    assert!(authz.authorize_sync(&get("/allow", &t)).is_allowed());
    authz.revoke_token_id("id-1");
    let d = authz.authorize_sync(&get("/allow", &t));
    assert_eq!(
        (d.outcome, d.reasons.clone()),
        (Outcome::Deny, vec![Reason::TokenRevoked])
    );
    let other_jti = token_with(|c| c["jti"] = json!("id-2"));
    assert!(
        authz
            .authorize_sync(&get("/allow", &other_jti))
            .is_allowed()
    );
    authz.unrevoke_token_id("id-1");
    assert!(authz.authorize_sync(&get("/allow", &t)).is_allowed());
    authz.revoke_subject(IDP, "alice");
    let d = authz.authorize_sync(&get("/allow", &other_jti));
    assert_eq!(d.reasons, vec![Reason::SubjectRevoked]);
    // Same subject name from another issuer is a different subject.
    authz.unrevoke_subject(IDP, "alice");
    assert!(
        authz
            .authorize_sync(&get("/allow", &other_jti))
            .is_allowed()
    );
    // Revocation drops cached verifications.
    let before = authz.verifier().cache_stats();
    authz.revoke_token_id("unrelated");
    authz.authorize_sync(&get("/allow", &t));
    let after = authz.verifier().cache_stats();
    assert_eq!(after.misses, before.misses + 1, "cache was cleared");
}

fn device(assessed_at: u64, encrypted: bool) -> Value {
    json!({"id": "dev-1", "managed": true, "os": "macOS", "disk_encrypted": encrypted,
           "patch_age_days": 3, "jailbroken": false, "assessed_at": assessed_at,
           "battery_health": "good"})
}

#[test]
fn posture_from_claims_with_the_sample_bundle() {
    let authz = sample(config(json!({})));
    let persona = |groups: Value, dev: Option<Value>| {
        token_with(|c| {
            c["groups"] = groups;
            if let Some(d) = dev {
                c["device"] = d;
            }
        })
    };
    let admin = persona(json!(["admin"]), Some(device(NOW - 60, true)));
    let d = authz.authorize_sync(&get("/orders/1", &admin));
    assert_eq!(d.outcome, Outcome::Allow, "{:?}", d.policy_reasons);
    assert_eq!(d.policy_reasons, vec!["rbac_granted"]);
    let laptop = persona(json!(["dev"]), Some(device(NOW - 60, false)));
    let d = authz.authorize_sync(&get("/orders/1", &laptop));
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.reasons, vec![Reason::PolicyDenied]);
    assert_eq!(d.policy_reasons, vec!["disk_not_encrypted"]);
    let stale = persona(json!(["admin"]), Some(device(NOW - 3600, true)));
    let d = authz.authorize_sync(&get("/orders/1", &stale));
    assert_eq!(d.reasons, vec![Reason::PostureStale, Reason::PolicyDenied]);
    assert_eq!(d.policy_reasons, vec!["device_posture_missing"]);
    let bad = persona(json!(["admin"]), Some(json!({"managed": "yes"})));
    let d = authz.authorize_sync(&get("/orders/1", &bad));
    assert_eq!(
        d.reasons,
        vec![Reason::PostureInvalid, Reason::PolicyDenied]
    );
    let none = persona(json!(["admin"]), None);
    let d = authz.authorize_sync(&get("/orders/1", &none));
    assert_eq!(
        d.reasons,
        vec![Reason::PolicyDenied],
        "no posture is not an error"
    );
    assert_eq!(d.policy_reasons, vec!["device_posture_missing"]);
    // Admin paths need a recent MFA: step-up.
    let d = authz.authorize_sync(&get("/admin/deploy", &admin));
    assert_eq!(d.outcome, Outcome::StepUp);
    // Health endpoints are public to any verified token.
    assert!(authz.authorize_sync(&get("/healthz", &none)).is_allowed());
    // A posture handed over by the caller is checked for freshness too.
    let given: DeviceInput = serde_json::from_value(device(NOW - 10, true)).unwrap();
    let d = authz.authorize_sync(&get("/orders/1", &none).device(given));
    assert!(d.is_allowed(), "{:?}", d.policy_reasons);
    let old: DeviceInput = serde_json::from_value(device(NOW - 10_000, true)).unwrap();
    let d = authz.authorize_sync(&get("/orders/1", &none).device(old));
    assert_eq!(d.reasons, vec![Reason::PostureStale, Reason::PolicyDenied]);
}

fn assertion_config(bind: &str) -> AuthorizerConfig {
    let mdm = json!({
        "issuer": MDM, "audiences": ["api"], "algorithms": ["ES384"],
        "jwks": jwks(&["ec-p384"]),
    });
    let doc = json!({
        "issuers": [idp_issuer(), mdm],
        "posture": {"source": "assertion", "header": "X-Device-Posture", "issuer": MDM,
                    "bind": bind, "max_age_s": 900},
        "request": {"headers": ["x-device-posture", "x-request-id"]},
        "decision_log": {"sink": "none"},
    });
    AuthorizerConfig::from_json_str(&doc.to_string()).unwrap()
}

fn assertion(iss: &str, sub: &str, key: &str, alg: &str, dev: Value) -> String {
    let c = json!({"iss": iss, "sub": sub, "aud": "api", "iat": NOW - 30, "exp": NOW + 600,
                   "device": dev});
    sign_raw(
        &json!({"alg": alg, "kid": key}).to_string(),
        &c.to_string(),
        key,
        alg,
    )
}

#[test]
fn posture_from_an_assertion_stale_unbound_wrong_signer() {
    let authz = build(assertion_config("sub"), PATH_POLICY);
    let good = assertion(MDM, "alice", "ec-p384", "ES384", device(NOW - 60, true));
    let req = |a: &str| get("/device", &token()).header("x-device-posture", a);
    let d = authz.authorize_sync(&req(&good));
    assert!(d.is_allowed(), "{:?}", d.reasons);
    assert!(d.reasons.is_empty());

    let stale = assertion(MDM, "alice", "ec-p384", "ES384", device(NOW - 5000, true));
    let unbound = assertion(MDM, "bob", "ec-p384", "ES384", device(NOW - 60, true));
    let idp_signed = assertion(IDP, "alice", "ec-p256", "ES256", device(NOW - 60, true));
    let forged_sig = {
        let mut t = good.clone();
        t.replace_range(t.len() - 4.., "AAAA");
        t
    };
    let cases = [
        ("stale", stale, Reason::PostureStale),
        ("unbound", unbound, Reason::PostureUnbound),
        ("signed by the IdP", idp_signed, Reason::PostureInvalid),
        ("bad signature", forged_sig, Reason::PostureInvalid),
        ("not a JWT", "garbage".to_owned(), Reason::PostureInvalid),
    ];
    for (name, a, reason) in cases {
        let d = authz.authorize_sync(&req(&a));
        assert_eq!(d.outcome, Outcome::Deny, "{name}: device must be null");
        assert_eq!(d.reasons, vec![reason, Reason::PolicyDenied], "{name}");
    }
    // An MDM assertion is never an access token.
    let d = authz.authorize_sync(&get("/allow", &good));
    assert_eq!(d.reasons, vec![Reason::UnknownIssuer]);
    // No assertion: device is null, no posture reason.
    let d = authz.authorize_sync(&get("/device", &token()));
    assert_eq!(d.reasons, vec![Reason::PolicyDenied]);
}

#[test]
fn posture_assertion_bound_by_device_id() {
    let authz = build(assertion_config("device_id"), PATH_POLICY);
    let t = token_with(|c| c["device_id"] = json!("dev-1"));
    let other = token_with(|c| c["device_id"] = json!("dev-2"));
    let a = assertion(
        MDM,
        "someone-else",
        "ec-p384",
        "ES384",
        device(NOW - 60, true),
    );
    let d = authz.authorize_sync(&get("/device", &t).posture_assertion(a.clone()));
    assert!(d.is_allowed(), "{:?}", d.reasons);
    let d = authz.authorize_sync(&get("/device", &other).posture_assertion(a));
    assert_eq!(
        d.reasons,
        vec![Reason::PostureUnbound, Reason::PolicyDenied]
    );
}

#[test]
fn posture_header_never_enters_the_input() {
    let policy = r#"
package zt.authz
import rego.v1
decision := {"allow": true, "reasons": [k | some k, _ in input.request.headers]}
"#;
    let authz = build(assertion_config("sub"), policy);
    let good = assertion(MDM, "alice", "ec-p384", "ES384", device(NOW - 60, true));
    let d = authz.authorize_sync(
        &get("/", &token())
            .header("X-Device-Posture", &good)
            .header("X-Request-Id", "r-1")
            .header("Authorization", "Bearer x")
            .header("x-other", "not listed"),
    );
    assert_eq!(d.policy_reasons, vec!["x-request-id"]);
}

#[test]
fn metrics_snapshot_and_prometheus() {
    let authz = build(config(json!({})), PATH_POLICY);
    let t = token();
    for _ in 0..10 {
        authz.authorize_sync(&get("/allow", &t));
    }
    authz.authorize_sync(&get("/deny", &t));
    authz.authorize_sync(&get("/stepup", &t));
    authz.authorize_sync(&get("/allow", "garbage"));
    let m = authz.metrics();
    assert_eq!(m.decisions, 13);
    assert_eq!(m.evaluated["allow"], 10);
    assert_eq!(m.evaluated["deny"], 2);
    assert_eq!(m.evaluated["step_up"], 1);
    assert_eq!(m.by_reason["policy_denied"], 1);
    assert_eq!(m.by_reason["token_malformed"], 1);
    assert_eq!(
        m.token_cache.hits, 11,
        "first verification misses, the rest hit"
    );
    assert!(m.token_cache_hit_rate() > 0.8);
    let total = m.latency["total"];
    assert_eq!(total.count, 13);
    assert!(total.p50_ns > 0 && total.p50_ns <= total.p95_ns && total.p95_ns <= total.p99_ns);
    assert_eq!(m.latency["policy"].count, 13);
    assert_eq!(m.latency["shadow"].count, 0, "no shadow set");
    let text = authz.prometheus();
    for needle in [
        "zt_decisions_total{outcome=\"allow\"} 10",
        "zt_reasons_total{reason=\"token_malformed\"} 1",
        "zt_token_cache_lookups_total{result=\"hit\"} 11",
        "zt_stage_duration_seconds_count{stage=\"total\"} 13",
        "zt_stage_duration_seconds_bucket{le=\"+Inf\",stage=\"total\"} 13",
        "zt_decision_log_records_total{state=\"dropped\"} 0",
        "zt_shadow_divergences_total{direction=\"allow_to_deny\"} 0",
        &format!("zt_jwks_lookups_total{{issuer=\"{IDP}\",result=\"hit\"}}"),
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[test]
fn building_fails_for_misuse_only() {
    let no_policy = Authorizer::new(config(json!({})));
    assert!(matches!(no_policy, Err(zt_core::BuildError::NoPolicy)));
    let bad_policy = Authorizer::builder(config(json!({})))
        .policy_files(vec![(
            "a.rego".into(),
            b"package zt.authz\ndecision := ".to_vec(),
        )])
        .build();
    assert!(matches!(bad_policy, Err(zt_core::BuildError::Policy(_))));
    let no_callback = Authorizer::builder(config(json!({"decision_log": {"sink": "callback"}})))
        .policy_files(vec![("a.rego".into(), PATH_POLICY.as_bytes().to_vec())])
        .build();
    assert!(matches!(no_callback, Err(zt_core::BuildError::NoCallback)));
}

/// The decisions the concurrency test expects, computed single-threaded.
fn persona_requests() -> Vec<Request> {
    let paths = [
        "/allow",
        "/deny",
        "/stepup",
        "/other",
        "/bool",
        "/needs-mfa",
    ];
    let mut out = Vec::new();
    for i in 0..8 {
        let t = token_with(|c| {
            c["sub"] = json!(format!("user-{i}"));
            if i % 2 == 0 {
                c["acr"] = json!("urn:zt:acr:mfa");
                c["auth_time"] = json!(NOW - 10);
            }
        });
        for p in paths {
            out.push(get(p, &t));
        }
    }
    out.push(Request::new("GET", "/allow"));
    out.push(get("/allow", "garbage"));
    out
}

#[test]
fn eight_threads_agree_with_one() {
    let authz = build(config(json!({})), PATH_POLICY.replace(
        "decision := count([x | some x in numbers.range(1, 10000000)]) > 0 if input.request.path == \"/error\"\n",
        "",
    ).as_str());
    let requests = persona_requests();
    let expected: Vec<(Outcome, Vec<Reason>)> = requests
        .iter()
        .map(|r| {
            let d = authz.authorize_sync(r);
            (d.outcome, d.reasons)
        })
        .collect();
    let per_thread: usize = std::env::var("ZT_CONCURRENCY_DECISIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let authz = authz.clone();
            let requests = requests.clone();
            let expected = expected.clone();
            std::thread::spawn(move || {
                let mut counts: HashMap<Outcome, u64> = HashMap::new();
                for i in 0..per_thread {
                    let k = (i + t * 7) % requests.len();
                    let d = authz.authorize_sync(&requests[k]);
                    assert_eq!(
                        (d.outcome, &d.reasons),
                        (expected[k].0, &expected[k].1),
                        "{k}"
                    );
                    *counts.entry(d.outcome).or_default() += 1;
                }
                counts
            })
        })
        .collect();
    let mut total = 0;
    for t in threads {
        total += t.join().unwrap().values().sum::<u64>();
    }
    assert_eq!(total, 8 * per_thread as u64);
    let m = authz.metrics();
    assert_eq!(
        m.decisions,
        total + requests.len() as u64,
        "no decision lost in metrics"
    );
}
