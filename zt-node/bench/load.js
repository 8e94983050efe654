'use strict'
// Express under load on loopback: no auth vs express-oauth2-jwt-bearer vs zt.express (sample
// bundle), each app in its own process, autocannon (10 connections, cached token) from this one.
// Keys from a zt-testkit JWKS server. Run: `node load.js [SECONDS]`.
const { execFileSync, spawn } = require('node:child_process')
const path = require('node:path')
const readline = require('node:readline')
const autocannon = require('autocannon')

const ROOT = path.resolve(__dirname, '..', '..')
const testkit = process.env.ZT_TESTKIT || path.join(ROOT, 'target', 'debug', 'zt-testkit')
const secs = Number(process.argv[2] || 10)

function start(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', (l) => resolve({ info: JSON.parse(l), child }))
    child.once('error', reject)
  })
}

async function main() {
  const jwks = await start(testkit, ['serve-jwks', '--keys', 'ec-p256', '--max-secs', String(secs * 3 + 60)])
  const { issuer, jwks_uri: jwksUri } = jwks.info
  const now = Math.floor(Date.now() / 1000)
  const token = execFileSync(testkit, ['mint', '--key', 'ec-p256', '--alg', 'ES256', '--claims', JSON.stringify({
    iss: issuer, sub: 'alice', aud: 'orders-api', iat: now, exp: now + 3600, groups: ['admin'],
    device: { managed: true, disk_encrypted: true, jailbroken: false, patch_age_days: 2, assessed_at: now },
  })], { encoding: 'utf8' }).trim()
  const rows = []
  for (const variant of ['none', 'oauth2', 'zt']) {
    const app = await start(process.execPath, [path.join(__dirname, 'load_app.js'), variant, issuer, jwksUri])
    const url = `http://127.0.0.1:${app.info.port}/orders/42`
    // Warm up (keys fetched, caches filled), then measure.
    for (let i = 0; i < 20; i++) await fetch(url, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.arrayBuffer())
    const check = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
    if (check.status !== 200) throw new Error(`${variant}: ${check.status} ${await check.text()}`)
    const r = await autocannon({ url, connections: 10, duration: secs, headers: { authorization: `Bearer ${token}` } })
    rows.push({ variant, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx })
    app.child.kill('SIGTERM')
  }
  jwks.child.kill('SIGTERM')
  const base = rows[0].rps
  console.log('| variant | req/s | p50 ms | p99 ms | non-2xx | ÷ no auth |\n| --- | ---: | ---: | ---: | ---: | ---: |')
  for (const r of rows) console.log(`| ${r.variant} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.non2xx} | ${(r.rps / base).toFixed(2)} |`)
}

main().catch((e) => { console.error(e); process.exit(1) })
