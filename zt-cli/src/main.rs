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
//! - `zt policy eval BUNDLE --input FILE [--entrypoint E] [--config FILE]` prints the
//!   entrypoint's raw value and zt's reading of it (like `opa eval`); exits 0, or 1 when the
//!   evaluation fails.
//! - `zt policy bench BUNDLE --input FILE [--entrypoint E] [-n N]` prints p50/p95/p99 of the
//!   policy alone (like `opa bench`), with a note when a rule has many definitions.
//! - `zt replay --config FILE --log DECISIONS.jsonl --candidate BUNDLE [--format table|json]
//!   [--max-flips N]` reports the logged decisions the candidate would flip; exits 0 when the
//!   flips are at most `--max-flips` (default 0), 1 otherwise.
//! - `zt report --log PATH... [--since T] [--until T] [--bundle B] [--format json|md|html] [-o FILE]`
//!   reports the KPIs and the least-privilege review of decision logs; exits 0, 1 when a hash
//!   chain is broken.
//!
//! Usage and configuration errors exit 2 with `error: …` on stderr.

mod report;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zt_core::{
    Authorizer, AuthorizerConfig, BundleSigningConfig, CompiledBundle, DecisionLogSink,
    DeviceInput, PolicyConfig, ReplayReport, Request, TokenVerifier, test_bundle,
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
    /// Replay a decision log against a candidate bundle: which decisions would flip.
    Replay(ReplayArgs),
    /// The KPIs and the least-privilege review from decision logs, as JSON or Markdown.
    Report(report::ReportArgs),
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The configuration file: its `[policy]` (entrypoint, limits, tests) loads the candidate,
    /// its `decision_log.mask` names the masked fields, and its `policy.bundle`, when set, is
    /// the baseline the log's records are checked against.
    #[arg(long)]
    config: PathBuf,
    /// The decision log (JSON lines, as the file, hash-chained or stdout sinks write it).
    #[arg(long)]
    log: PathBuf,
    /// The candidate bundle (directory or OPA bundle .tar.gz).
    #[arg(long)]
    candidate: PathBuf,
    /// `table` (default) or `json`.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    /// Exit 1 when more decisions than this flip (default 0).
    #[arg(long, default_value_t = 0)]
    max_flips: u64,
    /// Decision ids shown per group.
    #[arg(long, default_value_t = 3)]
    examples: usize,
    /// Verify the candidate's signature (and the baseline's).
    #[command(flatten)]
    verify: VerifyArgs,
}

/// Verify the bundle's OPA signature (`.signatures.json`), like `opa`'s flags of these names.
/// Overrides the config's `[policy.signing]`.
#[derive(clap::Args, Default)]
struct VerifyArgs {
    /// A PEM public key: the bundle must carry a valid `.signatures.json` signed with it.
    #[arg(long)]
    verification_key: Option<PathBuf>,
    /// The key's id; this key verifies the signature whatever key id it names.
    #[arg(long, default_value = "default", requires = "verification_key")]
    verification_key_id: String,
    /// The signature algorithm (RS256, PS256, ES256, ES384, EdDSA, ...).
    #[arg(long, default_value = "RS256", requires = "verification_key")]
    signing_alg: String,
    /// The scope the signature must carry.
    #[arg(long, requires = "verification_key")]
    scope: Option<String>,
}

impl VerifyArgs {
    fn apply(&self, policy: &mut PolicyConfig) -> Result<(), Usage> {
        let Some(key) = &self.verification_key else {
            return Ok(());
        };
        let alg = self
            .signing_alg
            .parse()
            .map_err(|e: zt_core::UnknownAlgorithm| Usage(format!("--signing-alg: {e}")))?;
        let mut signing = BundleSigningConfig::pem_key(&self.verification_key_id, alg, key);
        // As with `opa`, the named key verifies whatever key id the signature carries.
        signing.keyid = Some(self.verification_key_id.clone());
        signing.scope.clone_from(&self.scope);
        policy.signing = Some(signing);
        Ok(())
    }
}

#[derive(clap::Args)]
struct EvalArgs {
    /// The bundle (directory or OPA bundle .tar.gz).
    bundle: PathBuf,
    /// The input document (JSON file, `-` for standard input).
    #[arg(long)]
    input: String,
    /// The rule to evaluate (default: the config's, else `data.zt.authz.decision`).
    #[arg(long)]
    entrypoint: Option<String>,
    /// Take the entrypoint and the limits from this config's `[policy]`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Evaluate without the rule index (as `policy.indexing = false`), for comparison.
    #[arg(long)]
    no_index: bool,
    #[command(flatten)]
    verify: VerifyArgs,
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
        #[command(flatten)]
        verify: VerifyArgs,
    },
    /// Evaluate the entrypoint on an input document and print its value (like `opa eval`).
    Eval(EvalArgs),
    /// Time the policy alone on an input document (like `opa bench`).
    Bench {
        #[command(flatten)]
        eval: EvalArgs,
        /// Evaluations to time (1..=10000000).
        #[arg(short = 'n', long = "count", default_value_t = 10_000,
              value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        count: u64,
    },
    /// Sign a bundle (directory or .tar.gz) in place like `opa sign`: write its
    /// `.signatures.json` (into the directory, or into the rewritten archive).
    Sign {
        /// The bundle.
        bundle: PathBuf,
        #[command(flatten)]
        key: SigningArgs,
    },
    /// Build an OPA bundle archive from a directory, like `opa build -b`.
    Build {
        /// The bundle directory.
        dir: PathBuf,
        /// Where to write the archive.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// The manifest's revision.
        #[arg(long)]
        revision: Option<String>,
        #[command(flatten)]
        key: OptionalSigningArgs,
    },
}

/// `zt policy sign`'s key.
#[derive(clap::Args)]
struct SigningArgs {
    /// The signing key: a PEM private key file, or for HS256/HS384/HS512 a file holding the
    /// secret.
    #[arg(long)]
    signing_key: PathBuf,
    /// The signature algorithm (RS256, PS256, ES256, ES384, EdDSA, HS256, ...).
    #[arg(long, default_value = "RS256")]
    signing_alg: String,
    /// The key id written to the signature's `kid` header.
    #[arg(long)]
    key_id: Option<String>,
    /// The scope written to the signature's payload.
    #[arg(long)]
    scope: Option<String>,
}

/// `zt policy build`'s optional key (signs the archive when given).
#[derive(clap::Args)]
struct OptionalSigningArgs {
    /// Sign the archive with this key (a PEM private key file, or an HMAC secret's file).
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// The signature algorithm.
    #[arg(long, default_value = "RS256", requires = "signing_key")]
    signing_alg: String,
    /// The key id written to the signature's `kid` header.
    #[arg(long, requires = "signing_key")]
    key_id: Option<String>,
    /// The scope written to the signature's payload.
    #[arg(long, requires = "signing_key")]
    scope: Option<String>,
}

impl SigningArgs {
    fn signer(&self) -> Result<zt_core::BundleSigner, Usage> {
        let alg = self
            .signing_alg
            .parse()
            .map_err(|e: zt_core::UnknownAlgorithm| Usage(format!("--signing-alg: {e}")))?;
        let key = std::fs::read(&self.signing_key).map_err(|e| {
            Usage(format!(
                "cannot read `{}`: {}",
                self.signing_key.display(),
                e.kind()
            ))
        })?;
        Ok(zt_core::BundleSigner::new(
            alg,
            &key,
            self.key_id.clone(),
            self.scope.clone(),
        )?)
    }
}

/// A usage or configuration error: exit 2.
pub(crate) struct Usage(pub(crate) String);

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
                    verify,
                },
        } => policy_test(&bundle, entrypoint, config.as_deref(), &verify),
        Command::Policy {
            command: PolicyCommand::Eval(args),
        } => policy_eval(&args),
        Command::Policy {
            command: PolicyCommand::Bench { eval, count },
        } => policy_bench(&eval, count),
        Command::Policy {
            command: PolicyCommand::Sign { bundle, key },
        } => policy_sign(&bundle, &key),
        Command::Policy {
            command:
                PolicyCommand::Build {
                    dir,
                    output,
                    revision,
                    key,
                },
        } => policy_build(&dir, &output, revision.as_deref(), &key),
        Command::Replay(args) => replay(&args),
        Command::Report(args) => report::run(&args),
    };
    result.unwrap_or_else(|Usage(message)| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    })
}

fn policy_sign(bundle: &Path, key: &SigningArgs) -> Result<ExitCode, Usage> {
    let signer = key.signer()?;
    zt_core::sign_bundle_at(bundle, &PolicyConfig::default(), &signer)?;
    println!("signed {}", bundle.display());
    Ok(ExitCode::SUCCESS)
}

fn policy_build(
    dir: &Path,
    output: &Path,
    revision: Option<&str>,
    key: &OptionalSigningArgs,
) -> Result<ExitCode, Usage> {
    let signer = match &key.signing_key {
        Some(k) => Some(
            SigningArgs {
                signing_key: k.clone(),
                signing_alg: key.signing_alg.clone(),
                key_id: key.key_id.clone(),
                scope: key.scope.clone(),
            }
            .signer()?,
        ),
        None => None,
    };
    let bytes = zt_core::build_bundle(dir, &PolicyConfig::default(), revision, signer.as_ref())?;
    std::fs::write(output, &bytes)
        .map_err(|e| Usage(format!("cannot write `{}`: {}", output.display(), e.kind())))?;
    println!(
        "wrote {} ({} bytes{})",
        output.display(),
        bytes.len(),
        if signer.is_some() { ", signed" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
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
    // Opaque tokens (with `introspection`) are looked up: one bounded call.
    Ok(match verifier.verify_blocking(&token) {
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
    // One bounded key fetch or introspection call at most.
    let decision = authz.authorize_blocking(&request);
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
    verify: &VerifyArgs,
) -> Result<ExitCode, Usage> {
    let mut policy = match config {
        Some(path) => AuthorizerConfig::from_path(path)?.policy,
        None => PolicyConfig::default(),
    };
    verify.apply(&mut policy)?;
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
    let indexed = results.iter().filter(|t| t.indexed).count();
    if indexed > 0 {
        println!(
            "{indexed} of {} ran with the rule index (their inputs are written out)",
            results.len()
        );
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The bundle (compiled, tests not run) and the input document of `policy eval` / `bench`.
fn load_for_eval(a: &EvalArgs) -> Result<(std::sync::Arc<CompiledBundle>, Value), Usage> {
    let mut policy = match &a.config {
        Some(path) => AuthorizerConfig::from_path(path)?.policy,
        None => PolicyConfig::default(),
    };
    if let Some(e) = &a.entrypoint {
        policy.entrypoint.clone_from(e);
    }
    a.verify.apply(&mut policy)?;
    policy.run_tests_on_load = false;
    if a.no_index {
        policy.indexing = false;
    }
    let bundle = CompiledBundle::load(&a.bundle, &policy)?;
    let text = if a.input == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(16 << 20)
            .read_to_string(&mut s)
            .map_err(|e| Usage(format!("cannot read the input from standard input: {e}")))?;
        s
    } else {
        std::fs::read_to_string(&a.input)
            .map_err(|e| Usage(format!("cannot read `{}`: {}", a.input, e.kind())))?
    };
    let input: Value = serde_json::from_str(&text)
        .map_err(|e| Usage(format!("`{}` is not JSON: {e}", a.input)))?;
    Ok((bundle, input))
}

fn policy_eval(a: &EvalArgs) -> Result<ExitCode, Usage> {
    let (bundle, input) = load_for_eval(a)?;
    let raw = bundle.eval_json(&input);
    let read = bundle.evaluate_json(&input);
    let failed = raw.is_err();
    let decision = match read {
        Ok(out) => serde_json::to_value(out).unwrap_or(Value::Null),
        Err(f) => json!({"error": f.reason().as_str(), "message": f.to_string()}),
    };
    let (value, error) = match raw {
        Ok(v) => (v, None),
        Err(e) => (None, Some(e)),
    };
    print_json(&json!({
        "revision": bundle.revision(),
        "undefined": value.is_none() && error.is_none(),
        "value": value,
        "error": error,
        "decision": decision,
    }));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn policy_bench(a: &EvalArgs, count: u64) -> Result<ExitCode, Usage> {
    let (bundle, input) = load_for_eval(a)?;
    let b = bundle
        .bench(&input, count)
        .map_err(|e| Usage(format!("the policy fails on this input: {e}")))?;
    let us = |ns: u64| ns as f64 / 1000.0;
    println!(
        "revision {} · {} evaluations",
        bundle.revision(),
        b.iterations
    );
    println!(
        "p50 {:.2} µs · p95 {:.2} µs · p99 {:.2} µs · max {:.2} µs · mean {:.2} µs",
        us(b.p50_ns),
        us(b.p95_ns),
        us(b.p99_ns),
        us(b.max_ns),
        us(b.mean_ns)
    );
    print_index(&bundle, &input);
    Ok(ExitCode::SUCCESS)
}

/// The index's part of `zt policy bench`: on which references, how much of each indexed rule
/// this input evaluates; without an index, why not, and the note on long rules.
fn print_index(bundle: &CompiledBundle, input: &Value) {
    let index = bundle.index();
    if index.indexed {
        println!(
            "index: on {} · {} programs, {} trie nodes, built in {} ms, ~{} KiB",
            index.refs.join(", "),
            index.programs,
            index.nodes,
            index.build_ms,
            index.program_bytes / 1024
        );
        if let Some((evaluated, total)) = bundle.indexed_definitions(input) {
            let rules: Vec<String> = index
                .rules
                .iter()
                .map(|r| format!("`{}` ({} definitions)", r.path, r.definitions))
                .collect();
            println!(
                "this input evaluates {evaluated} of the {total} indexed definitions of {}",
                rules.join(", ")
            );
        }
        return;
    }
    if let Some(reason) = &index.reason {
        println!("index: off ({reason})");
    }
    if let Some((rule, n)) = bundle.rule_definitions().first()
        && *n >= 20
    {
        println!(
            "note: rule `{rule}` has {n} definitions and is not indexed: each is evaluated in \
             turn on every decision, so this policy's cost grows with them. Write its \
             definitions with literal conditions on `input` (docs/policies.md, \"Route tables\") \
             or look the route up in data (`data.routes[input.request.path]`)."
        );
    }
}

fn replay(a: &ReplayArgs) -> Result<ExitCode, Usage> {
    let mut config = AuthorizerConfig::from_path(&a.config)?;
    a.verify.apply(&mut config.policy)?;
    let report = zt_core::replay_file(&config, &a.log, &a.candidate, a.examples)?;
    if let Some(e) = &report.baseline_error {
        eprintln!("warning: no baseline check: the config's bundle does not load: {e}");
    }
    // A gate that saw nothing vouches for nothing: an unreadable, empty or rotated log is an
    // input error, not "0 flips".
    if let Some(e) = &report.read_error {
        return Err(Usage(format!(
            "cannot read `{}` to the end ({e})",
            a.log.display()
        )));
    }
    if report.records == 0 {
        return Err(Usage(format!(
            "`{}` holds no decision records ({} damaged lines)",
            a.log.display(),
            report.damaged_count
        )));
    }
    if a.format == "json" {
        print_json(&serde_json::to_value(&report).unwrap_or(Value::Null));
    } else {
        print_replay_table(&report);
    }
    for d in &report.damaged {
        eprintln!("warning: line {} skipped: {}", d.line, d.error);
    }
    Ok(if report.flips <= a.max_flips {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_replay_table(r: &ReplayReport) {
    println!(
        "candidate {} · {} records: {} replayed, {} decided before the policy, {} events, {} damaged lines · {} records/s",
        r.candidate_revision,
        r.records,
        r.replayed,
        r.not_evaluated,
        r.events,
        r.damaged_count,
        r.records_per_second()
    );
    let kinds: Vec<String> = r.by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    if r.flips == 0 {
        println!("flips: 0");
    } else {
        println!("flips: {} ({})", r.flips, kinds.join(", "));
    }
    for (dim, groups) in &r.groups {
        println!("\nby {dim}");
        println!("  {:<16} {:>7}  {:<32} examples", "flip", "count", dim);
        for g in groups.iter().take(20) {
            println!(
                "  {:<16} {:>7}  {:<32} {}",
                g.kind,
                g.count,
                g.key,
                g.examples.join(", ")
            );
        }
    }
    let omitted: Vec<String> = r
        .groups
        .iter()
        .map(|(dim, g)| {
            let more =
                g.len().saturating_sub(20) as u64 + r.groups_omitted.get(dim).copied().unwrap_or(0);
            (dim, more)
        })
        .filter(|(_, n)| *n > 0)
        .map(|(dim, n)| format!("{n} more by {dim}"))
        .collect();
    if !omitted.is_empty() {
        println!(
            "\n({}; --format json shows up to 100 per dimension)",
            omitted.join(", ")
        );
    }
    if r.masked_reads.records > 0 {
        let fields: Vec<String> = r
            .masked_reads
            .fields
            .iter()
            .map(|(f, n)| format!("{f} ({n})"))
            .collect();
        println!(
            "\nmasked fields the candidate reads: {} in {} records; their replayed results may differ from the real values'",
            fields.join(", "),
            r.masked_reads.records
        );
    }
    if let Some(b) = &r.baseline {
        println!(
            "baseline {}: {} records checked, {} do not reproduce{}",
            b.revision,
            b.checked,
            b.mismatches,
            if b.examples.is_empty() {
                String::new()
            } else {
                format!(" ({})", b.examples.join(", "))
            }
        );
    }
}
