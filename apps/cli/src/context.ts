// What one command of `rxt` runs with: the settings (the config file under the environment), a client
// that refreshes and stores tokens, and how to print: JSON on --json, plain lines without a TTY.
import { type Client, createClient, type TokenStore } from './client.ts'
import {
  type ConfigChange,
  CorruptConfigError,
  configPath,
  readConfig,
  type Settings,
  type StoredConfig,
  settingsOf,
  updateConfig,
  withConfigLock,
  writeConfig,
} from './config.ts'
import { CliError, ExitCode } from './exit-codes.ts'

export interface Output {
  readonly json: boolean
  /** Whether standard output is a terminal (a spinner, colours); false in CI and in pipes. */
  readonly tty: boolean
  line(text?: string): void
  /** A line on standard error: progress, warnings (never what a script reads). */
  note(text: string): void
  /** One JSON document on standard output. */
  document(value: unknown): void
  /** Rows as aligned columns (plain text). */
  table(rows: readonly (readonly string[])[]): void
}

export interface RunContext {
  readonly env: NodeJS.ProcessEnv
  readonly settings: Settings
  readonly client: Client
  readonly out: Output
  readonly configFile: string
  readonly stored: StoredConfig
  /** Merges `change` into the config file as it is now (undefined removes a key); the rest stays. */
  saveConfig(change: ConfigChange): Promise<void>
}

export function createOutput(json: boolean, tty = process.stdout.isTTY === true): Output {
  return {
    json,
    tty,
    line: (text = '') => void process.stdout.write(`${text}\n`),
    note: (text) => void process.stderr.write(`${text}\n`),
    document: (value) => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    table(rows) {
      const widths: number[] = []
      for (const row of rows)
        for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length)
      for (const row of rows)
        process.stdout.write(
          `${row
            .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
            .join('  ')
            .trimEnd()}\n`,
        )
    },
  }
}

/** The config file as the store of a sign-in's tokens: every refresh under the file's lock. */
export function fileTokenStore(file: string): TokenStore {
  return {
    refresh: (used, exchange) =>
      withConfigLock(file, async () => {
        const current = await readConfig(file)
        if (current.refreshToken === undefined || current.accessToken === undefined) return 'ended'
        // Another process refreshed first: its tokens (the used refresh token would end the sign-in).
        if (current.refreshToken !== used)
          return { accessToken: current.accessToken, refreshToken: current.refreshToken }
        const tokens = await exchange(used)
        const { accessToken: _a, refreshToken: _r, ...rest } = current
        if (tokens === 'refused') {
          await writeConfig(file, rest)
          return 'ended'
        }
        await writeConfig(file, {
          ...rest,
          accessToken: tokens.accessToken,
          refreshToken: tokens.refreshToken,
        })
        return tokens
      }),
  }
}

export async function createRunContext(
  options: { json: boolean /** login and logout: a corrupt config file is replaced. */; recover?: boolean },
  env = process.env,
): Promise<RunContext> {
  const file = configPath(env)
  let stored: StoredConfig
  try {
    stored = await readConfig(file)
  } catch (error) {
    if (error instanceof CorruptConfigError) {
      if (options.recover !== true) throw error
      stored = {}
    } else throw new CliError(`cannot read ${file}: ${(error as Error).message}`, ExitCode.failed)
  }
  const settings = settingsOf(stored, env)
  const saveConfig: RunContext['saveConfig'] = async (change) => {
    stored = await updateConfig(file, change, { replaceCorrupt: options.recover === true })
  }
  const client = createClient({
    url: settings.url,
    credentials: settings.credentials,
    org: settings.org,
    ...(settings.credentialsFromFile ? { tokens: fileTokenStore(file) } : {}),
    ...(settings.signedInElsewhere === undefined ? {} : { signedInElsewhere: settings.signedInElsewhere }),
  })
  return {
    env,
    settings,
    client,
    out: createOutput(options.json),
    configFile: file,
    get stored() {
      return stored
    },
    saveConfig,
  }
}
