import { describe, expect, it } from 'vitest'
import { parseCommand } from './cli.ts'

describe('parseCommand', () => {
  it('reads the commands', () => {
    expect(parseCommand(['up'])).toEqual({ kind: 'up' })
    expect(parseCommand(['serve', 'system', 'registry'])).toEqual({
      kind: 'serve',
      contexts: ['system', 'registry'],
    })
    expect(parseCommand([])).toEqual({ kind: 'help' })
    expect(parseCommand(['--help'])).toEqual({ kind: 'help' })
    expect(parseCommand(['-v'])).toEqual({ kind: 'version' })
    expect(parseCommand(['openapi'])).toEqual({ kind: 'openapi' })
  })
  it('says what is wrong', () => {
    expect(parseCommand(['serve'])).toEqual({ error: 'serve needs at least one context name' })
    expect(parseCommand(['up', 'extra'])).toEqual({ error: 'up takes no arguments (got extra)' })
    expect(parseCommand(['deploy'])).toEqual({ error: 'unknown command "deploy"' })
    expect(parseCommand(['--port=1'])).toHaveProperty('error')
  })
})
