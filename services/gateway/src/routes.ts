import type { HttpApp } from '@rxt/kit'
import Type from 'typebox'
import type { Upstreams } from './upstreams.ts'

const UpstreamStatus = Type.Object({
  context: Type.String(),
  ready: Type.Boolean({
    description: "Its /readyz answered 200 at the gateway's last probe (every 5 seconds)",
  }),
  breaker: Type.Union([Type.Literal('closed'), Type.Literal('open')], {
    description: 'open: requests fail fast after 5 consecutive errors, until a trial succeeds',
  }),
  operations: Type.Integer({ description: 'How many of its operations the gateway routes' }),
})

/** The gateway's own routes, beside the operations it routes. */
export const gatewayRoutes = (upstreams: Upstreams) => (app: HttpApp) => {
  app.get(
    '/gateway/upstreams',
    {
      config: {
        auth: {
          public: 'probes carry no credentials; it names contexts and their state, nothing of a tenant',
        },
        quiet: true,
      },
      schema: {
        tags: ['gateway'],
        summary: 'Whether each upstream context answers, and whether its breaker is open',
        response: {
          200: Type.Object({ ready: Type.Boolean(), items: Type.Array(UpstreamStatus) }),
        },
      },
    },
    async () => {
      const items = upstreams.list.map((u) => ({
        context: u.context,
        ready: u.healthy,
        breaker: u.breaker.open ? ('open' as const) : ('closed' as const),
        operations: u.operations.length,
      }))
      return { ready: items.every((i) => i.ready && i.breaker === 'closed'), items }
    },
  )
}
