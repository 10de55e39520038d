import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from '@nats-io/transport-node'
import { Redis } from 'ioredis'
import pg from 'pg'
import type { TestProject } from 'vitest/node'
import { binaries, buildDir, opaPath } from '../../tools/peers/build.ts'
import { down, isUp, kubeconfigPath, up } from '../../tools/peers/cluster.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Base URL of the PostgreSQL the suites create fresh databases on; '' when there is none. */
    postgresUrl: string
    /** Why PostgreSQL suites are skipped; '' when they run. */
    postgresSkipReason: string
    /** URL of the NATS JetStream server the bus suites use; '' when there is none. */
    natsUrl: string
    /** Why NATS suites are skipped; '' when they run. */
    natsSkipReason: string
    /** URL of the Redis the edge suites share counters on; '' when there is none. */
    redisUrl: string
    /** Why Redis suites are skipped; '' when they run. */
    redisSkipReason: string
    /** The admin kubeconfig of the local Kubernetes control plane (tools/peers); '' when there is none. */
    kubeconfigPath: string
    /** Why Kubernetes suites are skipped; '' when they run. */
    kubeSkipReason: string
    /** The opa binary of the test peers (tools/peers); '' when it is not built. */
    opaPath: string
    /** Why the opa suites are skipped; '' when they run. */
    opaSkipReason: string
  }
}

const redact = (url: string) => url.replace(/:[^:@/]*@/, ':***@')

async function findPostgres(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return ''
  } catch (error) {
    return `PostgreSQL at ${redact(url)} is not reachable (${(error as Error).message})`
  } finally {
    await client.end().catch(() => undefined)
  }
}

async function findNats(url: string): Promise<string> {
  try {
    const nc = await connect({ servers: url, timeout: 3000 })
    try {
      // JetStream must be enabled, not only the core server.
      await nc.request('$JS.API.INFO', '', { timeout: 3000 })
      return ''
    } finally {
      await nc.close()
    }
  } catch (error) {
    return `NATS JetStream at ${redact(url)} is not reachable (${(error as Error).message})`
  }
}

async function findRedis(url: string): Promise<string> {
  const redis = new Redis(url, { connectTimeout: 3000, maxRetriesPerRequest: 0, lazyConnect: true })
  redis.on('error', () => undefined)
  try {
    await redis.connect()
    await redis.ping()
    return ''
  } catch (error) {
    return `Redis at ${redact(url)} is not reachable (${(error as Error).message})`
  } finally {
    redis.disconnect()
  }
}

/** The local Kubernetes control plane: started for the run when its peers are built (and stopped after). */
async function findKubernetes(): Promise<{ reason: string; startedHere: boolean }> {
  if (!binaries.every((b) => existsSync(join(buildDir, 'bin', b))))
    return {
      reason: 'the Kubernetes peers are not built (npm run peers -- build; needs Go)',
      startedHere: false,
    }
  if (isUp()) return { reason: '', startedHere: false }
  try {
    await up()
    return { reason: '', startedHere: true }
  } catch (error) {
    return {
      reason: `the local Kubernetes control plane did not start: ${(error as Error).message}`,
      startedHere: false,
    }
  }
}

/**
 * Finds the real peers once per run. A missing peer skips its suites with the reason printed, except
 * under CI=true, where it fails the run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const postgresUrl = process.env.RXT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
  const natsUrl = process.env.RXT_TEST_NATS_URL ?? 'nats://127.0.0.1:4222'
  const redisUrl = process.env.RXT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
  const [postgresReason, natsReason, redisReason, kube] = await Promise.all([
    findPostgres(postgresUrl),
    findNats(natsUrl),
    findRedis(redisUrl),
    findKubernetes(),
  ])
  const opaReason = existsSync(opaPath)
    ? ''
    : `opa is not built at ${opaPath} (npm run peers -- build; needs Go)`
  for (const [name, reason] of [
    ['postgres', postgresReason],
    ['opa', opaReason],
    ['nats', natsReason],
    ['redis', redisReason],
    ['kubernetes', kube.reason],
  ] as const) {
    if (reason === '') continue
    if (process.env.CI === 'true') throw new Error(`CI=true and a test peer is missing: ${reason}`)
    process.stdout.write(`SKIPPED ${name} suites: ${reason}\n`)
  }
  project.provide('postgresUrl', postgresReason === '' ? postgresUrl : '')
  project.provide('postgresSkipReason', postgresReason)
  project.provide('natsUrl', natsReason === '' ? natsUrl : '')
  project.provide('natsSkipReason', natsReason)
  project.provide('redisUrl', redisReason === '' ? redisUrl : '')
  project.provide('redisSkipReason', redisReason)
  project.provide('kubeconfigPath', kube.reason === '' ? kubeconfigPath : '')
  project.provide('kubeSkipReason', kube.reason)
  project.provide('opaPath', opaReason === '' ? opaPath : '')
  project.provide('opaSkipReason', opaReason)
  return async () => {
    if (kube.startedHere) await down()
  }
}
