'use strict'
// The shared DPoP replay store from Node: a real redis-server on 127.0.0.1 (started here,
// stopped by its pid), Express and Fastify servers in this process deciding on the async path,
// and a second authorizer sharing the store.
const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const os = require('node:os')
const { spawn, execFileSync } = require('node:child_process')
const zt = require('..')
const { POLICY, mint, config, testkit } = require('./helpers.js')

const HTU = 'https://api.example.com/orders/1'

async function freePort() {
  const s = net.createServer()
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve))
  const { port } = s.address()
  await new Promise((resolve) => s.close(resolve))
  return port
}

function ping(port) {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => c.write('PING\r\n'))
    c.setTimeout(500, () => { c.destroy(); resolve(false) })
    c.on('data', (d) => { c.destroy(); resolve(d.toString().startsWith('+PONG')) })
    c.on('error', () => resolve(false))
  })
}

async function startRedis(t) {
  const port = await freePort()
  const p = spawn('timeout', ['120', 'redis-server', '--bind', '127.0.0.1', '--port', String(port),
    '--save', '', '--appendonly', 'no', '--dir', os.tmpdir()], { stdio: 'ignore' })
  t.after(() => { try { process.kill(p.pid, 'SIGTERM') } catch {} })
  const deadline = Date.now() + 10_000
  while (!(await ping(port))) {
    if (Date.now() > deadline) throw new Error('redis-server did not start (the test command installs it)')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return `redis://127.0.0.1:${port}/0`
}

const kit = (...args) => execFileSync(testkit(), args, { encoding: 'utf8' }).trim()

function boundToken() {
  const t = mint({ cnf: { jkt: kit('jkt', '--key', 'ec-p384') } })
  const proof = () => kit('dpop-proof', '--key', 'ec-p384', '--alg', 'ES384', '--htm', 'GET', '--htu', HTU, '--token', t)
  return { t, proof }
}

async function listen(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${server.address().port}`
}

test('Express and Fastify share one store with another authorizer: a proof passes once', async (t) => {
  const url = await startRedis(t)
  const store = { url, prefix: 'zt:node:' }
  const make = () => zt.Authorizer.fromConfig(config({ dpop: { replay_store: store, base_url: 'https://api.example.com' } }), { policyFiles: { 'authz.rego': POLICY } })
  const [a, b, c] = [make(), make(), make()]
  t.after(() => { a.close(); b.close(); c.close() })

  const express = require('express')
  const app = express()
  app.use(zt.express(a, { realm: 'api' }))
  app.get('/orders/:id', (req, res) => res.json({ sub: req.auth.sub }))
  const expressServer = require('node:http').createServer(app)
  const expressUrl = await listen(expressServer)
  t.after(() => expressServer.close())

  const fastify = require('fastify')()
  fastify.register(zt.fastify, { authorizer: c, realm: 'api' })
  fastify.get('/orders/:id', async (request) => ({ sub: request.auth.sub }))
  const fastifyUrl = await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.after(() => fastify.close())

  const { t: token, proof } = boundToken()
  const get = (base, p) => fetch(`${base}/orders/1`, { headers: { authorization: `DPoP ${token}`, host: 'api.example.com', dpop: p } })

  // With a store, the middleware's call for a DPoP request waits for Redis off the event loop:
  // a promise, unless Redis answered before the first poll (loopback can be that fast).
  const p0 = proof()
  const pending = a.authorizeHttp('GET', '/orders/1', ['Authorization', `DPoP ${token}`, 'Host', 'api.example.com', 'DPoP', p0])
  assert.equal((await pending).decision.allowed, true)

  const p1 = proof()
  let r = await get(expressUrl, p1)
  assert.equal(r.status, 200, await r.clone().text())
  assert.deepEqual(await r.json(), { sub: 'alice' })
  // The same proof on the Fastify app (another authorizer), and directly on a third.
  r = await get(fastifyUrl, p1)
  assert.equal(r.status, 401)
  assert.deepEqual((await r.json()).reasons, ['dpop_replayed'])
  assert.match(r.headers.get('www-authenticate'), /^DPoP realm="api"/)
  const d = await b.authorize({ method: 'GET', path: '/orders/1', host: 'api.example.com', token, dpopProof: p1 })
  assert.deepEqual(d.reasons, ['dpop_replayed'])

  // The other way round: first use on Fastify, the replay on Express.
  const p2 = proof()
  assert.equal((await get(fastifyUrl, p2)).status, 200)
  r = await get(expressUrl, p2)
  assert.equal(r.status, 401)
  assert.deepEqual((await r.json()).reasons, ['dpop_replayed'])

  const s = a.status().dpop_replay_store
  assert.equal(s.up, true)
  assert.equal(s.fresh, 2)
  assert.equal(s.replayed, 1)
})
