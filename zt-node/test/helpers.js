'use strict'
// Fixtures for the Node suite: fixture keys, token minting and the JWKS server through the
// zt-testkit binary (the one test kit), and child processes stopped by their pid.
const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const readline = require('node:readline')

const ROOT = path.resolve(__dirname, '..', '..')
const ISS = 'https://idp.example.com'
const POLICY = `
package zt.authz
import rego.v1

decision := {"allow": true, "obligations": {"response_headers": {"x-a": "1"}, "request_headers": {"x-injected": "yes"}}} if {
    input.request.method == "GET"
    startswith(input.request.path, "/orders")
}
decision := {"allow": false, "step_up": {"acr_values": "mfa", "max_age": 60}} if input.request.path == "/admin"
decision := {"allow": false, "reasons": ["insufficient_scope"]} if input.request.method == "POST"
decision := {"allow": input.resource.owner == input.subject.id} if input.request.path == "/doc"
`
const ALGS = { 'ec-p256': 'ES256', 'ec-p384': 'ES384', ed25519: 'EdDSA' }

function testkit() {
  const p = process.env.ZT_TESTKIT || path.join(ROOT, 'target', 'debug', 'zt-testkit')
  if (!fs.existsSync(p)) throw new Error(`zt-testkit not found at ${p}: run \`cargo build -p zt-testkit\``)
  return p
}

function mint({ sub = 'alice', key = 'ec-p256', ...extra } = {}) {
  const now = Math.floor(Date.now() / 1000)
  const claims = { iss: ISS, sub, aud: 'api', iat: now, exp: now + 600, ...extra }
  return execFileSync(testkit(), ['mint', '--key', key, '--alg', ALGS[key] ?? 'RS256', '--claims', JSON.stringify(claims)],
    { encoding: 'utf8', timeout: 30_000 }).trim()
}

function jwk(name) {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'zt-core', 'tests', 'data', 'keys', `${name}.jwk.json`), 'utf8'))
}

function config(sections = {}) {
  return {
    service: 'orders',
    issuers: [{ issuer: ISS, audiences: ['api'], algorithms: ['ES256'], jwks: { keys: [jwk('ec-p256')] } }],
    decision_log: { sink: 'none' },
    ...sections,
  }
}

/** A child process whose first stdout line is JSON (`pid`, ...); `control(line)` writes a line
 * and resolves with the JSON line it answers; `stop()` kills it by pid. */
async function startProcess(cmd, args, { timeoutMs = 30_000, env } = {}) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], env: env ?? process.env })
  const lines = readline.createInterface({ input: child.stdout })
  const queue = []
  const waiting = []
  lines.on('line', (l) => (waiting.length ? waiting.shift()(l) : queue.push(l)))
  const next = (ms) => new Promise((resolve, reject) => {
    if (queue.length) return resolve(queue.shift())
    const t = setTimeout(() => reject(new Error(`${cmd} printed nothing within ${ms} ms`)), ms)
    waiting.push((l) => { clearTimeout(t); resolve(l) })
  })
  let info
  try {
    info = JSON.parse(await next(timeoutMs))
  } catch (e) {
    child.kill('SIGKILL')
    throw e
  }
  return {
    info,
    async control(line) {
      child.stdin.write(line + '\n')
      return JSON.parse(await next(10_000))
    },
    stop() {
      try {
        process.kill(info.pid ?? child.pid, 'SIGTERM')
      } catch {}
      child.kill('SIGKILL')
    },
  }
}

function startJwks() {
  return startProcess(testkit(), ['serve-jwks', '--keys', 'ec-p256', '--max-secs', '120'])
}

module.exports = { ROOT, ISS, POLICY, mint, jwk, config, startProcess, startJwks, testkit }
