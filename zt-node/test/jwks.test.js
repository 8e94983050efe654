'use strict'
// Keys from a real JWKS + discovery server on 127.0.0.1 (zt-testkit serve-jwks): rotation
// awaited by `authorize` while the event loop keeps serving, one refetch for concurrent callers,
// the issuer down with cached keys.
const test = require('node:test')
const assert = require('node:assert/strict')
const zt = require('..')
const { POLICY, mint, startJwks } = require('./helpers.js')

function authorizer(issuer) {
  return zt.Authorizer.fromConfig({
    issuers: [{ issuer, audiences: ['api'], algorithms: ['ES256', 'ES384', 'EdDSA'], discovery: true }],
    jwks: { unknown_kid_cooldown_s: 1, timeout_ms: 2000 },
    decision_log: { sink: 'none' },
  }, { policyFiles: { 'authz.rego': POLICY } })
}

async function firstAllow(a, token) {
  // Keys are fetched in the background at start: decide until they arrived (bounded).
  for (let i = 0; i < 500; i++) {
    const d = a.authorizeSync({ method: 'GET', path: '/orders/1', token })
    if (d.allowed) return d
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error('keys never arrived')
}

test('rotation through authorize keeps the event loop serving', async (t) => {
  const jwks = await startJwks()
  t.after(() => jwks.stop())
  const iss = jwks.info.issuer
  const a = authorizer(iss)
  await firstAllow(a, mint({ iss }))
  const fetched = (await jwks.control('hits')).jwks
  assert.ok(fetched >= 1)

  assert.equal((await jwks.control('keys ec-p256,ec-p384')).ok, true)
  assert.equal((await jwks.control('delay 600')).ok, true)
  const rotated = mint({ iss, key: 'ec-p384' })
  let ticks = 0
  const ticker = setInterval(() => ticks++, 10)
  const started = Date.now()
  const [d1, d2] = await Promise.all([
    a.authorize({ method: 'GET', path: '/orders/1', token: rotated }),
    a.authorize({ method: 'GET', path: '/orders/2', token: rotated }),
  ])
  const elapsed = Date.now() - started
  clearInterval(ticker)
  assert.equal(d1.allowed, true, JSON.stringify(d1.reasons))
  assert.equal(d2.allowed, true)
  assert.ok(elapsed >= 500, `waited ${elapsed} ms`)
  assert.ok(ticks >= 20, `the loop ticked ${ticks} times`)
  assert.equal((await jwks.control('hits')).jwks, fetched + 1)

  // Cached keys: authorize resolves without any fetch; authorizeSync never waits.
  assert.equal((await a.authorize({ method: 'GET', path: '/orders/3', token: rotated })).allowed, true)
  assert.equal((await jwks.control('hits')).jwks, fetched + 1)
  const unknown = mint({ iss, key: 'ed25519' })
  const t0 = Date.now()
  assert.deepEqual(a.authorizeSync({ method: 'GET', path: '/orders/1', token: unknown }).reasons, ['unknown_key'])
  assert.ok(Date.now() - t0 < 500)
  a.close()
})

test('issuer down: cached keys keep answering', async (t) => {
  const jwks = await startJwks()
  t.after(() => jwks.stop())
  const iss = jwks.info.issuer
  const a = authorizer(iss)
  await firstAllow(a, mint({ iss }))
  assert.equal((await jwks.control('status 503')).ok, true)
  assert.equal(a.authorizeSync({ method: 'GET', path: '/orders/1', token: mint({ iss, sub: 'erin' }) }).allowed, true)
  jwks.stop()
  const d = await a.authorize({ method: 'GET', path: '/orders/1', token: mint({ iss, sub: 'finn' }) })
  assert.equal(d.allowed, true)
  assert.equal(d.claims.sub, 'finn')
  a.close()
})
