import { parseArgs } from 'node:util'

export const usage = `Usage: rxt-deploy <command>

Commands:
  up                     run every context in one process (embedded PGlite unless DATABASE_URL is set)
  serve <context…>       run only the named contexts, against DATABASE_URL
  prepare                make what makes starts fast: the embedded database's template (a first
                         start copies it), the server's bundle (a start of the unchanged sources
                         loads it) and Node's compile cache; run once per build or install
  contexts               list the contexts this build can run
  openapi                print the OpenAPI 3.1 document of every context
  version                print the version

Configuration comes from the environment; see the README for every key.`

export type Command =
  | { readonly kind: 'up' }
  | { readonly kind: 'serve'; readonly contexts: readonly string[] }
  | { readonly kind: 'prepare' }
  | { readonly kind: 'contexts' }
  | { readonly kind: 'openapi' }
  | { readonly kind: 'version' }
  | { readonly kind: 'help' }

/** Pure: argv (without node and the script) to a command, or a message saying what is wrong. */
export function parseCommand(argv: readonly string[]): Command | { readonly error: string } {
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
    })
  } catch (error) {
    return { error: (error as Error).message }
  }
  if (parsed.values.help === true) return { kind: 'help' }
  if (parsed.values.version === true) return { kind: 'version' }
  const [name, ...rest] = parsed.positionals
  switch (name) {
    case undefined:
    case 'help':
      return { kind: 'help' }
    case 'up':
    case 'prepare':
    case 'contexts':
    case 'openapi':
    case 'version':
      if (rest.length > 0) return { error: `${name} takes no arguments (got ${rest.join(' ')})` }
      return { kind: name }
    case 'serve':
      if (rest.length === 0) return { error: 'serve needs at least one context name' }
      return { kind: 'serve', contexts: rest }
    default:
      return { error: `unknown command ${JSON.stringify(name)}` }
  }
}
