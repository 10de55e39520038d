import type { Registry } from 'prom-client'
import type { TObject } from 'typebox'
import type { Authenticator } from './auth/guard.ts'
import type { ContextBus, MessageHandler } from './bus/index.ts'
import type { Clock } from './clock.ts'
import type { CoreConfig } from './config.ts'
import type { ContextDb, Migration } from './db/index.ts'
import type { Extension, Extensions } from './extensions.ts'
import type { HttpApp } from './http/app.ts'
import type { Logger } from './log.ts'
import type { PeersOf } from './peers.ts'

/** What the process knows about itself; the system context reports it. */
export interface RuntimeInfo {
  readonly version: string
  readonly commit: string | undefined
  readonly mode: 'embedded' | 'distributed'
  readonly database: 'pglite' | 'postgres'
  readonly bus: 'nats' | 'postgres-log'
  readonly contexts: readonly string[]
  readonly instanceId: string
  readonly startedAt: Date
}

/** Everything a context is given; it reaches nothing else. */
export interface ContextDeps<C = CoreConfig> {
  readonly name: string
  readonly db: ContextDb
  readonly log: Logger
  readonly config: C
  readonly clock: Clock
  readonly metrics: Registry
  readonly runtime: RuntimeInfo
  /** Publishes in the context's transactions (outbox); handlers are declared on the definition. */
  readonly bus: ContextBus
  /** What the build's contexts contributed to an extension point (every context's, run here or not). */
  readonly extensions: Extensions
  /** Another context's HTTP API, called as this context (peers.ts): its published client takes it. */
  readonly peer: PeersOf
}

export interface ContextDefinition<C = CoreConfig> {
  /** Lower-case; also the name of its Postgres schema and (prefixed) role. */
  readonly name: string
  readonly description?: string
  /** Its own configuration keys, merged into the one config object at startup. */
  readonly config?: TObject
  /** Its migrations directory (`new URL('../migrations/', import.meta.url)`) or a list. */
  readonly migrations?: URL | readonly Migration[]
  /** Registers its HTTP routes; mounted under /v1 and tagged with the context's name. */
  readonly routes?: (app: HttpApp, deps: ContextDeps<C>) => void | Promise<void>
  /**
   * Registers routes at the root of the process, outside /v1 and unguarded: static files only (a web
   * app's assets), which carry no tenant data. Registered after every context's /v1 routes; a route
   * here never shadows /v1, the probes, /metrics or the API document, which are matched first.
   */
  readonly site?: (app: HttpApp, deps: ContextDeps<C>) => void | Promise<void>
  /** Its consumers of commands and events: `(deps) => [on(ProjectCreatedMessage, (data, ctx) => …)]` (bus/on.ts). */
  readonly handlers?: (deps: ContextDeps<C>) => readonly MessageHandler[]
  /**
   * The authenticator of every guarded route in this process (the identity context provides it; at
   * most one context may).
   */
  readonly authenticator?: (deps: ContextDeps<C>) => Authenticator
  /**
   * Its periodic work (a purge, a prune): each runs every `everyMs` while the process runs, never
   * twice at once in this process; a failure is logged and the next turn tries again.
   */
  readonly jobs?: (deps: ContextDeps<C>) => readonly ContextJob[]
  /**
   * What it contributes to other contexts' extension points (a renderer, a default): plain code that
   * every process of the build has, whichever contexts it runs.
   */
  // biome-ignore lint/suspicious/noExplicitAny: each point types its own values
  readonly extensions?: readonly Extension<any>[]
  /** Runs after migrations, before the server listens: what a request needs in place. */
  readonly start?: (deps: ContextDeps<C>) => void | Promise<void>
  /**
   * Runs once the server listens, before the bus's consumers start: work no request needs before the
   * process is ready (loading a bundle, announcing providers, recording the start). `/readyz` answers
   * only once every context's `ready` has; one that fails stops the process, as a failed start does.
   */
  readonly ready?: (deps: ContextDeps<C>) => void | Promise<void>
  /** Runs on shutdown after the server stopped taking requests, in reverse start order. */
  readonly stop?: (deps: ContextDeps<C>) => void | Promise<void>
}

export interface ContextJob {
  readonly name: string
  readonly everyMs: number
  /** Also runs once as soon as the runtime has started (otherwise first after everyMs). */
  readonly atStart?: boolean
  readonly run: () => Promise<unknown>
}

/**
 * One `create(deps)` per context database, shared by the parts of a definition (routes, handlers,
 * authenticator, jobs) that receive the same deps; two runtimes in one process stay apart.
 */
export function perContext<D extends { readonly db: object }, T>(create: (deps: D) => T): (deps: D) => T {
  const made = new WeakMap<object, T>()
  return (deps) => {
    let instance = made.get(deps.db)
    if (instance === undefined) {
      instance = create(deps)
      made.set(deps.db, instance)
    }
    return instance
  }
}

/** The one shape a context has. Identity function; it exists for typing and one place to read. */
export const defineContext = <C = CoreConfig>(definition: ContextDefinition<C>): ContextDefinition<C> =>
  definition
