'use strict'
// zt.report: the same report as `zt report`, as an object, on a log an authorizer wrote.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const zlib = require('node:zlib')
const zt = require('..')
const { POLICY, mint, config } = require('./helpers.js')

test('report on a log the authorizer wrote, plain and gzip', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zt-report-'))
  const log = path.join(dir, 'decisions.log')
  const a = zt.Authorizer.fromConfig(config({ decision_log: { sink: 'hash_chained_file', path: log } }),
    { policyFiles: { 'authz.rego': POLICY } })
  for (const p of ['/orders/1', '/orders/2', '/admin']) a.authorizeSync({ method: 'GET', path: p, token: mint() })
  a.authorizeSync({ method: 'GET', path: '/orders/3' })
  a.close()

  const r = await zt.report([log])
  assert.equal(r.decisions, 4)
  assert.deepEqual(r.outcomes, { allow: 2, deny: 1, step_up: 1 })
  assert.deepEqual(r.chain, { verified: true, records: 4 })
  assert.equal(r.routes.find((x) => x.route === '/orders/{n}').count, 3)
  assert.deepEqual(Object.keys(r.latency_us).sort(), ['max', 'p50', 'p95', 'p99'])

  const gz = path.join(dir, 'decisions.log.1.gz')
  fs.writeFileSync(gz, zlib.gzipSync(fs.readFileSync(log)))
  assert.equal((await zt.report([gz])).decisions, 4)
  assert.equal((await zt.report([gz], { since: '2100-01-01' })).decisions, 0)
  await assert.rejects(zt.report([log], { since: 'soon' }), /since/)
  await assert.rejects(zt.report([path.join(dir, 'missing.log')]),
    (e) => e instanceof zt.ZtError && e.code === 'ZT_REPORT' && e.reason === 'report_io')
  fs.rmSync(dir, { recursive: true, force: true })
})
