// Vault and SeaweedFS from the built peers, started for one test run: on 127.0.0.1, on free ports, with
// credentials made for the run, state in a fresh temporary directory removed at stop.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cacheRoot, govcPath, vaultPath, vcsimPath, weedPath } from './build.ts'

export interface RunningPeer {
  /** Where its output went. */
  readonly log: string
  stop(): Promise<void>
}

/** A port nothing listens on now (the kernel's pick), and, with `pair`, the one after it too. */
async function freePort(pair = false): Promise<number> {
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const server = createServer()
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        const address = server.address()
        server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
      })
    })
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await listen(0)
    if (!pair) return port
    if (
      port < 65535 &&
      (await listen(port + 1).then(
        () => true,
        () => false,
      ))
    )
      return port
  }
  throw new Error('no free port on 127.0.0.1')
}

/** Starts `command` in a fresh directory (`args` may write files there first), its output in `<name>.log`. */
function launch(
  name: string,
  command: string,
  args: (dir: string) => string[],
  env: NodeJS.ProcessEnv = {},
  /** A directory of its own that outlives this process (`npm run peers -- up`), or a fresh temporary one. */
  kept?: string,
): { child: ChildProcess; dir: string; log: string; stop: (keepLog?: boolean) => Promise<void> } {
  if (kept !== undefined) {
    rmSync(kept, { recursive: true, force: true })
    mkdirSync(kept, { recursive: true })
  }
  const dir = kept ?? mkdtempSync(join(tmpdir(), `rxt-${name}-`))
  const log = join(dir, `${name}.log`)
  const out = openSync(log, 'a')
  const child = spawn(command, args(dir), {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
    detached: kept !== undefined,
  })
  const exited = () => child.exitCode !== null || child.signalCode !== null
  /** Stops it and removes its state; `keepLog` keeps its directory (with the log) for a look. */
  const stop = async (keepLog = false) => {
    if (!exited()) {
      child.kill('SIGTERM')
      for (let i = 0; i < 40 && !exited(); i++) await sleep(250)
      if (!exited()) child.kill('SIGKILL')
    }
    if (!keepLog) rmSync(dir, { recursive: true, force: true })
  }
  return { child, dir, log, stop }
}

async function until(
  what: string,
  child: ChildProcess,
  log: string,
  test: () => Promise<boolean>,
  seconds: number,
): Promise<void> {
  const end = Date.now() + seconds * 1000
  while (Date.now() < end) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${what}: it exited (${child.exitCode ?? child.signalCode}); see ${log}`)
    if (await test().catch(() => false)) return
    await sleep(250)
  }
  throw new Error(`${what} within ${seconds} s; see ${log}`)
}

export interface RunningVault extends RunningPeer {
  readonly addr: string
  /** The root token made for this run. */
  readonly token: string
}

/**
 * `vault server -dev`: in memory, unsealed, KV v2 mounted at secret/, a root token made for the run
 * (passed in the environment, not on the command line). It listens on a free port and binds the
 * one after it for its cluster listener.
 */
export async function startVault(): Promise<RunningVault> {
  const port = await freePort(true)
  const addr = `http://127.0.0.1:${port}`
  // Vault reserves the `hvs.` prefix for the tokens it makes.
  const token = `rxt-root-${randomBytes(18).toString('hex')}`
  const run = launch('vault', vaultPath, () => ['server', '-dev', '-dev-no-store-token'], {
    VAULT_DEV_ROOT_TOKEN_ID: token,
    VAULT_DEV_LISTEN_ADDRESS: `127.0.0.1:${port}`,
    VAULT_DISABLE_USER_LOCKOUT: 'true',
  })
  try {
    await until(
      'Vault is ready',
      run.child,
      run.log,
      async () => {
        const health = await fetch(`${addr}/v1/sys/health`, { signal: AbortSignal.timeout(2000) })
        if (health.status !== 200) return false
        // The dev server mounts secret/ just after it unseals.
        const mounts = await fetch(`${addr}/v1/sys/mounts/secret`, {
          headers: { 'X-Vault-Token': token },
          signal: AbortSignal.timeout(2000),
        })
        return mounts.ok
      },
      60,
    )
  } catch (error) {
    await run.stop(true)
    throw error
  }
  return { addr, token, log: run.log, stop: () => run.stop() }
}

export interface RunningSeaweedfs extends RunningPeer {
  /** The S3 endpoint, path-style. */
  readonly endpoint: string
  readonly region: string
  /** An admin identity made for the run. */
  readonly accessKeyId: string
  readonly secretAccessKey: string
}

/**
 * `weed mini`: master, volume server, filer and S3 gateway in one process, on free ports, data in a
 * fresh directory; the WebDAV, admin UI, Iceberg and Lance endpoints off and telemetry off. The S3
 * gateway knows one identity, made for the run, with every action.
 */
export async function startSeaweedfs(): Promise<RunningSeaweedfs> {
  const ports: number[] = []
  while (ports.length < 8) {
    const port = await freePort()
    if (!ports.includes(port)) ports.push(port)
  }
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = ports as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  const accessKeyId = `rxt${randomBytes(8).toString('hex')}`
  const secretAccessKey = randomBytes(24).toString('base64url')
  const endpoint = `http://127.0.0.1:${s3}`
  const run = launch('seaweedfs', weedPath, (dir) => {
    const s3Config = join(dir, 's3.json')
    writeFileSync(
      s3Config,
      JSON.stringify({
        identities: [
          {
            name: 'rxt-test',
            credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }],
            actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
          },
        ],
      }),
    )
    mkdirSync(join(dir, 'data'))
    return [
      'mini',
      `-dir=${join(dir, 'data')}`,
      '-ip=127.0.0.1',
      '-ip.bind=127.0.0.1',
      `-master.port=${master}`,
      `-master.port.grpc=${masterGrpc}`,
      '-master.telemetry=false',
      `-volume.port=${volume}`,
      `-volume.port.grpc=${volumeGrpc}`,
      `-filer.port=${filer}`,
      `-filer.port.grpc=${filerGrpc}`,
      `-s3.port=${s3}`,
      `-s3.port.grpc=${s3Grpc}`,
      '-s3.port.iceberg=0',
      '-s3.port.lance=0',
      `-s3.config=${s3Config}`,
      '-webdav=false',
      '-admin.ui=false',
    ]
  })
  try {
    await until(
      'SeaweedFS S3 is ready',
      run.child,
      run.log,
      async () => (await fetch(`${endpoint}/healthz`, { signal: AbortSignal.timeout(2000) })).ok,
      90,
    )
  } catch (error) {
    await run.stop(true)
    throw error
  }
  return {
    endpoint,
    region: 'us-east-1',
    accessKeyId,
    secretAccessKey,
    log: run.log,
    stop: () => run.stop(),
  }
}

export interface RunningVcsim extends RunningPeer {
  /** The vim25 SOAP endpoint (`https://127.0.0.1:<port>/sdk`). */
  readonly url: string
  /** The account made for the run (vcsim refuses any other). */
  readonly username: string
  readonly password: string
  /** The PEM of its serving certificate, self-signed for 127.0.0.1: the CA a client trusts. */
  readonly ca: string
  /** Where that PEM is, for govc (GOVC_TLS_CA_CERTS). */
  readonly caFile: string
  /** The inventory it was started with. */
  readonly inventory: VcsimInventory
  /** Runs govc against it, answering its standard output. */
  govc(...args: string[]): string
  readonly pid: number | undefined
}

/** What `startVcsim` builds: the names the SDDC Flex suites configure the adapter with. */
export interface VcsimInventory {
  readonly datacenter: string
  /** Two clusters of three hosts each, so a migration has somewhere to go. */
  readonly clusters: readonly string[]
  readonly datastore: string
  /** A distributed switch and its port group: what an environment's segment is made on. */
  readonly switch: string
  readonly portGroup: string
  /** The template VMs are cloned from, marked as a template. */
  readonly template: string
}

export const vcsimInventory: VcsimInventory = {
  datacenter: 'DC0',
  clusters: ['DC0_C0', 'DC0_C1'],
  datastore: 'LocalDS_0',
  switch: 'DVS0',
  portGroup: 'DC0_DVPG0',
  template: 'rxt-container-host',
}

/**
 * vcsim, govmomi's vCenter simulator: vim25 SOAP at /sdk over TLS with a certificate made for the run,
 * one account made for the run, and an inventory of one datacenter with two clusters of three hosts,
 * two datastores, one resource pool per cluster, a distributed switch with a port group, and a VM
 * template (a VM of the model, renamed and marked as one).
 */
export async function startVcsim(options: { kept?: string; port?: number } = {}): Promise<RunningVcsim> {
  const port = options.port ?? (await freePort())
  const username = `rxt-${randomBytes(4).toString('hex')}`
  const password = randomBytes(18).toString('base64url')
  const url = `https://127.0.0.1:${port}/sdk`
  const run = launch(
    'vcsim',
    vcsimPath,
    (dir) => {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          'vcsim.key',
          '-out',
          'vcsim.crt',
          '-days',
          '7',
          '-subj',
          '/CN=vcsim',
          '-addext',
          'subjectAltName=IP:127.0.0.1,DNS:localhost',
        ],
        { cwd: dir, stdio: 'ignore' },
      )
      return [
        '-l',
        `127.0.0.1:${port}`,
        '-tlscert',
        join(dir, 'vcsim.crt'),
        '-tlskey',
        join(dir, 'vcsim.key'),
        '-username',
        username,
        '-password',
        password,
        '-dc',
        '1',
        '-cluster',
        '2',
        '-host',
        '3',
        '-standalone-host',
        '0',
        '-ds',
        '2',
        '-pool',
        '1',
        '-vm',
        '1',
        '-pg',
        '1',
        '-folder',
        '0',
        '-app',
        '0',
        '-pod',
        '0',
      ]
    },
    {},
    options.kept,
  )
  if (options.kept !== undefined) run.child.unref()
  const caFile = join(run.dir, 'vcsim.crt')
  const govc = (...args: string[]) =>
    execFileSync(govcPath, args, {
      encoding: 'utf8',
      env: {
        ...process.env,
        GOVC_URL: url,
        GOVC_USERNAME: username,
        GOVC_PASSWORD: password,
        GOVC_TLS_CA_CERTS: caFile,
        GOVC_DATACENTER: 'DC0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    })
  const inventory = vcsimInventory
  try {
    await until(
      'vcsim is ready',
      run.child,
      run.log,
      async () => {
        govc('about')
        return true
      },
      60,
    )
    govc('object.rename', '/DC0/vm/DC0_C0_RP1_VM0', inventory.template)
    govc('vm.power', '-off', '-force', `/DC0/vm/${inventory.template}`)
    govc('vm.markastemplate', `/DC0/vm/${inventory.template}`)
  } catch (error) {
    await run.stop(true)
    throw error
  }
  return {
    url,
    username,
    password,
    ca: readFileSync(caFile, 'utf8'),
    caFile,
    inventory,
    govc,
    pid: run.child.pid,
    log: run.log,
    stop: () => run.stop(),
  }
}

/** Where `npm run peers -- up` keeps its vcsim: its state, log, certificate and connection settings. */
export const keptVcsimDir = join(cacheRoot, 'vcsim')
export const keptVcsimSettings = join(keptVcsimDir, 'sddc.env')

/**
 * A vcsim for a developer's `npm run start` (npm run peers -- up): on 127.0.0.1:8989, left running,
 * its SDDC_* settings written to `sddc.env` beside it (source it, or copy them).
 */
export async function upVcsim(): Promise<string> {
  await downVcsim()
  const vcsim = await startVcsim({ kept: keptVcsimDir, port: 8989 })
  const { pid } = vcsim
  writeFileSync(
    keptVcsimSettings,
    [
      `SDDC_URL=${vcsim.url}`,
      `SDDC_USERNAME=${vcsim.username}`,
      `SDDC_PASSWORD=${vcsim.password}`,
      `SDDC_CA_FILE=${vcsim.caFile}`,
      `SDDC_DATACENTER=${vcsimInventory.datacenter}`,
      `SDDC_CLUSTER=${vcsimInventory.clusters[0]}`,
      `SDDC_DATASTORE=${vcsimInventory.datastore}`,
      `SDDC_SWITCH=${vcsimInventory.switch}`,
      `SDDC_TEMPLATE=${vcsimInventory.template}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  )
  if (pid !== undefined) writeFileSync(join(keptVcsimDir, 'vcsim.pid'), String(pid))
  return keptVcsimSettings
}

/** Stops the vcsim of `upVcsim`, if one runs. */
export async function downVcsim(): Promise<void> {
  const pidFile = join(keptVcsimDir, 'vcsim.pid')
  if (!existsSync(pidFile)) return
  const pid = Number(readFileSync(pidFile, 'utf8'))
  try {
    process.kill(pid, 'SIGTERM')
    for (let i = 0; i < 40; i++) {
      process.kill(pid, 0)
      await sleep(250)
    }
  } catch {
    // gone
  }
  rmSync(pidFile, { force: true })
}
