// A fault test of the bus: a NATS server this test starts itself (its own port and store) is stopped for
// 30 s while a process publishes and consumes, then started again; the process is not restarted. Every
// message published before, during and after the outage is handled once.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createBus, createLogger, createNatsTransport, type Transport } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { openBusContext, until } from '@rxt/kit/testing/bus'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  count,
  effects,
  fixture,
  testBusOptions,
  type,
} from '../../packages/kit/src/bus/conformance.fixtures.ts'
import { accepts, freePort } from './net.ts'

/** The nats-server this machine runs, or why there is none. */
const natsServer = (() => {
  try {
    return { path: execFileSync('which', ['nats-server'], { encoding: 'utf8' }).trim(), reason: '' }
  } catch {
    return { path: '', reason: 'no nats-server binary on PATH (`which nats-server` found none)' }
  }
})()
if (natsServer.reason !== '') {
  if (process.env.CI === 'true')
    throw new Error(`CI=true and the chaos test's peer is missing: ${natsServer.reason}`)
  process.stdout.write(`SKIPPED chaos suites: ${natsServer.reason}\n`)
}

/** The outage the test causes: long enough that the NATS client's default give-up (10 attempts) passes. */
const outageMs = 30_000

describe.skipIf(natsServer.reason !== '')('chaos: the bus across a 30 s NATS outage', () => {
  const store = mkdtempSync(join(tmpdir(), 'rxt-chaos-nats-'))
  let port = 0
  let server: ChildProcess | undefined
  let db: TestDatabase | undefined

  const startServer = async () => {
    server = spawn(natsServer.path, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], {
      stdio: 'ignore',
    })
    await until(() => accepts(port), 15_000, 'nats-server to accept connections')
  }
  const stopServer = async () => {
    const s = server
    if (s === undefined || s.exitCode !== null) return
    const exited = new Promise((resolve) => s.once('exit', resolve))
    s.kill('SIGTERM')
    await exited
  }

  beforeAll(async () => {
    port = await freePort()
    await startServer()
  })
  afterAll(async () => {
    await stopServer()
    await db?.dispose()
    rmSync(store, { recursive: true, force: true })
  })

  it('handles every message published before, during and after the outage once, without a restart', async () => {
    db = await (dbTargets()[0] as { create(): Promise<TestDatabase> }).create()
    const producer = await openBusContext(db.database, 'producer')
    const consumer = await openBusContext(db.database, 'consumer', effects)
    const transport: Transport = await createNatsTransport({
      url: `nats://127.0.0.1:${port}`,
      namespace: 'chaos',
      log: createLogger({ level: 'silent' }),
      publishTimeoutMs: 2_000,
    })
    const bus = createBus(testBusOptions(transport))
    const ctx = bus.attach('producer', producer)
    bus.attach('consumer', consumer)
    await bus.subscribe('consumer', [
      {
        id: 'chaos',
        types: [type],
        handle: async (message, { tx }) => {
          await tx.query('INSERT INTO effects (message_id, key) VALUES ($1, $2)', [message.id, message.key])
        },
      },
    ])
    await bus.start()
    const sent: string[] = []
    const publish = async (n: number, key: string) => {
      const envelopes = await producer.transaction((tx) =>
        ctx.publishAll(
          tx,
          Array.from({ length: n }, (_, i) => ({
            type,
            data: fixture,
            tenantId: 't',
            key: `${key}-${i % 4}`,
          })),
        ),
      )
      sent.push(...envelopes.map((e) => e.id))
    }
    const handled = () => count(consumer, 'SELECT count(DISTINCT message_id) AS n FROM effects')
    try {
      await publish(20, 'before')
      await until(async () => (await handled()) === 20, 20_000, 'the messages before the outage')

      await stopServer()
      const stoppedAt = Date.now()
      // Readiness says so while it lasts.
      await until(
        () =>
          transport.ping().then(
            () => false,
            () => true,
          ),
        10_000,
        'the transport to report the outage',
      )
      expect(transport.status?.().connected).toBe(false)
      await publish(20, 'during')
      // The outage itself is the fault injected: the server stays down for outageMs.
      await until(() => Date.now() - stoppedAt >= outageMs, outageMs + 5_000, 'the outage to last')
      await startServer()

      await until(
        () =>
          transport.ping().then(
            () => true,
            () => false,
          ),
        30_000,
        'the transport to reconnect',
      )
      await publish(20, 'after')
      await until(async () => (await handled()) === 60, 60_000, 'every message handled')
      await until(
        async () => (await transport.lag({ name: 'consumer.chaos', types: [type], ackWaitMs: 2_000 })) === 0,
        30_000,
        'everything settled',
      )
      const rows = await count(consumer, 'SELECT count(*) AS n FROM effects')
      const distinct = await handled()
      const counts = {
        published: sent.length,
        handled: distinct,
        duplicates: rows - distinct,
        lost: sent.length - distinct,
        reconnects: transport.status?.().reconnects,
      }
      process.stdout.write(`chaos nats outage: ${JSON.stringify(counts)}\n`)
      expect(counts).toMatchObject({ published: 60, handled: 60, duplicates: 0, lost: 0 })
      expect(counts.reconnects).toBeGreaterThanOrEqual(1)
    } finally {
      await bus.stop()
      await transport.close().catch(() => undefined)
    }
  }, 180_000)
})
