'use strict'
// Real servers for the middleware tests, run as child processes:
//   node servers.js express|fastify CONFIG.json [warn] 
// An Express 5 or Fastify 5 app behind zt on 127.0.0.1 (ephemeral port). Prints one JSON line
// {"port", "pid"} once listening; exits by itself after 120 s (tests stop it earlier by pid).
const fs = require('node:fs')
const zt = require('..')
const { POLICY } = require('./helpers.js')

const [kind, configPath, mode] = process.argv.slice(2)
setTimeout(() => process.exit(0), 120_000).unref()
const authz = zt.Authorizer.fromConfig(JSON.parse(fs.readFileSync(configPath, 'utf8')),
  { policyFiles: { 'authz.rego': POLICY } })
const options = { realm: 'api', skip: ['/healthz'], mode: mode || null }
const ready = (port) => console.log(JSON.stringify({ port, pid: process.pid }))

if (kind === 'express') {
  const express = require('express')
  const app = express()
  app.get('/healthz', (req, res) => res.json({ ok: true, decided: req.zt !== undefined }))
  app.use(zt.express(authz, options))
  app.get('/orders/:id', (req, res) => res.json({
    order: req.params.id, sub: req.auth.sub, decision: req.zt.id, outcome: req.zt.outcome,
    injected: req.headers['x-injected'] ?? null,
  }))
  app.get('/admin', (req, res) => res.json({ admin: true }))
  app.post('/orders', (req, res) => res.json({ created: true }))
  // passErrors: denials reach the app's error handler as ZtDeniedError.
  const strict = express.Router()
  strict.use(zt.express(authz, { realm: 'strict', passErrors: true, mode: 'enforce' }))
  strict.get('/x', (req, res) => res.json({ strict: true }))
  app.use('/strict', strict)
  app.use((err, req, res, next) => {
    if (err instanceof zt.ZtDeniedError) {
      res.status(err.status).set(err.headers).json({ custom: true, reasons: err.decision.reasons })
    } else next(err)
  })
  const server = app.listen(0, '127.0.0.1', () => ready(server.address().port))
} else {
  const fastify = require('fastify')({ logger: false })
  fastify.get('/healthz', async (request) => ({ ok: true, decided: request.zt !== null }))
  fastify.register(zt.fastify, { authorizer: authz, ...options })
  fastify.get('/orders/:id', async (request) => ({
    order: request.params.id, sub: request.auth.sub, decision: request.zt.id, outcome: request.zt.outcome,
    injected: request.headers['x-injected'] ?? null,
  }))
  fastify.get('/admin', async () => ({ admin: true }))
  fastify.post('/orders', async () => ({ created: true }))
  fastify.listen({ port: 0, host: '127.0.0.1' }).then(() => ready(fastify.server.address().port))
}
