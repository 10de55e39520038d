// The server as one module (ADR 0036). `rxt-deploy prepare` bundles the composition root, the
// workspace packages and most of node_modules into dist/root.mjs, with a list of every file that went
// in (its size and modification time). A start whose files are all as listed loads that one module
// instead of ~1,900: resolving, reading and linking them was most of what loading the server cost. A
// start with any file changed (an edit, a checkout, an install) loads the sources, so the bundle is
// never older than what it stands for; `prepare` makes it anew.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/** Where `prepare` writes the bundle: beside the sources, since it names their files by path. */
export const bundleDir = fileURLToPath(new URL('../dist/', import.meta.url))
const entry = fileURLToPath(new URL('./root.ts', import.meta.url))
const repository = fileURLToPath(new URL('../../../', import.meta.url))

/** A file the bundle was made from: its path, size and modification time then. */
type Input = readonly [path: string, size: number, mtimeMs: number]

interface Manifest {
  readonly format: 1
  readonly inputs: readonly Input[]
}

/**
 * Left out of the bundle, loaded from node_modules as they are: native addons; PGlite (its WASM and
 * data files, and the bulk of a start's bytes, which the compile cache already keeps); pino and its
 * worker thread (a transport runs a file of its own); the bundler and vite (the console's build, loaded
 * only when its sources changed).
 */
const external = [
  /\.node$/,
  /^@node-rs\//,
  /^@electric-sql\/pglite($|\/)/,
  /^pino($|\/)/,
  /^thread-stream($|\/)/,
  /^vite($|\/)/,
  /^rolldown($|\/)/,
  /^@vitejs\//,
  /^lightningcss($|\/)/,
  /^esbuild($|\/)/,
  /^fsevents$/,
]

/**
 * Not modules of the bundle, but they decide what a start of the sources would load: the lock file
 * (an install) and every workspace's package.json (its exports).
 */
function alsoInputs(): string[] {
  const files = ['package-lock.json', 'package.json'].map((f) => join(repository, f))
  for (const group of ['packages', 'services', 'adapters', 'apps']) {
    const parent = join(repository, group)
    if (!existsSync(parent)) continue
    for (const name of readdirSync(parent)) files.push(join(parent, name, 'package.json'))
  }
  return files.filter((f) => existsSync(f))
}

const manifestFile = (dir: string) => join(dir, 'inputs.json')

/**
 * The bundle to load, when every file it was made from is as it was then; undefined when there is no
 * bundle, or any file changed (then the sources load). Synchronous and a stat a file: ~1,400 of them.
 */
export function freshBundle(dir = bundleDir): URL | undefined {
  let manifest: Manifest
  try {
    manifest = JSON.parse(readFileSync(manifestFile(dir), 'utf8')) as Manifest
  } catch {
    return undefined
  }
  if (manifest.format !== 1 || !Array.isArray(manifest.inputs)) return undefined
  if (!existsSync(join(dir, 'root.mjs'))) return undefined
  for (const [path, size, mtimeMs] of manifest.inputs) {
    const now = statSync(path, { throwIfNoEntry: false })
    if (now === undefined || now.size !== size || now.mtimeMs !== mtimeMs) return undefined
  }
  return pathToFileURL(join(dir, 'root.mjs'))
}

/**
 * Modules keep the addresses of their own files: `import.meta.url` (migrations, the console's build,
 * the policy bundle) and CommonJS's `__dirname`/`__filename` (a package's own assets) are written as
 * the path of the file they are in, so that they find what they found before bundling.
 */
function ownAddress(code: string, id: string, resolved: ReadonlyMap<string, string>): string | null {
  // Rolldown's own modules (`\0…`) have no file.
  if (!isAbsolute(id)) return null
  // Spelled so that this module, bundled, does not rewrite its own patterns.
  const meta = ['import', 'meta'].join('.')
  const [dirName, fileName] = ['dirname', 'filename'].map((n) => `__${n}`) as [string, string]
  if (!code.includes(meta) && !code.includes(dirName) && !code.includes(fileName)) return null
  const url = JSON.stringify(pathToFileURL(id).href)
  let out = code
    .replaceAll(`${meta}.url`, url)
    .replaceAll(`${meta}.dirname`, JSON.stringify(dirname(id)))
    .replaceAll(`${meta}.filename`, JSON.stringify(id))
  // The resolution of a string literal, made at build time from the module's own file as the sources
  // make it at run time. Another form (none in this build) resolves from the bundle's directory.
  out = out.replace(resolveCall(meta), (call, _quote: string, specifier: string) => {
    const href = resolved.get(specifier)
    return href === undefined ? call : JSON.stringify(href)
  })
  // A module that declares its own (`const __dirname = …` at the start of a line) keeps it.
  const declares = new RegExp(
    `^\\s*(export\\s+)?(const|let|var|function)\\s+(${dirName}|${fileName})\\b`,
    'm',
  )
  if (!declares.test(out)) {
    const bare = (name: string) => new RegExp(`(?<![.\\w$])${name}(?![\\w$])`, 'g')
    out = out.replace(bare(dirName), JSON.stringify(dirname(id))).replace(bare(fileName), JSON.stringify(id))
  }
  return out
}

/** `import.meta.resolve('specifier')` (the quote and the specifier captured). */
const resolveCall = (meta: string) =>
  new RegExp(`${meta.replace('.', '\\.')}\\.resolve\\((['"])([^'"\\n]+)\\1\\)`, 'g')

/**
 * The package.json of every package a bundled file is in: its `exports` decide what the sources would
 * load, and a patch can change them without touching the lock file.
 */
function packageFiles(ids: readonly string[]): string[] {
  const found = new Set<string>()
  for (const id of ids) {
    const at = id.lastIndexOf(`${sep}node_modules${sep}`)
    if (at < 0) continue
    const rest = id.slice(at + `${sep}node_modules${sep}`.length).split(sep)
    const name = rest[0]?.startsWith('@') ? rest.slice(0, 2) : rest.slice(0, 1)
    found.add(join(id.slice(0, at), 'node_modules', ...name, 'package.json'))
  }
  return [...found].filter((f) => existsSync(f))
}

/**
 * Bundles the server into `dir` (replacing what is there only once the new one is whole) and returns
 * how many modules went in. Needs rolldown (installed with the console's vite).
 */
export async function buildBundle(dir = bundleDir): Promise<number> {
  const { rolldown } = await import('rolldown')
  const began = Date.now()
  let read: string[] = []
  const build = await rolldown({
    input: entry,
    platform: 'node',
    logLevel: 'silent',
    plugins: [
      {
        name: 'own-address',
        // No code moves to another line: the lines of the map stay the sources' (`map: null`).
        async transform(code, id) {
          const meta = ['import', 'meta'].join('.')
          const resolved = new Map<string, string>()
          for (const [, , specifier] of code.matchAll(resolveCall(meta))) {
            const found = specifier === undefined ? null : await this.resolve(specifier, id)
            if (specifier !== undefined && found !== null && isAbsolute(found.id))
              resolved.set(specifier, pathToFileURL(found.id).href)
          }
          const out = ownAddress(code, id, resolved)
          return out === null ? null : { code: out, map: null }
        },
        // Every module the build read, a file that only re-exports (and so is in no chunk) included.
        buildEnd() {
          read = [...this.getModuleIds()]
        },
        // What stays out is imported by the path the sources would load (the version of the package
        // the importer sees, nested or not), wherever the bundle is.
        async resolveId(source, importer, options) {
          if (!external.some((pattern) => pattern.test(source))) return null
          const resolved = await this.resolve(source, importer, { ...options, skipSelf: true })
          if (resolved === null) return { id: source, external: true }
          return { id: resolved.id, external: 'absolute' }
        },
      },
    ],
  })
  const partial = `${dir.replace(/[/\\]$/, '')}.partial-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    const { output } = await build.write({
      file: join(partial, 'root.mjs'),
      format: 'esm',
      sourcemap: true,
      sourcemapExcludeSources: true,
    })
    const [chunk, ...others] = output
    if (chunk === undefined || chunk.type !== 'chunk' || others.some((o) => o.type === 'chunk'))
      throw new Error('the server did not bundle into one module')
    const modules = read.filter((id) => isAbsolute(id) && existsSync(id))
    const files = [...new Set([...modules, ...packageFiles(modules), ...alsoInputs()])]
    const inputs: Input[] = files.map((path) => {
      const { size, mtimeMs } = statSync(path)
      // Changed while it was read: what went in may not be what is listed.
      if (mtimeMs >= began) throw new Error(`${path} changed while the server was bundled; prepare again`)
      return [path, size, mtimeMs]
    })
    await writeFile(manifestFile(partial), JSON.stringify({ format: 1, inputs } satisfies Manifest))
    await rm(dir, { recursive: true, force: true })
    await mkdir(dirname(dir.replace(/[/\\]$/, '')), { recursive: true })
    await rename(partial, dir)
    return chunk.moduleIds.length
  } finally {
    await build.close()
    await rm(partial, { recursive: true, force: true })
  }
}
