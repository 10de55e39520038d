// What a push costs on the way in. Manifests: deploy.yaml loaded (YAML 1.2 with its guards), validated,
// defaults applied, canonicalised and digested, per second, against a baseline in the same run that
// only parses the YAML with the same parser, serialises it and hashes it (no guards, no schema, no
// canonical form): the ratio is what checking costs.
// Target: at least 5,000 manifests a second. (The webhook half of this benchmark arrives with the vcs
// context.)
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { loadManifest, manifestDigest } from '@rxt/contracts/manifest'
import { load } from 'js-yaml'
import { median } from './servers.ts'

const text = readFileSync(
  new URL('../../packages/contracts/src/manifest/fixtures/full.yaml', import.meta.url),
  'utf8',
)
const rounds = Number(process.env.BENCH_ROUNDS ?? 7)
const seconds = Number(process.env.BENCH_SECONDS ?? 1)

const perSecond = (work: () => void): number => {
  const end = performance.now() + seconds * 1000
  let n = 0
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) work()
    n += 50
  }
  return n / seconds
}

let sink = ''
const full = () => {
  const loaded = loadManifest(text)
  if (!loaded.ok) throw new Error('the fixture is valid')
  sink = manifestDigest(loaded.manifest)
}
const bare = () => {
  sink = createHash('sha256')
    .update(JSON.stringify(load(text)))
    .digest('hex')
}

perSecond(full) // warm-up
perSecond(bare)
const fullRuns: number[] = []
const bareRuns: number[] = []
for (let i = 0; i < rounds; i++) {
  fullRuns.push(perSecond(full))
  bareRuns.push(perSecond(bare))
}
const m = median(fullRuns)
console.log(`${rounds} alternating rounds of ${seconds} s; the manifest is full.yaml (${text.length} bytes)`)
console.log(`baseline js-yaml load + JSON + sha256:          ${Math.round(median(bareRuns))}/s`)
console.log(`loadManifest + canonical form + digest:          ${Math.round(m)}/s`)
console.log(`ratio to the baseline: ${(m / median(bareRuns)).toFixed(3)}`)
console.log(
  `manifests a second: ${Math.round(m)} (target >= 5,000) ${m >= 5000 ? 'MET' : 'NOT MET'}${sink === '' ? '' : ''}`,
)
