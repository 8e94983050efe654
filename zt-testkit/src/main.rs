//! `zt-testkit`: the test kit's JWKS/discovery server and token minting for tests written in
//! other languages (the Python and Node bindings).
//!
//! - `zt-testkit serve-jwks --keys rsa2048-a,ec-p256 [--issuer URL] [--max-secs N]` serves the
//!   named fixture keys on 127.0.0.1 (ephemeral port), prints one line of JSON
//!   `{"url": "http://127.0.0.1:PORT", "issuer": ..., "jwks_uri": ..., "pid": ...}` and serves
//!   until killed or `N` seconds (300) have passed. Control lines on stdin change it while it
//!   runs (each answered with one JSON line): `keys a,b` (rotate the served keys), `status 503`
//!   (the JWKS endpoint fails; `status 200` restores), `delay MS` (slow answers), `hits`
//!   (request counts).
//! - `zt-testkit mint --key NAME --alg ALG --claims JSON` prints a token signed with a fixture
//!   key (header `{"alg", "kid": NAME, "typ": "at+jwt"}`).
//!
//! Exit status 2 on bad arguments (an unknown key, algorithm or claims that are not JSON).

use clap::{Parser, Subcommand};
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;
use zt_testkit::{JwksServer, try_jwks, try_mint};

#[derive(Parser)]
#[command(
    name = "zt-testkit",
    version,
    about = "zt's test kit: fixture JWKS server and token minting"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve fixture keys as a JWKS with OIDC discovery on 127.0.0.1; print one JSON line.
    ServeJwks {
        /// Fixture keys to serve, comma-separated (rsa1024, rsa2048-a, rsa2048-b, rsa4096,
        /// ec-p256, ec-p384, ed25519).
        #[arg(long, value_delimiter = ',', required = true)]
        keys: Vec<String>,
        /// The issuer named by the discovery document (default: the server's URL).
        #[arg(long)]
        issuer: Option<String>,
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 300)]
        max_secs: u64,
    },
    /// Print a token signed with a fixture key.
    Mint {
        /// The fixture key; also the header's `kid`.
        #[arg(long)]
        key: String,
        /// The JOSE algorithm (RS256, PS256, ES256, ES384, EdDSA, ...).
        #[arg(long)]
        alg: String,
        /// The claims, a JSON object.
        #[arg(long)]
        claims: String,
    },
    /// Print a DPoP proof (RFC 9449) signed with a fixture key, its public key in the header.
    DpopProof {
        /// The fixture key the token is bound to.
        #[arg(long)]
        key: String,
        /// The JOSE algorithm (ES256, PS256, EdDSA, ...).
        #[arg(long)]
        alg: String,
        /// The request method.
        #[arg(long)]
        htm: String,
        /// The request URL.
        #[arg(long)]
        htu: String,
        /// The access token (for `ath`).
        #[arg(long)]
        token: Option<String>,
        /// The proof id (default: random).
        #[arg(long)]
        jti: Option<String>,
        /// `iat` (default: now).
        #[arg(long)]
        iat: Option<u64>,
    },
    /// Print the RFC 7638 thumbprint of a fixture key (a bound token's `cnf.jkt`).
    Jkt {
        /// The fixture key.
        #[arg(long)]
        key: String,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::ServeJwks {
            keys,
            issuer,
            max_secs,
        } => serve_jwks(&keys, issuer.as_deref(), Duration::from_secs(max_secs)),
        Command::Mint { key, alg, claims } => mint(&key, &alg, &claims),
        Command::DpopProof {
            key,
            alg,
            htm,
            htu,
            token,
            jti,
            iat,
        } => {
            let jti = jti.unwrap_or_else(|| {
                let mut r = [0u8; 12];
                let _ = aws_lc_rs::rand::fill(&mut r);
                zt_testkit::b64(&r)
            });
            let iat = iat.unwrap_or_else(zt_testkit::now);
            zt_testkit::try_dpop_proof(&key, &alg, &htm, &htu, token.as_deref(), iat, &jti)
                .map(|p| println!("{p}"))
                .map_err(|e| e.to_string())
        }
        Command::Jkt { key } => zt_testkit::try_jkt(&key)
            .map(|j| println!("{j}"))
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zt-testkit: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve_jwks(keys: &[String], issuer: Option<&str>, max: Duration) -> Result<(), String> {
    let names: Vec<&str> = keys.iter().map(String::as_str).collect();
    let jwks = try_jwks(&names).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(async {
        let server = JwksServer::start_for(&jwks, max)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(iss) = issuer {
            server.set_issuer(iss);
        }
        let line = serde_json::json!({
            "url": server.base,
            "issuer": server.issuer(),
            "jwks_uri": server.jwks_uri(),
            "pid": std::process::id(),
        });
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))?;
        drop(out);
        serve_until(&server, max).await;
        drop(server);
        Ok(())
    })
}

/// Serve until `max` has passed, obeying control lines on stdin meanwhile (each answered with
/// one JSON line on stdout): `keys a,b` serves those fixture keys from now on, `status 503`
/// answers every request with that status (`status 200` restores), `delay 1500` delays every
/// answer by that many milliseconds, `hits` reports the request counts. A closed stdin just
/// serves until `max`.
async fn serve_until(server: &JwksServer, max: Duration) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = tokio::time::sleep(max);
    tokio::pin!(deadline);
    let mut stdin_open = true;
    loop {
        tokio::select! {
            () = &mut deadline => return,
            line = rx.recv(), if stdin_open => match line {
                Some(line) => {
                    let reply = control(server, line.trim());
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{reply}").and_then(|()| out.flush());
                }
                None => stdin_open = false,
            },
        }
    }
}

fn control(server: &JwksServer, line: &str) -> serde_json::Value {
    let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
    let done = |r: Result<(), String>| match r {
        Ok(()) => serde_json::json!({"ok": true}),
        Err(e) => serde_json::json!({"ok": false, "error": e}),
    };
    match verb {
        "keys" => {
            let names: Vec<&str> = arg.split(',').map(str::trim).collect();
            done(
                try_jwks(&names)
                    .map(|jwks| server.set_jwks(&jwks))
                    .map_err(|e| e.to_string()),
            )
        }
        "status" => done(
            arg.parse::<u16>()
                .ok()
                .and_then(|c| axum::http::StatusCode::from_u16(c).ok())
                .map(|c| server.set_status(c))
                .ok_or_else(|| format!("not a status: {arg}")),
        ),
        "delay" => done(
            arg.parse::<u64>()
                .map(|ms| server.set_delay(Duration::from_millis(ms)))
                .map_err(|_| format!("not milliseconds: {arg}")),
        ),
        "hits" => serde_json::json!({
            "ok": true,
            "jwks": server.jwks_hits(),
            "discovery": server.discovery_hits(),
        }),
        _ => done(Err(format!("unknown command `{verb}`"))),
    }
}

fn mint(key: &str, alg: &str, claims: &str) -> Result<(), String> {
    let claims: serde_json::Value =
        serde_json::from_str(claims).map_err(|e| format!("`--claims` is not JSON: {e}"))?;
    if !claims.is_object() {
        return Err("`--claims` must be a JSON object".to_owned());
    }
    let token = try_mint(key, alg, &claims).map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(())
}
