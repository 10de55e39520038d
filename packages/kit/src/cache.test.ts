import { describe, expect, it } from 'vitest'
import { lazyCache } from './cache.ts'

describe('lazyCache', () => {
  it('answers as an empty cache until its first write, then as an LRU cache with its options', () => {
    const cache = lazyCache<string, number>({ max: 2, ttl: 60_000 })
    expect(cache.get('a')).toBeUndefined()
    expect(cache.has('a')).toBe(false)
    expect(cache.delete('a')).toBe(false)
    expect([...cache.entries()]).toEqual([])
    expect(cache.getRemainingTTL('a')).toBe(0)
    cache.clear()
    cache.set('a', 1)
    cache.set('b', 2)
    expect(cache.get('a')).toBe(1)
    expect(cache.getRemainingTTL('a')).toBeGreaterThan(59_000)
    // Over its capacity: the least recently used goes ('b': 'a' was just read).
    cache.set('c', 3)
    expect(cache.has('b')).toBe(false)
    expect([...cache.entries()].map(([k]) => k).sort()).toEqual(['a', 'c'])
    expect(cache.delete('a')).toBe(true)
    cache.clear()
    expect(cache.get('c')).toBeUndefined()
  })
})
