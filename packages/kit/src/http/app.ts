import { randomUUID } from 'node:crypto'
import swagger from '@fastify/swagger'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import scalar from '@scalar/fastify-api-reference'
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  LogController,
  type onRequestHookHandler,
  type onResponseHookHandler,
} from 'fastify'
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client'
import Type from 'typebox'
import { InputError, NotFoundError, UnavailableError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { withScope } from '../scope.ts'
import { answerNodeRefusals, clientErrorHandler, frameworkErrors, maxHeaderBytes } from './client-errors.ts'
import { Problem, problemContentType, problemResponse, toProblem } from './problem.ts'
import { createDeferredCompilations, createSerializerFactory, createValidatorFactory } from './validation.ts'

export type HttpApp = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>

export interface ReadinessCheck {
  readonly name: string
  /** Resolves when the dependency answers, throws when it does not. */
  readonly check: () => Promise<void>
  /**
   * What is wrong with the dependency while it still answers (it nears a limit), or undefined: shown
   * in `warnings`, and readiness holds.
   */
  readonly warning?: () => string | undefined
}

export interface HttpAppOptions {
  readonly log: Logger
  readonly title: string
  readonly version: string
  readonly description?: string
  readonly readiness: readonly ReadinessCheck[]
  /** The registry /metrics serves; a new one when not given. */
  readonly metrics?: Registry
  readonly bodyLimit?: number
  /**
   * Addresses (or CIDR ranges) of proxies whose X-Forwarded-For is believed: the gateway in front of a
   * context. Empty: the peer's address is the client's.
   */
  readonly trustedProxies?: readonly string[]
}

const requestIdPattern = /^[A-Za-z0-9._:@/+=-]{1,128}$/

const Status = Type.Object({ status: Type.String() })
const Ready = Type.Object({
  status: Type.String(),
  checks: Type.Record(Type.String(), Type.String()),
  warnings: Type.Optional(Type.Record(Type.String(), Type.String())),
})

/** Probes and scrapes are not worth an info line each; their failures still are. */
const quiet = { config: { quiet: true } } as const

declare module 'fastify' {
  interface FastifyContextConfig {
    /** No "request completed" line for this route (probes, scrapes); errors are still logged. */
    quiet?: boolean
    /** The path holds a secret (an invite token): its request lines name the route, not the URL. */
    secretPath?: boolean
    /**
     * A public route whose body is a credential (a password, a refresh token): its 401s count as failed
     * authentications of the caller's address (see http/edge.ts).
     */
    signIn?: boolean
  }
}

/**
 * The Fastify app every process serves: TypeBox types, X-Request-Id in and out, one scope per request
 * (correlationId in every log line), problem+json errors, health, readiness, Prometheus metrics and
 * one OpenAPI 3.1 document of every route registered on it.
 */
export async function createHttpApp(options: HttpAppOptions): Promise<HttpApp> {
  // Validators and serializers are compiled on first use, and the rest once the app listens: a start
  // compiles none of the few hundred (see validation.ts).
  const deferred = createDeferredCompilations()
  const app = Fastify({
    loggerInstance: options.log as FastifyBaseLogger,
    // One line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    // The request's scope puts correlationId on every line (see log.ts), so a request needs no child
    // logger of its own unless its route sets another level.
    childLoggerFactory: (logger, _bindings, options) =>
      options.level === undefined || options.level === logger.level ? logger : logger.child({}, options),
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID()
    },
    bodyLimit: options.bodyLimit ?? 1_048_576,
    trustProxy:
      options.trustedProxies === undefined || options.trustedProxies.length === 0
        ? false
        : [...options.trustedProxies],
    // Report every violation of a request at once, not only the first (bodies are capped by bodyLimit).
    ajv: { customOptions: { allErrors: true } },
    // Fastify's validators, each of which also refuses NUL characters, and its serializers (validation.ts).
    schemaController: {
      compilersFactory: {
        buildValidator: createValidatorFactory(deferred),
        buildSerializer: createSerializerFactory(deferred),
      },
    },
    return503OnClosing: true,
    // Requests refused before they reach a route get a problem document too (client-errors.ts).
    clientErrorHandler: clientErrorHandler(options.log),
    frameworkErrors,
    // Node's 400 for a missing Host has no body; the onRequest hook below answers it.
    http: { requireHostHeader: false, maxHeaderSize: maxHeaderBytes },
  }).withTypeProvider<TypeBoxTypeProvider>()
  answerNodeRefusals(app.server)
  app.addHook('onListen', (done) => {
    done()
    void deferred.compileAll().then((failures) => {
      for (const { route, error } of failures)
        options.log.error({ err: error, route }, 'a schema of this route does not compile: its requests fail')
    })
  })

  const metrics = options.metrics ?? new Registry()
  collectDefaultMetrics({ register: metrics })
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [metrics],
  })

  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    if (
      request.raw.httpVersionMajor === 1 &&
      request.raw.httpVersionMinor === 1 &&
      request.headers.host === undefined
    )
      return done(new InputError('an HTTP/1.1 request must name its Host (RFC 9112, section 3.2)'))
    done()
  })
  // A request's scope (correlationId on every log line and, later, on every event it causes) is
  // opened per route, so that probes and scrapes, which log and cause nothing, skip it.
  const openScope: onRequestHookHandler = (request, _reply, done) => {
    withScope({ correlationId: request.id }, done)
  }

  // While stopping, a keep-alive connection closes as soon as its answer is sent, so that an idle
  // client cannot hold the drain open (at no cost per request).
  app.addHook('preClose', (done) => {
    app.server.keepAliveTimeout = 1
    done()
  })
  // The request line holds only the fields below, none of them a secret: it skips the redaction
  // every other line goes through (a tenth of a request's CPU). A URL never names a secret in its keys;
  // the routes whose path holds one set secretPath.
  const lineLog = (options.log as Logger).child({}, { redact: { paths: [] } })
  // Each route gets its own onResponse hook with its label and quietness bound once, rather than
  // reading request.routeOptions (rebuilt on every access) per request.
  const completed =
    (route: string, quiet: boolean, secretPath = false): onResponseHookHandler =>
    (request, reply, done) => {
      duration.observe(
        { method: request.method, route, status_code: reply.statusCode },
        reply.elapsedTime / 1000,
      )
      if (!quiet && (request.log as Logger).isLevelEnabled('info')) {
        lineLog.info(
          {
            method: request.method,
            url: secretPath ? route : request.url,
            route,
            statusCode: reply.statusCode,
            ms: Math.round(reply.elapsedTime * 10) / 10,
          },
          'request completed',
        )
      }
      done()
    }
  app.addHook('onRoute', (route) => {
    const quiet = route.config?.quiet === true
    const hook = completed(route.url, quiet, route.config?.secretPath === true)
    route.onResponse = route.onResponse === undefined ? [hook] : [...[route.onResponse].flat(), hook]
    if (!quiet)
      route.onRequest = route.onRequest === undefined ? [openScope] : [openScope, ...[route.onRequest].flat()]
  })
  const unmatched = completed('unmatched', false)

  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error, request.url, request.id)
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.info({ code: problem.code, status: problem.status }, 'request rejected')
    if (problem.status === 503) reply.header('retry-after', '5')
    return reply.code(problem.status).type(problemContentType).send(problem)
  })
  app.setNotFoundHandler((request, reply) => {
    reply.raw.once('finish', () => unmatched.call(app, request, reply, () => undefined))
    const error = new NotFoundError(`no route for ${request.method} ${request.url.split('?')[0]}`)
    return reply
      .code(404)
      .type(problemContentType)
      .send(toProblem(error, request.url, request.id))
  })

  app.addSchema(Problem)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: options.title, version: options.version, description: options.description ?? '' },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'An access token from POST /v1/auth/login (EdDSA, 15 minutes)',
          },
          apiKey: {
            type: 'apiKey',
            in: 'header',
            name: 'Authorization',
            description: 'An API key of one organisation: `Authorization: ApiKey <key>`',
          },
          service: {
            type: 'apiKey',
            in: 'header',
            name: 'Authorization',
            description:
              'A service credential, for one context of the platform calling another: `Authorization: Service <credential>`; it acts in the organisation it names (the path or X-Rxt-Org) with the permissions it was issued with',
          },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
  })

  const operations = { tags: ['operations'] }
  app.get(
    '/healthz',
    {
      ...quiet,
      schema: {
        ...operations,
        summary: 'Liveness: the process serves requests',
        description: 'Unauthenticated by design: probes carry no credentials, and the answer says nothing.',
        security: [],
        response: { 200: Status },
      },
    },
    async () => ({ status: 'ok' }),
  )
  app.get(
    '/readyz',
    {
      ...quiet,
      schema: {
        ...operations,
        summary: 'Readiness: the database (and bus) answer',
        description:
          'Unauthenticated by design (probes). 503 with a problem document while a dependency is down; `warnings` names a dependency that answers but nears a limit (readiness holds).',
        security: [],
        response: { 200: Ready, 503: problemResponse('A dependency is unavailable') },
      },
    },
    async (request) => {
      const checks: Record<string, string> = {}
      const failed: string[] = []
      await Promise.all(
        options.readiness.map(async ({ name, check }) => {
          try {
            await check()
            checks[name] = 'ok'
          } catch (error) {
            checks[name] = 'unavailable'
            failed.push(name)
            request.log.warn({ check: name, err: error }, 'readiness check failed')
          }
        }),
      )
      if (failed.length > 0) throw new UnavailableError(`not ready: ${failed.sort().join(', ')} unavailable`)
      const warnings: Record<string, string> = {}
      for (const { name, warning } of options.readiness) {
        const text = warning?.()
        if (text !== undefined) warnings[name] = text
      }
      return Object.keys(warnings).length === 0
        ? { status: 'ok', checks }
        : { status: 'ok', checks, warnings }
    },
  )
  app.get(
    '/metrics',
    {
      ...quiet,
      schema: {
        ...operations,
        summary: 'Prometheus metrics',
        description:
          'Unauthenticated so that a scraper on the management network can read it; it carries counts and timings only, never tenant data. Bind HOST to a private address.',
        security: [],
        produces: ['text/plain'],
      },
    },
    async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()),
  )
  app.get('/openapi.json', { ...quiet, schema: { hide: true } }, async () => app.swagger())
  await app.register(scalar, {
    routePrefix: '/docs',
    configuration: { url: '/openapi.json' },
    logLevel: 'warn',
  })

  return app
}
