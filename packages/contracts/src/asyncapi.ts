import { Envelope, type MessageCatalog, type MessageContract } from './envelope.ts'
import { type JSONSchema, toJsonSchema } from './json-schema.ts'

export interface AsyncApiOptions {
  /** The version of the document (of the message contracts it describes). */
  readonly version: string
}

/**
 * The AsyncAPI 3.0 document of a catalog: one channel per message type (its address is the type,
 * which is the bus subject), one message per channel whose payload is the envelope with `data`
 * replaced by the payload schema, and one `send` operation per message naming its publisher.
 */
export function asyncApiDocument(catalog: MessageCatalog, options: AsyncApiOptions): Record<string, unknown> {
  const envelope = envelopeSchema()
  const channels: Record<string, unknown> = {}
  const operations: Record<string, unknown> = {}
  for (const contract of catalog.messages.values()) {
    const id = componentId(contract.type)
    channels[id] = {
      address: contract.type,
      title: contract.type,
      summary: contract.summary,
      messages: {
        [id]: {
          name: contract.type,
          title: contract.type,
          summary: contract.summary,
          contentType: 'application/json',
          payload: messagePayload(envelope, contract),
          examples: [{ name: 'fixture', summary: 'A valid sample', payload: sampleEnvelope(contract) }],
        },
      },
    }
    operations[`send_${id}`] = {
      action: 'send',
      channel: { $ref: `#/channels/${id}` },
      title: `Send ${contract.type}`,
      summary: contract.summary,
      description: publisherDescription(contract),
      tags: [{ name: contract.kind }, { name: `publisher:${contract.publishedBy}` }],
      messages: [{ $ref: `#/channels/${id}/messages/${id}` }],
    }
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'RXT Deploy messages',
      version: options.version,
      description: [
        'Every command (`cmd.*`) and event (`evt.*`) RXT Deploy contexts exchange on the bus.',
        'Each travels in the same envelope; `data` is the payload of its `type` at its `version`.',
        'Generated from @rxt/contracts by `npm run docs:asyncapi`: do not edit by hand.',
      ].join(' '),
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    },
    defaultContentType: 'application/json',
    channels,
    operations,
    components: { schemas: { Envelope: envelope } },
  }
}

/** AsyncAPI component ids allow `[A-Za-z0-9_-]`; message types never contain `_`, so this is reversible. */
function componentId(type: string): string {
  return type.replaceAll('.', '_')
}

function envelopeSchema(): JSONSchema {
  const { $id: _id, ...schema } = toJsonSchema(Envelope)
  return schema
}

function messagePayload(envelope: JSONSchema, contract: MessageContract): JSONSchema {
  const properties = envelope.properties as Record<string, JSONSchema>
  return {
    ...envelope,
    properties: {
      ...properties,
      type: { type: 'string', const: contract.type, description: 'The message type, also the bus subject' },
      version: { type: 'integer', const: contract.version, description: properties.version?.description },
      data: { ...toJsonSchema(contract.schema), description: contract.summary },
    },
  }
}

function publisherDescription(contract: MessageContract): string {
  const what = contract.kind === 'command' ? 'command' : 'event'
  return contract.publishedBy === '*'
    ? `Several contexts publish this ${what}; the summary says which.`
    : `The ${contract.publishedBy} context publishes this ${what}.`
}

/** The fixture wrapped in an envelope, as a consumer would receive it. */
export function sampleEnvelope(contract: MessageContract): Record<string, unknown> {
  return {
    id: '01972a4e-6f00-7c2e-8a8b-1f2e3d4c5b6a',
    type: contract.type,
    version: contract.version,
    time: '2025-06-01T12:00:00.000Z',
    tenantId: 'tnt_acme',
    correlationId: 'req_5f2c9a',
    causationId: null,
    idempotencyKey: `${contract.type}:req_5f2c9a`,
    data: contract.fixture,
  }
}
