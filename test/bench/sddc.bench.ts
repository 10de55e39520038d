// SDDC Flex against vcsim (tools/peers): BENCH_ENVS VM environments (50 unless given) provisioned and
// deployed at once by the adapter — a folder, a resource pool and a port group each, its state in the
// folder's custom attributes, then one VM cloned from the template, configured and powered on, every
// task awaited through the property collector, answers kept by key — beside, in the same run and on the
// same vcsim, the baseline: what a person would run with govc (built from the same govmomi version) for
// as many environments, all at once: `govc folder.create`, `govc pool.create`, then `govc vm.clone -on`
// of the same template into them. The baseline does less (no port group, no attributes, no quota, no
// answers by key); both are printed. Printed: failures, p50/p95 time per environment, SOAP calls per
// environment (govc's counted from its debug log), and the ratios.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger, loadMigrations, openDatabase, systemClock } from '@rxt/kit'
import { conformanceRequests, failed, failure } from '@rxt/platform-sdk'
import { createSddcPlatform } from '../../adapters/sddc/src/sddc-platform.ts'
import { createVimClient } from '../../adapters/sddc/src/vim/client.ts'
import { govcPath, vcsimPath } from '../../tools/peers/build.ts'
import { startVcsim, vcsimInventory } from '../../tools/peers/servers.ts'

const count = Number(process.env.BENCH_ENVS ?? 50)
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`

async function bench(): Promise<void> {
  const vcsim = await startVcsim()
  const dir = await mkdtemp(join(tmpdir(), 'rxt-sddc-bench-'))
  const failures: string[] = []
  try {
    const dc = vcsimInventory.datacenter
    const cluster = vcsimInventory.clusters[0] as string
    // govc: folder, pool, clone powered on — per environment, all at once.
    const govc = (debugDir: string, args: string[]) =>
      new Promise<void>((resolve, reject) =>
        execFile(
          govcPath,
          [args[0] as string, '-debug', ...args.slice(1)],
          {
            env: {
              ...process.env,
              GOVC_URL: vcsim.url,
              GOVC_USERNAME: vcsim.username,
              GOVC_PASSWORD: vcsim.password,
              GOVC_TLS_CA_CERTS: vcsim.caFile,
              GOVC_DATACENTER: dc,
              GOVC_DEBUG_PATH: debugDir,
            },
          },
          (error, _out, err) => (error ? reject(new Error(`govc ${args[0]}: ${err.trim()}`)) : resolve()),
        ),
      )
    const calls = (debugDir: string) =>
      existsSync(join(debugDir, 'debug'))
        ? readdirSync(join(debugDir, 'debug')).reduce(
            (n, run) =>
              n + readdirSync(join(debugDir, 'debug', run)).filter((f) => f.endsWith('.req.xml')).length,
            0,
          )
        : 0
    const govcCalls: number[] = []
    const govcTimes = (
      await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const name = `govc-${i}`
          const debugDir = join(dir, name)
          const start = performance.now()
          try {
            await govc(debugDir, ['folder.create', `/${dc}/vm/${name}`])
            await govc(debugDir, ['pool.create', `/${dc}/host/${cluster}/Resources/${name}`])
            await govc(debugDir, [
              'vm.clone',
              '-vm',
              vcsimInventory.template,
              '-folder',
              `/${dc}/vm/${name}`,
              '-pool',
              `/${dc}/host/${cluster}/Resources/${name}`,
              '-ds',
              vcsimInventory.datastore,
              '-c',
              '1',
              '-m',
              '128',
              '-on=true',
              `${name}-vm`,
            ])
          } catch (error) {
            failures.push((error as Error).message)
            return undefined
          }
          govcCalls.push(calls(debugDir))
          return performance.now() - start
        }),
      )
    ).filter((t): t is number => t !== undefined)

    // The adapter: provision and deploy one VM per environment, all at once.
    const database = await openDatabase({ kind: 'pglite' }, createLogger({ level: 'silent' }))
    const db = await database.openContext(
      'sddc',
      await loadMigrations(new URL('../../adapters/sddc/migrations/', import.meta.url)),
    )
    let soap = 0
    const client = createVimClient({
      url: vcsim.url,
      username: vcsim.username,
      password: vcsim.password,
      ca: vcsim.ca,
      onCall: () => {
        soap++
      },
    })
    const platform = createSddcPlatform(
      { db, clock: systemClock },
      {
        client,
        settings: {
          datacenter: dc,
          cluster,
          datastore: vcsimInventory.datastore,
          template: vcsimInventory.template,
          switch: vcsimInventory.switch,
          folder: 'rxt-bench',
          baseDomain: 'sddc.example',
          taskTimeoutMs: 300_000,
          segmentGateway: '10.64.0.1/24',
        },
        // No networking is asked for: provision and deploy only, as govc's round does.
        networking: {
          configure: async () => failed(failure('rejected', 'no networking in this benchmark')),
          destroy: async () => undefined,
          leftovers: async () => 0,
        },
      },
    )
    // The adapter's objects found once (template, datastore, switch, attributes), outside the timing.
    const warm = conformanceRequests(`warm-${randomBytes(3).toString('hex')}`)
    await platform.provisionEnvironment(warm.provision)
    const run = randomBytes(3).toString('hex')
    soap = 0
    const adapterTimes = (
      await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const r = conformanceRequests(`${run}-${i}`)
          const start = performance.now()
          const env = await platform.provisionEnvironment({
            ...r.provision,
            tenantId: 'tnt-bench',
            quota: { cpu: 2, memoryMiB: 1024, storageGiB: 0 },
          })
          if (!env.ok) return void failures.push(`provision: ${env.failure.message}`)
          const deployed = await platform.deployApplication({
            ...r.deploy,
            replicas: 1,
            resources: { cpu: 1, memoryMiB: 128 },
          })
          if (!deployed.ok) return void failures.push(`deploy: ${deployed.failure.message}`)
          return performance.now() - start
        }),
      )
    ).filter((t): t is number => t !== undefined)
    const adapterCalls = soap / count
    await client.close()
    await database.close()

    const govcP95 = percentile(govcTimes, 95)
    const adapterP95 = percentile(adapterTimes, 95)
    const govcMean = govcCalls.reduce((a, b) => a + b, 0) / Math.max(1, govcCalls.length)
    console.log(`environments: ${count} at once on vcsim (${vcsimPath})`)
    console.log(`failures: ${failures.length}${failures.length > 0 ? ` (first: ${failures[0]})` : ''}`)
    console.log(
      `govc folder.create + pool.create + vm.clone -on: p50 ${seconds(percentile(govcTimes, 50))}, p95 ${seconds(govcP95)}, ${govcMean.toFixed(1)} SOAP calls per environment`,
    )
    console.log(
      `adapter provision + deploy (folder, pool, port group, attributes, clone, reconfigure, power on): p50 ${seconds(percentile(adapterTimes, 50))}, p95 ${seconds(adapterP95)}, ${adapterCalls.toFixed(1)} SOAP calls per environment`,
    )
    console.log(
      `ratio adapter/govc: p95 ${(adapterP95 / govcP95).toFixed(2)}x, SOAP calls ${(adapterCalls / govcMean).toFixed(2)}x`,
    )
  } finally {
    await vcsim.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

if (!existsSync(vcsimPath) || !existsSync(govcPath))
  console.log(`SKIPPED sddc: vcsim or govc is not built (npm run peers -- build govmomi; needs Go)`)
else await bench()
