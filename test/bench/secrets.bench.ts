// Secrets (issue: secrets and the audit log): reads per second of a secret's value, in the same run:
//   row only:      SELECT of the version row (the sealed bytes) as the tenant, no decryption — the baseline
//   decrypted:     the same SELECT, then the store's read: the tenant's data key unwrapped by the KEK
//                  (AES-256-GCM) and the value opened (AES-256-GCM, tenant/secret/version bound)
//   metadata (HTTP): GET /v1/secrets/:id as its owner (no value): the API's own cost, a second baseline
//   grant (HTTP):  GET /v1/secrets/grants/:id/values as a service credential: guard, grant lookup, the
//                  decrypted read, and an evt.secret.accessed written to the outbox per value
// Embedded mode (PGlite, the bus on the Postgres log), identity and secrets in this process.
// BENCH_READS (default 5,000) reads of each.
import { randomBytes, randomUUID } from 'node:crypto'
import type { Envelope, SecretGranted } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { type ContextDeps, createLogger, defineContext, loadMigrations, openDatabase } from '@rxt/kit'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { createSealedStore, kekOf, secrets } from '@rxt/secrets'

const reads = Number(process.env.BENCH_READS ?? 5000)
const perSecond = (n: number, ms: number) => (n / ms) * 1000
const rate = (v: number) => `${Math.round(v).toLocaleString('en')}/s`

const key = randomBytes(32)
const log = createLogger({ level: 'silent' })
const database = await openDatabase({ kind: 'pglite' }, log)
let driver: ContextDeps<unknown> | undefined
const answers: Envelope[] = []
const harness = defineContext({
  name: 'harness',
  start: (deps) => {
    driver = deps as ContextDeps<unknown>
  },
  handlers: () => [
    { id: 'answers', types: ['evt.secret.granted'], handle: async (m) => void answers.push(m) },
  ],
})
const runtime = await startTestRuntime({
  contexts: [identity, secrets, harness],
  database,
  // The benchmark is one caller: the edge's per-key limit would stop it first.
  env: { SECRETS_KEY: key.toString('base64url'), RATE_LIMIT_PER_MINUTE: '100000000' },
})
const owner = await signUp(runtime, 'bench@secrets.example')
const inject = (method: 'GET' | 'POST', url: string, authorization: string, payload?: object) =>
  runtime.app.inject({
    method,
    url,
    headers: { authorization, 'x-rxt-org': owner.orgId },
    ...(payload === undefined ? {} : { payload }),
  })
const value = `postgres://shop:${randomBytes(16).toString('hex')}@db:5432/shop`
const made = (
  await inject('POST', '/v1/secrets', owner.authorization, { name: 'db/url', projectId: 'prj-bench', value })
).json()
const credential = (
  await inject('POST', '/v1/admin/service-credentials', owner.authorization, {
    service: 'adapter-bench',
    permissions: ['secrets:deliver'],
  })
).json().credential as string
const sent = await (driver as ContextDeps<unknown>).db.transaction((tx) =>
  (driver as ContextDeps<unknown>).bus.publish(tx, {
    type: 'cmd.secret.issue',
    tenantId: owner.orgId,
    key: 'env-bench',
    data: {
      deploymentId: `dep-${randomUUID()}`,
      projectId: 'prj-bench',
      envId: 'env-bench',
      refs: ['secret://db/url'],
    },
  }),
)
await until(() => answers.some((a) => a.causationId === sent.id), 15_000, 'the grant')
const grantId = (answers.find((a) => a.causationId === sent.id)?.data as SecretGranted).grantId

// The context's own database, as its role (row-level security applies): the same rows the routes read.
const db = await database.openContext(
  'secrets',
  await loadMigrations(new URL('../../services/secrets/migrations/', import.meta.url)),
  {
    kitMigrations: await loadMigrations(
      new URL('../../packages/kit/src/migrations/context/', import.meta.url),
    ),
  },
)
const store = createSealedStore(kekOf(key))
const binding = { tenantId: owner.orgId, secretId: made.id as string, version: 1 }
const selectRow = (tx: { query: typeof db.query }) =>
  tx.query<{ sealed: Uint8Array }>(
    'SELECT sealed FROM secret_versions WHERE secret_id = $1 AND version = $2',
    [binding.secretId, binding.version],
  )

const timed = async (name: string, one: () => Promise<void>) => {
  for (let i = 0; i < Math.min(200, reads); i++) await one() // warm up
  const started = performance.now()
  for (let i = 0; i < reads; i++) await one()
  const elapsed = performance.now() - started
  console.log(
    `${name.padEnd(16)} ${rate(perSecond(reads, elapsed)).padStart(10)}  (${reads} reads in ${elapsed.toFixed(0)} ms)`,
  )
  return perSecond(reads, elapsed)
}

const rowOnly = await timed('row only', async () => {
  await db.withTenant(owner.orgId, async (tx) => {
    if ((await selectRow(tx)).rows.length !== 1) throw new Error('the row is gone')
  })
})
const decrypted = await timed('decrypted', async () => {
  await db.withTenant(owner.orgId, async (tx) => {
    const row = (await selectRow(tx)).rows[0]
    const opened = await store.read(tx, binding, Buffer.from(row?.sealed as Uint8Array))
    if (opened !== value) throw new Error('the value did not open')
  })
})
const metadata = await timed('metadata (HTTP)', async () => {
  const res = await inject('GET', `/v1/secrets/${binding.secretId}`, owner.authorization)
  if (res.statusCode !== 200) throw new Error(`the secret answered ${res.statusCode}`)
})
const overHttp = await timed('grant (HTTP)', async () => {
  const res = await inject('GET', `/v1/secrets/grants/${grantId}/values`, `Service ${credential}`)
  if (res.statusCode !== 200) throw new Error(`the grant answered ${res.statusCode}`)
})
console.log(
  `decrypted / row only: ${(decrypted / rowOnly).toFixed(2)}× (the cost of unwrapping the data key and opening the value)`,
)
console.log(
  `grant (HTTP) / metadata (HTTP): ${(overHttp / metadata).toFixed(2)}× (the same HTTP path: what delivering values costs over reading a secret's metadata)`,
)
console.log(
  `grant (HTTP) / row only: ${(overHttp / rowOnly).toFixed(2)}× (the route also weighs the caller, finds the grant and writes one evt.secret.accessed per value)`,
)

await runtime.stop()
await database.close()
