import { readFileSync } from 'node:fs'
import { Parser } from '@asyncapi/parser'
import { describe, expect, it } from 'vitest'
import { asyncApiDocument } from './asyncapi.ts'
import { asyncApiYaml } from './asyncapi-yaml.ts'
import { catalog } from './catalog.ts'
import { toJsonSchema } from './json-schema.ts'
import { validateEnvelope, validatePayload } from './validate.ts'

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string
}
const text = asyncApiYaml(catalog, { version })

describe('the AsyncAPI document', () => {
  it('is valid AsyncAPI 3.0 with one channel, message and send operation per type', async () => {
    const { document, diagnostics } = await new Parser().parse(text)
    const errors = diagnostics.filter((diagnostic) => diagnostic.severity === 0)
    expect(errors.map((error) => `${error.path.join('/')}: ${error.message}`)).toEqual([])
    if (document === undefined) throw new Error('the parser returned no document')
    expect(document.version()).toBe('3.0.0')
    const addresses = document
      .channels()
      .all()
      .map((channel) => channel.address())
    expect(addresses.sort()).toEqual([...catalog.messages.keys()].sort())
    const operations = document.operations().all()
    expect(operations).toHaveLength(catalog.messages.size)
    expect(operations.every((operation) => operation.action() === 'send')).toBe(true)
    expect(document.messages().all()).toHaveLength(catalog.messages.size)
  })

  it('wraps each payload in the envelope, with its type and version as constants, and a valid example', () => {
    const doc = asyncApiDocument(catalog, { version }) as {
      channels: Record<string, { address: string; messages: Record<string, MessageObject> }>
      operations: Record<string, { description: string; tags: { name: string }[] }>
      components: { schemas: { Envelope: { properties: Record<string, unknown> } } }
    }
    expect(Object.keys(doc.components.schemas.Envelope.properties)).toContain('tenantId')
    for (const channel of Object.values(doc.channels)) {
      const contract = catalog.messages.get(channel.address)
      if (contract === undefined) throw new Error(`channel ${channel.address} has no contract`)
      const messages = Object.values(channel.messages)
      expect(messages).toHaveLength(1)
      const [message] = messages as [MessageObject]
      expect(message.payload.properties.type).toMatchObject({ const: contract.type })
      expect(message.payload.properties.version).toMatchObject({ const: contract.version })
      expect(message.payload.properties.data).toEqual({
        ...toJsonSchema(contract.schema),
        description: contract.summary,
      })
      const [example] = message.examples
      expect(validateEnvelope(example?.payload)).toEqual([])
      expect(validatePayload(catalog, contract.type, contract.version, example?.payload.data)).toEqual([])
    }
    const deployApply = doc.operations.send_cmd_deploy_apply
    expect(deployApply?.description).toContain('registry')
    expect(deployApply?.tags).toContainEqual({ name: 'publisher:registry' })
  })

  it('is committed as docs/asyncapi.yaml', () => {
    const committed = readFileSync(new URL('../../../docs/asyncapi.yaml', import.meta.url), 'utf8')
    expect(committed === text, 'docs/asyncapi.yaml is out of date: run `npm run docs:asyncapi`').toBe(true)
  })
})

interface MessageObject {
  payload: { properties: Record<string, unknown> }
  examples: { payload: { data: unknown } & Record<string, unknown> }[]
}
