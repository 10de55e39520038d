import { connect } from 'node:net'
import Type from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../log.ts'
import { createHttpApp, type HttpApp } from './app.ts'

/** A response as the bytes on the wire say: status, headers (lower-cased names), body. */
interface Answer {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
  /** What the client's socket reported, if anything (ECONNRESET: the answer may have been dropped). */
  readonly error: string | undefined
}

let app: HttpApp
let port = 0

/**
 * Sends `request` as one client would, writing all of it before it reads (as most HTTP clients do),
 * then reads until the server closes the connection.
 */
const send = (request: string | Buffer): Promise<Answer> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let error: string | undefined
    socket.pause()
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message
    })
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const split = text.indexOf('\r\n\r\n')
      const head = split === -1 ? text : text.slice(0, split)
      const [statusLine = '', ...lines] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(':')
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
      }
      const rest = split === -1 ? '' : text.slice(split + 4)
      const length = Number(headers['content-length'] ?? rest.length)
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.slice(0, length), error })
    })
    socket.write(request, (e) => {
      if (e) error ??= (e as NodeJS.ErrnoException).code ?? e.message
      socket.on('data', (chunk: Buffer) => chunks.push(chunk))
      socket.resume()
      socket.end()
    })
  })

const get = (target: string, headers = 'Host: test\r\n') =>
  `GET ${target} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`

beforeAll(async () => {
  app = await createHttpApp({
    log: createLogger({ level: 'silent' }),
    title: 't',
    version: '1',
    readiness: [],
  })
  app.get(
    '/things/:thingId',
    { schema: { params: Type.Object({ thingId: Type.String() }) } },
    async (r) => r.params,
  )
  port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port)
})
afterAll(() => app?.close())

describe('requests refused before they reach a route', () => {
  it.each([
    ['a raw NUL character in the URL', 400, get('/things/a\u0000b'), /HPE_INVALID_URL/],
    ['a space in the URL', 400, get('/things/a b'), /not valid HTTP/],
    ['a %-escape that is not one in the path', 400, get('/things/%zz'), /percent-encoding/],
    ['an obs-folded header', 400, get('/healthz', 'Host: test\r\nX-Folded: a\r\n b\r\n'), /not valid HTTP/],
    ['a header name with a space', 400, get('/healthz', 'Host: test\r\nX Bad: a\r\n'), /not valid HTTP/],
    ['a method that is not one', 400, 'G@T / HTTP/1.1\r\nHost: test\r\n\r\n', /HPE_INVALID_METHOD/],
    [
      'both Content-Length and Transfer-Encoding',
      400,
      'POST /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      /Transfer-Encoding/,
    ],
    [
      'a broken chunked body',
      400,
      'POST /healthz HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      /chunk/,
    ],
    ['an HTTP/1.1 request without Host', 400, get('/healthz', ''), /Host/],
    ['a path parameter past maxParamLength', 414, get(`/things/${'a'.repeat(200)}`), /longer than/],
    [
      'a header past maxHeaderSize',
      431,
      get('/healthz', `Host: test\r\nX-Long: ${'a'.repeat(20_000)}\r\n`),
      /16 KB/,
    ],
    ['a URL past maxHeaderSize', 431, get(`/healthz?q=${'a'.repeat(20_000)}`), /16 KB/],
    [
      'an expectation other than 100-continue',
      417,
      get('/healthz', 'Host: test\r\nExpect: teapot\r\n'),
      /100-continue/,
    ],
    ['CONNECT', 405, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', /not a proxy/],
    ['a path no route serves', 404, get('/nowhere'), /no route/],
  ])('answers %s with a problem document (%i)', async (_what, status, request, detail) => {
    const answer = await send(request)
    expect(answer.error).toBeUndefined()
    expect(answer.status).toBe(status)
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(answer.headers['x-request-id']).toMatch(/\S/)
    const problem = JSON.parse(answer.body)
    expect(problem).toMatchObject({
      status,
      type: expect.stringMatching(/^urn:rxt:problem:/),
      retryable: false,
    })
    expect(problem.detail).toMatch(detail)
  })

  it.each([
    ['its headers', get('/healthz', `Host: test\r\nX-Long: ${'a'.repeat(4_000_000)}\r\n`)],
    ['its URL', get(`/healthz?q=${'a'.repeat(4_000_000)}`)],
  ])('answers a request with megabytes in %s, rather than resetting the connection', async (_what, request) => {
    const answer = await send(request)
    expect(answer.error).toBeUndefined()
    expect(answer.status).toBe(431)
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/)
  })

  it('still serves a well-formed request on the same server', async () => {
    const answer = await send(get('/things/t1'))
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.body)).toEqual({ thingId: 't1' })
  })
})
