import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createLogger } from './log.ts'
import { withScope } from './scope.ts'

function capture() {
  const lines: Record<string, unknown>[] = []
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { lines, log: createLogger({ level: 'info', destination }) }
}

describe('createLogger', () => {
  it('writes JSON with the correlationId and tenantId of the current scope and the bound context', () => {
    const { lines, log } = capture()
    const child = log.child({ context: 'registry' })
    withScope({ correlationId: 'req-1' }, () =>
      withScope({ tenantId: 'tenant-a' }, () => child.info({ projectId: 'p' }, 'created')),
    )
    child.info('outside')
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'created',
      context: 'registry',
      correlationId: 'req-1',
      tenantId: 'tenant-a',
      projectId: 'p',
    })
    expect(lines[1]).not.toHaveProperty('correlationId')
  })

  it('redacts secrets by path', () => {
    const { lines, log } = capture()
    log.info(
      {
        password: 'hunter2',
        credentials: { token: 'tok-9f2', apiKey: 'key-77a', clientSecret: 'cs-41b' },
        req: { headers: { authorization: 'Bearer abc', cookie: 'sid=1', accept: 'json' } },
        config: { DATABASE_URL: 'postgres://u:pw@h/db', PORT: 1 },
      },
      'with secrets',
    )
    const text = JSON.stringify(lines[0])
    for (const secret of ['hunter2', 'tok-9f2', 'key-77a', 'cs-41b', 'Bearer abc', 'sid=1', 'pw@h'])
      expect(text).not.toContain(secret)
    expect(lines[0]).toMatchObject({
      password: '[redacted]',
      req: { headers: { authorization: '[redacted]', accept: 'json' } },
      config: { DATABASE_URL: '[redacted]', PORT: 1 },
    })
  })
})

describe('standard output', () => {
  const fixture = fileURLToPath(new URL('./fixtures/log-then-exit.ts', import.meta.url))
  const run = async (how: string, count: number) => {
    const child = spawn(process.execPath, ['--experimental-strip-types', fixture, how, String(count)])
    let stdout = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    const [code] = (await once(child, 'close')) as [number | null]
    const lines = stdout.split('\n').filter(Boolean)
    return { code, indexes: lines.map((l) => JSON.parse(l).i as number) }
  }

  // Lines are written without blocking the event loop; every one must still be out when the process
  // ends, however it ends (a kill -9 is the one way to lose what is in memory).
  it.each([
    ['exit', 3],
    ['throw', 1],
    ['return', 0],
  ])('keeps every line when the process ends by %s', { timeout: 30_000 }, async (how, expected) => {
    const { code, indexes } = await run(how, 20_000)
    expect(code).toBe(expected)
    expect(indexes.length).toBe(20_000)
    expect(indexes.every((i, n) => i === n)).toBe(true)
  })
})
