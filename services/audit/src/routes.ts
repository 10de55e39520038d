import { Readable } from 'node:stream'
import {
  decide,
  type HttpApp,
  NotAllowedError,
  NotFoundError,
  orgHeader,
  Permission,
  principalOf,
  problemResponses,
  tenantOf,
} from '@rxt/kit'
import Type from 'typebox'
import type { ChainedRecord } from './domain/chain.ts'
import { csvLine } from './domain/csv.ts'
import type { Audit } from './service.ts'
import { platformTenant } from './store.ts'

const tags = ['audit']
const errors = problemResponses

const Scope = Type.Optional(
  Type.Union([Type.Literal('tenant'), Type.Literal('platform')], {
    description:
      "`tenant` (default): the organisation's trail (audit:read in it). `platform`: the platform's own trail (requests with no organisation, platform-wide events), for operators",
  }),
)
const Time = Type.String({ format: 'date-time' })
const Sequence = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })

const AuditRecordDto = Type.Object({
  sequence: Type.Integer({ description: "The record's place in its tenant's chain: 1, 2, 3 … with no gap" }),
  recordedAt: Time,
  source: Type.String({ description: '`http` (a mutating request), or the event type the tap heard' }),
  actor: Type.String({ description: 'user:<id>, api-key:<id>, service:<name>, anonymous, or platform' }),
  action: Type.String({ description: 'The route (METHOD /template) or the event type' }),
  object: Type.String({ description: 'The path requested, or the id the event names' }),
  requestId: Type.Union([Type.String(), Type.Null()], {
    description: 'The request id, or the correlation id of the flow an event belongs to',
  }),
  outcome: Type.String({
    description: 'The status answered (and problem type), or `published` for an event',
  }),
  data: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
    description: "The message's payload (never a secret value, by contract)",
  }),
  prevHash: Type.String({ description: "The previous record's hash (64 zeros for the first)" }),
  hash: Type.String({ description: 'sha256 over prevHash and the canonical form of the record' }),
})

const dtoOf = (r: ChainedRecord) => ({
  sequence: r.seq,
  recordedAt: r.at,
  source: r.source ?? '',
  actor: r.actor,
  action: r.action,
  object: r.object,
  requestId: r.requestId,
  outcome: r.outcome,
  data: r.data ?? null,
  prevHash: r.prevHash,
  hash: r.hash,
})

const csvHeader = [
  'sequence',
  'recorded_at',
  'source',
  'actor',
  'action',
  'object',
  'request_id',
  'outcome',
  'data',
  'prev_hash',
  'hash',
] as const

/** Audit's HTTP API under /v1: each organisation's trail (audit:read), and the platform's for operators. */
export const auditRoutes = (audit: Audit) => (app: HttpApp) => {
  // The permission is decided per request: `scope=platform` asks for an operator instead.
  const reader = { auth: { authenticated: true } } as const

  const trailOf = (
    request: Parameters<typeof principalOf>[0] & { orgId?: string },
    scope?: string,
  ): string => {
    const principal = principalOf(request)
    if (scope === 'platform') {
      if (!principal.operator)
        throw new NotAllowedError("only a platform operator may read the platform's trail")
      return platformTenant
    }
    const decision = decide(principal, { permission: Permission.auditRead }, request.orgId)
    if (!decision.allowed) {
      throw decision.reason === 'not-member'
        ? new NotFoundError(
            request.orgId === undefined
              ? `name the organisation in the ${orgHeader} header, or ask for scope=platform as an operator`
              : 'no such organisation',
          )
        : new NotAllowedError(decision.detail)
    }
    return tenantOf(request)
  }

  app.get(
    '/audit',
    {
      config: reader,
      schema: {
        tags,
        summary: "The organisation's audit trail, newest first",
        description:
          "Records in descending sequence (newest first). `next` is the cursor of the following (older) page: pass it as `cursor`. Filters are exact matches; `from` and `to` bound the recorded time, [from, to). Needs audit:read in the organisation (X-Rxt-Org when the caller has several); `scope=platform` reads the platform's own trail (operators).",
        querystring: Type.Object(
          {
            scope: Scope,
            object: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
            actor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            action: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
            from: Type.Optional(Time),
            to: Type.Optional(Time),
            cursor: Type.Optional(
              Type.String({ pattern: '^[1-9][0-9]{0,15}$', description: 'The `next` of a page' }),
            ),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(AuditRecordDto),
            next: Type.Union([Type.String(), Type.Null()], {
              description: 'The cursor of the next (older) page',
            }),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { scope, cursor, limit = 50, ...filter } = request.query
      const tenant = trailOf(request, scope)
      const records = await audit.list(
        tenant,
        { ...filter, ...(cursor === undefined ? {} : { before: Number(cursor) }) },
        limit + 1,
      )
      const page = records.slice(0, limit)
      return {
        items: page.map(dtoOf),
        next: records.length > limit ? String((page.at(-1) as ChainedRecord).seq) : null,
      }
    },
  )

  app.get(
    '/audit/verify',
    {
      config: reader,
      schema: {
        tags,
        summary: "Verify the organisation's chain: every link, no gap, no tail cut off",
        description:
          "Walks the chain in sequence order from `from` to `to` (sequence numbers; default all of it), checking each record's hash and its link to the one before. A tail cut off is found against the last signed checkpoint (and the chain head). `brokenAt` is the sequence where the chain stops being trustworthy.",
        querystring: Type.Object(
          { scope: Scope, from: Type.Optional(Sequence), to: Type.Optional(Sequence) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Union([
            Type.Object({ ok: Type.Literal(true), checked: Type.Integer() }),
            Type.Object({
              ok: Type.Literal(false),
              brokenAt: Type.Integer(),
              reason: Type.Union(
                ['hash-mismatch', 'gap', 'out-of-order', 'prev-mismatch', 'truncated'].map((r) =>
                  Type.Literal(r),
                ),
              ),
            }),
          ]),
          ...errors,
        },
      },
    },
    async (request) => {
      const { scope, from, to } = request.query
      return audit.verify(trailOf(request, scope), {
        ...(from === undefined ? {} : { from }),
        ...(to === undefined ? {} : { to }),
      })
    },
  )

  app.get(
    '/audit/checkpoints',
    {
      config: reader,
      schema: {
        tags,
        summary: "The organisation's signed checkpoints, newest first, with the key that verifies them",
        description:
          'Each checkpoint signs a chain head with Ed25519: the signed bytes are `rxt-deploy/audit-checkpoint/v1\\n` followed by the RFC 8785 canonical JSON of `{tenantId, seq, hash, at}` (seq = sequence, hash = headHash, at = signedAt; tenantId is the organisation id, or `_platform`). `signature` is base64. Keep them outside the platform: a chain that no longer reaches one has lost its tail.',
        querystring: Type.Object(
          { scope: Scope, limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            publicKey: Type.Object({
              keyId: Type.String(),
              spki: Type.String({ description: 'The Ed25519 public key, SPKI DER in base64url' }),
              pem: Type.String(),
            }),
            items: Type.Array(
              Type.Object({
                tenantId: Type.String(),
                sequence: Type.Integer(),
                headHash: Type.String(),
                keyId: Type.String(),
                signature: Type.String(),
                signedAt: Time,
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const tenant = trailOf(request, request.query.scope)
      const items = await audit.checkpoints(tenant, request.query.limit ?? 50)
      return {
        publicKey: audit.publicKey(),
        items: items.map(({ tenant: tenantId, ...rest }) => ({ tenantId, ...rest })),
      }
    },
  )

  app.get(
    '/audit/export.csv',
    {
      config: reader,
      schema: {
        tags,
        summary: "The organisation's audit trail as CSV, in sequence order",
        description:
          "RFC 4180 (CRLF lines, quoted where needed), one record a line with a header line; `data` is JSON. Cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR) get a leading '. `from` and `to` bound the recorded time, [from, to).",
        produces: ['text/csv'],
        querystring: Type.Object(
          { scope: Scope, from: Type.Optional(Time), to: Type.Optional(Time) },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const { scope, from, to } = request.query
      const tenant = trailOf(request, scope)
      const pages = audit.pages(tenant, {
        ...(from === undefined ? {} : { from }),
        ...(to === undefined ? {} : { to }),
      })
      async function* lines() {
        yield csvLine(csvHeader)
        for await (const page of pages) {
          yield page
            .map((r) =>
              csvLine([
                r.seq,
                r.at,
                r.source ?? '',
                r.actor,
                r.action,
                r.object,
                r.requestId,
                r.outcome,
                r.data === undefined ? null : JSON.stringify(r.data),
                r.prevHash,
                r.hash,
              ]),
            )
            .join('')
        }
      }
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="audit.csv"')
        .send(Readable.from(lines()))
    },
  )
}
