import { setTimeout as sleep } from 'node:timers/promises'
import type { DeployPlan, ManifestRecorded, ProjectUpdated, SecretRotated } from '@rxt/contracts'
import type { ContextBus, ContextDb, SagaEngine, SagaEvent, SagaInstance, Transaction } from '@rxt/kit'
import { ConflictError, InputError, NotFoundError } from '@rxt/kit'
import { type DeployInput, deploymentIdOf, deploySaga, planOf, urlsOf } from './deploy-saga.ts'
import { deployEventsOf, type StopReason, stoppedEvent } from './deployment-events.ts'
import {
  type DeploymentKind,
  definitionOf,
  type HistoryView,
  type Row,
  statusOf,
  stepsOf,
  toDeployment,
} from './deployment-view.ts'
import { type DestroyInput, destroySaga } from './destroy-saga.ts'

export type {
  Deployment,
  DeploymentKind,
  DeploymentStatus,
  HistoryView,
  StepView,
} from './deployment-view.ts'

const asTenant = (tx: Transaction, tenantId: string) =>
  tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [tenantId])

/** Serialises, in `tx`, what starts, queues and ends the deploys of one environment. */
const lockEnvironment = (tx: Transaction, envId: string) =>
  tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`orchestrator:env:${envId}`])

/** A deployment with whether its environment runs it now. */
const selectDeployments = `SELECT d.*, (e.current_deployment_id IS NOT NULL AND e.current_deployment_id = d.id) AS current
  FROM deployments d LEFT JOIN environments e ON e.env_id = d.env_id`

interface EnvironmentRow {
  env_id: string
  project_id: string
  name: string
  manifest: string | null
  manifest_digest: string | null
  overrides: string | null
  current_deployment_id: string | null
}

/** How a deploy is asked for: who asked and what makes it another deploy of the same artifact. */
export interface DeployRequestBy {
  readonly by: string
  /** The request's Idempotency-Key, or a fresh id: the same key is the same deployment. */
  readonly requestKey: string
}

/**
 * The orchestrator's deployments: started from cmd.deploy.apply, a person, a rollback or a promotion
 * as deploy sagas, one at a time per environment; environments destroyed by destroy sagas; kept as a
 * read model in each transition, and told to the rest of the platform as evt.deploy.* events.
 */
/** How long a deploy waits for the environment's manifest and overrides to reach the orchestrator. */
const tellWaitMs = 3_000

export function createDeployments(db: ContextDb, bus: ContextBus, engine: () => SagaEngine) {
  const environment = async (tx: Transaction, envId: string) =>
    (
      await tx.query<EnvironmentRow & Record<string, unknown>>(
        'SELECT * FROM environments WHERE env_id = $1',
        [envId],
      )
    ).rows[0]

  /** The version a deployment's saga started on; undefined when it never started (no history). */
  const sagaVersionOf = async (id: string, history: readonly unknown[]) =>
    history.length === 0 ? undefined : (await engine().get(id)).typeVersion

  /** What the environment runs now, as the plan it was deployed with. */
  const previousOf = async (tx: Transaction, envId: string) => {
    const env = await environment(tx, envId)
    if (env?.current_deployment_id === null || env?.current_deployment_id === undefined) return null
    const saga = await engine().get(env.current_deployment_id, undefined, tx)
    const plan = planOf(saga.results) as DeployPlan | undefined
    return plan === undefined ? null : { deploymentId: saga.id, plan }
  }

  /** Starts the saga of a queued deployment (its row says with what). */
  const startQueued = async (tx: Transaction, id: string) => {
    const { rows } = await tx.query<{
      queued: DeployInput | DestroyInput | string | null
      kind: DeploymentKind
    }>(`SELECT queued, kind FROM deployments WHERE id = $1 AND status = 'queued' FOR UPDATE`, [id])
    const queued = rows[0]?.queued
    if (queued === undefined || queued === null) return
    await tx.query(
      `UPDATE deployments SET status = 'running', queued = NULL, updated_at = now() WHERE id = $1`,
      [id],
    )
    const input = typeof queued === 'string' ? (JSON.parse(queued) as DeployInput | DestroyInput) : queued
    if (rows[0]?.kind === 'destroy') {
      await engine().start(tx, { type: destroySaga.type, id, input, tenantId: input.tenantId })
      return
    }
    // What runs now is what a failure of this one restores.
    const previous = await previousOf(tx, input.envId)
    await engine().start(tx, {
      type: deploySaga.type,
      id,
      input: { ...(input as DeployInput), previous },
      tenantId: input.tenantId,
    })
  }

  /**
   * Starts a deployment in `tx`, or queues it while another of the environment runs (one at a time; a
   * newer queued one supersedes an older). The same deployment again changes nothing.
   */
  const enqueue = async (
    tx: Transaction,
    id: string,
    kind: DeploymentKind,
    input: DeployInput | DestroyInput,
    row: { commitSha: string | null; artifactRef: string; manifestDigest: string },
  ) => {
    await asTenant(tx, input.tenantId)
    await lockEnvironment(tx, input.envId)
    const trigger = kind === 'destroy' ? 'destroy' : ((input as DeployInput).trigger ?? 'push')
    const inserted = await tx.query(
      `INSERT INTO deployments (id, org_id, project_id, env_id, environment, commit_sha, artifact_ref, manifest_digest,
                                status, queued, kind, trigger, source_deployment_id, requested_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9::jsonb, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING`,
      [
        id,
        input.tenantId,
        input.projectId,
        input.envId,
        input.environment,
        row.commitSha,
        row.artifactRef,
        row.manifestDigest,
        JSON.stringify(input),
        kind,
        trigger,
        input.sourceDeploymentId ?? null,
        input.requestedBy ?? null,
      ],
    )
    if (inserted.rowCount === 0) return { id, outcome: 'known' as const }
    const { rowCount: busy } = await tx.query(
      `SELECT 1 FROM deployments WHERE env_id = $1 AND id <> $2 AND status IN ('running', 'compensating') LIMIT 1`,
      [input.envId, id],
    )
    if (busy > 0) {
      // Waits for the running one; what waited before it is superseded by it.
      await tx.query(
        `UPDATE deployments SET status = 'superseded', queued = NULL, updated_at = now()
          WHERE env_id = $1 AND id <> $2 AND status = 'queued'`,
        [input.envId, id],
      )
      return { id, outcome: 'queued' as const }
    }
    await startQueued(tx, id)
    return { id, outcome: 'started' as const }
  }

  /** A deploy of the environment's own manifest and overrides, as the registry last told them. */
  /**
   * The overrides stored on an environment, as the registry last told of them. Not known yet (its
   * manifest came first on the bus): refused, as policy would refuse to admit without them.
   */
  const storedOverridesOf = (env: EnvironmentRow): string => {
    if (env.overrides === null)
      throw new ConflictError(
        `environment ${env.name} (${env.env_id}): its stored overrides have not reached the orchestrator from the registry yet; try again in a moment`,
      )
    return env.overrides
  }

  const deployInputOf = (
    tenantId: string,
    env: EnvironmentRow,
    artifact: { artifactRef: string; commitSha: string | null },
  ): Omit<DeployInput, 'trigger'> => {
    if (env.manifest === null || env.manifest_digest === null)
      throw new ConflictError(
        `environment ${env.name} (${env.env_id}) has no deploy.yaml recorded: record one with POST /v1/projects/${env.project_id}/manifests naming the environment`,
      )
    const overrides = storedOverridesOf(env)
    return {
      tenantId,
      envId: env.env_id,
      projectId: env.project_id,
      environment: env.name,
      commitSha: artifact.commitSha,
      artifactRef: artifact.artifactRef,
      manifest: env.manifest,
      manifestDigest: env.manifest_digest,
      overrides,
    }
  }

  /**
   * A deploy.yaml recorded a moment ago is on its way from the registry (evt.manifest.recorded): a
   * deploy asked for right after waits for it, up to `tellWaitMs`, outside any transaction, so that a
   * client that records and then deploys is not refused for being quick. Past that the deploy is
   * refused as before, saying what is missing.
   */
  const untilTold = async (tenantId: string, envId: string) => {
    const deadline = Date.now() + tellWaitMs
    // Looks again after 25, 50, 100 … ms: a dozen reads at most, not one every few milliseconds.
    for (let pause = 25; ; pause *= 2) {
      const env = await db.withTenant(tenantId, (tx) => environment(tx, envId))
      if (env === undefined || (env.manifest !== null && env.overrides !== null)) return
      const left = deadline - Date.now()
      if (left <= 0) return
      await sleep(Math.min(pause, left))
    }
  }

  const knownEnvironment = async (tx: Transaction, envId: string) => {
    const env = await environment(tx, envId)
    if (env === undefined) throw new NotFoundError(`no environment ${envId}`)
    return env
  }

  const publishStopped = (
    tx: Transaction,
    tenantId: string,
    deployment: { id: string; envId: string; platform: string | null },
    reason: StopReason,
  ) => bus.publishAll(tx, stoppedEvent(tenantId, deployment, reason, new Date()))

  /** The environment's deployment `id` is what runs there now; the one before it stopped. */
  const becameCurrent = async (tx: Transaction, tenantId: string, input: DeployInput, id: string) => {
    const { rows } = await tx.query<{ id: string; platform: string | null }>(
      `UPDATE deployments SET status = 'replaced', updated_at = now()
        WHERE env_id = $1 AND id <> $2 AND status = 'ready' RETURNING id, platform`,
      [input.envId, id],
    )
    for (const before of rows)
      await publishStopped(
        tx,
        tenantId,
        { id: before.id, envId: input.envId, platform: before.platform },
        input.trigger === 'rollback' ? 'rolled-back' : 'superseded',
      )
    await tx.query(
      `INSERT INTO environments (env_id, org_id, project_id, name, current_deployment_id) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (env_id) DO UPDATE SET current_deployment_id = excluded.current_deployment_id`,
      [input.envId, tenantId, input.projectId, input.environment, id],
    )
  }

  /** The environment is gone: what ran there is destroyed, and it runs nothing. */
  const destroyed = async (tx: Transaction, tenantId: string, input: DestroyInput) => {
    const { rows } = await tx.query<{ id: string; platform: string | null }>(
      `UPDATE deployments SET status = 'destroyed', updated_at = now()
        WHERE env_id = $1 AND kind = 'deploy' AND status = 'ready' RETURNING id, platform`,
      [input.envId],
    )
    for (const before of rows)
      await publishStopped(
        tx,
        tenantId,
        { id: before.id, envId: input.envId, platform: before.platform },
        'destroyed',
      )
    await tx.query('UPDATE environments SET current_deployment_id = NULL WHERE env_id = $1', [input.envId])
  }

  const deployments = {
    /**
     * Starts the deploy of `command` for `tenantId` in `tx` (cmd.deploy.apply: a push), or queues it.
     * The same deploy again changes nothing. Resolves with the deployment's id and what became of it.
     */
    async apply(tx: Transaction, tenantId: string, command: DeployInput) {
      const input: DeployInput = { ...command, tenantId }
      const id = deploymentIdOf({
        ...input,
        ...(input.trigger === undefined || input.trigger === 'push' ? {} : { cause: input.trigger }),
      })
      return enqueue(tx, id, 'deploy', input, input)
    },

    /** A person deploys an artifact to an environment, with the environment's manifest and overrides. */
    async deploy(
      tenantId: string,
      envId: string,
      artifact: { artifactRef: string; commitSha: string | null },
      request: DeployRequestBy,
    ) {
      await untilTold(tenantId, envId)
      const { id } = await db.withTenant(tenantId, async (tx) => {
        const env = await knownEnvironment(tx, envId)
        const input: DeployInput = {
          ...deployInputOf(tenantId, env, artifact),
          trigger: 'manual',
          requestedBy: request.by,
        }
        const id = deploymentIdOf({ ...input, cause: `manual:${request.requestKey}` })
        return enqueue(tx, id, 'deploy', input, input)
      })
      return this.get(tenantId, id)
    },

    /**
     * Deploys again what deployment `sourceId` deployed (its artifact, manifest and overrides, by
     * digest): it must have been ready once, and not be what its environment runs now.
     */
    async rollback(tenantId: string, sourceId: string, request: DeployRequestBy) {
      const source = await this.get(tenantId, sourceId)
      if (source.kind !== 'deploy')
        throw new ConflictError(`deployment ${sourceId} is a destroy: nothing to roll back to`)
      if (source.succeededAt === null)
        throw new ConflictError(
          `deployment ${sourceId} was never ready (${source.status}): roll back to one that was`,
        )
      if (source.current)
        throw new ConflictError(`deployment ${sourceId} is what environment ${source.environment} runs now`)
      const saga = await engine().get(sourceId)
      const { previous: _previous, ...was } = saga.input as DeployInput
      const { id } = await db.withTenant(tenantId, async (tx) => {
        const env = await knownEnvironment(tx, source.envId)
        const input: DeployInput = {
          ...was,
          trigger: 'rollback',
          sourceDeploymentId: sourceId,
          requestedBy: request.by,
        }
        const id = deploymentIdOf({
          ...input,
          cause: `rollback:${sourceId}:${env.current_deployment_id ?? ''}:${request.requestKey}`,
        })
        return enqueue(tx, id, 'deploy', input, input)
      })
      return this.get(tenantId, id)
    },

    /**
     * A secret was rotated and asks for the environments that read an earlier version to be redeployed:
     * each one's current deployment runs again as it was, and its secrets step pins the new version.
     * An environment that runs nothing ready now is left alone (its next deploy reads the new version).
     */
    async secretRotated(tx: Transaction, tenantId: string, event: SecretRotated) {
      const started: string[] = []
      await asTenant(tx, tenantId)
      for (const envId of event.redeployEnvIds ?? []) {
        const env = await environment(tx, envId)
        const currentId = env?.current_deployment_id
        if (currentId === null || currentId === undefined) continue
        const saga = await engine().get(currentId, undefined, tx)
        const { previous: _previous, ...was } = saga.input as DeployInput
        const input: DeployInput = {
          ...was,
          trigger: 'rotation',
          sourceDeploymentId: currentId,
          requestedBy: null,
        }
        // One redeploy per environment and version: the same rotation told again is the same deployment.
        const id = deploymentIdOf({ ...input, cause: `rotation:${event.secretRef}:${event.version}` })
        const { outcome } = await enqueue(tx, id, 'deploy', input, input)
        if (outcome !== 'known') started.push(id)
      }
      return started
    },

    /**
     * Runs a failed or cancelled deployment again as it was (its artifact, manifest and overrides): a
     * new deployment whose source it is, so that what was approved for it (a break-glass override of
     * its policy violations) applies to the new one too.
     */
    async retry(tenantId: string, sourceId: string, request: DeployRequestBy) {
      const source = await this.get(tenantId, sourceId)
      if (source.kind !== 'deploy')
        throw new ConflictError(`deployment ${sourceId} is a destroy: run a destroy of the environment again`)
      if (source.status !== 'failed' && source.status !== 'cancelled')
        throw new ConflictError(
          `deployment ${sourceId} is ${source.status}: only a failed or cancelled deployment is retried`,
        )
      const saga = await engine()
        .get(sourceId)
        .catch((error: unknown) => {
          // Cancelled while it waited its turn: it never ran, and what it would have run is not kept.
          if (error instanceof NotFoundError)
            throw new ConflictError(
              `deployment ${sourceId} was cancelled before it started: deploy its artifact again (POST /v1/environments/${source.envId}/deployments)`,
            )
          throw error
        })
      const { previous: _previous, ...was } = saga.input as DeployInput
      const { id } = await db.withTenant(tenantId, async (tx) => {
        await knownEnvironment(tx, source.envId)
        const input: DeployInput = {
          ...was,
          trigger: 'retry',
          sourceDeploymentId: sourceId,
          requestedBy: request.by,
        }
        const id = deploymentIdOf({ ...input, cause: `retry:${sourceId}:${request.requestKey}` })
        return enqueue(tx, id, 'deploy', input, input)
      })
      return this.get(tenantId, id)
    },

    /**
     * Deploys to environment `envId` exactly what is healthy in environment `fromEnvId` (the artifact and
     * manifest of its current deployment, with the target's own overrides); refused when the source
     * runs nothing ready.
     */
    async promote(tenantId: string, envId: string, fromEnvId: string, request: DeployRequestBy) {
      const { id } = await db.withTenant(tenantId, async (tx) => {
        const target = await knownEnvironment(tx, envId)
        if (envId === fromEnvId)
          throw new InputError(`promote from ${fromEnvId} to itself: name another environment`)
        const from = await knownEnvironment(tx, fromEnvId)
        if (from.project_id !== target.project_id)
          throw new ConflictError(
            `environment ${from.name} is in project ${from.project_id}, ${target.name} in ${target.project_id}: promote within a project`,
          )
        const { rows } = await tx.query<{ id: string; status: string }>(
          'SELECT id, status FROM deployments WHERE id = $1',
          [from.current_deployment_id],
        )
        const healthy = rows[0]
        if (healthy === undefined || healthy.status !== 'ready')
          throw new ConflictError(
            `environment ${from.name} has no healthy deployment to promote: deploy it first, and promote once it is ready`,
          )
        const saga = await engine().get(healthy.id, undefined, tx)
        const was = saga.input as DeployInput
        const input: DeployInput = {
          tenantId,
          envId: target.env_id,
          projectId: target.project_id,
          environment: target.name,
          commitSha: was.commitSha,
          artifactRef: was.artifactRef,
          manifest: was.manifest,
          manifestDigest: was.manifestDigest,
          overrides: storedOverridesOf(target),
          trigger: 'promote',
          sourceDeploymentId: healthy.id,
          requestedBy: request.by,
        }
        const id = deploymentIdOf({ ...input, cause: `promote:${healthy.id}:${request.requestKey}` })
        return enqueue(tx, id, 'deploy', input, input)
      })
      return this.get(tenantId, id)
    },

    /**
     * Destroys environment `envId` on its provider: `confirm` must be its name. Refused while one of its
     * deployments runs or waits (cancel it first), and when nothing was ever placed there.
     */
    async destroy(tenantId: string, envId: string, confirm: string, request: DeployRequestBy) {
      const { id } = await db.withTenant(tenantId, async (tx) => {
        const env = await knownEnvironment(tx, envId)
        if (confirm !== env.name)
          throw new InputError(
            `confirm must be the environment's name, ${JSON.stringify(env.name)}: destroying it removes everything it runs`,
          )
        await lockEnvironment(tx, envId)
        const { rows: busy } = await tx.query<{ id: string; status: string }>(
          `SELECT id, status FROM deployments WHERE env_id = $1 AND status IN ('queued', 'running', 'compensating') LIMIT 1`,
          [envId],
        )
        if (busy[0] !== undefined)
          throw new ConflictError(
            `deployment ${busy[0].id} of environment ${env.name} is ${busy[0].status}: cancel it (POST /v1/deployments/${busy[0].id}/cancel) or wait for it, then destroy`,
          )
        // What was placed there last (what runs now, or what a failed deploy may have left).
        const { rows } = await tx.query<{
          id: string
          artifact_ref: string
          manifest_digest: string
          commit_sha: string | null
        }>(
          `SELECT id, artifact_ref, manifest_digest, commit_sha FROM deployments
            WHERE env_id = $1 AND kind = 'deploy' AND provider IS NOT NULL
            ORDER BY (id = $2) DESC, created_at DESC LIMIT 1`,
          [envId, env.current_deployment_id],
        )
        const last = rows[0]
        if (last === undefined)
          throw new ConflictError(`environment ${env.name} was never deployed: nothing to destroy`)
        const plan = planOf((await engine().get(last.id, undefined, tx)).results) as DeployPlan | undefined
        if (plan === undefined)
          throw new ConflictError(`environment ${env.name} was never placed: nothing to destroy`)
        const input: DestroyInput = {
          tenantId,
          projectId: env.project_id,
          envId,
          environment: env.name,
          sourceDeploymentId: last.id,
          plan,
          requestedBy: request.by,
        }
        const id = deploymentIdOf({
          tenantId,
          projectId: env.project_id,
          envId,
          commitSha: last.commit_sha,
          artifactRef: last.artifact_ref,
          cause: `destroy:${request.requestKey}`,
        })
        return enqueue(tx, id, 'destroy', input, {
          commitSha: last.commit_sha,
          artifactRef: last.artifact_ref,
          manifestDigest: last.manifest_digest,
        })
      })
      return this.get(tenantId, id)
    },

    /** A saga transition: the read model follows it, and what it means for the platform is published. */
    async observed(tx: Transaction, saga: SagaInstance, events: readonly SagaEvent[]) {
      if ((saga.type !== deploySaga.type && saga.type !== destroySaga.type) || saga.tenantId === null) return
      const tenantId = saga.tenantId
      const input = saga.input as DeployInput | DestroyInput
      const plan =
        saga.type === destroySaga.type
          ? (input as DestroyInput).plan
          : (planOf(saga.results) as DeployPlan | undefined)
      const status = statusOf(saga)
      const urls = status === 'ready' ? urlsOf(saga.results) : []
      await asTenant(tx, tenantId)
      await tx.query(
        `UPDATE deployments SET status = $2, step = $3, platform = $4, provider = $5, urls = $6::jsonb,
                failure = $7::jsonb, compensation_failures = $8::jsonb, updated_at = now(),
                succeeded_at = CASE WHEN $2 = 'ready' THEN coalesce(succeeded_at, now()) ELSE succeeded_at END
          WHERE id = $1`,
        [
          saga.id,
          status,
          saga.step,
          plan?.platform ?? null,
          plan?.provider ?? null,
          JSON.stringify(urls),
          saga.failure === null ? null : JSON.stringify(saga.failure),
          JSON.stringify(saga.compensationFailures),
        ],
      )
      const finished = saga.status === 'succeeded' || saga.status === 'failed' || saga.status === 'cancelled'
      if (finished) await lockEnvironment(tx, input.envId)
      if (saga.status === 'succeeded' && events.some((e) => e.kind === 'succeeded')) {
        if (saga.type === destroySaga.type) await destroyed(tx, tenantId, input as DestroyInput)
        else await becameCurrent(tx, tenantId, input as DeployInput, saga.id)
      }
      // The environment is free: the newest deployment waiting for it starts.
      if (finished) {
        const { rows: next } = await tx.query<{ id: string }>(
          `SELECT id FROM deployments WHERE env_id = $1 AND status = 'queued' ORDER BY created_at DESC LIMIT 1`,
          [input.envId],
        )
        if (next[0] !== undefined) await startQueued(tx, next[0].id)
      }
      if (saga.type === deploySaga.type)
        await bus.publishAll(tx, deployEventsOf(saga, events, plan, urls, new Date()))
    },

    async get(tenantId: string, id: string) {
      const deployment = await db.withTenant(tenantId, async (tx) => {
        const { rows } = await tx.query<Row & Record<string, unknown>>(
          `${selectDeployments} WHERE d.id = $1`,
          [id],
        )
        return rows[0] === undefined ? undefined : toDeployment(rows[0])
      })
      if (deployment === undefined) throw new NotFoundError(`no deployment ${id}`)
      const history = await engine().history(id)
      return { ...deployment, steps: stepsOf(deployment.kind, history, await sagaVersionOf(id, history)) }
    },

    /** What the registry says of a project's environments (evt.project.updated): which are whose, their overrides. */
    async environmentsChanged(tx: Transaction, tenantId: string, event: ProjectUpdated) {
      const after = event.after.environments
      if (after === undefined) return
      await asTenant(tx, tenantId)
      for (const [i, envId] of event.envIds.entries()) {
        const env = after[i]
        if (env === undefined) continue
        if (env === null) await tx.query('DELETE FROM environments WHERE env_id = $1', [envId])
        else
          await tx.query(
            `INSERT INTO environments (env_id, org_id, project_id, name, overrides) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (env_id) DO UPDATE SET name = excluded.name, overrides = coalesce(excluded.overrides, environments.overrides)`,
            [env.id, tenantId, event.projectId, env.name, env.overrides ?? null],
          )
      }
    },

    /** The registry recorded an environment's deploy.yaml (evt.manifest.recorded): its next deploys use it. */
    async manifestRecorded(tx: Transaction, tenantId: string, event: ManifestRecorded) {
      await asTenant(tx, tenantId)
      await tx.query(
        `INSERT INTO environments (env_id, org_id, project_id, name, manifest, manifest_digest) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (env_id) DO UPDATE SET manifest = excluded.manifest, manifest_digest = excluded.manifest_digest`,
        [event.envId, tenantId, event.projectId, event.environment, event.manifest, event.manifestDigest],
      )
    },

    /**
     * The deployment's history after `afterSeq`, as the live stream tells it, and whether the
     * deployment is over (nothing more will come). Another tenant's is not found.
     */
    async events(tenantId: string, id: string, afterSeq: number) {
      const deployment = await this.get(tenantId, id)
      const all = await engine().history(id)
      const definition = definitionOf(deployment.kind, await sagaVersionOf(id, all))
      const history = all.filter((h) => h.seq > afterSeq)
      const over = !['queued', 'running', 'compensating'].includes(deployment.status)
      return {
        over,
        status: deployment.status,
        events: history.map((h) => {
          const step = 'step' in h.event ? definition.steps[h.event.step]?.name : undefined
          return {
            seq: h.seq,
            at: h.at.toISOString(),
            ...h.event,
            ...(step === undefined ? {} : { step }),
          } as HistoryView
        }),
      }
    },

    /** A deployment as the engine view shows it: its saga's state and its whole history. */
    async workflow(tenantId: string, id: string) {
      const deployment = await this.get(tenantId, id)
      const definition = definitionOf(deployment.kind, await sagaVersionOf(id, await engine().history(id)))
      // A deployment that waited and never started (queued, superseded, or cancelled while queued)
      // has no saga yet: its workflow is its status, with no history.
      const saga =
        ['queued', 'superseded'].includes(deployment.status) ||
        deployment.steps.every((s) => s.attempts === 0)
          ? undefined
          : await engine().get(id)
      const { events } = saga === undefined ? { events: [] } : await this.events(tenantId, id, 0)
      return {
        id,
        type: (deployment.kind === 'destroy'
          ? 'destroy'
          : deployment.trigger === 'rollback' || deployment.trigger === 'promote'
            ? deployment.trigger
            : 'deploy') as 'deploy' | 'rollback' | 'promote' | 'destroy',
        saga: definition.type,
        sagaVersion: saga?.typeVersion ?? definition.version,
        status: saga?.status ?? (deployment.status as 'queued' | 'superseded' | 'cancelled'),
        step: saga?.step ?? null,
        attempt: saga?.attempt ?? 0,
        version: saga?.version ?? 0,
        failure: saga?.failure ?? null,
        compensationFailures: [...(saga?.compensationFailures ?? [])],
        createdAt: saga?.createdAt.toISOString() ?? deployment.createdAt,
        updatedAt: saga?.updatedAt.toISOString() ?? deployment.updatedAt,
        deployment,
        history: events,
      }
    },

    async list(tenantId: string, envId: string, limit: number) {
      return db.withTenant(tenantId, async (tx) => {
        const known = await tx.query(
          `SELECT 1 FROM environments WHERE env_id = $1 UNION ALL SELECT 1 FROM deployments WHERE env_id = $1 LIMIT 1`,
          [envId],
        )
        if (known.rowCount === 0) throw new NotFoundError(`no environment ${envId}`)
        const { rows } = await tx.query<Row & Record<string, unknown>>(
          `${selectDeployments} WHERE d.env_id = $1 ORDER BY d.created_at DESC LIMIT $2`,
          [envId, limit],
        )
        return rows.map(toDeployment)
      })
    },

    async cancel(tenantId: string, id: string, by: string) {
      const deployment = await this.get(tenantId, id)
      if (deployment.status === 'queued') {
        // Not started: nothing to undo.
        await db.withTenant(tenantId, (tx) =>
          tx.query(
            `UPDATE deployments SET status = 'cancelled', queued = NULL, updated_at = now() WHERE id = $1 AND status = 'queued'`,
            [id],
          ),
        )
      } else if (['running', 'compensating'].includes(deployment.status)) await engine().cancel(id, by)
      else
        throw new ConflictError(
          `deployment ${id} is ${deployment.status}: only a queued or running deployment can be cancelled`,
        )
      return this.get(tenantId, id)
    },
  }
  return deployments
}
export type Deployments = ReturnType<typeof createDeployments>
