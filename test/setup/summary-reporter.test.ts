// The summary line of a run whose only failure is a hook: it must not say 0 failed.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const vitest = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url))
const config = fileURLToPath(new URL('./fixtures/hook-failure/vitest.fixture.config.ts', import.meta.url))

it('counts a suite whose beforeAll failed as a failure in the summary line', { timeout: 60_000 }, () => {
  const run = spawnSync(process.execPath, [vitest, 'run', '--config', config], {
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  })
  expect(run.status).not.toBe(0)
  expect(run.stdout).toMatch(/^1 passed, 1 failed, 1 skipped$/m)
})
