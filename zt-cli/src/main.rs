//! `zt`: the command line over zt-core (thin: parse arguments, one zt-core call, print).
//!
//! - `zt policy test DIR` runs a bundle's Rego `test_` rules like `opa test`, prints each
//!   result and `N passed, N failed`; exits 0 when all pass, 1 when any fails, 2 when the
//!   bundle cannot be loaded or compiled, or on usage errors.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use zt_core::{PolicyStoreOptions, test_bundle};

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
    /// Policy bundle tooling.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Run the bundle's `test_` rules (directory or OPA bundle .tar.gz).
    Test {
        /// The bundle.
        bundle: PathBuf,
        /// The entrypoint that must compile.
        #[arg(long, default_value = "data.zt.authz.decision")]
        entrypoint: String,
    },
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
    match cli.command {
        Command::Policy {
            command: PolicyCommand::Test { bundle, entrypoint },
        } => policy_test(&bundle, entrypoint),
    }
}

fn policy_test(bundle: &std::path::Path, entrypoint: String) -> ExitCode {
    let opts = PolicyStoreOptions {
        entrypoint,
        ..PolicyStoreOptions::default()
    };
    match test_bundle(bundle, &opts) {
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Ok(results) => {
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
            if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}
