import type { ProjectUpdated } from '@rxt/contracts'
import type {
  ContextBus,
  ContextDb,
  SagaEngine,
  SagaEvent,
  SagaHistoryEntry,
  SagaInstance,
  Transaction,
} from '@rxt/kit'
import { NotFoundError } from '@rxt/kit'
import { type DeployInput, type DeployResults, deploymentIdOf, deploySaga, urlsOf } from './deploy-saga.ts'

export type DeploymentStatus =
  | 'queued'
  | 'superseded'
  | 'running'
  | 'compensating'
  | 'ready'
  | 'failed'
  | 'cancelled'

export interface StepView {
  readonly name: string
  readonly status:
    | 'pending'
    | 'running'
    | 'succeeded'
    | 'failed'
    | 'compensated'
    | 'not-undone'
    | 'compensation-failed'
  readonly attempts: number
  readonly startedAt: string | null
  readonly endedAt: string | null
  readonly reason: string | null
}

export interface Deployment {
  readonly id: string
  readonly projectId: string
  readonly envId: string
  readonly environment: string
  readonly commitSha: string | null
  readonly artifactRef: string
  readonly manifestDigest: string
  readonly status: DeploymentStatus
  readonly step: string | null
  readonly platform: string | null
  readonly provider: string | null
  readonly urls: readonly string[]
  readonly failure: { readonly step: string | null; readonly code: string; readonly reason: string } | null
  readonly compensationFailures: readonly {
    readonly step: string
    readonly code: string
    readonly reason: string
  }[]
  readonly createdAt: string
  readonly updatedAt: string
}

const statusOf = (saga: SagaInstance): DeploymentStatus =>
  saga.status === 'succeeded' ? 'ready' : saga.status

const asTenant = (tx: Transaction, tenantId: string) =>
  tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [tenantId])

interface Row {
  id: string
  project_id: string
  env_id: string
  environment: string
  commit_sha: string | null
  artifact_ref: string
  manifest_digest: string
  status: DeploymentStatus
  step: string | null
  platform: string | null
  provider: string | null
  urls: string[]
  failure: Deployment['failure']
  compensation_failures: Deployment['compensationFailures']
  created_at: Date | string
  updated_at: Date | string
}

const toDeployment = (r: Row): Deployment => ({
  id: r.id,
  projectId: r.project_id,
  envId: r.env_id,
  environment: r.environment,
  commitSha: r.commit_sha,
  artifactRef: r.artifact_ref,
  manifestDigest: r.manifest_digest,
  status: r.status,
  step: r.step,
  platform: r.platform,
  provider: r.provider,
  urls: r.urls,
  failure: r.failure,
  compensationFailures: r.compensation_failures,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
})

/** Each step of the deploy saga as its history tells it: started, ended, attempts, and why it failed. */
export function stepsOf(history: readonly SagaHistoryEntry[]): StepView[] {
  const steps = deploySaga.steps.map((s): { -readonly [K in keyof StepView]: StepView[K] } => ({
    name: s.name,
    status: 'pending',
    attempts: 0,
    startedAt: null,
    endedAt: null,
    reason: null,
  }))
  for (const { at, event } of history) {
    const step = 'step' in event ? steps[event.step] : undefined
    if (step === undefined) continue
    const time = at.toISOString()
    switch (event.kind) {
      case 'step-started':
        step.status = 'running'
        step.attempts = event.attempt
        step.startedAt ??= time
        break
      case 'step-succeeded':
        step.status = 'succeeded'
        step.endedAt = time
        break
      case 'step-failed':
        if (event.phase === 'forward') {
          step.status = 'failed'
          step.endedAt = time
          step.reason = event.reason
        }
        break
      case 'step-timed-out':
        if (event.phase === 'forward') {
          step.status = 'failed'
          step.endedAt = time
          step.reason = 'no answer within the step timeout'
        }
        break
      case 'step-compensated':
        step.status = 'compensated'
        step.endedAt = time
        break
      case 'compensation-failed':
        step.status = 'compensation-failed'
        step.endedAt = time
        step.reason = event.reason
        break
      case 'not-undone':
        step.status = 'not-undone'
        break
      default:
        break
    }
  }
  return steps
}

/** Serialises, in `tx`, what starts, queues and ends the deploys of one environment. */
const lockEnvironment = (tx: Transaction, envId: string) =>
  tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`orchestrator:env:${envId}`])

/**
 * The orchestrator's deployments: started from cmd.deploy.apply as deploy sagas, one at a time per
 * environment, kept as a read model in each transition, and told to the rest of the platform as
 * evt.deploy.* events.
 */
export function createDeployments(db: ContextDb, bus: ContextBus, engine: () => SagaEngine) {
  /** Starts the saga of a queued deployment (its row says with what). */
  const startQueued = async (tx: Transaction, id: string) => {
    const { rows } = await tx.query<{ queued: DeployInput | string | null }>(
      `SELECT queued FROM deployments WHERE id = $1 AND status = 'queued' FOR UPDATE`,
      [id],
    )
    const queued = rows[0]?.queued
    if (queued === undefined || queued === null) return
    await tx.query(
      `UPDATE deployments SET status = 'running', queued = NULL, updated_at = now() WHERE id = $1`,
      [id],
    )
    const input = typeof queued === 'string' ? (JSON.parse(queued) as DeployInput) : queued
    await engine().start(tx, { type: deploySaga.type, id, input, tenantId: input.tenantId })
  }

  return {
    /**
     * Starts the deploy of `command` for `tenantId` in `tx`, or queues it while another deploy of the
     * environment runs (one at a time; a newer queued one supersedes an older). The same deploy again
     * changes nothing. Resolves with the deployment's id and what became of it.
     */
    async apply(tx: Transaction, tenantId: string, command: DeployInput) {
      const id = deploymentIdOf({ ...command, tenantId })
      await asTenant(tx, tenantId)
      await lockEnvironment(tx, command.envId)
      const inserted = await tx.query(
        `INSERT INTO deployments (id, org_id, project_id, env_id, environment, commit_sha, artifact_ref, manifest_digest, status, queued)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9::jsonb) ON CONFLICT (id) DO NOTHING`,
        [
          id,
          tenantId,
          command.projectId,
          command.envId,
          command.environment,
          command.commitSha,
          command.artifactRef,
          command.manifestDigest,
          JSON.stringify({ ...command, tenantId }),
        ],
      )
      if (inserted.rowCount === 0) return { id, outcome: 'known' as const }
      const { rowCount: busy } = await tx.query(
        `SELECT 1 FROM deployments WHERE env_id = $1 AND id <> $2 AND status IN ('running', 'compensating') LIMIT 1`,
        [command.envId, id],
      )
      if (busy > 0) {
        // Waits for the running one; what waited before it is superseded by it.
        await tx.query(
          `UPDATE deployments SET status = 'superseded', queued = NULL, updated_at = now()
            WHERE env_id = $1 AND id <> $2 AND status = 'queued'`,
          [command.envId, id],
        )
        return { id, outcome: 'queued' as const }
      }
      await startQueued(tx, id)
      return { id, outcome: 'started' as const }
    },

    /** A saga transition: the read model follows it, and what it means for the platform is published. */
    async observed(tx: Transaction, saga: SagaInstance, events: readonly SagaEvent[]) {
      if (saga.type !== deploySaga.type || saga.tenantId === null) return
      const tenantId = saga.tenantId
      const input = saga.input as DeployInput
      const results = saga.results as DeployResults
      const plan = results.place?.plan
      const status = statusOf(saga)
      const urls = status === 'ready' ? urlsOf(saga.results) : []
      await asTenant(tx, tenantId)
      await tx.query(
        `UPDATE deployments SET status = $2, step = $3, platform = $4, provider = $5, urls = $6::jsonb,
                failure = $7::jsonb, compensation_failures = $8::jsonb, updated_at = now()
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
      // The environment is free: the newest deployment waiting for it starts.
      if (saga.status === 'succeeded' || saga.status === 'failed' || saga.status === 'cancelled') {
        await lockEnvironment(tx, input.envId)
        const { rows: next } = await tx.query<{ id: string }>(
          `SELECT id FROM deployments WHERE env_id = $1 AND status = 'queued' ORDER BY created_at DESC LIMIT 1`,
          [input.envId],
        )
        if (next[0] !== undefined) await startQueued(tx, next[0].id)
      }
      const common = { envId: input.envId, deploymentId: saga.id }
      for (const event of events) {
        if (event.kind === 'step-succeeded' && deploySaga.steps[event.step]?.name === 'provision' && plan)
          await bus.publish(tx, {
            type: 'evt.deploy.started',
            tenantId,
            key: input.envId,
            data: {
              ...common,
              projectId: input.projectId,
              platform: plan.platform,
              artifactRef: input.artifactRef,
              startedAt: new Date().toISOString(),
            },
          })
        if (event.kind === 'step-compensated' && deploySaga.steps[event.step]?.name === 'provision' && plan)
          await bus.publish(tx, {
            type: 'evt.deploy.stopped',
            tenantId,
            key: input.envId,
            data: {
              ...common,
              platform: plan.platform,
              stoppedAt: new Date().toISOString(),
              reason: 'failed',
            },
          })
        if (event.kind === 'succeeded' && plan && urls.length > 0)
          await bus.publish(tx, {
            type: 'evt.deploy.ready',
            tenantId,
            key: input.envId,
            data: { ...common, platform: plan.platform, urls },
          })
        if ((event.kind === 'failed' || event.kind === 'cancelled') && saga.failure !== null)
          await bus.publish(tx, {
            type: 'evt.deploy.failed',
            tenantId,
            key: input.envId,
            data: {
              ...common,
              platform: plan?.platform ?? null,
              step: saga.failure.step ?? (event.kind === 'cancelled' ? 'cancelled' : 'deadline'),
              reason: saga.failure.reason.slice(0, 2000),
              compensated: saga.compensationFailures.length === 0,
            },
          })
      }
    },

    async get(tenantId: string, id: string) {
      const deployment = await db.withTenant(tenantId, async (tx) => {
        const { rows } = await tx.query<Row & Record<string, unknown>>(
          'SELECT * FROM deployments WHERE id = $1',
          [id],
        )
        return rows[0] === undefined ? undefined : toDeployment(rows[0])
      })
      if (deployment === undefined) throw new NotFoundError(`no deployment ${id}`)
      return { ...deployment, steps: stepsOf(await engine().history(id)) }
    },

    /** What the registry says of a project's environments (evt.project.updated): which are whose. */
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
            `INSERT INTO environments (env_id, org_id, project_id, name) VALUES ($1, $2, $3, $4)
             ON CONFLICT (env_id) DO UPDATE SET name = excluded.name`,
            [env.id, tenantId, event.projectId, env.name],
          )
      }
    },

    /**
     * The deployment's history after `afterSeq`, as the live stream tells it, and whether the
     * deployment is over (nothing more will come). Another tenant's is not found.
     */
    async events(tenantId: string, id: string, afterSeq: number) {
      const deployment = await this.get(tenantId, id)
      const history = (await engine().history(id)).filter((h) => h.seq > afterSeq)
      const over = !['queued', 'running', 'compensating'].includes(deployment.status)
      return {
        over,
        status: deployment.status,
        events: history.map((h) => {
          const step = 'step' in h.event ? deploySaga.steps[h.event.step]?.name : undefined
          return { seq: h.seq, at: h.at.toISOString(), ...h.event, ...(step === undefined ? {} : { step }) }
        }),
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
          'SELECT * FROM deployments WHERE env_id = $1 ORDER BY created_at DESC LIMIT $2',
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
      } else await engine().cancel(id, by)
      return this.get(tenantId, id)
    },
  }
}
export type Deployments = ReturnType<typeof createDeployments>
