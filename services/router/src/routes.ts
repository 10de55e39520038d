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
import type { Router, Viewer } from './service.ts'

const tags = ['router']
const errors = problemResponses
const ProviderName = Type.String({ pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$', maxLength: 63 })
const EnvId = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$',
  description: "A project's environment (registry): its name, its stored overrides and its ids apply",
})
const Objects = Type.Array(Type.Record(Type.String(), Type.Unknown()))
const Yaml = Type.String({ minLength: 1, maxLength: 262_144, description: 'The deploy.yaml text' })
const Health = Type.Object({
  healthy: Type.Boolean(),
  checkedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  message: Type.String(),
})
const Provider = Type.Object({
  name: Type.String(),
  displayName: Type.String(),
  version: Type.String(),
  simulated: Type.Boolean({ description: 'A simulation: nothing runs there' }),
  compute: Type.String({ description: 'k8s or vm' }),
  enabled: Type.Boolean({ description: 'Whether it takes new work' }),
  note: Type.Union([Type.String(), Type.Null()], { description: 'Why an operator enabled or disabled it' }),
  health: Health,
  changedAt: Type.String({ format: 'date-time' }),
})
const viewerOf = (request: Parameters<typeof principalOf>[0]): Viewer => {
  const principal = principalOf(request)
  return { operator: principal.operator, actor: actorOf(principal) }
}

/** The router's HTTP API under /v1. Providers are platform-level: tenants read, operators change. */
export const routerRoutes = (router: Router) => (app: HttpApp) => {
  const signedIn = { auth: { authenticated: true } } as const
  app.get(
    '/providers',
    {
      config: signedIn,
      schema: {
        tags,
        summary: 'The compute providers offered (operators also see the disabled ones)',
        response: { 200: Type.Object({ items: Type.Array(Provider) }), ...errors },
      },
    },
    async (request) => ({ items: await router.providers(viewerOf(request)) }),
  )
  app.get(
    '/providers/:providerId/capabilities',
    {
      config: signedIn,
      schema: {
        tags,
        summary:
          'What a provider can do, where, under which certifications, at what price (its provider.yaml)',
        params: Type.Object({ providerId: ProviderName }),
        response: { 200: Type.Object({ name: Type.String() }, { additionalProperties: true }), ...errors },
      },
    },
    async (request) => router.capabilities(viewerOf(request), request.params.providerId),
  )
  app.get(
    '/providers/:providerId/health',
    {
      config: signedIn,
      schema: {
        tags,
        summary: "A provider's health, as last probed",
        params: Type.Object({ providerId: ProviderName }),
        response: { 200: Health, ...errors },
      },
    },
    async (request) => router.health(viewerOf(request), request.params.providerId),
  )
  app.patch(
    '/providers/:providerId',
    {
      config: { auth: { operator: true } },
      schema: {
        tags,
        summary: 'Enable or disable a provider now, with no restart (a disabled one gets no new work)',
        params: Type.Object({ providerId: ProviderName }),
        body: Type.Object(
          {
            enabled: Type.Boolean(),
            note: Type.Optional(
              Type.String({ minLength: 1, maxLength: 500, description: 'Why, for the record' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Provider, ...errors },
      },
    },
    async (request) => router.change(viewerOf(request), request.params.providerId, request.body),
  )
  app.post(
    '/deploy/translate',
    {
      config: { auth: { permission: Permission.projectsRead } },
      schema: {
        tags,
        summary:
          "What a deploy.yaml would create on the provider named (POST /v1/placement/recommend recommends one), rendered by the provider's adapter: nothing is created",
        body: Type.Object(
          {
            yaml: Yaml,
            environment: Type.Optional(
              Type.String({
                pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$',
                maxLength: 63,
                description: "Preview for this environment name, with the manifest's overrides for it",
              }),
            ),
            envId: Type.Optional(EnvId),
            provider: Type.Optional(
              Type.String({
                pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$',
                maxLength: 63,
                description:
                  'The provider to translate for (required; POST /v1/placement/recommend recommends one)',
              }),
            ),
            artifactRef: Type.Optional(
              Type.String({
                minLength: 1,
                maxLength: 512,
                pattern: '^[a-z0-9][A-Za-z0-9._/:-]*(@sha256:[a-f0-9]{64})?$',
                description: 'The image to preview with, for a manifest that builds in CI',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            {
              provider: Type.String(),
              kind: Type.String(),
              simulated: Type.Boolean(),
              plan: Type.Record(Type.String(), Type.Unknown(), {
                description: 'The deploy plan the platform commands would carry',
              }),
              steps: Type.Object(
                { environment: Objects, workload: Objects, network: Objects },
                { description: 'What each step of the adapter applies' },
              ),
              objects: Objects,
              summary: Type.Array(Type.String()),
            },
            { additionalProperties: false },
          ),
          422: problemResponse('The manifest is not valid, no provider is named, or it cannot run it'),
          503: problemResponse("No adapter of this build renders the provider's platform"),
          ...errors,
        },
      },
    },
    async (request) => router.translate(viewerOf(request), request.body, { tenantId: tenantOf(request) }),
  )
}
