'use strict'
// One authorization decision through zt-node next to what a Node service assembles itself, in
// one process, on the same tokens (RS256 2048-bit and ES256), the same request and the sample
// bundle (examples/policies). Run: `cd zt-node/bench && npm install && node decide.js [--quick]`
// (zt-node built first: see README.md). Prints a Markdown report.
//
// Rows:
// - zt cached / new RS256 / new ES256 / no token: `authorizeSync` (the verified-token cache on,
//   or off with 64 distinct tokens cycled).
// - jose `jwtVerify` with a local JWKS (`createLocalJWKSet`), issuer/audience checked.
// - fast-jwt `createVerifier` with the key, cache off and on (its own verified-token cache).
// - jsonwebtoken `verify` with a KeyObject.
// - @cedar-policy/cedar-wasm `isAuthorized` on zt-py/bench/authz.cedar (the sample policy in
//   Cedar; differences in zt-py/bench/README.md), alone and after jose.
// - The binding overhead: alternating 500-call batches of `authorizeSync` from JavaScript and of
//   the same request inside Rust (`_authorizeSyncLoop`), difference of medians of per-call means.
// OPA's wasm needs a .wasm built by the `opa` binary, which the registries do not provide.
const { execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Bench } = require('tinybench')

const ROOT = path.resolve(__dirname, '..', '..')
const zt = require(path.join(ROOT, 'zt-node'))
const ISS = 'https://idp.example.com'
const AUD = 'orders-api'
const METHOD = 'GET'
const PATH = '/orders/42'
const KEY = { RS256: 'rsa2048-a', ES256: 'ec-p256' }
const quick = process.argv.includes('--quick')
const N_TOKENS = quick ? 16 : 64

const jwkOf = (name) => JSON.parse(fs.readFileSync(path.join(ROOT, 'zt-core', 'tests', 'data', 'keys', `${name}.jwk.json`), 'utf8'))
const testkit = process.env.ZT_TESTKIT || path.join(ROOT, 'target', 'debug', 'zt-testkit')

function claims(i, now) {
  return {
    iss: ISS, sub: `user-${i}`, aud: AUD, iat: now, exp: now + 12 * 3600, groups: ['dev'], scope: 'orders:read',
    device: { id: 'd1', managed: true, disk_encrypted: true, jailbroken: false, patch_age_days: 3, assessed_at: now - 60 },
  }
}

function mint(alg, n) {
  const now = Math.floor(Date.now() / 1000)
  return Array.from({ length: n }, (_, i) => execFileSync(testkit,
    ['mint', '--key', KEY[alg], '--alg', alg, '--claims', JSON.stringify(claims(i, now))], { encoding: 'utf8' }).trim())
}

// The one-line policy (benches/src/lib.rs): a decision that costs its token and nothing else.
function oneLineBundle() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zt-node-bench-'))
  fs.writeFileSync(path.join(dir, 'p.rego'), 'package zt.authz\ndecision := true\n')
  return dir
}

function ztConfig(cacheEntries, bundle = path.join(ROOT, 'examples', 'policies')) {
  return {
    issuers: [{ issuer: ISS, audiences: [AUD], algorithms: ['RS256', 'ES256'], jwks: { keys: [jwkOf('rsa2048-a'), jwkOf('ec-p256')] } }],
    token: { cache_entries: cacheEntries },
    policy: { bundle },
    decision_log: { sink: 'none' },
  }
}

const cycle = (list) => {
  let i = 0
  return () => list[i++ % list.length]
}

function expectAllow(ok, what) {
  if (!ok) throw new Error(`${what}: expected an allow`)
}

// Cedar: the request from verified claims (posture freshness checked by this glue, as zt does
// before its policy).
function cedarRequest(c, method, p, now) {
  const context = { path: p, groups: Array.isArray(c.groups) ? c.groups : [], amr: Array.isArray(c.amr) ? c.amr : [], now }
  const d = c.device
  if (d && typeof d === 'object' && now - (d.assessed_at ?? c.iat ?? 0) <= 900) {
    context.device = { managed: d.managed === true, disk_encrypted: d.disk_encrypted === true, jailbroken: d.jailbroken === true,
      ...(Number.isInteger(d.patch_age_days) ? { patch_age_days: d.patch_age_days } : {}) }
  }
  if (Number.isInteger(c.auth_time)) context.auth_time = c.auth_time
  return { principal: { type: 'User', id: String(c.sub) }, action: { type: 'Action', id: method }, resource: { type: 'Path', id: p }, context }
}

function bindingOverhead(authz, token, rounds, batch = 500) {
  const req = { method: METHOD, path: PATH, token }
  const js = []
  const rust = []
  const now = process.hrtime.bigint
  for (let r = 0; r < rounds; r++) {
    const t0 = now()
    for (let i = 0; i < batch; i++) authz.authorizeSync(req)
    js.push(Number(now() - t0) / batch)
    rust.push(authz._authorizeSyncLoop(batch, req) / batch)
  }
  const med = (v) => v.sort((a, b) => a - b)[v.length >> 1]
  return { js: med(js), rust: med(rust) }
}

async function main() {
  const started = Date.now()
  const tokens = { RS256: mint('RS256', N_TOKENS), ES256: mint('ES256', N_TOKENS) }
  const next = { RS256: cycle(tokens.RS256), ES256: cycle(tokens.ES256) }
  const first = tokens.RS256[0]
  const rows = [] // [name, fn, compareWith]

  const cached = zt.Authorizer.fromConfig(ztConfig(10_000))
  const fresh = zt.Authorizer.fromConfig(ztConfig(0))
  const ztRow = (a, tk) => () => { const d = a.authorizeSync({ method: METHOD, path: PATH, token: tk() }); if (!d.allowed) throw new Error(d.reasons.join()); return d }
  rows.push(['zt cached token', ztRow(cached, () => first)])
  rows.push(['zt new RS256 token', ztRow(fresh, next.RS256)])
  rows.push(['zt new ES256 token', ztRow(fresh, next.ES256)])
  rows.push(['zt no token (floor)', () => cached.authorizeSync({ method: METHOD, path: PATH })])
  const oneLine = oneLineBundle()
  const cachedOneLine = zt.Authorizer.fromConfig(ztConfig(10_000, oneLine))
  const freshOneLine = zt.Authorizer.fromConfig(ztConfig(0, oneLine))
  rows.push(['zt cached token, one-line policy', ztRow(cachedOneLine, () => first)])
  rows.push(['zt new RS256 token, one-line policy', ztRow(freshOneLine, next.RS256)])

  const versions = {}
  const peer = (name) => { try { const m = require(name); versions[name] = require(path.join(__dirname, 'node_modules', name, 'package.json')).version; return m } catch (e) { versions[name] = `not installed (${e.code || e.message})`; return null } }

  const jose = peer('jose')
  if (jose) {
    const jwks = jose.createLocalJWKSet({ keys: [jwkOf('rsa2048-a'), jwkOf('ec-p256')] })
    for (const alg of ['RS256', 'ES256']) {
      rows.push([`jose jwtVerify ${alg} (local JWKS)`, async () => (await jose.jwtVerify(next[alg](), jwks, { issuer: ISS, audience: AUD, algorithms: [alg] })).payload, `zt new ${alg} token`])
    }
  }
  const keyObject = (alg) => crypto.createPublicKey({ key: jwkOf(KEY[alg]), format: 'jwk' })
  const pem = (alg) => keyObject(alg).export({ type: 'spki', format: 'pem' })
  const fastJwt = peer('fast-jwt')
  if (fastJwt) {
    for (const alg of ['RS256', 'ES256']) {
      const v = fastJwt.createVerifier({ key: pem(alg), algorithms: [alg], allowedIss: ISS, allowedAud: AUD })
      rows.push([`fast-jwt ${alg} (cache off)`, () => v(next[alg]()), `zt new ${alg} token`])
    }
    const vc = fastJwt.createVerifier({ key: pem('RS256'), algorithms: ['RS256'], allowedIss: ISS, allowedAud: AUD, cache: true })
    rows.push(['fast-jwt RS256 (cache on, same token)', () => vc(first), 'zt cached token'])
    // The same verifier again, compared with the one-line rows (the report has one comparison
    // per row).
    const v1 = fastJwt.createVerifier({ key: pem('RS256'), algorithms: ['RS256'], allowedIss: ISS, allowedAud: AUD })
    rows.push(['fast-jwt RS256 (cache off), vs one-line', () => v1(next.RS256()), 'zt new RS256 token, one-line policy'])
    const vc1 = fastJwt.createVerifier({ key: pem('RS256'), algorithms: ['RS256'], allowedIss: ISS, allowedAud: AUD, cache: true })
    rows.push(['fast-jwt RS256 (cache on), vs one-line', () => vc1(first), 'zt cached token, one-line policy'])
  }
  const jsonwebtoken = peer('jsonwebtoken')
  if (jsonwebtoken) {
    for (const alg of ['RS256', 'ES256']) {
      const k = keyObject(alg)
      rows.push([`jsonwebtoken verify ${alg}`, () => jsonwebtoken.verify(next[alg](), k, { algorithms: [alg], issuer: ISS, audience: AUD }), `zt new ${alg} token`])
    }
  }
  const cedar = peer('@cedar-policy/cedar-wasm/nodejs')
  versions['@cedar-policy/cedar-wasm'] = require(path.join(__dirname, 'node_modules', '@cedar-policy/cedar-wasm', 'package.json')).version
  if (cedar) {
    const policies = { staticPolicies: fs.readFileSync(path.join(ROOT, 'zt-py', 'bench', 'authz.cedar'), 'utf8') }
    const now = Math.floor(Date.now() / 1000)
    const decide = (req) => {
      const a = cedar.isAuthorized({ ...req, policies, entities: [] })
      if (a.type !== 'success') throw new Error(JSON.stringify(a.errors))
      return a.response.decision === 'allow'
    }
    const prebuilt = cedarRequest(claims(0, now), METHOD, PATH, now)
    expectAllow(decide(prebuilt), 'cedar')
    rows.push(['cedar-wasm alone (prebuilt request)', () => decide(prebuilt), 'zt cached token'])
    if (jose) {
      const jwks = jose.createLocalJWKSet({ keys: [jwkOf('rsa2048-a')] })
      rows.push(['jose RS256 + cedar-wasm', async () => {
        const { payload } = await jose.jwtVerify(next.RS256(), jwks, { issuer: ISS, audience: AUD, algorithms: ['RS256'] })
        return decide(cedarRequest(payload, METHOD, PATH, Math.floor(Date.now() / 1000)))
      }, 'zt new RS256 token'])
    }
  }

  const bench = new Bench({ time: quick ? 300 : 2000, warmupTime: quick ? 100 : 300 })
  for (const [name, fn] of rows) bench.add(name, fn)
  for (const [, fn] of rows) await fn() // every row works before timing starts
  await bench.run()
  const stats = Object.fromEntries(bench.tasks.map((t) => [t.name, t.result]))
  const us = (ms) => (ms * 1000).toFixed(2)
  const out = [`## zt-node bench (${quick ? 'quick' : 'full'}, ${new Date().toISOString().slice(0, 16)} UTC)`, '',
    '| row | median µs | p99 µs | samples | compared with | zt ÷ row |', '| --- | ---: | ---: | ---: | --- | ---: |']
  const p50 = (n) => stats[n]?.latency?.p50
  for (const [name, , cmp] of rows) {
    const r = stats[name]
    if (!r || r.error || !r.latency) { out.push(`| ${name} | error: ${r?.error?.message ?? 'no result'} | | | | |`); continue }
    const ratio = cmp && p50(cmp) ? (p50(cmp) / r.latency.p50).toFixed(2) : '—'
    out.push(`| ${name} | ${us(r.latency.p50)} | ${us(r.latency.p99)} | ${r.latency.samplesCount ?? r.latency.samples?.length ?? ''} | ${cmp ?? '—'} | ${ratio} |`)
  }
  const b = bindingOverhead(cached, first, quick ? 40 : 400)
  const overhead = (b.js - b.rust) / 1000
  const ratio = (a, c) => (p50(a) && p50(c) ? p50(a) / p50(c) : NaN)
  out.push('', '| measure | value | target | met? |', '| --- | ---: | ---: | --- |')
  const check = (name, v, target) => out.push(`| ${name} | ${Number.isFinite(v) ? v.toFixed(2) : 'n/a'} | ${target ? '≤ ' + target : '—'} | ${target && Number.isFinite(v) ? (v <= target ? 'yes' : '**no**') : '—'} |`)
  check(`binding overhead µs (authorizeSync ${(b.js / 1000).toFixed(2)} − Rust authorize_sync ${(b.rust / 1000).toFixed(2)})`, overhead, 2)
  check('zt new RS256 ÷ jose jwtVerify RS256', ratio('zt new RS256 token', 'jose jwtVerify RS256 (local JWKS)'), 0.6)
  check('zt new ES256 ÷ jose jwtVerify ES256', ratio('zt new ES256 token', 'jose jwtVerify ES256 (local JWKS)'))
  check('zt new RS256 ÷ fast-jwt RS256 (cache off)', ratio('zt new RS256 token', 'fast-jwt RS256 (cache off)'))
  check('zt cached ÷ fast-jwt RS256 (cache on)', ratio('zt cached token', 'fast-jwt RS256 (cache on, same token)'))
  check('zt new RS256, one-line policy ÷ fast-jwt RS256 (cache off)', ratio('zt new RS256 token, one-line policy', 'fast-jwt RS256 (cache off), vs one-line'), 1.0)
  check('zt cached, one-line policy ÷ fast-jwt RS256 (cache on)', ratio('zt cached token, one-line policy', 'fast-jwt RS256 (cache on), vs one-line'), 2.0)
  check('zt new RS256 ÷ jsonwebtoken RS256', ratio('zt new RS256 token', 'jsonwebtoken verify RS256'))
  check('zt cached ÷ cedar-wasm alone', ratio('zt cached token', 'cedar-wasm alone (prebuilt request)'))
  check('zt new RS256 ÷ (jose + cedar-wasm)', ratio('zt new RS256 token', 'jose RS256 + cedar-wasm'))
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  out.push('', `Machine: ${cpu}, ${os.cpus().length} logical CPUs, Node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ` +
    Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ') + `; run took ${((Date.now() - started) / 1000).toFixed(0)} s.`)
  console.log(out.join('\n'))
  cached.closeSync()
  fresh.closeSync()
  cachedOneLine.closeSync()
  freshOneLine.closeSync()
  fs.rmSync(oneLine, { recursive: true, force: true })
}

main().catch((e) => { console.error(e); process.exit(1) })
