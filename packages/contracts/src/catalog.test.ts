import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { sampleEnvelope } from './asyncapi.ts'
import { catalog, contracts } from './catalog.ts'
import { MessageKind, messageTypePattern } from './envelope.ts'
import { type JSONSchema, toJsonSchema } from './json-schema.ts'
import { currentMessageTable, messageTable } from './message-table.ts'
import { validateEnvelope, validatePayload } from './validate.ts'

/** Every message seed 000 and seed 002 name; the catalog must hold each of them. */
const expectedTypes = [
  'cmd.deploy.apply',
  'cmd.placement.recommend',
  'cmd.runners.ensure',
  'cmd.sddc.provision.request',
  'cmd.sddc.network.configure',
  'cmd.sddc.scale',
  'cmd.spot.provision.request',
  'cmd.spot.network.configure',
  'cmd.spot.scale',
  'cmd.secret.issue',
  'evt.placement.recommended',
  'evt.provisioned',
  'evt.provision.failed',
  'evt.network.ready',
  'evt.network.failed',
  'evt.build.succeeded',
  'evt.build.failed',
  'evt.deploy.started',
  'evt.deploy.ready',
  'evt.deploy.failed',
  'evt.deploy.stopped',
  'evt.usage.sample',
  'evt.usage.window.closed',
  'evt.sddc.vm.created',
  'evt.sddc.nsx.configured',
  'evt.spot.pod.created',
  'evt.spot.ingress.configured',
  'evt.spot.credentials.issued',
  'evt.access.changed',
  'evt.project.created',
  'evt.project.updated',
  'evt.repo.verified',
  'evt.commit.pushed',
  'evt.pr.opened',
  'evt.secret.rotated',
  'evt.obs.annotated',
  'evt.policy.violation',
  'evt.domain.valid',
  'evt.domain.invalid',
  'evt.template.published',
  'evt.runners.ready',
  'evt.vm.created',
  'evt.vm.started',
  'evt.vm.stopped',
  'evt.vm.migrated',
]

const publishers = [
  'registry',
  'orchestrator',
  'placement',
  'spot',
  'sddc',
  'vcs',
  'identity',
  'build',
  'usage',
  'secrets',
  'audit',
  'observability',
  'policy',
  'domains',
  'templates',
  'runners',
  'router',
  'inventory',
  'vms',
  '*',
]

/** Calls `visit` on every subschema with its JSON pointer (properties by name, array items as `*`). */
function walk(schema: JSONSchema, visit: (schema: JSONSchema, at: string) => void, at = ''): void {
  visit(schema, at)
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, JSONSchema>)) {
    walk(child, visit, `${at}/${name}`)
  }
  if (schema.items !== undefined) walk(schema.items as JSONSchema, visit, `${at}/*`)
  for (const member of (schema.anyOf ?? []) as JSONSchema[]) walk(member, visit, at)
}

describe('the catalog', () => {
  it('holds every message the seeds name', () => {
    const missing = expectedTypes.filter((type) => !catalog.messages.has(type))
    expect(missing).toEqual([])
    expect(catalog.messages.size).toBe(contracts.length)
  })

  it.each(
    contracts.map((contract) => [contract.type, contract] as const),
  )('%s: its fixture passes its schema', (_type, contract) => {
    expect(validatePayload(catalog, contract.type, contract.version, contract.fixture)).toEqual([])
    expect(validateEnvelope(sampleEnvelope(contract))).toEqual([])
  })

  it('names every type by the pattern, commands cmd.* and events evt.*', () => {
    const pattern = new RegExp(messageTypePattern)
    for (const contract of contracts) {
      expect(contract.type, contract.type).toMatch(pattern)
      if (contract.type.startsWith('cmd.')) expect(contract.kind, contract.type).toBe(MessageKind.command)
      else {
        expect(contract.type, contract.type).toMatch(/^evt\./)
        expect(contract.kind, contract.type).toBe(MessageKind.event)
      }
      expect(Number.isInteger(contract.version) && contract.version >= 1, contract.type).toBe(true)
      expect(publishers, contract.type).toContain(contract.publishedBy)
      expect(contract.summary.length, contract.type).toBeGreaterThan(10)
    }
  })

  it('bounds every payload: closed objects, sized strings, integers with a minimum, arrays with items', () => {
    const loose: string[] = []
    for (const contract of contracts) {
      walk(toJsonSchema(contract.schema), (schema, at) => {
        const where = `${contract.type}${at || '/'}`
        if (schema.type === 'object' && schema.additionalProperties !== false)
          loose.push(`${where}: open object`)
        if (
          schema.type === 'string' &&
          schema.const === undefined &&
          schema.format === undefined &&
          (schema.minLength === undefined || schema.maxLength === undefined)
        ) {
          loose.push(`${where}: string without minLength and maxLength or a format`)
        }
        if (schema.type === 'integer' && schema.minimum === undefined)
          loose.push(`${where}: integer without minimum`)
        if (schema.type === 'array' && (schema.items === undefined || schema.maxItems === undefined)) {
          loose.push(`${where}: array without items or maxItems`)
        }
      })
    }
    expect(loose).toEqual([])
  })

  it('carries no secret values: no payload property is named like one', () => {
    const forbidden =
      /^(value|secret|secretValue|password|passphrase|token|accessToken|privateKey|plaintext|credentials?)$/i
    const found: string[] = []
    for (const contract of contracts) {
      walk(toJsonSchema(contract.schema), (_schema, at) => {
        const name = at.split('/').at(-1) ?? ''
        if (forbidden.test(name)) found.push(`${contract.type}${at}`)
      })
    }
    expect(found).toEqual([])
  })

  it('is listed in the README (run `npm run docs:asyncapi` when this fails)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
    expect(currentMessageTable(readme), 'run `npm run docs:asyncapi`').toBe(messageTable(catalog))
  })
})

describe('validatePayload', () => {
  it('reports every violation with a JSON pointer under /data', () => {
    const violations = validatePayload(catalog, 'evt.deploy.failed', 1, {
      envId: '',
      platform: 'aws',
      step: 'Verify',
      compensated: 'yes',
      extra: true,
    })
    expect(violations).toEqual(
      expect.arrayContaining([
        { path: '/data/deploymentId', message: 'is required' },
        { path: '/data/reason', message: 'is required' },
        { path: '/data/extra', message: 'is not allowed' },
        { path: '/data/envId', message: expect.stringContaining('1') },
        { path: '/data/platform', message: 'must be one of "sddc-flex", "rxt-spot", null' },
        { path: '/data/step', message: expect.stringContaining('pattern') },
        { path: '/data/compensated', message: expect.stringContaining('boolean') },
      ]),
    )
  })

  it('locates problems inside arrays and nested objects', () => {
    const contract = catalog.messages.get('evt.placement.recommended')
    const fixture = contract?.fixture as { candidates: Record<string, unknown>[] }
    const data = { ...fixture, candidates: [{ ...fixture.candidates[0], score: 2 }] }
    expect(validatePayload(catalog, 'evt.placement.recommended', 2, data)).toEqual([
      { path: '/data/candidates/0/score', message: 'must be <= 1' },
    ])
  })

  it('returns more than TypeBox’s default of 8 errors when there are more', () => {
    const data = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`unexpected${i}`, i]))
    const violations = validatePayload(catalog, 'cmd.deploy.apply', 2, data)
    expect(violations.filter((v) => v.message === 'is not allowed')).toHaveLength(12)
    expect(violations.filter((v) => v.message === 'is required')).toHaveLength(7)
  })

  it('refuses a type the catalog does not have, and a version other than the current one', () => {
    expect(validatePayload(catalog, 'evt.no.such.thing', 1, {})).toEqual([
      { path: '/type', message: 'unknown message type "evt.no.such.thing"' },
    ])
    const fixture = catalog.messages.get('evt.deploy.failed')?.fixture
    expect(validatePayload(catalog, 'evt.deploy.failed', 2, fixture)).toEqual([
      { path: '/version', message: expect.stringContaining('version 1') },
    ])
  })

  it('refuses a payload that is not an object', () => {
    expect(validatePayload(catalog, 'evt.deploy.failed', 1, 'failed')).toEqual([
      { path: '/data', message: expect.stringContaining('object') },
    ])
  })
})

describe('validateEnvelope', () => {
  const contract = catalog.messages.get('evt.deploy.ready')
  if (contract === undefined) throw new Error('evt.deploy.ready is missing')
  const valid = sampleEnvelope(contract)

  it('accepts a platform-wide message (tenantId null) and an ordering key', () => {
    expect(validateEnvelope({ ...valid, tenantId: null, key: 'env_prod' })).toEqual([])
  })

  it('reports every problem of the envelope at its own path', () => {
    const { tenantId: _tenantId, ...withoutTenant } = valid
    expect(
      validateEnvelope({ ...withoutTenant, id: 'not-a-uuid', type: 'deploy.ready', version: 0, extra: 1 }),
    ).toEqual(
      expect.arrayContaining([
        { path: '/tenantId', message: 'is required' },
        { path: '/extra', message: 'is not allowed' },
        { path: '/id', message: expect.stringContaining('uuid') },
        { path: '/type', message: expect.stringContaining('pattern') },
        { path: '/version', message: expect.stringContaining('1') },
      ]),
    )
  })
})
