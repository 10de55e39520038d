import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPGliteDriver } from './pglite.ts'
import type { Driver } from './types.ts'

describe('the PGlite driver', () => {
  let driver: Driver
  beforeAll(async () => {
    driver = await createPGliteDriver({})
  })
  afterAll(async () => {
    await driver.close()
  })

  it('opens with a buffer pool sized for an embedded control plane', async () => {
    const { rows } = await driver.admin((s) =>
      s.query<{ sb: string }>("SELECT current_setting('shared_buffers') AS sb"),
    )
    expect(rows[0]?.sb).toBe('32MB')
  })

  /** How many times the event loop turned while `work` ran. */
  const turnsWhile = async (work: () => Promise<void>) => {
    let turns = 0
    let over = false
    const count = () => {
      if (over) return
      turns++
      setImmediate(count)
    }
    setImmediate(count)
    await work()
    over = true
    return turns
  }

  it('lets the event loop turn during a burst of statements, and keeps their order', async () => {
    const done: number[] = []
    const turns = await turnsWhile(async () => {
      await Promise.all(
        Array.from({ length: 400 }, (_, i) =>
          driver.admin(async (s) => {
            await s.query('SELECT pg_sleep(0.0001), $1::int AS i', [i])
            done.push(i)
          }),
        ),
      )
    })
    expect(done).toEqual(Array.from({ length: 400 }, (_, i) => i))
    // A burst that never let the loop turn would leave the counter at its first turn or none.
    expect(turns).toBeGreaterThan(3)
  })

  it('lets the event loop turn while one caller runs statement after statement', async () => {
    const turns = await turnsWhile(async () => {
      for (let i = 0; i < 400; i++) await driver.admin((s) => s.query('SELECT pg_sleep(0.0001)'))
    })
    expect(turns).toBeGreaterThan(3)
  })
})
