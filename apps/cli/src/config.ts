// Where `rxt` keeps its sign-in: ${XDG_CONFIG_HOME:-~/.config}/rxt/config.json, the directory 0700 and
// the file 0600 (it holds tokens or an API key). The environment wins over the file: RXT_URL, RXT_TOKEN,
// RXT_API_KEY, RXT_ORG, RXT_PROJECT (what CI sets).
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import lockfile from 'proper-lockfile'
import { CliError, ExitCode } from './exit-codes.ts'

export const defaultUrl = 'http://127.0.0.1:8080'

/** What the file keeps. Every field is optional: a fresh installation has none. */
export interface StoredConfig {
  readonly url?: string
  readonly accessToken?: string
  readonly refreshToken?: string
  readonly apiKey?: string
  readonly email?: string
  readonly org?: string
  readonly project?: string
}

/** How requests authenticate: a sign-in's tokens (refreshed on 401 when the file has them) or an API key. */
export type Credentials =
  | { readonly kind: 'token'; readonly accessToken: string; readonly refreshToken?: string }
  | { readonly kind: 'api-key'; readonly apiKey: string }

/** The settings one run of `rxt` uses: the file's, with the environment's over them. */
export interface Settings {
  readonly url: string
  readonly credentials: Credentials | undefined
  /** Whether the credentials came from the file (only those are refreshed and written back). */
  readonly credentialsFromFile: boolean
  /**
   * The server the file's sign-in belongs to when it is not `url` (RXT_URL names another): its
   * credentials are not sent there.
   */
  readonly signedInElsewhere?: string
  readonly org: string | undefined
  readonly project: string | undefined
}

/** The config file's path for an environment. */
export function configPath(env: NodeJS.ProcessEnv): string {
  const base =
    env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== ''
      ? env.XDG_CONFIG_HOME
      : join(env.HOME ?? homedir(), '.config')
  return join(base, 'rxt', 'config.json')
}

/** The config file is not JSON: what it holds is not repeated (it may be a token). */
export class CorruptConfigError extends CliError {
  constructor(path: string) {
    super(`${path} is not valid JSON: fix or delete it (rxt login writes a new one)`, ExitCode.failed)
    this.name = 'CorruptConfigError'
  }
}

/** The stored config; an absent file is an empty one, a corrupt one a CorruptConfigError. */
export async function readConfig(path: string): Promise<StoredConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw error
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new CorruptConfigError(path)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new CorruptConfigError(path)
  return parsed as StoredConfig
}

/** The directory of the config, 0700 whatever the umask. */
async function configDir(path: string): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await chmod(dir, 0o700)
}

/**
 * Writes the config: directory 0700, file 0600 from its creation, through a temporary file of a random
 * name (created exclusively, synced) renamed over the old one: a crash never leaves half a file.
 */
export async function writeConfig(path: string, config: StoredConfig): Promise<void> {
  await configDir(path)
  const temporary = `${path}.${randomBytes(8).toString('hex')}.tmp`
  const handle = await open(temporary, 'wx', 0o600)
  try {
    await handle.chmod(0o600)
    await handle.writeFile(`${JSON.stringify(config, null, 2)}\n`)
    await handle.sync()
  } catch (error) {
    await handle.close()
    await rm(temporary, { force: true })
    throw error
  }
  await handle.close()
  await rename(temporary, path)
}

/**
 * Runs `fn` holding the config's lock (`<path>.lock`, a directory made exclusively; one left by a
 * process that died is taken over once stale): every rxt process that refreshes or writes the file
 * takes it, so none writes back what another changed meanwhile.
 */
export async function withConfigLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  await configDir(path)
  const release = await lockfile.lock(path, {
    realpath: false,
    stale: 10_000,
    retries: { retries: 100, factor: 1.3, minTimeout: 10, maxTimeout: 250 },
    onCompromised: () => {},
  })
  try {
    return await fn()
  } finally {
    await release().catch(() => undefined)
  }
}

/** A change of the config: the keys it names (undefined removes one). */
export type ConfigChange = { [K in keyof StoredConfig]?: StoredConfig[K] | undefined }

/**
 * Merges `change` into the file as it is now (read under the lock): what another process wrote to the
 * keys `change` does not name stays. `replaceCorrupt`: a corrupt file counts as empty (rxt login).
 */
export async function updateConfig(
  path: string,
  change: ConfigChange,
  options: { replaceCorrupt?: boolean } = {},
): Promise<StoredConfig> {
  return withConfigLock(path, async () => {
    let current: StoredConfig
    try {
      current = await readConfig(path)
    } catch (error) {
      if (!(error instanceof CorruptConfigError && options.replaceCorrupt === true)) throw error
      current = {}
    }
    const next = { ...current, ...change } as Record<string, unknown>
    for (const key of Object.keys(next)) if (next[key] === undefined) delete next[key]
    await writeConfig(path, next as StoredConfig)
    return next as StoredConfig
  })
}

/** A server's URL as rxt compares them: without trailing slashes. */
export const normalUrl = (url: string) => url.replace(/\/+$/, '')

const set = (value: string | undefined) => (value === undefined || value === '' ? undefined : value)

/** The settings of a run: the environment over the file. */
export function settingsOf(stored: StoredConfig, env: NodeJS.ProcessEnv): Settings {
  const token = set(env.RXT_TOKEN)
  const apiKey = set(env.RXT_API_KEY)
  const fromEnv: Credentials | undefined =
    token !== undefined
      ? { kind: 'token', accessToken: token }
      : apiKey !== undefined
        ? { kind: 'api-key', apiKey }
        : undefined
  const fromFile: Credentials | undefined =
    stored.apiKey !== undefined
      ? { kind: 'api-key', apiKey: stored.apiKey }
      : stored.accessToken !== undefined
        ? {
            kind: 'token',
            accessToken: stored.accessToken,
            ...(stored.refreshToken === undefined ? {} : { refreshToken: stored.refreshToken }),
          }
        : undefined
  const url = normalUrl(set(env.RXT_URL) ?? stored.url ?? defaultUrl)
  // The file's sign-in was issued by the server it names: another server never sees it.
  const issuer = normalUrl(stored.url ?? defaultUrl)
  const fileCredentials = issuer === url ? fromFile : undefined
  return {
    url,
    credentials: fromEnv ?? fileCredentials,
    credentialsFromFile: fromEnv === undefined && fileCredentials !== undefined,
    ...(fromEnv === undefined && fromFile !== undefined && fileCredentials === undefined
      ? { signedInElsewhere: issuer }
      : {}),
    org: set(env.RXT_ORG) ?? stored.org,
    project: set(env.RXT_PROJECT) ?? stored.project,
  }
}
