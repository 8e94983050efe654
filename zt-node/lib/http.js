'use strict'
// What the Express and Fastify middleware share: the target zt decides on, skip rules, mode
// checks and obligation headers. No decisions here: those come from zt-core.

// Percent-encoded octets of these characters are decoded before deciding (RFC 3986 §6.2.2.2
// normalisation: unreserved, plus the sub-delims, ':' and '@' that routers also decode), so
// `/%61dmin` is decided as `/admin`, the route a decoding router (Fastify) sends it to.
const LITERAL = new Set([..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@"])

/** The request target zt decides on: the path normalised as above (other escapes kept, hex
 * upper-cased) and the raw query (where `access_token` is refused). An absolute-form target
 * (`http://host/admin`, which Node accepts and routers route by its path) is decided by its
 * path. `routing` mirrors a router that ignores case (`caseSensitive: false`: the path is
 * lower-cased) or a trailing slash (`strict: false`: one trailing slash dropped), so that
 * `/ADMIN/` is decided as the `/admin` route it reaches. */
function canonicalTarget(url, routing = { caseSensitive: true, strict: true }) {
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(url)
  if (absolute) url = url.slice(absolute[0].length) || '/'
  const q = url.indexOf('?')
  let path = (q === -1 ? url : url.slice(0, q)).replace(/%([0-9A-Fa-f]{2})/g, (m, hex) => {
    const c = String.fromCharCode(parseInt(hex, 16))
    return LITERAL.has(c) ? c : m.toUpperCase()
  })
  if (!routing.caseSensitive) path = path.toLowerCase()
  if (!routing.strict && path.length > 1 && path.endsWith('/')) path = path.slice(0, -1)
  return q === -1 ? path : path + url.slice(q)
}

function pathOf(target) {
  const q = target.indexOf('?')
  return q === -1 ? target : target.slice(0, q)
}

/** Exact paths and plain string prefixes (as zt-tower) that bypass zt, matched against the raw
 * request path (never a decoded or normalised one: `/%68ealthz` is not `/healthz`, and is
 * decided rather than skipped). */
function skipper(skip, skipPrefixes) {
  const exact = new Set(skip)
  const prefixes = [...skipPrefixes]
  return (rawUrl) => {
    const path = pathOf(rawUrl)
    return exact.has(path) || prefixes.some((p) => path.startsWith(p))
  }
}

function checkMode(mode) {
  if (![null, undefined, 'enforce', 'warn', 'log_only'].includes(mode)) {
    throw new TypeError(`mode must be 'enforce', 'warn', 'log_only' or null, not ${JSON.stringify(mode)}`)
  }
  return mode ?? null
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const VALUE = /^[\t\x20-\x7e]*$/

/** The `request_headers` / `response_headers` obligation as valid header pairs (names and
 * values that could split a header are skipped, as zt-tower does). */
function validObligationHeaders(decision, which) {
  const wanted = decision.obligations?.[which]
  if (!wanted || typeof wanted !== 'object' || Array.isArray(wanted)) return []
  const out = []
  for (const [k, v] of Object.entries(wanted)) {
    if (typeof v === 'string' && TOKEN.test(k) && VALUE.test(v)) out.push([k.toLowerCase(), v])
  }
  return out
}

module.exports = { canonicalTarget, skipper, checkMode, validObligationHeaders }
