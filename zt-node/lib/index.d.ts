// Types of the hand-written layer (lib/index.js); the native types come from ../index.d.ts,
// which napi-rs generates from the Rust source.
import type {
  Decision,
  HttpDecision,
  HttpOptions,
  RequestInit,
  StepUp,
  Timings,
  HttpAnswerObject,
} from '../index'

export type { Decision, HttpDecision, HttpOptions, RequestInit, StepUp, Timings, HttpAnswerObject }

export type Mode = 'enforce' | 'warn' | 'log_only'

export interface AuthorizerOptions {
  /** In-memory bundle: file name inside the bundle → Rego or JSON text. */
  policyFiles?: Record<string, string>
  /** Decision-log records (JSON text), with `[decision_log] sink = "callback"`; called on the
   * JS thread, never blocking a request. */
  logCallback?: (record: string) => void
}

export class ZtError extends Error {
  /** `ZT_CONFIG`, `ZT_POLICY`, `ZT_TOKEN` or `ZT_RUNTIME`. */
  code: 'ZT_CONFIG' | 'ZT_POLICY' | 'ZT_TOKEN' | 'ZT_RUNTIME'
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

export class Authorizer {
  private constructor(native: unknown)
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
  metrics(): Record<string, unknown>
  prometheus(): string
  flush(): void
  close(timeoutMs?: number): { completed: boolean; abandoned: number; [k: string]: unknown }
  reload(path: string): string
  rollback(revision: string): void
  revisions(): string[]
  setShadow(path: string): string
}

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

export interface ExpressOptions extends MiddlewareOptions {
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
}
export function fastify(instance: any, options: FastifyOptions, done: (err?: Error) => void): void

/** The target zt decides on for a raw request URL. */
export function canonicalTarget(url: string): string

declare global {
  namespace Express {
    interface Request {
      zt?: Decision
      auth?: Record<string, unknown>
    }
  }
}
