// The ES module entry point of zt-node: the same objects as `require('zt-node')` (one copy of
// the addon and its state whichever way a program loads it), as named exports and as default.
import zt from './index.js'

export const { Authorizer, replay, report, ZtError, ZtDeniedError, express, fastify, canonicalTarget } = zt
export default zt
