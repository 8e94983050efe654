// Types of the hand-written layer (lib/index.js); the native types come from ../index.d.ts,
// which napi-rs generates from the Rust source.
import type { HttpOptions } from '../index'

export type { HttpOptions }

/** The request: a plain object. */
export interface RequestInit {
  method: string
  path: string
  token?: string
  host?: string
  /** Header name → value (only the names in `[request] headers` reach the policy). */
  headers?: Record<string, string>
  sourceIp?: string
  /** Shaped like `input.device` (`managed`, `assessed_at`, ...). */
  device?: Record<string, unknown>
  postureAssertion?: string
  resource?: Record<string, unknown>
  /** A DPoP proof (RFC 9449): the token is then presented with the `DPoP` scheme. */
  dpopProof?: string
  /** The client certificate (DER; a Buffer is fine), for certificate-bound tokens (RFC 8705). */
  clientCertificate?: Uint8Array
}

/** The RFC 9470 step-up parameters. */
export interface StepUp {
  acrValues?: string
  maxAge?: number
}

/** Nanoseconds per stage. */
export interface Timings {
  token: number
  posture: number
  input: number
  policy: number
  shadow: number
  total: number
}

/** The answer to one request (the same fields and meanings as every zt surface, camelCase). */
export interface Decision {
  /** The decision id (also in the decision log). */
  id: string
  /** What the caller must do. */
  outcome: 'allow' | 'deny' | 'step_up'
  /** What the checks and the policy concluded (differs from `outcome` only when not enforced). */
  evaluated: 'allow' | 'deny' | 'step_up'
  allowed: boolean
  enforced: boolean
  /** True when the request proceeds only because of `warn` mode. */
  warning: boolean
  mode: 'enforce' | 'warn' | 'log_only'
  /** Stable reason codes. */
  reasons: string[]
  /** Reasons given by the policy. */
  policyReasons: string[]
  stepUp?: StepUp
  /** Obligations from the policy. */
  readonly obligations: Record<string, unknown>
  policyRevision?: string
  timings: Timings
  /** The HTTP status to answer with (200 when allowed). */
  httpStatus: number
  /** The `WWW-Authenticate` value for a denial (realm `zt`). */
  wwwAuthenticate?: string
  /** The verified claims, when the token verified. */
  readonly claims?: Record<string, unknown>
  /** The shadow candidate's result, when one is set. */
  readonly shadow?: Record<string, unknown>
  /** The RFC 9457 problem body for a denial. */
  readonly problem?: Record<string, unknown>
  /**
   * From `authorizeSync`: the whole decision as a plain object (what `JSON.stringify` writes;
   * the fields beyond `id`, `outcome`, `allowed`, `httpStatus` and `reasons` are read-only
   * getters that parse it on first use). The other calls return plain objects without it.
   */
  toJSON?(): Omit<Decision, 'toJSON'>
}

/** How a middleware answers. */
export interface HttpAnswerObject {
  proceed: boolean
  status: number
  /** `[name, value]` pairs, lower-case names. */
  headers: [string, string][]
  /** The problem body (JSON text) on a denial. */
  body?: string
}

/** A decision and its HTTP answer. */
export interface HttpDecision {
  decision: Decision
  answer: HttpAnswerObject
}

export type Mode = 'enforce' | 'warn' | 'log_only'

export interface AuthorizerOptions {
  /** In-memory bundle: file name inside the bundle → Rego or JSON text. */
  policyFiles?: Record<string, string>
  /** Decision-log records (JSON text), with `[decision_log] sink = "callback"`; called on the
   * JS thread, never blocking a request. */
  logCallback?: (record: string) => void
}

export class ZtError extends Error {
  /** `ZT_CONFIG`, `ZT_POLICY`, `ZT_TOKEN`, `ZT_RUNTIME` or `ZT_REPORT`. */
  code: 'ZT_CONFIG' | 'ZT_POLICY' | 'ZT_TOKEN' | 'ZT_RUNTIME' | 'ZT_REPORT'
  /** The core's stable error or reason code (`config_out_of_range`, `audience_mismatch`, ...). */
  reason: string
  details: Record<string, unknown>
  readonly key: string | undefined
  readonly file: string | undefined
}

export class ZtDeniedError extends Error {
  status: number
  statusCode: number
  headers: Record<string, string>
  body: string | undefined
  decision: Decision
}

/** What `close` did: `completed` false or `abandoned` > 0 means the log sink was too slow. */
export interface ShutdownReport {
  completed: boolean
  abandoned: number
  [k: string]: unknown
}

export class Authorizer {
  private constructor(native: unknown)
  /** Load a config file (.toml, .yaml, .yml, .json); read, compiled and tested on libuv's pool. */
  static load(path: string, options?: AuthorizerOptions): Promise<Authorizer>
  /** Parse a TOML config off the JS thread. */
  static loadToml(text: string, options?: AuthorizerOptions): Promise<Authorizer>
  /** A config object (the same schema as the files), built off the JS thread. */
  static loadConfig(config: object, options?: AuthorizerOptions): Promise<Authorizer>
  /** `load` on the calling thread (startup code). */
  static fromFile(path: string, options?: AuthorizerOptions): Authorizer
  static fromToml(text: string, options?: AuthorizerOptions): Authorizer
  static fromConfig(config: object, options?: AuthorizerOptions): Authorizer
  authorizeSync(request: RequestInit): Decision
  /** @internal Bench hook: `request` decided `n` times inside Rust; total nanoseconds. */
  _authorizeSyncLoop(n: number, request: RequestInit): number
  authorize(request: RequestInit): Promise<Decision>
  authorizeHttpSync(method: string, target: string, rawHeaders: string[], options?: HttpOptions): HttpDecision
  authorizeHttp(method: string, target: string, rawHeaders: string[], options?: HttpOptions): HttpDecision | Promise<HttpDecision>
  verifySync(token: string): Record<string, unknown>
  revokeTokenId(jti: string): void
  revokeSubject(issuer: string, subject: string): void
  /** Lift a `jti` revocation made with `revokeTokenId`. */
  unrevokeTokenId(jti: string): void
  /** Lift a subject revocation made with `revokeSubject`. */
  unrevokeSubject(issuer: string, subject: string): void
  metrics(): Record<string, unknown>
  prometheus(): string
  flush(): void
  /** Flush the decision log and stop key fetches within `timeoutMs` (default 5000), off the JS thread. */
  close(timeoutMs?: number): Promise<ShutdownReport>
  /** `close` on the calling thread (blocks it up to the bound). */
  closeSync(timeoutMs?: number): ShutdownReport
  /** Compile, test and activate a bundle off the JS thread: the new revision. */
  reload(path: string): Promise<string>
  /** `reload` on the calling thread. */
  reloadSync(path: string): string
  rollback(revision: string): void
  revisions(): string[]
  /** Compile and test a shadow candidate off the JS thread: its revision. */
  setShadow(path: string): Promise<string>
  /** `setShadow` on the calling thread. */
  setShadowSync(path: string): string
  /** Promote the shadow candidate (activated, or rolled out with the rollout gate on). */
  promoteShadow(): string | null
  /** Switch the enforcement mode at runtime (the operator's override). */
  setMode(mode: Mode): void
  /** Set the enforcement canary percentage at runtime (0..=100). */
  setCanaryPercent(percent: number): void
  /** Lift the operator's override: the bundle's `data.zt.enforcement` and the config apply. */
  clearEnforcementOverride(): void
  /** The enforcement settings in force and where each comes from (snake_case keys). */
  enforcement(): EnforcementStatus
  /** The rollout gate's state (snake_case keys). */
  rollout(): Record<string, unknown>
  /** Readiness, policy, key-set freshness per issuer, log queue, enforcement, revocations. */
  status(): { ready: boolean; [k: string]: unknown }
  /** Abort the rollout in progress; the candidate's revision, or null. */
  rolloutAbort(): string | null
  /** Promote the rollout candidate now; its revision, or null. */
  rolloutPromote(): string | null
}

export type EnforcementSource = 'override' | 'bundle' | 'config'
export interface EnforcementStatus {
  mode: Mode
  mode_source: EnforcementSource
  canary_percent: number
  canary_source: EnforcementSource
  operator: { mode: Mode | null; canary_percent: number | null }
  override_file: string | null
  override_file_error: string | null
}

/** The KPIs and least-privilege review of decision logs, as `zt report` does (snake_case
 * report: `decisions`, `deny_rate`, `latency_us`, `routes`, `least_privilege`, ...). */
export function report(
  logs: string[],
  options?: { since?: string; until?: string; bundle?: string; config?: string },
): Promise<Record<string, unknown>>

/** Replay a decision log against a candidate bundle, as `zt replay` does (snake_case report). */
export function replay(
  configPath: string,
  logPath: string,
  candidatePath: string,
  options?: { examples?: number },
): Promise<Record<string, unknown>>

export interface MiddlewareOptions {
  /** The `realm` of `WWW-Authenticate` challenges (default `zt`). */
  realm?: string
  /** Exact paths that bypass zt. */
  skip?: string[]
  /** Plain string prefixes that bypass zt (end one with `/` to stop at a segment). */
  skipPrefixes?: string[]
  /** Override the configured enforcement mode for these routes. */
  mode?: Mode | null
}

/** How the app's router matches paths, so the decision sees the route a request reaches. */
export interface Routing {
  /** Case-sensitive paths (Express default false: the decision path is lower-cased). */
  caseSensitive?: boolean
  /** A trailing slash matters (Express default false: one trailing slash is dropped). */
  strict?: boolean
}

export interface ExpressOptions extends MiddlewareOptions {
  /** The app router's matching rules (default: Express's, `{caseSensitive: false, strict: false}`). */
  routing?: Routing
  /** Call `next(err)` with a `ZtDeniedError` instead of answering denials. */
  passErrors?: boolean
}

type Next = (err?: unknown) => void
export function express(
  authorizer: Authorizer,
  options?: ExpressOptions,
): (req: any, res: any, next: Next) => void

export interface FastifyOptions extends MiddlewareOptions {
  authorizer: Authorizer
  /** The router's matching rules (default: Fastify's, `{caseSensitive: true, strict: true}`). */
  routing?: Routing
}
export function fastify(instance: any, options: FastifyOptions, done: (err?: Error) => void): void

/** The target zt decides on for a raw request URL. */
export function canonicalTarget(url: string, routing?: Routing): string

declare global {
  namespace Express {
    interface Request {
      zt?: Decision
      auth?: Record<string, unknown>
    }
  }
}
