import { spawnSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { SourceMap } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import packageJson from '../package.json' with { type: 'json' }
import { buildBundle, freshBundle } from './bundle.ts'

const dirs: string[] = []
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rxt-bundle-'))
  dirs.push(dir)
  return dir
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

describe('the server bundle', () => {
  it('is loaded only while every file it was made from is as it was', async () => {
    const dir = await tempDir()
    const source = join(dir, 'a.ts')
    await writeFile(source, 'export const a = 1\n')
    const stat = statSync(source)
    await writeFile(
      join(dir, 'inputs.json'),
      JSON.stringify({ format: 1, inputs: [[source, stat.size, stat.mtimeMs]] }),
    )
    // The manifest without its bundle (a `prepare` replacing it) is no bundle.
    expect(freshBundle(dir)).toBeUndefined()
    await writeFile(join(dir, 'root.mjs'), 'export {}\n')
    expect(freshBundle(dir)?.href).toBe(pathToFileURL(join(dir, 'root.mjs')).href)

    // The same size, another time: an edit that kept the length.
    await utimes(source, new Date(), new Date(Date.now() + 5_000))
    expect(freshBundle(dir)).toBeUndefined()
    await writeFile(
      join(dir, 'inputs.json'),
      JSON.stringify({ format: 1, inputs: [[source, statSync(source).size, statSync(source).mtimeMs]] }),
    )
    expect(freshBundle(dir)).toBeDefined()
    await writeFile(source, 'export const a = 2 // longer\n')
    expect(freshBundle(dir)).toBeUndefined()
    await rm(source)
    expect(freshBundle(dir)).toBeUndefined()
  })

  it('is not loaded without a manifest, or with one it cannot read', async () => {
    const dir = await tempDir()
    expect(freshBundle(dir)).toBeUndefined()
    await writeFile(join(dir, 'inputs.json'), '{"format": 1, "inputs": [')
    expect(freshBundle(dir)).toBeUndefined()
    await writeFile(join(dir, 'inputs.json'), JSON.stringify({ format: 2, inputs: [] }))
    expect(freshBundle(dir)).toBeUndefined()
  })

  it('bundles the server into one module that runs, listing every source file it holds', async () => {
    const parent = await tempDir()
    const dir = join(parent, 'dist')
    const modules = await buildBundle(dir)
    expect(modules).toBeGreaterThan(500)
    const manifest = JSON.parse(await readFile(join(dir, 'inputs.json'), 'utf8')) as {
      inputs: [string, number, number][]
    }
    const paths = manifest.inputs.map(([path]) => path)
    expect(paths).toContain(fileURLToPath(new URL('./root.ts', import.meta.url)))
    expect(paths).toContain(fileURLToPath(new URL('../../../packages/kit/src/runtime.ts', import.meta.url)))
    expect(paths).toContain(fileURLToPath(new URL('../../../package-lock.json', import.meta.url)))
    // A file that only re-exports is in no chunk, but an edit of it changes what the sources load.
    expect(paths).toContain(
      fileURLToPath(new URL('../../../packages/kit/src/saga/index.ts', import.meta.url)),
    )
    // And the package.json of a bundled package (its exports).
    expect(paths).toContain(
      fileURLToPath(new URL('../../../node_modules/fastify/package.json', import.meta.url)),
    )
    expect(freshBundle(dir)).toBeDefined()

    // Its source map names the sources' files and lines (main.ts turns source maps on for it), also of
    // a module whose own address was rewritten (runtime.ts names its migrations by it).
    const text = await readFile(join(dir, 'root.mjs'), 'utf8')
    // kit's `import.meta.resolve('@electric-sql/pglite')`, resolved when bundled as the sources resolve it.
    expect(text).toContain(`fileURLToPath(${JSON.stringify(import.meta.resolve('@electric-sql/pglite'))})`)
    const bundled = text.split('\n')
    const map = new SourceMap(JSON.parse(await readFile(join(dir, 'root.mjs.map'), 'utf8')))
    const origin = (marker: string) => {
      const line = bundled.findIndex((l) => l.includes(marker))
      expect(line).toBeGreaterThan(-1)
      const column = (bundled[line] as string).indexOf(marker)
      const entry = map.findEntry(line, column) as { originalSource: string; originalLine: number }
      // Named relative to the map, as Node resolves it.
      return { file: resolve(dir, entry.originalSource), line: entry.originalLine + 1 }
    }
    const source = async (file: string, marker: string) =>
      (await readFile(file, 'utf8')).split('\n').findIndex((l) => l.includes(marker)) + 1
    const here = fileURLToPath(new URL('./bundle.ts', import.meta.url))
    expect(origin('function buildBundle(')).toEqual({
      file: here,
      line: await source(here, 'function buildBundle('),
    })
    const runtime = fileURLToPath(new URL('../../../packages/kit/src/runtime.ts', import.meta.url))
    const marker = 'the bus is starting its consumers'
    expect(origin(marker)).toEqual({ file: runtime, line: await source(runtime, marker) })

    // It runs from where it was written, and finds the files its modules name by their own address.
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [join(dir, 'root.mjs'), ...args], { encoding: 'utf8', timeout: 60_000 })
    const version = run('version')
    expect(version.stderr).toBe('')
    expect(version.stdout.trim()).toBe(packageJson.version)
    const openapi = run('openapi')
    expect(openapi.status).toBe(0)
    expect(JSON.parse(openapi.stdout).paths['/v1/auth/whoami']).toBeDefined()
  }, 120_000)
})
