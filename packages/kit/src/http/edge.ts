import { once } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import cors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import type { FastifyReply, onRequestHookHandler, onResponseHookHandler } from 'fastify'
import helmet from 'helmet'
import { Redis } from 'ioredis'
import { actorOf } from '../auth/access.ts'
import type { Logger } from '../log.ts'
import type { HttpApp } from './app.ts'

export interface EdgeOptions {
  /** Requests a minute per API key, organisation, signed-in user or anonymous address. */
  readonly perMinute: number
  /** Failed authentications a minute per client address before its credentials are refused. */
  readonly authFailuresPerMinute: number
  /** Shared counters for replicas; in this process when undefined. */
  readonly redisUrl: string | undefined
  /** Browser origins allowed to call the API; none when empty. */
  readonly corsOrigins: readonly string[]
  readonly log: Logger
}

/**
 * What every request meets at the edge: security headers, the CORS allow-list, and rate limits. The
 * limit is counted after the guard (it knows the caller): per API key, else per organisation, else per
 * signed-in user, else per address; 429 problem+json with Retry-After past it.
 */
export async function registerEdge(app: HttpApp, options: EdgeOptions): Promise<{ close(): Promise<void> }> {
  const security = securityHeaders()
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(security)
    done()
  })
  // No allow-list, no CORS headers: browsers then refuse every cross-origin call.
  if (options.corsOrigins.length > 0)
    await app.register(cors, {
      origin: [...options.corsOrigins],
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      // last-event-id: a cross-origin console resumes a deployment's event stream with it.
      allowedHeaders: [
        'authorization',
        'content-type',
        'idempotency-key',
        'last-event-id',
        'x-request-id',
        'x-rxt-org',
      ],
      exposedHeaders: [
        'x-request-id',
        'retry-after',
        'x-ratelimit-limit',
        'x-ratelimit-remaining',
        'x-ratelimit-reset',
      ],
      maxAge: 600,
    })
  const redis =
    options.redisUrl === undefined
      ? undefined
      : new Redis(options.redisUrl, {
          connectTimeout: 1_000,
          maxRetriesPerRequest: 1,
          enableOfflineQueue: false,
        })
  redis?.on('error', (error) => options.log.warn({ err: { message: error.message } }, 'redis unavailable'))
  if (redis !== undefined) {
    // Counting starts connected; a Redis that does not answer in time is waited for in the background.
    const ready = await Promise.race([once(redis, 'ready').then(() => true), sleep(2_000).then(() => false)])
    if (!ready) options.log.warn('redis not ready: rate limits are not counted until it is')
  }
  await app.register(rateLimit, {
    hook: 'preHandler',
    max: options.perMinute,
    timeWindow: 60_000,
    ...(redis === undefined ? {} : { redis, nameSpace: 'rxt-rate-' }),
    // A limit that cannot be counted (Redis down) lets the request through rather than failing it.
    skipOnError: true,
    keyGenerator: (request) => {
      const p = request.principal
      if (p?.kind === 'api-key') return `key:${p.id}`
      if (request.orgId !== undefined) return `org:${request.orgId}`
      if (p !== undefined) return actorOf(p)
      return `ip:${request.ip}`
    },
    errorResponseBuilder: (_request, context) =>
      Object.assign(
        new Error(`rate limit of ${context.max} requests a minute reached; retry in ${context.after}`),
        {
          statusCode: 429,
          code: 'rate-limited',
        },
      ),
  })
  limitFailedAuthentication(app, options.authFailuresPerMinute)
  return {
    close: async () => {
      if (redis !== undefined) await redis.quit().catch(() => redis.disconnect())
    },
  }
}

/**
 * Guessing credentials is slowed per client address (an IPv6 client per /64, what one host is given).
 * A sign-in (a route with `config.signIn`: login, refresh) counts when it starts, right or wrong, so
 * that parallel guesses cannot all pass one check; a request with an Authorization header counts when
 * it is answered 401. Past the limit, every sign-in and every request with a credential from that
 * address is answered 429 until its minute is over, so a lucky guess tells nothing. A request with no
 * credential costs nothing extra. On Redis, the check is one more round trip per such request.
 */
function limitFailedAuthentication(app: HttpApp, perMinute: number): void {
  const attempts = app.createRateLimit({
    max: perMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => `auth-failures:${addressKey(request.ip)}`,
  })
  const refuse = (reply: FastifyReply, ttlInSeconds: number) => {
    reply.header('retry-after', String(ttlInSeconds))
    return Object.assign(
      new Error(`too many failed authentications from this address; retry in ${ttlInSeconds} seconds`),
      { statusCode: 429, code: 'rate-limited' },
    )
  }
  // A sign-in past `perMinute` is refused.
  const signIn: onRequestHookHandler = (request, reply, done) => {
    attempts(request).then((status) => {
      done(status.isAllowed || !status.isExceeded ? undefined : refuse(reply, status.ttlInSeconds))
    }, done)
  }
  // So is any credential once `perMinute` failures are spent; a request without one costs nothing.
  const credential: onRequestHookHandler = (request, reply, done) => {
    if (request.headers.authorization === undefined) return done()
    attempts(request, { increment: false }).then((status) => {
      done(status.isAllowed || status.remaining > 0 ? undefined : refuse(reply, status.ttlInSeconds))
    }, done)
  }
  const failed: onResponseHookHandler = (request, reply, done) => {
    if (reply.statusCode !== 401 || request.headers.authorization === undefined) return done()
    attempts(request).then(() => done(), done)
  }
  // Bound per route when it is registered (whether it signs in is known then), first among its hooks:
  // before the guard authenticates. A path no route serves answers 404 whatever the credential.
  app.addHook('onRoute', (route) => {
    const isSignIn = route.config?.signIn === true
    const check = isSignIn ? signIn : credential
    route.onRequest = route.onRequest === undefined ? [check] : [check, ...[route.onRequest].flat()]
    if (!isSignIn)
      route.onResponse = route.onResponse === undefined ? [failed] : [failed, ...[route.onResponse].flat()]
  })
}

/** The address a limit counts: IPv4 as it is, IPv6 by its /64 (the first four groups). */
export function addressKey(ip: string): string {
  if (!ip.includes(':')) return ip
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped !== null) return mapped[1] as string
  const [head = '', tail = ''] = ip.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = ip.includes('::') ? (tail === '' ? [] : tail.split(':')) : []
  const groups = ip.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`
}

/**
 * Helmet's headers, computed once: with no per-request nonce they are the same on every response, and
 * setting a fixed set is cheaper than running helmet's middleware per request. The API answers JSON
 * only and the rendered /docs page needs its own scripts, so there is no Content-Security-Policy.
 */
function securityHeaders(): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: unknown) => {
      headers[name.toLowerCase()] = String(value)
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()]
    },
  }
  helmet({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false })(
    {} as IncomingMessage,
    response as unknown as ServerResponse,
    () => undefined,
  )
  return headers
}
