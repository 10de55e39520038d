import { randomFillSync } from 'node:crypto'
import { v7 } from 'uuid'

/** Random bytes drawn from the system a page at a time: one call for 256 ids, not one per id. */
const pool = new Uint8Array(4096)
let offset = pool.length
const randomBytes16 = (): Uint8Array => {
  if (offset + 16 > pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const bytes = pool.subarray(offset, offset + 16)
  offset += 16
  return bytes
}

let lastMs = -1
let seq = 0

/**
 * A UUIDv7 (RFC 9562): ordered by creation time, and in the order of creation within this process
 * (a counter seeded at random each millisecond; method 1 of RFC 9562 §6.2, as `uuid` does itself).
 */
export function newId(now: number = Date.now()): string {
  const random = randomBytes16()
  if (now > lastMs) {
    lastMs = now
    // 31 random bits, leaving room to count up within the millisecond.
    seq =
      (((random[6] ?? 0) << 23) | ((random[7] ?? 0) << 16) | ((random[8] ?? 0) << 8) | (random[9] ?? 0)) >>> 1
  } else {
    seq = (seq + 1) | 0
    if (seq === 0) lastMs++
  }
  return v7({ random, msecs: lastMs, seq })
}
