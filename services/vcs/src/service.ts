import { createHash } from 'node:crypto'
import { verify } from '@octokit/webhooks-methods'
import { webhookSecret } from '@rxt/contracts/webhooks'
import {
  AuthenticationError,
  type ContextDeps,
  currentScope,
  InputError,
  NotFoundError,
  newId,
  type Transaction,
} from '@rxt/kit'
import { type AuditOf, createDeliveryStore, type Received, text } from './delivery-store.ts'
import { type Decision, decide, type ProjectRoute } from './github.ts'
import type { ProjectRouteChange } from './project-routes.ts'

export interface VcsConfig {
  readonly WEBHOOK_KEY?: string | undefined
}

/**
 * A NUL character escaped in JSON text (`\u0000` after an even number of backslashes, so not an escaped
 * backslash followed by `u0000`): no git name or message holds one, and no column or event should.
 */
const nulEscape = /(?<!\\)(?:\\\\)*\\u0000/

/** Deliveries kept per project: the newest. */
export const keptDeliveries = 1_000

/** What a 401 says, whether the URL names no project vcs knows or another secret signed the delivery. */
export const notSignedByProject =
  "the delivery is not signed with the webhook secret of the project its URL names (each project's webhook URL and secret are its own: see the project's webhookUrl)"

export interface Delivery {
  readonly event: string
  readonly deliveryId: string
  readonly signature: string
  readonly contentType: string
  readonly body: Buffer
}

export type { AuditOf, Received } from './delivery-store.ts'

/** A project as its webhook URL names it: its route, and the generation its secret is derived at. */
export interface Claim extends ProjectRoute {
  readonly webhookGeneration: number
}

/**
 * GitHub webhooks: a delivery is checked against the secret of the one project its URL names (derived
 * from WEBHOOK_KEY, ADR 0010; ADR 0016), over its bytes as sent, before they are parsed; then stored
 * once per delivery id and turned into events in the same transaction (the outbox sends them after
 * the answer). What other projects claim the same repository changes nothing of it.
 */
export function createVcs(deps: ContextDeps<VcsConfig>) {
  const { db, bus } = deps

  /** The payload, and whether any of its strings (or keys) holds a NUL character. */
  const payloadOf = (
    body: string,
    contentType: string,
  ): { payload: Record<string, unknown>; nul: boolean } => {
    try {
      const json = contentType.startsWith('application/x-www-form-urlencoded')
        ? (new URLSearchParams(body).get('payload') ?? '')
        : body
      const value = JSON.parse(json) as unknown
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        throw new Error('not an object')
      return { payload: value as Record<string, unknown>, nul: nulEscape.test(json) }
    } catch (error) {
      throw new InputError(`the delivery is not a JSON payload: ${(error as Error).message}`)
    }
  }

  const store = createDeliveryStore(db, bus)

  return {
    /** The context's name: the audit records its routes write say it. */
    context: deps.name,

    /**
     * The live project a webhook URL names, as vcs knows it; undefined when it knows none (not yet, or
     * not any more). One indexed read, before the body is read, shared by the deliveries asking at the
     * same time.
     */
    claimOf: (projectId: string): Promise<Claim | undefined> => store.claimOf(projectId),

    /**
     * Accepts a delivery for the project its URL names: 401 (nothing parsed, nothing stored) unless that
     * project's secret signed its bytes. A delivery seen before, by its id or by its signed bytes (a
     * replay under a new id), is acknowledged again and causes nothing. A ping naming the project's
     * repository verifies the project's claim to it; until then, other deliveries are kept as ignored.
     * Deliveries arriving together are stored together (`storeAll`): each is answered once its batch
     * committed. `audit`, when given, is the request's audit record for the status it is answered with,
     * written in the same transaction.
     */
    async receive(project: Claim, delivery: Delivery, audit?: AuditOf): Promise<Received> {
      const key = deps.config.WEBHOOK_KEY
      // The bytes as text once: what is verified is what is parsed and what the replay digest is of.
      const body = delivery.body.toString('utf8')
      const secret =
        key === undefined ? undefined : webhookSecret(key, project.projectId, project.webhookGeneration)
      if (secret === undefined || !(await verify(secret, body, delivery.signature).catch(() => false)))
        throw new AuthenticationError(notSignedByProject)
      const { payload, nul } = payloadOf(body, delivery.contentType)
      // Signed by the project, yet not the shape GitHub documents: kept as a failed delivery, not a 500.
      let decision: Decision
      try {
        decision = nul
          ? {
              outcome: 'failed',
              detail: 'the payload holds a NUL character (\\u0000), which GitHub never sends',
            }
          : decide(delivery.event, payload, delivery.deliveryId, project)
      } catch (error) {
        decision = { outcome: 'failed', detail: `the payload could not be read: ${(error as Error).message}` }
      }
      const scope = currentScope()
      return store.store({
        id: newId(),
        project,
        deliveryId: text(delivery.deliveryId, 100),
        digest: createHash('sha256').update(body).digest('hex'),
        event: text(delivery.event, 100),
        action: typeof payload.action === 'string' ? text(payload.action, 100) : null,
        decision,
        correlationId: scope?.correlationId,
        actor: scope?.actor,
        audit,
      })
    },

    /**
     * Keeps the newest 1,000 deliveries of every project (run every few minutes, not per delivery:
     * a delivery's transaction stays two inserts), organisation by organisation under its row-level
     * security.
     */
    async prune(): Promise<number> {
      const { rows } = await db.query<{ org_id: string }>('SELECT DISTINCT org_id FROM project_routes')
      let removed = 0
      for (const { org_id } of rows) {
        removed += await db.withTenant(org_id, async (tx) => {
          const result = await tx.query(
            `DELETE FROM deliveries d USING (
               SELECT id FROM (
                 SELECT id, row_number() OVER (PARTITION BY project_id ORDER BY received_at DESC, id DESC) AS n
                   FROM deliveries
               ) ranked WHERE n > $1
             ) old WHERE d.id = old.id`,
            [keptDeliveries],
          )
          return result.rowCount ?? 0
        })
      }
      return removed
    },

    async deliveries(orgId: string, projectId: string) {
      return db.withTenant(orgId, async (tx) => {
        const known = await tx.query(
          'SELECT 1 FROM project_routes WHERE project_id = $1 AND org_id = $2 AND live',
          [projectId, orgId],
        )
        if (known.rowCount === 0) throw new NotFoundError(`no project ${projectId}`)
        const { rows } = await tx.query<{
          delivery_id: string
          event: string
          action: string | null
          outcome: string
          detail: string
          received_at: Date
        }>(
          `SELECT delivery_id, event, action, outcome, detail, received_at FROM deliveries
            WHERE project_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2`,
          [projectId, keptDeliveries],
        )
        return rows.map((r) => ({
          deliveryId: r.delivery_id,
          event: r.event,
          action: r.action,
          outcome: r.outcome,
          detail: r.detail,
          receivedAt: r.received_at.toISOString(),
        }))
      })
    },

    /**
     * Keeps the project's route (repository, deploy branches, webhook generation) as registry says; a
     * change of repository leaves the claim unverified until its ping.
     */
    async projectChanged(tx: Transaction, change: ProjectRouteChange) {
      await tx.query(
        `INSERT INTO project_routes (project_id, org_id, repository, deploy_branches, webhook_generation, live,
                                     deploy_tags, report_branch_deletions, ci_workflow, ci_image)
         VALUES ($1, $2, $3, coalesce($4, '{main}'::text[]), coalesce($5, 1), coalesce($6, true),
                 coalesce($8, false), coalesce($9, false), $11, $12)
         ON CONFLICT (project_id) DO UPDATE SET
           repository = CASE WHEN $7 THEN excluded.repository ELSE project_routes.repository END,
           -- Another repository is another claim, unproved until its ping.
           verified_at = CASE WHEN $7 AND excluded.repository IS DISTINCT FROM project_routes.repository
                              THEN NULL ELSE project_routes.verified_at END,
           deploy_branches = coalesce($4, project_routes.deploy_branches),
           webhook_generation = coalesce($5, project_routes.webhook_generation),
           live = coalesce($6, project_routes.live),
           deploy_tags = coalesce($8, project_routes.deploy_tags),
           report_branch_deletions = coalesce($9, project_routes.report_branch_deletions),
           ci_workflow = CASE WHEN $10 THEN excluded.ci_workflow ELSE project_routes.ci_workflow END,
           ci_image = CASE WHEN $10 THEN excluded.ci_image ELSE project_routes.ci_image END,
           updated_at = now()`,
        [
          change.projectId,
          change.orgId,
          change.repository?.toLowerCase() ?? null,
          change.deployBranches === undefined ? null : [...change.deployBranches],
          change.webhookGeneration ?? null,
          change.live ?? null,
          change.repository !== undefined,
          change.deployTags ?? null,
          change.reportBranchDeletions ?? null,
          change.ci !== undefined,
          change.ci?.workflow ?? null,
          change.ci?.image ?? null,
        ],
      )
    },
  }
}
export type Vcs = ReturnType<typeof createVcs>
