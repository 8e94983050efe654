'use strict'
// What reads files or compiles policy runs on libuv's thread pool, never on the JS thread:
// `Authorizer.load` and `reload` / `setShadow` are proven below with a FIFO; `loadToml`,
// `loadConfig` and `close` (the same AsyncTask mechanism) are checked for their results.
//
// The proof times nothing. The config or bundle is a FIFO that a worker thread fills only once
// the JS thread is back from the call. A call that read it on the JS thread would wait for a
// writer that waits for it; the worker then gives up after 20 s, writes anyway and sets a flag,
// so that failure ends as a failed assertion, not a hang.
const test = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const zt = require('..')
const { POLICY, mint, config } = require('./helpers.js')

const DENY_ALL = 'package zt.authz\ndecision := false\n'
const ORDERS = { method: 'GET', path: '/orders/1' }

const dirs = []
test.after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})

function tmp() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'zt-node-pool-'))
  dirs.push(d)
  return d
}

function fifo(dir, name) {
  const p = path.join(dir, name)
  execFileSync('mkfifo', [p])
  return p
}

/** A bundle directory holding one policy file. */
function bundleDir(dir, name, rego) {
  const d = path.join(dir, name)
  fs.mkdirSync(d)
  fs.writeFileSync(path.join(d, 'authz.rego'), rego)
  return d
}

/** The bytes of a .tar.gz bundle holding one policy file (the system's tar). */
function bundleArchive(dir, rego) {
  const src = bundleDir(dir, `src-${Math.random().toString(36).slice(2)}`, rego)
  const out = path.join(dir, `${path.basename(src)}.tar.gz`)
  execFileSync('tar', ['-czf', out, '-C', src, 'authz.rego'])
  return fs.readFileSync(out)
}

/** `call()` must return, and the event loop turn once, while `fifo` is still empty: the worker
 * fills it only after that. The worker never blocks on the FIFO: it opens it non-blocking and
 * retries until a reader is there (25 s at most), so a call that never reads it fails the test
 * instead of hanging it. */
async function offTheJsThread(fifoPath, bytes, call) {
  const shared = new Int32Array(new SharedArrayBuffer(12))
  const worker = new Worker(`
    const { workerData: { shared, fifo, bytes } } = require('node:worker_threads')
    const fs = require('node:fs')
    if (Atomics.wait(shared, 0, 0, 20000) === 'timed-out') Atomics.store(shared, 1, 1)
    const deadline = Date.now() + 25000
    for (;;) {
      let fd
      try {
        fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
      } catch (e) {
        if (e.code !== 'ENXIO' || Date.now() > deadline) { Atomics.store(shared, 1, 2); break }
        Atomics.wait(shared, 2, 0, 10)
        continue
      }
      fs.writeSync(fd, bytes)
      fs.closeSync(fd)
      break
    }`,
  { eval: true, workerData: { shared, fifo: fifoPath, bytes } })
  const exited = new Promise((resolve, reject) => {
    worker.once('exit', resolve)
    worker.once('error', reject)
  })
  const pending = call()
  pending.catch(() => {}) // awaited below; not an unhandled rejection meanwhile
  // One turn of the event loop first: a call that deferred a synchronous read to a microtask or
  // to the next turn blocks here, before the worker may write.
  await new Promise((resolve) => setImmediate(resolve))
  Atomics.store(shared, 0, 1)
  Atomics.notify(shared, 0)
  try {
    return await pending
  } finally {
    await exited
    assert.equal(shared[1], 0, shared[1] === 1 ? 'the call read its input on the JS thread' : 'the call never read its input')
  }
}

test('Authorizer.load reads, compiles and tests on the pool', async () => {
  const dir = tmp()
  const bundle = bundleDir(dir, 'bundle', POLICY)
  const file = fifo(dir, 'zt.json')
  const a = await offTheJsThread(file, JSON.stringify(config({ policy: { bundle } })),
    () => zt.Authorizer.load(file))
  assert.ok(a instanceof zt.Authorizer)
  assert.equal(a.authorizeSync({ ...ORDERS, token: mint() }).allowed, true)
  await a.close()
})

test('reload and setShadow compile on the pool; the sync twins still work', async () => {
  const dir = tmp()
  const a = zt.Authorizer.fromConfig(config({ policy: { bundle: bundleDir(dir, 'allow', POLICY) } }))
  const t = mint()
  const first = a.revisions().at(-1)

  const candidate = fifo(dir, 'deny.tar.gz')
  const shadow = await offTheJsThread(candidate, bundleArchive(dir, DENY_ALL), () => a.setShadow(candidate))
  assert.match(shadow, /^sha256:/)
  const d = a.authorizeSync({ ...ORDERS, token: t })
  assert.equal(d.allowed, true, 'a shadow candidate is never enforced')
  assert.equal(d.shadow.revision, shadow)
  assert.deepEqual([d.shadow.outcome, d.shadow.diverged], ['deny', true])

  const next = fifo(dir, 'next.tar.gz')
  const revision = await offTheJsThread(next, bundleArchive(dir, DENY_ALL), () => a.reload(next))
  assert.equal(revision, shadow, 'the same bundle, the same revision')
  assert.equal(a.authorizeSync({ ...ORDERS, token: t }).allowed, false)

  assert.equal(a.reloadSync(path.join(dir, 'allow')), first)
  assert.equal(a.authorizeSync({ ...ORDERS, token: t }).allowed, true)
  assert.match(a.setShadowSync(path.join(dir, 'allow')), /^sha256:/)
  await a.close()
})

test('errors from the pool reject with a ZtError; the active bundle keeps serving', async () => {
  const dir = tmp()
  fs.writeFileSync(path.join(dir, 'bad.toml'), '[[issuers]]\nissuer = 1\n')
  await assert.rejects(zt.Authorizer.load(path.join(dir, 'bad.toml')),
    (e) => e instanceof zt.ZtError && e.code === 'ZT_CONFIG' && e.reason === 'config_parse' && e.file.endsWith('bad.toml'))
  await assert.rejects(zt.Authorizer.loadToml('[[issuers]]\nissuer = 1\n'),
    (e) => e instanceof zt.ZtError && e.code === 'ZT_CONFIG')
  await assert.rejects(zt.Authorizer.loadConfig(config(), { policyFiles: { 'p.rego': 'package zt.authz\ndecision := {' } }),
    (e) => e instanceof zt.ZtError && e.code === 'ZT_POLICY')
  await assert.rejects(zt.Authorizer.load(path.join(dir, 'zt.json'), { logCallback: 'no' }), TypeError)

  const a = await zt.Authorizer.loadConfig(config(), { policyFiles: { 'authz.rego': POLICY } })
  const t = mint()
  await assert.rejects(a.reload(path.join(dir, 'missing')), (e) => e instanceof zt.ZtError && e.code === 'ZT_POLICY')
  await assert.rejects(a.setShadow(path.join(dir, 'missing')), (e) => e instanceof zt.ZtError && e.code === 'ZT_POLICY')
  const broken = bundleDir(dir, 'broken', 'package zt.authz\ndecision := {')
  await assert.rejects(a.reload(broken), (e) => e instanceof zt.ZtError && e.code === 'ZT_POLICY')
  assert.throws(() => a.reloadSync(broken), (e) => e instanceof zt.ZtError && e.code === 'ZT_POLICY')
  assert.equal(a.authorizeSync({ ...ORDERS, token: t }).allowed, true)
  await a.close()
})

test('a log callback; close flushes it on the pool and resolves with the report', async () => {
  const records = []
  const a = await zt.Authorizer.loadConfig(config({ decision_log: { sink: 'callback' } }),
    { policyFiles: { 'authz.rego': POLICY }, logCallback: (r) => records.push(JSON.parse(r)) })
  const t = mint()
  for (let i = 0; i < 5; i++) a.authorizeSync({ ...ORDERS, token: t })
  const report = await a.close(10_000)
  assert.equal(report.completed, true)
  assert.equal(report.abandoned, 0)
  // The callback runs on the JS thread: records queued during the flush arrive on later turns.
  for (let i = 0; i < 200 && records.length < 5; i++) await new Promise((r) => setTimeout(r, 10))
  assert.equal(records.length, 5)
  assert.equal(records[0].outcome, 'allow')
  assert.equal((await a.close()).completed, true, 'close twice')
  assert.equal(a.closeSync().completed, true)
})
