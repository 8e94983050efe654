'use strict'
// Binding parity: every call of the Rust `zt_core::Authorizer` exists on Node's `Authorizer`, in
// camelCase: on the exported class (lib/index.js), on the native class it forwards to
// (index.js, napi-rs), and declared in lib/index.d.ts. The Rust surface is read from the source
// (every `pub fn` / `pub async fn` inside an `impl Authorizer` block of
// zt-core/src/authorizer.rs or zt-core/src/authorizer/*.rs), so a call added to zt-core fails
// this test until Node binds it, or until it gets an entry with a reason in EXCEPTIONS below.
// api.test.js keeps index.d.ts in step with the native module.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const zt = require('..')
const native = require('../index.js')

const ROOT = path.join(__dirname, '..', '..')

// Rust calls that Node carries under another shape: the methods of the exported class
// (`wrapper`) and of the native class (`native`, when they differ) that carry each.
// An empty list means the call is deliberately not bound; the comment says why.
// `load*` build on libuv's thread pool (promises), `from*` on the calling thread. Natively the
// promises are module functions (`loadFile`, `loadToml`, `loadConfig`), not class methods.
const FACTORIES = ['load', 'loadToml', 'loadConfig', 'fromFile', 'fromToml', 'fromConfig']
const NATIVE_FACTORIES = ['fromFile', 'fromToml', 'fromConfig']
const EXCEPTIONS = {
  // Construction: Node builds from the one config schema (a file, TOML text or an object); the
  // builder's options (in-memory policy files, the log callback) are the `options` argument,
  // and `clock`/`policyStore` take Rust values no binding can make.
  new: { wrapper: FACTORIES, native: NATIVE_FACTORIES },
  builder: { wrapper: FACTORIES, native: NATIVE_FACTORIES },
  // DESIGN "The decision path": the synchronous, cached-keys call is `authorizeSync` (and
  // `authorizeHttpSync`, the same call after zt-core's own extraction of an HTTP request).
  authorize_sync: { wrapper: ['authorizeSync', 'authorizeHttpSync'] },
  // The call that may await one bounded key refetch: a promise in JavaScript. Natively it is
  // begun (`*Begin`: the decision at once with cached keys, else a PendingDecision finished on
  // libuv's pool) and lib/index.js turns that into the promise.
  authorize: { wrapper: ['authorize', 'authorizeHttp'], native: ['authorizeBegin', 'authorizeHttpBegin'] },
  // Blocks the calling thread on a key fetch, for one-shot tools (the CLI's `zt decide`).
  // Blocking the JS thread is what Node must never do; `authorize` covers the refetch.
  authorize_blocking: { wrapper: [] },
  // Whether `authorize_sync` may wait (a DPoP proof with `[dpop.replay_store]`). Node's
  // middleware needs no flag: `authorize` returns a promise exactly when the core waits.
  may_block: { wrapper: [] },
  // Returns the `TokenVerifier` by reference (a Rust handle); its one operator use, verifying a
  // token alone, is `verifySync`.
  verifier: { wrapper: ['verifySync'] },
  // Returns `&Arc<PolicyStore>` (a Rust handle); its operator calls are flattened onto the
  // Authorizer, one zt-core call each.
  // What compiles a bundle is a promise (`reload`, `setShadow`: on libuv's pool) with a `*Sync`
  // twin, like Node's own `fs` calls.
  policy: {
    wrapper: ['reload', 'reloadSync', 'rollback', 'revisions', 'setShadow', 'setShadowSync',
      'promoteShadow', 'rolloutAbort', 'rolloutPromote'],
  },
  // Node names it `close(timeoutMs)` (milliseconds, like Node's timers): a promise of the same
  // shutdown report, flushed on libuv's pool; `closeSync` for exit paths.
  shutdown: { wrapper: ['close', 'closeSync'] },
  // Middleware plumbing for Rust callers that build a `Request` themselves (which headers to
  // copy). `authorizeHttp*` leaves that extraction to zt-core, so Node needs neither.
  request_headers: { wrapper: [] },
  posture_header: { wrapper: [] },
  // Feeds the `WWW-Authenticate: DPoP algs=...` challenge, which zt-core already puts in the
  // decision's HTTP answer (`wwwAuthenticate`, `answer.headers`).
  dpop_algorithms: { wrapper: [] },
}

const camel = (name) => name.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase())

const IMPL = /^impl(?:<[^>]*>)? (?:[\w:]+::)?Authorizer \{/
const PUB_FN = /^ {4}pub (?:const )?(?:async )?(?:unsafe )?fn (\w+)/

function rustFiles(dir) {
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name)).flatMap((e) => {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) return rustFiles(p)
    return e.name.endsWith('.rs') ? [p] : []
  })
}

/** Public methods of `impl Authorizer` blocks. The source is rustfmt-formatted (CI checks it): an
 * impl block opens at column 0 and closes with a `}` line, its items sit at 4 spaces. */
function rustAuthorizerCalls(src = path.join(ROOT, 'zt-core', 'src')) {
  const files = [path.join(src, 'authorizer.rs'), ...rustFiles(path.join(src, 'authorizer'))]
    .filter((f) => fs.existsSync(f))
  assert.ok(files.length > 0, `no authorizer source under ${src}`)
  const names = new Set()
  for (const f of files) {
    let inside = false
    for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
      let m
      if (IMPL.test(line)) inside = true
      else if (inside && line === '}') inside = false
      else if (inside && (m = PUB_FN.exec(line))) names.add(m[1])
    }
  }
  return names
}

/** Methods of a class: its prototype's and its static ones, without private (`_`) hooks. */
function methods(cls) {
  const own = (o) => Object.getOwnPropertyNames(o).filter((n) => typeof o[n] === 'function')
  return new Set([...own(cls.prototype), ...own(cls)]
    .filter((n) => n !== 'constructor' && !n.startsWith('_')))
}

/** The methods of `layer` ('wrapper' or 'native') that carry a Rust call. */
function carriers(rustName, layer) {
  const e = EXCEPTIONS[rustName]
  if (!e) return [camel(rustName)]
  return e[layer] ?? e.wrapper
}

/** Method names declared in lib/index.d.ts's `class Authorizer { ... }`. */
function declared() {
  const dts = fs.readFileSync(path.join(__dirname, '..', 'lib', 'index.d.ts'), 'utf8')
  const body = /export class Authorizer \{([\s\S]*?)\n\}/.exec(dts)
  assert.ok(body, 'lib/index.d.ts declares no `class Authorizer`')
  return new Set([...body[1].matchAll(/^\s+(?:static\s+)?(\w+)\(/gm)].map((m) => m[1]))
}

test('the Rust surface is read', () => {
  const rust = rustAuthorizerCalls()
  // Calls that exist today: if the parser stops finding them, it is broken, not the binding.
  for (const n of ['authorize_sync', 'revoke_subject', 'unrevoke_token_id', 'set_mode', 'status']) {
    assert.ok(rust.has(n), `${n} not found in zt-core's impl Authorizer: ${[...rust]}`)
  }
})

test('every exception names a Rust call', () => {
  const rust = rustAuthorizerCalls()
  const stale = Object.keys(EXCEPTIONS).filter((n) => !rust.has(n))
  assert.deepEqual(stale, [], `EXCEPTIONS names calls zt-core no longer has: ${stale}`)
})

for (const [layer, cls, where] of [
  ['wrapper', zt.Authorizer, 'lib/index.js'],
  ['native', native.Authorizer, 'src/lib.rs'],
]) {
  test(`every Rust Authorizer call is bound on the ${layer} class (${where})`, () => {
    const have = methods(cls)
    const missing = [...rustAuthorizerCalls()].sort().flatMap((n) =>
      carriers(n, layer).filter((m) => !have.has(m)).map((m) => `${n} -> ${m}`))
    assert.deepEqual(missing, [],
      `zt-core's Authorizer calls without a Node binding in ${where} (bind them, with their types, ` +
      `or add an entry with its reason to EXCEPTIONS): ${missing}`)
  })

  test(`every ${layer} method stands for a Rust call`, () => {
    const rust = rustAuthorizerCalls()
    const accounted = new Set([...rust].flatMap((n) => carriers(n, layer)))
    const extra = [...methods(cls)].filter((m) => !accounted.has(m))
    assert.deepEqual(extra, [], `Authorizer methods in ${where} with no zt-core Authorizer call behind them: ${extra}`)
  })
}

test('lib/index.d.ts declares every bound Rust call', () => {
  const dts = declared()
  const missing = [...rustAuthorizerCalls()].sort().flatMap((n) =>
    carriers(n, 'wrapper').filter((m) => !dts.has(m)).map((m) => `${n} -> ${m}`))
  assert.deepEqual(missing, [], `missing from lib/index.d.ts: ${missing}`)
})
