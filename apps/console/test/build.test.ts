import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { sourceHash } from '../server/build.ts'

const dir = mkdtempSync(join(tmpdir(), 'rxt-console-hash-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const root = join(dir, 'apps', 'console')
mkdirSync(join(root, 'src'), { recursive: true })
for (const file of ['src/main.tsx', 'index.html', 'vite.config.ts', 'package.json'])
  writeFileSync(join(root, file), file)
const lockFile = join(dir, 'package-lock.json')
const lock = (versions: Record<string, string>) =>
  writeFileSync(
    lockFile,
    JSON.stringify({
      packages: Object.fromEntries(
        Object.entries(versions).map(([n, v]) => [`node_modules/${n}`, { version: v }]),
      ),
    }),
  )

describe("the console build's source hash", () => {
  it('changes with the locked version of a package the build is made with, not with others', async () => {
    lock({ vite: '8.4.0', react: '19.3.1', pino: '9.0.0' })
    const before = await sourceHash(root, lockFile)
    lock({ vite: '8.4.0', react: '19.3.1', pino: '9.1.0' })
    expect(await sourceHash(root, lockFile)).toBe(before)
    lock({ vite: '8.5.0', react: '19.3.1', pino: '9.1.0' })
    expect(await sourceHash(root, lockFile)).not.toBe(before)
    lock({ vite: '8.4.0', react: '19.3.2', pino: '9.1.0' })
    expect(await sourceHash(root, lockFile)).not.toBe(before)
  })
})
