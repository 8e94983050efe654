#![cfg(test)]
//! DPoP (RFC 9449) and certificate-bound tokens (RFC 8705): a bound token is accepted only
//! with a proof by its key (or its client certificate), and every way a proof can be wrong has
//! its reason.

use serde_json::{Value, json};
use std::sync::Arc;
use zt_core::{Authorizer, AuthorizerConfig, ManualClock, Reason, Request};
use zt_testkit::{ISS as IDP, NOW, b64, claims, jwk, jwks, merge, mint, sign_hmac, sign_raw};

const URL: &str = "https://api.example.com/orders/7";

fn authz_with(extra_issuer: Value) -> Authorizer {
    let mut issuer = json!({"issuer": IDP, "audiences": ["api"], "algorithms": ["RS256"],
                            "jwks": jwks(&["rsa2048-a"])});
    merge(&mut issuer, extra_issuer);
    let doc = json!({
        "issuers": [issuer],
        "decision_log": {"sink": "none"},
    });
    // Allowed only when zt says how the token is bound.
    let policy = b"package zt.authz\nimport rego.v1\ndefault decision := false\ndecision if input.subject.confirmation.method in {\"dpop\", \"mtls\"}\ndecision if input.request.path == \"/bearer-ok\"\n";
    Authorizer::builder(AuthorizerConfig::from_json_str(&doc.to_string()).unwrap())
        .clock(Arc::new(ManualClock::at_unix(NOW)))
        .policy_files(vec![("p.rego".into(), policy.to_vec())])
        .build()
        .unwrap()
}

fn authz() -> Authorizer {
    authz_with(json!({}))
}

/// The public JWK of fixture key `name`, as a DPoP header carries it.
fn public_jwk(name: &str) -> Value {
    let mut k = jwk(name);
    let m = k.as_object_mut().unwrap();
    m.remove("kid");
    m.remove("alg");
    m.remove("use");
    k
}

fn thumbprint(name: &str) -> String {
    zt_core::jwk_thumbprint(public_jwk(name).as_object().unwrap()).unwrap()
}

/// An access token bound to fixture key `holder` (`cnf.jkt`), or unbound with `None`.
fn token(holder: Option<&str>) -> String {
    let mut c = claims(IDP);
    if let Some(h) = holder {
        merge(&mut c, json!({"cnf": {"jkt": thumbprint(h)}}));
    }
    mint("rsa2048-a", "RS256", &c)
}

fn ath(token: &str) -> String {
    b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref())
}

/// A proof signed by `key` with `alg`, carrying `jwk`; `edit` changes the claims.
fn proof_with(
    key: &str,
    alg: &str,
    header_jwk: Value,
    token: &str,
    edit: impl FnOnce(&mut Value),
) -> String {
    let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": header_jwk});
    let mut body = json!({"jti": format!("j-{}", rand_id()), "htm": "GET", "htu": URL,
                          "iat": NOW, "ath": ath(token)});
    edit(&mut body);
    sign_raw(&header.to_string(), &body.to_string(), key, alg)
}

fn proof(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    proof_with("ec-p256", "ES256", public_jwk("ec-p256"), token, edit)
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn request(token: &str, proof: Option<&str>) -> Request {
    let r = Request::new("GET", "/orders/7?page=2")
        .host("api.example.com")
        .dpop(token);
    match proof {
        Some(p) => r.dpop_proof(p),
        None => r,
    }
}

fn reasons(a: &Authorizer, r: &Request) -> Vec<Reason> {
    a.authorize_sync(r).reasons
}

#[test]
fn a_proof_by_the_bound_key_is_accepted_and_the_policy_sees_the_binding() {
    let a = authz();
    let t = token(Some("ec-p256"));
    let d = a.authorize_sync(&request(&t, Some(&proof(&t, |_| {}))));
    assert!(d.is_allowed(), "{:?}", d.reasons);
    // Other key types: RSA (PS256) and Ed25519 holders.
    for (holder, alg) in [("rsa2048-b", "PS256"), ("ed25519", "EdDSA")] {
        let t = token(Some(holder));
        let p = proof_with(holder, alg, public_jwk(holder), &t, |_| {});
        let d = a.authorize_sync(&request(&t, Some(&p)));
        assert!(d.is_allowed(), "{alg}: {:?}", d.reasons);
    }
    // The URL is compared after normalisation (case, default port, no query).
    let p = proof(&t, |b| {
        b["htu"] = json!("HTTPS://API.example.com:443/orders/7")
    });
    assert!(a.authorize_sync(&request(&t, Some(&p))).is_allowed());
}

#[test]
fn every_wrong_proof_has_its_reason() {
    let a = authz();
    let t = token(Some("ec-p256"));
    let invalid = [Reason::DpopProofInvalid];
    let cases: Vec<(&str, String)> = vec![
        ("wrong method", proof(&t, |b| b["htm"] = json!("POST"))),
        (
            "wrong URL",
            proof(&t, |b| b["htu"] = json!("https://api.example.com/orders/8")),
        ),
        (
            "other host",
            proof(&t, |b| {
                b["htu"] = json!("https://evil.example.com/orders/7")
            }),
        ),
        ("stale iat", proof(&t, |b| b["iat"] = json!(NOW - 120))),
        ("future iat", proof(&t, |b| b["iat"] = json!(NOW + 60))),
        (
            "missing ath",
            proof(&t, |b| {
                b.as_object_mut().unwrap().remove("ath");
            }),
        ),
        (
            "ath of another token",
            proof(&t, |b| b["ath"] = json!(ath("another"))),
        ),
        (
            "missing jti",
            proof(&t, |b| {
                b.as_object_mut().unwrap().remove("jti");
            }),
        ),
        (
            "signed by another key than its jwk",
            proof_with("ec-p256", "ES256", public_jwk("ec-p384"), &t, |_| {}),
        ),
        (
            "HMAC proof",
            sign_hmac(
                &json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": public_jwk("ec-p256")})
                    .to_string(),
                &json!({"jti": "h", "htm": "GET", "htu": URL, "iat": NOW, "ath": ath(&t)})
                    .to_string(),
                b"0123456789abcdef0123456789abcdef",
                "HS256",
            ),
        ),
        ("alg none", {
            let h = json!({"typ": "dpop+jwt", "alg": "none", "jwk": public_jwk("ec-p256")});
            let b = json!({"jti": "n", "htm": "GET", "htu": URL, "iat": NOW, "ath": ath(&t)});
            format!(
                "{}.{}.",
                b64(h.to_string().as_bytes()),
                b64(b.to_string().as_bytes())
            )
        }),
        ("private key parts in jwk", {
            let mut k = public_jwk("ec-p256");
            k["d"] = json!("Q0vAVN9eYo_OELGQgN1aXA2dVMxR4Gf8x8Fx8wYNRzk");
            proof_with("ec-p256", "ES256", k, &t, |_| {})
        }),
        ("wrong typ", {
            let h = json!({"typ": "JWT", "alg": "ES256", "jwk": public_jwk("ec-p256")});
            let b = json!({"jti": "t", "htm": "GET", "htu": URL, "iat": NOW, "ath": ath(&t)});
            sign_raw(&h.to_string(), &b.to_string(), "ec-p256", "ES256")
        }),
        ("no jwk", {
            let h = json!({"typ": "dpop+jwt", "alg": "ES256"});
            let b = json!({"jti": "k", "htm": "GET", "htu": URL, "iat": NOW, "ath": ath(&t)});
            sign_raw(&h.to_string(), &b.to_string(), "ec-p256", "ES256")
        }),
        ("garbage", "not.a.proof".to_owned()),
    ];
    for (name, p) in cases {
        assert_eq!(reasons(&a, &request(&t, Some(&p))), invalid, "{name}");
    }
    // A proof by a key other than the bound one, valid in itself.
    let other = proof_with("ec-p384", "ES384", public_jwk("ec-p384"), &t, |_| {});
    assert_eq!(
        reasons(&a, &request(&t, Some(&other))),
        [Reason::DpopBindingMismatch]
    );
    // No proof at all; two DPoP headers.
    assert_eq!(reasons(&a, &request(&t, None)), [Reason::DpopProofMissing]);
    let two = request(&t, None).malformed_dpop_proof("more than one DPoP header");
    assert_eq!(reasons(&a, &two), invalid);
}

#[test]
fn a_proof_is_used_once() {
    let a = authz();
    let t = token(Some("ec-p256"));
    let p = proof(&t, |_| {});
    assert!(a.authorize_sync(&request(&t, Some(&p))).is_allowed());
    assert_eq!(reasons(&a, &request(&t, Some(&p))), [Reason::DpopReplayed]);
    // A failing proof does not spend its jti.
    let p2 = proof(&t, |b| b["jti"] = json!("fixed"));
    let wrong_method = Request::new("POST", "/orders/7")
        .host("api.example.com")
        .dpop(t.clone())
        .dpop_proof(p2.clone());
    assert_eq!(reasons(&a, &wrong_method), [Reason::DpopProofInvalid]);
    assert!(a.authorize_sync(&request(&t, Some(&p2))).is_allowed());
}

#[test]
fn bound_tokens_need_the_dpop_scheme_and_dpop_needs_a_bound_token() {
    let a = authz();
    let bound = token(Some("ec-p256"));
    let as_bearer = Request::new("GET", "/bearer-ok")
        .host("api.example.com")
        .bearer(bound.clone())
        .dpop_proof(proof(&bound, |_| {}));
    assert_eq!(reasons(&a, &as_bearer), [Reason::DpopSchemeRequired]);
    let unbound = token(None);
    assert_eq!(
        reasons(&a, &request(&unbound, Some(&proof(&unbound, |_| {})))),
        [Reason::DpopBindingMismatch]
    );
    // An unbound token as Bearer is a plain bearer token.
    let plain = Request::new("GET", "/bearer-ok").bearer(unbound.clone());
    assert!(a.authorize_sync(&plain).is_allowed());

    // An issuer that requires DPoP: unbound tokens are refused either way.
    let strict = authz_with(json!({"require_dpop": true}));
    assert_eq!(
        reasons(
            &strict,
            &Request::new("GET", "/bearer-ok").bearer(unbound.clone())
        ),
        [Reason::DpopSchemeRequired]
    );
    assert_eq!(
        reasons(&strict, &request(&unbound, Some(&proof(&unbound, |_| {})))),
        [Reason::DpopBindingMismatch]
    );
    assert!(
        strict
            .authorize_sync(&request(&bound, Some(&proof(&bound, |_| {}))))
            .is_allowed()
    );
}

#[test]
fn dpop_failures_answer_with_a_dpop_challenge() {
    let a = authz();
    let t = token(Some("ec-p256"));
    let d = a.authorize_sync(&request(&t, None));
    let answer = zt_core::http::HttpAnswer::new(&d, "orders");
    assert_eq!(answer.status, 401);
    let c = answer.header("www-authenticate").unwrap();
    assert!(
        c.starts_with("DPoP realm=\"orders\", algs=\"ES256 ES384 RS256 PS256 EdDSA\""),
        "{c}"
    );
    assert!(c.contains("error=\"invalid_dpop_proof\""), "{c}");

    // The challenge names the configured algorithms (RFC 9449 §7.1), for a missing proof and
    // for a bound token sent as Bearer alike.
    let doc = json!({
        "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["RS256"],
                     "jwks": jwks(&["rsa2048-a"])}],
        "dpop": {"algorithms": ["ES256", "EdDSA"]},
        "decision_log": {"sink": "none"},
    });
    let narrow = Authorizer::builder(AuthorizerConfig::from_json_str(&doc.to_string()).unwrap())
        .clock(Arc::new(ManualClock::at_unix(NOW)))
        .policy_files(vec![(
            "p.rego".into(),
            b"package zt.authz\ndecision := true".to_vec(),
        )])
        .build()
        .unwrap();
    for r in [
        request(&t, None),
        Request::new("GET", "/orders/7").bearer(t.clone()),
    ] {
        let d = narrow.authorize_sync(&r);
        let answer = zt_core::http::HttpAnswer::new(&d, "orders");
        let c = answer.header("www-authenticate").unwrap();
        assert!(
            c.starts_with("DPoP realm=\"orders\", algs=\"ES256 EdDSA\", error="),
            "{c}"
        );
    }
}

#[test]
fn http_extraction_reads_the_dpop_scheme_and_proof() {
    let a = authz();
    let t = token(Some("ec-p256"));
    let p = proof(&t, |_| {});
    let auth = format!("DPoP {t}");
    let headers = [
        ("host", "api.example.com"),
        ("authorization", auth.as_str()),
        ("dpop", p.as_str()),
    ];
    let r = zt_core::http::request_from_http(&a, "GET", "/orders/7", &headers[..], None, None);
    assert!(a.authorize_sync(&r).is_allowed());
    let two = [
        ("host", "api.example.com"),
        ("authorization", auth.as_str()),
        ("dpop", p.as_str()),
        ("dpop", p.as_str()),
    ];
    let r = zt_core::http::request_from_http(&a, "GET", "/orders/7", &two[..], None, None);
    assert_eq!(reasons(&a, &r), [Reason::DpopProofInvalid]);
}

#[test]
fn certificate_bound_tokens_need_their_certificate() {
    let a = authz();
    let cert = b"a DER certificate stands here".as_slice();
    let x5t = b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert).as_ref());
    let mut c = claims(IDP);
    merge(&mut c, json!({"cnf": {"x5t#S256": x5t}}));
    let t = mint("rsa2048-a", "RS256", &c);
    let with = Request::new("GET", "/orders/7")
        .bearer(t.clone())
        .client_certificate(cert);
    assert!(a.authorize_sync(&with).is_allowed());
    let other = Request::new("GET", "/orders/7")
        .bearer(t.clone())
        .client_certificate(b"another certificate");
    assert_eq!(reasons(&a, &other), [Reason::CertificateBindingMismatch]);
    let none = Request::new("GET", "/orders/7").bearer(t);
    assert_eq!(reasons(&a, &none), [Reason::CertificateBindingMismatch]);
}

#[test]
fn the_request_url_cannot_be_bent_to_match_another_proof() {
    let a = authz();
    let t = token(Some("ec-p256"));
    // A proof for /public, replayed on /orders/7 with a Host carrying the difference.
    let for_public = proof(&t, |b| b["htu"] = json!("https://api.example.com/public"));
    let bent = Request::new("GET", "/orders/7")
        .host("api.example.com/public#")
        .dpop(t.clone())
        .dpop_proof(for_public);
    assert_eq!(reasons(&a, &bent), [Reason::DpopProofInvalid]);
    // Dot segments (encoded or not) are refused, not resolved.
    for path in [
        "/admin/../orders/7",
        "/admin/%2e%2E/orders/7",
        "/orders/./7",
    ] {
        let p = proof(&t, |b| {
            b["htu"] = json!(format!("https://api.example.com{path}"))
        });
        let r = Request::new("GET", path)
            .host("api.example.com")
            .dpop(t.clone())
            .dpop_proof(p);
        assert_eq!(reasons(&a, &r), [Reason::DpopProofInvalid], "{path}");
    }
    // An oversized proof is not parsed.
    let huge = format!("{}.{}.{}", "a".repeat(5000), "b".repeat(5000), "c");
    assert_eq!(
        reasons(&a, &request(&t, Some(&huge))),
        [Reason::DpopProofInvalid]
    );
}

#[test]
fn a_confirmation_zt_cannot_check_is_refused() {
    let a = authz();
    for cnf in [
        json!({"jwk": {"kty": "EC"}}),
        json!({"jkt": 42}),
        json!("jkt"),
        json!({}),
        json!({"x5t#S256": ["a"]}),
    ] {
        let mut c = claims(IDP);
        merge(&mut c, json!({"cnf": cnf}));
        let t = mint("rsa2048-a", "RS256", &c);
        let r = Request::new("GET", "/bearer-ok").bearer(t);
        assert_eq!(reasons(&a, &r), [Reason::ConfirmationUnsupported], "{cnf}");
    }
}

#[test]
fn thumbprints_agree_with_the_test_kits_own() {
    for key in ["ec-p256", "ec-p384", "rsa2048-a", "ed25519"] {
        assert_eq!(thumbprint(key), zt_testkit::try_jkt(key).unwrap(), "{key}");
    }
}

#[test]
fn dpop_config_is_checked() {
    for (dpop, needle) in [
        (json!({"algorithms": ["HS256"]}), "asymmetric"),
        (json!({"algorithms": []}), "asymmetric"),
        (json!({"max_age_s": 0}), "max_age_s"),
        (
            json!({"base_url": "https://api.example.com/v1"}),
            "scheme and authority",
        ),
    ] {
        let doc = json!({
            "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["RS256"],
                         "jwks": jwks(&["rsa2048-a"])}],
            "dpop": dpop,
        });
        let err = AuthorizerConfig::from_json_str(&doc.to_string()).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[test]
fn server_nonces_are_asked_for_then_accepted_across_a_fleet_sharing_the_secret() {
    let dir = std::env::temp_dir().join(format!("zt-dpop-nonce-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fleet_secret = dir.join("fleet.secret");
    let other_secret = dir.join("other.secret");
    std::fs::write(&fleet_secret, "a fleet-wide secret of at least 32 bytes\n").unwrap();
    std::fs::write(&other_secret, "another deployment's secret, 32+ bytes").unwrap();
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let instance = |secret: &std::path::Path| {
        let doc = json!({
            "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["RS256"],
                         "jwks": jwks(&["rsa2048-a"])}],
            "dpop": {"nonce_secret_file": secret, "nonce_lifetime_s": 60},
            "decision_log": {"sink": "none"},
        });
        Authorizer::builder(AuthorizerConfig::from_json_str(&doc.to_string()).unwrap())
            .clock(clock.clone())
            .policy_files(vec![(
                "p.rego".into(),
                b"package zt.authz\ndecision := true".to_vec(),
            )])
            .build()
            .unwrap()
    };
    let (a, b, stranger) = (
        instance(&fleet_secret),
        instance(&fleet_secret),
        instance(&other_secret),
    );
    let t = token(Some("ec-p256"));
    let with_nonce = |nonce: &str| {
        let nonce = nonce.to_owned();
        proof(&t, move |c| c["nonce"] = json!(nonce))
    };

    // No nonce: 401 with `use_dpop_nonce` and a fresh nonce, and the jti is not spent.
    let first = proof(&t, |_| {});
    let d = a.authorize_sync(&request(&t, Some(&first)));
    assert_eq!(d.reasons, [Reason::DpopNonceRequired]);
    let answer = zt_core::http::HttpAnswer::new(&d, "orders");
    assert_eq!(answer.status, 401);
    let c = answer.header("www-authenticate").unwrap();
    assert!(
        c.starts_with("DPoP realm=\"orders\"") && c.contains("error=\"use_dpop_nonce\""),
        "{c}"
    );
    let nonce = answer.header("dpop-nonce").unwrap().to_owned();
    // Every DPoP refusal carries the nonce, a missing proof included.
    let d = a.authorize_sync(&request(&t, None));
    assert_eq!(
        zt_core::http::HttpAnswer::new(&d, "orders").header("dpop-nonce"),
        Some(nonce.as_str())
    );

    // The retry with the nonce passes, here and on another instance sharing the secret; no
    // new nonce is handed out while this one is current.
    let d = a.authorize_sync(&request(&t, Some(&with_nonce(&nonce))));
    assert!(d.is_allowed());
    assert_eq!(
        zt_core::http::HttpAnswer::new(&d, "orders").header("dpop-nonce"),
        None
    );
    assert!(
        b.authorize_sync(&request(&t, Some(&with_nonce(&nonce))))
            .is_allowed()
    );
    // Another secret's instance does not take it; neither a made-up nonce.
    assert_eq!(
        reasons(&stranger, &request(&t, Some(&with_nonce(&nonce)))),
        [Reason::DpopNonceRequired]
    );
    for fake in ["", "bm9uY2U", &nonce[..31], &format!("{}A", &nonce[..31])] {
        assert_eq!(
            reasons(&a, &request(&t, Some(&with_nonce(fake)))),
            [Reason::DpopNonceRequired],
            "{fake:?}"
        );
    }
    // A proof with a wrong nonce and another fault is refused for the fault first.
    let mut other_fault = with_nonce("stale");
    other_fault.push('x');
    assert_eq!(
        reasons(&a, &request(&t, Some(&other_fault))),
        [Reason::DpopProofInvalid]
    );

    // The nonce lives one to two lifetimes: after 60 s the previous window still counts,
    // after 120 s it is stale and the refusal hands out the new one.
    clock.advance(std::time::Duration::from_secs(60));
    let p = proof(&t, |c| {
        c["nonce"] = json!(nonce);
        c["iat"] = json!(NOW + 60);
    });
    let d = a.authorize_sync(&request(&t, Some(&p)));
    assert!(d.is_allowed());
    // ... and the successful answer hands out the current nonce (RFC 9449 §8.2).
    let rotated = zt_core::http::HttpAnswer::new(&d, "orders")
        .header("dpop-nonce")
        .unwrap()
        .to_owned();
    assert_ne!(rotated, nonce);
    clock.advance(std::time::Duration::from_secs(60));
    let p = proof(&t, |c| {
        c["nonce"] = json!(nonce);
        c["iat"] = json!(NOW + 120);
    });
    let d = a.authorize_sync(&request(&t, Some(&p)));
    assert_eq!(d.reasons, [Reason::DpopNonceRequired]);
    let fresh = zt_core::http::HttpAnswer::new(&d, "orders")
        .header("dpop-nonce")
        .unwrap()
        .to_owned();
    assert_ne!(fresh, nonce);
    // The nonce handed out on success at +60 s is still good at +120 s.
    let p = proof(&t, |c| {
        c["nonce"] = json!(rotated);
        c["iat"] = json!(NOW + 120);
    });
    assert!(a.authorize_sync(&request(&t, Some(&p))).is_allowed());
    let p = proof(&t, |c| {
        c["nonce"] = json!(fresh);
        c["iat"] = json!(NOW + 120);
    });
    assert!(a.authorize_sync(&request(&t, Some(&p))).is_allowed());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nonce_secrets_are_checked_at_build() {
    let build = |dpop: Value| {
        let doc = json!({
            "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["RS256"],
                         "jwks": jwks(&["rsa2048-a"])}],
            "dpop": dpop,
        });
        AuthorizerConfig::from_json_str(&doc.to_string()).and_then(|c| {
            Authorizer::builder(c)
                .policy_files(vec![(
                    "p.rego".into(),
                    b"package zt.authz\ndecision := true".to_vec(),
                )])
                .build()
                .map(|_| ())
                .map_err(|e| match e {
                    zt_core::BuildError::Config(c) => c,
                    other => panic!("{other}"),
                })
        })
    };
    let dir = std::env::temp_dir().join(format!("zt-dpop-nonce-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let short = dir.join("short");
    std::fs::write(&short, "too short").unwrap();
    let e = build(json!({"nonce_secret_file": short})).unwrap_err();
    assert!(e.to_string().contains("at least 32 bytes") && !e.to_string().contains("too short"));
    let e = build(json!({"nonce_secret_env": "ZT_TEST_SURELY_UNSET_NONCE_SECRET"})).unwrap_err();
    assert_eq!(e.key(), Some("dpop.nonce_secret_env"));
    let e = build(json!({"nonce_secret_env": "PATH", "nonce_secret_file": short})).unwrap_err();
    assert!(e.to_string().contains("only one"));
    let e = build(json!({"nonce_lifetime_s": 5})).unwrap_err();
    assert!(e.to_string().contains("nonce_lifetime_s"));
    let _ = std::fs::remove_dir_all(&dir);
}
