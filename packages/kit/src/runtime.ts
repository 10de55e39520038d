import { createHash, randomUUID } from 'node:crypto'
import type { MessageCatalog } from '@rxt/contracts'
import { Registry } from 'prom-client'
import { type Authenticator, guardRoutes } from './auth/guard.ts'
import { createRemoteAuthenticator } from './auth/remote.ts'
import { registerBusAdminRoutes } from './bus/admin-routes.ts'
import { type Bus, createBus } from './bus/bus.ts'
import { logMigrations } from './bus/postgres-log.ts'
import type { Transport } from './bus/transport.ts'
import { type Clock, systemClock } from './clock.ts'
import type { CoreConfig } from './config.ts'
import type { ContextDefinition, ContextDeps, RuntimeInfo } from './context.ts'
import { type Database, loadMigrations, type Migration } from './db/index.ts'
import { InputError, UnavailableError } from './errors.ts'
import { type Extension, extensionsOf } from './extensions.ts'
import { createHttpApp, type HttpApp } from './http/app.ts'
import { type AuditWriter, auditRequests } from './http/audit.ts'
import { registerEdge } from './http/edge.ts'
import { idempotentRoutes, pruneIdempotency } from './http/idempotency.ts'
import type { Logger } from './log.ts'
import {
  createLocalCredentials,
  createPeers,
  type PeersOptions,
  parseContextUrls,
  withLocalCredentials,
} from './peers.ts'

export interface RuntimeOptions {
  // biome-ignore lint/suspicious/noExplicitAny: each context types its own config; the runtime passes the merged object
  readonly contexts: readonly ContextDefinition<any>[]
  readonly config: CoreConfig
  readonly log: Logger
  readonly database: Database
  /** The bus's transport; the runtime closes it when it stops. */
  readonly transport: Transport
  /** Every message type the bus accepts. */
  readonly catalog: MessageCatalog
  readonly mode: RuntimeInfo['mode']
  readonly version: string
  readonly clock?: Clock
  /**
   * Every contribution to extension points in this build (the app gathers them from its whole
   * catalog); the contexts' own when absent.
   */
  readonly extensions?: readonly Extension<unknown>[]
  /**
   * When the background work starts (the bus's consumers and relays, the contexts' `ready` hooks and
   * periodic jobs): before `startRuntime` resolves (the default), or once `listen` has the port. A
   * server started the second way answers /healthz while they start, and /readyz says what is starting
   * until they have; `listen` resolves once they have.
   */
  readonly background?: 'at-start' | 'after-listen'
}

export interface Runtime {
  readonly app: HttpApp
  readonly info: RuntimeInfo
  readonly bus: Bus
  /** Starts listening on config HOST:PORT (then the background work, if it waits for it); resolves to the address. */
  listen(): Promise<string>
  /** Stops taking requests, waits for those in flight, then stops the contexts in reverse order. */
  stop(): Promise<void>
}

/**
 * Runs a set of contexts in this process: migrates each, hands it its dependencies, mounts its routes
 * under /v1 and starts it. The same code serves `up` (all contexts, embedded) and `serve` (a few).
 */
export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config, database, log } = options
  const names = options.contexts.map((c) => c.name)
  const duplicate = names.find((name, i) => names.indexOf(name) !== i)
  if (duplicate !== undefined) throw new InputError(`context ${duplicate} is listed twice`)

  const info: RuntimeInfo = {
    version: options.version,
    commit: config.RXT_BUILD_COMMIT,
    mode: options.mode,
    database: database.kind,
    bus: options.transport.kind,
    contexts: names,
    instanceId: randomUUID(),
    startedAt: (options.clock ?? systemClock).now(),
  }
  const metrics = new Registry()
  metrics.setDefaultLabels({ instance_id: info.instanceId })
  const app = await createHttpApp({
    log,
    metrics,
    title: 'RXT Deploy',
    version: options.version,
    description: `The RXT Deploy control plane API (contexts: ${names.join(', ')}).`,
    trustedProxies: config.TRUSTED_PROXIES.split(',')
      .map((p) => p.trim())
      .filter((p) => p !== ''),
    readiness: [
      { name: 'database', check: () => database.ping() },
      {
        name: 'bus',
        check: async () => {
          if (!backgroundStarted)
            throw new UnavailableError('the bus is starting its consumers and the contexts their ready work')
          await options.transport.ping()
        },
        warning: () => {
          const near = bus.nearLimits()
          return near.length === 0
            ? undefined
            : `${near.length} stream${near.length === 1 ? ' is' : 's are'} past 80% of ${near.length === 1 ? 'its' : 'their'} limits (rxt_bus_stream_limit_ratio): a full stream refuses publishes, an old message is deleted whether or not it was consumed`
        },
      },
    ],
  })
  const clock = options.clock ?? systemClock
  const bus = createBus({
    transport: options.transport,
    catalog: options.catalog,
    log: log.child({ component: 'bus' }),
    metrics,
    clock,
    maxDeliveries: config.BUS_MAX_DELIVERIES,
    ackWaitMs: config.BUS_ACK_WAIT_MS,
    handlerTimeoutMs: config.BUS_HANDLER_TIMEOUT_MS,
    backoff: { baseMs: config.BUS_RETRY_BASE_MS, maxMs: config.BUS_RETRY_MAX_MS },
    retentionMs: config.BUS_RETENTION_HOURS * 3_600_000,
    // One process on its database: it hears of every write, so its idle relays and retry loops look
    // seldom (what it commits or holds wakes them at once).
    ...(database.kind === 'pglite' ? { idle: { relayPollMs: 2_000, heldPollMs: 10_000 } } : {}),
  })
  const edge = await registerEdge(app, {
    perMinute: config.RATE_LIMIT_PER_MINUTE,
    authFailuresPerMinute: config.AUTH_FAILURES_PER_MINUTE,
    redisUrl: config.REDIS_URL,
    corsOrigins: config.CORS_ORIGINS.split(',')
      .map((o) => o.trim())
      .filter((o) => o !== ''),
    log,
  })
  let authenticator: Authenticator | undefined
  // The contexts of this process call each other with a credential only this process accepts.
  const localCredentials = createLocalCredentials()
  const authenticate = withLocalCredentials(localCredentials, () => authenticator)
  const peerOptions: PeersOptions = {
    local: new Set(names),
    inject: async (request) => {
      const res = await app.inject(request)
      return {
        status: res.statusCode,
        headers: Object.fromEntries(
          Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]),
        ),
        body: res.body,
      }
    },
    urls: parseContextUrls(config.CONTEXT_URLS),
    credentials: localCredentials,
    remoteCredential: config.SERVICE_CREDENTIAL,
  }
  const providers = options.contexts.filter((c) => c.authenticator !== undefined).map((c) => c.name)
  if (providers.length > 1)
    throw new InputError(`only one context may authenticate; ${providers.join(', ')} do`)
  // The runtime's own mutating routes (the bus's administration) are recorded through the first
  // context's outbox: they belong to the platform's trail, whichever outbox carries them.
  let runtimeAudit: AuditWriter | undefined
  await app.register(
    async (scope) => {
      guardRoutes(scope as HttpApp, authenticate)
      auditRequests(scope as HttpApp, () => runtimeAudit)
      registerBusAdminRoutes(scope as HttpApp, bus)
    },
    { prefix: '/v1' },
  )
  const kitMigrations = await busMigrations()
  const extensions = extensionsOf(
    options.extensions ?? options.contexts.flatMap((c) => (c.extensions ?? []) as Extension<unknown>[]),
  )

  const started: { definition: ContextDefinition<unknown>; deps: ContextDeps<unknown> }[] = []
  const stopContexts = async () => {
    for (const { definition, deps } of started.reverse()) {
      try {
        await definition.stop?.(deps)
      } catch (error) {
        deps.log.error({ err: error }, 'context failed to stop')
      }
    }
    started.length = 0
  }

  // The contexts' periodic jobs: one turn at a time each, failures logged.
  const startJobs = () =>
    started.flatMap(({ definition, deps }) =>
      (definition.jobs?.(deps) ?? []).map((job) => {
        let running = false
        const turn = () => {
          if (running) return
          running = true
          job
            .run()
            .catch((error: unknown) =>
              deps.log.warn({ err: error, job: job.name }, 'job failed; it runs again'),
            )
            .finally(() => {
              running = false
            })
        }
        const timer = setInterval(turn, job.everyMs)
        timer.unref()
        if (job.atStart === true) turn()
        return timer
      }),
    )
  let jobTimers: NodeJS.Timeout[] = []
  let backgroundStarted = false
  let stopped = false
  let background: Promise<void> | undefined
  // Once: `stop` waits for it, and jobs never start on a runtime that stopped meanwhile.
  const startBackground = () => {
    background ??= (async () => {
      // The contexts' ready work first, so that no handler meets a context still warming (a policy
      // bundle not loaded, providers not announced); each runs to its end before a failure is told.
      const outcomes = await Promise.allSettled(
        started.map(({ definition, deps }) => (async () => definition.ready?.(deps))()),
      )
      const failed = outcomes.find((o) => o.status === 'rejected')
      if (failed !== undefined) throw failed.reason
      if (stopped) return
      await bus.start()
      if (stopped) return
      jobTimers = startJobs()
      backgroundStarted = true
    })()
    return background
  }

  try {
    // Every context's migrations read at once, and checked at once: a start that finds them applied
    // reads nothing more per context.
    const migrationsOf = await Promise.all(
      options.contexts.map((definition) =>
        definition.migrations instanceof URL
          ? loadMigrations(definition.migrations)
          : Promise.resolve(definition.migrations ?? []),
      ),
    )
    await database.expect(
      options.contexts.map((definition, i) => ({
        name: definition.name,
        migrations: migrationsOf[i] ?? [],
        kitMigrations,
      })),
    )
    for (const [i, definition] of options.contexts.entries()) {
      const migrations = migrationsOf[i] ?? []
      const db = await database.openContext(definition.name, migrations, { kitMigrations })
      const contextBus = bus.attach(definition.name, db)
      const audit: AuditWriter = { context: definition.name, db, bus: contextBus }
      runtimeAudit ??= { ...audit, context: 'runtime' }
      const deps: ContextDeps<unknown> = {
        name: definition.name,
        db,
        log: log.child({ context: definition.name }),
        config,
        clock,
        metrics,
        runtime: info,
        bus: contextBus,
        extensions,
        peer: createPeers(peerOptions, definition.name),
      }
      if (definition.routes !== undefined) {
        const routes = definition.routes
        await app.register(
          async (scope) => {
            scope.addHook('onRoute', (route) => {
              route.schema = { ...route.schema, tags: [definition.name] }
            })
            guardRoutes(scope as HttpApp, authenticate)
            // Before the idempotency hooks: a 503 for a record not written drops the key's claim.
            auditRequests(scope as HttpApp, () => audit)
            idempotentRoutes(scope as HttpApp, db)
            await routes(scope as HttpApp, deps)
          },
          { prefix: '/v1' },
        )
      }
      if (definition.authenticator !== undefined) authenticator = definition.authenticator(deps)
      if (definition.handlers !== undefined) await bus.subscribe(definition.name, definition.handlers(deps))
      await definition.start?.(deps)
      started.push({ definition, deps })
    }
    // The sites after every context's /v1 routes (context.ts, ADR 0027).
    for (const { definition, deps } of started) {
      const site = definition.site
      if (site !== undefined) await app.register(async (scope) => site(scope as HttpApp, deps))
    }
    // Without the identity context here, authenticate through the process that runs it.
    if (authenticator === undefined && config.IDENTITY_URL !== undefined) {
      authenticator = createRemoteAuthenticator({ url: config.IDENTITY_URL })
    }
    await app.ready()
    if (options.background !== 'after-listen') await startBackground()
  } catch (error) {
    await bus.stop().catch(() => undefined)
    await stopContexts()
    await app.close().catch(() => undefined)
    await edge.close()
    await options.transport.close().catch(() => undefined)
    throw error
  }

  // Stored idempotent responses past their 24 hours go, every ten minutes.
  const pruner = setInterval(() => {
    for (const { deps } of started) {
      pruneIdempotency(deps.db).catch((error: unknown) =>
        deps.log.warn({ err: error }, 'pruning idempotency keys failed'),
      )
    }
  }, 10 * 60_000)
  pruner.unref()

  return {
    app,
    info,
    bus,
    async listen() {
      const address = await app.listen({ host: config.HOST, port: config.PORT })
      if (!backgroundStarted) await startBackground()
      return address
    },
    async stop() {
      stopped = true
      clearInterval(pruner)
      await app.close()
      // A background start in progress (a stop right after the port opened) ends first.
      await background?.catch(() => undefined)
      for (const timer of jobTimers) clearInterval(timer)
      // Handlers in hand finish and the relays send what committed before the contexts stop.
      await bus.stop()
      await stopContexts()
      await edge.close()
      await options.transport.close()
    },
  }
}

/** The migrations of one schema a start applies: a context's own and the kit's tables beside them. */
export interface SchemaMigrations {
  readonly name: string
  readonly migrations: readonly Migration[]
  readonly kit: readonly Migration[]
}

/**
 * Every schema a start of `contexts` on the embedded database migrates, in the order it does: the bus's
 * log, then each context (its own migrations and the kit's tables).
 */
export async function embeddedMigrations(
  // biome-ignore lint/suspicious/noExplicitAny: contexts type their own config
  contexts: readonly ContextDefinition<any>[],
): Promise<SchemaMigrations[]> {
  const kit = await busMigrations()
  return [
    { name: 'bus', migrations: await logMigrations(), kit: [] },
    ...(await Promise.all(
      contexts.map(async (c) => ({
        name: c.name,
        migrations: c.migrations instanceof URL ? await loadMigrations(c.migrations) : (c.migrations ?? []),
        kit,
      })),
    )),
  ]
}

/** Applies them (what a first start would), e.g. to make a template of the embedded database. */
export async function applyEmbeddedMigrations(
  database: Database,
  schemas: readonly SchemaMigrations[],
): Promise<void> {
  for (const s of schemas) await database.openContext(s.name, s.migrations, { kitMigrations: s.kit })
}

/** Names what they make: the same digest for the same migrations, in the same order. */
export const migrationsDigest = (schemas: readonly SchemaMigrations[]): string =>
  createHash('sha256')
    .update(
      JSON.stringify(
        schemas.map((s) => [s.name, s.migrations.map((m) => m.checksum), s.kit.map((m) => m.checksum)]),
      ),
    )
    .digest('hex')

/** The tables the kit keeps in every context's schema: outbox, inbox, dead letters, idempotency keys. */
const busMigrations = (): Promise<Migration[]> =>
  loadMigrations(new URL('./migrations/context/', import.meta.url))
