'use strict'
// The Node surface over zt-core: decisions, config loaders, errors, types, memory, workers.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const zt = require('..')
const { ISS, POLICY, mint, config, jwk, ROOT, testkit } = require('./helpers.js')

const make = (sections) => zt.Authorizer.fromConfig(config(sections), { policyFiles: { 'authz.rego': POLICY } })

test('every outcome with a valid token', () => {
  const a = make()
  const t = mint()
  const cases = [
    [{ method: 'GET', path: '/orders/1' }, 'allow', [], 200],
    [{ method: 'POST', path: '/orders' }, 'deny', ['policy_denied'], 403],
    [{ method: 'GET', path: '/admin' }, 'step_up', ['step_up_required'], 401],
    [{ method: 'GET', path: '/doc', resource: { owner: 'alice' } }, 'allow', [], 200],
    [{ method: 'GET', path: '/doc', resource: { owner: 'bob' } }, 'deny', ['policy_denied'], 403],
  ]
  for (const [req, outcome, reasons, status] of cases) {
    const d = a.authorizeSync({ ...req, token: t })
    assert.deepEqual([d.outcome, d.reasons, d.httpStatus], [outcome, reasons, status], JSON.stringify(req))
    assert.equal(d.allowed, outcome === 'allow')
    assert.equal(d.claims.sub, 'alice')
    assert.match(d.policyRevision, /^sha256:/)
  }
  const up = a.authorizeSync({ method: 'GET', path: '/admin', token: t })
  assert.deepEqual(up.stepUp, { acrValues: 'mfa', maxAge: 60 })
  assert.equal(up.wwwAuthenticate,
    'Bearer realm="zt", error="insufficient_user_authentication", error_description="step_up_required", acr_values="mfa", max_age=60')
  const ok = a.authorizeSync({ method: 'GET', path: '/orders/1', token: t })
  assert.deepEqual(ok.obligations.response_headers, { 'x-a': '1' })
  assert.deepEqual(Object.keys(ok.timings).sort(), ['input', 'policy', 'posture', 'shadow', 'token', 'total'])
  a.close()
})

test('authorizeSync: the head at once, the rest on first read, the same plain object as authorize', async () => {
  const a = make()
  const t = mint()
  for (const req of [{ method: 'GET', path: '/orders/1', token: t }, { method: 'GET', path: '/admin', token: t }, { method: 'GET', path: '/orders/1' }]) {
    const d = a.authorizeSync(req)
    // The head is own data; everything else is read through the prototype.
    assert.deepEqual(Object.keys(d).sort(), ['allowed', 'httpStatus', 'id', 'outcome', 'reasons'])
    const whole = JSON.parse(JSON.stringify(d))
    assert.deepEqual(d.toJSON(), whole)
    for (const k of ['id', 'outcome', 'allowed', 'httpStatus', 'reasons']) assert.deepEqual(d[k], whole[k], k)
    for (const k of ['evaluated', 'enforced', 'warning', 'mode', 'policyReasons', 'stepUp', 'obligations', 'policyRevision', 'wwwAuthenticate', 'shadow', 'problem', 'claims']) {
      assert.deepEqual(d[k], whole[k], k)
    }
    assert.equal(d.timings, d.timings, 'parsed once and kept')
    // The same decision through the other entry point has the same documented shape.
    const other = await a.authorize(req)
    assert.deepEqual(Object.keys(whole).sort(), Object.keys(other).sort())
  }
  a.close()
})

test('rejected tokens are denies, never exceptions, and never echoed', () => {
  const a = make()
  const cases = [
    [undefined, ['token_missing'], 'Bearer realm="zt"'],
    ['not-a-token', ['token_malformed'], 'Bearer realm="zt", error="invalid_token", error_description="token_malformed"'],
    [mint().slice(0, -4) + 'AAAA', ['token_signature_invalid'], null],
    [mint({ aud: 'other' }), ['audience_mismatch'], null],
  ]
  for (const [token, reasons, challenge] of cases) {
    const d = a.authorizeSync({ method: 'GET', path: '/orders/1', token })
    assert.deepEqual([d.outcome, d.reasons, d.httpStatus], ['deny', reasons, 401])
    assert.equal(d.claims, undefined)
    if (challenge) assert.equal(d.wwwAuthenticate, challenge)
    assert.equal(d.problem.decision_id, d.id)
    if (token) assert.ok(!JSON.stringify(d).includes(token))
  }
  a.close()
})

test('wrong argument types throw; request contents never do', () => {
  const a = make()
  assert.throws(() => a.authorizeSync({ method: 'GET' }))
  assert.throws(() => a.authorizeSync({ method: 'GET', path: '/', token: 5 }))
  assert.throws(() => a.authorizeSync({ method: 'GET', path: '/', device: { managed: 'yes' } }), /device/)
  assert.throws(() => a.authorizeSync({ method: 'GET', path: '/', resource: 'x' }), /resource/)
  for (const token of ['', '.', '..', 'a.b.c', '\u0000', 'é'.repeat(5000), 'x'.repeat(100_000)]) {
    assert.equal(a.authorizeSync({ method: 'GET', path: '/orders/1', token }).allowed, false)
  }
  a.close()
})

test('config from file, TOML and object decide alike; errors carry ZT_* codes and key paths', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zt-node-'))
  fs.mkdirSync(path.join(dir, 'policies'))
  fs.writeFileSync(path.join(dir, 'policies', 'authz.rego'), POLICY)
  const k = jwk('ec-p256')
  const toml = `
[[issuers]]
issuer = "${ISS}"
audiences = ["api"]
algorithms = ["ES256"]
jwks = { keys = [{ kty = "EC", kid = "${k.kid}", crv = "P-256", x = "${k.x}", y = "${k.y}" }] }
[policy]
bundle = "policies"
[decision_log]
sink = "none"
`
  fs.writeFileSync(path.join(dir, 'zt.toml'), toml)
  const t = mint()
  for (const a of [
    zt.Authorizer.fromFile(path.join(dir, 'zt.toml')),
    zt.Authorizer.fromToml(toml.replace('"policies"', JSON.stringify(path.join(dir, 'policies')))),
    zt.Authorizer.fromConfig(config({ policy: { bundle: path.join(dir, 'policies') } })),
  ]) {
    assert.equal(a.authorizeSync({ method: 'GET', path: '/orders/1', token: t }).allowed, true)
    assert.deepEqual(a.authorizeSync({ method: 'POST', path: '/orders', token: t }).reasons, ['policy_denied'])
    a.close()
  }
  let e = assert.throws(() => zt.Authorizer.fromConfig(config({ jwks: { ttl_s: 1 } }), { policyFiles: { 'a.rego': POLICY } }),
    (e) => e instanceof zt.ZtError && e.code === 'ZT_CONFIG' && e.reason === 'config_out_of_range' && e.key === 'jwks.ttl_s')
  assert.throws(() => zt.Authorizer.fromConfig(config()), (e) => e.code === 'ZT_CONFIG' && e.reason === 'no_policy')
  assert.throws(() => zt.Authorizer.fromConfig(config(), { policyFiles: { 'b.rego': 'package zt.authz\ndecision := {' } }),
    (e) => e.code === 'ZT_POLICY' && e.reason === 'policy_parse' && e.file === 'b.rego')
  fs.writeFileSync(path.join(dir, 'bad.toml'), '[[issuers]]\nissuer = 1\n')
  assert.throws(() => zt.Authorizer.fromFile(path.join(dir, 'bad.toml')),
    (e) => e.code === 'ZT_CONFIG' && e.reason === 'config_parse' && e.file.endsWith('bad.toml'))
  void e
})

test('verifySync, revocation, metrics and close', async () => {
  const a = make()
  assert.equal(a.verifySync(mint({ sub: 'carol' })).sub, 'carol')
  assert.throws(() => a.verifySync(mint({ aud: 'nope' })),
    (e) => e instanceof zt.ZtError && e.code === 'ZT_TOKEN' && e.reason === 'audience_mismatch')
  const t = mint({ jti: 'j-1' })
  assert.equal(a.authorizeSync({ method: 'GET', path: '/orders/1', token: t }).allowed, true)
  a.revokeTokenId('j-1')
  assert.deepEqual(a.authorizeSync({ method: 'GET', path: '/orders/1', token: t }).reasons, ['token_revoked'])
  a.revokeSubject(ISS, 'bob')
  assert.deepEqual(a.authorizeSync({ method: 'GET', path: '/orders/1', token: mint({ sub: 'bob' }) }).reasons, ['subject_revoked'])
  const m = a.metrics()
  assert.equal(m.decisions, 3)
  assert.equal(m.by_reason.token_revoked, 1)
  a.unrevokeTokenId('j-1')
  assert.equal(a.authorizeSync({ method: 'GET', path: '/orders/1', token: t }).allowed, true)
  a.unrevokeSubject(ISS, 'bob')
  assert.equal(a.authorizeSync({ method: 'GET', path: '/orders/1', token: mint({ sub: 'bob' }) }).allowed, true)
  assert.match(a.prometheus(), /zt_decisions_total/)
  assert.equal(a.closeSync().completed, true)
  assert.equal((await a.close()).completed, true)
  assert.equal((await a.close(Infinity)).completed, true)
  assert.equal(a.authorizeSync({ method: 'GET', path: '/orders/1', token: mint() }).allowed, true)
})

test('decision-log callback runs on the JS thread with every record', async () => {
  const records = []
  const a = zt.Authorizer.fromConfig(config({ decision_log: { sink: 'callback' } }),
    { policyFiles: { 'authz.rego': POLICY }, logCallback: (r) => records.push(JSON.parse(r)) })
  const t = mint()
  const ids = [1, 2, 3].map((i) => a.authorizeSync({ method: 'GET', path: `/orders/${i}`, token: t }).id)
  a.flush()
  for (let i = 0; i < 50 && records.length < 3; i++) await new Promise((r) => setTimeout(r, 20))
  assert.deepEqual(records.map((r) => r.decision_id), ids)
  a.close()
  assert.throws(() => zt.Authorizer.fromConfig(config(), { policyFiles: { 'a.rego': POLICY }, logCallback: () => {} }),
    (e) => e.reason === 'decision_log_callback_unused')
  assert.throws(() => zt.Authorizer.fromConfig(config(), { logCallback: 'x' }), TypeError)
})

test('authorizeHttpSync reads like zt-tower', () => {
  const a = make()
  const t = mint()
  let r = a.authorizeHttpSync('GET', '/orders/1', ['Authorization', `Bearer ${t}`, 'Host', 'x'])
  assert.equal(r.decision.allowed, true)
  assert.equal(r.answer.proceed, true)
  r = a.authorizeHttpSync('GET', '/orders/1', ['authorization', 'Bearer a', 'authorization', 'Bearer b'], { realm: 'api' })
  assert.deepEqual(r.decision.reasons, ['authorization_malformed'])
  assert.equal(r.answer.status, 401)
  assert.deepEqual(Object.fromEntries(r.answer.headers)['www-authenticate'],
    'Bearer realm="api", error="invalid_request", error_description="authorization_malformed"')
  r = a.authorizeHttpSync('GET', '/orders/1?access_token=x', [])
  assert.deepEqual(r.decision.reasons, ['authorization_malformed'])
  r = a.authorizeHttpSync('GET', '/admin', [], { mode: 'warn' })
  assert.equal(r.answer.proceed, true)
  assert.deepEqual(r.answer.headers, [['x-zt-would-deny', 'token_missing']])
  assert.throws(() => a.authorizeHttpSync('GET', '/', [], { mode: 'lenient' }), /mode/)
  assert.equal(zt.canonicalTarget('/%61dmin?x=%61'), '/admin?x=%61')
  a.close()
})

test('DPoP-bound tokens through authorizeHttpSync', () => {
  const { execFileSync } = require('node:child_process')
  const kit = (...args) => execFileSync(testkit(), args, { encoding: 'utf8', timeout: 30000 }).trim()
  const a = make()
  const t = mint({ cnf: { jkt: kit('jkt', '--key', 'ec-p384') } })
  const proof = (method) => kit('dpop-proof', '--key', 'ec-p384', '--alg', 'ES384', '--htm', method,
    '--htu', 'https://api.example.com/orders/1', '--token', t)
  const headers = (p) => ['Authorization', `DPoP ${t}`, 'Host', 'api.example.com', 'DPoP', p]
  let r = a.authorizeHttpSync('GET', '/orders/1', headers(proof('GET')))
  assert.equal(r.decision.allowed, true, JSON.stringify(r.decision.reasons))
  r = a.authorizeHttpSync('GET', '/orders/1', headers(proof('POST')), { realm: 'api' })
  assert.deepEqual(r.decision.reasons, ['dpop_proof_invalid'])
  assert.match(Object.fromEntries(r.answer.headers)['www-authenticate'], /^DPoP realm="api", algs="/)
  r = a.authorizeHttpSync('GET', '/orders/1', ['Authorization', `Bearer ${t}`])
  assert.deepEqual(r.decision.reasons, ['dpop_scheme_required'])
  a.close()
})

test('opaque tokens through RFC 7662 introspection: pending, then decided; async awaits one call', async () => {
  // An introspection endpoint on 127.0.0.1 in this process (closed at the end); zt calls it
  // from its own worker thread, so the event loop must stay free while we wait.
  const http = require('node:http')
  const now = Math.floor(Date.now() / 1000)
  const calls = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => { body += c })
    req.on('end', () => {
      const form = new URLSearchParams(body)
      const token = form.get('token')
      calls.push(token)
      const [user, secret] = Buffer.from(req.headers.authorization.slice(6), 'base64').toString().split(/:(.*)/s)
      const ok = user === 'orders' && decodeURIComponent(secret.replace(/\+/g, '%20')) === process.env.PATH
      const answer = ok && token.startsWith('opaque-')
        ? { active: true, sub: token.slice(7), aud: 'api', iat: now, exp: now + 600, token_type: 'Bearer' }
        : { active: false }
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(answer))
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const cfg = config()
    cfg.issuers[0].introspection = {
      endpoint: `http://127.0.0.1:${server.address().port}/introspect`,
      client_id: 'orders',
      client_secret_env: 'PATH',
    }
    const a = zt.Authorizer.fromConfig(cfg, { policyFiles: { 'authz.rego': POLICY } })
    const req = (token) => ({ method: 'GET', path: '/orders/1', token })
    assert.deepEqual(a.authorizeSync(req('opaque-alice')).reasons, ['introspection_pending'])
    const deadline = Date.now() + 10_000
    let d
    for (;;) {
      d = a.authorizeSync(req('opaque-alice'))
      if (d.allowed) break
      assert.deepEqual(d.reasons, ['introspection_pending'])
      assert.ok(Date.now() < deadline, 'the background lookup never landed')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    assert.equal(d.claims.sub, 'alice')
    d = await a.authorize(req('opaque-bob'))
    assert.equal(d.allowed, true, JSON.stringify(d.reasons))
    assert.equal(d.claims.sub, 'bob')
    assert.deepEqual((await a.authorize(req('unknown'))).reasons, ['token_inactive'])
    assert.deepEqual(calls, ['opaque-alice', 'opaque-bob', 'unknown'])
    const stats = a.status().introspection
    assert.deepEqual([stats.calls, stats.failures, stats.circuit_open], [3, 0, false])
    assert.equal(a.authorizeSync(req(mint())).allowed, true, 'a JWT is still verified locally')
    assert.equal(calls.length, 3)
    a.close()
  } finally {
    server.close()
  }
})

test('DPoP and certificate-bound tokens through the direct API and the HTTP options', () => {
  const crypto = require('node:crypto')
  const a = make()
  const kit = (...args) => require('node:child_process').execFileSync(testkit(), args, { encoding: 'utf8' }).trim()
  const t = mint({ cnf: { jkt: kit('jkt', '--key', 'ec-p384') } })
  const proof = (method) => kit('dpop-proof', '--key', 'ec-p384', '--alg', 'ES384', '--htm', method,
    '--htu', 'https://api.example.com/orders/1', '--token', t)
  const req = { method: 'GET', path: '/orders/1', host: 'api.example.com', token: t }
  let d = a.authorizeSync({ ...req, dpopProof: proof('GET') })
  assert.equal(d.allowed, true, JSON.stringify(d.reasons))
  assert.deepEqual(a.authorizeSync(req).reasons, ['dpop_scheme_required'])
  assert.deepEqual(a.authorizeSync({ ...req, dpopProof: proof('POST') }).reasons, ['dpop_proof_invalid'])

  const der = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x07])
  const x5t = crypto.createHash('sha256').update(der).digest('base64url')
  const bound = mint({ cnf: { 'x5t#S256': x5t } })
  const plain = { method: 'GET', path: '/orders/1', token: bound }
  assert.equal(a.authorizeSync({ ...plain, clientCertificate: der }).allowed, true)
  assert.deepEqual(a.authorizeSync(plain).reasons, ['certificate_binding_mismatch'])
  assert.deepEqual(a.authorizeSync({ ...plain, clientCertificate: Buffer.from('other') }).reasons,
    ['certificate_binding_mismatch'])
  const headers = ['Authorization', `Bearer ${bound}`]
  assert.equal(a.authorizeHttpSync('GET', '/orders/1', headers, { clientCertificate: der }).decision.allowed, true)
  assert.deepEqual(a.authorizeHttpSync('GET', '/orders/1', headers).decision.reasons, ['certificate_binding_mismatch'])
  a.close()
})

test('index.d.ts declares every native method; the usage file type-checks', () => {
  const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')
  const native = require('../index.js')
  for (const cls of ['Authorizer', 'PendingDecision']) {
    const names = [
      ...Object.getOwnPropertyNames(native[cls].prototype).filter((n) => n !== 'constructor'),
      ...Object.getOwnPropertyNames(native[cls]).filter((n) =>
        !['length', 'name', 'prototype', 'arguments', 'caller'].includes(n) && typeof native[cls][n] === 'function'),
    ]
    for (const n of names) assert.match(dts, new RegExp(`\\b${n}\\(`), `${cls}.${n} missing from index.d.ts`)
  }
  const wrapper = Object.getOwnPropertyNames(zt.Authorizer.prototype).filter((n) => n !== 'constructor')
  const libDts = fs.readFileSync(path.join(__dirname, '..', 'lib', 'index.d.ts'), 'utf8')
  for (const n of wrapper) assert.match(libDts, new RegExp(`\\b${n}\\(`), `${n} missing from lib/index.d.ts`)
  const tsc = path.join(__dirname, '..', 'node_modules', '.bin', 'tsc')
  // CommonJS users (module commonjs) and ES module users (nodenext, by package name through the
  // `exports` map).
  for (const project of ['types', 'types-esm']) {
    require('node:child_process').execFileSync(tsc, ['-p', path.join(__dirname, project)], { stdio: 'inherit', timeout: 120_000 })
  }
})

test('100,000 decisions keep memory bounded', () => {
  const a = make()
  const t = mint()
  const run = (n) => {
    for (let i = 0; i < n; i++) a.authorizeSync({ method: 'GET', path: '/orders/1', token: t })
  }
  run(10_000)
  global.gc?.()
  const before = process.memoryUsage().rss
  run(100_000)
  global.gc?.()
  const grown = process.memoryUsage().rss - before
  assert.ok(grown < 64 * 1024 * 1024, `RSS grew by ${grown} bytes over 100,000 decisions`)
  a.close()
})

test('worker threads sharing one config agree with the main thread', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zt-node-w-'))
  fs.writeFileSync(path.join(dir, 'authz.rego'), POLICY)
  fs.writeFileSync(path.join(dir, 'zt.json'), JSON.stringify(config({ policy: { bundle: dir } })))
  const tokens = [mint(), mint({ sub: 'bob' }), 'not-a-token']
  const requests = tokens.flatMap((token) => [
    { method: 'GET', path: '/orders/1', token }, { method: 'POST', path: '/orders', token }, { method: 'GET', path: '/admin', token },
  ])
  const main = zt.Authorizer.fromFile(path.join(dir, 'zt.json'))
  const expected = requests.map((r) => main.authorizeSync(r).outcome)
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    const zt = require(${JSON.stringify(path.join(ROOT, 'zt-node'))})
    const a = zt.Authorizer.fromFile(workerData.file)
    let out
    for (let i = 0; i < 300; i++) out = workerData.requests.map((r) => a.authorizeSync(r).outcome)
    a.close()
    parentPort.postMessage(out)`
  const results = await Promise.all([0, 1, 2, 3].map(() => new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { file: path.join(dir, 'zt.json'), requests } })
    w.once('message', resolve)
    w.once('error', reject)
  })))
  for (const r of results) assert.deepEqual(r, expected)
  main.close()
})

test('decisions match the Rust CLI (`zt decide`) on the same inputs', () => {
  const cli = process.env.ZT_CLI || path.join(ROOT, 'target', 'debug', 'zt')
  assert.ok(fs.existsSync(cli), `zt CLI not found at ${cli}: run \`cargo build -p zt-cli\``)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zt-node-cli-'))
  fs.writeFileSync(path.join(dir, 'authz.rego'), POLICY)
  const file = path.join(dir, 'zt.json')
  fs.writeFileSync(file, JSON.stringify(config({ policy: { bundle: dir } })))
  const a = zt.Authorizer.fromFile(file)
  const cases = [
    [mint(), 'GET', '/orders/1'], [mint(), 'POST', '/orders'], [mint(), 'GET', '/admin'], [mint(), 'GET', '/nothing'],
    [null, 'GET', '/orders/1'], ['not-a-token', 'GET', '/orders/1'], [mint({ aud: 'x' }), 'GET', '/orders/1'],
    [mint({ exp: 1000, iat: 900 }), 'GET', '/orders/1'],
  ]
  for (const [token, method, p] of cases) {
    const args = ['decide', '--config', file, '--method', method, '--path', p]
    if (token) args.push('--token', token)
    let out
    try {
      out = require('node:child_process').execFileSync(cli, args, { encoding: 'utf8', timeout: 30_000 })
    } catch (e) {
      out = e.stdout // the CLI exits non-zero on a deny; the decision is still on stdout
    }
    const rust = JSON.parse(out)
    const node = a.authorizeSync({ method, path: p, token: token ?? undefined })
    assert.deepEqual([node.outcome, node.reasons, node.policyReasons, node.stepUp?.maxAge],
      [rust.outcome, rust.reasons, rust.policy_reasons, rust.step_up?.max_age], `${method} ${p} ${token?.slice(0, 12)}`)
  }
  a.close()
})

test('runtime mode switch, rollout status and replay', async () => {
  const a = zt.Authorizer.fromConfig(config(), { policyFiles: { 'a.rego': 'package zt.authz\ndecision := false' } })
  const t = mint()
  assert.equal(a.authorizeSync({ method: 'GET', path: '/', token: t }).allowed, false)
  a.setMode('warn')
  const d = a.authorizeSync({ method: 'GET', path: '/', token: t })
  assert.equal(d.allowed, true)
  assert.equal(d.warning, true)
  assert.deepEqual([a.enforcement().mode, a.enforcement().mode_source], ['warn', 'override'])
  assert.throws(() => a.setMode('off'), /unknown mode `off`/)
  assert.throws(() => a.setCanaryPercent(101), (e) => e instanceof zt.ZtError && e.code === 'ZT_CONFIG')
  a.clearEnforcementOverride()
  assert.equal(a.authorizeSync({ method: 'GET', path: '/', token: t }).allowed, false)
  assert.equal(a.rollout().enabled, false)
  assert.equal(a.rolloutAbort(), null)
  assert.equal(a.status().ready, true)
  assert.equal(a.status().issuers[0].keys, 1)
  a.close()

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zt-node-replay-'))
  const log = path.join(dir, 'decisions.jsonl')
  for (const [name, body] of [['allow', 'decision := true'], ['deny', 'decision := false']]) {
    fs.mkdirSync(path.join(dir, name))
    fs.writeFileSync(path.join(dir, name, 'p.rego'), `package zt.authz\n${body}\n`)
  }
  const cfg = path.join(dir, 'zt.json')
  fs.writeFileSync(cfg, JSON.stringify(config({
    policy: { bundle: path.join(dir, 'allow') },
    decision_log: { sink: 'file', path: log },
  })))
  const b = zt.Authorizer.fromFile(cfg)
  for (const sub of ['ann', 'ben']) assert.equal(b.authorizeSync({ method: 'GET', path: '/x', token: mint({ sub }) }).allowed, true)
  await b.close()
  const r = await zt.replay(cfg, log, path.join(dir, 'deny'))
  assert.deepEqual([r.records, r.flips, r.by_kind], [2, 2, { 'allow->deny': 2 }])
  assert.equal((await zt.replay(cfg, log, path.join(dir, 'allow'))).flips, 0)
  await assert.rejects(zt.replay(cfg, path.join(dir, 'missing'), path.join(dir, 'deny')), (e) => e.code === 'ZT_POLICY')
})
