import Type, { type Static, type TObject, type TProperties, type TSchema } from 'typebox'
import Value from 'typebox/value'
import { InputError, type Violation } from './errors.ts'

export const LogLevel = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  info: 'info',
  debug: 'debug',
  trace: 'trace',
  silent: 'silent',
} as const
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel]

/**
 * The configuration keys of the kit itself. Contexts add their own keys with `defineContext({ config })`;
 * the app merges them into one schema and parses the environment once at startup.
 * Secrets have no defaults.
 */
export const CoreConfig = Type.Object({
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address the HTTP server binds to.' }),
  PORT: Type.Integer({
    minimum: 0,
    maximum: 65535,
    default: 8080,
    description: 'TCP port of the HTTP server (0 picks a free port).',
  }),
  RXT_DATA_DIR: Type.String({
    minLength: 1,
    default: './.rxt',
    description: 'Where the embedded mode keeps its data (the PGlite database).',
  }),
  RXT_CACHE_DIR: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Where `rxt-deploy prepare` keeps what makes starts fast (the embedded database template a first start copies); unset: $XDG_CACHE_HOME/rxt-deploy, else ~/.cache/rxt-deploy.',
    }),
  ),
  DATABASE_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description:
        'PostgreSQL connection URL (postgres://user:password@host:port/db). Unset: the embedded PGlite database under RXT_DATA_DIR. Required by `serve`. The user must be able to create roles and schemas.',
    }),
  ),
  DATABASE_POOL_MAX: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 10,
    description: 'Most connections each context keeps open to PostgreSQL.',
  }),
  LOG_LEVEL: Type.Union(
    Object.values(LogLevel).map((level) => Type.Literal(level)),
    { default: 'info', description: 'Lowest level written to the JSON log.' },
  ),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({
    minimum: 0,
    default: 30000,
    description: 'How long a stop waits for in-flight requests and handlers before it gives up (exit 1).',
  }),
  NATS_URL: Type.Optional(
    Type.String({
      pattern: '^(nats|tls)://',
      description:
        'NATS JetStream server(s) for the bus (nats://host:4222, comma-separated for a cluster). Unset: the Postgres log in the database.',
    }),
  ),
  REDIS_URL: Type.Optional(
    Type.String({
      pattern: '^rediss?://',
      description:
        'Redis for state shared by replicas (rate-limit counters). Unset: kept in this process, which is right for one process only.',
    }),
  ),
  IDENTITY_URL: Type.Optional(
    Type.String({
      pattern: '^https?://',
      description:
        'A process that runs the identity context (http://identity:8080), for processes that do not: they authenticate through it. Unset: the identity context must run in this process for guarded routes to answer.',
    }),
  ),
  CONTEXT_URLS: Type.String({
    default: '',
    description:
      'Where contexts this process does not run answer, for the ones that call them over HTTP: secrets=http://secrets:8080,identity=http://identity:8080. A context run in this process is called in it.',
  }),
  SERVICE_CREDENTIAL: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        "This process's service credential (issued by an operator: POST /v1/admin/service-credentials), presented when it calls a context of another process",
    }),
  ),
  RATE_LIMIT_PER_MINUTE: Type.Integer({
    minimum: 1,
    default: 1000,
    description:
      'Requests a minute each API key, organisation, signed-in user without one, or anonymous address may make; then 429 with Retry-After.',
  }),
  AUTH_FAILURES_PER_MINUTE: Type.Integer({
    minimum: 1,
    default: 20,
    description:
      'Sign-ins (counted as they start) and failed authentications (a bad token or API key) a minute from one client address, an IPv6 client per /64; past it, every request from that address that presents a credential or signs in is answered 429 with Retry-After until the minute is over.',
  }),
  TRUSTED_PROXIES: Type.String({
    default: '',
    description:
      'Addresses or CIDR ranges of proxies (the gateway) whose X-Forwarded-For names the client, comma-separated. Empty: the peer is the client.',
  }),
  CORS_ORIGINS: Type.String({
    default: '',
    description:
      'Browser origins allowed to call the API, comma-separated (https://console.example.com). Empty: no cross-origin browser calls.',
  }),
  BUS_NAMESPACE: Type.String({
    pattern: '^[a-z][a-z0-9-]{0,30}$',
    default: 'rxt',
    description:
      'Prefix of every bus subject and stream, so that installations sharing a NATS server stay apart.',
  }),
  BUS_MAX_DELIVERIES: Type.Integer({
    minimum: 1,
    maximum: 100,
    default: 5,
    description: 'Deliveries of a failing message before it is dead-lettered.',
  }),
  BUS_ACK_WAIT_MS: Type.Integer({
    minimum: 1000,
    default: 30000,
    description:
      'How long a delivered message may go unsettled before it is delivered again (a crashed consumer).',
  }),
  SAGA_RECOVERY_MS: Type.Integer({
    minimum: 4000,
    default: 60000,
    description:
      'How soon a saga a crashed replica was advancing goes on in another: due timers (step timeouts, retries, deadlines) are looked for every quarter of it, at most every second, and what the crashed replica held is delivered again within BUS_ACK_WAIT_MS, which must not exceed it.',
  }),
  BUS_HANDLER_TIMEOUT_MS: Type.Integer({
    minimum: 100,
    default: 60000,
    description:
      'How long one attempt of a message handler (its outside work and its transaction) may take before it fails, is rolled back and retried; a handler may set its own.',
  }),
  BUS_RETRY_BASE_MS: Type.Integer({
    minimum: 1,
    default: 500,
    description: 'Delay before the first retry of a failed message; doubles per delivery, with jitter.',
  }),
  BUS_RETRY_MAX_MS: Type.Integer({
    minimum: 1,
    default: 60000,
    description: 'Longest delay between retries of a failed message.',
  }),
  BUS_RETENTION_HOURS: Type.Integer({
    minimum: 1,
    maximum: 8760,
    default: 168,
    description:
      'How long the bus keeps handled messages: the replay horizon (settled messages on NATS and in the Postgres log) and how long an inbox remembers a message.',
  }),
  BUS_NATS_MAX_AGE_HOURS: Type.Integer({
    minimum: 1,
    maximum: 87600,
    default: 720,
    description:
      "A NATS stream's own age limit: past it a message is deleted even if a consumer has not settled it. At least BUS_RETENTION_HOURS; rxt_bus_stream_limit_ratio warns before it is reached.",
  }),
  BUS_NATS_MAX_BYTES: Type.Union([Type.Literal(-1), Type.Integer({ minimum: 1048576 })], {
    default: -1,
    description:
      'Most bytes each NATS stream stores (-1: no limit). A full stream refuses publishes (discard new) and the outboxes keep the messages; nothing is deleted to make room.',
  }),
  BUS_NATS_REPLICAS: Type.Integer({
    minimum: 1,
    maximum: 5,
    default: 1,
    description:
      'Copies of each NATS stream in a JetStream cluster (3 survives the loss of a server); 1 on a single server. Like the other NATS limits, applied to an existing stream when the bus first uses it.',
  }),
  BUS_NATS_DUPLICATE_WINDOW_MS: Type.Integer({
    minimum: 30000,
    maximum: 86400000,
    default: 120000,
    description:
      "How long a NATS stream remembers message ids to drop a relay's re-publish: at least 30 s, the relay's longest retry (a publish's 10 s acknowledgement wait, its 1 s pause, another replica's 5 s lease takeover and its own 10 s wait); at most BUS_NATS_MAX_AGE_HOURS.",
  }),
  RXT_BUILD_COMMIT: Type.Optional(
    Type.String({ description: 'Source commit the build was made from, shown by GET /v1/system.' }),
  ),
})
export type CoreConfig = Static<typeof CoreConfig>

/** Merges the kit's keys with the keys of every loaded context into one schema. */
export function composeConfigSchema(parts: readonly TObject[]): TObject {
  const properties: TProperties = {}
  for (const part of parts) {
    for (const [key, schema] of Object.entries(part.properties)) {
      if (key in properties && properties[key] !== schema) {
        throw new Error(`configuration key ${key} is declared twice`)
      }
      properties[key] = schema
    }
  }
  return Type.Object(properties)
}

/**
 * Parses the environment into a typed object: empty values count as unset, defaults fill in, strings
 * convert to numbers and booleans, and every invalid key is reported in one line that names it and
 * says what it expects. Keys the schema does not know are ignored.
 */
export function parseConfig<T extends TObject>(
  schema: T,
  env: Readonly<Record<string, string | undefined>>,
): Static<T> {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(schema.properties)) {
    const value = env[key]
    if (value !== undefined && value !== '') raw[key] = value
  }
  const value = Value.Default(schema, Value.Convert(schema, raw))
  const violations: Violation[] = []
  for (const [key, property] of Object.entries(schema.properties)) {
    const given = (value as Record<string, unknown>)[key]
    if (given === undefined) {
      if (!isOptional(schema, key))
        violations.push({ path: key, message: `${key} is required: ${expects(property)}` })
      continue
    }
    if (!Value.Check(property, given)) {
      violations.push({
        path: key,
        message: `${key} expects ${expects(property)}, got ${JSON.stringify(env[key])}`,
      })
    }
  }
  for (const rule of rules) {
    // A rule between keys speaks once each of its keys is in the schema and valid on its own.
    if (!rule.keys.every((key) => key in schema.properties && !violations.some((v) => v.path === key)))
      continue
    const message = rule.check(value as Record<string, unknown>)
    if (message !== undefined) violations.push({ path: rule.keys[0] as string, message })
  }
  if (violations.length > 0) {
    throw new InputError(`invalid configuration: ${violations.map((v) => v.message).join('; ')}`, violations)
  }
  return value as Static<T>
}

/** A condition between keys of the kit: a message when the values break it. */
interface ConfigRule {
  readonly keys: readonly string[]
  check(config: Readonly<Record<string, unknown>>): string | undefined
}

const hour = 3_600_000

const rules: readonly ConfigRule[] = [
  {
    keys: ['BUS_ACK_WAIT_MS', 'SAGA_RECOVERY_MS'],
    check: (c) =>
      (c.BUS_ACK_WAIT_MS as number) > (c.SAGA_RECOVERY_MS as number)
        ? `BUS_ACK_WAIT_MS (${c.BUS_ACK_WAIT_MS}) must be at most SAGA_RECOVERY_MS (${c.SAGA_RECOVERY_MS}): an answer a crashed replica held would come back to a saga later than it promises`
        : undefined,
  },
  {
    keys: ['BUS_NATS_MAX_AGE_HOURS', 'BUS_RETENTION_HOURS'],
    check: (c) =>
      (c.BUS_NATS_MAX_AGE_HOURS as number) < (c.BUS_RETENTION_HOURS as number)
        ? `BUS_NATS_MAX_AGE_HOURS (${c.BUS_NATS_MAX_AGE_HOURS}) must be at least BUS_RETENTION_HOURS (${c.BUS_RETENTION_HOURS}): a NATS stream would delete messages before the bus is done with them`
        : undefined,
  },
  {
    keys: ['BUS_NATS_DUPLICATE_WINDOW_MS', 'BUS_NATS_MAX_AGE_HOURS'],
    check: (c) =>
      (c.BUS_NATS_DUPLICATE_WINDOW_MS as number) > (c.BUS_NATS_MAX_AGE_HOURS as number) * hour
        ? `BUS_NATS_DUPLICATE_WINDOW_MS (${c.BUS_NATS_DUPLICATE_WINDOW_MS}) must be at most BUS_NATS_MAX_AGE_HOURS (${c.BUS_NATS_MAX_AGE_HOURS} h): NATS refuses a duplicate window longer than the stream's max age`
        : undefined,
  },
]

function isOptional(schema: TObject, key: string): boolean {
  return !(schema.required ?? []).includes(key)
}

/** A short human description of what a config schema accepts. */
export function expects(schema: TSchema): string {
  const s = schema as Record<string, unknown>
  if (Array.isArray(s.anyOf)) {
    const options = (s.anyOf as Record<string, unknown>[]).map((o) =>
      'const' in o ? String(o.const) : expects(o),
    )
    return `one of ${options.join(', ')}`
  }
  switch (s.type) {
    case 'integer':
    case 'number': {
      const kind = s.type === 'integer' ? 'an integer' : 'a number'
      if (s.minimum !== undefined && s.maximum !== undefined)
        return `${kind} from ${s.minimum} to ${s.maximum}`
      if (s.minimum !== undefined) return `${kind} of at least ${s.minimum}`
      return kind
    }
    case 'boolean':
      return 'true or false'
    case 'string':
      if (typeof s.pattern === 'string' && s.pattern.startsWith('^postgres')) return 'a postgres:// URL'
      if (typeof s.pattern === 'string') return `a string matching ${s.pattern}`
      return 'a non-empty string'
    default:
      return 'a valid value'
  }
}
