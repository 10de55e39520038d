// How fast `rxt` starts: `rxt --version` and `rxt --help` (which load only the command tree, no
// command's code) against `node -e 0`, the least a Node process can do, measured in the same run and
// alternated so that a busy moment of the machine weighs on both. Prints the median and p95 of each
// and their ratios.
import { spawnSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { median } from './servers.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 30)
const cli = fileURLToPath(new URL('../../apps/cli/src/main.ts', import.meta.url))

const p95 = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)] ?? Number.NaN
}

function timed(args: string[]): number {
  const t0 = performance.now()
  const run = spawnSync(process.execPath, args, { encoding: 'utf8' })
  const elapsed = performance.now() - t0
  if (run.status !== 0) throw new Error(`node ${args.join(' ')} exited ${run.status}: ${run.stderr}`)
  return elapsed
}

const cases = {
  'node -e 0': ['-e', '0'],
  'rxt --version': [cli, '--version'],
  'rxt --help': [cli, '--help'],
} as const
const times: Record<keyof typeof cases, number[]> = { 'node -e 0': [], 'rxt --version': [], 'rxt --help': [] }
// One unmeasured round: the first start reads the files from disk.
for (const args of Object.values(cases)) timed([...args])
for (let i = 0; i < rounds; i++)
  for (const [name, args] of Object.entries(cases)) times[name as keyof typeof cases].push(timed([...args]))

const baseline = times['node -e 0']
for (const [name, values] of Object.entries(times)) {
  const ratio =
    name === 'node -e 0'
      ? ''
      : `  ratio ${(median(values) / median(baseline)).toFixed(2)}x median, ${(p95(values) / p95(baseline)).toFixed(2)}x p95`
  console.log(
    `${name.padEnd(14)} median ${median(values).toFixed(1)} ms, p95 ${p95(values).toFixed(1)} ms (${rounds} runs)${ratio}`,
  )
}
