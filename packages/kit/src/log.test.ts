import { Writable } from 'node:stream'
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
