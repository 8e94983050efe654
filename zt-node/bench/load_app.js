'use strict'
// The Express app of the load comparison (load.js), one variant per process:
//   none   — no authorization (the ceiling)
//   oauth2 — express-oauth2-jwt-bearer (Auth0's middleware: JWKS from the issuer, ES256 token)
//   zt     — zt.express with the sample bundle (token, device posture, RBAC policy)
// Args: VARIANT ISSUER JWKS_URI. Prints {"port","pid"}; exits after 120 s.
const path = require('node:path')
const express = require('express')
const [variant, issuer, jwksUri] = process.argv.slice(2)
setTimeout(() => process.exit(0), 120_000).unref()
const app = express()
if (variant === 'oauth2') {
  const { auth } = require('express-oauth2-jwt-bearer')
  app.use(auth({ issuer, audience: 'orders-api', jwksUri, tokenSigningAlg: 'ES256' }))
} else if (variant === 'zt') {
  const zt = require(path.join(__dirname, '..'))
  const authz = zt.Authorizer.fromConfig({
    issuers: [{ issuer, audiences: ['orders-api'], algorithms: ['ES256'], jwks_uri: jwksUri }],
    policy: { bundle: path.join(__dirname, '..', '..', 'examples', 'policies') },
    decision_log: { sink: 'none' },
  })
  app.use(zt.express(authz, { realm: 'orders' }))
}
app.get('/orders/:id', (req, res) => res.json({ order: Number(req.params.id), for: req.auth?.sub ?? req.auth?.payload?.sub ?? null }))
const server = app.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port, pid: process.pid })))
