// The audit context on both databases: the tap chains every event per tenant, a replayed message appends
// nothing, the database refuses changes to records, and verify finds each kind of tampering (on a real
// PostgreSQL, as its superuser with the triggers off: what an attacker with the database would do).
import { randomBytes } from 'node:crypto'
import { catalog, type Envelope, ObsAnnotatedMessage, ProjectCreatedMessage } from '@rxt/contracts'
import {
  AuthenticationError,
  type ContextDb,
  type ContextDeps,
  defineContext,
  loadMigrations,
  type Principal,
  type Runtime,
} from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { startTestRuntime } from '@rxt/kit/testing/runtime'
import pg from 'pg'
import Type from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyCheckpoint } from '../src/domain/checkpoint.ts'
import { type Audit, audit, createAudit, parseSigningKey } from '../src/index.ts'

const orgA = '0f9a6c1e-5b7d-4a3e-9c2b-1d8e7f6a5b4c'
const orgB = '7b0c2d4e-1f3a-4b5c-8d9e-0a1b2c3d4e5f'
const seed = randomBytes(32).toString('base64url')
const events = 30

/** Callers by token: an operator with audit:read in org A, and a developer of org A without it. */
const principals: Record<string, Principal> = {
  op: {
    kind: 'user',
    id: 'op',
    userId: 'op',
    operator: true,
    orgs: new Map([[orgA, { role: 'auditor', permissions: ['audit:read'] }]]),
  },
  dev: {
    kind: 'user',
    id: 'dev',
    userId: 'dev',
    operator: false,
    orgs: new Map([[orgA, { role: 'developer', permissions: ['projects:write'] }]]),
  },
}

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`the audit trail on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    let driver: ContextDeps<unknown>
    let db: ContextDb
    let direct: Audit
    const published: Envelope[] = []

    const harness = defineContext({
      name: 'harness',
      authenticator: () => ({
        authenticate: async (header: string) => {
          const principal = principals[header.replace(/^Bearer /, '')]
          if (principal === undefined) throw new AuthenticationError('unknown token')
          return principal
        },
      }),
      start: (deps) => {
        driver = deps as ContextDeps<unknown>
      },
      routes: (app) => {
        app.post(
          '/things/:name',
          {
            config: { auth: { authenticated: true } },
            schema: { params: Type.Object({ name: Type.String() }) },
          },
          async (_request, reply) => reply.code(201).send({ ok: true }),
        )
      },
    })
    const get = (url: string, token = 'op') =>
      runtime.app.inject({
        method: 'GET',
        url,
        headers: { authorization: `Bearer ${token}`, 'x-rxt-org': orgA },
      })
    const publish = async (tenantId: string | null, i: number) => {
      const message = i % 2 === 0 ? ProjectCreatedMessage : ObsAnnotatedMessage
      const envelope = await driver.db.transaction((tx) =>
        driver.bus.publish(tx, { type: message.type, tenantId, data: message.fixture }),
      )
      published.push(envelope)
    }
    const verify = async (query = '') => (await get(`/v1/audit/verify${query}`)).json()

    beforeAll(async () => {
      handle = await target.create()
      runtime = await startTestRuntime({
        contexts: [audit, harness],
        database: handle.database,
        env: { AUDIT_SIGNING_KEY: seed, AUDIT_CHECKPOINT_EVERY: '1000' },
      })
      // The audit context's own handle (its role): what its code can and cannot do to its tables.
      db = await handle.database.openContext(
        'audit',
        await loadMigrations(new URL('../migrations/', import.meta.url)),
      )
      direct = createAudit({
        db,
        log: driver.log,
        clock: driver.clock,
        key: parseSigningKey(seed),
        checkpointEvery: 1000,
        publish: async () => undefined,
      })
      for (let i = 0; i < events; i++) await publish(orgA, i)
      await publish(orgB, 0)
      await until(async () => (await verify()).checked === events, 20_000, "org A's events to be recorded")
    }, 60_000)
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })

    it("chains each tenant's events in order, gapless, and verifies them", async () => {
      expect(await verify()).toEqual({ ok: true, checked: events })
      expect(await verify('?from=10&to=20')).toEqual({ ok: true, checked: 11 })
      // Org B's chain is its own, from sequence 1.
      await until(async () => (await direct.list(orgB, {}, 10)).length > 0, 10_000, "org B's event")
      expect((await direct.list(orgB, {}, 10)).map((r) => r.seq)).toEqual([1])
      const page = (await get('/v1/audit?limit=3')).json()
      expect(page.items.map((r: { sequence: number }) => r.sequence)).toEqual([30, 29, 28])
      expect(page.items[0]).toMatchObject({
        source: 'evt.obs.annotated',
        action: 'evt.obs.annotated',
        object: `annotationId:${ObsAnnotatedMessage.fixture.annotationId}`,
        outcome: 'published',
        data: ObsAnnotatedMessage.fixture,
      })
      expect(page.items[1].prevHash).toBe(page.items[2].hash)
      const next = (await get(`/v1/audit?limit=3&cursor=${page.next}`)).json()
      expect(next.items.map((r: { sequence: number }) => r.sequence)).toEqual([27, 26, 25])
      const filtered = (await get('/v1/audit?action=evt.project.created&limit=500')).json()
      expect(filtered.items).toHaveLength(events / 2)
    })

    it('appends nothing for a message it recorded before', async () => {
      const again = published[3] as Envelope
      expect(await db.transaction((tx) => direct.append(tx, again))).toBeNull()
      expect(await verify()).toEqual({ ok: true, checked: events })
    })

    it('records a mutating request through the HTTP layer, and not the reads', async () => {
      const res = await runtime.app.inject({
        method: 'POST',
        url: '/v1/things/lamp?colour=red',
        headers: { authorization: 'Bearer dev', 'x-rxt-org': orgA, 'x-request-id': 'req-thing' },
      })
      expect(res.statusCode).toBe(201)
      await until(async () => (await verify()).checked === events + 1, 10_000, 'the request to be recorded')
      const [record] = (await get('/v1/audit?limit=1')).json().items
      expect(record).toMatchObject({
        sequence: events + 1,
        source: 'http',
        actor: 'user:dev',
        action: 'POST /v1/things/:name',
        object: '/v1/things/lamp',
        requestId: 'req-thing',
        outcome: '201',
      })
    })

    it('lets only readers of the trail read it, and operators the platform trail', async () => {
      expect((await get('/v1/audit', 'dev')).statusCode).toBe(403)
      expect((await get('/v1/audit?scope=platform', 'dev')).statusCode).toBe(403)
      const platform = (await get('/v1/audit?scope=platform&limit=500')).json()
      expect(platform.items.every((r: { action: string }) => !r.action.startsWith('evt.project'))).toBe(true)
    })

    it('signs checkpoints that verify under the published key', async () => {
      expect(await direct.checkpointMoved()).toBeGreaterThanOrEqual(1)
      const answer = (await get('/v1/audit/checkpoints')).json()
      const [latest] = answer.items
      expect(latest.sequence).toBe(events + 1)
      const key = parseSigningKey(seed)
      expect(answer.publicKey.keyId).toBe(key.keyId)
      const body = {
        tenantId: orgA,
        seq: latest.sequence,
        hash: latest.headHash,
        at: latest.signedAt,
        signature: latest.signature,
      }
      expect(verifyCheckpoint(key.publicKey, body)).toBe(true)
      expect(verifyCheckpoint(key.publicKey, { ...body, seq: body.seq - 1 })).toBe(false)
    })

    it('exports CSV: a header, one CRLF line a record, in sequence order', async () => {
      const res = await get('/v1/audit/export.csv')
      expect(res.statusCode).toBe(200)
      expect(res.headers['content-type']).toMatch(/^text\/csv/)
      const lines = res.body.split('\r\n')
      expect(lines[0]).toBe(
        'sequence,recorded_at,source,actor,action,object,request_id,outcome,data,prev_hash,hash',
      )
      expect(lines).toHaveLength(events + 1 + 2) // header, records, and the empty string after the last CRLF
      expect(lines[1]?.startsWith('1,')).toBe(true)
    })

    it('refuses UPDATE, DELETE and TRUNCATE of records, even to its own role', async () => {
      for (const statement of [
        "UPDATE audit_records SET actor = 'someone else'",
        'DELETE FROM audit_records',
        'TRUNCATE audit_records',
        'TRUNCATE audit_records_default',
      ]) {
        await expect(
          db.withTenant(orgA, (tx) => tx.query(statement)),
          statement,
        ).rejects.toThrow()
      }
      expect(await verify()).toEqual({ ok: true, checked: events + 1 })
    })

    // On the real PostgreSQL only: PGlite's handle offers no superuser session to tamper with.
    if (target.name === 'postgres')
      describe('tampering by a superuser with the triggers off', () => {
        let admin: pg.Client
        const sql = (text: string, params: unknown[] = []) => admin.query(text, params)
        const head = events + 1
        beforeAll(async () => {
          admin = new pg.Client({ connectionString: handle.url })
          await admin.connect()
          await sql('SET session_replication_role = replica')
        })
        afterAll(async () => {
          await admin?.end()
        })

        it('finds a flipped byte at its record', async () => {
          const { rows } = await sql(
            'SELECT object FROM audit.audit_records WHERE tenant = $1 AND sequence = 10',
            [orgA],
          )
          const object = rows[0].object as string
          await sql('UPDATE audit.audit_records SET object = $2 WHERE tenant = $1 AND sequence = 10', [
            orgA,
            `${String.fromCharCode(object.charCodeAt(0) ^ 1)}${object.slice(1)}`,
          ])
          expect(await verify()).toEqual({ ok: false, brokenAt: 10, reason: 'hash-mismatch' })
          await sql('UPDATE audit.audit_records SET object = $2 WHERE tenant = $1 AND sequence = 10', [
            orgA,
            object,
          ])
          expect(await verify()).toEqual({ ok: true, checked: head })
        })

        it('finds a deleted record as a gap', async () => {
          await sql(
            'CREATE TEMP TABLE kept AS SELECT * FROM audit.audit_records WHERE tenant = $1 AND sequence = 12',
            [orgA],
          )
          await sql('DELETE FROM audit.audit_records WHERE tenant = $1 AND sequence = 12', [orgA])
          expect(await verify()).toEqual({ ok: false, brokenAt: 12, reason: 'gap' })
          await sql('INSERT INTO audit.audit_records SELECT * FROM kept')
          await sql('DROP TABLE kept')
          expect(await verify()).toEqual({ ok: true, checked: head })
        })

        it('finds two records swapped', async () => {
          const swap = async () => {
            await sql(
              'UPDATE audit.audit_records SET sequence = 1000015 WHERE tenant = $1 AND sequence = 15',
              [orgA],
            )
            await sql('UPDATE audit.audit_records SET sequence = 15 WHERE tenant = $1 AND sequence = 16', [
              orgA,
            ])
            await sql(
              'UPDATE audit.audit_records SET sequence = 16 WHERE tenant = $1 AND sequence = 1000015',
              [orgA],
            )
          }
          await swap()
          const broken = await verify()
          expect(broken.ok).toBe(false)
          expect(broken.brokenAt).toBe(15)
          await swap()
          expect(await verify()).toEqual({ ok: true, checked: head })
        })

        it('finds a tail cut off, even with the chain head rewound to match, against the last checkpoint', async () => {
          await sql(
            'CREATE TEMP TABLE tail AS SELECT * FROM audit.audit_records WHERE tenant = $1 AND sequence > $2',
            [orgA, head - 2],
          )
          const { rows } = await sql(
            'SELECT hash FROM audit.audit_records WHERE tenant = $1 AND sequence = $2',
            [orgA, head - 2],
          )
          await sql('DELETE FROM audit.audit_records WHERE tenant = $1 AND sequence > $2', [orgA, head - 2])
          // The head still says where the chain went: a cut short of it.
          expect(await verify()).toEqual({ ok: false, brokenAt: head - 1, reason: 'truncated' })
          // Covering the tracks: the head rewound. The signed checkpoint still says the chain went further.
          await sql(
            'UPDATE audit.chain_heads SET sequence = $2, hash = $3, checkpointed = $2 WHERE tenant = $1',
            [orgA, head - 2, rows[0].hash],
          )
          expect(await verify()).toEqual({ ok: false, brokenAt: head - 1, reason: 'truncated' })
          await sql('INSERT INTO audit.audit_records SELECT * FROM tail')
          await sql(
            'UPDATE audit.chain_heads SET sequence = $2, hash = (SELECT hash FROM tail WHERE sequence = $2), checkpointed = $2 WHERE tenant = $1',
            [orgA, head],
          )
          expect(await verify()).toEqual({ ok: true, checked: head })
        })
      })
  })
}

it('taps every event of the catalog but its own checkpoints', () => {
  const tapped = audit.handlers?.({} as never)[0]?.types ?? []
  const events = [...catalog.messages.keys()].filter((t) => t.startsWith('evt.'))
  expect(tapped).toContain('evt.request.audited')
  expect(tapped).not.toContain('evt.audit.checkpointed')
  expect(tapped).toHaveLength(events.length - 1)
})
