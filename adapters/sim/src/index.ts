import { defineContext } from '@rxt/kit'

/** The simulated platforms' schema (their state survives a restart); they are driven by the router. */
export const sim = defineContext({
  name: 'sim',
  description: 'Simulated compute platforms (container-like and VM-like): nothing runs',
  migrations: new URL('../migrations/', import.meta.url),
})
export {
  createSimPlatform,
  type Operation,
  type SimFaults,
  SimFlavor,
  type SimOptions,
  type SimPlatform,
  simProviderName,
} from './sim-platform.ts'
