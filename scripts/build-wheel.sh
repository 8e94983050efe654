#!/usr/bin/env bash
# The `zt` Python package as users install it: a portable wheel and the sdist, in OUTDIR.
#
# The wheel is manylinux2014 x86_64 (glibc 2.17: RHEL/Rocky 8, Amazon Linux 2, Debian 11,
# Ubuntu 20.04 and everything newer) and abi3 (one wheel for CPython 3.9+). It is linked by
# zig against glibc 2.17's symbols (`maturin --zig`), so this machine's newer glibc does not
# leak into it; maturin's auditwheel check refuses the tag if anything still needs a newer
# symbol. Built with the `release-lto` profile (fat LTO, one codegen unit) and stripped.
#
# Installs what it needs (maturin, zig from PyPI's `ziglang`) into target/wheel-venv; writes
# nothing but the wheel and the sdist into OUTDIR. Cargo's build goes to target/ as usual.
# Usage: scripts/build-wheel.sh OUTDIR
set -euo pipefail
out="${1:?usage: scripts/build-wheel.sh OUTDIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$(dirname "$0")/.."

venv="$PWD/target/wheel-venv"
if ! { [ -x "$venv/bin/maturin" ] && "$venv/bin/python" -c 'import ziglang' 2>/dev/null; }; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.9,<2" "ziglang>=0.13,<0.18"
fi

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
# maturin finds zig through `python -m ziglang` of the interpreter on PATH.
PATH="$venv/bin:$PATH" maturin build --locked --profile release-lto --strip \
  --zig --compatibility manylinux2014 --target x86_64-unknown-linux-gnu \
  -m zt-py/Cargo.toml --out "$staging"
PATH="$venv/bin:$PATH" maturin sdist -m zt-py/Cargo.toml --out "$staging"
mv "$staging"/*.whl "$staging"/*.tar.gz "$out"/
ls -l "$out"
