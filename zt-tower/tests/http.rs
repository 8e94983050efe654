#![cfg(test)]
//! zt-tower on a real axum server with a real HTTP client and a real JWKS server: every status
//! and header, warn mode, skip paths, concurrency, and malformed Authorization headers.

mod support;

use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zt_core::EnforcementMode;
use zt_tower::ZtLayer;

async fn setup(mode: &str) -> (JwksServer, Served) {
    let jwks = jwks_server().await;
    let authz = authorizer(ISS, &jwks.jwks_uri(), mode);
    authz.verifier().ready().await.unwrap();
    let layer = ZtLayer::new(authz).realm("orders").skip_path("/healthz");
    (jwks, serve(app(layer)).await)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn www(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_headers_and_bodies() {
    let (_jwks, server) = setup("enforce").await;
    let c = client();
    let token = mint(ISS, json!({}));
    let writer = mint(ISS, json!({"scope": "orders:read orders:write"}));
    let expired = mint(ISS, json!({"iat": now() - 7200, "exp": now() - 3600}));

    // Allowed: the handler sees the claims and the obligation header; the response gets one too.
    let r = c
        .get(server.url("/orders/7"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-policy"], "read");
    assert!(r.headers().get(zt_tower::WOULD_DENY_HEADER).is_none());
    assert_eq!(r.text().await.unwrap(), "alice|alice");

    // No token: a plain challenge, no error code (RFC 6750 §3.1).
    let r = c.get(server.url("/orders/7")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(www(&r), r#"Bearer realm="orders""#);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["reasons"], json!(["token_missing"]));
    assert!(body["decision_id"].is_string());

    // Rejected token.
    let r = c
        .get(server.url("/orders/7"))
        .bearer_auth(&expired)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        www(&r),
        r#"Bearer realm="orders", error="invalid_token", error_description="token_expired""#
    );
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(&expired) && !text.contains(&expired[..30]),
        "no token contents"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], 401);
    assert_eq!(body["reasons"], json!(["token_expired"]));

    // Policy deny: 403; with insufficient_scope in the policy's reasons, said in the challenge.
    let r = c
        .get(server.url("/secret"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!www(&r).contains("error="), "{}", www(&r));
    let r = c
        .post(server.url("/orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        www(&r).contains(r#"error="insufficient_scope""#),
        "{}",
        www(&r)
    );
    let r = c
        .post(server.url("/orders"))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Step-up (RFC 9470).
    let r = c
        .post(server.url("/admin/deploy"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        www(&r),
        r#"Bearer realm="orders", error="insufficient_user_authentication", error_description="step_up_required", acr_values="urn:zt:acr:mfa", max_age=300"#
    );

    // Only configured headers reach the policy.
    let r = c
        .get(server.url("/tenant"))
        .bearer_auth(&token)
        .header("x-tenant", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Skipped path: no token needed.
    let r = c.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warn_mode_lets_through_and_marks() {
    let (_jwks, server) = setup("warn").await;
    let c = client();
    let token = mint(ISS, json!({}));
    let r = c
        .get(server.url("/secret"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[zt_tower::WOULD_DENY_HEADER], "policy_denied");
    let r = c
        .get(server.url("/orders/1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get(zt_tower::WOULD_DENY_HEADER).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_layer_mode_and_deny_hook() {
    let jwks = jwks_server().await;
    let authz = authorizer(ISS, &jwks.jwks_uri(), "enforce");
    authz.verifier().ready().await.unwrap();
    let layer = ZtLayer::new(authz.clone()).mode(EnforcementMode::Warn);
    let server = serve(app(layer)).await;
    let token = mint(ISS, json!({}));
    let r = client()
        .get(server.url("/secret"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "a route-level warn override lets it through"
    );
    assert_eq!(r.headers()[zt_tower::WOULD_DENY_HEADER], "policy_denied");

    let hooked = ZtLayer::new(authz).on_deny(|d| {
        let mut r = http::Response::new(bytes::Bytes::from_static(b"custom"));
        *r.status_mut() = if d.status == 403 {
            http::StatusCode::NOT_FOUND
        } else {
            d.status
        };
        Some(r)
    });
    let server = serve(app(hooked)).await;
    let r = client()
        .get(server.url("/secret"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "custom");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_get_their_own_decisions() {
    let (_jwks, server) = setup("enforce").await;
    let c = client();
    let token = mint(ISS, json!({}));
    let futures = (0..300).map(|i| {
        let c = c.clone();
        let token = token.clone();
        let url = server.url(if i % 3 == 0 { "/secret" } else { "/orders/1" });
        async move {
            let mut rq = c.get(&url);
            if i % 5 != 0 {
                rq = rq.bearer_auth(&token);
            }
            let status = rq.send().await.unwrap().status().as_u16();
            let want = if i % 5 == 0 {
                401
            } else if i % 3 == 0 {
                403
            } else {
                200
            };
            assert_eq!(status, want, "request {i}");
        }
    });
    futures::future::join_all(futures).await;
}

/// Send raw bytes (for headers no client library would produce) and return status + head.
async fn raw(server: &Served, head: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(head).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn request(extra_headers: &[&[u8]], target: &str) -> Vec<u8> {
    let mut r = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n").into_bytes();
    for h in extra_headers {
        r.extend_from_slice(h);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"\r\n");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_authorization_headers() {
    let (_jwks, server) = setup("enforce").await;
    let token = mint(ISS, json!({}));
    let big = format!("Authorization: Bearer {}", "a".repeat(64 * 1024));
    let two_a = format!("Authorization: Bearer {token}");
    let lower = format!("Authorization: bearer {token}");
    type Case<'a> = (&'a str, Vec<&'a [u8]>, &'a str, u16, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "two headers",
            vec![two_a.as_bytes(), two_a.as_bytes()],
            "/orders/1",
            401,
            Some("invalid_request"),
        ),
        (
            "64 KiB header",
            vec![big.as_bytes()],
            "/orders/1",
            401,
            Some("invalid_token"),
        ),
        (
            "non-UTF-8",
            vec![b"Authorization: Bearer \xff\xfe\xfd"],
            "/orders/1",
            401,
            Some("invalid_request"),
        ),
        (
            "lower-case bearer",
            vec![lower.as_bytes()],
            "/orders/1",
            200,
            None,
        ),
        (
            "Basic",
            vec![b"Authorization: Basic dXNlcjpwYXNz"],
            "/orders/1",
            401,
            None,
        ),
        (
            "empty token",
            vec![b"Authorization: Bearer "],
            "/orders/1",
            401,
            Some("invalid_request"),
        ),
        (
            "token in query",
            vec![two_a.as_bytes()],
            "/orders/1?access_token=abc",
            401,
            Some("invalid_request"),
        ),
    ];
    for (name, headers, target, status, error) in cases {
        let (got, text) = raw(&server, &request(&headers, target)).await;
        assert_eq!(got, status, "{name}: {}", &text[..text.len().min(400)]);
        let head = text.to_ascii_lowercase();
        match error {
            Some(e) => assert!(head.contains(&format!("error=\"{e}\"")), "{name}: {head}"),
            None if status == 401 => {
                assert!(
                    head.contains("www-authenticate: bearer realm=\"orders\"\r\n"),
                    "{name}: {head}"
                )
            }
            None => {}
        }
        assert!(!text.contains(&token[20..60]), "{name}: token echoed");
    }
}
