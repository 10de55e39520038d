import { LRUCache } from 'lru-cache'

/** What the platform's caches use of an LRU cache. */
export interface Cache<K extends {}, V extends {}> {
  get(key: K): V | undefined
  has(key: K): boolean
  set(key: K, value: V): void
  delete(key: K): boolean
  entries(): IterableIterator<[K, V]>
  clear(): void
  /** Milliseconds the entry has left; 0 when there is none. */
  getRemainingTTL(key: K): number
}

/**
 * An LRU cache (lru-cache) made on its first write. lru-cache allocates its whole capacity when made
 * (seven caches of 50,000–100,000 entries took ~50 ms of every start); one made on first use costs a
 * start nothing, and a process that never fills it (a replica that serves no logins) never pays.
 */
export function lazyCache<K extends {}, V extends {}>(options: LRUCache.Options<K, V, unknown>): Cache<K, V> {
  let cache: LRUCache<K, V> | undefined
  return {
    get: (key) => cache?.get(key),
    has: (key) => cache?.has(key) ?? false,
    set: (key, value) => {
      cache ??= new LRUCache<K, V>(options)
      cache.set(key, value)
    },
    delete: (key) => cache?.delete(key) ?? false,
    entries: () => cache?.entries() ?? new Map<K, V>().entries(),
    clear: () => cache?.clear(),
    getRemainingTTL: (key) => cache?.getRemainingTTL(key) ?? 0,
  }
}
