import { readFile } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'
import { type ContextDeps, defineContext, type HttpApp, NotFoundError } from '@rxt/kit'
import Type, { type Static } from 'typebox'
import { distDir, ensureBuilt } from './build.ts'

const ConsoleConfigSchema = Type.Object({
  CONSOLE_API_URL: Type.String({
    default: '',
    description:
      "The API's origin the console calls (https://api.example.com) when the process serving the console is not the gateway; that gateway then needs the console's origin in CORS_ORIGINS. Empty: the console's own origin.",
  }),
})
export type ConsoleConfig = Static<typeof ConsoleConfigSchema>

/** The paths the API and the process own: never answered with the console. */
const reserved = ['/v1', '/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/console/']
const isReserved = (rawPath: string) => {
  // `/V1/x` and `//v1/x` are the API's too, never a page of the console.
  const path = rawPath.toLowerCase().replace(/\/{2,}/g, '/')
  return reserved.some((r) => path === r || path.startsWith(r.endsWith('/') ? r : `${r}/`))
}

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
}

/**
 * The console's Content-Security-Policy: its own scripts and styles only (the build inlines none), calls
 * to its own origin and the API's, no frames, no plugins.
 */
export function consoleCsp(apiUrl: string): string {
  let api = ''
  try {
    api = apiUrl === '' ? '' : ` ${new URL(apiUrl).origin}`
  } catch {
    api = ''
  }
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${api}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ')
}

/** Static files carry no data, so none of these routes is guarded; they are left out of the API document. */
const publicStatic =
  'Unauthenticated: the console is static files (HTML, scripts, styles), the same for everyone, with no tenant data.'

function consoleSite(app: HttpApp, deps: ContextDeps<ConsoleConfig>): void {
  const apiUrl = deps.config.CONSOLE_API_URL.trim()
  const csp = consoleCsp(apiUrl)
  const config = JSON.stringify({ apiUrl })
  const route = {
    config: { rateLimit: false, quiet: true, auth: { public: publicStatic } },
    schema: { hide: true },
  } as const

  app.get('/console/config.json', route, async (_request, reply) =>
    reply
      .header('cache-control', 'no-cache')
      .header('content-security-policy', csp)
      .header('referrer-policy', 'no-referrer')
      .type('application/json')
      .send(config),
  )

  // index.html names the API's origin itself, so the app's first call needs no /console/config.json.
  const apiMeta = `<meta name="rxt-api-url" content="${apiUrl.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)}" />`
  const send = async (reply: import('fastify').FastifyReply, file: string, immutable: boolean) => {
    const read = await readFile(file)
    const body = file.endsWith('index.html')
      ? read.toString('utf8').replace('<head>', `<head>${apiMeta}`)
      : read
    return (
      reply
        .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
        .header('content-security-policy', csp)
        // Invite tokens are in the console's URLs: no page sends its address on.
        .header('referrer-policy', 'no-referrer')
        // A page or a 404 by the Accept header: caches keep the two apart.
        .header('vary', 'accept')
        .type(types[extname(file)] ?? 'application/octet-stream')
        .send(body)
    )
  }

  app.get('/*', route, async (request, reply) => {
    const path = decodeURIComponent((request.url.split('?')[0] ?? '/').replace(/\/+$/, '') || '/')
    if (isReserved(path)) throw new NotFoundError(`no route for GET ${path}`)
    const relativePath = normalize(path).replace(/^[/\\]+/, '')
    if (relativePath !== '' && !relativePath.startsWith('..') && !relativePath.includes(`${sep}..`)) {
      const file = join(distDir, relativePath)
      if (file.startsWith(distDir + sep) && !relativePath.startsWith('.')) {
        try {
          return await send(reply, file, relativePath.startsWith(`assets${sep}`))
        } catch {
          // Not a file of the build: a page of the app, or nothing.
        }
      }
    }
    // Any other page of the single-page app is its index.html, for a browser asking for a page.
    const accept = request.headers.accept ?? ''
    if (!accept.includes('text/html') || relativePath.startsWith(`assets${sep}`))
      throw new NotFoundError(`no route for GET ${path}`)
    try {
      return await send(reply, join(distDir, 'index.html'), false)
    } catch {
      throw new NotFoundError('the console is not built: run npm run console:build')
    }
  })
}

/**
 * The web console: the single-page app of apps/console served at `/` (hashed assets cached for a year,
 * index.html never), the SPA's own routes answered with index.html, its configuration at
 * /console/config.json. It reaches the API only through /v1, as any client does.
 */
export const consoleContext = defineContext<ConsoleConfig>({
  name: 'console',
  description: 'The web console: a single-page app over the public /v1 API',
  config: ConsoleConfigSchema,
  site: consoleSite,
  ready: async ({ log }) => {
    // A build that fails (a typo in a page) never stops the process: the build there is served.
    let outcome: Awaited<ReturnType<typeof ensureBuilt>>
    try {
      outcome = await ensureBuilt({ log: (line) => log.info(line) })
    } catch (error) {
      log.warn({ err: error }, 'the console failed to build: the previous build, if any, is served')
      return
    }
    if (outcome === 'missing')
      log.warn('the console is not built and vite is not installed: / serves nothing')
    else if (outcome === 'kept')
      log.warn(
        'the console build is older than its sources and vite is not installed: the old build is served',
      )
  },
})
