import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type ContextDeps, createHttpApp, createLogger, type HttpApp } from '@rxt/kit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { distDir, ensureBuilt } from '../server/build.ts'
import { type ConsoleConfig, consoleContext, consoleCsp } from '../server/index.ts'

let app: HttpApp
let script: string

beforeAll(async () => {
  await ensureBuilt()
  script = /src="(\/assets\/[^"]+\.js)"/.exec(
    readFileSync(join(distDir, 'index.html'), 'utf8'),
  )?.[1] as string
  app = await createHttpApp({
    log: createLogger({ level: 'silent' }),
    title: 'test',
    version: '0',
    readiness: [],
  })
  await app.register(
    async (scope) => {
      scope.get('/ping', { schema: { summary: 'an API route' } }, async () => ({ pong: true }))
    },
    { prefix: '/v1' },
  )
  const deps = {
    config: { CONSOLE_API_URL: 'https://api.example.com/' },
  } as unknown as ContextDeps<ConsoleConfig>
  await app.register(async (scope) => consoleContext.site?.(scope as HttpApp, deps))
  await app.ready()
}, 60_000)

afterAll(() => app.close())

const get = (url: string, accept = 'text/html,application/xhtml+xml') =>
  app.inject({ method: 'GET', url, headers: { accept } })

describe('the console served at /', () => {
  it('answers the app with a strict CSP and no caching of index.html', async () => {
    const res = await get('/')
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toContain('text/html')
    expect(res.headers['cache-control']).toBe('no-cache')
    expect(res.headers['content-security-policy']).toBe(consoleCsp('https://api.example.com/'))
    expect(res.headers['content-security-policy']).toContain("script-src 'self'")
    expect(res.headers['content-security-policy']).toContain("connect-src 'self' https://api.example.com")
    expect(res.body).toContain('<div id="root">')
    // Invite tokens travel in the console's URLs; the answer depends on Accept.
    expect(res.headers['referrer-policy']).toBe('no-referrer')
    expect(res.headers.vary).toContain('accept')
  })

  it("answers the app's own routes with index.html, for a browser asking for a page", async () => {
    const page = await get('/projects/0190a5b2/environments/x')
    expect(page.statusCode).toBe(200)
    expect(page.body).toBe((await get('/')).body)
    const json = await get('/projects/0190a5b2', 'application/json')
    expect(json.statusCode).toBe(404)
    expect(json.headers['content-type']).toContain('application/problem+json')
  })

  it('serves the hashed assets for a year', async () => {
    const res = await get(script, '*/*')
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toContain('text/javascript')
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    const missing = await get('/assets/nothing-here.js')
    expect(missing.statusCode).toBe(404)
  })

  it('never shadows the API, the probes or the API document', async () => {
    expect(JSON.parse((await get('/v1/ping')).body)).toEqual({ pong: true })
    const unknown = await get('/v1/nothing')
    expect(unknown.statusCode).toBe(404)
    expect(JSON.parse(unknown.body)).toMatchObject({
      code: 'not-found',
      detail: 'no route for GET /v1/nothing',
    })
    expect((await get('/healthz')).headers['content-type']).toContain('application/json')
    expect((await get('/openapi.json')).headers['content-type']).toContain('application/json')
    for (const path of ['/metrics/x', '/docs-x/../readyz/x', '/openapi.json/x', '/V1/ping', '//v1/nothing'])
      expect((await get(path)).headers['content-type']).not.toContain('text/html')
  })

  it('serves nothing outside the build', async () => {
    for (const path of ['/%2e%2e/package.json', '/.source-hash', '/..%2fserver%2findex.ts']) {
      const res = await get(path, '*/*')
      expect(res.statusCode, path).toBe(404)
    }
  })

  it("names the API's origin in index.html, escaped, so the app starts without asking", async () => {
    const res = await get('/')
    expect(res.body).toContain('<head><meta name="rxt-api-url" content="https://api.example.com/" />')
    expect((await get('/projects/x')).body).toContain('name="rxt-api-url"')
  })

  it('tells the app where the API is', async () => {
    const res = await get('/console/config.json', 'application/json')
    expect(JSON.parse(res.body)).toEqual({ apiUrl: 'https://api.example.com/' })
  })

  it('leaves its routes out of the API document', async () => {
    const paths = Object.keys((app.swagger() as { paths: Record<string, unknown> }).paths)
    expect(paths).toContain('/v1/ping')
    expect(
      paths.filter((p) => !p.startsWith('/v1/') && !['/healthz', '/readyz', '/metrics'].includes(p)),
    ).toEqual([])
  })
})
