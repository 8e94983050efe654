#![cfg(test)]
//! DPoP server nonces (RFC 9449 §8, §9) through zt-tower on a real axum service and a real
//! HTTP client on 127.0.0.1: a proof without a nonce gets 401 `use_dpop_nonce` and a
//! `DPoP-Nonce`; the retry passes; once the nonce is from the previous window, the successful
//! response hands out the current one.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use zt_core::{Authorizer, AuthorizerConfig, ManualClock};
use zt_tower::ZtLayer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_are_asked_for_accepted_and_rotated_on_success() {
    let jwks = jwks_server().await;
    let iss = jwks.issuer();
    let dir = std::env::temp_dir().join(format!("zt-tower-nonce-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("nonce.secret");
    std::fs::write(&secret, "a nonce secret for this test, 32 bytes or more").unwrap();
    let now = zt_testkit::now();
    let clock = Arc::new(ManualClock::at_unix(now));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let cfg = json!({
        "issuers": [{"issuer": iss, "audiences": [AUD], "algorithms": ["ES256"],
                     "jwks_uri": jwks.jwks_uri()}],
        "dpop": {"base_url": base, "nonce_secret_file": secret, "nonce_lifetime_s": 60},
        "decision_log": {"sink": "none"},
    });
    let authz = Authorizer::builder(AuthorizerConfig::from_json_str(&cfg.to_string()).unwrap())
        .clock(clock.clone())
        .policy_files(vec![("p.rego".into(), POLICY.as_bytes().to_vec())])
        .build()
        .unwrap();
    authz.verifier().ready().await.unwrap();
    let app = app(ZtLayer::new(authz.clone()).realm("orders"));
    let server = serve_on(port, app).await;

    let jkt = zt_testkit::try_jkt("ec-p256").unwrap();
    let token = mint(&iss, json!({"cnf": {"jkt": jkt}}));
    let url = format!("{base}/orders/1");
    let ath = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            token.as_bytes(),
        ))
    };
    let header = json!({"typ": "dpop+jwt", "alg": "ES256",
                        "jwk": zt_testkit::try_dpop_jwk("ec-p256").unwrap()})
    .to_string();
    let proof = |jti: &str, iat: u64, nonce: Option<&str>| {
        let mut body = json!({"jti": jti, "htm": "GET", "htu": url, "iat": iat, "ath": ath});
        if let Some(n) = nonce {
            body["nonce"] = json!(n);
        }
        zt_testkit::sign_raw(&header, &body.to_string(), "ec-p256", "ES256")
    };
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let send = |p: String| {
        let http = http.clone();
        let url = url.clone();
        let token = token.clone();
        async move {
            let r = http
                .get(url)
                .header("authorization", format!("DPoP {token}"))
                .header("dpop", p)
                .send()
                .await
                .unwrap();
            let h = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), h("dpop-nonce"), h("www-authenticate"))
        }
    };

    // No nonce: 401, `use_dpop_nonce`, and the nonce to use.
    let (status, nonce, challenge) = send(proof("p-1", now, None)).await;
    assert_eq!(status, 401);
    assert!(
        challenge.unwrap().contains("error=\"use_dpop_nonce\""),
        "the DPoP challenge"
    );
    let nonce = nonce.expect("a DPoP-Nonce header");
    // With it: 200, and no new nonce while this one is current.
    let (status, next, _) = send(proof("p-2", now, Some(&nonce))).await;
    assert_eq!((status, next), (200, None));
    // A window later the nonce is still accepted, and the response hands out the next one.
    clock.advance(Duration::from_secs(60));
    let (status, next, _) = send(proof("p-3", now + 60, Some(&nonce))).await;
    assert_eq!(status, 200);
    let next = next.expect("a fresh DPoP-Nonce on success");
    assert_ne!(next, nonce);
    let (status, again, _) = send(proof("p-4", now + 60, Some(&next))).await;
    assert_eq!((status, again), (200, None));
    // Two windows on, the old nonce is refused with the current one.
    clock.advance(Duration::from_secs(60));
    let (status, fresh, _) = send(proof("p-5", now + 120, Some(&nonce))).await;
    assert_eq!(status, 401);
    assert!(fresh.is_some());
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
