// The deploy saga under load (issue 18): BENCH_DEPLOYS (200) deploys started at once, one per
// environment, from cmd.deploy.apply to a ready deployment, on the simulated platforms with no
// injected latency, in two modes in the same run:
//   embedded:         PGlite, the bus on the Postgres log (`rxt-deploy up`)
//   postgres+nats:    a fresh PostgreSQL database, the bus on NATS JetStream (the distributed mode)
// Each runs identity, sim, router and orchestrator (the spot adapter's renderer as an extension) in
// this process. The baseline, in the same run and on the same database: the SDK calls of the same
// plans (the plans the sagas made) on a simulation of their own, without the bus or the saga:
// provisionEnvironment, deployApplication, configureNetwork and getStatus (what the verify step
// asks), in a loop, then all at once.
// Timings are the database's: a deploy is published when its transaction commits (this process's
// clock) and ready at its deployments row's updated_at (now() of the saga's last transition); the
// steps' times are the saga history's (GET /v1/deployments/:id), the platform calls' the simulation's.
// BENCH_DEPLOY_MODES (embedded,postgres+nats), BENCH_DEPLOY_WARMUP (10) and BENCH_DEPLOY_PROFILE=1 (a
// CPU profile of the measured window and the statements sent most) change what runs.
import { randomBytes, randomUUID } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { createSimPlatform, SimFlavor, type SimPlatform, sim, simProviderName } from '@rxt/adapter-sim'
import { spot } from '@rxt/adapter-spot'
import { catalog, type DeployPlan } from '@rxt/contracts'
import { canonicalManifest, loadManifest, manifestDigest } from '@rxt/contracts/manifest'
import { identity } from '@rxt/identity'
import {
  type ContextDb,
  type ContextDefinition,
  type ContextDeps,
  CoreConfig,
  composeConfigSchema,
  createLogger,
  createNatsTransport,
  createPostgresLog,
  type Database,
  defineContext,
  type Extension,
  loadMigrations,
  type Migration,
  openDatabase,
  parseConfig,
  type Runtime,
  startRuntime,
  systemClock,
  type Transaction,
  type Transport,
} from '@rxt/kit'
import { createFreshPostgres } from '@rxt/kit/testing'
import { deleteStreams } from '@rxt/kit/testing/bus'
import { signUp } from '@rxt/kit/testing/runtime'
import { deploymentIdOf, orchestrator } from '@rxt/orchestrator'
import { placement } from '@rxt/placement'
import { policy } from '@rxt/policy'
import { router } from '@rxt/router'
import pg from 'pg'
import { cpuTicks } from './servers.ts'

const postgresUrl = process.env.RXT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const natsUrl = process.env.RXT_TEST_NATS_URL ?? 'nats://127.0.0.1:4222'
const deploys = Number(process.env.BENCH_DEPLOYS ?? 200)
const warmups = Number(process.env.BENCH_DEPLOY_WARMUP ?? 10)
const modes = (process.env.BENCH_DEPLOY_MODES ?? 'embedded,postgres+nats').split(',')
const targetP95Ms = 1_000
const settleTimeoutMs = 300_000
const log = createLogger({ level: 'silent' })

type Mode = 'embedded' | 'postgres+nats'

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN
}
const ms = (value: number) => `${Math.round(value)} ms`
const spread = (values: readonly number[]) =>
  `p50 ${ms(percentile(values, 50))}, p95 ${ms(percentile(values, 95))}, max ${ms(Math.max(...values))}`

/** Busy and total jiffies of the whole machine (every core), from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number)
  const total = fields.reduce((a, b) => a + b, 0)
  return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total }
}

const manifestOf = (host: string) => {
  const loaded = loadManifest(`
apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: shop}
spec:
  image: ghcr.io/acme/shop:1.4.2
  replicas: 2
  platform: {preference: container}
  ports: [{name: http, port: 8080, protocol: http}]
  network: {visibility: public, hostnames: [${host}], tls: required}
`)
  if (!loaded.ok) throw new Error('the benchmark manifest is invalid')
  return { manifest: canonicalManifest(loaded.manifest), manifestDigest: manifestDigest(loaded.manifest) }
}

/** What the contexts asked of the database: transactions that sent a statement, statements alone. */
interface DbCounts {
  transactions: number
  autocommit: number
  statements: number
}
const zero = (): DbCounts => ({ transactions: 0, autocommit: 0, statements: 0 })

/**
 * `database`, counting per context what its handles send (the real handles do the work). A
 * transaction that sent nothing is not counted: the drivers send no BEGIN for it.
 */
function counting(database: Database) {
  const byContext = new Map<string, DbCounts>()
  /** Statements by context and text (its first words): which round trips a deploy costs. */
  const texts = new Map<string, number>()
  const sentText = (context: string, text: string) => {
    const key = `${context}: ${text.replace(/\s+/g, ' ').trim().slice(0, 90)}`
    texts.set(key, (texts.get(key) ?? 0) + 1)
  }
  const of = (context: string) => {
    const counts = byContext.get(context) ?? zero()
    byContext.set(context, counts)
    return counts
  }
  const wrap = (db: ContextDb): ContextDb => {
    const counts = of(db.context)
    const within =
      <T>(tenant: boolean, fn: (tx: Transaction) => Promise<T>) =>
      async (tx: Transaction) => {
        let sent = tenant
        if (tenant) {
          counts.statements++
          sentText(db.context, "(withTenant) SELECT set_config('rxt.tenant_id', …)")
        }
        const counted: Transaction = {
          context: tx.context,
          afterCommit: (hook) => tx.afterCommit(hook),
          query: (text, params) => {
            sent = true
            counts.statements++
            sentText(db.context, text)
            return tx.query(text, params)
          },
        }
        try {
          return await fn(counted)
        } finally {
          if (sent) counts.transactions++
        }
      }
    return {
      context: db.context,
      schema: db.schema,
      role: db.role,
      query: (text, params) => {
        counts.autocommit++
        counts.statements++
        sentText(db.context, `(alone) ${text}`)
        return db.query(text, params)
      },
      transaction: (fn) => db.transaction(within(false, fn)),
      withTenant: (tenantId, fn) => db.withTenant(tenantId, within(true, fn)),
    }
  }
  const counted: Database = {
    kind: database.kind,
    ping: () => database.ping(),
    close: () => database.close(),
    expect: (contexts) => database.expect(contexts),
    openContext: async (name, migrations, options) =>
      wrap(await database.openContext(name, migrations, options)),
  }
  /** The counts so far, per context and in all. */
  const snapshot = () => {
    const total = zero()
    const contexts = new Map<string, DbCounts>()
    for (const [name, c] of byContext) {
      contexts.set(name, { ...c })
      total.transactions += c.transactions
      total.autocommit += c.autocommit
      total.statements += c.statements
    }
    return { total, contexts, texts: new Map(texts) }
  }
  return { database: counted, snapshot }
}
type Snapshot = ReturnType<ReturnType<typeof counting>['snapshot']>

const minus = (after: DbCounts, before: DbCounts | undefined): DbCounts => ({
  transactions: after.transactions - (before?.transactions ?? 0),
  autocommit: after.autocommit - (before?.autocommit ?? 0),
  statements: after.statements - (before?.statements ?? 0),
})

const migrationsOf = async (definition: ContextDefinition<unknown>): Promise<Migration[]> =>
  definition.migrations === undefined
    ? []
    : definition.migrations instanceof URL
      ? loadMigrations(definition.migrations)
      : [...definition.migrations]

/** Messages the relays handed to the transport, by type (rxt_bus_published_total). */
async function publishedByType(runtime: Runtime, authorization: string): Promise<Map<string, number>> {
  const res = await runtime.app.inject({ url: '/metrics', headers: { authorization } })
  if (res.statusCode !== 200) throw new Error(`GET /metrics answered ${res.statusCode}`)
  const counts = new Map<string, number>()
  for (const line of res.body.split('\n')) {
    const match = /^rxt_bus_published_total\{(.*)\} (\d+(?:\.\d+)?)$/.exec(line)
    const type = match?.[1] ? /type="([^"]+)"/.exec(match[1])?.[1] : undefined
    if (type !== undefined) counts.set(type, (counts.get(type) ?? 0) + Number(match?.[2]))
  }
  return counts
}

/** Messages stored in the streams of a NATS namespace. */
async function streamMessages(namespace: string): Promise<number> {
  const nc = await connect({ servers: natsUrl })
  try {
    const jsm = await jetstreamManager(nc)
    const prefix = `${namespace}_`.toUpperCase()
    let total = 0
    for await (const info of jsm.streams.list())
      if (info.config.name.startsWith(prefix)) total += info.state.messages
    return total
  } finally {
    await nc.close()
  }
}

/** Committed and rolled-back transactions of a database, as PostgreSQL's statistics have them. */
async function pgTransactions(name: string): Promise<number> {
  const client = new pg.Client({ connectionString: postgresUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ n: string }>(
      'SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1',
      [name],
    )
    return Number(rows[0]?.n ?? Number.NaN)
  } finally {
    await client.end()
  }
}

const profiling = process.env.BENCH_DEPLOY_PROFILE === '1'

/**
 * A CPU profile of this process over the measured window (BENCH_DEPLOY_PROFILE=1): where its CPU
 * went, by package or file, self time; the profile is written to the temporary directory. The
 * profiler costs time itself: a profiled run's timings are not the reported ones.
 */
async function startProfiler() {
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: 500 })
  await session.post('Profiler.start')
  return {
    async stop(label: string): Promise<string> {
      const { profile } = await session.post('Profiler.stop')
      session.disconnect()
      const file = join(tmpdir(), `deploy-bench-${label.replace(/\W/g, '-')}-${Date.now()}.cpuprofile`)
      writeFileSync(file, JSON.stringify(profile))
      const byArea = new Map<string, number>()
      const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
      const parentOf = new Map<number, number>()
      for (const n of profile.nodes) for (const child of n.children ?? []) parentOf.set(child, n.id)
      const areaOf = (url: string) =>
        url.startsWith('node:')
          ? url.split('/').slice(0, 2).join('/')
          : url.includes('/node_modules/')
            ? (/\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? url)
            : url.replace(/^file:\/\/\/work\/main\//, '').replace(/\/src\//, ':')
      let total = 0
      for (const node of profile.nodes) {
        const { url, functionName } = node.callFrame
        let area: string
        if (url !== '') area = areaOf(url)
        else if (functionName.startsWith('(')) area = functionName
        else {
          // A native function (a socket write, JSON, hashing): named, with the package that called it.
          let caller = parentOf.get(node.id)
          const inside = (id: number) => {
            const callerUrl = nodes.get(id)?.callFrame.url ?? ''
            return callerUrl === '' || callerUrl.startsWith('node:')
          }
          while (caller !== undefined && inside(caller)) caller = parentOf.get(caller)
          const callerUrl = caller === undefined ? '' : (nodes.get(caller)?.callFrame.url ?? '')
          area = `native ${functionName || '(anonymous)'} from ${callerUrl === '' ? '?' : areaOf(callerUrl)}`
        }
        const hits = node.hitCount ?? 0
        byArea.set(area, (byArea.get(area) ?? 0) + hits)
        total += hits
      }
      const busy = total - (byArea.get('(idle)') ?? 0)
      const top = [...byArea]
        .filter(([area]) => area !== '(idle)')
        .sort((a, b) => b[1] - a[1])
        .slice(0, 20)
        .map(([area, hits]) => `      ${((hits / busy) * 100).toFixed(1).padStart(5)}%  ${area}`)
      return `  CPU profile of this process over the run (${file}); busy ${((busy / total) * 100).toFixed(0)}% of the samples, self time by area:\n${top.join('\n')}`
    },
  }
}

/** CPU ticks (10 ms) so far of the PostgreSQL backends serving `name`, by process id. */
async function backendTicks(name: string): Promise<Map<number, number>> {
  const client = new pg.Client({ connectionString: postgresUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = $1',
      [name],
    )
    const ticks = new Map<number, number>()
    for (const { pid } of rows) {
      try {
        ticks.set(pid, cpuTicks(pid))
      } catch {
        // Gone meanwhile.
      }
    }
    return ticks
  } finally {
    await client.end()
  }
}

/** CPU ticks so far of the processes named `comm` on this machine (the NATS server). */
function ticksOf(comm: string): number {
  let total = 0
  for (const pid of readdirSync('/proc').filter((f) => /^\d+$/.test(f))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm) total += cpuTicks(Number(pid))
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return total
}

interface StepView {
  readonly name: string
  readonly status: string
  readonly attempts: number
  readonly startedAt: string | null
  readonly endedAt: string | null
}
interface DeploymentView {
  readonly id: string
  readonly status: string
  readonly createdAt: string
  readonly updatedAt: string
  readonly steps: readonly StepView[]
}

interface DirectResult {
  readonly perDeploy: number[]
  readonly loopWall: number
  readonly allAtOnceWall: number
  readonly transactions: number
}

/**
 * The baseline: the SDK calls of `plans` on simulations of their own (a schema with the sim's
 * tables), with no bus or saga: first in a loop, one deploy after another, then all at once (on fresh
 * simulations, so that no call finds its key answered already).
 */
async function direct(database: Database, plans: readonly DeployPlan[]): Promise<DirectResult> {
  const migrations = await migrationsOf(sim as ContextDefinition<unknown>)
  const simulations = async (name: string) => {
    const { database: counted, snapshot } = counting(database)
    const db = await counted.openContext(name, migrations)
    const platforms = new Map<string, SimPlatform>(
      [SimFlavor.container, SimFlavor.vm].map((flavor) => [
        simProviderName(flavor),
        createSimPlatform({ db, clock: systemClock }, { flavor, latencyMs: 0, rolloutMs: 0 }),
      ]),
    )
    return { platforms, snapshot }
  }
  const deploy = async (platforms: Map<string, SimPlatform>, plan: DeployPlan) => {
    const platform = platforms.get(plan.provider)
    if (platform === undefined) throw new Error(`no simulation ${plan.provider} for the direct baseline`)
    const provisioned = await platform.provisionEnvironment(plan.provision)
    if (!provisioned.ok) throw new Error(`direct provisionEnvironment failed: ${provisioned.failure.message}`)
    const deployed = await platform.deployApplication(plan.deploy)
    if (!deployed.ok) throw new Error(`direct deployApplication failed: ${deployed.failure.message}`)
    if (plan.network !== null) {
      const networked = await platform.configureNetwork(plan.network)
      if (!networked.ok) throw new Error(`direct configureNetwork failed: ${networked.failure.message}`)
    }
    // What the verify step asks (the rollout takes no time here: ready at the first look).
    const status = await platform.getStatus(plan.envId)
    if (!status.ok || status.value.phase !== 'ready')
      throw new Error(`direct getStatus: ${status.ok ? status.value.phase : status.failure.message}`)
  }
  const suffix = randomBytes(3).toString('hex')
  const loop = await simulations(`bench_direct_loop_${suffix}`)
  const perDeploy: number[] = []
  const loopStarted = performance.now()
  for (const plan of plans) {
    const t0 = performance.now()
    await deploy(loop.platforms, plan)
    perDeploy.push(performance.now() - t0)
  }
  const loopWall = performance.now() - loopStarted
  const transactions = loop.snapshot().total.transactions + loop.snapshot().total.autocommit
  const atOnce = await simulations(`bench_direct_once_${suffix}`)
  const onceStarted = performance.now()
  await Promise.all(plans.map((plan) => deploy(atOnce.platforms, plan)))
  const allAtOnceWall = performance.now() - onceStarted
  return { perDeploy, loopWall, allAtOnceWall, transactions }
}

interface ModeResult {
  readonly mode: Mode
  readonly latencies: number[]
  readonly wall: number
  readonly direct: DirectResult
  /** CPU a deploy, milliseconds: this process, the database backends, the NATS server. */
  readonly cpuMs: number
}

async function run(mode: Mode): Promise<ModeResult> {
  console.log(
    `\n-- ${mode === 'embedded' ? 'embedded: PGlite, bus on the Postgres log' : 'PostgreSQL + NATS JetStream'}`,
  )
  const fresh = mode === 'postgres+nats' ? await createFreshPostgres(postgresUrl) : undefined
  const namespace = `bench${randomUUID().replaceAll('-', '').slice(0, 8)}`
  const raw = await openDatabase(
    fresh === undefined ? { kind: 'pglite' } : { kind: 'postgres', url: fresh.url, poolMax: 10 },
    log,
  )
  const { database, snapshot } = counting(raw)
  let runtime: Runtime | undefined
  try {
    const transport: Transport =
      mode === 'embedded'
        ? await createPostgresLog({ database })
        : await createNatsTransport({ url: natsUrl, namespace, log })
    let driver: ContextDeps<unknown> | undefined
    const harness = defineContext({
      name: 'bench_driver',
      start: (deps) => {
        driver = deps as ContextDeps<unknown>
      },
    })
    const contexts = [
      identity,
      sim,
      router,
      placement,
      policy,
      orchestrator,
      harness,
    ] as ContextDefinition<unknown>[]
    const env = { PORT: '0', LOG_LEVEL: 'silent', SIM_ROLLOUT_MS: '0', SIM_LATENCY_MS: '0' }
    runtime = await startRuntime({
      contexts,
      config: parseConfig(
        composeConfigSchema([
          CoreConfig,
          ...contexts.flatMap((c) => (c.config === undefined ? [] : [c.config])),
        ]),
        env,
      ) as CoreConfig,
      log,
      database,
      transport,
      catalog,
      mode: mode === 'embedded' ? 'embedded' : 'distributed',
      version: 'bench',
      extensions: [
        ...contexts.flatMap((c) => (c.extensions ?? []) as Extension<unknown>[]),
        ...(spot.extensions as Extension<unknown>[]),
      ],
    })
    const app = runtime.app
    const publisher = driver as ContextDeps<unknown>
    const tag = randomBytes(3).toString('hex')
    const owner = await signUp(runtime, `bench-${tag}@example.com`)
    const authorization = owner.authorization
    // Placement needs the simulations healthy (their first reports, at start).
    const deadline = Date.now() + 30_000
    for (;;) {
      const providers = (await app.inject({ url: '/v1/providers', headers: { authorization } })).json() as {
        items: { health: { healthy: boolean } }[]
      }
      if (providers.items.length > 0 && providers.items.every((p) => p.health.healthy)) break
      if (Date.now() > deadline) throw new Error('the simulations did not report healthy in 30 s')
      await sleep(50)
    }
    // Read handles (uncounted) on the orchestrator's and the simulation's schemas.
    const deployments = await raw.openContext(
      'orchestrator',
      await migrationsOf(orchestrator as ContextDefinition<unknown>),
    )
    const simulation = await raw.openContext('sim', await migrationsOf(sim as ContextDefinition<unknown>))

    const commands = (label: string, n: number) =>
      Array.from({ length: n }, (_, i) => {
        const envId = `env-${label}-${i}-${tag}`
        const commitSha = randomBytes(20).toString('hex')
        const data = {
          envId,
          projectId: `prj-${i}`,
          environment: 'production',
          commitSha,
          artifactRef: `ghcr.io/acme/shop:${commitSha.slice(0, 7)}`,
          overrides: '{}',
          ...manifestOf(`${label}-${i}-${tag}.acme.example`),
        }
        return { envId, data, id: deploymentIdOf({ ...data, tenantId: owner.orgId }) }
      })
    let polls = 0
    /** Publishes the deploys in one transaction; resolves when all are ready (and throws if one is not). */
    const deployAll = async (label: string, n: number) => {
      const batch = commands(label, n)
      await publisher.db.transaction((tx) =>
        publisher.bus.publishAll(
          tx,
          batch.map((c) => ({ type: 'cmd.deploy.apply', tenantId: owner.orgId, key: c.envId, data: c.data })),
        ),
      )
      const published = Date.now()
      const ids = batch.map((c) => c.id)
      const until = Date.now() + settleTimeoutMs
      for (;;) {
        polls++
        const rows = await deployments.withTenant(
          owner.orgId,
          async (tx) =>
            (
              await tx.query<{
                id: string
                status: string
                created_at: Date | string
                updated_at: Date | string
              }>('SELECT id, status, created_at, updated_at FROM deployments WHERE id = ANY($1::uuid[])', [
                ids,
              ])
            ).rows,
        )
        const over = rows.filter((r) => !['queued', 'running', 'compensating'].includes(r.status))
        const notReady = over.filter((r) => r.status !== 'ready')
        if (notReady.length > 0)
          throw new Error(
            `${notReady.length} of ${n} deploys did not become ready: ${notReady
              .slice(0, 5)
              .map((r) => `${r.id} ${r.status}`)
              .join(', ')}`,
          )
        if (over.length === n) {
          const done = new Map(rows.map((r) => [r.id, r]))
          return { ids, published, rows: ids.map((id) => done.get(id) as (typeof rows)[number]) }
        }
        if (Date.now() > until) {
          const statuses = new Map<string, number>()
          for (const r of rows) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
          throw new Error(
            `only ${over.length} of ${n} deploys ready after ${settleTimeoutMs / 1000} s (${[...statuses].map(([s, c]) => `${c} ${s}`).join(', ')}; ${n - rows.length} not yet applied)`,
          )
        }
        await sleep(100)
      }
    }

    // Warm-up (JIT, pools, streams, consumers), not measured.
    if (warmups > 0) await deployAll('warm', warmups)
    const pgName = fresh === undefined ? undefined : new URL(fresh.url).pathname.slice(1)
    // The background (relay, consumer and timer polls, health reports) while nothing is deployed: its
    // rate, to tell it apart from what the deploys cost. On PostgreSQL the window is also the wait its
    // statistics need before the cross-check's first reading (a backend flushes them at most every
    // second while it works, within 10 s once idle).
    await sleep(1_000)
    const idleBefore = snapshot()
    const idleCpuBefore = process.cpuUsage()
    const idleMs = pgName === undefined ? 5_000 : 11_000
    await sleep(idleMs)
    const idleCpu = process.cpuUsage(idleCpuBefore)
    const idle = minus(snapshot().total, idleBefore.total)
    const pgBefore = pgName === undefined ? undefined : await pgTransactions(pgName)
    const pollsBefore = polls
    const countsBefore = snapshot()
    const messagesBefore = await publishedByType(runtime, authorization)
    const streamBefore = mode === 'postgres+nats' ? await streamMessages(namespace) : undefined
    const backendsBefore = pgName === undefined ? undefined : await backendTicks(pgName)
    const natsBefore = mode === 'postgres+nats' ? ticksOf('nats-server') : 0
    const cpuBefore = process.cpuUsage()
    const machineBefore = machineTicks()
    const loadBefore = loadavg()

    const profiler = profiling ? await startProfiler() : undefined
    const measured = await deployAll('bench', deploys)
    const profile = await profiler?.stop(mode)

    const machineAfter = machineTicks()
    const cpu = process.cpuUsage(cpuBefore)
    const natsTicks = mode === 'postgres+nats' ? ticksOf('nats-server') - natsBefore : 0
    const backendsAfter = pgName === undefined ? undefined : await backendTicks(pgName)
    // Backends that ended during the run are missed; those that began in it count from zero.
    const backendMs =
      backendsAfter === undefined
        ? undefined
        : [...backendsAfter].reduce((sum, [pid, t]) => sum + t - (backendsBefore?.get(pid) ?? 0), 0) * 10
    const countsAfter: Snapshot = snapshot()
    // evt.deploy.ready leaves with the last transition's outbox: what the relays have of it shortly after.
    let messagesAfter = await publishedByType(runtime, authorization)
    const relayedBy = Date.now() + 5_000
    while (
      (messagesAfter.get('evt.deploy.ready') ?? 0) - (messagesBefore.get('evt.deploy.ready') ?? 0) <
        deploys &&
      Date.now() < relayedBy
    ) {
      await sleep(50)
      messagesAfter = await publishedByType(runtime, authorization)
    }
    const streamAfter = mode === 'postgres+nats' ? await streamMessages(namespace) : undefined
    const readyAt = measured.rows.map((r) => new Date(r.updated_at).getTime())
    const createdAt = measured.rows.map((r) => new Date(r.created_at).getTime())
    const latencies = readyAt.map((t) => t - measured.published)
    const wall = Math.max(...readyAt) - measured.published

    console.log(
      `  publish → ready (deployments.updated_at of the ready row): ${spread(latencies)}; wall ${ms(wall)}, ${((deploys * 1000) / wall).toFixed(1)} deploys/s`,
    )

    // Where the time went, per deploy: the apply command's delivery, each step (from the saga
    // history), the platform calls within (the simulation's record of them), the last transition.
    const views = await Promise.all(
      measured.ids.map(async (id) => {
        const res = await app.inject({ url: `/v1/deployments/${id}`, headers: { authorization } })
        if (res.statusCode !== 200)
          throw new Error(`GET /v1/deployments/${id} answered ${res.statusCode}: ${res.body}`)
        return res.json() as DeploymentView
      }),
    )
    const stepNames = views[0]?.steps.map((s) => s.name) ?? []
    const failedSteps = views.flatMap((v) =>
      v.steps
        .filter((s) => s.status !== 'succeeded' || s.attempts !== 1)
        .map((s) => `${v.id} ${s.name} ${s.status} ×${s.attempts}`),
    )
    if (views.some((v) => v.status !== 'ready'))
      throw new Error('a deployment the table says is ready is not')
    const plans = await deployments.query<{ id: string; results: Record<string, unknown> }>(
      `SELECT id, state->'results' AS results FROM rxt_sagas WHERE id = ANY($1)`,
      [measured.ids],
    )
    const planOf = new Map<string, DeployPlan>()
    for (const r of plans.rows) {
      const results = typeof r.results === 'string' ? JSON.parse(r.results) : r.results
      const found = Object.values(results as Record<string, { plan?: DeployPlan }>).find((v) => v?.plan)?.plan
      if (found !== undefined) planOf.set(r.id, found)
    }
    if (planOf.size !== deploys)
      throw new Error(`the saga results hold plans of ${planOf.size} of ${deploys} deploys`)
    const calls = await simulation.query<{ key: string; operation: string; at: Date | string }>(
      'SELECT key, operation, at FROM calls WHERE key = ANY($1)',
      [
        [...planOf.values()].flatMap((p) => [
          p.provision.key,
          p.deploy.key,
          ...(p.network ? [p.network.key] : []),
        ]),
      ],
    )
    const callAt = new Map(calls.rows.map((r) => [r.key, new Date(r.at).getTime()]))
    const segments = new Map<string, number[]>()
    const add = (name: string, value: number) => {
      const values = segments.get(name) ?? []
      segments.set(name, values)
      values.push(value)
    }
    views.forEach((view, i) => {
      const plan = planOf.get(view.id) as DeployPlan
      const platformCalls = [plan.provision.key, plan.deploy.key, ...(plan.network ? [plan.network.key] : [])]
        .map((key) => callAt.get(key))
        .filter((t): t is number => t !== undefined)
      add('apply delivered (publish → deployment row)', (createdAt[i] as number) - measured.published)
      let previous = createdAt[i] as number
      for (const step of view.steps) {
        const started = Date.parse(step.startedAt as string)
        const ended = Date.parse(step.endedAt as string)
        if (started - previous > 1) add(`  before ${step.name}`, started - previous)
        add(`${step.name}`, ended - started)
        const within = platformCalls.filter((t) => t >= started - 1 && t <= ended + 1).sort((a, b) => a - b)
        if (within.length > 0) {
          add(`  ${step.name}: command delivered (→ first platform call)`, (within[0] as number) - started)
          add(`  ${step.name}: answer delivered (last platform call →)`, ended - (within.at(-1) as number))
        }
        previous = ended
      }
      add('last step → ready', (readyAt[i] as number) - previous)
    })
    console.log(`  where the time goes (p50 / p95 / max per deploy; saga steps: ${stepNames.join(', ')}):`)
    for (const [name, values] of segments)
      console.log(
        `    ${name.padEnd(56)} ${ms(percentile(values, 50)).padStart(8)} ${ms(percentile(values, 95)).padStart(8)} ${ms(Math.max(...values)).padStart(8)}`,
      )
    if (failedSteps.length > 0)
      console.log(
        `  steps not done at the first attempt: ${failedSteps.length} (${failedSteps.slice(0, 3).join('; ')})`,
      )

    // Database transactions and bus messages per deploy, over the measured window (publish → all ready).
    const counted = minus(countsAfter.total, countsBefore.total)
    console.log(
      `  database transactions per deploy: ${((counted.transactions + counted.autocommit) / deploys).toFixed(1)} (counted at the contexts' handles: ${(counted.transactions / deploys).toFixed(1)} transactions + ${(counted.autocommit / deploys).toFixed(1)} single statements; ${(counted.statements / deploys).toFixed(1)} statements; relay and timer polls included)`,
    )
    const background = ((idle.transactions + idle.autocommit) * wall) / idleMs
    console.log(
      `    of which background: ~${(background / deploys).toFixed(1)} a deploy (${Math.round((idle.transactions + idle.autocommit) / (idleMs / 1000))} a second while idle, this process ${ms((idleCpu.user + idleCpu.system) / (idleMs / 1000) / 1000)} CPU a second)`,
    )
    const byContext = [...countsAfter.contexts]
      .map(([name, c]) => [name, minus(c, countsBefore.contexts.get(name))] as const)
      .filter(([, c]) => c.transactions + c.autocommit > 0)
      .sort((a, b) => b[1].transactions + b[1].autocommit - (a[1].transactions + a[1].autocommit))
    console.log(
      `    by context (transactions, statements): ${byContext.map(([name, c]) => `${name} ${((c.transactions + c.autocommit) / deploys).toFixed(1)}, ${(c.statements / deploys).toFixed(1)}`).join('; ')}`,
    )
    const messages = [...messagesAfter]
      .map(([type, n]) => [type, n - (messagesBefore.get(type) ?? 0)] as const)
      .filter(([, n]) => n > 0)
    const totalMessages = messages.reduce((a, [, n]) => a + n, 0)
    console.log(
      `  bus messages per deploy: ${(totalMessages / deploys).toFixed(2)} relayed (rxt_bus_published_total)${streamBefore === undefined ? '' : `; NATS streams stored ${(((streamAfter as number) - streamBefore) / deploys).toFixed(2)}`}`,
    )
    console.log(
      `    by type: ${messages.map(([type, n]) => `${type} ${(n / deploys).toFixed(2)}`).join(', ')}`,
    )
    const processMs = (cpu.user + cpu.system) / 1000
    console.log(
      `  CPU a deploy: this process (the control plane, the simulations${mode === 'embedded' ? ', PGlite' : ''}) ${ms(processMs / deploys)}${backendMs === undefined ? '' : `, its PostgreSQL backends ${ms(backendMs / deploys)}`}${mode === 'postgres+nats' ? `, the NATS server ${ms((natsTicks * 10) / deploys)} (the server's whole use: other work may use it too)` : ''}`,
    )
    console.log(
      `  machine: ${cpus().length} cores shared with other work: ${Math.round(((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * 100)}% busy during the run, load average ${loadBefore.map((l) => l.toFixed(1)).join(' ')} before it`,
    )
    if (profile !== undefined) {
      console.log(profile)
      const statements = [...countsAfter.texts]
        .map(([text, n]) => [text, n - (countsBefore.texts.get(text) ?? 0)] as const)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 25)
      console.log(
        `  statements a deploy, the most sent (each a round trip; a transaction's COMMIT is one more):\n${statements.map(([text, n]) => `    ${(n / deploys).toFixed(2).padStart(6)}  ${text}`).join('\n')}`,
      )
    }
    if (pgName !== undefined) {
      await sleep(11_000)
      const pgAfter = await pgTransactions(pgName)
      const bracket = minus(snapshot().total, countsBefore.total)
      const ownPolls = polls - pollsBefore
      console.log(
        `  cross-check, pg_stat_database (xact_commit + xact_rollback) from before the run to 11 s after: ${pgAfter - (pgBefore as number)}; counted at the handles over the same: ${bracket.transactions + bracket.autocommit} + the benchmark's ${ownPolls} status polls`,
      )
    }

    await runtime.stop()
    runtime = undefined
    const baseline = await direct(
      raw,
      measured.ids.map((id) => planOf.get(id) as DeployPlan),
    )
    const directP50 = percentile(baseline.perDeploy, 50)
    console.log(
      `  direct SDK calls (provisionEnvironment, deployApplication, configureNetwork, getStatus of the same plans): in a loop ${spread(baseline.perDeploy)} a deploy, wall ${ms(baseline.loopWall)}; all at once wall ${ms(baseline.allAtOnceWall)}; ${(baseline.transactions / deploys).toFixed(1)} transactions a deploy`,
    )
    console.log(
      `  orchestration overhead: saga p50 / direct p50 ${(percentile(latencies, 50) / directP50).toFixed(0)}x; wall saga / direct all at once ${(wall / baseline.allAtOnceWall).toFixed(1)}x, / direct loop ${(wall / baseline.loopWall).toFixed(1)}x`,
    )
    return {
      mode,
      latencies,
      wall,
      direct: baseline,
      cpuMs: (processMs + (backendMs ?? 0) + natsTicks * 10) / deploys,
    }
  } finally {
    await runtime?.stop()
    await raw.close()
    await fresh?.drop()
    if (mode === 'postgres+nats') await deleteStreams(natsUrl, namespace)
  }
}

console.log(
  `${deploys} deploys at once, one per environment, on the simulations (no injected latency), after ${warmups} warm-up deploys; ${cpus().length} cores, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}: other work runs on this machine at the same time`,
)
const results: ModeResult[] = []
for (const mode of modes) results.push(await run(mode as Mode))
const distributed = results.find((r) => r.mode === 'postgres+nats')
if (distributed !== undefined) {
  const p95 = percentile(distributed.latencies, 95)
  console.log(
    `\ntarget: p95 < ${ms(targetP95Ms)} per deploy with ${deploys} in flight on PostgreSQL + NATS: p95 ${ms(p95)}, ${p95 < targetP95Ms ? 'met' : 'NOT MET'}`,
  )
  // All in flight at once move through the steps together: the last is ready when all the work is
  // done, so the p95 is bounded below by the CPU all of them need over the cores there are.
  const cores = cpus().length
  console.log(
    `  the CPU bound: ${ms(distributed.cpuMs)} CPU a deploy end to end × ${deploys} / ${cores} cores = ${ms((distributed.cpuMs * deploys) / cores)} at the least with the whole machine; the target needs at most ${ms((cores * targetP95Ms) / deploys)} a deploy here`,
  )
}
