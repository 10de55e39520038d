import type { Envelope } from '@rxt/contracts'
import type { FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify'
import { actorOf } from '../auth/access.ts'
import type { ContextBus } from '../bus/index.ts'
import type { ContextDb } from '../db/index.ts'
import { UnavailableError } from '../errors.ts'
import type { HttpApp } from './app.ts'
import { problemContentType } from './problem.ts'

const mutating = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** The type of the message every answered mutating request writes (contracts: RequestAuditedMessage). */
export const requestAuditedType = 'evt.request.audited'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route only forwards the request to the context that serves it (the gateway's proxy): that
     * context records it, not this one.
     */
    forwarded?: boolean
  }
  interface FastifyRequest {
    /** Set once the request's audit record was attempted: a 503 answered for a failed write is not retried. */
    audited?: boolean
  }
}

/** Where a context's HTTP layer writes its audit records: its database and outbox. */
export interface AuditWriter {
  /** The context that answers (the record's `context`). */
  readonly context: string
  readonly db: ContextDb
  readonly bus: ContextBus
}

const clip = (text: string, max: number) => (text.length > max ? text.slice(0, max) : text)

/** The problem type of an error answer (never its detail), or null for a success. */
function problemTypeOf(reply: FastifyReply, payload: unknown): string | null {
  if (reply.statusCode < 400) return null
  const contentType = reply.getHeader('content-type')
  if (
    typeof payload === 'string' &&
    typeof contentType === 'string' &&
    contentType.startsWith(problemContentType)
  ) {
    try {
      const type = (JSON.parse(payload) as { type?: unknown }).type
      if (typeof type === 'string' && type !== '') return clip(type, 300)
    } catch {
      // Not a problem document after all: the status says enough.
    }
  }
  return null
}

/** The `evt.request.audited` message of an answered request: no body, query, token or problem detail. */
export function auditedRequestOf(
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  context: string,
  at: Date,
) {
  return recordOf(request, reply.statusCode, problemTypeOf(reply, payload), context, at)
}

function recordOf(
  request: FastifyRequest,
  status: number,
  problem: string | null,
  context: string,
  at: Date,
) {
  const route = request.routeOptions.url ?? request.url.split('?')[0] ?? '/'
  const path = request.url.split('?')[0] ?? '/'
  return {
    type: requestAuditedType,
    tenantId: request.orgId ?? null,
    data: {
      actor: request.principal === undefined ? 'anonymous' : actorOf(request.principal),
      action: clip(`${request.method} ${route}`, 300),
      // A path that holds a secret (an invite token) is named by its route.
      object: clip(request.routeOptions.config.secretPath === true ? route : path, 2048) || '/',
      context,
      requestId: clip(request.id, 128),
      outcome: { status, problem },
      at: at.toISOString(),
    },
  }
}

/**
 * The audit record of a request whose route writes it itself, in the transaction that does the
 * request's work (so that both cost one commit), for the success `status` it is then answered with.
 * Once that transaction committed, `auditWritten(request)` tells the hook below that the record is
 * there: it writes none. Should the transaction fail, nothing is marked, and the hook writes the record
 * of the error answered instead.
 */
export const successAuditOf = (request: FastifyRequest, status: number, context: string) =>
  recordOf(request, status, null, context, new Date())

/** The request's audit record committed with its work (see `successAuditOf`). */
export const auditWritten = (request: FastifyRequest): void => {
  request.audited = true
}

/**
 * Every mutating request a context answers (POST, PUT, PATCH, DELETE; refused or not, signed in or
 * anonymous) writes one `evt.request.audited` to the context's outbox before the answer is sent, so an
 * acknowledged mutation always has its record: when the write fails, the answer is a 503 instead. The
 * tenant is the organisation the guard let the request act in; without one, the platform's own trail.
 * `writer` may be resolved late (the runtime's own routes take the first context's outbox).
 */
export function auditRequests(app: HttpApp, writer: () => AuditWriter | undefined): void {
  const auditRecord: onSendHookHandler = async (request, reply, payload) => {
    if (!mutating.has(request.method) || request.audited === true) return payload
    request.audited = true
    const target = writer()
    if (target === undefined) return payload
    const message = auditedRequestOf(request, reply, payload, target.context, new Date())
    try {
      await target.db.transaction((tx) => target.bus.publish(tx, message) as Promise<Envelope>)
    } catch (error) {
      request.log.error(
        { err: error, route: message.data.action },
        'the audit record of a request was not written',
      )
      throw new UnavailableError('the request could not be recorded in the audit trail; retry', {
        cause: error,
      })
    }
    return payload
  }
  // On the routes that take a mutating method only, so that a read runs no hook of its own here; a
  // forwarded route is recorded where it is served.
  app.addHook('onRoute', (route) => {
    if (route.config?.forwarded === true || ![route.method].flat().some((m) => mutating.has(m))) return
    route.onSend = route.onSend === undefined ? [auditRecord] : [...[route.onSend].flat(), auditRecord]
  })
}
