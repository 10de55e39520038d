// Policy decisions: the shipped bundle (services/policy/bundle) evaluated in-process in WebAssembly
// (@open-policy-agent/opa-wasm, as the policy context does), and the same bundle served by the real
// `opa run --server` of the test peers over loopback (the bundle's Rego and data, by OPA's engine), with the same inputs in the same run. Printed:
// decisions a second, p50 and p99 of one decision, and the ratio. The server is asked one decision at
// a time, then BENCH_POLICY_CONCURRENCY (16 unless given) at once; the ratio is against its best.
import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { PolicyAdmit } from '@rxt/contracts'
import { canonicalManifest, loadManifest } from '@rxt/contracts/manifest'
import { admissionInput } from '../../services/policy/src/domain/admission-input.ts'
import { loadBundle } from '../../services/policy/src/domain/bundle.ts'
import { policiesDir, shippedBundleFile } from '../../services/policy/src/shipped.ts'
import { opaPath } from '../../tools/peers/build.ts'

const durationMs = Number(process.env.BENCH_POLICY_MS ?? 3000)
const concurrency = Number(process.env.BENCH_POLICY_CONCURRENCY ?? 16)
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
const us = (ns: number) => `${(ns / 1000).toFixed(1)} µs`

/** Admissions of a few shapes: allowed, PCI on Kubernetes, HIPAA unencrypted, public without TLS, over quota. */
function inputs(): unknown[] {
  const specs = [
    '  ports: [{name: http, port: 8080, protocol: http}]\n  network: {visibility: public, hostnames: [a.example.com]}\n',
    '  platform: {preference: auto, constraints: {compliance: [pci-dss]}}\n',
    '  platform: {preference: auto, constraints: {compliance: [hipaa]}}\n',
    '  ports: [{name: http, port: 8080, protocol: http}]\n  network: {visibility: public, hostnames: [b.example.com], tls: off}\n',
    '  autoscaling: {minReplicas: 2, maxReplicas: 40, targetCpuPercent: 70}\n',
  ]
  return specs.flatMap((spec, i) =>
    (['k8s', 'vm'] as const).map((kind) => {
      const loaded = loadManifest(
        `apiVersion: rxt-deploy/v1\nkind: Application\nmetadata: {name: app${i}}\nspec:\n  image: ghcr.io/acme/app:1\n  replicas: 2\n  resources: {cpu: 500m, memory: 512Mi}\n${spec}`,
      )
      if (!loaded.ok) throw new Error(`bench manifest ${i} is valid: ${JSON.stringify(loaded.violations)}`)
      const manifest = canonicalManifest(loaded.manifest)
      const command: PolicyAdmit = {
        deploymentId: `dep-${i}-${kind}`,
        sourceDeploymentId: null,
        tenantId: 'tnt-bench',
        projectId: 'prj-bench',
        envId: `env-${i}`,
        environment: 'production',
        manifest,
        manifestDigest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`,
        overrides: '{}',
        placement: {
          decisionId: `pld-${i}`,
          provider: kind === 'vm' ? 'sim-vm' : 'sim-container',
          platform: kind === 'vm' ? 'sddc-flex' : 'rxt-spot',
          kind,
          target: { compliance: [], regions: [], encryptionAtRest: kind === 'vm' },
        },
      }
      const made = admissionInput(command, 'standard')
      if (!made.ok) throw new Error(made.problem)
      return made.input
    }),
  )
}

interface Result {
  readonly name: string
  readonly decisions: number
  readonly seconds: number
  readonly latencies: number[]
}

const report = (r: Result) => {
  const sorted = r.latencies.toSorted((a, b) => a - b)
  const rate = r.decisions / r.seconds
  console.log(
    `${r.name.padEnd(38)} ${rate.toFixed(0).padStart(8)} decisions/s   p50 ${us(percentile(sorted, 50)).padStart(10)}   p99 ${us(percentile(sorted, 99)).padStart(10)}   (${r.decisions} decisions)`,
  )
  return { rate, p99: percentile(sorted, 99) }
}

async function inProcess(all: unknown[]): Promise<Result> {
  const bundle = await loadBundle(new Uint8Array(readFileSync(shippedBundleFile)))
  for (let i = 0; i < 2000; i++) bundle.evaluate(all[i % all.length])
  const latencies: number[] = []
  const started = process.hrtime.bigint()
  const end = started + BigInt(durationMs) * 1_000_000n
  let n = 0
  for (let now = started; now < end; n++) {
    const t = process.hrtime.bigint()
    bundle.evaluate(all[n % all.length])
    now = process.hrtime.bigint()
    latencies.push(Number(now - t))
  }
  return {
    name: 'in-process (opa-wasm)',
    decisions: n,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    latencies,
  }
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject()))
    })
  })

/**
 * What `opa run` serves: the Rego and data.json the shipped bundle is built from (services/policy/
 * policies, tests left out), evaluated by OPA's own engine. Not the archive itself: an opa without a
 * WebAssembly engine (the peers' is built CGO_ENABLED=0, without the opa_wasm tag) refuses a bundle
 * whose manifest names wasm modules ("engine not found"), and the Rego opa build -t wasm writes into
 * the archive imports its entrypoint into its own package, which its interpreter leaves undefined.
 * The two are checked to decide every input alike before anything is timed.
 */
async function startOpa(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort()
  const child = spawn(
    opaPath,
    [
      'run',
      '--server',
      '--addr',
      `127.0.0.1:${port}`,
      '--log-level',
      'error',
      '--ignore',
      '*_test.rego',
      fileURLToPath(policiesDir),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  )
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 15_000
  for (;;) {
    try {
      if ((await fetch(`${url}/health?bundles`)).ok) return { url, child }
    } catch {}
    if (Date.now() > deadline) throw new Error('opa run --server did not become healthy in 15 s')
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function served(url: string, all: unknown[], parallel: number): Promise<Result> {
  const ask = async (input: unknown) => {
    const res = await fetch(`${url}/v1/data/rxt/decision/result`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input }),
    })
    const body = (await res.json()) as { result?: { allow?: unknown } }
    if (typeof body.result?.allow !== 'boolean') throw new Error(`opa answered ${JSON.stringify(body)}`)
  }
  for (let i = 0; i < 500; i++) await ask(all[i % all.length])
  const latencies: number[] = []
  let n = 0
  const started = process.hrtime.bigint()
  const end = started + BigInt(durationMs) * 1_000_000n
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (process.hrtime.bigint() < end) {
        const i = n++
        const t = process.hrtime.bigint()
        await ask(all[i % all.length])
        latencies.push(Number(process.hrtime.bigint() - t))
      }
    }),
  )
  return {
    name: `opa run --server, ${parallel} at a time`,
    decisions: latencies.length,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    latencies,
  }
}

const all = inputs()
// The two evaluators agree on every input before anything is timed.
const local = await loadBundle(new Uint8Array(readFileSync(shippedBundleFile)))
console.log(`${all.length} inputs, ${durationMs} ms each; the shipped bundle ${local.revision.slice(0, 19)}…`)
const wasm = report(await inProcess(all))
if (!existsSync(opaPath)) {
  console.log(
    `SKIPPED policy (opa run --server): opa is not built at ${opaPath} (npm run peers -- build; needs Go)`,
  )
  console.log(`target: p99 < 1 ms in-process: ${wasm.p99 < 1_000_000 ? 'met' : 'NOT met'}`)
} else {
  const { url, child } = await startOpa()
  try {
    for (const input of all) {
      const res = await fetch(`${url}/v1/data/rxt/decision/result`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input }),
      })
      const server = (
        (await res.json()) as {
          result: { allow: boolean; violations: { policy: string; message: string }[] }
        }
      ).result
      const mine = local.evaluate(input)
      const key = (v: { policy: string; message: string }) => `${v.policy}|${v.message}`
      if (
        server.allow !== mine.allow ||
        JSON.stringify(server.violations.map(key).sort()) !== JSON.stringify(mine.violations.map(key).sort())
      )
        throw new Error(`opa and opa-wasm disagree on ${JSON.stringify(input)}`)
    }
    const one = report(await served(url, all, 1))
    const many = report(await served(url, all, concurrency))
    const best = Math.max(one.rate, many.rate)
    console.log(
      `in-process / best server throughput: ${(wasm.rate / best).toFixed(1)}x (target ≥ 10x: ${wasm.rate / best >= 10 ? 'met' : 'NOT met'}); in-process p99 < 1 ms: ${wasm.p99 < 1_000_000 ? 'met' : 'NOT met'}`,
    )
  } finally {
    child.kill('SIGTERM')
  }
}
