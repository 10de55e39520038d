import { defineContext } from '@rxt/kit'
import { systemRoutes } from './routes.ts'
import { createSystemStore } from './store.ts'

/** Reports what the process runs and records each start; proves the wiring of every other context. */
export const system = defineContext({
  name: 'system',
  description: 'Version, build, running contexts and the history of process starts',
  migrations: new URL('../migrations/', import.meta.url),
  routes: systemRoutes,
  ready: async ({ db, runtime, log }) => {
    await createSystemStore(db).recordBoot(runtime)
    log.info({ instanceId: runtime.instanceId, contexts: runtime.contexts }, 'recorded start')
  },
})
