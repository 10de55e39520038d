// The keepalive of a deployment's event stream: a comment at every interval while the stream is open,
// none once it is closed (the clock is vitest's, not a wait); and the route's stream sending it.
import { createHttpApp, createLogger } from '@rxt/kit'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Deployments } from '../src/deployments.ts'
import { keepaliveComment, keepaliveIntervalMs, startKeepalive } from '../src/keepalive.ts'
import { deploymentRoutes } from '../src/routes/deployments.ts'

describe("the event stream's keepalive", () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('writes an SSE comment every 15 s until stopped', () => {
    vi.useFakeTimers()
    const written: string[] = []
    const stop = startKeepalive((text) => written.push(text))
    expect(keepaliveIntervalMs).toBe(15_000)
    vi.advanceTimersByTime(keepaliveIntervalMs - 1)
    expect(written).toEqual([])
    vi.advanceTimersByTime(1)
    expect(written).toEqual([': keepalive\n\n'])
    vi.advanceTimersByTime(keepaliveIntervalMs * 2)
    expect(written).toEqual([keepaliveComment, keepaliveComment, keepaliveComment])
    stop()
    vi.advanceTimersByTime(keepaliveIntervalMs * 4)
    expect(written).toHaveLength(3)
  })

  it('is a comment: a line that starts with a colon, then a blank line', () => {
    expect(keepaliveComment).toMatch(/^:[^\n]*\n\n$/)
  })
})

describe("a deployment's event stream", () => {
  it('sends the keepalive comment while it is open and nothing happens, then its end', async () => {
    const app = await createHttpApp({
      log: createLogger({ level: 'silent' }),
      title: 'test',
      version: '0',
      readiness: [],
    })
    app.addHook('onRequest', async (request) => {
      ;(request as { orgId?: string }).orgId = 'org-1'
    })
    // A deploy that is quiet until the stream has sent a keepalive, then ends.
    let keptAlive = false
    const deployments = {
      events: async () => ({ events: [], over: keptAlive, status: 'ready' }),
    } as unknown as Deployments
    deploymentRoutes(deployments, { keepaliveMs: 5 })(app)
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    try {
      const response = await fetch(`${url}/deployments/00000000-0000-4000-8000-000000000001/events`, {
        headers: { accept: 'text/event-stream' },
      })
      expect(response.status).toBe(200)
      let text = ''
      const decoder = new TextDecoder()
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true })
        if (text.includes(keepaliveComment)) keptAlive = true
      }
      expect(text.startsWith(keepaliveComment)).toBe(true)
      expect(text.endsWith('event: end\ndata: {"status":"ready"}\n\n')).toBe(true)
    } finally {
      await app.close()
    }
  })
})
