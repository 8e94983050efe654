"""Binding parity: every call of the Rust `zt_core::Authorizer` exists on `zt.Authorizer`.

The Rust surface is read from the source (every `pub fn` / `pub async fn` inside an
`impl Authorizer` block of zt-core/src/authorizer.rs or zt-core/src/authorizer/*.rs), so a call
added to zt-core fails this test until Python binds it, or until it gets an entry with a reason
in EXCEPTIONS below. tests/test_authorizer.py keeps the stubs in step with the module.
"""

import pathlib
import re

import zt
from conftest import ROOT

# Rust calls that Python carries under another shape, and the Python methods that carry each.
# An empty tuple means the call is deliberately not bound; the comment says why.
EXCEPTIONS = {
    # Construction: Python builds from the one config schema (a file, TOML text or a dict);
    # the builder's options (in-memory policy files, the log callback) are keyword arguments
    # of each constructor, and `clock`/`policy_store` take Rust values no binding can make.
    "new": ("from_file", "from_toml", "from_dict"),
    "builder": ("from_file", "from_toml", "from_dict"),
    # DESIGN "The decision path": Python's plain call is the synchronous, cached-keys one (the
    # GIL is kept for microseconds); `authorize_http` is the same call after zt-core's own
    # extraction of an HTTP request.
    "authorize_sync": ("authorize", "authorize_http"),
    # The awaitable that may wait for one bounded key refetch: Python's coroutines.
    "authorize": ("authorize_async", "authorize_http_async"),
    # Blocks the calling thread on a key fetch, for one-shot tools (the CLI's `zt decide`).
    # Python has `authorize_async` for the refetch (off the event loop, GIL released);
    # blocking a Python thread inside a call is what the binding avoids.
    "authorize_blocking": (),
    # Whether `authorize_sync` may wait (a DPoP proof with `[dpop.replay_store]`): the binding
    # asks it itself, to release the GIL for those calls; nothing for a caller to decide.
    "may_block": (),
    # Returns the `TokenVerifier` by reference (a Rust handle); its one operator use,
    # verifying a token alone, is `verify`.
    "verifier": ("verify",),
    # Returns `&Arc<PolicyStore>` (a Rust handle); its operator calls are flattened onto the
    # Authorizer, one zt-core call each.
    "policy": ("reload", "rollback", "revisions", "set_shadow", "promote_shadow", "rollout_abort", "rollout_promote"),
    # Python names it like its other closable resources (`close()`, a context manager); it
    # returns the same shutdown report.
    "shutdown": ("close",),
    # Middleware plumbing for Rust callers that build a `Request` themselves (which headers to
    # copy). `authorize_http` leaves that extraction to zt-core, so Python needs neither.
    "request_headers": (),
    "posture_header": (),
    # Feeds the `WWW-Authenticate: DPoP algs=...` challenge, which zt-core already puts in the
    # decision's HTTP answer (`Decision.http_answer`, `www_authenticate`).
    "dpop_algorithms": (),
}

IMPL = re.compile(r"impl(?:<[^>]*>)? (?:[\w:]+::)?Authorizer \{")
PUB_FN = re.compile(r"    pub (?:const )?(?:async )?(?:unsafe )?fn (\w+)")


def rust_authorizer_calls(src: pathlib.Path = ROOT / "zt-core" / "src") -> set:
    """Public methods of `impl Authorizer` blocks. The source is rustfmt-formatted (CI checks it):
    an impl block opens at column 0 and closes with a `}` line, its items sit at 4 spaces."""
    files = [src / "authorizer.rs", *sorted((src / "authorizer").glob("**/*.rs"))]
    files = [f for f in files if f.is_file()]
    assert files, f"no authorizer source under {src}"
    names = set()
    for f in files:
        inside = False
        for line in f.read_text().splitlines():
            if IMPL.match(line):
                inside = True
            elif inside and line == "}":
                inside = False
            elif inside and (m := PUB_FN.match(line)):
                names.add(m[1])
    return names


def python_calls() -> set:
    return {n for n in dir(zt.Authorizer) if not n.startswith("_")}


def test_the_rust_surface_is_read():
    rust = rust_authorizer_calls()
    # Calls that exist today: if the parser stops finding them, it is broken, not the binding.
    assert {"authorize_sync", "revoke_subject", "unrevoke_token_id", "set_mode", "status"} <= rust, rust


def test_every_exception_names_a_rust_call():
    stale = set(EXCEPTIONS) - rust_authorizer_calls()
    assert not stale, f"EXCEPTIONS names calls zt-core no longer has: {sorted(stale)}"


def test_every_rust_authorizer_call_is_bound_in_python():
    py = python_calls()
    missing = []
    for name in sorted(rust_authorizer_calls()):
        for bound in EXCEPTIONS.get(name, (name,)):
            if bound not in py:
                missing.append(f"{name} -> zt.Authorizer.{bound}")
    assert not missing, (
        "zt-core's Authorizer calls without a Python binding (bind them in zt-py/src/authorizer.rs "
        f"and _zt.pyi, or add an entry with its reason to EXCEPTIONS): {missing}"
    )


def test_every_python_call_stands_for_a_rust_call():
    rust = rust_authorizer_calls()
    accounted = (rust - set(EXCEPTIONS)) | {p for ps in EXCEPTIONS.values() for p in ps}
    extra = python_calls() - accounted
    assert not extra, f"zt.Authorizer methods with no zt-core Authorizer call behind them: {sorted(extra)}"
