// Type-checked by the test suite (`tsc --noEmit`): how a TypeScript user calls zt.
import * as zt from '../../lib/index'

const authz: zt.Authorizer = zt.Authorizer.fromConfig({ issuers: [] }, { policyFiles: { 'a.rego': 'package zt.authz' } })
const d: zt.Decision = authz.authorizeSync({ method: 'GET', path: '/orders/1', token: 'x', headers: { 'x-tenant': 'a' } })
const outcome: string = d.outcome
const reasons: string[] = d.reasons
const status: number = d.httpStatus
const step: number | undefined = d.stepUp?.maxAge
async function later(): Promise<boolean> {
  const p: zt.Decision = await authz.authorize({ method: 'GET', path: '/' })
  return p.allowed
}
const mw: (req: any, res: any, next: (err?: unknown) => void) => void = zt.express(authz, { realm: 'api', skip: ['/healthz'], mode: 'warn' })
const plugin: typeof zt.fastify = zt.fastify
try {
  authz.verifySync('x')
} catch (e) {
  if (e instanceof zt.ZtError) {
    const code: 'ZT_CONFIG' | 'ZT_POLICY' | 'ZT_TOKEN' | 'ZT_RUNTIME' | 'ZT_REPORT' = e.code
    void code
  }
}
authz.setMode('log_only')
authz.revokeSubject('https://idp.example.com', 'bob')
authz.unrevokeSubject('https://idp.example.com', 'bob')
authz.unrevokeTokenId('j-1')
const source: zt.EnforcementSource = authz.enforcement().mode_source
const flips = zt.replay('zt.toml', 'decisions.jsonl', 'candidate/', { examples: 5 }).then((r) => r.flips)
const decisions = zt.report(['decisions.jsonl'], { since: '2026-12-01', bundle: 'policies/' }).then((r) => r.decisions)
void decisions
async function lifecycle(): Promise<boolean> {
  const a: zt.Authorizer = await zt.Authorizer.load('zt.toml', { logCallback: (r: string) => void r })
  const b: zt.Authorizer = await zt.Authorizer.loadToml('service = "x"')
  const c: zt.Authorizer = await zt.Authorizer.loadConfig({ issuers: [] })
  const revision: string = await a.reload('bundle/')
  const shadow: string = await b.setShadow('candidate/')
  const again: string = c.reloadSync('bundle/') + c.setShadowSync('candidate/')
  const report: zt.ShutdownReport = await a.close(5000)
  return report.completed && b.closeSync().abandoned === 0 && [revision, shadow, again].length === 3
}
void [outcome, reasons, status, step, later, mw, plugin, source, flips, lifecycle]
