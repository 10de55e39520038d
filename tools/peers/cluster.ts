// A local Kubernetes control plane on 127.0.0.1 from the built peers: etcd, kube-apiserver (TLS,
// token authentication, RBAC, a service-account signing key), kube-controller-manager,
// kube-scheduler, KWOK running fake nodes on which scheduled pods reach Running, and cert-manager's
// CRDs.
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import yaml from 'js-yaml'
import { buildDir, cacheRoot, crdsDir, kwokStagesPath } from './build.ts'

export const clusterDir = join(cacheRoot, 'cluster')
/** The cluster's admin kubeconfig (system:masters). */
export const kubeconfigPath = join(cacheRoot, 'kubeconfig')
/** The kubeconfig of the user `rxt-spot`, which has no permission until one is bound to it. */
export const spotKubeconfigPath = join(clusterDir, 'rxt-spot.kubeconfig')
export const apiServerUrl = 'https://127.0.0.1:6443'
/** Fake nodes KWOK runs. */
const nodeCount = 3

const pki = join(clusterDir, 'pki')
const bin = join(buildDir, 'bin')
const processes = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const

const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: pki, stdio: 'ignore' })

/** A CA, the API server's serving certificate, the service-account key pair, and a token per user. */
function writePki(): Record<'admin' | 'controller-manager' | 'scheduler' | 'rxt-spot', string> {
  mkdirSync(pki, { recursive: true })
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '30',
    '-subj',
    '/CN=rxt-peers-ca',
  )
  writeFileSync(
    join(pki, 'san.cnf'),
    [
      '[req]',
      'distinguished_name=dn',
      '[dn]',
      '[ext]',
      'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
      'keyUsage=digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  )
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'apiserver.key',
    '-out',
    'apiserver.csr',
    '-subj',
    '/CN=kube-apiserver',
  )
  openssl(
    'x509',
    '-req',
    '-in',
    'apiserver.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'apiserver.crt',
    '-days',
    '30',
    '-extfile',
    'san.cnf',
    '-extensions',
    'ext',
  )
  openssl('genrsa', '-out', 'sa.key', '2048')
  openssl('rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub')
  const tokens = {
    admin: randomBytes(24).toString('hex'),
    'controller-manager': randomBytes(24).toString('hex'),
    scheduler: randomBytes(24).toString('hex'),
    'rxt-spot': randomBytes(24).toString('hex'),
  }
  writeFileSync(
    join(pki, 'tokens.csv'),
    [
      `${tokens.admin},admin,admin,"system:masters"`,
      `${tokens['controller-manager']},system:kube-controller-manager,kube-controller-manager`,
      `${tokens.scheduler},system:kube-scheduler,kube-scheduler`,
      // The RXT Spot adapter: no permission until its ClusterRole (adapters/spot/deploy) is bound.
      `${tokens['rxt-spot']},rxt-spot,rxt-spot`,
      '',
    ].join('\n'),
  )
  return tokens
}

const kubeconfig = (user: string, token: string) =>
  `apiVersion: v1
kind: Config
clusters:
- name: rxt-peers
  cluster: {server: "${apiServerUrl}", certificate-authority: "${join(pki, 'ca.crt')}"}
users:
- name: ${user}
  user: {token: "${token}"}
contexts:
- name: rxt-peers
  context: {cluster: rxt-peers, user: ${user}}
current-context: rxt-peers
`

/** Starts a process detached, its output in logs/<name>.log, its pid in <name>.pid. */
function start(name: (typeof processes)[number], command: string, args: string[]): void {
  const log = openSync(join(clusterDir, 'logs', `${name}.log`), 'a')
  const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log] })
  writeFileSync(join(clusterDir, `${name}.pid`), String(child.pid))
  child.unref()
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
const pidOf = (name: string): number | undefined => {
  const file = join(clusterDir, `${name}.pid`)
  return existsSync(file) ? Number(readFileSync(file, 'utf8')) : undefined
}

/** The API server's answer to a request (its own CA trusted for this call only). */
export function api(
  token: string,
  path: string,
  init: { method?: string; body?: string } = {},
): Promise<{ ok: boolean; status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${apiServerUrl}${path}`,
      {
        method: init.method ?? 'GET',
        ca: readFileSync(join(pki, 'ca.crt')),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (res) => {
        let text = ''
        res.on('data', (chunk) => {
          text += chunk
        })
        res.on('end', () => {
          const status = res.statusCode ?? 0
          resolve({ ok: status >= 200 && status < 300, status, text })
        })
      },
    )
    req.on('error', reject)
    req.end(init.body)
  })
}

async function until(what: string, test: () => Promise<boolean>, seconds: number): Promise<void> {
  const end = Date.now() + seconds * 1000
  while (Date.now() < end) {
    if (await test().catch(() => false)) return
    await sleep(250)
  }
  throw new Error(`${what} within ${seconds} s; see ${join(clusterDir, 'logs')}`)
}

export function isUp(): boolean {
  const pid = pidOf('kube-apiserver')
  return pid !== undefined && alive(pid)
}

/** Starts the cluster on a fresh state directory; returns the kubeconfig path. */
export async function up(): Promise<string> {
  if (isUp()) return kubeconfigPath
  await down()
  mkdirSync(join(clusterDir, 'logs'), { recursive: true })
  const tokens = writePki()
  for (const [user, token] of Object.entries(tokens))
    writeFileSync(join(clusterDir, `${user}.kubeconfig`), kubeconfig(user, token))
  writeFileSync(kubeconfigPath, kubeconfig('admin', tokens.admin))
  const file = (name: string) => join(pki, name)

  start('etcd', join(bin, 'etcd'), [
    '--data-dir',
    join(clusterDir, 'etcd'),
    '--listen-client-urls',
    'http://127.0.0.1:2379',
    '--advertise-client-urls',
    'http://127.0.0.1:2379',
    '--listen-peer-urls',
    'http://127.0.0.1:2380',
  ])
  start('kube-apiserver', join(bin, 'kube-apiserver'), [
    '--etcd-servers=http://127.0.0.1:2379',
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    '--secure-port=6443',
    `--tls-cert-file=${file('apiserver.crt')}`,
    `--tls-private-key-file=${file('apiserver.key')}`,
    `--client-ca-file=${file('ca.crt')}`,
    `--token-auth-file=${file('tokens.csv')}`,
    '--authorization-mode=Node,RBAC',
    `--service-account-key-file=${file('sa.pub')}`,
    `--service-account-signing-key-file=${file('sa.key')}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    '--service-cluster-ip-range=10.0.0.0/24',
  ])
  await until('the API server is ready', async () => (await api(tokens.admin, '/readyz')).ok, 90)
  const component = (
    name: 'kube-controller-manager' | 'kube-scheduler',
    kubeconfigFile: string,
    port: number,
    extra: string[],
  ) =>
    start(name, join(bin, name), [
      `--kubeconfig=${kubeconfigFile}`,
      `--authentication-kubeconfig=${kubeconfigFile}`,
      `--authorization-kubeconfig=${kubeconfigFile}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      ...extra,
    ])
  component('kube-controller-manager', join(clusterDir, 'controller-manager.kubeconfig'), 10257, [
    `--service-account-private-key-file=${file('sa.key')}`,
    `--root-ca-file=${file('ca.crt')}`,
    '--use-service-account-credentials=true',
  ])
  component('kube-scheduler', join(clusterDir, 'scheduler.kubeconfig'), 10259, [])
  start('kwok', join(bin, 'kwok'), [
    `--kubeconfig=${kubeconfigPath}`,
    `--config=${kwokStagesPath}`,
    // Leases keep the fake nodes alive in the node lifecycle controller's eyes.
    '--node-lease-duration-seconds=40',
    '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
    '--cidr=10.244.0.1/16',
    '--node-ip=10.1.0.1',
  ])
  for (let i = 0; i < nodeCount; i++) {
    const name = `kwok-node-${i}`
    const capacity = { cpu: '32', memory: '256Gi', pods: '110' }
    const res = await api(tokens.admin, '/api/v1/nodes', {
      method: 'POST',
      body: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: { type: 'kwok', 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' },
        },
        status: { allocatable: capacity, capacity },
      }),
    })
    if (!res.ok && res.status !== 409) throw new Error(`creating node ${name}: ${res.status} ${res.text}`)
  }
  await until(
    'the fake nodes are Ready',
    async () => {
      const nodes = JSON.parse((await api(tokens.admin, '/api/v1/nodes')).text) as {
        items: { status: { conditions?: { type: string; status: string }[] } }[]
      }
      return (
        nodes.items.length === nodeCount &&
        nodes.items.every((n) => n.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
      )
    },
    60,
  )
  await installCrds(tokens.admin)
  return kubeconfigPath
}

/** cert-manager's CRDs (no controller runs: Certificates are accepted and kept, never issued). */
async function installCrds(token: string): Promise<void> {
  const names: string[] = []
  for (const file of readdirSync(crdsDir).filter((f) => f.endsWith('.yaml'))) {
    for (const crd of yaml.loadAll(readFileSync(join(crdsDir, file), 'utf8'))) {
      if (crd === null || typeof crd !== 'object') continue
      const name = (crd as { metadata: { name: string } }).metadata.name
      const res = await api(token, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
        method: 'POST',
        body: JSON.stringify(crd),
      })
      if (!res.ok && res.status !== 409) throw new Error(`installing CRD ${name}: ${res.status} ${res.text}`)
      names.push(name)
    }
  }
  await until(
    "cert-manager's CRDs are established",
    async () => {
      for (const name of names) {
        const crd = JSON.parse(
          (await api(token, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)).text,
        ) as { status?: { conditions?: { type: string; status: string }[] } }
        if (!crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'))
          return false
      }
      return true
    },
    30,
  )
}

/** Stops every process of the cluster and removes its state. */
export async function down(): Promise<void> {
  for (const name of [...processes].reverse()) {
    const pid = pidOf(name)
    if (pid === undefined || !alive(pid)) continue
    process.kill(pid, 'SIGTERM')
    for (let i = 0; i < 40 && alive(pid); i++) await sleep(250)
    if (alive(pid)) process.kill(pid, 'SIGKILL')
  }
  rmSync(clusterDir, { recursive: true, force: true })
  rmSync(kubeconfigPath, { force: true })
}
