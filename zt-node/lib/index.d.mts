// Types of the ES module entry point (lib/index.mjs): the CommonJS declarations re-exported.
import * as zt from './index.js'

export * from './index.js'
export default zt
