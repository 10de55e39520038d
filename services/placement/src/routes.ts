import {
  actorOf,
  type HttpApp,
  Permission,
  principalOf,
  problemResponse,
  problemResponses,
  tenantOf,
} from '@rxt/kit'
import Type from 'typebox'
import type { Placement, Viewer } from './service.ts'

const tags = ['placement']
const errors = problemResponses
const EnvId = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$',
  description: "A project's environment (registry): its name and its stored overrides apply",
})
const ProviderName = Type.String({ pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$', maxLength: 63 })
const Filter = Type.Object({ name: Type.String(), passed: Type.Boolean(), reason: Type.String() })
const Term = Type.Object({
  name: Type.String(),
  rating: Type.Number(),
  weight: Type.Number(),
  detail: Type.String(),
})
const Candidate = Type.Object({
  provider: Type.String(),
  platform: Type.String(),
  kind: Type.String(),
  eligible: Type.Boolean(),
  score: Type.Number(),
  monthlyCost: Type.Union([Type.Number(), Type.Null()]),
  filters: Type.Array(Filter, {
    description: 'Every rule of the decision matrix, passed or failed, and why',
  }),
  terms: Type.Array(Term, { description: 'The score terms (empty when ineligible)' }),
})
const Pinned = Type.Union([Type.Object({ reason: Type.String(), by: Type.String() }), Type.Null()])
const decisionFields = {
  decisionId: Type.String(),
  envId: Type.Union([Type.String(), Type.Null()]),
  deploymentId: Type.Union([Type.String(), Type.Null()]),
  manifestDigest: Type.String(),
  platform: Type.String(),
  provider: Type.String(),
  kind: Type.String(),
  score: Type.Number(),
  reasoning: Type.String({ description: 'Why this provider, for people' }),
  monthlyCost: Type.Union([Type.Number(), Type.Null()], { description: 'Estimated US dollars a month' }),
  target: Type.Object({
    compliance: Type.Array(Type.String()),
    regions: Type.Array(Type.String()),
    encryptionAtRest: Type.Boolean(),
  }),
  pinned: Pinned,
  reused: Type.Boolean({ description: 'The stored decision of the same inputs, weighed before' }),
  candidates: Type.Array(Candidate),
}
const Decision = Type.Object(decisionFields)
const Explanation = Type.Object({
  ...decisionFields,
  decidedAt: Type.String({ format: 'date-time' }),
  usedAt: Type.String({ format: 'date-time' }),
  pin: Type.Union([
    Type.Object({ provider: Type.String(), reason: Type.String(), by: Type.String() }),
    Type.Null(),
  ]),
})
const PinAnswer = Type.Object({
  envId: Type.String(),
  provider: Type.Union([Type.String(), Type.Null()]),
  reason: Type.String(),
  by: Type.String(),
  at: Type.String({ format: 'date-time' }),
})

const viewerOf = (request: Parameters<typeof principalOf>[0]): Viewer => {
  const principal = principalOf(request)
  return { operator: principal.operator, actor: actorOf(principal) }
}

/** Placement's HTTP API under /v1: tenant-scoped; pins are operators'. */
export const placementRoutes = (placement: Placement) => (app: HttpApp) => {
  const signedIn = { auth: { authenticated: true } } as const
  // What deployments would do and did: for those who may read them.
  const reads = { auth: { permission: Permission.deploymentsRead } } as const
  app.post(
    '/placement/recommend',
    {
      config: reads,
      schema: {
        tags,
        summary:
          'The provider for a deploy.yaml and why: every provider through the decision matrix, each filter and score term; stored and published',
        body: Type.Object(
          {
            yaml: Type.Optional(
              Type.String({ minLength: 1, maxLength: 262_144, description: 'The deploy.yaml text' }),
            ),
            manifestDigest: Type.Optional(
              Type.String({
                pattern: '^sha256:[a-f0-9]{64}$',
                description: 'A manifest placement already stored (weighed before), instead of yaml',
              }),
            ),
            environment: Type.Optional(
              Type.String({
                pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$',
                maxLength: 63,
                description: "The environment's name: the manifest's overrides for it apply",
              }),
            ),
            envId: Type.Optional(EnvId),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Decision,
          422: problemResponse('The manifest is not valid, or no provider can run it'),
          ...errors,
        },
      },
    },
    async (request) => placement.recommendNow(tenantOf(request), request.body),
  )
  app.get(
    '/placement/explain/:envId',
    {
      config: reads,
      schema: {
        tags,
        summary: "The placement decision an environment's last deploy used, as stored, with every candidate",
        params: Type.Object({ envId: EnvId }),
        response: { 200: Explanation, ...errors },
      },
    },
    async (request) => placement.explain(tenantOf(request), request.params.envId),
  )
  app.put(
    '/placement/pins/:envId',
    {
      config: signedIn,
      schema: {
        tags,
        summary:
          'Pin an environment to a provider (platform operators): its recommendations follow the pin while the provider can run the workload (what placement only advises, the preference, certifications and encryption, is left to policy at admission)',
        params: Type.Object({ envId: EnvId }),
        body: Type.Object(
          {
            provider: ProviderName,
            reason: Type.String({ minLength: 1, maxLength: 500, description: 'Why, for the audit trail' }),
          },
          { additionalProperties: false },
        ),
        response: { 200: PinAnswer, ...errors },
      },
    },
    async (request) =>
      placement.pin(viewerOf(request), tenantOf(request), request.params.envId, request.body),
  )
  app.delete(
    '/placement/pins/:envId',
    {
      config: signedIn,
      schema: {
        tags,
        summary: "Lift an environment's pin (platform operators)",
        params: Type.Object({ envId: EnvId }),
        response: { 200: PinAnswer, ...errors },
      },
    },
    async (request) => placement.pin(viewerOf(request), tenantOf(request), request.params.envId, null),
  )
}
