import { createServer } from 'node:net'

/** Addresses that mean "every interface": the URL names this machine instead. */
const unspecified = new Set(['0.0.0.0', '::', '[::]'])

/** The URL of a server listening on `host:port`. */
export function listeningUrl(host: string, port: number): string {
  const name = unspecified.has(host)
    ? 'localhost'
    : host.includes(':') && !host.startsWith('[')
      ? `[${host}]`
      : host
  return `http://${name}:${port}`
}

/**
 * The configuration with PUBLIC_URL as the environment gives it or, unset, the address the server
 * listens on (HOST and PORT; the port must be the real one, not 0). Contexts without the key are left
 * as they are.
 */
export function defaultPublicUrl<C extends { readonly HOST: string; readonly PORT: number }>(
  config: C,
  env: Readonly<Record<string, string | undefined>>,
): C {
  if (!('PUBLIC_URL' in config) || (env.PUBLIC_URL ?? '') !== '') return config
  return { ...config, PUBLIC_URL: listeningUrl(config.HOST, config.PORT) }
}

/** A port held open until `release`, so that nothing else takes it before the server listens on it. */
export interface HeldPort {
  readonly port: number
  release(): Promise<void>
}

/**
 * A free port on `host` (what PORT=0 would get), known before the contexts start: they build their
 * URLs (webhook URLs) as they start, and the server listens on it once they have.
 */
export function holdFreePort(host: string): Promise<HeldPort> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number }
      resolve({
        port,
        release: () => new Promise<void>((done) => server.close(() => done())),
      })
    })
  })
}
