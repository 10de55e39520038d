import Type from 'typebox'
import { describe, expect, it } from 'vitest'
import { CoreConfig, composeConfigSchema, parseConfig } from './config.ts'
import { InputError } from './errors.ts'

describe('parseConfig', () => {
  it('fills in the embedded defaults when the environment says nothing', () => {
    const config = parseConfig(CoreConfig, {})
    expect(config).toMatchObject({
      HOST: '127.0.0.1',
      PORT: 8080,
      RXT_DATA_DIR: './.rxt',
      DATABASE_POOL_MAX: 10,
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: 30000,
    })
    expect(config.DATABASE_URL).toBeUndefined()
  })

  it('converts strings and treats empty values as unset', () => {
    const config = parseConfig(CoreConfig, { PORT: '9090', HOST: '', LOG_LEVEL: 'debug' })
    expect(config.PORT).toBe(9090)
    expect(config.HOST).toBe('127.0.0.1')
    expect(config.LOG_LEVEL).toBe('debug')
  })

  it('rejects a bad value with one line naming the key and what it expects', () => {
    const attempt = () => parseConfig(CoreConfig, { PORT: 'abc' })
    expect(attempt).toThrow(InputError)
    expect(attempt).toThrow('invalid configuration: PORT expects an integer from 0 to 65535, got "abc"')
    try {
      attempt()
    } catch (error) {
      expect((error as Error).message).not.toContain('\n')
    }
  })

  it('reports every bad key at once', () => {
    const attempt = () =>
      parseConfig(CoreConfig, {
        PORT: '70000',
        LOG_LEVEL: 'loud',
        DATABASE_URL: 'mysql://x',
        DATABASE_POOL_MAX: '0',
      })
    expect(attempt).toThrow(/PORT expects an integer from 0 to 65535, got "70000"/)
    expect(attempt).toThrow(
      /LOG_LEVEL expects one of fatal, error, warn, info, debug, trace, silent, got "loud"/,
    )
    expect(attempt).toThrow(/DATABASE_URL expects a postgres:\/\/ URL, got "mysql:\/\/x"/)
    expect(attempt).toThrow(/DATABASE_POOL_MAX expects an integer from 1 to 1000, got "0"/)
  })

  it('names a required key without a default', () => {
    const schema = composeConfigSchema([
      CoreConfig,
      Type.Object({ GITHUB_WEBHOOK_SECRET: Type.String({ minLength: 1 }) }),
    ])
    expect(() => parseConfig(schema, {})).toThrow('GITHUB_WEBHOOK_SECRET is required: a non-empty string')
    expect(parseConfig(schema, { GITHUB_WEBHOOK_SECRET: 's' })).toMatchObject({
      GITHUB_WEBHOOK_SECRET: 's',
      PORT: 8080,
    })
  })

  it('refuses a key two contexts declare differently', () => {
    expect(() => composeConfigSchema([CoreConfig, Type.Object({ PORT: Type.String() })])).toThrow(
      'configuration key PORT is declared twice',
    )
  })
})
