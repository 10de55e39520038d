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

  it('lets the event loop turn during a burst of statements, and keeps their order', async () => {
    const done: number[] = []
    let turnsDuring = 0
    let burstOver = false
    const count = () => {
      if (burstOver) return
      turnsDuring++
      setImmediate(count)
    }
    setImmediate(count)
    await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        driver.admin(async (s) => {
          await s.query('SELECT pg_sleep(0.0001), $1::int AS i', [i])
          done.push(i)
        }),
      ),
    )
    burstOver = true
    expect(done).toEqual(Array.from({ length: 400 }, (_, i) => i))
    // A burst that never let the loop turn would leave the counter at its first turn or none.
    expect(turnsDuring).toBeGreaterThan(3)
  })

  it('lets the event loop turn while one caller runs statement after statement', async () => {
    let turnsDuring = 0
    let over = false
    const count = () => {
      if (over) return
      turnsDuring++
      setImmediate(count)
    }
    setImmediate(count)
    for (let i = 0; i < 400; i++) await driver.admin((s) => s.query('SELECT pg_sleep(0.0001)'))
    over = true
    expect(turnsDuring).toBeGreaterThan(3)
  })
})
