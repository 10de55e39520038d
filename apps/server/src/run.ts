import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { catalog as messages } from '@rxt/contracts'
import {
  applyEmbeddedMigrations,
  type ContextDefinition,
  CoreConfig,
  composeConfigSchema,
  createLogger,
  createNatsTransport,
  createPostgresLog,
  type Database,
  type DatabaseTarget,
  embeddedMigrations,
  isKitError,
  type Logger,
  migrationsDigest,
  openDatabase,
  parseConfig,
  pgliteVersion,
  preparePGliteTemplate,
  type Runtime,
  startRuntime,
} from '@rxt/kit'
import type { TObject } from 'typebox'
import { buildBundle, bundleDir } from './bundle.ts'
import { type Command, parseCommand, usage } from './cli.ts'
import { embeddedSecret } from './embedded-secret.ts'
import { defaultPublicUrl, type HeldPort, holdFreePort } from './public-url.ts'

export interface MainOptions {
  readonly argv: readonly string[]
  readonly env: Readonly<Record<string, string | undefined>>
  // biome-ignore lint/suspicious/noExplicitAny: contexts type their own config
  readonly catalog: readonly ContextDefinition<any>[]
  readonly version: string
  readonly out?: (line: string) => void
  readonly err?: (line: string) => void
}

/** A failure the user can act on: printed as one line, exit code 2. */
class UsageFailure extends Error {}

/**
 * The `rxt-deploy` command. Resolves with the exit code for commands that end; for `up` and `serve` it
 * resolves once the server listens, and the process exits from the signal handler after a graceful stop.
 */
export async function main(options: MainOptions): Promise<number | 'running'> {
  const out = options.out ?? ((line) => process.stdout.write(`${line}\n`))
  const err = options.err ?? ((line) => process.stderr.write(`${line}\n`))
  try {
    const command = parseCommand(options.argv)
    if ('error' in command) throw new UsageFailure(`${command.error}\n\n${usage}`)
    return await execute(command, options, out)
  } catch (error) {
    if (error instanceof UsageFailure || isKitError(error)) {
      err(`rxt-deploy: ${error.message}`)
      return 2
    }
    err(`rxt-deploy: ${(error as Error).stack ?? String(error)}`)
    return 1
  }
}

async function execute(command: Command, options: MainOptions, out: (line: string) => void) {
  const { catalog } = options
  // Every context's contributions, whichever contexts this process runs: they are plain code.
  const catalogExtensions = catalog.flatMap((c) => c.extensions ?? [])
  switch (command.kind) {
    case 'help':
      out(usage)
      return 0
    case 'version':
      out(options.version)
      return 0
    case 'contexts':
      for (const c of catalog) out(`${c.name}\t${c.description ?? ''}`)
      return 0
    case 'prepare': {
      const template = await embeddedTemplate(loadConfig(options), options.env, catalog)
      const schemas = await embeddedMigrations(catalog)
      await preparePGliteTemplate(template.dir, (database) => applyEmbeddedMigrations(database, schemas))
      // The templates of other builds go.
      for (const other of readdirSync(template.parent)) {
        if (other !== template.name) rmSync(join(template.parent, other), { recursive: true, force: true })
      }
      out(`the embedded database's template is ${template.dir}`)
      // Without it, starts load the sources: slower, never wrong.
      try {
        const modules = await buildBundle()
        out(`the server is bundled (${modules} modules) in ${bundleDir}`)
      } catch (error) {
        out(`the server is not bundled (starts load its sources): ${(error as Error).message}`)
      }
      return 0
    }
    case 'openapi': {
      // A throwaway runtime that lives only to print its document: throwaway keys will do.
      const config = {
        WEBHOOK_KEY: randomBytes(32).toString('base64url'),
        SECRETS_KEY: randomBytes(32).toString('base64url'),
        ...loadConfig(options),
      } as CoreConfig
      const log = createLogger({ level: 'silent' })
      const database = await openDatabase({ kind: 'pglite' }, log)
      const runtime = await startRuntime({
        contexts: catalog,
        config,
        log,
        database,
        transport: await createPostgresLog({ database }),
        catalog: messages,
        mode: 'embedded',
        version: options.version,
        extensions: catalogExtensions,
      })
      out(JSON.stringify(runtime.app.swagger(), null, 2))
      await runtime.stop()
      await database.close()
      return 0
    }
    case 'up':
    case 'serve': {
      let config = loadConfig(options)
      const contexts = command.kind === 'up' ? catalog : pick(catalog, command.contexts)
      // The embedded mode makes its own webhook and secrets keys once and keeps them beside its data.
      if (command.kind === 'up' && (config as { WEBHOOK_KEY?: string }).WEBHOOK_KEY === undefined) {
        config = {
          ...config,
          WEBHOOK_KEY: await embeddedSecret(config.RXT_DATA_DIR, 'webhook.key'),
        } as CoreConfig
      }
      if (command.kind === 'up' && (config as { SECRETS_KEY?: string }).SECRETS_KEY === undefined) {
        config = {
          ...config,
          SECRETS_KEY: await embeddedSecret(config.RXT_DATA_DIR, 'secrets.key'),
        } as CoreConfig
      }
      // And its own checkpoint signing key (an Ed25519 seed), kept the same way.
      if (
        command.kind === 'up' &&
        (config as { AUDIT_SIGNING_KEY?: string }).AUDIT_SIGNING_KEY === undefined
      ) {
        config = {
          ...config,
          AUDIT_SIGNING_KEY: await embeddedSecret(config.RXT_DATA_DIR, 'audit-signing.key'),
        } as CoreConfig
      }
      if (command.kind === 'serve' && config.DATABASE_URL === undefined) {
        throw new UsageFailure(
          'serve runs against PostgreSQL: set DATABASE_URL (postgres://user@host:5432/db)',
        )
      }
      // A first start copies the template `prepare` made for this build, if it did.
      const template = (await embeddedTemplate(config, options.env, catalog)).dir
      const target: DatabaseTarget =
        config.DATABASE_URL === undefined
          ? { kind: 'pglite', dataDir: config.RXT_DATA_DIR, template }
          : { kind: 'postgres', url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX }
      const pgdata = !existsSync(join(config.RXT_DATA_DIR, 'pgdata', 'PG_VERSION'))
        ? existsSync(join(template, 'PG_VERSION'))
          ? 'copied from the template'
          : 'made (no template: rxt-deploy prepare makes one)'
        : 'existing'
      const log = createLogger({ level: config.LOG_LEVEL, base: { service: 'rxt-deploy' } })
      // Where a start's time goes, in the serving line: the modules (from the process's start), the
      // database, the contexts (migration checks, routes, start hooks), the port and the background work.
      const marks = [performance.now()]
      const database = await openDatabase(target, log)
      marks.push(performance.now())
      let runtime: Runtime
      let held: HeldPort | undefined
      try {
        // PUBLIC_URL, unset, is where this server listens. With PORT=0 the port is taken now and held
        // until the server listens on it: the contexts make their URLs as they start.
        if (config.PORT === 0) {
          held = await holdFreePort(config.HOST)
          config = { ...config, PORT: held.port }
        }
        config = defaultPublicUrl(config, options.env)
        const transport =
          config.NATS_URL === undefined
            ? await createPostgresLog({ database, exclusive: database.kind === 'pglite' })
            : await createNatsTransport({
                url: config.NATS_URL,
                namespace: config.BUS_NAMESPACE,
                log,
                maxAgeMs: config.BUS_NATS_MAX_AGE_HOURS * 3_600_000,
                maxBytes: config.BUS_NATS_MAX_BYTES,
                replicas: config.BUS_NATS_REPLICAS,
                duplicateWindowMs: config.BUS_NATS_DUPLICATE_WINDOW_MS,
              })
        runtime = await startRuntime({
          contexts,
          config,
          log,
          database,
          transport,
          catalog: messages,
          mode: command.kind === 'up' ? 'embedded' : 'distributed',
          version: options.version,
          extensions: catalogExtensions,
          // The port answers (/healthz) while the consumers and jobs start; /readyz waits for them.
          background: 'after-listen',
        })
      } catch (error) {
        await held?.release()
        await database.close()
        throw error
      }
      marks.push(performance.now())
      await held?.release()
      // Before the port opens: a signal while the consumers start stops the server gracefully too.
      stopOnSignals(runtime, database, log, config.SHUTDOWN_TIMEOUT_MS)
      let address: string
      try {
        address = await runtime.listen()
        marks.push(performance.now())
      } catch (error) {
        await runtime.stop().catch(() => undefined)
        await database.close()
        throw error
      }
      log.info(
        {
          address,
          mode: runtime.info.mode,
          database: database.kind,
          bus: runtime.bus.transport.kind,
          ...(database.kind === 'pglite' ? { dataDir: config.RXT_DATA_DIR, pgdata } : {}),
          contexts: runtime.info.contexts,
          startMs: {
            modules: Math.round(marks[0] as number),
            database: Math.round((marks[1] as number) - (marks[0] as number)),
            contexts: Math.round((marks[2] as number) - (marks[1] as number)),
            listenAndBackground: Math.round((marks[3] as number) - (marks[2] as number)),
            total: Math.round(marks[3] as number),
          },
        },
        'rxt-deploy is serving',
      )
      return 'running'
    }
  }
}

/**
 * Where `prepare` keeps the template of the embedded database for this build: named by the PGlite
 * version and the digest of every migration `up` applies, so that a build with other migrations never
 * starts from it.
 */
async function embeddedTemplate(
  config: CoreConfig,
  env: MainOptions['env'],
  // biome-ignore lint/suspicious/noExplicitAny: contexts type their own config
  catalog: readonly ContextDefinition<any>[],
) {
  const cache =
    config.RXT_CACHE_DIR ??
    join(
      env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== ''
        ? env.XDG_CACHE_HOME
        : join(homedir(), '.cache'),
      'rxt-deploy',
    )
  const parent = resolve(cache, 'pglite-templates')
  const name = `${pgliteVersion()}-${migrationsDigest(await embeddedMigrations(catalog)).slice(0, 16)}`
  return { parent, name, dir: join(parent, name) }
}

function loadConfig(options: MainOptions): CoreConfig {
  const parts = [
    CoreConfig,
    ...options.catalog.flatMap((c) => (c.config === undefined ? [] : [c.config as TObject])),
  ]
  return parseConfig(composeConfigSchema(parts), options.env) as CoreConfig
}

// biome-ignore lint/suspicious/noExplicitAny: contexts type their own config
function pick(catalog: readonly ContextDefinition<any>[], names: readonly string[]) {
  const known = new Map(catalog.map((c) => [c.name, c]))
  const unknown = names.filter((n) => !known.has(n))
  if (unknown.length > 0) {
    throw new UsageFailure(
      `unknown context ${unknown.join(', ')}; this build has ${[...known.keys()].join(', ')}`,
    )
  }
  // Keep catalog order: it is the start order.
  return catalog.filter((c) => names.includes(c.name))
}

/**
 * SIGTERM or SIGINT: stop taking connections, let in-flight requests finish, stop the contexts, close
 * the database, exit 0. Past SHUTDOWN_TIMEOUT_MS, or on a second signal, exit 1 at once.
 */
function stopOnSignals(runtime: Runtime, database: Database, log: Logger, timeoutMs: number): void {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal while stopping; exiting now')
      process.exit(1)
    }
    stopping = true
    log.info({ signal }, 'stopping: draining in-flight requests')
    const timer = setTimeout(() => {
      log.error({ timeoutMs }, 'stop timed out; exiting')
      process.exit(1)
    }, timeoutMs)
    timer.unref()
    runtime
      .stop()
      .then(() => database.close())
      .then(
        () => {
          log.info('stopped')
          process.exit(0)
        },
        (error: unknown) => {
          log.error({ err: error }, 'stop failed')
          process.exit(1)
        },
      )
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}
