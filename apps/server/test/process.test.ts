// The shared helper that starts rxt-deploy for tests ends what it started, however its own process ends:
// a child (and what the child started) must not run on after the test's worker is gone.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { until } from '@rxt/kit/testing/bus'
import { afterAll, describe, expect, it } from 'vitest'
import { endChildren, startBudgetMs, startServer } from './process.ts'

const driver = fileURLToPath(new URL('./fixtures/start-then-end.ts', import.meta.url))
const idleScript = fileURLToPath(new URL('./fixtures/idle-server.ts', import.meta.url))

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
const leftovers: number[] = []
afterAll(() => {
  for (const pid of leftovers) if (isRunning(pid)) process.kill(pid, 'SIGKILL')
})

describe('children of a test end with it', () => {
  it.each(['exit', 'SIGTERM', 'SIGKILL'])('when the test process ends by %s', {
    timeout: startBudgetMs,
  }, async (how) => {
    const child = spawn(process.execPath, ['--experimental-strip-types', driver, how], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let stdout = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    await once(child, 'close')
    const { pids } = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { pids: number[] }
    expect(pids).toHaveLength(2)
    leftovers.push(...pids)
    // The orphan guard looks every half second; a loaded machine may take a few turns.
    await until(() => pids.every((pid) => !isRunning(pid)), 30_000, `${pids.join(', ')} to end`).catch(
      () => undefined,
    )
    expect(pids.filter(isRunning)).toEqual([])
  })

  it('when the test ends: endChildren ends each child with its process group', async () => {
    const server = await startServer([], {}, idleScript)
    const line =
      server
        .output()
        .split('\n')
        .find((l) => l.includes('rxt-deploy is serving')) ?? '{}'
    const { pid, grandchild } = JSON.parse(line) as { pid: number; grandchild: number }
    leftovers.push(pid, grandchild)
    expect(isRunning(grandchild)).toBe(true)
    await endChildren()
    await until(() => !isRunning(grandchild), 10_000, 'the grandchild to end').catch(() => undefined)
    expect([pid, grandchild].filter(isRunning)).toEqual([])
  })
})
