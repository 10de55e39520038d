import { type MessageCatalog, catalog as messages } from '@rxt/contracts'
import type { TObject } from 'typebox'
import { createPostgresLog } from '../bus/postgres-log.ts'
import type { Clock } from '../clock.ts'
import { CoreConfig, composeConfigSchema, parseConfig } from '../config.ts'
import type { ContextDefinition, RuntimeInfo } from '../context.ts'
import type { Database } from '../db/index.ts'
import type { Extension } from '../extensions.ts'
import { createLogger, type Logger } from '../log.ts'
import { type Runtime, startRuntime } from '../runtime.ts'

export interface TestRuntimeOptions {
  // biome-ignore lint/suspicious/noExplicitAny: contexts type their own config
  readonly contexts: readonly ContextDefinition<any>[]
  readonly database: Database
  /** Configuration as the environment would give it (PORT is 0 unless given). */
  readonly env?: Readonly<Record<string, string>>
  readonly mode?: RuntimeInfo['mode']
  readonly clock?: Clock
  readonly catalog?: MessageCatalog
  /** Quiet unless given. */
  readonly log?: Logger
  /** Contributions to extension points beside the contexts' own (of contexts the suite does not run). */
  readonly extensions?: readonly Extension<unknown>[]
}

/**
 * A runtime for a suite: the given contexts on `database`, the bus on the Postgres log in it, the
 * configuration parsed from `env` with every context's keys, quiet logs.
 */
export async function startTestRuntime(options: TestRuntimeOptions): Promise<Runtime> {
  const schemas: TObject[] = [
    CoreConfig,
    ...options.contexts.flatMap((c) => (c.config === undefined ? [] : [c.config])),
  ]
  return startRuntime({
    contexts: options.contexts,
    config: parseConfig(composeConfigSchema(schemas), { PORT: '0', ...options.env }) as CoreConfig,
    log: options.log ?? createLogger({ level: 'silent' }),
    database: options.database,
    transport: await createPostgresLog({ database: options.database, pollMs: 25 }),
    catalog: options.catalog ?? messages,
    mode: options.mode ?? 'embedded',
    version: '1',
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    extensions: [
      ...options.contexts.flatMap((c) => (c.extensions ?? []) as Extension<unknown>[]),
      ...(options.extensions ?? []),
    ],
  })
}

/**
 * A new account through identity's API (the runtime must run identity), with an organisation of its
 * own: its bearer authorization and ids. The installation's first account is its operator.
 */
export async function signUp(
  runtime: Runtime,
  email: string,
): Promise<{ authorization: string; accessToken: string; userId: string; orgId: string }> {
  const res = await runtime.app.inject({
    method: 'POST',
    url: '/v1/auth/signup',
    payload: { email, password: 'a long passphrase', name: email, orgName: email },
  })
  if (res.statusCode !== 201) throw new Error(`sign-up of ${email}: ${res.statusCode} ${res.body}`)
  const body = res.json() as { accessToken: string; userId: string; orgId: string }
  return { ...body, authorization: `Bearer ${body.accessToken}` }
}
