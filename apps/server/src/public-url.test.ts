import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { defaultPublicUrl, holdFreePort, listeningUrl } from './public-url.ts'

describe('PUBLIC_URL by default', () => {
  it('names the address the server listens on', () => {
    expect(listeningUrl('127.0.0.1', 28080)).toBe('http://127.0.0.1:28080')
    expect(listeningUrl('deploy.internal', 80)).toBe('http://deploy.internal:80')
    expect(listeningUrl('::1', 8080)).toBe('http://[::1]:8080')
    // Every interface: this machine.
    expect(listeningUrl('0.0.0.0', 8080)).toBe('http://localhost:8080')
    expect(listeningUrl('::', 8080)).toBe('http://localhost:8080')
  })

  it('follows HOST and PORT unless PUBLIC_URL is set', () => {
    const config = { HOST: '127.0.0.1', PORT: 28080, PUBLIC_URL: 'http://localhost:8080' }
    expect(defaultPublicUrl(config, {}).PUBLIC_URL).toBe('http://127.0.0.1:28080')
    expect(defaultPublicUrl(config, { PUBLIC_URL: '' }).PUBLIC_URL).toBe('http://127.0.0.1:28080')
    expect(defaultPublicUrl(config, { PUBLIC_URL: 'https://deploy.example.com' })).toBe(config)
    // A build without a context that reads it gets no such key.
    expect(defaultPublicUrl({ HOST: '127.0.0.1', PORT: 1 }, {})).toEqual({ HOST: '127.0.0.1', PORT: 1 })
  })

  it('holds a free port until released, then a server listens on it', async () => {
    const held = await holdFreePort('127.0.0.1')
    expect(held.port).toBeGreaterThan(0)
    const listen = (port: number) =>
      new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        const server = createServer()
        server.once('error', reject)
        server.listen(port, '127.0.0.1', () => resolve(server))
      })
    await expect(listen(held.port)).rejects.toThrow(/EADDRINUSE/)
    await held.release()
    const server = await listen(held.port)
    await new Promise((resolve) => server.close(resolve))
  })
})
