// The web console (apps/console), in Chromium on localhost against `rxt-deploy up`:
// - the initial JavaScript: what index.html loads before the first page renders (its module script and
//   modulepreloads), gzipped as a static host or a proxy would send it (target ≤ 250 KB);
// - from navigation to the environments list of a project with 50 environments rendered, each row with
//   its deployment answered, p95 of 20 loads of the page in one tab (the browser's cache warm, as for a
//   person coming back; target < 1 s). The baseline, measured in the same run and the same tab: the raw
//   API calls that page needs (the environments, then each one's deployments, in parallel) made with
//   fetch from a page of the same origin, without the console: the ratio is what the console adds.
// Further figures go in `figures` at the end (the CLI's start-up joins them there).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { chromium } from 'playwright-core'
import { distDir, ensureBuilt } from '../../apps/console/server/build.ts'
import { endChildren, startServer } from '../../apps/server/test/process.ts'
import { call } from '../e2e/deploy-journey.ts'

const loads = Number(process.env.BENCH_ROUNDS ?? 20)
const environments = 50
const chromiumPath = process.env.RXT_TEST_CHROMIUM ?? '/usr/bin/chromium'

const p95 = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)] as number
}

interface Figure {
  readonly name: string
  readonly value: string
  readonly target: string
  readonly met: boolean
  readonly ratio?: string
}
const figures: Figure[] = []

// The initial JavaScript.
await ensureBuilt()
const index = readFileSync(join(distDir, 'index.html'), 'utf8')
const scripts = [
  ...index.matchAll(/<script[^>]*type="module"[^>]*src="([^"]+)"/g),
  ...index.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g),
].map((m) => m[1] as string)
const raw = scripts.map((src) => readFileSync(join(distDir, src)))
const gzipped = raw.reduce((sum, body) => sum + gzipSync(body, { level: 9 }).length, 0)
const rawBytes = raw.reduce((sum, body) => sum + body.length, 0)
figures.push({
  name: `initial JavaScript, gzipped (${scripts.length} files, ${(rawBytes / 1024).toFixed(0)} KB raw)`,
  value: `${(gzipped / 1024).toFixed(1)} KB`,
  target: '≤ 250 KB',
  met: gzipped <= 250 * 1024,
})

// The environments list.
const dataDir = mkdtempSync(join(tmpdir(), 'rxt-bench-console-'))
const server = await startServer(
  ['up'],
  { RXT_DATA_DIR: dataDir, RATE_LIMIT_PER_MINUTE: '1000000' },
  undefined,
  {
    discardOutput: true,
  },
)
const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox'],
})
try {
  const signup = await call(
    server.url,
    'POST',
    '/v1/auth/signup',
    {},
    {
      email: 'bench@example.com',
      password: 'a long passphrase for the bench',
      name: 'Bench',
      orgName: 'Bench',
    },
  )
  if (signup.status !== 201) throw new Error(`signup: ${signup.status} ${JSON.stringify(signup.body)}`)
  const auth = { authorization: `Bearer ${signup.body.accessToken}` }
  const project = await call(server.url, 'POST', '/v1/projects', auth, { slug: 'fifty', name: 'Fifty' })
  const projectId = project.body.id as string
  for (let i = 0; i < environments; i++) {
    const env = await call(server.url, 'POST', `/v1/projects/${projectId}/environments`, auth, {
      name: `env-${String(i).padStart(2, '0')}`,
      type: 'development',
    })
    if (env.status !== 201) throw new Error(`environment: ${env.status} ${JSON.stringify(env.body)}`)
  }

  const page = await (await browser.newContext()).newPage()
  // The tab's session, as a refresh token alone: the first load refreshes it once and keeps the access
  // token in sessionStorage; the later loads reuse it, as a reload does (no refresh, no sign-in budget).
  await page.goto(`${server.url}/console/config.json`)
  await page.evaluate(
    ({ refresh, org }) => {
      // biome-ignore lint/suspicious/noExplicitAny: the page's storage
      const { sessionStorage } = globalThis as any
      sessionStorage.setItem('rxt.refresh', refresh)
      sessionStorage.setItem('rxt.org', org)
    },
    { refresh: signup.body.refreshToken as string, org: signup.body.orgId as string },
  )
  /** Milliseconds from navigation to the 50 rows rendered, and to every row's deployment answered. */
  const rendered = async (): Promise<{ rows: number; settled: number }> => {
    await page.goto(`${server.url}/projects/${projectId}`)
    const handle = await page.waitForFunction(
      (count) => {
        // biome-ignore lint/suspicious/noExplicitAny: the page's globals
        const w = globalThis as any
        const rows = w.document.querySelectorAll('[data-testid="environments"] tbody tr').length
        if (rows === count) w.rowsAt ??= performance.now()
        return rows === count && w.document.querySelector('.loading') === null
          ? { rows: w.rowsAt, settled: performance.now() }
          : false
      },
      environments,
      { polling: 'raf', timeout: 60_000 },
    )
    return (await handle.jsonValue()) as { rows: number; settled: number }
  }
  const apiOnly = async (): Promise<number> =>
    page.evaluate(
      async ({ projectId, authorization }) => {
        const t0 = performance.now()
        const headers = { authorization }
        const list = (await (await fetch(`/v1/projects/${projectId}/environments`, { headers })).json()) as {
          items: { id: string }[]
        }
        await Promise.all(
          list.items.map(async (e) =>
            (await fetch(`/v1/environments/${e.id}/deployments?limit=5`, { headers })).json(),
          ),
        )
        return performance.now() - t0
      },
      { projectId, authorization: auth.authorization },
    )

  await rendered() // the first load fills the cache; it is not counted
  const rows: number[] = []
  const settled: number[] = []
  const baseline: number[] = []
  for (let i = 0; i < loads; i++) {
    const load = await rendered()
    rows.push(load.rows)
    settled.push(load.settled)
    baseline.push(await apiOnly())
  }
  figures.push({
    name: `navigation to the list of ${environments} environments rendered, p95 of ${loads}`,
    value: `${p95(rows).toFixed(0)} ms`,
    target: '< 1000 ms',
    met: p95(rows) < 1000,
  })
  figures.push({
    name: `navigation to every row's deployment shown, p95 of ${loads}`,
    value: `${p95(settled).toFixed(0)} ms`,
    target: 'none; the list above is the target',
    met: true,
    ratio: `${(p95(settled) / p95(baseline)).toFixed(1)}x the page's raw API calls without the console (p95 ${p95(baseline).toFixed(0)} ms: the environments, then each one's deployments)`,
  })
} finally {
  await browser.close()
  await endChildren()
  rmSync(dataDir, { recursive: true, force: true })
}

// The figures, each beside its target.
for (const f of figures)
  console.log(
    `${f.name}: ${f.value} (target ${f.target}${f.met ? '' : ', NOT MET'})${f.ratio === undefined ? '' : `; ${f.ratio}`}`,
  )

// The console's third figure is the command line's: `rxt --version` start-up against `node -e 0`, as
// `npm run bench -- cli` measures it (the same module, run here too).
console.log('rxt start-up (npm run bench -- cli):')
await import('./cli.bench.ts')
