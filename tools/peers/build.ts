// Builds the pinned test peers into the cache, once per pin: kube-apiserver, kube-controller-manager,
// kube-scheduler and kubectl from the Go module k8s.io/kubernetes, KWOK from sigs.k8s.io/kwok, etcd
// from go.etcd.io/etcd/server/v3, cert-manager's CRDs from its Go module, and OPA from
// github.com/open-policy-agent/opa (the policy context's `opa test`, `opa build` and benchmark),
// HashiCorp Vault from github.com/hashicorp/vault (the secrets context's KV v2 store) and SeaweedFS
// from github.com/seaweedfs/seaweedfs (the audit archive's S3 store with Object Lock).
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

export interface Pins {
  readonly kubernetes: string
  readonly kwok: string
  readonly etcd: string
  /** cert-manager, for its CustomResourceDefinitions only (no controller runs). */
  readonly certManager: string
  /** Open Policy Agent: `opa test` and `opa build -t wasm` of services/policy, and its benchmark's server. */
  readonly opa: string
  /** HashiCorp Vault's server module (OpenBao is not served by the module proxy: ADR 0025). */
  readonly vault: string
  /** SeaweedFS (its module has no tagged versions on the proxy: a pseudo-version of its main branch). */
  readonly seaweedfs: string
  /** govmomi: vcsim, the vCenter simulator the SDDC Flex suites run against, and govc, its CLI. */
  readonly govmomi: string
}

export const pins: Pins = JSON.parse(readFileSync(new URL('./pins.json', import.meta.url), 'utf8'))

/** Where built peers and running clusters live: outside the repository, kept between runs. */
export const cacheRoot = process.env.RXT_PEERS_CACHE ?? join(homedir(), '.cache', 'rxt-peers')

/** The build of the binaries' pins: a new directory whenever one of them changes. */
export const buildDir = join(
  cacheRoot,
  `build-${createHash('sha256')
    .update(JSON.stringify({ kubernetes: pins.kubernetes, kwok: pins.kwok, etcd: pins.etcd }))
    .digest('hex')
    .slice(0, 12)}`,
)
/** cert-manager's CustomResourceDefinitions, as its module ships them (deploy/crds). */
export const crdsDir = join(cacheRoot, `cert-manager-${pins.certManager}`, 'crds')
/** OPA, in a directory of its own pin: its pin changes no other build's directory. */
export const opaDir = join(cacheRoot, `opa-${pins.opa}`)
export const opaPath = join(opaDir, 'bin', 'opa')
/** Vault and SeaweedFS, each in a directory of its own pin, as OPA. */
export const vaultDir = join(cacheRoot, `vault-${pins.vault}`)
export const vaultPath = join(vaultDir, 'bin', 'vault')
export const seaweedfsDir = join(cacheRoot, `seaweedfs-${pins.seaweedfs}`)
export const weedPath = join(seaweedfsDir, 'bin', 'weed')
/** vcsim and govc, in a directory of their own pin, as OPA. */
export const govmomiDir = join(cacheRoot, `govmomi-${pins.govmomi}`)
export const vcsimPath = join(govmomiDir, 'bin', 'vcsim')
export const govcPath = join(govmomiDir, 'bin', 'govc')
export const binaries = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'kwok',
]

const run = (command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) =>
  execFileSync(command, args, {
    cwd,
    env: { ...process.env, GOFLAGS: '-mod=mod', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  }).toString()

/** The path of a downloaded module's directory, downloading it first. */
const moduleDir = (cwd: string, module: string) =>
  (JSON.parse(run('go', ['mod', 'download', '-json', module], cwd)) as { Dir: string }).Dir

/**
 * kube-apiserver, kube-controller-manager, kube-scheduler and kubectl (the benchmark's baseline). k8s.io/kubernetes replaces every
 * k8s.io/* staging module with a local path, which a module that requires it cannot use; the wrapper
 * module replaces each with the published v0.<minor>.<patch> instead.
 */
function buildKubernetes(bin: string): void {
  const version = pins.kubernetes
  const [major, minor, patch] = version.replace(/^v/, '').split('.')
  const src = join(buildDir, 'src', 'kubernetes')
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, 'go.mod'), 'module rxt.local/peers/kubernetes\n\ngo 1.24\n')
  const upstream = readFileSync(join(moduleDir(src, `k8s.io/kubernetes@${version}`), 'go.mod'), 'utf8')
  const staging = [...upstream.matchAll(/^\s*(k8s\.io\/[\w.-]+) => \.\/staging\//gm)].map((m) => m[1])
  if (staging.length === 0) throw new Error(`no staging modules in k8s.io/kubernetes@${version}'s go.mod`)
  writeFileSync(
    join(src, 'go.mod'),
    [
      'module rxt.local/peers/kubernetes',
      '',
      'go 1.24',
      '',
      `require k8s.io/kubernetes ${version}`,
      '',
      ...staging.map((m) => `replace ${m} => ${m} v0.${minor}.${patch}`),
      '',
    ].join('\n'),
  )
  const commands = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl']
  writeFileSync(
    join(src, 'tools.go'),
    `//go:build tools\n\npackage peers\n\nimport (\n${commands.map((c) => `\t_ "k8s.io/kubernetes/cmd/${c}"`).join('\n')}\n)\n`,
  )
  run('go', ['mod', 'tidy', '-e'], src)
  // /version, and kubectl's client version, report the real version.
  const ldflags = [
    '-s -w',
    ...['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [
      `-X ${pkg}.gitVersion=${version}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
    ]),
  ].join(' ')
  run(
    'go',
    [
      'build',
      '-trimpath',
      '-ldflags',
      ldflags,
      '-o',
      `${bin}/`,
      ...commands.map((c) => `k8s.io/kubernetes/cmd/${c}`),
    ],
    src,
  )
}

/** KWOK itself. */
function buildKwok(bin: string): void {
  const src = join(buildDir, 'src', 'kwok')
  mkdirSync(src, { recursive: true })
  run('go', ['install', '-trimpath', '-ldflags', '-s -w', `sigs.k8s.io/kwok/cmd/kwok@${pins.kwok}`], src, {
    GOBIN: bin,
  })
}

/**
 * The module's own stages that take KWOK's fake nodes to Ready and keep them so (a heartbeat, with a
 * lease), and their pods to Running, fast.
 */
const kwokStageFiles = [
  'node/fast/node-initialize.yaml',
  'node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  ...['ready', 'complete', 'delete'].map((s) => `pod/fast/pod-${s}.yaml`),
]
export const kwokStagesPath = join(buildDir, 'kwok-stages.yaml')
const kwokStagesHeader = `# ${kwokStageFiles.join(' ')}\n`

function writeKwokStages(): void {
  const src = join(buildDir, 'src', 'kwok')
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, 'go.mod'), 'module rxt.local/peers/kwok\n\ngo 1.24\n')
  const stages = join(moduleDir(src, `sigs.k8s.io/kwok@${pins.kwok}`), 'kustomize', 'stage')
  writeFileSync(
    kwokStagesPath,
    kwokStagesHeader +
      kwokStageFiles.map((f) => readFileSync(join(stages, f), 'utf8').trim()).join('\n---\n'),
  )
}

/** cert-manager's CRDs, copied from its Go module (the files are plain YAML there). */
function fetchCertManagerCrds(): void {
  const src = join(cacheRoot, `cert-manager-${pins.certManager}`, 'src')
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, 'go.mod'), 'module rxt.local/peers/certmanager\n\ngo 1.24\n')
  const from = join(
    moduleDir(src, `github.com/cert-manager/cert-manager@${pins.certManager}`),
    'deploy',
    'crds',
  )
  const files = readdirSync(from).filter((f) => f.endsWith('.yaml'))
  if (files.length === 0) throw new Error(`no CRDs in cert-manager ${pins.certManager}'s deploy/crds`)
  mkdirSync(crdsDir, { recursive: true })
  for (const file of files) copyFileSync(join(from, file), join(crdsDir, file))
}

/**
 * etcd, from its server module (a wrapper module, as its go.mod replaces its sibling modules). Not
 * Debian's 3.4.23: the API server serves watch-list streams only from etcd with working progress
 * notifications (3.4.31 or 3.5.13 on), and KWOK's informers wait on those streams.
 */
function buildEtcd(bin: string): void {
  const src = join(buildDir, 'src', 'etcd')
  mkdirSync(src, { recursive: true })
  writeFileSync(
    join(src, 'go.mod'),
    `module rxt.local/peers/etcd\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 ${pins.etcd}\n`,
  )
  writeFileSync(
    join(src, 'tools.go'),
    '//go:build tools\n\npackage peers\n\nimport _ "go.etcd.io/etcd/server/v3"\n',
  )
  run('go', ['mod', 'tidy', '-e'], src)
  run(
    'go',
    ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(bin, 'etcd'), 'go.etcd.io/etcd/server/v3'],
    src,
  )
}

/**
 * OPA from its Go module, statically (CGO_ENABLED=0), with the version reported by `opa version`.
 * Once per pin: an existing binary is kept.
 */
export function buildOpa(): { built: boolean; path: string } {
  if (existsSync(opaPath)) return { built: false, path: opaPath }
  const src = join(opaDir, 'src')
  const bin = join(opaDir, 'bin')
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, 'go.mod'), 'module rxt.local/peers/opa\n\ngo 1.24\n')
  run(
    'go',
    ['install', '-trimpath', '-ldflags', '-s -w', `github.com/open-policy-agent/opa@${pins.opa}`],
    src,
    { GOBIN: `${bin}.partial`, CGO_ENABLED: '0' },
  )
  // Only a finished build is moved into place, so an interrupted one is built again.
  rmSync(bin, { recursive: true, force: true })
  renameSync(`${bin}.partial`, bin)
  return { built: true, path: opaPath }
}

/**
 * vcsim and govc from govmomi's module, statically, at one version (v0.46.0 is the last whose vcsim is
 * a package of the main module, so `go install` takes it from the module proxy as it is).
 */
export function buildGovmomi(): { built: boolean; path: string } {
  if (existsSync(vcsimPath) && existsSync(govcPath)) return { built: false, path: govmomiDir }
  const src = join(govmomiDir, 'src')
  const bin = join(govmomiDir, 'bin')
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, 'go.mod'), 'module rxt.local/peers/govmomi\n\ngo 1.24\n')
  for (const tool of ['vcsim', 'govc'])
    run(
      'go',
      ['install', '-trimpath', '-ldflags', '-s -w', `github.com/vmware/govmomi/${tool}@${pins.govmomi}`],
      src,
      { GOBIN: `${bin}.partial`, CGO_ENABLED: '0' },
    )
  rmSync(bin, { recursive: true, force: true })
  renameSync(`${bin}.partial`, bin)
  return { built: true, path: govmomiDir }
}

/**
 * A server built from its own module's source, with the dependency versions of its own go.mod and
 * go.sum (what upstream builds and tests with): the module is copied out of the module cache, the
 * `replace … => ./…` lines of its nested modules (which a module's zip leaves out) are dropped so the
 * published versions its go.mod requires are used, and the command is built statically into
 * `<dir>/bin/`. Once per pin: an existing binary is kept.
 */
function buildFromModule(spec: {
  readonly dir: string
  readonly module: string
  readonly version: string
  readonly pkg: string
  readonly output: string
  /** Exact text replacements in the copied source, each of which must match once. */
  readonly patches?: readonly { readonly file: string; readonly from: string; readonly to: string }[]
}): { built: boolean; path: string; seconds: number } {
  const path = join(spec.dir, 'bin', spec.output)
  if (existsSync(path)) return { built: false, path, seconds: 0 }
  const started = Date.now()
  const fetchDir = join(spec.dir, 'fetch')
  mkdirSync(fetchDir, { recursive: true })
  writeFileSync(join(fetchDir, 'go.mod'), 'module rxt.local/peers/fetch\n\ngo 1.24\n')
  const src = join(spec.dir, 'src')
  rmSync(src, { recursive: true, force: true })
  cpSync(moduleDir(fetchDir, `${spec.module}@${spec.version}`), src, { recursive: true })
  // The module cache is read-only; the copy is built in, so it must be writable (and removable).
  run('chmod', ['-R', 'u+w', src], spec.dir)
  const goMod = join(src, 'go.mod')
  writeFileSync(goMod, readFileSync(goMod, 'utf8').replace(/^replace \S+ => \.\/.*$/gm, ''))
  for (const patch of spec.patches ?? []) {
    const file = join(src, patch.file)
    const text = readFileSync(file, 'utf8')
    if (text.split(patch.from).length !== 2)
      throw new Error(
        `${spec.module}@${spec.version}: ${patch.file} no longer has ${JSON.stringify(patch.from)}`,
      )
    writeFileSync(file, text.replace(patch.from, patch.to))
  }
  const bin = join(spec.dir, 'bin')
  mkdirSync(`${bin}.partial`, { recursive: true })
  run(
    'go',
    ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(`${bin}.partial`, spec.output), spec.pkg],
    src,
    { CGO_ENABLED: '0' },
  )
  // Only a finished build is moved into place, so an interrupted one is built again.
  rmSync(bin, { recursive: true, force: true })
  renameSync(`${bin}.partial`, bin)
  // The source is 60–150 MB; the module cache keeps it for a rebuild.
  rmSync(src, { recursive: true, force: true })
  return { built: true, path, seconds: Math.round((Date.now() - started) / 1000) }
}

/**
 * Vault (`vault server -dev`: in memory, KV v2 at secret/); its version is embedded from its VERSION
 * file. Its go.mod requires the published sdk v0.21.0, but its own tree's sdk (which it builds with)
 * still has the two-argument `ActivationFunc` of v0.20.0, and v0.20.0 lacks what the rest of the tree
 * uses. Three lines are adapted to v0.21.0 instead: the two callers of the identity store's activation
 * hook (the flag-name argument, which the hook ignores) and transit's restore (v0.21.0 returns no key
 * name). Nothing else of the source changes; each patch must match exactly once, or the build stops.
 */
export const buildVault = () =>
  buildFromModule({
    dir: vaultDir,
    module: 'github.com/hashicorp/vault',
    version: pins.vault,
    pkg: '.',
    output: 'vault',
    patches: [
      {
        file: 'vault/identity_store.go',
        from: 'ActivationFunc: iStore.activateDeduplication,',
        to: 'ActivationFunc: func(ctx context.Context, req *logical.Request, _ string) error { return iStore.activateDeduplication(ctx, req) },',
      },
      {
        file: 'vault/logical_system_activation_flags.go',
        from: 'b.idStoreBackend.ActivationFunc(ctx, nil)',
        to: 'b.idStoreBackend.ActivationFunc(ctx, nil, "")',
      },
      // v0.21.0's RestorePolicy returns no key name: the requested one (only an observation's label).
      {
        file: 'builtin/logical/transit/path_restore.go',
        from: 'restoredKeyName, err := b.lm.RestorePolicy(ctx, req.Storage, keyName, backupB64, force)',
        to: 'restoredKeyName, err := keyName, b.lm.RestorePolicy(ctx, req.Storage, keyName, backupB64, force)',
      },
    ],
  })

/** SeaweedFS's `weed` (`weed mini`: master, volume, filer and S3 gateway in one process). */
export const buildSeaweedfs = () =>
  buildFromModule({
    dir: seaweedfsDir,
    module: 'github.com/seaweedfs/seaweedfs',
    version: pins.seaweedfs,
    pkg: './weed',
    output: 'weed',
  })

/** Builds what is missing; returns what it did and how long it took. */
export function build(): { built: boolean; seconds: number; dir: string } {
  const started = Date.now()
  const bin = join(buildDir, 'bin')
  const opa = buildOpa()
  const vault = buildVault()
  const seaweedfs = buildSeaweedfs()
  const govmomi = buildGovmomi()
  if (!existsSync(crdsDir)) fetchCertManagerCrds()
  const stagesCurrent = () =>
    existsSync(kwokStagesPath) && readFileSync(kwokStagesPath, 'utf8').startsWith(kwokStagesHeader)
  if (binaries.every((b) => existsSync(join(bin, b)))) {
    if (!stagesCurrent()) writeKwokStages()
    return {
      built: opa.built || vault.built || seaweedfs.built || govmomi.built,
      seconds: Math.round((Date.now() - started) / 1000),
      dir: buildDir,
    }
  }
  rmSync(bin, { recursive: true, force: true })
  mkdirSync(bin, { recursive: true })
  buildKubernetes(bin)
  buildKwok(bin)
  writeKwokStages()
  buildEtcd(bin)
  const seconds = Math.round((Date.now() - started) / 1000)
  writeFileSync(
    join(buildDir, 'build.json'),
    `${JSON.stringify({ pins, seconds, at: new Date().toISOString() })}\n`,
  )
  return { built: true, seconds, dir: buildDir }
}
