import { gunzipSync, gzipSync } from 'node:zlib'

/** What a tar archive may hold before it is refused: bundles are small. */
export interface TarLimits {
  readonly maxBytes: number
  readonly maxEntries: number
}

const block = 512

const text = (bytes: Uint8Array, from: number, length: number) => {
  const slice = bytes.subarray(from, from + length)
  const end = slice.indexOf(0)
  return new TextDecoder().decode(end === -1 ? slice : slice.subarray(0, end))
}

/**
 * The regular files of a gzip-compressed tar archive (ustar, as `opa build` writes it), by path
 * without a leading `/` or `./`. Throws a RangeError on anything that is not one, or is too large.
 * Pure: no file is written.
 */
export function readTarGz(archive: Uint8Array, limits: TarLimits): Map<string, Uint8Array> {
  let bytes: Uint8Array
  try {
    bytes = gunzipSync(archive, { maxOutputLength: limits.maxBytes })
  } catch (error) {
    throw new RangeError(`not a gzip archive within ${limits.maxBytes} bytes: ${(error as Error).message}`)
  }
  const files = new Map<string, Uint8Array>()
  let offset = 0
  let longName: string | undefined
  while (offset + block <= bytes.length) {
    const header = bytes.subarray(offset, offset + block)
    if (header.every((b) => b === 0)) break
    const checksum = Number.parseInt(text(header, 148, 8).trim(), 8)
    const sum = header.reduce((total, b, i) => total + (i >= 148 && i < 156 ? 32 : b), 0)
    if (!Number.isFinite(checksum) || checksum !== sum) throw new RangeError('not a tar archive: bad header')
    const size = Number.parseInt(text(header, 124, 12).trim() || '0', 8)
    const type = String.fromCharCode(header[156] ?? 0)
    const prefix = text(header, 345, 155)
    const name = longName ?? (prefix === '' ? text(header, 0, 100) : `${prefix}/${text(header, 0, 100)}`)
    longName = undefined
    const start = offset + block
    if (!Number.isFinite(size) || size < 0 || start + size > bytes.length)
      throw new RangeError(`not a tar archive: ${name} runs past the end`)
    const body = bytes.subarray(start, start + size)
    if (type === 'L') longName = text(body, 0, size)
    else if (type === '0' || type === '\0') {
      if (files.size >= limits.maxEntries) throw new RangeError(`more than ${limits.maxEntries} files`)
      files.set(name.replace(/^(\.?\/)+/, ''), body)
    }
    offset = start + Math.ceil(size / block) * block
  }
  return files
}

/**
 * A gzip-compressed ustar archive of the files (paths up to 100 characters), in the order given, with
 * no times or owners: the same files give the same bytes. What tests repack a bundle with.
 */
export function writeTarGz(files: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = []
  const encoder = new TextEncoder()
  for (const [name, body] of files) {
    const header = new Uint8Array(block)
    const put = (value: string, at: number) => header.set(encoder.encode(value), at)
    if (encoder.encode(name).length > 100) throw new RangeError(`path over 100 bytes: ${name}`)
    put(name, 0)
    put('0000644\0', 100)
    put('0000000\0', 108)
    put('0000000\0', 116)
    put(`${body.length.toString(8).padStart(11, '0')}\0`, 124)
    put('00000000000\0', 136)
    put('0', 156)
    put('ustar\0', 257)
    put('00', 263)
    const sum = header.reduce((total, b, i) => total + (i >= 148 && i < 156 ? 32 : b), 0)
    put(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
    parts.push(header, body, new Uint8Array((block - (body.length % block)) % block))
  }
  parts.push(new Uint8Array(block * 2))
  return new Uint8Array(gzipSync(Buffer.concat(parts), { level: 9 }))
}
