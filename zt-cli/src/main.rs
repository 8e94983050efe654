//! `zt`: the command line over zt-core (thin: parse arguments, one zt-core call, print).
//!
//! - `zt token verify --config FILE [TOKEN | -]` prints the verified claims as JSON and exits 0;
//!   a rejected token prints `{"error": "<reason_code>", "message": "…"}` and exits 1.
//! - `zt decide --config FILE --token T --method M --path P [--device-json JSON] [--header K:V]…`
//!   prints the decision as JSON; exits 0 when allowed, 1 when denied or step-up.
//! - `zt policy test BUNDLE [--entrypoint E] [--config FILE]` runs every Rego `test_` rule of
//!   the bundle, whatever its packages, like `opa test`, prints each result and
//!   `N passed, N failed`; exits 0 when all pass, 1 when any fails, 2 when the bundle does not
//!   load or compile (or the entrypoint, when one is given or named by the config, is missing).
//!
//! Usage and configuration errors exit 2 with `error: …` on stderr.

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zt_core::{
    Authorizer, AuthorizerConfig, DecisionLogSink, DeviceInput, PolicyConfig, Request,
    TokenVerifier, test_bundle,
};

#[derive(Parser)]
#[command(
    name = "zt",
    version,
    about = "zero-trust authorization: tokens, posture, policy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Decide one request with the configured issuers, posture and policy.
    ///
    /// Decision-log records go to the configured sink, except `stdout`, which is turned off so
    /// that standard output holds only the decision.
    Decide(DecideArgs),
    /// Policy bundle tooling.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Verify a token against the configured issuers; print its claims as JSON.
    Verify {
        /// The configuration file (.toml, .yaml, .yml or .json).
        #[arg(long)]
        config: PathBuf,
        /// The token, or `-` (the default) to read it from standard input.
        token: Option<String>,
    },
}

#[derive(clap::Args)]
struct DecideArgs {
    /// The configuration file (.toml, .yaml, .yml or .json).
    #[arg(long)]
    config: PathBuf,
    /// The bearer token (`-` reads it from standard input).
    #[arg(long)]
    token: Option<String>,
    /// The request method.
    #[arg(long)]
    method: String,
    /// The request path.
    #[arg(long)]
    path: String,
    /// Device posture as a JSON object shaped like `input.device`; `assessed_at` defaults to now.
    #[arg(long)]
    device_json: Option<String>,
    /// A request header `NAME:VALUE` (repeatable); only headers named in `[request] headers`
    /// reach the policy.
    #[arg(long = "header", value_name = "NAME:VALUE")]
    headers: Vec<String>,
    /// The `Host` of the request.
    #[arg(long)]
    host: Option<String>,
    /// The peer address.
    #[arg(long)]
    source_ip: Option<String>,
    /// Resource attributes as a JSON object (`input.resource`).
    #[arg(long)]
    resource_json: Option<String>,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Run every `test_` rule of the bundle (directory or OPA bundle .tar.gz), whatever its
    /// packages, like `opa test`.
    Test {
        /// The bundle.
        bundle: PathBuf,
        /// Also require this entrypoint to exist and compile (default: none, or the config's).
        #[arg(long)]
        entrypoint: Option<String>,
        /// Take the entrypoint and the bundle size limits from this config's `[policy]`.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// A usage or configuration error: exit 2.
struct Usage(String);

impl<E: std::fmt::Display> From<E> for Usage {
    fn from(e: E) -> Self {
        Usage(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Token {
            command: TokenCommand::Verify { config, token },
        } => token_verify(&config, token),
        Command::Decide(args) => decide(args),
        Command::Policy {
            command:
                PolicyCommand::Test {
                    bundle,
                    entrypoint,
                    config,
                },
        } => policy_test(&bundle, entrypoint, config.as_deref()),
    };
    result.unwrap_or_else(|Usage(message)| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    })
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".to_owned())
    );
}

fn read_token(arg: Option<String>) -> Result<String, Usage> {
    match arg.as_deref() {
        None | Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .take(1 << 20)
                .read_to_string(&mut s)
                .map_err(|e| Usage(format!("cannot read the token from standard input: {e}")))?;
            Ok(s.trim().to_owned())
        }
        Some(t) => Ok(t.to_owned()),
    }
}

fn token_verify(config: &Path, token: Option<String>) -> Result<ExitCode, Usage> {
    let config = AuthorizerConfig::from_path(config)?;
    let verifier = TokenVerifier::new(&config)?;
    let token = read_token(token)?;
    // Remote key sets: wait for the first fetch; a failure shows as `jwks_unavailable`.
    let _ = verifier.ready_blocking();
    Ok(match verifier.verify(&token) {
        Ok(claims) => {
            print_json(&Value::Object(claims.claims().clone()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_json(&json!({"error": e.reason().as_str(), "message": e.to_string()}));
            ExitCode::from(1)
        }
    })
}

fn decide(a: DecideArgs) -> Result<ExitCode, Usage> {
    let mut config = AuthorizerConfig::from_path(&a.config)?;
    if config.decision_log.sink == DecisionLogSink::Stdout {
        config.decision_log.sink = DecisionLogSink::None;
    }
    let mut request = Request::new(a.method, a.path);
    if let Some(t) = a.token {
        request = request.bearer(read_token(Some(t))?);
    }
    for h in a.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| Usage(format!("`--header {h}` is not NAME:VALUE")))?;
        request = request.header(k.trim(), v.trim());
    }
    if let Some(h) = a.host {
        request = request.host(h);
    }
    if let Some(ip) = a.source_ip {
        request = request.source_ip(ip);
    }
    if let Some(d) = a.device_json {
        let v: Value = serde_json::from_str(&d)
            .map_err(|e| Usage(format!("`--device-json` is not JSON: {e}")))?;
        let mut device = DeviceInput::from_json(&v).ok_or_else(|| {
            Usage("`--device-json` is not a posture object shaped like input.device".to_owned())
        })?;
        if device.assessed_at == 0 {
            device.assessed_at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
        }
        request = request.device(device);
    }
    if let Some(r) = a.resource_json {
        match serde_json::from_str(&r) {
            Ok(Value::Object(m)) => request = request.resource(m),
            _ => return Err(Usage("`--resource-json` must be a JSON object".to_owned())),
        }
    }
    let authz = Authorizer::new(config)?;
    let _ = authz.verifier().ready_blocking();
    let decision = authz.authorize_sync(&request);
    authz.flush();
    print_json(&decision.to_json());
    Ok(if decision.is_allowed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn policy_test(
    bundle: &Path,
    entrypoint: Option<String>,
    config: Option<&Path>,
) -> Result<ExitCode, Usage> {
    let policy = match config {
        Some(path) => AuthorizerConfig::from_path(path)?.policy,
        None => PolicyConfig::default(),
    };
    let entrypoint = entrypoint.or_else(|| config.map(|_| policy.entrypoint.clone()));
    let results = test_bundle(bundle, &policy, entrypoint.as_deref())?;
    let mut failed = 0usize;
    for t in &results {
        match (&t.passed, &t.error) {
            (true, _) => println!("PASS {}", t.name),
            (false, Some(err)) => {
                failed += 1;
                println!("ERROR {} ({err})", t.name);
            }
            (false, None) => {
                failed += 1;
                println!("FAIL {}", t.name);
            }
        }
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
