'use strict'
// zt.express under Express 5 and zt.fastify under Fastify 5: real servers in child processes on
// 127.0.0.1, driven by fetch (and by node:http for verbatim targets and repeated headers).
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const http = require('node:http')
const os = require('node:os')
const path = require('node:path')
const { config, mint, startProcess } = require('./helpers.js')

async function serve(kind, mode) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zt-srv-')), 'config.json')
  fs.writeFileSync(file, JSON.stringify(config()))
  const args = [path.join(__dirname, 'servers.js'), kind, file]
  if (mode) args.push(mode)
  const p = await startProcess(process.execPath, args)
  return { url: `http://127.0.0.1:${p.info.port}`, port: p.info.port, stop: () => p.stop() }
}

/** A raw request: the target verbatim, headers as given (repeats kept). */
function raw(port, method, target, headers) {
  return new Promise((resolve, reject) => {
    // A raw header list gets no automatic Host (Node's server answers 400 without one).
    const all = ['host', `127.0.0.1:${port}`, ...headers]
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers: all }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }))
    })
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

async function assertDenied(r, status, challenge, reasons) {
  assert.equal(r.status, status)
  assert.equal(r.headers.get('www-authenticate'), challenge)
  assert.equal(r.headers.get('content-type').split(';')[0], 'application/problem+json')
  const body = await r.json()
  assert.deepEqual([body.status, body.reasons], [status, reasons])
  assert.equal(r.headers.get('x-zt-decision-id'), body.decision_id)
}

for (const kind of ['express', 'fastify']) {
  test(`${kind}: decisions, challenges, skip path, malformed headers`, async (t) => {
    const s = await serve(kind)
    t.after(s.stop)
    const token = mint()
    const auth = (tk) => ({ authorization: `Bearer ${tk}` })

    let r = await fetch(`${s.url}/orders/7?page=2`, { headers: auth(token) })
    assert.equal(r.status, 200)
    const body = await r.json()
    assert.deepEqual([body.order, body.sub, body.outcome, body.injected], ['7', 'alice', 'allow', 'yes'])
    assert.equal(r.headers.get('x-a'), '1')
    assert.equal(r.headers.get('x-zt-would-deny'), null)

    await assertDenied(await fetch(`${s.url}/orders/1`), 401, 'Bearer realm="api"', ['token_missing'])
    r = await fetch(`${s.url}/orders/1`, { headers: auth('abc.def.ghi') })
    const text = await r.clone().text()
    assert.ok(!text.includes('abc.def.ghi'))
    await assertDenied(r, 401, 'Bearer realm="api", error="invalid_token", error_description="token_malformed"', ['token_malformed'])
    await assertDenied(await fetch(`${s.url}/orders`, { method: 'POST', headers: auth(token) }), 403,
      'Bearer realm="api", error="insufficient_scope", error_description="policy_denied"', ['policy_denied'])
    await assertDenied(await fetch(`${s.url}/admin`, { headers: auth(token) }), 401,
      'Bearer realm="api", error="insufficient_user_authentication", error_description="step_up_required", acr_values="mfa", max_age=60',
      ['step_up_required'])

    r = await fetch(`${s.url}/healthz`)
    assert.deepEqual([r.status, await r.json()], [200, { ok: true, decided: false }])

    for (const [target, headers] of [
      ['/orders/1', [['authorization', 'Bearer a b']]],
      ['/orders/1', [['authorization', 'Bearer']]],
      ['/orders/1', [['authorization', 'Bearer a'], ['authorization', 'Bearer b']]],
      ['/orders/1?access_token=abc', [['authorization', 'Bearer abc']]],
    ]) {
      const res = await raw(s.port, 'GET', target, headers.flat())
      assert.equal(res.status, 401, `${target} ${JSON.stringify(headers)} ${res.body}`)
      assert.match(res.headers['www-authenticate'], /error="invalid_request"/)
      assert.deepEqual(JSON.parse(res.body).reasons, ['authorization_malformed'])
    }

    // Paths are decided as the route they reach: percent-encoded, absolute-form, and (Express,
    // case-insensitive and non-strict by default) other case or a trailing slash.
    const variants = ['/%61dmin', `http://127.0.0.1:${s.port}/admin`]
    if (kind === 'express') variants.push('/ADMIN', '/admin/')
    for (const target of variants) {
      const admin = await raw(s.port, 'GET', target, ['authorization', `Bearer ${token}`])
      assert.notEqual(admin.status, 200, target)
      if (admin.status === 401) assert.match(admin.headers['www-authenticate'], /insufficient_user_authentication/, target)
    }
    // An encoded skip path is decided, not skipped.
    const encodedSkip = await raw(s.port, 'GET', '/%68ealthz', [])
    assert.notDeepEqual(JSON.parse(encodedSkip.body || '{}'), { ok: true, decided: false })
  })

  test(`${kind}: warn mode marks instead of denying`, async (t) => {
    const s = await serve(kind, 'warn')
    t.after(s.stop)
    const r = await fetch(`${s.url}/admin`)
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('x-zt-would-deny'), 'token_missing')
    const ok = await fetch(`${s.url}/orders/1`, { headers: { authorization: `Bearer ${mint()}` } })
    assert.equal(ok.headers.get('x-zt-would-deny'), null)
  })
}

test('express passErrors hands denials to the error handler', async (t) => {
  const s = await serve('express', 'warn')
  t.after(s.stop)
  const r = await fetch(`${s.url}/strict/x`)
  assert.equal(r.status, 401)
  assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="strict"')
  assert.deepEqual(await r.json(), { custom: true, reasons: ['token_missing'] })
})

test('express over https with client certificates: certificate-bound tokens (RFC 8705)', async (t) => {
  // Self-signed certificates made with `openssl` for this run; an Express app behind zt.express
  // on an https server that asks for client certificates (zt checks the binding, not the chain).
  const { execFileSync } = require('node:child_process')
  const crypto = require('node:crypto')
  const https = require('node:https')
  const express = require('express')
  const zt = require('..')
  const { POLICY } = require('./helpers.js')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zt-mtls-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  for (const name of ['server', 'alice', 'mallory']) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', `/CN=${name}`, '-days', '1'],
    { cwd: dir, stdio: 'ignore', timeout: 30_000 })
  }
  const read = (f) => fs.readFileSync(path.join(dir, f))
  const x5t = crypto.createHash('sha256').update(new crypto.X509Certificate(read('alice.pem')).raw).digest('base64url')
  const authz = zt.Authorizer.fromConfig(config(), { policyFiles: { 'authz.rego': POLICY } })
  t.after(() => authz.close())
  const app = express()
  app.use(zt.express(authz, { realm: 'api' }))
  app.get('/orders/:id', (req, res) => res.json({ sub: req.auth.sub }))
  const server = https.createServer(
    { key: read('server.key'), cert: read('server.pem'), requestCert: true, rejectUnauthorized: false }, app)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => server.close())
  const get = (client, token) => new Promise((resolve, reject) => {
    const tls = client ? { key: read(`${client}.key`), cert: read(`${client}.pem`) } : {}
    const req = https.request({
      host: '127.0.0.1', port: server.address().port, path: '/orders/1', method: 'GET', agent: false,
      rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` }, ...tls,
    }, (res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
  const bound = mint({ cnf: { 'x5t#S256': x5t } })
  const ok = await get('alice', bound)
  assert.deepEqual([ok.status, JSON.parse(ok.body).sub], [200, 'alice'])
  for (const client of ['mallory', null]) {
    const r = await get(client, bound)
    assert.equal(r.status, 401, `${client}`)
    assert.deepEqual(JSON.parse(r.body).reasons, ['certificate_binding_mismatch'])
  }
  assert.equal((await get('mallory', mint())).status, 200, 'an unbound token needs no certificate')
})
