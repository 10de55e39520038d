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

  it("keeps a NATS stream's own limits apart from the bus's retention, and refuses them shorter", () => {
    expect(parseConfig(CoreConfig, {})).toMatchObject({
      BUS_RETENTION_HOURS: 168,
      BUS_NATS_MAX_AGE_HOURS: 720,
      BUS_NATS_MAX_BYTES: -1,
      BUS_NATS_REPLICAS: 1,
      BUS_NATS_DUPLICATE_WINDOW_MS: 120000,
    })
    expect(
      parseConfig(CoreConfig, {
        BUS_NATS_MAX_AGE_HOURS: '168',
        BUS_NATS_MAX_BYTES: '10737418240',
        BUS_NATS_REPLICAS: '3',
        BUS_NATS_DUPLICATE_WINDOW_MS: '600000',
      }),
    ).toMatchObject({
      BUS_NATS_MAX_AGE_HOURS: 168,
      BUS_NATS_MAX_BYTES: 10737418240,
      BUS_NATS_REPLICAS: 3,
      BUS_NATS_DUPLICATE_WINDOW_MS: 600000,
    })
    expect(() => parseConfig(CoreConfig, { BUS_NATS_MAX_AGE_HOURS: '24' })).toThrow(
      'invalid configuration: BUS_NATS_MAX_AGE_HOURS (24) must be at least BUS_RETENTION_HOURS (168): a NATS stream would delete messages before the bus is done with them',
    )
    expect(() =>
      parseConfig(CoreConfig, {
        BUS_RETENTION_HOURS: '1',
        BUS_NATS_MAX_AGE_HOURS: '1',
        BUS_NATS_DUPLICATE_WINDOW_MS: '7200000',
      }),
    ).toThrow(
      "BUS_NATS_DUPLICATE_WINDOW_MS (7200000) must be at most BUS_NATS_MAX_AGE_HOURS (1 h): NATS refuses a duplicate window longer than the stream's max age",
    )
    expect(() => parseConfig(CoreConfig, { BUS_NATS_DUPLICATE_WINDOW_MS: '10000' })).toThrow(
      'BUS_NATS_DUPLICATE_WINDOW_MS expects an integer from 30000 to 86400000, got "10000"',
    )
    expect(() => parseConfig(CoreConfig, { BUS_NATS_REPLICAS: '7', BUS_NATS_MAX_BYTES: '1000' })).toThrow(
      /BUS_NATS_MAX_BYTES expects one of -1, an integer of at least 1048576, got "1000"; BUS_NATS_REPLICAS expects an integer from 1 to 5, got "7"/,
    )
  })

  it('promises sagas recovery no sooner than the bus redelivers what a crashed replica held', () => {
    expect(parseConfig(CoreConfig, {})).toMatchObject({ SAGA_RECOVERY_MS: 60000, BUS_ACK_WAIT_MS: 30000 })
    expect(parseConfig(CoreConfig, { SAGA_RECOVERY_MS: '30000' }).SAGA_RECOVERY_MS).toBe(30000)
    expect(() => parseConfig(CoreConfig, { SAGA_RECOVERY_MS: '20000' })).toThrow(
      'invalid configuration: BUS_ACK_WAIT_MS (30000) must be at most SAGA_RECOVERY_MS (20000): an answer a crashed replica held would come back to a saga later than it promises',
    )
  })

  it('checks a rule between keys only once each key is valid', () => {
    // The max age is invalid on its own: one message about it, none comparing it with the retention.
    const attempt = () => parseConfig(CoreConfig, { BUS_NATS_MAX_AGE_HOURS: '0' })
    expect(attempt).toThrow(
      'invalid configuration: BUS_NATS_MAX_AGE_HOURS expects an integer from 1 to 87600, got "0"',
    )
    try {
      attempt()
    } catch (error) {
      expect((error as InputError).violations).toHaveLength(1)
    }
  })

  it('refuses a key two contexts declare differently', () => {
    expect(() => composeConfigSchema([CoreConfig, Type.Object({ PORT: Type.String() })])).toThrow(
      'configuration key PORT is declared twice',
    )
  })
})
