import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyReply, FastifyRequest, onSendHookHandler, preHandlerAsyncHookHandler } from 'fastify'
import { actorOf } from '../auth/access.ts'
import type { ContextDb } from '../db/index.ts'
import { ConflictError, InputError } from '../errors.ts'
import type { HttpApp } from './app.ts'

export const idempotencyHeader = 'idempotency-key'
const keyPattern = /^[\x21-\x7e]{1,255}$/
const mutating = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
const keepMs = 24 * 3_600_000
const notNow = new Set([408, 409, 425, 429])

export interface IdempotencyOptions {
  /** How long a duplicate waits for the first request with its key before answering 409. */
  readonly waitMs?: number
  /** A request still "running" after this long is taken to have died (its process crashed). */
  readonly abandonedMs?: number
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The response holds a secret shown once (a new API key, an invite token): it is not kept for
     * Idempotency-Key replays; a replay answers 409 saying so, and the request does not run twice.
     */
    shownOnce?: boolean
  }
  interface FastifyRequest {
    /** Set when this request is the first with its Idempotency-Key: its response is stored. */
    idempotency?: { caller: string; key: string }
  }
}

type Row = {
  fingerprint: Buffer
  state: 'running' | 'done'
  status: number | null
  content_type: string | null
  body: string | null
  started_at: Date
  expires_at: Date
}

/** A 422: the key was used before with another request. */
const reused = (key: string) =>
  Object.assign(
    new Error(
      `Idempotency-Key ${key} was used with a different request in the last 24 hours; use a new key for a new request`,
    ),
    { statusCode: 422, code: 'idempotency-key-reused' },
  )

/**
 * `Idempotency-Key` on every mutating, authenticated route of a context: the first request with a key
 * runs and its response (below 500) is kept 24 hours in the context's `rxt_idempotency`; the same key
 * with the same request gets that response again (`Idempotent-Replayed: true`), with another request a
 * 422; a duplicate that arrives while the first runs waits for it instead of running twice.
 */
export function idempotentRoutes(app: HttpApp, db: ContextDb, options: IdempotencyOptions = {}): void {
  const waitMs = options.waitMs ?? 30_000
  const abandonedMs = options.abandonedMs ?? 120_000

  const replay = (reply: FastifyReply, row: Row) => {
    reply.header('idempotent-replayed', 'true')
    reply.code(row.status ?? 200)
    if (row.content_type !== null) reply.type(row.content_type)
    return reply.send(row.body ?? undefined)
  }

  const fingerprintOf = (request: FastifyRequest) =>
    createHash('sha256')
      .update(`${request.method} ${request.url} ${request.orgId ?? ''}\n`)
      .update(request.body === undefined ? '' : JSON.stringify(request.body))
      .digest()

  const hook: preHandlerAsyncHookHandler = async (request, reply) => {
    const key = request.headers[idempotencyHeader]
    if (key === undefined) return
    if (typeof key !== 'string' || !keyPattern.test(key)) {
      throw new InputError('Idempotency-Key must be 1 to 255 printable ASCII characters', [
        { path: '/headers/idempotency-key', message: 'invalid' },
      ])
    }
    const principal = request.principal
    if (principal === undefined) return
    const caller = actorOf(principal)
    const fingerprint = fingerprintOf(request)
    const deadline = Date.now() + waitMs
    for (;;) {
      const claimed = await db.query(
        `INSERT INTO rxt_idempotency (caller, key, fingerprint, state, expires_at)
         VALUES ($1, $2, $3, 'running', now() + make_interval(secs => $4::double precision / 1000))
         ON CONFLICT (caller, key) DO UPDATE
           SET fingerprint = EXCLUDED.fingerprint, state = 'running', status = NULL, content_type = NULL,
               body = NULL, started_at = now(), expires_at = EXCLUDED.expires_at
         WHERE rxt_idempotency.expires_at < now()
            OR (rxt_idempotency.state = 'running'
                AND rxt_idempotency.started_at < now() - make_interval(secs => $5::double precision / 1000))
         RETURNING key`,
        [caller, key, fingerprint, keepMs, abandonedMs],
      )
      if (claimed.rowCount > 0) {
        request.idempotency = { caller, key }
        return
      }
      const row = (
        await db.query<Row>(
          'SELECT fingerprint, state, status, content_type, body, started_at, expires_at FROM rxt_idempotency WHERE caller = $1 AND key = $2',
          [caller, key],
        )
      ).rows[0]
      // Gone (the first failed with a 5xx): claim it now.
      if (row === undefined) continue
      if (!Buffer.from(row.fingerprint).equals(fingerprint)) throw reused(key)
      if (row.state === 'done') {
        if (request.routeOptions.config.shownOnce === true) {
          throw new ConflictError(
            `the request with Idempotency-Key ${key} succeeded; its response held a secret shown once, which is not kept`,
          )
        }
        return replay(reply, row)
      }
      if (Date.now() >= deadline) {
        throw new ConflictError(`a request with Idempotency-Key ${key} is still running; retry later`)
      }
      await sleep(50)
    }
  }

  // The first request's response is stored (or, at 500 and above, its claim dropped so a retry runs).
  const idempotentResponse: onSendHookHandler = async (request, reply, payload) => {
    const claim = request.idempotency
    if (claim === undefined) return payload
    request.idempotency = undefined
    // Answers that say "not now" are not the request's outcome: a retry with the key runs it.
    if (reply.statusCode >= 500 || notNow.has(reply.statusCode)) {
      await db.query('DELETE FROM rxt_idempotency WHERE caller = $1 AND key = $2', [claim.caller, claim.key])
      return payload
    }
    const secret = request.routeOptions.config.shownOnce === true
    const contentType = secret ? undefined : reply.getHeader('content-type')
    await db.query(
      `UPDATE rxt_idempotency SET state = 'done', status = $3, content_type = $4, body = $5
        WHERE caller = $1 AND key = $2`,
      [
        claim.caller,
        claim.key,
        reply.statusCode,
        typeof contentType === 'string' ? contentType : null,
        secret || payload === null || payload === undefined ? null : String(payload),
      ],
    )
    return payload
  }

  // Only the routes that may claim a key get the hooks: a read runs neither.
  app.addHook('onRoute', (route) => {
    const methods = [route.method].flat()
    const auth = route.config?.auth
    if (!methods.some((m) => mutating.has(m)) || auth === undefined || 'public' in auth) return
    // After the hooks already there (the rate limit): a refused request claims no key.
    route.preHandler = route.preHandler === undefined ? [hook] : [...[route.preHandler].flat(), hook]
    // After the audit record's (added before): a 503 for a record not written drops the key's claim.
    route.onSend =
      route.onSend === undefined ? [idempotentResponse] : [...[route.onSend].flat(), idempotentResponse]
  })
}

/** Drops stored responses past their 24 hours. */
export async function pruneIdempotency(db: ContextDb): Promise<number> {
  return (await db.query('DELETE FROM rxt_idempotency WHERE expires_at < now()')).rowCount
}
