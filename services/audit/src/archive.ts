import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join, normalize, sep } from 'node:path'
import { ConflictError, InputError } from '@rxt/kit'

/**
 * Where old records go: write-once objects kept at least until `retainUntil`. The filesystem backend
 * below serves the embedded mode; an S3 Object Lock backend (compliance mode, retain-until date per
 * object) plugs in here for the distributed one.
 */
export interface ArchiveSink {
  /** Writes an object once; an object that exists is never replaced (ConflictError). */
  put(key: string, bytes: Uint8Array, retainUntil: Date): Promise<void>
  /** The object's bytes, or undefined when there is none. */
  get(key: string): Promise<Uint8Array | undefined>
}

const keyPattern = /^[A-Za-z0-9_.:-]+(\/[A-Za-z0-9_.:-]+)*$/

/**
 * Archive objects as read-only files under `root` (`RXT_DATA_DIR/audit-archive`): created exclusively,
 * then made read-only (0444). The file system keeps no retention date; the mode says "do not touch".
 */
export function filesystemArchive(root: string): ArchiveSink {
  const pathOf = (key: string) => {
    if (!keyPattern.test(key) || key.split('/').includes('..')) {
      throw new InputError(`archive key ${JSON.stringify(key)} is not a relative path of safe names`)
    }
    const path = normalize(join(root, key))
    if (!path.startsWith(normalize(root) + sep)) throw new InputError('archive key leaves the archive')
    return path
  }
  return {
    async put(key, bytes) {
      const path = pathOf(key)
      await mkdir(dirname(path), { recursive: true })
      try {
        await writeFile(path, bytes, { flag: 'wx', mode: 0o444 })
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new ConflictError(`archive object ${key} exists; archive objects are written once`)
        }
        throw error
      }
      await chmod(path, 0o444)
    },
    async get(key) {
      try {
        return await readFile(pathOf(key))
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw error
      }
    },
  }
}
