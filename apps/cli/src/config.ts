// Where `rxt` keeps its sign-in: ${XDG_CONFIG_HOME:-~/.config}/rxt/config.json, the directory 0700 and
// the file 0600 (it holds tokens or an API key). The environment wins over the file: RXT_URL, RXT_TOKEN,
// RXT_API_KEY, RXT_ORG, RXT_PROJECT (what CI sets).
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

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

/** The stored config; an absent file is an empty one. */
export async function readConfig(path: string): Promise<StoredConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw error
  }
  const parsed = JSON.parse(text) as unknown
  return typeof parsed === 'object' && parsed !== null ? (parsed as StoredConfig) : {}
}

/**
 * Writes the config: directory 0700, file 0600, whatever the umask, through a temporary file renamed
 * over the old one (a crash never leaves half a file).
 */
export async function writeConfig(path: string, config: StoredConfig): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await chmod(dir, 0o700)
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 })
  await chmod(temporary, 0o600)
  await rename(temporary, path)
}

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
  return {
    url: (set(env.RXT_URL) ?? stored.url ?? defaultUrl).replace(/\/+$/, ''),
    credentials: fromEnv ?? fromFile,
    credentialsFromFile: fromEnv === undefined && fromFile !== undefined,
    org: set(env.RXT_ORG) ?? stored.org,
    project: set(env.RXT_PROJECT) ?? stored.project,
  }
}
