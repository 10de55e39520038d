import {
  DeployApplyMessage,
  ManifestRecordedMessage,
  ProjectUpdatedMessage,
  SecretRotatedMessage,
} from '@rxt/contracts'
import { type ContextDeps, createSagaEngine, defineContext, on, perContext, tenantOfMessage } from '@rxt/kit'
import { deploySaga, deploySagaV2, deploySagaV3 } from './deploy-saga.ts'
import { createDeployments } from './deployments.ts'
import { destroySaga } from './destroy-saga.ts'
import { orchestratorRoutes } from './routes.ts'

/** A context's saga engine and deployments, made once per context database. */
const orchestratorOf = perContext((deps: Pick<ContextDeps, 'db' | 'bus' | 'log' | 'config'>) => {
  const deployments = createDeployments(deps.db, deps.bus, () => engine)
  const engine = createSagaEngine({
    context: 'orchestrator',
    db: deps.db,
    bus: deps.bus,
    // An instance runs on the version it started with: version 2's in flight at an upgrade finish on it.
    definitions: [deploySaga, deploySagaV3, deploySagaV2, destroySaga],
    recoveryMs: deps.config.SAGA_RECOVERY_MS,
    log: deps.log,
    observe: (tx, saga, events) => deployments.observed(tx, saga, events),
  })
  return { engine, deployments }
})

/**
 * The orchestrator: deployments as durable sagas (kit/saga) — placement by the router, provision and
 * network by the platform's adapter, undone in reverse when a step fails — and their API.
 */
export const orchestrator = defineContext({
  name: 'orchestrator',
  description:
    'Deployments as durable sagas: deploy, rollback, promote and destroy; place, provision, network, verify, and their compensation',
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => orchestratorRoutes(orchestratorOf(deps).deployments)(app),
  handlers: (deps) => [
    ...orchestratorOf(deps).engine.handlers(),
    on(ProjectUpdatedMessage, { id: 'environments' }, (data, ctx, message) =>
      orchestratorOf(deps).deployments.environmentsChanged(ctx.tx, tenantOfMessage(message), data),
    ),
    on(ManifestRecordedMessage, { id: 'manifests' }, (data, ctx, message) =>
      orchestratorOf(deps).deployments.manifestRecorded(ctx.tx, tenantOfMessage(message), data),
    ),
    // A rotated secret that asks for it redeploys the environments reading an earlier version.
    on(SecretRotatedMessage, { id: 'secret-rotations' }, async (data, ctx, message) => {
      const ids = await orchestratorOf(deps).deployments.secretRotated(ctx.tx, tenantOfMessage(message), data)
      if (ids.length > 0)
        ctx.log.info(
          { secretRef: data.secretRef, version: data.version, deployments: ids },
          'redeploys requested',
        )
    }),
    on(DeployApplyMessage, { id: 'apply' }, async (data, ctx, message) => {
      const tenantId = tenantOfMessage(message)
      const { id, outcome } = await orchestratorOf(deps).deployments.apply(ctx.tx, tenantId, {
        ...data,
        tenantId,
      })
      ctx.log.info({ deploymentId: id, envId: data.envId, outcome }, `deploy ${outcome}`)
    }),
  ],
  jobs: (deps) => [orchestratorOf(deps).engine.job],
})

export { deploymentIdOf, deploySaga } from './deploy-saga.ts'
export { destroySaga } from './destroy-saga.ts'
