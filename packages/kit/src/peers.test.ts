import { catalog } from '@rxt/contracts'
import Type from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Permission } from './auth/access.ts'
import { principalOf, tenantOf } from './auth/guard.ts'
import { createPostgresLog } from './bus/postgres-log.ts'
import { CoreConfig, parseConfig } from './config.ts'
import { type ContextDeps, defineContext } from './context.ts'
import { type Database, openDatabase } from './db/index.ts'
import { NotFoundError, UnavailableError } from './errors.ts'
import { createLogger } from './log.ts'
import { createLocalCredentials, parseContextUrls, peerAnswer } from './peers.ts'
import { type Runtime, startRuntime } from './runtime.ts'

const log = createLogger({ level: 'silent' })
const org = '5b0c6f9e-3f5e-4b8a-9d0c-2a1b3c4d5e6f'

/** A context whose route needs a tenant permission, answering who called it and for which tenant. */
const callee = defineContext({
  name: 'callee',
  routes: (app) => {
    app.get(
      '/callee/whoami',
      {
        config: { auth: { permission: Permission.secretsRead } },
        schema: { response: { 200: Type.Object({ actor: Type.String(), tenant: Type.String() }) } },
      },
      async (request) => {
        const principal = principalOf(request)
        return { actor: `${principal.kind}:${principal.id}`, tenant: tenantOf(request) }
      },
    )
    app.get(
      '/callee/open',
      {
        config: { auth: { public: 'a test route' } },
        schema: { response: { 200: Type.Object({ scheme: Type.String() }) } },
      },
      async (request) => ({ scheme: (request.headers.authorization ?? '').split(' ')[0] ?? '' }),
    )
  },
})

let callerDeps: ContextDeps<unknown> | undefined
const caller = defineContext({
  name: 'caller',
  start: (deps) => {
    callerDeps = deps as ContextDeps<unknown>
  },
})

const start = async (
  database: Database,
  contexts: Parameters<typeof startRuntime>[0]['contexts'],
  env = {},
) =>
  startRuntime({
    contexts,
    config: parseConfig(CoreConfig, { PORT: '0', ...env }),
    log,
    database,
    transport: await createPostgresLog({ database }),
    catalog,
    mode: 'embedded',
    version: '1',
  })

describe('peers: one context calling another over HTTP', () => {
  let database: Database
  let other: Database
  let runtime: Runtime
  let remote: Runtime
  let remoteUrl = ''

  beforeAll(async () => {
    database = await openDatabase({ kind: 'pglite' }, log)
    other = await openDatabase({ kind: 'pglite' }, log)
    remote = await start(other, [callee])
    remoteUrl = await remote.listen()
  })
  afterAll(async () => {
    await runtime?.stop()
    await remote?.stop()
    await database?.close()
    await other?.close()
  })

  it('calls a context of the same process through its router, as a service of that process', async () => {
    runtime = await start(database, [callee, caller])
    const peer = (callerDeps as ContextDeps<unknown>).peer('callee')
    const answer = await peer({ method: 'GET', path: '/v1/callee/whoami', headers: { 'x-rxt-org': org } })
    expect(answer.status).toBe(200)
    expect(peerAnswer(answer, 'callee')).toEqual({ actor: 'service:caller', tenant: org })
  })

  it("refuses another process's credential and a forged one", async () => {
    const foreign = createLocalCredentials().of('caller')
    for (const credential of [foreign, 'local.caller.AAAA', 'local.']) {
      const res = await runtime.app.inject({
        method: 'GET',
        url: '/v1/callee/whoami',
        headers: { authorization: `Service ${credential}`, 'x-rxt-org': org },
      })
      // No identity context runs here to try the credential as an issued one: it is refused either way.
      expect(res.statusCode).toBeGreaterThanOrEqual(401)
      expect(res.statusCode).not.toBe(200)
    }
  })

  it('calls a context of another process at its CONTEXT_URLS address with SERVICE_CREDENTIAL', async () => {
    await runtime.stop()
    const mine = await openDatabase({ kind: 'pglite' }, log)
    try {
      runtime = await start(mine, [caller], {
        CONTEXT_URLS: `callee=${remoteUrl}/`,
        SERVICE_CREDENTIAL: 'svc_test',
      })
      const answer = await (callerDeps as ContextDeps<unknown>).peer('callee')({
        method: 'GET',
        path: '/v1/callee/open',
      })
      expect(peerAnswer(answer, 'callee')).toEqual({ scheme: 'Service' })
      // The remote process has no identity context to try svc_test: refused, as an unavailable peer.
      const guarded = await (callerDeps as ContextDeps<unknown>).peer('callee')({
        method: 'GET',
        path: '/v1/callee/whoami',
        headers: { 'x-rxt-org': org },
      })
      expect(() => peerAnswer(guarded, 'callee')).toThrow(UnavailableError)
      await expect(
        (callerDeps as ContextDeps<unknown>).peer('nowhere')({ method: 'GET', path: '/v1/x' }),
      ).rejects.toThrow(/CONTEXT_URLS names no address for it/)
    } finally {
      await runtime.stop()
      await mine.close()
      runtime = undefined as unknown as Runtime
    }
  })

  it('maps a problem to the kit error of the same meaning, with its detail', () => {
    const problem = { status: 404, headers: {}, body: JSON.stringify({ detail: 'no grant g1' }) }
    expect(() => peerAnswer(problem, 'secrets')).toThrow(NotFoundError)
    expect(() => peerAnswer(problem, 'secrets')).toThrow('secrets: no grant g1')
    expect(() => peerAnswer({ status: 502, headers: {}, body: 'bad gateway' }, 'secrets')).toThrow(
      UnavailableError,
    )
  })

  it('reads CONTEXT_URLS and refuses what is not context=url', () => {
    expect([...parseContextUrls(' secrets=http://s:8080/ , identity=https://i ')]).toEqual([
      ['secrets', 'http://s:8080'],
      ['identity', 'https://i'],
    ])
    expect(parseContextUrls('').size).toBe(0)
    expect(() => parseContextUrls('secrets')).toThrow(/is not context=url/)
    expect(() => parseContextUrls('secrets=ftp://x')).toThrow(/is not context=url/)
  })
})
