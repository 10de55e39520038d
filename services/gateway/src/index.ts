import { defineContext } from '@rxt/kit'
import Type from 'typebox'
import { serveMergedDocument } from './document.ts'
import { registerProxy } from './proxy.ts'
import { gatewayRoutes } from './routes.ts'
import { createUpstreams, type GatewayConfig } from './upstreams.ts'

const GatewayConfigSchema = Type.Object({
  GATEWAY_UPSTREAMS: Type.String({
    default: '',
    description:
      'The contexts this gateway routes /v1 to, as context=URL pairs, comma-separated (identity=http://identity:8080,system=http://system:8080). Empty: every context runs in this process and nothing is routed.',
  }),
})

const running = new WeakMap<object, { stop(): void }>()

/**
 * The public entry point of the distributed mode. Every operation the upstream contexts publish in
 * their OpenAPI documents is routed to the process that runs it (proxied with @fastify/reply-from),
 * with health checks and a circuit breaker per context; the edge (authentication, rate limits,
 * Idempotency-Key, headers) applies here first, and /openapi.json is the merged document of the
 * upstreams. In the embedded mode, with no upstreams, the contexts' routes are in this process already.
 */
export const gateway = defineContext<GatewayConfig>({
  name: 'gateway',
  description:
    'Routes /v1 to the processes of the contexts (distributed mode), with health checks and circuit breakers',
  config: GatewayConfigSchema,
  routes: async (app, deps) => {
    if (deps.config.GATEWAY_UPSTREAMS.trim() === '') return
    const upstreams = await createUpstreams(deps)
    running.set(deps.db, upstreams)
    gatewayRoutes(upstreams)(app)
    // Its own scope: the proxy's body parsers and reply-from concern the routed requests only.
    await app.register((scope) => registerProxy(scope as typeof app, upstreams))
    serveMergedDocument(app, upstreams)
  },
  stop: (deps) => {
    running.get(deps.db)?.stop()
  },
})
