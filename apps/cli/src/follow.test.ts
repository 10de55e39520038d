// Following a deployment over a real HTTP connection that drops: the stream is opened again with
// Last-Event-ID and every entry arrives once, in order.
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createClient } from './client.ts'
import { CliError, ExitCode } from './exit-codes.ts'
import { type DeploymentEvent, followDeployment } from './follow.ts'

const entry = (seq: number, kind: string, step?: string) =>
  `id: ${seq}\nevent: ${kind}\ndata: ${JSON.stringify({ seq, at: '2026-01-01T00:00:00Z', kind, ...(step === undefined ? {} : { step }) })}\n\n`

const history = [
  entry(1, 'started'),
  entry(2, 'step-started', 'place'),
  entry(3, 'step-succeeded', 'place'),
  entry(4, 'succeeded'),
]

describe('following a deployment', () => {
  const servers: ReturnType<typeof createServer>[] = []
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections()
      server.close()
    }
  })
  const serve = async (handler: Parameters<typeof createServer>[1]) => {
    const server = createServer(handler)
    servers.push(server)
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  it('opens the stream again after a drop, from the last id it saw, and ends at end', async () => {
    const requests: IncomingHttpHeaders[] = []
    const url = await serve((request, response) => {
      requests.push(request.headers)
      const after = Number(request.headers['last-event-id'] ?? 0)
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      if (requests.length === 1) {
        // Two entries, then the stream ends mid-message: the half message is dropped, not read.
        response.end(`${history[0]}${history[1]}${history[2]?.slice(0, 10)}`)
        return
      }
      response.end(`${history.slice(after).join('')}event: end\ndata: {"status":"ready"}\n\n`)
    })
    const seen: DeploymentEvent[] = []
    const client = createClient({ url, credentials: { kind: 'api-key', apiKey: 'k' }, org: undefined })
    const end = await followDeployment(client, 'd-1', (e) => seen.push(e), { retryDelayMs: () => 1 })
    expect(end).toEqual({ status: 'ready' })
    expect(seen.map((e) => e.seq)).toEqual([1, 2, 3, 4])
    expect(requests.map((h) => h['last-event-id'])).toEqual([undefined, '2'])
    expect(requests[0]).toMatchObject({ authorization: 'ApiKey k', accept: 'text/event-stream' })
  })

  it('follows a quiet deploy: streams that end with no event, more times than the limit, then end', async () => {
    let opened = 0
    const url = await serve((_request, response) => {
      opened++
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      // What a proxy's idle timeout does to a quiet stream: it ends, cleanly, with nothing in it.
      response.end(opened <= 5 ? ': keepalive\n\n' : 'event: end\ndata: {"status":"ready"}\n\n')
    })
    const client = createClient({ url, credentials: undefined, org: undefined })
    const end = await followDeployment(client, 'd-1', () => {}, { reconnects: 2, retryDelayMs: () => 1 })
    expect(end).toEqual({ status: 'ready' })
    expect(opened).toBe(6)
  })

  it('gives up with exit 6 when the stream cannot be opened, time after time', async () => {
    let tries = 0
    const url = await serve((request) => {
      tries++
      // The connection is cut before any answer.
      request.socket.destroy()
    })
    const client = createClient({ url, credentials: undefined, org: undefined })
    const followed = followDeployment(client, 'd-1', () => {}, { reconnects: 2, retryDelayMs: () => 1 })
    await expect(followed).rejects.toBeInstanceOf(CliError)
    await expect(followed).rejects.toMatchObject({ exitCode: ExitCode.unavailable })
    expect(tries).toBe(3)
  })

  it('does not retry what the server refused: a deployment that is not there is exit 4', async () => {
    const url = await serve((_request, response) => {
      response.writeHead(404, { 'content-type': 'application/problem+json' })
      response.end(JSON.stringify({ status: 404, detail: 'no deployment d-1', code: 'not-found' }))
    })
    const client = createClient({ url, credentials: { kind: 'api-key', apiKey: 'k' }, org: undefined })
    await expect(followDeployment(client, 'd-1', () => {})).rejects.toMatchObject({
      exitCode: ExitCode.notFound,
      message: 'no deployment d-1',
    })
  })
})
