#![cfg(test)]
//! Bundles from a bundle server on 127.0.0.1 (OPA's bundle service API): first download, 304
//! polls, new revisions, a server that fails, stalls or serves garbage, bundles that fail their
//! tests or are too large, and a cold start from `persist_dir` while the server is down.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zt_core::{Authorizer, AuthorizerConfig, Request};
use zt_testkit::{ISS as IDP, claims, jwks, merge, mint, now, serve};

/// What the server answers with.
#[derive(Clone)]
enum Mode {
    Serve,
    Fail,
    Stall,
}

#[derive(Default)]
struct Server {
    bundle: Vec<u8>,
    etag: String,
    mode: Option<Mode>,
    hits: u64,
    not_modified: u64,
    authorization: Option<String>,
}

type Shared = Arc<Mutex<Server>>;

async fn bundle(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let (mode, bundle, etag) = {
        let mut s = s.lock().unwrap();
        s.hits += 1;
        s.authorization = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let unchanged = headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.to_str().unwrap() == s.etag);
        if unchanged && matches!(s.mode, None | Some(Mode::Serve)) {
            s.not_modified += 1;
            return StatusCode::NOT_MODIFIED.into_response();
        }
        (s.mode.clone(), s.bundle.clone(), s.etag.clone())
    };
    match mode {
        Some(Mode::Fail) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Some(Mode::Stall) => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK.into_response()
        }
        _ => ([(header::ETAG, etag)], bundle).into_response(),
    }
}

/// An OPA bundle archive with one policy whose decision is `allow` and whose test is `test`.
fn archive(allow: bool, test: &str, padding: usize) -> Vec<u8> {
    let rego = format!(
        "package zt.authz\nimport rego.v1\ndecision := {allow}\ntest_it if {test}\n# {}\n",
        "x".repeat(padding)
    );
    let mut out = Vec::new();
    {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            &mut out,
            flate2::Compression::default(),
        ));
        let mut h = tar::Header::new_gnu();
        h.set_size(rego.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "zt/authz.rego", rego.as_bytes())
            .unwrap();
        b.into_inner().unwrap().finish().unwrap();
    }
    out
}

fn set(s: &Shared, bundle: Vec<u8>, etag: &str, mode: Mode) {
    let mut s = s.lock().unwrap();
    s.bundle = bundle;
    s.etag = etag.to_owned();
    s.mode = Some(mode);
}

fn config(
    base: &str,
    persist: Option<&std::path::Path>,
    edit: impl FnOnce(&mut serde_json::Value),
) -> AuthorizerConfig {
    let mut doc = json!({
        "issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["ES256"],
                     "jwks": jwks(&["ec-p256"])}],
        "policy": {"service": {"url": base, "path": "bundles/authz.tar.gz",
                               "polling_min_s": 1, "polling_max_s": 1, "timeout_ms": 500}},
        "decision_log": {"sink": "none"},
    });
    if let Some(p) = persist {
        doc["policy"]["persist_dir"] = json!(p);
    }
    edit(&mut doc);
    AuthorizerConfig::from_json_str(&doc.to_string()).unwrap()
}

fn allowed(a: &Authorizer) -> bool {
    let mut c = claims(IDP);
    merge(
        &mut c,
        json!({"iat": now(), "nbf": now(), "exp": now() + 600}),
    );
    a.authorize_sync(&Request::new("GET", "/").bearer(mint("ec-p256", "ES256", &c)))
        .is_allowed()
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait until the bundle service's last error mentions `needle`.
fn wait_for_error(a: &Authorizer, what: &str, needle: &str) {
    wait_for(what, || {
        a.status()
            .policy
            .service
            .and_then(|s| s.last_error)
            .is_some_and(|e| e.contains(needle))
    });
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("zt-bundle-svc-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_polls_with_etag_and_keeps_the_last_good_bundle() {
    let state: Shared = Arc::default();
    set(&state, archive(true, "decision", 0), "\"v1\"", Mode::Serve);
    let server = serve(
        axum::Router::new()
            .route("/bundles/authz.tar.gz", axum::routing::get(bundle))
            .with_state(state.clone()),
    )
    .await;
    let dir = temp_dir("main");
    let base = server.url("");
    let a = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || Authorizer::new(config(&base, Some(&dir), |_| {})).unwrap()
    })
    .await
    .unwrap();
    let first = a.policy().active_revision();
    assert!(allowed(&a));
    assert!(dir.join("bundle.tar.gz").exists(), "persisted");

    // 304s: nothing recompiled, the same revision serves. The server counts a 304 before the
    // client has taken it in, so wait for the client's own count (a loaded machine showed it).
    wait_for("two 304 polls", || {
        state.lock().unwrap().not_modified >= 2
            && a.status()
                .policy
                .service
                .is_some_and(|s| s.not_modified >= 2)
    });
    assert_eq!(a.policy().active_revision(), first);
    let s = a.status().policy.service.unwrap();
    assert_eq!((s.downloads, s.etag.as_deref()), (1, Some("\"v1\"")));
    assert!(s.not_modified >= 2 && s.last_success_ms > 0);

    // A new revision activates.
    set(
        &state,
        archive(false, "not decision", 0),
        "\"v2\"",
        Mode::Serve,
    );
    wait_for("v2 active", || a.policy().active_revision() != first);
    assert!(!allowed(&a));
    let second = a.policy().active_revision();

    // A bundle that fails its own tests never activates; its ETag is remembered.
    set(&state, archive(true, "false", 0), "\"v3\"", Mode::Serve);
    wait_for_error(&a, "the refusal", "test");
    assert_eq!(a.policy().active_revision(), second);
    // The 304s for the refused bundle do not read as health.
    let seen = state.lock().unwrap().not_modified;
    wait_for("a 304 for the refused bundle", || {
        state.lock().unwrap().not_modified > seen
    });
    assert!(a.status().policy.service.unwrap().last_error.is_some());

    // Garbage: refused, last good keeps serving.
    set(&state, b"not a tarball".to_vec(), "\"v4\"", Mode::Serve);
    wait_for("garbage refused", || {
        a.status().policy.service.unwrap().etag.as_deref() == Some("\"v4\"")
    });
    assert_eq!(a.policy().active_revision(), second);

    // The server fails: last good keeps serving, errors are counted and exported.
    set(&state, Vec::new(), "\"v5\"", Mode::Fail);
    wait_for_error(&a, "a failed poll", "503");
    assert_eq!(a.policy().active_revision(), second);
    assert!(
        a.prometheus()
            .contains("zt_bundle_polls_total{result=\"error\"}")
    );
    a.shutdown(Duration::from_secs(2));

    // A fresh start while the server is down starts from the persisted bundle (v2).
    let base = server.url("");
    let b = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || Authorizer::new(config(&base, Some(&dir), |_| {})).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(b.policy().active_revision(), second);
    assert!(b.status().policy.service.unwrap().started_from_persisted);
    // Without a persisted bundle, a start during an outage is an error, not an allow.
    let base = server.url("");
    let err = tokio::task::spawn_blocking(move || Authorizer::new(config(&base, None, |_| {})))
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("no bundle is persisted"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_stalled_downloads_are_refused() {
    let state: Shared = Arc::default();
    set(&state, archive(true, "decision", 0), "\"a\"", Mode::Serve);
    let server = serve(
        axum::Router::new()
            .route("/bundles/authz.tar.gz", axum::routing::get(bundle))
            .with_state(state.clone()),
    )
    .await;
    // The token comes from an environment variable (zt forbids unsafe code, so the test uses
    // one that is always set rather than setting its own).
    let token = std::env::var("PATH").unwrap();
    let base = server.url("");
    let a = tokio::task::spawn_blocking(move || {
        Authorizer::new(config(&base, None, |d| {
            d["policy"]["max_bundle_bytes"] = json!(4096);
            d["policy"]["service"]["bearer_token_env"] = json!("PATH");
        }))
        .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        state.lock().unwrap().authorization,
        Some(format!("Bearer {token}"))
    );
    let first = a.policy().active_revision();
    // Incompressible padding: the archive itself exceeds 4096 bytes.
    let mut big = archive(true, "decision", 0);
    let mut r = [0u8; 8192];
    let _ = aws_lc_rs::rand::fill(&mut r);
    big.extend_from_slice(&r);
    set(&state, big, "\"b\"", Mode::Serve);
    wait_for_error(&a, "the size refusal", "max_bundle_bytes");
    assert_eq!(a.policy().active_revision(), first);
    set(&state, Vec::new(), "\"c\"", Mode::Stall);
    wait_for_error(&a, "the timeout", "timed out");
    assert_eq!(a.policy().active_revision(), first);
    let status = serde_json::to_string(&a.status()).unwrap();
    assert!(!status.contains(&token), "the token never shows");
}

#[test]
fn service_config_is_checked() {
    let bad = |policy: serde_json::Value, needle: &str| {
        let doc = json!({"issuers": [{"issuer": IDP, "audiences": ["api"], "algorithms": ["ES256"],
                                      "jwks": jwks(&["ec-p256"])}], "policy": policy});
        let err = AuthorizerConfig::from_json_str(&doc.to_string())
            .and_then(|c| c.validate().map(|_| c))
            .unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    };
    let svc = json!({"url": "https://b.example", "path": "b.tar.gz"});
    bad(json!({"bundle": "x", "service": svc}), "not both");
    bad(
        json!({"service": {"url": "http://b.example", "path": "b"}}),
        "https",
    );
    bad(
        json!({"service": {"url": "https://b.example", "path": "b", "polling_min_s": 10, "polling_max_s": 5}}),
        "polling_max_s",
    );
    bad(json!({"persist_dir": "/tmp"}), "only applies");
    bad(
        json!({"service": {"url": "https://u:p@b.example", "path": "b"}}),
        "user:password",
    );
}

fn archive_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            &mut out,
            flate2::Compression::default(),
        ));
        for (name, bytes) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, bytes.as_slice()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_downloads_activate_and_tampered_ones_never_do() {
    let rego = |allow: bool| {
        format!("package zt.authz\nimport rego.v1\ndecision := {allow}\ntest_it if true\n")
    };
    let signed = |allow: bool| {
        zt_testkit::signed_bundle(
            &[("zt/authz.rego", rego(allow).as_bytes())],
            "ec-p256",
            "ES256",
            "release",
        )
    };
    let state: Shared = Arc::default();
    set(&state, archive_of(&signed(true)), "\"s1\"", Mode::Serve);
    let server = serve(
        axum::Router::new()
            .route("/bundles/authz.tar.gz", axum::routing::get(bundle))
            .with_state(state.clone()),
    )
    .await;
    let base = server.url("");
    let dir = temp_dir("signed");
    let a = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            Authorizer::new(config(&base, Some(&dir), |doc| {
                doc["policy"]["signing"] = json!({"keys": [{
                    "keyid": "release", "algorithm": "ES256",
                    "jwk": zt_testkit::jwk("ec-p256")}]});
            }))
            .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(allowed(&a));
    let first = a.policy().active_revision();

    // The policy flipped to deny after signing, signature kept: refused, last good serves.
    let mut tampered = signed(true);
    tampered[0].1 = rego(false).into_bytes();
    set(&state, archive_of(&tampered), "\"s2\"", Mode::Serve);
    wait_for_error(
        &a,
        "the tampered bundle",
        "does not match its signed digest",
    );
    assert_eq!(a.policy().active_revision(), first);
    assert!(allowed(&a));

    // An unsigned bundle: refused too.
    set(&state, archive(false, "true", 0), "\"s3\"", Mode::Serve);
    wait_for_error(&a, "the unsigned bundle", "no `.signatures.json`");
    assert!(allowed(&a));

    // A properly signed new revision activates.
    set(&state, archive_of(&signed(false)), "\"s4\"", Mode::Serve);
    wait_for("the signed revision", || {
        a.policy().active_revision() != first
    });
    assert!(!allowed(&a));
    a.shutdown(Duration::from_secs(2));
    std::fs::remove_dir_all(&dir).ok();
}
