#![cfg(test)]
//! The `zt-testkit` binary as the binding tests use it: start it, read its one JSON line, fetch
//! over loopback with a real HTTP client, kill it by its pid.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use zt_testkit::{jwk, jwks};

const BIN: &str = env!("CARGO_BIN_EXE_zt-testkit");

/// The child process, killed when dropped (if the test failed before killing it).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

type Rest = std::sync::mpsc::Receiver<Option<std::io::Result<String>>>;

/// Start `serve-jwks` and read its first line (30 s at most); `Rest` gets the next line, or
/// `None` at the end of its output.
fn serve_jwks(args: &[&str]) -> (Running, Value, Rest) {
    let mut child = Command::new(BIN)
        .arg("serve-jwks")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next());
        let _ = tx.send(lines.next());
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap()
        .unwrap()
        .unwrap();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    (running, v, rx)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn get_json(url: &str) -> Value {
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    serde_json::from_str(&r.text().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_jwks_prints_one_line_serves_over_loopback_and_dies_by_pid() {
    let (mut running, line, rest) =
        serve_jwks(&["--keys", "rsa2048-a,ec-p256", "--max-secs", "60"]);
    let url = line["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    assert!(url.rsplit(':').next().unwrap().parse::<u16>().unwrap() > 0);
    assert_eq!(line["jwks_uri"], json!(format!("{url}/jwks")));
    assert_eq!(line["issuer"], json!(url));
    let pid = line["pid"].as_u64().unwrap();
    assert_eq!(pid, u64::from(running.0.id()));

    assert_eq!(
        get_json(line["jwks_uri"].as_str().unwrap()).await,
        jwks(&["rsa2048-a", "ec-p256"])
    );
    let discovery = get_json(&format!("{url}/.well-known/openid-configuration")).await;
    assert_eq!(discovery["issuer"], json!(url));
    assert_eq!(discovery["jwks_uri"], line["jwks_uri"]);

    // As a Python or Node test would: by the printed pid.
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let status = running.0.wait().unwrap();
    assert!(!status.success(), "terminated by the signal: {status:?}");
    assert!(
        matches!(rest.recv_timeout(Duration::from_secs(10)), Ok(None)),
        "exactly one line on stdout"
    );
    assert!(
        client().get(&url).send().await.is_err(),
        "nothing listens any more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_jwks_names_the_given_issuer_and_stops_after_max_secs() {
    let (mut running, line, _) = serve_jwks(&[
        "--keys",
        "ed25519",
        "--issuer",
        "https://idp.example.com",
        "--max-secs",
        "2",
    ]);
    assert_eq!(line["issuer"], "https://idp.example.com");
    let url = line["url"].as_str().unwrap();
    let discovery = get_json(&format!("{url}/.well-known/openid-configuration")).await;
    assert_eq!(discovery["issuer"], "https://idp.example.com");
    assert_eq!(discovery["jwks_uri"], line["jwks_uri"]);
    let status = tokio::task::spawn_blocking(move || {
        let status = running.0.wait().unwrap();
        drop(running);
        status
    })
    .await
    .unwrap();
    assert!(status.success(), "exits by itself: {status:?}");
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mint_prints_a_token_that_verifies_with_the_fixture_jwk() {
    let claims = json!({"iss": "https://idp.example.com", "sub": "alice", "aud": "api",
                        "exp": 4_000_000_000_u64});
    let (code, out, err) = run(&[
        "mint",
        "--key",
        "ec-p256",
        "--alg",
        "ES256",
        "--claims",
        &claims.to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    let token = out.trim_end();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.kid.as_deref(), Some("ec-p256"));
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let key: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk("ec-p256")).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["api"]);
    validation.set_issuer(&["https://idp.example.com"]);
    let data = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(&key).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(data.claims, claims);
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "unknown key",
            &["serve-jwks", "--keys", "ec-p256,nope"],
            "nope",
        ),
        ("no keys", &["serve-jwks"], "--keys"),
        (
            "claims not JSON",
            &[
                "mint", "--key", "ec-p256", "--alg", "ES256", "--claims", "{",
            ],
            "JSON",
        ),
        (
            "unknown algorithm",
            &["mint", "--key", "ec-p256", "--alg", "XS1", "--claims", "{}"],
            "XS1",
        ),
        (
            "key cannot sign with alg",
            &[
                "mint", "--key", "ec-p256", "--alg", "RS256", "--claims", "{}",
            ],
            "ec-p256",
        ),
    ];
    for (name, args, needle) in cases {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(out.is_empty(), "{name}: {out}");
        assert!(err.contains(needle), "{name}: {err}");
    }
}
