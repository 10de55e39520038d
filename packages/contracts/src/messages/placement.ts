import { createHash } from 'node:crypto'
import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import {
  canonicalManifestField,
  canonicalOverridesField,
  closedObject,
  digestField,
  idField,
  platformField,
  providerField,
  slugField,
  textField,
  timestampField,
} from '../fields.ts'
import { canonical } from '../manifest/manifest-digest.ts'

/**
 * Placement: where a deployment should run and why (every provider weighed, each filter and score
 * term), an operator's pin of an environment to a provider, and the providers' news placement keeps
 * (their provider.yaml and whether enabled, from the router).
 */

const deploymentId = () => idField("The orchestrator's deployment (saga) id")
const envId = () => idField('The environment')

const kindField = () =>
  Type.Union([Type.Literal('k8s'), Type.Literal('vm')], { description: 'The compute kind of the provider' })

/** cmd.placement.recommend v2: the deploy's manifest itself, so that placement needs no call back. */
export const PlacementRecommend = closedObject({
  deploymentId: deploymentId(),
  tenantId: idField('The tenant'),
  projectId: idField('The project'),
  envId: envId(),
  environment: slugField("The environment's name: its overrides in the manifest apply"),
  manifest: canonicalManifestField(),
  manifestDigest: digestField('sha256: of the canonical manifest'),
  overrides: Type.Optional(
    canonicalOverridesField(
      'The overrides stored on the environment in the registry, in canonical JSON (RFC 8785); absent: the ones placement last heard of',
    ),
  ),
})
export type PlacementRecommend = Static<typeof PlacementRecommend>

export const PlacementFilter = closedObject({
  name: Type.String({
    minLength: 1,
    maxLength: 64,
    pattern: '^[a-z][a-z0-9-]*$',
    description: 'The filter: enabled, healthy, kind, compliance, regions, gpu, protocols, size, cost…',
  }),
  passed: Type.Boolean(),
  reason: textField('What the filter found, for people', 500),
})
export type PlacementFilter = Static<typeof PlacementFilter>

export const PlacementTerm = closedObject({
  name: Type.String({
    minLength: 1,
    maxLength: 64,
    pattern: '^[a-z][a-z0-9-]*$',
    description: 'The score term: cost, fit, preemption-risk…',
  }),
  rating: Type.Number({ minimum: 0, maximum: 1, description: 'The term, from 0 (worst) to 1 (best)' }),
  weight: Type.Number({ minimum: 0, maximum: 1, description: 'Its share of the score' }),
  detail: textField('What it measured, for people', 500),
})
export type PlacementTerm = Static<typeof PlacementTerm>

export const PlacementCandidate = closedObject({
  provider: providerField('A provider weighed'),
  platform: platformField('Its platform family'),
  kind: kindField(),
  eligible: Type.Boolean({ description: 'False when a filter ruled it out' }),
  score: Type.Number({ minimum: 0, maximum: 1, description: '0 when ineligible; else the weighted terms' }),
  monthlyCost: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
    description: 'Estimated US dollars a month, or null when there is no estimate',
  }),
  filters: Type.Array(PlacementFilter, { maxItems: 32 }),
  terms: Type.Array(PlacementTerm, { maxItems: 16 }),
})
export type PlacementCandidate = Static<typeof PlacementCandidate>

/** What policy reads of the chosen provider, as placement knew it when it chose. */
export const PlacementTarget = closedObject({
  compliance: Type.Array(slugField('A certification the provider holds'), {
    maxItems: 16,
    uniqueItems: true,
  }),
  regions: Type.Array(slugField('A region it runs in'), { maxItems: 64, uniqueItems: true }),
  encryptionAtRest: Type.Boolean({ description: 'Whether it encrypts volumes and disks at rest' }),
})
export type PlacementTarget = Static<typeof PlacementTarget>

export const PlacementRecommended = closedObject({
  decisionId: idField('The stored decision (GET /v1/placement/explain/:envId shows it)'),
  envId: Type.Union([envId(), Type.Null()], {
    description: 'Null for a recommendation asked of the API alone',
  }),
  deploymentId: Type.Union([deploymentId(), Type.Null()], {
    description: 'The deployment placed, or null when none asked',
  }),
  manifestDigest: digestField('sha256: of the canonical manifest weighed'),
  platform: platformField('The recommended platform'),
  provider: providerField('The recommended provider'),
  kind: kindField(),
  score: Type.Number({ minimum: 0, maximum: 1, description: 'Score of the recommended provider' }),
  reasoning: textField('Why this provider, for people'),
  monthlyCost: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
    description: 'Its estimated US dollars a month',
  }),
  target: PlacementTarget,
  pinned: Type.Union(
    [
      closedObject({ reason: textField('Why an operator pinned it', 500), by: idField('Who pinned it') }),
      Type.Null(),
    ],
    { description: "An operator's pin of the environment, which the choice followed; null when none" },
  ),
  reused: Type.Boolean({ description: 'The stored decision, unchanged inputs: nothing was weighed again' }),
  candidates: Type.Array(PlacementCandidate, { minItems: 0, maxItems: 50 }),
})
export type PlacementRecommended = Static<typeof PlacementRecommended>

export const PlacementFailed = closedObject({
  deploymentId: deploymentId(),
  envId: envId(),
  reason: textField('Why no provider can take the deployment, for people'),
  retryable: Type.Boolean({
    description: 'Whether the same request may succeed later (a provider unhealthy now)',
  }),
  candidates: Type.Array(PlacementCandidate, { maxItems: 50 }),
})
export type PlacementFailed = Static<typeof PlacementFailed>

export const PlacementPinned = closedObject({
  envId: envId(),
  provider: Type.Union([providerField('The provider it is pinned to'), Type.Null()], {
    description: 'Null: the pin was lifted',
  }),
  reason: textField('Why, for the audit trail', 500),
  by: idField('The operator'),
  at: timestampField('When'),
})
export type PlacementPinned = Static<typeof PlacementPinned>

/** A provider as the router holds it: its provider.yaml and an operator's word on it. */
export const ProviderChanged = closedObject({
  provider: providerField(),
  manifest: Type.String({
    minLength: 2,
    maxLength: 65_536,
    description: 'Its provider.yaml as canonical JSON (RFC 8785), valid as rxt-deploy/provider/v1',
  }),
  enabled: Type.Boolean({ description: 'Whether it takes new work' }),
  note: Type.Union([textField("The operator's note", 500), Type.Null()]),
  changedBy: Type.Union([idField('Who changed it last'), Type.Null()], {
    description: 'Null: loaded from its file at a start',
  }),
  changedAt: timestampField('When'),
})
export type ProviderChanged = Static<typeof ProviderChanged>

/** One point of a spot price curve: what capacity costs at a percentile of the recent prices. */
export const SpotPricePoint = closedObject({
  percentile: Type.Integer({ minimum: 1, maximum: 99, description: 'The percentile of recent prices' }),
  vcpuHour: Type.Number({ minimum: 0, maximum: 1_000_000, description: 'Per vCPU-hour at it' }),
  memoryGiBHour: Type.Number({ minimum: 0, maximum: 1_000_000, description: 'Per GiB-hour at it' }),
  preemptionRisk: Type.Number({
    minimum: 0,
    maximum: 1,
    description: 'The chance a replica bid at this price is preempted within a day',
  }),
})
export type SpotPricePoint = Static<typeof SpotPricePoint>

/** A spot price feed's quote for a provider (`pricing.spot` of its provider.yaml). */
export const ProviderPrices = closedObject({
  provider: providerField(),
  currency: Type.Literal('USD'),
  points: Type.Array(SpotPricePoint, { minItems: 1, maxItems: 99 }),
  simulated: Type.Boolean({ description: 'A simulated feed: the prices are made up, deterministically' }),
  quotedAt: timestampField('When the feed quoted'),
  intervalMs: Type.Integer({
    minimum: 1000,
    maximum: 86_400_000,
    description: 'How often the feed quotes: a quote three intervals old is stale',
  }),
})
export type ProviderPrices = Static<typeof ProviderPrices>

const manifest = canonical({
  apiVersion: 'rxt-deploy/v1',
  kind: 'Application',
  metadata: { name: 'shop' },
  spec: { image: 'ghcr.io/acme/shop:1.4.2', replicas: 1, stateful: false },
})
const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`

const candidateFixture = {
  provider: 'rxt-spot',
  platform: 'rxt-spot' as const,
  kind: 'k8s' as const,
  eligible: true,
  score: 0.82,
  monthlyCost: 12.4,
  filters: [
    { name: 'healthy', passed: true, reason: 'healthy as of 2025-06-01T10:00:00Z' },
    { name: 'kind', passed: true, reason: 'stateless: containers fit' },
  ],
  terms: [{ name: 'cost', rating: 0.9, weight: 0.6, detail: '$12.40/month, the cheapest of 2' }],
}

export const PlacementRecommendMessage = defineMessage({
  type: 'cmd.placement.recommend',
  version: 2,
  kind: MessageKind.command,
  summary:
    "Recommend the provider a deployment runs on (the deploy saga's place step); version 2 carries the manifest and the environment's overrides",
  publishedBy: 'orchestrator',
  schema: PlacementRecommend,
  fixture: {
    deploymentId: 'dep_7f3a9c',
    tenantId: 'tnt_acme',
    projectId: 'prj_shop',
    envId: 'env_prod',
    environment: 'production',
    manifest,
    manifestDigest,
    overrides: '{}',
  },
})

export const PlacementRecommendedMessage = defineMessage({
  type: 'evt.placement.recommended',
  version: 2,
  kind: MessageKind.event,
  summary:
    'Placement chose a provider, with its score, reasoning and every candidate weighed (each filter and score term)',
  publishedBy: 'placement',
  schema: PlacementRecommended,
  fixture: {
    decisionId: 'pld_01hx',
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    manifestDigest,
    platform: 'rxt-spot',
    provider: 'rxt-spot',
    kind: 'k8s',
    score: 0.82,
    reasoning:
      'Stateless HTTP service: containers fit; rxt-spot is the cheapest healthy provider ($12.40/month)',
    monthlyCost: 12.4,
    target: { compliance: ['soc2'], regions: ['us-east'], encryptionAtRest: true },
    pinned: null,
    reused: false,
    candidates: [candidateFixture],
  },
})

export const PlacementFailedMessage = defineMessage({
  type: 'evt.placement.failed',
  version: 1,
  kind: MessageKind.event,
  summary: 'No provider can take a deployment: each candidate with the filter that ruled it out',
  publishedBy: 'placement',
  schema: PlacementFailed,
  fixture: {
    deploymentId: 'dep_7f3a9c',
    envId: 'env_prod',
    reason: 'No provider can run shop: rxt-spot is not certified for pci-dss',
    retryable: false,
    candidates: [
      {
        ...candidateFixture,
        eligible: false,
        score: 0,
        filters: [{ name: 'compliance', passed: false, reason: 'rxt-spot is not certified for pci-dss' }],
        terms: [],
      },
    ],
  },
})

export const PlacementPinnedMessage = defineMessage({
  type: 'evt.placement.pinned',
  version: 1,
  kind: MessageKind.event,
  summary: 'An operator pinned an environment to a provider, or lifted the pin (audited), with the reason',
  publishedBy: 'placement',
  schema: PlacementPinned,
  fixture: {
    envId: 'env_prod',
    provider: 'sddc-flex',
    reason: 'rxt-spot maintenance window this week',
    by: 'usr_ops',
    at: '2025-06-01T10:00:00Z',
  },
})

export const ProviderChangedMessage = defineMessage({
  type: 'evt.provider.changed',
  version: 1,
  kind: MessageKind.event,
  summary:
    "A provider as the router holds it: its provider.yaml (at each start) and an operator's enable or disable",
  publishedBy: 'router',
  schema: ProviderChanged,
  fixture: {
    provider: 'rxt-spot',
    manifest:
      '{"apiVersion":"rxt-deploy/provider/v1","kind":"ComputeProvider","metadata":{"name":"rxt-spot"}}',
    enabled: true,
    note: null,
    changedBy: null,
    changedAt: '2025-06-01T10:00:00Z',
  },
})

export const ProviderPricesMessage = defineMessage({
  type: 'evt.provider.prices',
  version: 1,
  kind: MessageKind.event,
  summary:
    "A spot price feed's quote for a provider: the price and the preemption risk at each percentile (the simulation publishes one beside its health report)",
  publishedBy: '*',
  schema: ProviderPrices,
  fixture: {
    provider: 'rxt-spot',
    currency: 'USD',
    points: [
      { percentile: 50, vcpuHour: 0.006, memoryGiBHour: 0.0008, preemptionRisk: 0.2 },
      { percentile: 95, vcpuHour: 0.011, memoryGiBHour: 0.0015, preemptionRisk: 0.02 },
    ],
    simulated: false,
    quotedAt: '2025-06-01T10:00:00Z',
    intervalMs: 60000,
  },
})

export const placementContracts = [
  PlacementRecommendMessage,
  PlacementRecommendedMessage,
  PlacementFailedMessage,
  PlacementPinnedMessage,
  ProviderChangedMessage,
  ProviderPricesMessage,
] as const
