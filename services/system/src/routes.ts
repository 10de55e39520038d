import { type ContextDeps, type HttpApp, problemResponse } from '@rxt/kit'
import Type from 'typebox'
import { createSystemStore } from './store.ts'

const Boot = Type.Object({
  instanceId: Type.String({ format: 'uuid' }),
  startedAt: Type.String({ format: 'date-time' }),
  version: Type.String(),
  mode: Type.String(),
  contexts: Type.Array(Type.String()),
})

const SystemInfo = Type.Object({
  version: Type.String(),
  commit: Type.Union([Type.String(), Type.Null()]),
  node: Type.String(),
  mode: Type.Union([Type.Literal('embedded'), Type.Literal('distributed')]),
  database: Type.Union([Type.Literal('pglite'), Type.Literal('postgres')]),
  bus: Type.Union([Type.Literal('nats'), Type.Literal('postgres-log')], {
    description: 'The transport of the bus: NATS JetStream, or the Postgres log in the database',
  }),
  contexts: Type.Array(Type.String()),
  instance: Type.Object({ id: Type.String(), startedAt: Type.String({ format: 'date-time' }) }),
  boots: Type.Object({ count: Type.Integer(), first: Type.Union([Boot, Type.Null()]) }),
})

const unauthenticated =
  'Unauthenticated: it reports only the version and which contexts run, like a Kubernetes /version endpoint; no tenant data.'

export function systemRoutes(app: HttpApp, deps: ContextDeps): void {
  const store = createSystemStore(deps.db)
  const { runtime } = deps

  app.get(
    '/system',
    {
      config: { auth: { public: unauthenticated } },
      schema: {
        summary: 'What this process runs',
        description: unauthenticated,
        security: [],
        response: { 200: SystemInfo, 503: problemResponse('The database is unavailable') },
      },
    },
    async () => {
      const boots = await store.countBoots()
      return {
        version: runtime.version,
        commit: runtime.commit ?? null,
        node: process.version,
        mode: runtime.mode,
        database: runtime.database,
        bus: runtime.bus,
        contexts: [...runtime.contexts],
        instance: { id: runtime.instanceId, startedAt: runtime.startedAt.toISOString() },
        boots: { count: boots.count, first: boots.first ?? null },
      }
    },
  )

  app.get(
    '/system/boots',
    {
      config: { auth: { public: unauthenticated } },
      schema: {
        summary: 'The most recent process starts against this database',
        description: unauthenticated,
        security: [],
        querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }) }),
        response: {
          200: Type.Object({ items: Type.Array(Boot) }),
          400: problemResponse('The query is invalid'),
          503: problemResponse('The database is unavailable'),
        },
      },
    },
    async (request) => ({ items: await store.recentBoots(request.query.limit) }),
  )
}
