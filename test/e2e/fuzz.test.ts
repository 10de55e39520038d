// The fuzz suite: every operation of the OpenAPI document (as a running build with every context of the
// catalog serves it) is called with generated hostile values (test/setup/hostile-values.ts) in its path
// parameters, query, headers and body — as a real user of an organisation with resources, now and then
// with an API key or anonymously — and must answer as the project promises: never a 5xx; every 4xx an
// RFC 9457 problem (application/problem+json, its status the response's); and nothing written on a 4xx
// (every table of every context's schema and the bus, read before and after, is the same).
//
// Bounded: a fixed number of requests per operation (FUZZ_RUNS, default below), on PGlite and on
// PostgreSQL. Seeded: each run draws a seed (FUZZ_SEED to choose it), printed with every failure, so a
// failure reproduces with the same seed.
import {
  createHmac,
  createPrivateKey,
  type JsonWebKeyInput,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto'
import { connect } from 'node:net'
import type { Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { startTestRuntime } from '@rxt/kit/testing/runtime'
import fc, { type Arbitrary } from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { catalog } from '../../apps/server/src/catalog.ts'
import {
  changedTables,
  type DatabaseReader,
  type Digests,
  databaseReader,
  type Leave,
} from '../setup/database-rows.ts'
import {
  deepNesting,
  hostileNumber,
  hostileString,
  objectOf,
  protoObject,
  prototypeNames,
  RawJson,
  type Schema,
  shaped,
  toJson,
  type Value,
  wrongType,
} from '../setup/hostile-values.ts'

const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
// 16: each request reads every table of every schema before and after, so a full run on 2 busy cores
// took 530 s on PostgreSQL at 24; every run draws a new seed, so runs add up to more.
const runsPerOperation = Number(process.env.FUZZ_RUNS ?? 16)
const password = 'a long passphrase'

/**
 * What the comparison leaves out, and why: none of it is what a request writes.
 * - the inbox (handled messages) and relay leases: the bus's own bookkeeping, written on its timers;
 *   migrations, written at start; the Postgres log's consumer cursors and what it has yet to deliver
 *   to each consumer (bus.pending: the messages of the log, fanned out);
 * - provider health and spot prices: the simulations report every 15 s (in their outbox, on the bus's
 *   log) and the router and placement record each (router.providers.health, placement.providers.health
 *   and .prices);
 * - when a credential (an API key, a service credential) was last used: recorded whenever it
 *   authenticates, whatever the answer to what it asked.
 * - the audit trail: every mutating request, a refused one too, publishes its evt.request.audited (the
 *   kit's HTTP layer) and the audit context chains it and every event, and signs its chains' heads
 *   each minute (evt.audit.checkpointed; ADR 0024);
 * The outbox stays in: a message a 4xx published would be there until relayed, then on the log.
 */
const leave: Leave = {
  tables: [
    /\.rxt_inbox$/,
    /\.rxt_relay$/,
    /\.rxt_(kit_)?migrations$/,
    /^bus\.(consumers|pending)$/,
    /^audit\./,
  ],
  columns: [
    { table: /^router\.providers$/, columns: ['health'] },
    { table: /^placement\.providers$/, columns: ['health', 'prices'] },
    { table: /^identity\.(api_keys|service_credentials)$/, columns: ['last_used_at'] },
  ],
  rowsKept: [
    {
      table: /\.rxt_outbox$/,
      where: `t.type NOT IN ('evt.provider.health', 'evt.provider.prices', 'evt.request.audited')`,
    },
    {
      table: /^bus\.log$/,
      where: `t.body::jsonb->>'type' NOT IN ('evt.provider.health', 'evt.provider.prices', 'evt.request.audited', 'evt.audit.checkpointed')`,
    },
  ],
}

interface Operation {
  readonly method: string
  readonly path: string
  readonly public: boolean
  readonly parameters: readonly { name: string; in: string; required?: boolean; schema: Schema }[]
  readonly body: Schema | undefined
}

interface Request {
  readonly method: string
  readonly url: string
  readonly headers: Record<string, string>
  readonly payload: string | undefined
  /** The user's token, its API key, none, or a credential forged (an Authorization header as it is). */
  readonly as: 'user' | 'apiKey' | 'anonymous' | { readonly forged: string }
}

interface Failure {
  readonly operation: string
  readonly kind: string
  readonly request: Request
  readonly status: number
  readonly answer: string
}

const validManifest = (name: string, extra = '') =>
  `apiVersion: rxt-deploy/v1\nkind: Application\nmetadata: {name: ${name}}\nspec: {image: "ghcr.io/a/${name}:1"${extra}}\n`

/** deploy.yaml texts: valid, with hostile values and keys, alias bombs, deep nesting, tags. */
const manifestYaml: Arbitrary<Value> = fc.oneof(
  fc.constant(validManifest('fuzz')),
  hostileString.map((s) => validManifest('fuzz', `, env: {A: ${JSON.stringify(s)}}`)),
  fc.constantFrom(...prototypeNames).map((key) => validManifest('fuzz', `, env: {${key}: polluted}`)),
  fc.constantFrom(...prototypeNames).map((key) => validManifest('fuzz', `, ${key}: {a: 1}`)),
  fc.integer({ min: 2, max: 9 }).map((levels) => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]']
    for (let i = 1; i <= levels; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      )
    return `${lines.join('\n')}\n${validManifest('bomb', `, env: {B: *a${levels}}`)}`
  }),
  fc
    .integer({ min: 100, max: 5_000 })
    .map((depth) => validManifest('deep', `, env: {D: ${'['.repeat(depth)}${']'.repeat(depth)}}`)),
  fc
    .constantFrom(
      '!!js/function "function(){}"',
      '!!binary AAAA',
      '!!python/object:os.system x',
      '<<: *nowhere',
    )
    .map((tag) => validManifest('tagged', `, env: {T: ${tag}}`)),
  hostileString,
)

/** A GitHub delivery's body: a JSON or form-encoded payload, hostile inside. */
const deliveryBody: Arbitrary<string> = fc.oneof(
  fc.constant('{"zen":"Keep it logically awesome.","hook_id":1,"repository":{"full_name":"a/b"}}'),
  wrongType.map((value) => toJson(value)),
  deepNesting.map((raw) => raw.text),
  hostileString.map((s) => `payload=${percentEncoded(s)}`),
  fc.constant('{"repository":{"full_name":"a/b"},"ref":"refs/heads/\u0000main","after":"\u0000"}'),
  fc.constant('{"__proto__":{"polluted":true},"repository":{"full_name":"a/b"}}'),
)

/**
 * A URL component of any string, a lone surrogate included (as the bytes WTF-8 gives it, which are not
 * UTF-8: a server must refuse them, not fail on them); encodeURIComponent throws on one.
 */
function percentEncoded(text: string): string {
  let out = ''
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0
    if (code < 0xd800 || code > 0xdfff) {
      out += encodeURIComponent(char)
      continue
    }
    const bytes = [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)]
    out += bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join('')
  }
  return out
}

interface RawAnswer {
  readonly status: number | undefined
  readonly contentType: string | undefined
  readonly body: string
  readonly error?: string
}

/** Sends bytes as they are and reads the answer until the server closes the connection. */
function rawExchange(address: URL, bytes: Buffer): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect({ host: address.hostname, port: Number(address.port) })
    const chunks: Buffer[] = []
    let error: string | undefined
    socket.setTimeout(20_000, () => {
      error = 'no answer within 20 s'
      socket.destroy()
    })
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', (e) => {
      error = e.message
    })
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const [head = '', ...rest] = text.split('\r\n\r\n')
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]
      const contentType = /\r\ncontent-type: *([^\r]*)/i.exec(head)?.[1]
      resolve({
        status: status === undefined ? undefined : Number(status),
        contentType,
        body: rest.join('\r\n\r\n'),
        ...(error === undefined ? {} : { error }),
      })
    })
    socket.write(bytes)
  })
}

/** A request target or headers a client library would refuse to send, for an operation's path. */
const rawMutation = (template: string, fill: (template: string) => string) => {
  const path = fill(template)
  const none: string[] = []
  // A parameter far longer than any the router takes (or, with none, a segment more).
  const longParameter = (n: number) =>
    template.includes('{') ? fill(template.replace(/\{\w+\}/, 'a'.repeat(n))) : `${path}/${'a'.repeat(n)}`
  return fc.oneof(
    fc
      .constantFrom('\u0000', '\u0001', '\u001b', '\u007f')
      .map((c) => ({ name: `a raw ${JSON.stringify(c)} in the path`, target: `${path}${c}`, headers: none })),
    fc
      .constantFrom('%zz', '%', '%ED%A0%80', '%C0%AF', '%FF%FE')
      .map((e) => ({ name: `${e} in the path`, target: `${path}/${e}`, headers: none })),
    fc
      .constantFrom('%zz', '%00', '\u00ff')
      .map((e) => ({ name: `${JSON.stringify(e)} in the query`, target: `${path}?q=${e}`, headers: none })),
    fc.integer({ min: 20_000, max: 200_000 }).map((n) => ({
      name: `a URL of ${n} characters`,
      target: `${path}?q=${'a'.repeat(n)}`,
      headers: none,
    })),
    fc
      .integer({ min: 200, max: 2_000 })
      .map((n) => ({ name: `a path parameter of ${n} characters`, target: longParameter(n), headers: none })),
    fc.constant({ name: 'an obs-folded header', target: path, headers: ['X-Folded: first', ' second'] }),
    fc.constant({ name: 'a NUL in a header', target: path, headers: ['X-Nul: a\u0000b'] }),
    fc
      .integer({ min: 20_000, max: 100_000 })
      .map((n) => ({ name: `a header of ${n} bytes`, target: path, headers: [`X-Long: ${'a'.repeat(n)}`] })),
    fc.constant({ name: 'a header without a colon', target: path, headers: ['NoColonHere'] }),
  )
}

const isProblem = (contentType: string | undefined) =>
  (contentType ?? '').startsWith('application/problem+json')

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(
    `fuzz: every operation with hostile values (${target.name})`,
    () => {
      let handle: TestDatabase
      let runtime: Runtime
      let reader: DatabaseReader
      let operator = ''
      let apiKey = ''
      let webhookSecret = ''
      let signingKey: { kid: string; key: KeyObject } | undefined
      let tokenClaims: Record<string, Value> = {}
      let tokenType: string | undefined
      /** A resource of the user's organisation for each path parameter, by name. */
      const fixtures: Record<string, string> = {}

      const send = async (request: Request) => {
        const res = await runtime.app.inject({
          method: request.method as 'GET',
          url: request.url,
          headers: {
            ...request.headers,
            ...(request.as === 'user' ? { authorization: operator } : {}),
            ...(request.as === 'apiKey' ? { authorization: `ApiKey ${apiKey}` } : {}),
            ...(typeof request.as === 'object' ? { authorization: request.as.forged } : {}),
          },
          ...(request.payload === undefined ? {} : { payload: request.payload }),
        })
        return { status: res.statusCode, contentType: res.headers['content-type'], body: res.body }
      }
      const json = async (method: string, url: string, body?: unknown, authorization = operator) => {
        const res = await runtime.app.inject({
          method: method as 'GET',
          url,
          headers: authorization === '' ? {} : { authorization },
          ...(body === undefined ? {} : { payload: body as object }),
        })
        if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
        return res.json()
      }

      let address: string | undefined
      const listening = async () => {
        address ??= await runtime.listen()
        return address
      }

      beforeAll(async () => {
        handle = await target.create()
        reader = databaseReader()
        runtime = await startTestRuntime({
          contexts: [...catalog, reader.context],
          database: handle.database,
          env: {
            WEBHOOK_KEY: randomBytes(32).toString('base64url'),
            SECRETS_KEY: randomBytes(32).toString('base64url'),
            SIM_ROLLOUT_MS: '0',
            // Every request reaches its route: limits are the edge suite's.
            RATE_LIMIT_PER_MINUTE: '1000000',
            AUTH_FAILURES_PER_MINUTE: '1000000',
            // A failing handler is retried within milliseconds, so that what a request set off is over
            // before the next request is judged.
            BUS_RETRY_BASE_MS: '1',
            BUS_RETRY_MAX_MS: '5',
          },
        })
        // The installation's first user (its operator, so that operators' routes are fuzzed too), an
        // organisation with a second member, a custom role, API keys, an invite, a service credential, a
        // project with a repository, an environment and two manifests.
        const signup = (email: string, orgName: string) =>
          json('POST', '/v1/auth/signup', { email, password, name: email, orgName }, '')
        const alice = await signup('alice@fuzz.example', 'Fuzz')
        operator = `Bearer ${alice.accessToken}`
        const carol = await signup('carol@fuzz.example', 'Carol')
        const invite = await json('POST', `/v1/orgs/${alice.orgId}/invites`, {
          email: 'carol@fuzz.example',
          role: 'developer',
        })
        await json('POST', `/v1/invites/${invite.token}/accept`, undefined, `Bearer ${carol.accessToken}`)
        const open = await json('POST', `/v1/orgs/${alice.orgId}/invites`, {
          email: 'dave@fuzz.example',
          role: 'viewer',
        })
        await json('POST', `/v1/orgs/${alice.orgId}/roles`, { name: 'auditor', permissions: ['audit:read'] })
        apiKey = (await json('POST', `/v1/orgs/${alice.orgId}/api-keys`, { name: 'fuzz', role: 'admin' })).key
        const spareKey = await json('POST', `/v1/orgs/${alice.orgId}/api-keys`, {
          name: 'spare',
          role: 'viewer',
        })
        const credential = await json('POST', '/v1/admin/service-credentials', {
          service: 'fuzz',
          permissions: ['projects:read'],
        })
        const project = await json('POST', '/v1/projects', {
          slug: 'shop',
          name: 'Shop',
          repository: 'fuzz-owner/shop',
        })
        webhookSecret = project.webhook.secret
        const env = await json('POST', `/v1/projects/${project.id}/environments`, {
          name: 'staging',
          type: 'staging',
        })
        const first = await json('POST', `/v1/projects/${project.id}/manifests`, {
          yaml: validManifest('shop'),
          environment: 'staging',
        })
        const second = await json('POST', `/v1/projects/${project.id}/manifests`, {
          yaml: validManifest('shop', ', replicas: 2'),
        })
        // The installation's signing key, to sign tokens whose claims are hostile (a key can leak, a bug
        // can sign: what a signed token claims must still be checked).
        const [keyRow] = (await reader.rows(['identity.signing_keys'])).get('identity.signing_keys') ?? []
        const stored = JSON.parse(keyRow ?? '{}') as { kid: string; private_jwk: JsonWebKeyInput['key'] }
        signingKey = { kid: stored.kid, key: createPrivateKey({ key: stored.private_jwk, format: 'jwk' }) }
        tokenClaims = JSON.parse(
          Buffer.from(alice.accessToken.split('.')[1] ?? '', 'base64url').toString('utf8'),
        ) as Record<string, Value>
        tokenType = (
          JSON.parse(Buffer.from(alice.accessToken.split('.')[0] ?? '', 'base64url').toString('utf8')) as {
            typ?: string
          }
        ).typ
        const consumers = await json('GET', '/v1/admin/consumers')
        Object.assign(fixtures, {
          orgId: alice.orgId,
          userId: carol.userId,
          keyId: spareKey.id,
          token: open.token,
          credentialId: credential.id,
          projectId: project.id,
          envId: env.id,
          digest: first.digest,
          otherDigest: second.digest,
          provider: 'sim-container',
          providerId: 'sim-container',
          name: (consumers.items?.[0]?.name as string | undefined) ?? 'vcs.project-routes',
        })
      }, 180_000)
      afterAll(async () => {
        await runtime?.stop()
        await handle?.dispose()
      })

      /** The document as the running build serves it. */
      const operations = async (): Promise<{ operations: Operation[]; resolve: (ref: string) => Schema }> => {
        const res = await runtime.app.inject({ method: 'GET', url: '/openapi.json' })
        const doc = res.json() as {
          paths: Record<string, Record<string, Record<string, unknown>>>
          components?: { schemas?: Record<string, Schema> }
        }
        const resolve = (ref: string) => {
          const name = ref.replace('#/components/schemas/', '')
          const found = doc.components?.schemas?.[name]
          if (found === undefined) throw new Error(`the document has no schema ${ref}`)
          return found
        }
        const list = Object.entries(doc.paths).flatMap(([path, methods]) =>
          Object.entries(methods)
            .filter(([method]) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
            .map(([method, op]) => {
              const content = (op.requestBody as { content?: Record<string, { schema: Schema }> } | undefined)
                ?.content
              return {
                method: method.toUpperCase(),
                path,
                public: Array.isArray(op.security) && op.security.length === 0,
                parameters: (op.parameters ?? []) as Operation['parameters'],
                body: content?.['application/json']?.schema ?? (content === undefined ? undefined : {}),
              }
            }),
        )
        return { operations: list, resolve }
      }

      /**
       * An Authorization header no one was given: a token signed with the installation's own key whose
       * claims are hostile (a subject or session that is not an id, or someone else's, expiry and issue
       * times of the wrong type or out of range, unknown claims, another type or key id), an unsigned
       * token (alg none), or garbage after a scheme.
       */
      const forgedAuthorization = (): Arbitrary<string> => {
        const claim = (own: Value | undefined) =>
          fc.oneof(
            { weight: 2, arbitrary: fc.constant(own ?? null) },
            { weight: 1, arbitrary: fc.uuid() },
            { weight: 1, arbitrary: hostileString },
            { weight: 1, arbitrary: wrongType },
          )
        const time = (own: Value | undefined) =>
          fc.oneof(
            { weight: 2, arbitrary: fc.constant(own ?? null) },
            { weight: 1, arbitrary: hostileNumber },
            { weight: 1, arbitrary: wrongType },
          )
        const claims = fc
          .tuple(
            claim(tokenClaims.sub),
            claim(tokenClaims.sid),
            time(tokenClaims.exp),
            time(tokenClaims.iat),
            claim(tokenClaims.iss),
            claim(tokenClaims.aud),
            fc.option(protoObject, { nil: undefined }),
          )
          .map(([sub, sid, exp, iat, iss, aud, extra]) =>
            objectOf([
              ...Object.entries(tokenClaims),
              ['sub', sub],
              ['sid', sid],
              ['exp', exp],
              ['iat', iat],
              ['iss', iss],
              ['aud', aud],
              ...Object.entries(extra ?? {}),
            ]),
          )
        const header = fc.oneof(
          {
            weight: 4,
            arbitrary: fc.constant<Value>({
              alg: 'EdDSA',
              kid: signingKey?.kid ?? '',
              typ: tokenType ?? 'JWT',
            }),
          },
          {
            weight: 1,
            arbitrary: fc.record({
              alg: fc.constant('EdDSA'),
              kid: hostileString,
              typ: fc.constant(tokenType ?? 'JWT'),
            }),
          },
          {
            weight: 1,
            arbitrary: fc.record({
              alg: fc.constant('EdDSA'),
              kid: fc.constant(signingKey?.kid ?? ''),
              typ: hostileString,
            }),
          },
        )
        const part = (value: Value) => Buffer.from(toJson(value)).toString('base64url')
        const signed = fc.tuple(header, claims).map(([h, c]) => {
          const data = `${part(h)}.${part(c)}`
          const signature =
            signingKey === undefined
              ? ''
              : sign(null, Buffer.from(data), signingKey.key).toString('base64url')
          return `Bearer ${data}.${signature}`
        })
        const unsigned = claims.map(
          (c) => `Bearer ${part({ alg: 'none', typ: tokenType ?? 'JWT' })}.${part(c)}.`,
        )
        const garbage = fc
          .tuple(
            fc.constantFrom('Bearer', 'ApiKey', 'Service', 'Basic', 'bearer', 'Bearer  ', ''),
            fc.oneof(hostileString, fc.string({ unit: 'grapheme-ascii', maxLength: 300 })),
          )
          .map(([scheme, value]) => `${scheme} ${value}`)
        return fc.oneof(
          { weight: 3, arbitrary: signed },
          { weight: 1, arbitrary: unsigned },
          { weight: 2, arbitrary: garbage },
        )
      }

      const requestsOf = (op: Operation, resolve: (ref: string) => Schema): Arbitrary<Request> => {
        const options = {
          resolve,
          byName: { yaml: { valid: fc.constant(validManifest('fuzz')), hostile: manifestYaml } },
        }
        const ofParameter = (where: string) => op.parameters.filter((p) => p.in === where)
        const pathValue = (name: string, schema: Schema): Arbitrary<string> => {
          const own = fixtures[name]
          const other = fc.oneof(
            hostileString,
            shaped(schema, options).map((v) => (typeof v === 'string' ? v : toJson(v))),
          )
          return own === undefined
            ? other
            : fc.oneof({ weight: 3, arbitrary: fc.constant(own) }, { weight: 2, arbitrary: other })
        }
        const path = fc
          .tuple(
            ...ofParameter('path').map((p) => pathValue(p.name, p.schema).map((v) => [p.name, v] as const)),
          )
          .map((values) => {
            // Every path parameter naming one of the user's own resources would make a DELETE delete it:
            // the next requests would find nothing to aim at.
            const all = values.length > 0 && values.every(([name, v]) => fixtures[name] === v)
            return values.map(([name, v], i) =>
              op.method === 'DELETE' && all && i === values.length - 1
                ? ([name, '00000000-0000-4000-8000-000000000000'] as const)
                : ([name, v] as const),
            )
          })
          .map((values) => {
            const byName = new Map(values)
            return op.path.replace(/\{(\w+)\}/g, (_, name: string) => percentEncoded(byName.get(name) ?? ''))
          })
        const asText = (v: Value) => (typeof v === 'string' ? v : v instanceof RawJson ? v.text : toJson(v))
        /** The declared parameters, each now and then; unknown ones and prototype names; a name twice. */
        const query = fc
          .tuple(
            fc.tuple(
              ...ofParameter('query').map((p) =>
                fc.option(
                  shaped(p.schema, options).map((v): [string, string] => [p.name, asText(v)]),
                  { nil: undefined },
                ),
              ),
            ),
            fc.array(
              fc.tuple(
                fc.oneof(
                  fc.constantFrom(...prototypeNames, 'unknown', 'limit[]', '__proto__[x]'),
                  ...ofParameter('query').map((p) => fc.constant(p.name)),
                  hostileString,
                ),
                hostileString,
              ),
              { maxLength: 2 },
            ),
          )
          .map(([declared, extra]) => {
            const entries = [...declared.filter((e) => e !== undefined), ...extra]
            if (entries.length === 0) return ''
            return `?${entries.map(([k, v]) => `${percentEncoded(k)}=${percentEncoded(v)}`).join('&')}`
          })
        const headerValue = fc.oneof(
          fc
            .string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 })
            .filter((s) => /^[\x20-\x7e]+$/.test(s)),
          fc.constantFrom('push', 'ping', 'workflow_run', 'x'.repeat(300), '%00', 'sha256=', 'sha256=zz'),
        )
        const webhook = op.path.startsWith('/v1/webhooks/')
        const headers = fc
          .tuple(
            ...ofParameter('header').map((p) =>
              fc.option(
                headerValue.map((v) => [p.name, v] as const),
                { nil: undefined },
              ),
            ),
          )
          .map(
            (entries) => Object.fromEntries(entries.filter((e) => e !== undefined)) as Record<string, string>,
          )
        const body: Arbitrary<string | undefined> = webhook
          ? deliveryBody
          : op.body !== undefined
            ? fc.oneof(
                { weight: 6, arbitrary: shaped(op.body, options).map(toJson) },
                { weight: 1, arbitrary: wrongType.map(toJson) },
                {
                  weight: 1,
                  arbitrary: fc.constantFrom(
                    '{',
                    '{"a":',
                    '[1,]',
                    '\u0000',
                    'null',
                    '"',
                    '{"a":1}{"b":2}',
                    '{"__proto__":{"x":1}}',
                    '{"constructor":{"prototype":{"x":1}}}',
                  ),
                },
              )
            : fc.oneof(
                { weight: 4, arbitrary: fc.constant(undefined) },
                { weight: 1, arbitrary: wrongType.map(toJson) },
              )
        const as: Arbitrary<Request['as']> = op.public
          ? fc.oneof(
              { weight: 6, arbitrary: fc.constant('anonymous' as const) },
              { weight: 1, arbitrary: forgedAuthorization().map((forged) => ({ forged })) },
            )
          : fc.oneof(
              { weight: 6, arbitrary: fc.constant('user' as const) },
              { weight: 1, arbitrary: fc.constant('apiKey' as const) },
              { weight: 1, arbitrary: fc.constant('anonymous' as const) },
              { weight: 1, arbitrary: forgedAuthorization().map((forged) => ({ forged })) },
            )
        // A signed delivery now and then, so that what follows the signature check is fuzzed too.
        const signed = webhook ? fc.boolean() : fc.constant(false)
        return fc
          .tuple(path, query, headers, body, as, signed)
          .map(([url, search, given, payload, who, sign]) => {
            const headers: Record<string, string> = { ...given }
            if (payload !== undefined) {
              headers['content-type'] =
                webhook && payload.startsWith('payload=')
                  ? 'application/x-www-form-urlencoded'
                  : 'application/json'
            }
            if (sign && payload !== undefined) {
              headers['x-hub-signature-256'] =
                `sha256=${createHmac('sha256', webhookSecret).update(payload).digest('hex')}`
              headers['x-github-event'] ??= 'push'
              headers['x-github-delivery'] ??= 'fuzz-delivery'
            }
            return { method: op.method, url: `${url}${search}`, headers, payload, as: who }
          })
      }

      /** The database as a request found it: row versions (cheap to compare) and contents. */
      interface Baseline {
        readonly versions: Digests
        readonly contents: Digests
      }

      /**
       * Waits until nothing more is being written (what a request set off on the bus has run) and no saga
       * it started is still at work: a deploy waits quietly between its steps (a retry's backoff, the
       * engine's timer poll), and what it writes after is not the next request's.
       */
      const settled = async (): Promise<Baseline> => {
        let last = await reader.digests(leave)
        let same = 0
        await until(
          async () => {
            // Counted first: what a saga wrote as it ended is in the digests read after.
            const idle = (await reader.sagasInFlight()) === 0
            const now = await reader.digests(leave)
            same = idle && changedTables(last, now).length === 0 ? same + 1 : 0
            last = now
            return same >= 2
          },
          60_000,
          'the database to settle and every saga to end',
        )
        return { versions: last, contents: await reader.contents(leave) }
      }

      /**
       * What a request changed: the tables whose contents differ from the baseline's (a table written
       * with what it held already is unchanged), and the baseline the next request is judged against.
       */
      const changesSince = async (before: Baseline): Promise<{ changed: string[]; next: Baseline }> => {
        const versions = await reader.digests(leave)
        const written = changedTables(before.versions, versions)
        if (written.length === 0) return { changed: [], next: before }
        const contents = await reader.contents(leave, written)
        const changed = written.filter((table) => contents.get(table) !== before.contents.get(table))
        return changed.length === 0
          ? { changed, next: { versions, contents: before.contents } }
          : { changed, next: await settled() }
      }

      it('answers every operation with no 5xx, a problem for every 4xx, and no write on a 4xx', {
        timeout: 900_000,
      }, async () => {
        const { operations: ops, resolve } = await operations()
        expect(ops.length).toBeGreaterThanOrEqual(60)
        const failures: Failure[] = []
        const counts: Record<string, number> = {}
        let before = await settled()
        for (const [index, op] of ops.entries()) {
          const name = `${op.method} ${op.path}`
          const requests = fc.sample(requestsOf(op, resolve), {
            seed: seed + index,
            numRuns: runsPerOperation,
          })
          for (const request of requests) {
            let answer: Awaited<ReturnType<typeof send>>
            try {
              answer = await send(request)
            } catch {
              // The test's client refused to send it (a header value Node will not write): not the server's.
              counts.unsendable = (counts.unsendable ?? 0) + 1
              continue
            }
            const fail = (kind: string) =>
              failures.push({
                operation: name,
                kind,
                request,
                status: answer.status,
                answer: answer.body.slice(0, 300),
              })
            const band = `${Math.floor(answer.status / 100)}xx`
            counts[band] = (counts[band] ?? 0) + 1
            if (answer.status >= 500) {
              fail('5xx')
              before = await settled()
              continue
            }
            if (answer.status < 400) {
              // What it wrote, and what that set off on the bus, is over before the next request.
              before = (await changesSince(before)).next
              continue
            }
            if (!isProblem(answer.contentType)) fail(`not problem+json (${answer.contentType})`)
            else {
              const problem = JSON.parse(answer.body) as { status?: unknown; title?: unknown }
              if (problem.status !== answer.status || typeof problem.title !== 'string')
                fail("a problem whose status is not the answer's, or without a title")
            }
            const { changed, next } = await changesSince(before)
            if (changed.length > 0) fail(`wrote on a ${answer.status}: ${changed.join(', ')}`)
            before = next
          }
        }
        // The user and its resources are still there: the requests after the last were made as someone.
        const me = await runtime.app.inject({
          method: 'GET',
          url: '/v1/me',
          headers: { authorization: operator },
        })
        expect(me.statusCode, 'the fuzzed user still signs in').toBe(200)
        const report = groupFailures(failures)
        if (report.length > 0)
          console.log(
            `fuzz (${target.name}): seed ${seed}, ${runsPerOperation} runs per operation; answers ${JSON.stringify(counts)}`,
          )
        expect(report, `FUZZ_SEED=${seed} reproduces these (${target.name})`).toEqual([])
      })

      // What a client library would never send, so only a socket can: raw NUL and control bytes and
      // malformed escapes in the request line, invalid UTF-8, obs-folded and NUL-bearing headers, URLs
      // and headers past the server's limits. Each must get an answer (not a reset connection), a 4xx
      // problem, and write nothing.
      it('answers requests no client library would send, over a socket, with a problem', {
        timeout: 300_000,
      }, async () => {
        const { operations: ops } = await operations()
        const address = new URL(await listening())
        const failures: string[] = []
        let before = await settled()
        for (const [index, op] of ops.entries()) {
          const fill = (template: string) =>
            template.replace(/\{(\w+)\}/g, (_, name: string) => fixtures[name] ?? 'x')
          const [mutation] = fc.sample(rawMutation(op.path, fill), {
            seed: seed + 10_000 + index,
            numRuns: 1,
          })
          if (mutation === undefined) continue
          const headers = [
            `Host: ${address.host}`,
            ...(op.public ? [] : [`Authorization: ${operator}`]),
            'Connection: close',
            ...mutation.headers,
          ]
          const body = op.method === 'GET' || op.method === 'DELETE' ? '' : '{}'
          const head = `${op.method} ${mutation.target} HTTP/1.1\r\n${headers.join('\r\n')}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`
          const answer = await rawExchange(
            address,
            Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]),
          )
          const what = `${op.method} ${op.path} with ${mutation.name}`
          if (answer.status === undefined) {
            failures.push(`${what}: no answer (${answer.error ?? 'the connection closed'})`)
            continue
          }
          if (answer.status >= 500) failures.push(`${what}: ${answer.status} ${answer.body.slice(0, 200)}`)
          else if (answer.status >= 400 && !isProblem(answer.contentType))
            failures.push(
              `${what}: ${answer.status} ${answer.contentType ?? 'no content type'} ${answer.body.slice(0, 120)}`,
            )
          const { changed, next } = await changesSince(before)
          if (answer.status >= 400 && changed.length > 0)
            failures.push(`${what}: wrote on a ${answer.status}: ${changed.join(', ')}`)
          before = next
        }
        expect(failures, `FUZZ_SEED=${seed} reproduces these (${target.name})`).toEqual([])
      })
    },
  )
}

/** One line per operation and kind of failure, with its first example and how often it happened. */
function groupFailures(failures: readonly Failure[]): string[] {
  const groups = new Map<string, { first: Failure; count: number }>()
  for (const failure of failures) {
    const key = `${failure.operation} — ${failure.kind}${failure.kind === '5xx' ? ` ${failure.status}` : ''}`
    const group = groups.get(key)
    if (group === undefined) groups.set(key, { first: failure, count: 1 })
    else group.count++
  }
  return [...groups.entries()].map(([key, { first, count }]) => {
    const { request } = first
    const payload =
      request.payload === undefined ? '' : ` body ${JSON.stringify(request.payload.slice(0, 200))}`
    const as =
      typeof request.as === 'object'
        ? `Authorization ${JSON.stringify(request.as.forged.slice(0, 400))}`
        : request.as
    return `${key} (×${count}): ${request.method} ${request.url.slice(0, 200)} as ${as}${payload} → ${first.status} ${first.answer}`
  })
}
