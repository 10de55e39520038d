import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { readTarGz, writeTarGz } from './tar.ts'

const limits = { maxBytes: 1 << 20, maxEntries: 10 }
const bytes = (text: string) => new TextEncoder().encode(text)

describe('tar.gz bundles', () => {
  it('reads back what it wrote, by path', () => {
    const archive = writeTarGz(
      new Map([
        ['/data.json', bytes('{"a":1}')],
        ['policy.wasm', new Uint8Array(1000).fill(7)],
      ]),
    )
    const files = readTarGz(archive, limits)
    expect([...files.keys()]).toEqual(['data.json', 'policy.wasm'])
    expect(new TextDecoder().decode(files.get('data.json'))).toBe('{"a":1}')
    expect(files.get('policy.wasm')?.length).toBe(1000)
  })

  it('writes the same bytes for the same files', () => {
    const files = new Map([['x', bytes('y')]])
    expect(Buffer.from(writeTarGz(files)).equals(Buffer.from(writeTarGz(files)))).toBe(true)
  })

  it('refuses what is not gzip, not tar, or too large', () => {
    expect(() => readTarGz(bytes('hello'), limits)).toThrow(/not a gzip archive/)
    expect(() => readTarGz(new Uint8Array(gzipSync(Buffer.alloc(1024, 65))), limits)).toThrow(/not a tar/)
    const big = writeTarGz(new Map([['big', new Uint8Array(2 << 20)]]))
    expect(() => readTarGz(big, limits)).toThrow(/within/)
    const many = writeTarGz(new Map(Array.from({ length: 11 }, (_, i) => [`f${i}`, bytes('.')] as const)))
    expect(() => readTarGz(many, limits)).toThrow(/more than 10 files/)
  })
})
