// Builds the pinned test peers into the cache, once per pin: kube-apiserver, kube-controller-manager
// and kube-scheduler from the Go module k8s.io/kubernetes, KWOK from sigs.k8s.io/kwok, and etcd from
// Debian's etcd-server package.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

export interface Pins {
  readonly kubernetes: string
  readonly kwok: string
  readonly etcd: string
}

export const pins: Pins = JSON.parse(readFileSync(new URL('./pins.json', import.meta.url), 'utf8'))

/** Where built peers and running clusters live: outside the repository, kept between runs. */
export const cacheRoot = process.env.RXT_PEERS_CACHE ?? join(homedir(), '.cache', 'rxt-peers')

/** The build of these pins: a new directory whenever a pin changes. */
export const buildDir = join(
  cacheRoot,
  `build-${createHash('sha256').update(JSON.stringify(pins)).digest('hex').slice(0, 12)}`,
)
export const binaries = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok']

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
 * kube-apiserver, kube-controller-manager and kube-scheduler. k8s.io/kubernetes replaces every
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
  const commands = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']
  writeFileSync(
    join(src, 'tools.go'),
    `//go:build tools\n\npackage peers\n\nimport (\n${commands.map((c) => `\t_ "k8s.io/kubernetes/cmd/${c}"`).join('\n')}\n)\n`,
  )
  run('go', ['mod', 'tidy', '-e'], src)
  // /version reports the real version.
  const ldflags = [
    '-s -w',
    `-X k8s.io/component-base/version.gitVersion=${version}`,
    `-X k8s.io/component-base/version.gitMajor=${major}`,
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
    '-X k8s.io/component-base/version.gitTreeState=clean',
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

/** KWOK, and the stages that take its fake nodes to Ready and their pods to Running. */
function buildKwok(bin: string): void {
  const src = join(buildDir, 'src', 'kwok')
  mkdirSync(src, { recursive: true })
  run('go', ['install', '-trimpath', '-ldflags', '-s -w', `sigs.k8s.io/kwok/cmd/kwok@${pins.kwok}`], src, {
    GOBIN: bin,
  })
  writeFileSync(join(src, 'go.mod'), 'module rxt.local/peers/kwok\n\ngo 1.24\n')
  const stages = join(moduleDir(src, `sigs.k8s.io/kwok@${pins.kwok}`), 'kustomize', 'stage')
  const files = [
    'node/fast/node-initialize.yaml',
    ...['ready', 'complete', 'delete'].map((s) => `pod/fast/pod-${s}.yaml`),
  ]
  writeFileSync(
    join(buildDir, 'kwok-stages.yaml'),
    files.map((f) => readFileSync(join(stages, f), 'utf8').trim()).join('\n---\n'),
  )
}

/** etcd from Debian's package: installed when missing and this process may (root with apt-get). */
export function etcdPath(): string {
  const found = () => {
    try {
      return execFileSync('which', ['etcd']).toString().trim()
    } catch {
      return ''
    }
  }
  if (found() !== '') return found()
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    execFileSync('apt-get', ['install', '-y', '-q', 'etcd-server'], { stdio: 'inherit' })
    if (found() !== '') return found()
  }
  throw new Error("etcd is missing: install Debian's etcd-server package (apt-get install etcd-server)")
}

/** Builds what is missing; returns what it did and how long it took. */
export function build(): { built: boolean; seconds: number; dir: string } {
  const started = Date.now()
  const bin = join(buildDir, 'bin')
  etcdPath()
  if (binaries.every((b) => existsSync(join(bin, b))) && existsSync(join(buildDir, 'kwok-stages.yaml'))) {
    return { built: false, seconds: 0, dir: buildDir }
  }
  rmSync(bin, { recursive: true, force: true })
  mkdirSync(bin, { recursive: true })
  buildKubernetes(bin)
  buildKwok(bin)
  const seconds = Math.round((Date.now() - started) / 1000)
  writeFileSync(
    join(buildDir, 'build.json'),
    `${JSON.stringify({ pins, seconds, at: new Date().toISOString() })}\n`,
  )
  return { built: true, seconds, dir: buildDir }
}
