#!/usr/bin/env bash
# The one test command (README "Test"): formatting, lints, and every test in the workspace.
# Installs nothing beyond the Rust toolchain already on the machine; crates come from crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test (unit, integration, doc)"
cargo test --workspace --locked

echo "== benches compile"
cargo bench --workspace --locked --no-run
