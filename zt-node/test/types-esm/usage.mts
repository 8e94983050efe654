// Type-checked by the test suite (`tsc --noEmit`, nodenext): the ES module entry point as an
// `import` user sees it, resolved by package name through package.json's `exports` map.
import zt, { Authorizer, ZtError, express, type Decision } from 'zt-node'

const a: Authorizer = await Authorizer.loadConfig({ issuers: [] })
const d: Decision = a.authorizeSync({ method: 'GET', path: '/' })
const same: boolean = zt.Authorizer === Authorizer
const mw = express(a, { realm: 'api' })
const isError = (e: unknown): boolean => e instanceof ZtError
void [d.outcome, same, mw, isError, await a.close()]
