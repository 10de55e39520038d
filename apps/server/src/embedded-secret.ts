import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * A secret the embedded mode keeps beside its data (`<dir>/<name>`, readable by its owner only): made
 * at the first start, read at every later one, so that `rxt-deploy up` needs no configuration. The
 * distributed mode takes its secrets from the environment instead.
 */
export async function embeddedSecret(dir: string, name: string): Promise<string> {
  const file = join(dir, name)
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  await mkdir(dir, { recursive: true })
  const secret = randomBytes(32).toString('base64url')
  try {
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' })
    return secret
  } catch (error) {
    // Another process made it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim()
    throw error
  }
}
