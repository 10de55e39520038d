import type { DeployPlan } from '@rxt/contracts'
import { defineSaga } from '@rxt/kit'
import { destroyCommand, destroySettlers } from './deploy-saga.ts'

/** What a destroy saga is started with: the environment, and the plan of what runs there. */
export interface DestroyInput {
  readonly tenantId: string
  readonly projectId: string
  readonly envId: string
  readonly environment: string
  /** The deployment whose environment goes (its plan names the provider). */
  readonly sourceDeploymentId: string
  readonly plan: DeployPlan
  readonly requestedBy: string
}

/**
 * The destroy saga: everything of the environment on its provider goes (namespace or VMs, routes,
 * certificates). Irreversible: nothing brings it back but a new deploy.
 */
export const destroySaga = defineSaga<DestroyInput>({
  type: 'destroy',
  version: 1,
  timeoutMs: 30 * 60_000,
  steps: [
    {
      name: 'destroy',
      timeoutMs: 5 * 60_000,
      retry: { maxAttempts: 5, backoff: { baseMs: 2_000, maxMs: 60_000 } },
      irreversible: true,
      invoke: ({ sagaId, input }) =>
        destroyCommand(
          input.plan,
          sagaId,
          `environment ${input.environment} destroyed by ${input.requestedBy}`,
        ),
      settle: destroySettlers,
    },
  ],
})
