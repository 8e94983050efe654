'use strict'
// An Express service protected by zt (zt.express) and the sample policy bundle, on 127.0.0.1:
// the Node twin of zt-tower's gateway example. It creates an ES256 issuer key for this run
// (inline JWKS: no identity provider needed), mints a few tokens, prints curl lines and serves
// until Ctrl-C:
//
//   node zt-node/examples/server.js
//
// Environment: ZT_APP_ADDR (default 127.0.0.1:3000), ZT_APP_TOKENS (a file to write NAME=TOKEN
// lines to), ZT_APP_SECS (stop after this many seconds), ZT_APP_BUNDLE (the policy bundle;
// default: examples/policies of this repository).
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const express = require('express')
const zt = require('zt-node')

const ISSUER = 'https://idp.app.example'
const BUNDLE = process.env.ZT_APP_BUNDLE || path.join(__dirname, '..', '..', 'examples', 'policies')

const b64 = (buf) => Buffer.from(buf).toString('base64url')

// A throwaway ES256 issuer: its public JWK for zt's config, and token minting.
const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'app', use: 'sig', alg: 'ES256' }
function mint(claims) {
  const input = `${b64(JSON.stringify({ alg: 'ES256', kid: 'app', typ: 'at+jwt' }))}.${b64(JSON.stringify(claims))}`
  const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
  return `${input}.${b64(sig)}`
}

const authz = zt.Authorizer.fromConfig({
  service: 'orders-app',
  issuers: [{ issuer: ISSUER, audiences: ['orders-api'], algorithms: ['ES256'], jwks: { keys: [jwk] }, token_type: 'at+jwt' }],
  request: { headers: ['x-request-id'] },
  policy: { bundle: BUNDLE },
  decision_log: { sink: 'none' },
})

const app = express()
app.get('/healthz', (req, res) => res.json({ ok: true }))
app.get('/metrics', (req, res) => res.type('text/plain').send(authz.prometheus()))
app.use(zt.express(authz, { realm: 'orders' }))
app.get('/orders/:id', (req, res) => res.json({
  order: Number(req.params.id), for: req.auth.sub, decision_id: req.zt.id, policy_reasons: req.zt.policyReasons,
}))
app.post('/orders', (req, res) => res.json({ created: true }))
app.post('/admin/deploy', (req, res) => res.json({ deployed: true }))

const now = Math.floor(Date.now() / 1000)
const healthy = { managed: true, disk_encrypted: true, jailbroken: false, patch_age_days: 2, assessed_at: now }
const unencrypted = { managed: true, disk_encrypted: false, assessed_at: now }
const claims = (sub, groups, device) => ({ iss: ISSUER, sub, aud: 'orders-api', iat: now, exp: now + 3600, groups, device })
const tokens = {
  ADMIN: mint(claims('alice', ['admin'], healthy)),
  DEV_UNENCRYPTED: mint(claims('bob', ['dev'], unencrypted)),
  VIEWER: mint(claims('vic', ['viewer'], healthy)),
}

const [host, port] = (process.env.ZT_APP_ADDR || '127.0.0.1:3000').split(/:(?=\d+$)/)
const server = app.listen(Number(port), host, () => {
  const base = `http://${host}:${server.address().port}`
  if (process.env.ZT_APP_TOKENS) {
    // Written whole, then renamed: a reader never sees half a file.
    const tmp = `${process.env.ZT_APP_TOKENS}.tmp`
    fs.writeFileSync(tmp, Object.entries(tokens).map(([k, v]) => `${k}=${v}\n`).join(''))
    fs.renameSync(tmp, process.env.ZT_APP_TOKENS)
  }
  console.log(`zt example app on ${base} (Ctrl-C to stop)\n`)
  for (const [k, v] of Object.entries(tokens)) console.log(`export ${k}=${v}`)
  console.log(`
curl -i -H "Authorization: Bearer $ADMIN" ${base}/orders/42            # 200
curl -i -H "Authorization: Bearer $DEV_UNENCRYPTED" ${base}/orders/42  # 403 (disk_not_encrypted in the decision)
curl -i -X POST -H "Authorization: Bearer $VIEWER" ${base}/orders      # 403 rbac_not_permitted
curl -i -X POST -H "Authorization: Bearer $ADMIN" ${base}/admin/deploy # 401 step-up (RFC 9470)
curl -i ${base}/orders/42                                             # 401 no token
curl -s ${base}/metrics | grep zt_decisions                           # Prometheus`)
})
if (process.env.ZT_APP_SECS) setTimeout(() => { server.close(); authz.closeSync(); process.exit(0) }, Number(process.env.ZT_APP_SECS) * 1000).unref()
