import { describe, expect, it } from 'vitest'
import { newId } from './ids.ts'

const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('newId', () => {
  it('makes UUIDv7s in the order they were made, unique, within one millisecond and across', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => newId(1_800_000_000_000 + Math.floor(i / 1000)))
    for (const id of ids) expect(id).toMatch(uuidV7)
    expect(new Set(ids).size).toBe(ids.length)
    expect([...ids].sort()).toEqual(ids)
  })

  it('carries the time it was made in its first 48 bits', () => {
    const ms = 1_900_000_000_123
    const id = newId(ms)
    expect(Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16)).toBe(ms)
  })

  it('stays ordered when the clock steps back', () => {
    const ahead = newId(2_000_000_000_000)
    const behind = newId(1_000_000_000_000)
    expect(behind > ahead).toBe(true)
  })
})
