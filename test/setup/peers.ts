import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { connect } from '@nats-io/transport-node'
import { Redis } from 'ioredis'
import pg from 'pg'
import type { TestProject } from 'vitest/node'
import {
  binaries,
  buildDir,
  govcPath,
  opaPath,
  vaultPath,
  vcsimPath,
  weedPath,
} from '../../tools/peers/build.ts'
import { down, isUp, kubeconfigPath, up } from '../../tools/peers/cluster.ts'
import {
  type RunningPeer,
  type RunningSeaweedfs,
  type RunningVault,
  type RunningVcsim,
  startSeaweedfs,
  startVault,
  startVcsim,
} from '../../tools/peers/servers.ts'

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
    /** The Vault dev server of the test peers (tools/peers), started for the run; '' when there is none. */
    vaultAddr: string
    /** Its root token, made for the run; '' when there is none. */
    vaultToken: string
    /** Why the Vault suites are skipped; '' when they run. */
    vaultSkipReason: string
    /** The S3 endpoint of the SeaweedFS of the test peers, started for the run; '' when there is none. */
    s3Endpoint: string
    s3Region: string
    /** An access key made for the run, with every action; '' when there is none. */
    s3AccessKeyId: string
    s3SecretAccessKey: string
    /** Why the S3 suites are skipped; '' when they run. */
    s3SkipReason: string
    /** The vim25 SOAP endpoint of the vcsim of the test peers, started for the run; '' when there is none. */
    vcsimUrl: string
    /** The account made for the run. */
    vcsimUsername: string
    vcsimPassword: string
    /** The PEM of its serving certificate (self-signed, for 127.0.0.1), and the file that holds it. */
    vcsimCa: string
    vcsimCaFile: string
    /** govc, built with vcsim (its inventory is tools/peers/servers.ts's vcsimInventory). */
    govcPath: string
    /** Why the vcsim suites are skipped; '' when they run. */
    vcsimSkipReason: string
    /** The Chromium the browser suites drive (playwright-core, headless); '' when there is none. */
    chromiumPath: string
    /** Why the browser suites are skipped; '' when they run. */
    chromiumSkipReason: string
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

/** Debian's Chromium (apt-get install chromium), or the one RXT_TEST_CHROMIUM names. */
function findChromium(path: string): string {
  return existsSync(path)
    ? ''
    : `Chromium is not installed at ${path} (apt-get install chromium, or set RXT_TEST_CHROMIUM)`
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

/** A built server of the test peers, started for the run (and stopped after). */
async function startPeer<T extends RunningPeer>(
  name: string,
  path: string,
  start: () => Promise<T>,
): Promise<{ reason: string; peer: T | undefined }> {
  if (!existsSync(path))
    return { reason: `${name} is not built at ${path} (npm run peers -- build; needs Go)`, peer: undefined }
  try {
    return { reason: '', peer: await start() }
  } catch (error) {
    return { reason: `${name} did not start: ${(error as Error).message}`, peer: undefined }
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
  const [postgresReason, natsReason, redisReason, kube, vault, s3, vcsim] = await Promise.all([
    findPostgres(postgresUrl),
    findNats(natsUrl),
    findRedis(redisUrl),
    findKubernetes(),
    startPeer<RunningVault>('vault', vaultPath, startVault),
    startPeer<RunningSeaweedfs>('seaweedfs', weedPath, startSeaweedfs),
    startPeer<RunningVcsim>('vcsim', vcsimPath, startVcsim),
  ])
  const chromiumPath = process.env.RXT_TEST_CHROMIUM ?? '/usr/bin/chromium'
  const chromiumReason = findChromium(chromiumPath)
  const opaReason = existsSync(opaPath)
    ? ''
    : `opa is not built at ${opaPath} (npm run peers -- build; needs Go)`
  for (const [name, reason] of [
    ['postgres', postgresReason],
    ['opa', opaReason],
    ['nats', natsReason],
    ['redis', redisReason],
    ['kubernetes', kube.reason],
    ['vault', vault.reason],
    ['s3', s3.reason],
    ['vcsim', vcsim.reason],
    ['browser', chromiumReason],
  ] as const) {
    if (reason === '') continue
    if (process.env.CI === 'true') {
      await Promise.all([vault.peer?.stop(), s3.peer?.stop(), vcsim.peer?.stop()])
      throw new Error(`CI=true and a test peer is missing: ${reason}`)
    }
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
  project.provide('vaultAddr', vault.peer?.addr ?? '')
  project.provide('vaultToken', vault.peer?.token ?? '')
  project.provide('vaultSkipReason', vault.reason)
  project.provide('s3Endpoint', s3.peer?.endpoint ?? '')
  project.provide('s3Region', s3.peer?.region ?? '')
  project.provide('s3AccessKeyId', s3.peer?.accessKeyId ?? '')
  project.provide('s3SecretAccessKey', s3.peer?.secretAccessKey ?? '')
  project.provide('s3SkipReason', s3.reason)
  project.provide('vcsimUrl', vcsim.peer?.url ?? '')
  project.provide('vcsimUsername', vcsim.peer?.username ?? '')
  project.provide('vcsimPassword', vcsim.peer?.password ?? '')
  project.provide('vcsimCa', vcsim.peer?.ca ?? '')
  project.provide('vcsimCaFile', vcsim.peer?.caFile ?? '')
  project.provide('govcPath', vcsim.peer === undefined ? '' : govcPath)
  project.provide('vcsimSkipReason', vcsim.reason)
  project.provide('chromiumPath', chromiumReason === '' ? chromiumPath : '')
  project.provide('chromiumSkipReason', chromiumReason)
  return async () => {
    await Promise.all([vault.peer?.stop(), s3.peer?.stop(), vcsim.peer?.stop()])
    if (kube.startedHere) await down()
  }
}
