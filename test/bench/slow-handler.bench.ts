// What one slow handler costs everyone else in the embedded mode (PGlite: every context shares one
// connection). The control plane runs identity and registry; a context of this benchmark handles
// evt.project.created with 2 s of outside work (a platform call), written three ways:
//   in its transaction:       the work awaited inside the handler's transaction (how adapters did it)
//   in its transaction, 500 ms timeout: the same, cut by the handler's timeout (rolled back, retried)
//   acting after commit:      the work in `act` (no transaction open), the outcome recorded in `handle`
// While the work runs, unrelated write requests (PATCH of another project) and GET /readyz are timed;
// the baseline is the same requests with no handler at work, in the same run.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { ProjectCreatedMessage } from '@rxt/contracts'
import { identity } from '@rxt/identity'
import { defineContext, type MessageHandler, migration, on, openDatabase } from '@rxt/kit'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { registry } from '@rxt/registry'
import { median } from './servers.ts'

const workMs = 2_000
const log = { level: 'silent' } as const
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)

type Variant = 'idle' | 'in-tx' | 'in-tx-timeout' | 'act'

/** A context whose handler does `workMs` of outside work per created project, the way `variant` says. */
const slowpoke = (variant: Variant, working: { started: number; done: number }) =>
  defineContext({
    name: 'slowpoke',
    migrations: [migration('0001_done.sql', 'CREATE TABLE done (project_id uuid PRIMARY KEY, reply text)')],
    handlers: (): MessageHandler[] => {
      const outside = async () => {
        working.started++
        await sleep(workMs)
        return 'provisioned'
      }
      const record = async (
        tx: { query: (sql: string, p: unknown[]) => Promise<unknown> },
        id: string,
        reply: string,
      ) => {
        await tx.query('INSERT INTO done (project_id, reply) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
          id,
          reply,
        ])
        working.done++
      }
      if (variant === 'idle') return []
      if (variant === 'act')
        return [
          on(ProjectCreatedMessage, { id: 'work', act: () => outside() }, (data, { tx, outcome }) =>
            record(tx, data.projectId, outcome),
          ),
        ]
      return [
        on(
          ProjectCreatedMessage,
          { id: 'work', ...(variant === 'in-tx-timeout' ? { timeoutMs: 500 } : {}) },
          async (data, { tx }) => record(tx, data.projectId, await outside()),
        ),
      ]
    },
  })

async function run(variant: Variant) {
  const working = { started: 0, done: 0 }
  const database = await openDatabase({ kind: 'pglite' }, undefined as never)
  const runtime = await startTestRuntime({
    contexts: [identity, registry, slowpoke(variant, working)],
    database,
    env: {
      LOG_LEVEL: log.level,
      BUS_RETRY_BASE_MS: '60000',
      BUS_RETRY_MAX_MS: '60000',
      WEBHOOK_KEY: randomBytes(32).toString('base64url'),
    },
  })
  const base = await runtime.listen()
  try {
    const { authorization } = await signUp(runtime, `bench-${variant}@example.com`)
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      const text = await res.text()
      if (res.status >= 400) throw new Error(`${method} ${path} answered ${res.status}: ${text}`)
      return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
    }
    const other = (await call('POST', '/v1/projects', { slug: 'other', name: 'Other' })) as { id: string }
    // The handler of that first project runs before the measured rounds, and is let finish.
    if (variant !== 'idle') while (working.started < 1) await sleep(5)
    await sleep(variant === 'idle' ? 0 : workMs + 500)
    const writes: number[] = []
    const ready: number[] = []
    for (let round = 0; round < rounds; round++) {
      const before = working.started
      await call('POST', '/v1/projects', { slug: `busy-${round}`, name: `Busy ${round}` })
      if (variant !== 'idle') while (working.started === before) await sleep(5)
      // The handler is at work now: an unrelated write, then a readiness probe.
      const t0 = performance.now()
      await call('PATCH', `/v1/projects/${other.id}`, { name: `Other ${round}` })
      writes.push(performance.now() - t0)
      const t1 = performance.now()
      const r = await fetch(`${base}/readyz`)
      await r.text()
      ready.push(performance.now() - t1)
      await sleep(workMs + 300)
    }
    return { writes, ready }
  } finally {
    await runtime.stop()
    await database.close()
  }
}

const fmt = (xs: number[]) => `${Math.round(median(xs))} ms (max ${Math.round(Math.max(...xs))})`
const results = new Map<Variant, { writes: number[]; ready: number[] }>()
for (const variant of ['idle', 'in-tx', 'in-tx-timeout', 'act'] as const)
  results.set(variant, await run(variant))
const idle = median(results.get('idle')?.writes ?? [])
for (const [variant, r] of results) {
  console.log(
    `${variant.padEnd(14)} unrelated write ${fmt(r.writes).padEnd(22)} /readyz ${fmt(r.ready).padEnd(22)} write ratio to idle ${(median(r.writes) / idle).toFixed(1)}x`,
  )
}
console.log(
  `(a handler doing ${workMs} ms of outside work per created project; target: a write under 200 ms while it works)`,
)
