#!/usr/bin/env bash
# The one test command (README "Test"): formatting, lints, and every test in the workspace.
# Runs on x86_64 Linux with glibc (the platform the wheel and the npm tarball are built for).
# Installs: crates from crates.io (through cargo) and, for zt-tower's end-to-end test with a
# real OpenID provider, the npm package oidc-provider into zt-tower/tests/idp/node_modules
# (needs Node.js 20+ and npm; without them that test fails loudly unless ZT_SKIP_NODE_E2E=1),
# the portable Python wheel and sdist (scripts/build-wheel.sh: maturin and zig from PyPI into
# target/wheel-venv), installed into a fresh venv with no toolchain on PATH for a smoke test and
# into a Python venv in target/py-venv (needs python3 with venv; installs from PyPI what
# zt-py/tests/requirements.txt lists: pytest, hypothesis, httpx, FastAPI, uvicorn,
# Flask, waitress, cryptography) where pytest runs against it (real uvicorn and waitress servers
# on 127.0.0.1),
# zt-node's npm devDependencies (@napi-rs/cli, express, fastify, typescript) into
# zt-node/node_modules, where the addon is tested with `node --test` (real Express and Fastify
# servers, a packed tarball installed into a fresh project and loaded with no toolchain on PATH),
# the crates' `cargo publish --dry-run` and `cargo install --path zt-cli` (into target/install),
# and cargo-fuzz (cargo install) to build the fuzz targets and run each for ZT_FUZZ_SECS
# seconds (default 30; 0 skips fuzzing).
# Where `redis-server` is missing, Debian's package redis-server (apt-get, as root or with sudo)
# for the shared DPoP replay store's tests: each test starts its own server on 127.0.0.1 and
# stops it by its pid (the package's own service is stopped and disabled). Where Chromium is
# missing, Debian's package chromium, for the headless-browser test of `zt report --format html`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# On CI every build is a clean one: incremental data would only fill the disk, and full debug info
# in the test binaries roughly doubles the target dir (a CI run once died of "No space left on
# device"). Line tables keep file:line in panics and backtraces.
if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL=0
  export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
  export CARGO_PROFILE_TEST_DEBUG="${CARGO_PROFILE_TEST_DEBUG:-line-tables-only}"
fi
echo "== disk: $(df -h . | awk 'NR==2 {print $4 " free of " $2}')"

echo "== npm install (oidc-provider for the end-to-end test)"
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  npm install --prefix zt-tower/tests/idp --no-audit --no-fund --loglevel=error
else
  echo "!!! Node.js/npm not found: zt-tower's oidc-provider end-to-end test will FAIL." >&2
  echo "!!! Install Node.js 20+ with npm, or set ZT_SKIP_NODE_E2E=1 to skip it knowingly." >&2
fi

echo "== redis-server (the shared DPoP replay store's tests)"
if ! command -v redis-server >/dev/null 2>&1; then
  sudo_cmd=""
  [ "$(id -u)" = "0" ] || sudo_cmd="sudo"
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null ||
    { $sudo_cmd apt-get update -q >/dev/null && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null; }
  # Tests start their own servers; the package's service is not needed.
  if command -v systemctl >/dev/null 2>&1; then $sudo_cmd systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
  if command -v service >/dev/null 2>&1; then $sudo_cmd service redis-server stop >/dev/null 2>&1 || true; fi
fi
redis-server --version

echo "== chromium (the headless-browser test of the HTML report)"
if ! command -v chromium >/dev/null 2>&1 && [ -z "${ZT_CHROMIUM:-}" ]; then
  sudo_cmd=""
  [ "$(id -u)" = "0" ] || sudo_cmd="sudo"
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null ||
    { $sudo_cmd apt-get update -q >/dev/null && $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
fi
"${ZT_CHROMIUM:-chromium}" --version

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== docs: relative links"
python3 scripts/check-links.py

echo "== layout: imports run one way (zt-core, zt-tower)"
python3 scripts/check-layers.py

echo "== one version (Cargo, crates' path dependencies, package.json, CHANGELOG)"
python3 scripts/version.py check

echo "== cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test (unit, integration, doc)"
cargo test --workspace --locked

# PATH without the directories that hold cargo or rustc: a user's machine with no toolchain.
no_toolchain_path() {
  local d out=""
  IFS=: read -ra dirs <<<"$PATH"
  for d in "${dirs[@]}"; do
    [ -n "$d" ] && [ ! -e "$d/cargo" ] && [ ! -e "$d/rustc" ] && out="$out${out:+:}$d"
  done
  printf '%s' "$out"
}
version="$(python3 scripts/version.py show)"

echo "== Python: the portable wheel (scripts/build-wheel.sh), a fresh venv without a toolchain, pytest on the wheel"
rm -rf target/dist
./scripts/build-wheel.sh target/dist
wheels=(target/dist/zt-"$version"-cp39-abi3-*.whl)
[ "${#wheels[@]}" = 1 ] && [ -f "${wheels[0]}" ] || { echo "expected one wheel in target/dist: ${wheels[*]}" >&2; exit 1; }
wheel="${wheels[0]}"
python3 - "$wheel" <<'PY' || { echo "the wheel is not tagged manylinux2014 x86_64 abi3" >&2; exit 1; }
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/WHEEL"))
    tags = [l.split(": ", 1)[1] for l in z.read(meta).decode().splitlines() if l.startswith("Tag: ")]
sys.exit(0 if "cp39-abi3-manylinux2014_x86_64" in tags else 1)
PY
grep -qx "zt-$version/zt-core/src/lib.rs" <(tar -tzf "target/dist/zt-$version.tar.gz") ||
  { echo "the sdist lacks zt-core's sources" >&2; exit 1; }
rm -rf target/wheel-smoke
python3 -m venv target/wheel-smoke
target/wheel-smoke/bin/pip install --quiet --disable-pip-version-check --no-index "$wheel"
env PATH="$(no_toolchain_path)" target/wheel-smoke/bin/python zt-py/tests/installed/smoke.py "$version"
python3 -m venv target/py-venv
target/py-venv/bin/pip install --quiet --disable-pip-version-check -r zt-py/tests/requirements.txt
target/py-venv/bin/pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$wheel"
cargo build --locked -p zt-testkit
ZT_TESTKIT="$PWD/target/debug/zt-testkit" target/py-venv/bin/python -m pytest -q zt-py/tests
# The wheel's own build tree (zig-linked, its own target triple) is not used again: on CI, free
# its disk for the stages after (a CI run once died of a full disk).
if [ "${CI:-}" = "true" ]; then rm -rf target/x86_64-unknown-linux-gnu; fi

echo "== benches compile"
cargo bench --workspace --locked --no-run

echo "== Node: the zt-node addon (release, sharing the benches' build), npm install, node --test"
cargo build --release --locked -p zt-node
node_triple="$(node -p "process.platform + '-' + process.arch + (process.platform === 'linux' ? (process.report.getReport().header.glibcVersionRuntime ? '-gnu' : '-musl') : '')")"
case "$(uname -s)" in Darwin) lib=libzt_node.dylib ;; *) lib=libzt_node.so ;; esac
cp "target/release/$lib" "zt-node/zt.$node_triple.node"
npm install --prefix zt-node --no-audit --no-fund --loglevel=error
(cd zt-node && ZT_TESTKIT="$PWD/../target/debug/zt-testkit" node --test --test-concurrency=1 test/*.test.js)

echo "== crates: cargo publish --dry-run (zt-core, zt-tower, zt-cli), cargo install --path zt-cli"
# `publish --workspace` verifies each crate against the others through a temporary local
# registry whose crates cargo unpacks under $CARGO_HOME/registry/src/-<hash of its path>/ and
# never unpacks again for the same version (cargo 1.90): a second run from the same checkout
# path would verify zt-cli against the zt-core of the first. Remove those copies of zt's own
# crates first (only from local registries, whose directories start with `-`).
for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/; do
  [ -d "$d" ] && rm -rf "$d"zt-core-* "$d"zt-tower-* "$d"zt-cli-*
done
cargo publish --dry-run --locked --allow-dirty --workspace \
  --exclude zt-py --exclude zt-node --exclude zt-testkit --exclude zt-benches
cargo install --locked --force --quiet --path zt-cli --root target/install --target-dir target
zt_version="$(env PATH="$(no_toolchain_path)" target/install/bin/zt --version)"
[ "$zt_version" = "zt $version" ] || { echo "cargo install gave '$zt_version', not 'zt $version'" >&2; exit 1; }
env PATH="$(no_toolchain_path)" target/install/bin/zt policy test examples/policies

fuzz_secs="${ZT_FUZZ_SECS:-30}"
if [ "$fuzz_secs" != "0" ]; then
  echo "== fuzz targets build, ${fuzz_secs}s each"
  command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet
  ./scripts/fuzz.sh "$fuzz_secs" 2
fi

echo "== done: target/ holds $(du -sh target 2>/dev/null | cut -f1), fuzz/target $(du -sh fuzz/target 2>/dev/null | cut -f1); disk $(df -h . | awk 'NR==2 {print $4}') free"
