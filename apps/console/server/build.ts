// The console's build, kept next to its sources' hash: `up` and `serve console` rebuild when the sources
// changed since (and vite is installed); a production install without vite serves the build it has.
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The console workspace: its sources, its vite config, its build. */
export const consoleRoot = fileURLToPath(new URL('..', import.meta.url))
export const distDir = join(consoleRoot, 'dist')
/** The hash of the sources the build in dist was made from. */
const hashFile = '.source-hash'

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true })
  return entries
    .filter((e) => e.isFile() && !e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name))
}

/** The packages whose code goes into the build, or makes it: their locked versions are in the hash. */
const buildPackages = [
  'vite',
  '@vitejs/plugin-react',
  'react',
  'react-dom',
  '@tanstack/react-query',
  '@tanstack/react-router',
]

/** The lockfile's resolved versions of the build's packages (none without a lockfile). */
async function lockedVersions(lockFile: string): Promise<string> {
  let lock: { packages?: Record<string, { version?: string }> }
  try {
    lock = JSON.parse(await readFile(lockFile, 'utf8'))
  } catch {
    return ''
  }
  return buildPackages
    .map((name) => `${name}@${lock.packages?.[`node_modules/${name}`]?.version ?? ''}`)
    .join('\n')
}

/**
 * A hash of everything the build is made from: src/, index.html, the vite config, the package, and the
 * lockfile's versions of vite, its React plugin, React and TanStack (an upgrade rebuilds).
 */
export async function sourceHash(
  root = consoleRoot,
  lockFile = join(root, '..', '..', 'package-lock.json'),
): Promise<string> {
  const files = [
    ...(await filesUnder(join(root, 'src'))),
    join(root, 'index.html'),
    join(root, 'vite.config.ts'),
    join(root, 'package.json'),
  ].sort()
  const hash = createHash('sha256')
  for (const file of files) {
    hash.update(relative(root, file))
    hash.update('\0')
    hash.update(await readFile(file))
    hash.update('\0')
  }
  hash.update('package-lock.json\0')
  hash.update(await lockedVersions(lockFile))
  return hash.digest('hex')
}

/** The hash of the sources dist was built from; undefined without a build. */
export async function builtHash(dist = distDir): Promise<string | undefined> {
  try {
    return (await readFile(join(dist, hashFile), 'utf8')).trim()
  } catch {
    return undefined
  }
}

export type BuildOutcome = 'current' | 'built' | 'kept' | 'missing'

/**
 * Builds the console into dist when its sources changed since the build there (or `force`). The build
 * goes to a directory of its own and replaces dist when whole, so that a process serving dist never
 * reads half a build, and two processes starting at once do not mix theirs. Without vite (a production
 * install): `kept` when a build is there, `missing` when none is.
 */
export async function ensureBuilt(
  options: { readonly force?: boolean; readonly log?: (line: string) => void } = {},
): Promise<BuildOutcome> {
  const wanted = await sourceHash()
  if (options.force !== true && (await builtHash()) === wanted) return 'current'
  let vite: typeof import('vite')
  try {
    vite = await import('vite')
  } catch {
    return existsSync(join(distDir, 'index.html')) ? 'kept' : 'missing'
  }
  const outDir = join(consoleRoot, `.dist-${randomBytes(4).toString('hex')}`)
  try {
    await vite.build({
      configFile: join(consoleRoot, 'vite.config.ts'),
      root: consoleRoot,
      logLevel: 'warn',
      // The production build whatever NODE_ENV the caller runs with (vitest sets `test`, which would
      // give React's development build, twice the size).
      mode: 'production',
      define: { 'process.env.NODE_ENV': JSON.stringify('production') },
      build: { outDir, emptyOutDir: true },
    })
    await writeFile(join(outDir, hashFile), `${wanted}\n`)
    // Another process may have put the same build in place meanwhile: then this one is not needed.
    if (options.force !== true && (await builtHash()) === wanted) return 'current'
    await rm(distDir, { recursive: true, force: true })
    await rename(outDir, distDir)
    options.log?.(`console built into ${relative(process.cwd(), distDir) || distDir}`)
    return 'built'
  } finally {
    await rm(outDir, { recursive: true, force: true })
  }
}

// `npm run console:build`: build now, whatever the hash says.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outcome = await ensureBuilt({
    force: !process.argv.includes('--if-changed'),
    log: (line) => process.stdout.write(`${line}\n`),
  })
  if (outcome === 'missing')
    process.stdout.write('console: vite is not installed and there is no build; the console is not served\n')
  else if (outcome !== 'built') process.stdout.write(`console: build ${outcome}\n`)
}
