import { type ContextBus, type ContextDb, createCommitQueue, InputError, type PublishInput } from '@rxt/kit'
import type { Decision } from './github.ts'
import type { Claim } from './service.ts'

/** Text for a column: no NUL (Postgres refuses it), at most `max` characters. */
export const text = (value: string, max: number) => value.replaceAll('\u0000', '').slice(0, max)

/** What a delivery was answered: a duplicate (200), or its outcome (202). */
export interface Received {
  readonly duplicate: boolean
  readonly outcome: string
  readonly detail: string
}

/** The audit record of the request a delivery came in, for the status it is answered with. */
export type AuditOf = (status: number) => PublishInput

/** A delivery checked and decided, waiting for its batch; `id` is its row's. */
export interface Pending {
  readonly id: string
  readonly project: Claim
  readonly deliveryId: string
  readonly digest: string
  readonly event: string
  readonly action: string | null
  readonly decision: Decision
  /** The request's, taken when it was queued: a batch runs outside any one request's scope. */
  readonly correlationId: string | undefined
  readonly actor: string | undefined
  readonly audit: AuditOf | undefined
}

/** Items by organisation, in order of first appearance. */
const byOrg = (items: readonly Pending[]): Map<string, Pending[]> => {
  const groups = new Map<string, Pending[]>()
  for (const item of items) {
    const group = groups.get(item.project.orgId)
    if (group === undefined) groups.set(item.project.orgId, [item])
    else group.push(item)
  }
  return groups
}

/**
 * Where vcs reads claims and writes deliveries, many at a time (group commit, ADR 0034): the lookups
 * and the deliveries that arrive while one batch is read or written go together in the next, each
 * answered once its batch is done.
 */
export function createDeliveryStore(db: ContextDb, bus: ContextBus) {
  /** The claims of some projects by their ids (live ones only), in one read. */
  const claimsOf = async (projectIds: readonly string[]): Promise<(Claim | undefined)[]> => {
    const { rows } = await db.query<{
      project_id: string
      org_id: string
      repository: string | null
      verified: boolean
      deploy_branches: string[]
      webhook_generation: number
      deploy_tags: boolean
      report_branch_deletions: boolean
      ci_workflow: string | null
      ci_image: string | null
    }>(
      `SELECT project_id, org_id, repository, verified_at IS NOT NULL AS verified, deploy_branches,
            webhook_generation, deploy_tags, report_branch_deletions, ci_workflow, ci_image
       FROM project_routes WHERE project_id = ANY($1::uuid[]) AND live`,
      [projectIds],
    )
    const found = new Map(
      rows.map((row): [string, Claim] => [
        row.project_id,
        {
          projectId: row.project_id,
          orgId: row.org_id,
          repository: row.repository,
          verified: row.verified,
          webhookGeneration: row.webhook_generation,
          deployBranches: row.deploy_branches,
          deployTags: row.deploy_tags,
          reportBranchDeletions: row.report_branch_deletions,
          ci:
            row.ci_workflow === null || row.ci_image === null
              ? null
              : { workflow: row.ci_workflow, image: row.ci_image },
        },
      ]),
    )
    return projectIds.map((id) => found.get(id))
  }
  // Lookups asked while one is running share the next read.
  const claims = createCommitQueue({ run: claimsOf, maxBatch: 200 })

  /**
   * Stores a batch of checked deliveries in one transaction: their rows in one statement per
   * organisation (under its row-level security), their events and audit records in one outbox write. A
   * delivery whose id or signed bytes were stored before (or earlier in the same batch) inserts nothing
   * and publishes nothing. A delivery whose events break their schema is kept as failed, and the others
   * publish theirs.
   */
  const storeAll = (items: readonly Pending[]): Promise<Received[]> =>
    db.transaction(async (tx) => {
      const fresh = new Set<string>()
      for (const [orgId, group] of byOrg(items)) {
        await tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [orgId])
        const { rows } = await tx.query<{ id: string }>(
          `INSERT INTO deliveries (id, org_id, project_id, delivery_id, body_digest, event, action, outcome, detail)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                              $7::text[], $8::text[], $9::text[])
         ON CONFLICT DO NOTHING RETURNING id`,
          [
            group.map((d) => d.id),
            group.map((d) => d.project.orgId),
            group.map((d) => d.project.projectId),
            group.map((d) => d.deliveryId),
            group.map((d) => d.digest),
            group.map((d) => d.event),
            group.map((d) => d.action),
            group.map((d) => d.decision.outcome),
            group.map((d) => text(d.decision.detail, 1000)),
          ],
        )
        for (const row of rows) fresh.add(row.id)
      }
      const decisions = new Map(items.map((d) => [d.id, d.decision]))
      const messagesOf = (d: Pending): PublishInput[] =>
        d.decision.outcome === 'published' && fresh.has(d.id)
          ? d.decision.events.map((e) => ({
              type: e.type,
              data: e.data,
              tenantId: d.project.orgId,
              key: d.project.projectId,
              idempotencyKey: `github:${d.deliveryId}:${e.type}`,
              actor: 'service:vcs',
              ...(d.correlationId === undefined ? {} : { correlationId: d.correlationId }),
            }))
          : []
      const audits = items.flatMap((d) => {
        if (d.audit === undefined) return []
        const record = d.audit(fresh.has(d.id) ? 202 : 200)
        return [
          {
            ...record,
            ...(d.correlationId === undefined ? {} : { correlationId: d.correlationId }),
            ...(d.actor === undefined ? {} : { actor: d.actor }),
          },
        ]
      })
      try {
        await bus.publishAll(tx, [...items.flatMap(messagesOf), ...audits])
      } catch (error) {
        if (!(error instanceof InputError)) throw error
        // Some delivery's events break their schema (nothing was written): each delivery's on their own.
        const failed: Pending[] = []
        for (const d of items) {
          const messages = messagesOf(d)
          if (messages.length === 0) continue
          try {
            await bus.publishAll(tx, messages)
          } catch (itsError) {
            if (!(itsError instanceof InputError)) throw itsError
            decisions.set(d.id, { outcome: 'failed', detail: itsError.message })
            failed.push(d)
          }
        }
        await bus.publishAll(tx, audits)
        for (const [orgId, group] of byOrg(failed)) {
          await tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [orgId])
          await tx.query(
            `UPDATE deliveries SET outcome = 'failed', detail = f.detail
             FROM unnest($1::uuid[], $2::text[]) AS f(id, detail) WHERE deliveries.id = f.id`,
            [group.map((d) => d.id), group.map((d) => text(decisions.get(d.id)?.detail ?? '', 1000))],
          )
        }
      }
      // The ping that proves the claim: the project's repository is verified from now on.
      for (const d of items) {
        if (!fresh.has(d.id) || d.event !== 'ping' || d.project.verified) continue
        if (decisions.get(d.id)?.outcome !== 'published') continue
        await tx.query(
          `UPDATE project_routes SET verified_at = now()
          WHERE project_id = $1 AND repository = $2 AND verified_at IS NULL`,
          [d.project.projectId, d.project.repository],
        )
      }
      return items.map((d): Received => {
        if (!fresh.has(d.id)) return { duplicate: true, outcome: 'duplicate', detail: 'delivered before' }
        const decision = decisions.get(d.id) ?? d.decision
        return { duplicate: false, outcome: decision.outcome, detail: decision.detail }
      })
    })
  // Deliveries that arrive while a batch is written go in the next one (group commit).
  const deliveries = createCommitQueue({ run: storeAll, maxBatch: 200 })

  return {
    /** The live project a webhook URL names, or undefined; read with the lookups asked at the same time. */
    claimOf: (projectId: string): Promise<Claim | undefined> => claims.submit(projectId),
    /** Stores a checked delivery with the others arriving meanwhile; resolves once they committed. */
    store: (delivery: Pending): Promise<Received> => deliveries.submit(delivery),
  }
}
