'use strict'
// examples/server.js from a fresh project: `npm pack` the package, install the tarball into an
// empty project with express; `require` and `import` it with no Rust toolchain on PATH; run the
// example there as a child process, drive it with fetch.
const test = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { ROOT, config } = require('./helpers.js')

const PKG = path.join(ROOT, 'zt-node')

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/** PATH without any directory that holds cargo or rustc (a machine with Node only). */
function toolchainFreePath() {
  const dirs = (process.env.PATH || '').split(path.delimiter).filter((d) =>
    d && !['cargo', 'rustc'].some((tool) => fs.existsSync(path.join(d, tool))))
  return [path.dirname(process.execPath), ...dirs].join(path.delimiter)
}

test('a fresh project installs the packed tarball and runs the example', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zt-fresh-'))
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const tgz = execFileSync(npm, ['pack', '--silent', '--pack-destination', dir], { cwd: PKG, encoding: 'utf8', timeout: 120_000 })
    .trim().split('\n').pop()
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'fresh', version: '1.0.0', private: true }))
  // express comes from the project's own install (offline-friendly: the package folder's copy).
  execFileSync(npm, ['install', '--no-audit', '--no-fund', '--loglevel=error', path.join(dir, tgz), path.join(PKG, 'node_modules', 'express')],
    { cwd: dir, timeout: 300_000, stdio: 'inherit' })
  // The installed package needs no toolchain, and both module systems reach the same typed
  // entry points through its `exports` map (and nothing else: deep paths are closed).
  const noToolchain = { ...process.env, PATH: toolchainFreePath() }
  for (const tool of ['cargo', 'rustc']) {
    assert.ok(noToolchain.PATH.split(path.delimiter).every((d) => !fs.existsSync(path.join(d, tool))), `${tool} on PATH`)
  }
  const cfg = JSON.stringify(config())
  fs.writeFileSync(path.join(dir, 'smoke.cjs'), `
    const zt = require('zt-node')
    const a = zt.Authorizer.fromConfig(${cfg}, { policyFiles: { 'p.rego': 'package zt.authz\\ndecision := true' } })
    let closed = false
    try { require('zt-node/lib/http.js') } catch (e) { closed = e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' }
    console.log(JSON.stringify([a.authorizeSync({ method: 'GET', path: '/' }).reasons, typeof zt.express, closed]))`)
  fs.writeFileSync(path.join(dir, 'smoke.mjs'), `
    import zt, { Authorizer, ZtError, fastify } from 'zt-node'
    const a = await Authorizer.loadConfig(${cfg}, { policyFiles: { 'p.rego': 'package zt.authz\\ndecision := false' } })
    console.log(JSON.stringify([a.authorizeSync({ method: 'GET', path: '/' }).reasons, zt.Authorizer === Authorizer,
      typeof ZtError, typeof fastify, (await a.close()).completed]))`)
  const run = (file) => JSON.parse(execFileSync(process.execPath, [file], { cwd: dir, env: noToolchain, encoding: 'utf8', timeout: 60_000 }))
  assert.deepEqual(run('smoke.cjs'), [['token_missing'], 'function', true])
  assert.deepEqual(run('smoke.mjs'), [['token_missing'], true, 'function', 'function', true])
  const packed = JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', 'zt-node', 'package.json'), 'utf8'))
  assert.deepEqual(Object.keys(packed.exports['.']), ['import', 'require'])

  fs.copyFileSync(path.join(PKG, 'examples', 'server.js'), path.join(dir, 'server.js'))
  const port = await freePort()
  const tokensFile = path.join(dir, 'tokens')
  const child = spawn(process.execPath, ['server.js'], {
    cwd: dir,
    env: { ...process.env, ZT_APP_ADDR: `127.0.0.1:${port}`, ZT_APP_TOKENS: tokensFile, ZT_APP_SECS: '60',
      ZT_APP_BUNDLE: path.join(ROOT, 'examples', 'policies') },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  t.after(() => {
    try { process.kill(child.pid, 'SIGTERM') } catch {}
    setTimeout(() => { try { process.kill(child.pid, 'SIGKILL') } catch {} }, 5000).unref()
  })
  for (let i = 0; i < 600 && !fs.existsSync(tokensFile); i++) await new Promise((r) => setTimeout(r, 50))
  assert.ok(fs.existsSync(tokensFile), 'the example never wrote its tokens (see its stderr above)')
  const tokens = Object.fromEntries(fs.readFileSync(tokensFile, 'utf8').trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)))
  const base = `http://127.0.0.1:${port}`
  const call = (method, p, who) => fetch(base + p, { method, headers: who ? { authorization: `Bearer ${tokens[who]}` } : {} })
  let r = await call('GET', '/orders/42', 'ADMIN')
  assert.equal(r.status, 200)
  assert.equal((await r.json()).for, 'alice')
  r = await call('GET', '/orders/42', 'DEV_UNENCRYPTED')
  assert.equal(r.status, 403)
  assert.equal((await call('POST', '/orders', 'VIEWER')).status, 403)
  r = await call('POST', '/admin/deploy', 'ADMIN')
  assert.equal(r.status, 401)
  assert.match(r.headers.get('www-authenticate'), /insufficient_user_authentication/)
  assert.equal((await call('GET', '/orders/42')).status, 401)
  assert.match(await (await call('GET', '/metrics')).text(), /zt_decisions_total/)
})
