import type { PolicyAdmit } from '@rxt/contracts'
import {
  type Clock,
  ConflictError,
  type ContextBus,
  type ContextDb,
  type HandlerContext,
  type Logger,
  NotAllowedError,
  NotFoundError,
  newId,
  type Transaction,
} from '@rxt/kit'
import { createBundles } from './bundles.ts'
import { admissionInput, withWorkload } from './domain/admission-input.ts'
import type { Finding, Verdict } from './domain/findings.ts'
import { inputDigest } from './domain/input-digest.ts'
import { applyWaivers, type Waiver } from './domain/waivers.ts'

export interface PolicyConfig {
  /** The plan of every organisation (identity keeps no plans yet): its quotas apply. */
  readonly POLICY_DEFAULT_PLAN: string
  /** How often each process checks which bundle is active. */
  readonly POLICY_BUNDLE_POLL_MS: number
}

/** Who calls the API: the actor as records name it, and the person behind it. */
export interface Viewer {
  readonly actor: string
  readonly userId: string | undefined
}

/** A stored decision as the API shows it. */
export interface DecisionView {
  readonly decisionId: string
  readonly subject: string | null
  readonly action: string
  readonly entity: string | null
  readonly inputDigest: string
  readonly bundleRevision: string
  readonly allow: boolean
  readonly violations: readonly Finding[]
  readonly waived: readonly (Finding & { overrideId: string })[]
  readonly warnings: readonly Finding[]
  readonly latencyUs: number
  readonly decidedAt: string
}

export interface OverrideView {
  readonly id: string
  readonly deploymentId: string
  readonly policies: string[]
  readonly reason: string
  readonly ttlMinutes: number
  readonly status: 'requested' | 'approved' | 'rejected'
  readonly requestedBy: string
  readonly decidedBy: string | null
  readonly note: string | null
  readonly expiresAt: string | null
  readonly createdAt: string
}

type DecisionRow = {
  id: string
  subject: string | null
  action: string
  entity: string | null
  input_digest: string
  bundle_revision: string
  allow: boolean
  violations: Finding[]
  waived: (Finding & { overrideId: string })[]
  warnings: Finding[]
  latency_us: number
  decided_at: Date | string
}

type OverrideRow = {
  id: string
  deployment_id: string
  policies: string[]
  reason: string
  ttl_minutes: number
  status: OverrideView['status']
  requested_by: string
  requested_by_user: string
  decided_by: string | null
  note: string | null
  expires_at: Date | string | null
  created_at: Date | string
}

const iso = (value: Date | string) => new Date(value).toISOString()

const decisionOf = (row: DecisionRow): DecisionView => ({
  decisionId: row.id,
  subject: row.subject,
  action: row.action,
  entity: row.entity,
  inputDigest: row.input_digest,
  bundleRevision: row.bundle_revision,
  allow: row.allow,
  violations: row.violations,
  waived: row.waived,
  warnings: row.warnings,
  latencyUs: row.latency_us,
  decidedAt: iso(row.decided_at),
})

const overrideOf = (row: OverrideRow): OverrideView => ({
  id: row.id,
  deploymentId: row.deployment_id,
  policies: row.policies,
  reason: row.reason,
  ttlMinutes: row.ttl_minutes,
  status: row.status,
  requestedBy: row.requested_by,
  decidedBy: row.decided_by,
  note: row.note,
  expiresAt: row.expires_at === null ? null : iso(row.expires_at),
  createdAt: iso(row.created_at),
})

const asTenant = (tx: Transaction, tenantId: string) =>
  tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [tenantId])

/** The finding of an admission whose input could not be made: it refuses, saying why. */
const inputFinding = (problem: string): Finding => ({
  policy: 'rxt.admission.input',
  rule: 'valid_input',
  severity: 'high',
  message: problem.slice(0, 1000),
})

export const defaultTtlMinutes = 60
export const maxTtlMinutes = 1440

/**
 * Policy: decisions by the active OPA bundle (WebAssembly, in this process), each stored for its
 * tenant with the revision that made it; admission of placed deployments (cmd.policy.admit); and
 * break-glass overrides, asked by a deployer and decided by another person.
 */
export function createPolicy(deps: {
  db: ContextDb
  bus: ContextBus
  log: Logger
  clock: Clock
  config: PolicyConfig
}) {
  const { db, bus, clock, config } = deps
  const bundles = createBundles(deps)
  const planOf = (_tenantId: string) => config.POLICY_DEFAULT_PLAN

  /** Evaluates with the active bundle, timing only the evaluation. */
  const judge = (input: unknown): { verdict: Verdict; revision: string; latencyUs: number } => {
    const evaluator = bundles.active()
    const started = process.hrtime.bigint()
    const verdict = evaluator.evaluate(input)
    const latencyUs = Number((process.hrtime.bigint() - started) / 1000n)
    return { verdict, revision: evaluator.revision, latencyUs }
  }

  const store = async (
    tx: Transaction,
    tenantId: string,
    decision: {
      subject: string | null
      action: string
      entity: string | null
      input: unknown
      revision: string
      allow: boolean
      violations: readonly Finding[]
      waived: readonly (Finding & { overrideId: string })[]
      warnings: readonly Finding[]
      latencyUs: number
    },
  ): Promise<DecisionView> => {
    const { rows } = await tx.query<DecisionRow>(
      `INSERT INTO decisions (id, tenant_id, subject, action, entity, input_digest, bundle_revision, allow,
         violations, waived, warnings, latency_us, decided_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *`,
      [
        newId(clock.now().getTime()),
        tenantId,
        decision.subject,
        decision.action,
        decision.entity,
        inputDigest(decision.input),
        decision.revision,
        decision.allow,
        JSON.stringify(decision.violations),
        JSON.stringify(decision.waived),
        JSON.stringify(decision.warnings),
        decision.latencyUs,
        clock.now(),
      ],
    )
    const row = rows[0]
    if (row === undefined) throw new Error('the decision was not stored')
    return decisionOf(row)
  }

  /** Approved, unexpired overrides of one or more deployments. */
  const waiversFor = async (tx: Transaction, deploymentIds: readonly string[]): Promise<Waiver[]> => {
    const { rows } = await tx.query<{ id: string; policies: string[]; expires_at: Date | string }>(
      `SELECT id, policies, expires_at FROM overrides
       WHERE status = 'approved' AND deployment_id = ANY($1) AND expires_at > $2`,
      [deploymentIds, clock.now()],
    )
    return rows.map((r) => ({ id: r.id, policies: r.policies, expiresAt: new Date(r.expires_at) }))
  }

  const overrideById = async (tx: Transaction, id: string) => {
    const { rows } = await tx.query<OverrideRow>('SELECT * FROM overrides WHERE id = $1 FOR UPDATE', [id])
    const row = rows[0]
    if (row === undefined) throw new NotFoundError(`no override ${id}`)
    return row
  }

  return {
    bundles,

    /** At start: the shipped bundle stored (the default) and the active one loaded. */
    start: () => bundles.ensureShipped(),

    /** POST /v1/evaluate: a decision for the caller's tenant (its id and plan are the server's, not the caller's). */
    async evaluate(
      viewer: Viewer,
      tenantId: string,
      body: { subject?: string; action: string; entity?: string; input: Record<string, unknown> },
    ) {
      const input = {
        ...withWorkload(body.input),
        action: body.action,
        tenant: { id: tenantId, plan: planOf(tenantId) },
      }
      const { verdict, revision, latencyUs } = judge(input)
      const decision = await db.withTenant(tenantId, (tx) =>
        store(tx, tenantId, {
          subject: body.subject ?? viewer.actor,
          action: body.action,
          entity: body.entity ?? null,
          input,
          revision,
          allow: verdict.allow,
          violations: verdict.violations,
          waived: [],
          warnings: verdict.warnings,
          latencyUs,
        }),
      )
      return {
        allow: verdict.allow,
        violations: verdict.violations.map((v) => ({ policy: v.policy, message: v.message })),
        warnings: verdict.warnings.map((w) => ({ policy: w.policy, message: w.message })),
        bundleRevision: revision,
        decisionId: decision.decisionId,
      }
    },

    /**
     * cmd.policy.admit: the decision of the active bundle on the placed deployment, less what an
     * approved override waives; answered evt.policy.admitted or evt.policy.denied, and each violation
     * told as evt.policy.violation.
     */
    async admit(ctx: HandlerContext, command: PolicyAdmit): Promise<void> {
      await asTenant(ctx.tx, command.tenantId)
      const made = admissionInput(command, planOf(command.tenantId))
      const judged = made.ok
        ? judge(made.input)
        : {
            verdict: { allow: false, violations: [inputFinding(made.problem)], warnings: [] },
            revision: bundles.active().revision,
            latencyUs: 0,
          }
      const ids = [
        command.deploymentId,
        ...(command.sourceDeploymentId === null ? [] : [command.sourceDeploymentId]),
      ]
      const { waived, remaining } = made.ok
        ? applyWaivers(judged.verdict.violations, await waiversFor(ctx.tx, ids), clock.now())
        : { waived: [], remaining: judged.verdict.violations }
      const decision = await store(ctx.tx, command.tenantId, {
        subject: `deployment:${command.deploymentId}`,
        action: 'deploy',
        entity: command.envId,
        input: made.ok ? made.input : { command },
        revision: judged.revision,
        allow: remaining.length === 0,
        violations: remaining,
        waived,
        warnings: judged.verdict.warnings,
        latencyUs: judged.latencyUs,
      })
      const violation = (finding: Finding, enforcement: 'deny' | 'warn') => ({
        type: 'evt.policy.violation',
        tenantId: command.tenantId,
        key: command.envId,
        data: {
          envId: command.envId,
          deploymentId: command.deploymentId,
          policyId: finding.policy,
          rule: finding.rule,
          severity: finding.severity,
          enforcement,
          message: finding.message,
        },
      })
      for (const finding of remaining) await ctx.publish(violation(finding, 'deny'))
      for (const finding of [...waived, ...judged.verdict.warnings])
        await ctx.publish(violation(finding, 'warn'))
      const common = {
        deploymentId: command.deploymentId,
        envId: command.envId,
        decisionId: decision.decisionId,
        bundleRevision: judged.revision,
      }
      await ctx.publish(
        remaining.length === 0
          ? {
              type: 'evt.policy.admitted',
              tenantId: command.tenantId,
              key: command.envId,
              data: {
                ...common,
                waived: waived
                  .slice(0, 50)
                  .map((w) => ({ policy: w.policy, message: w.message, overrideId: w.overrideId })),
                warnings: judged.verdict.warnings
                  .slice(0, 50)
                  .map((w) => ({ policy: w.policy, message: w.message })),
              },
            }
          : {
              type: 'evt.policy.denied',
              tenantId: command.tenantId,
              key: command.envId,
              data: {
                ...common,
                violations: remaining.slice(0, 50).map((v) => ({ policy: v.policy, message: v.message })),
              },
            },
      )
    },

    /** GET /v1/policy/decisions: the tenant's decisions, newest first, a page at a time. */
    async decisions(
      tenantId: string,
      filter: { action?: string; allow?: boolean; since?: string; limit: number; cursor?: string },
    ): Promise<{ items: DecisionView[]; next: string | null }> {
      const where = ['true']
      const params: unknown[] = []
      const add = (clause: string, value: unknown) => {
        params.push(value)
        where.push(clause.replace('?', `$${params.length}`))
      }
      if (filter.action !== undefined) add('action = ?', filter.action)
      if (filter.allow !== undefined) add('allow = ?', filter.allow)
      if (filter.since !== undefined) add('decided_at >= ?', new Date(filter.since))
      if (filter.cursor !== undefined) add('id < ?', filter.cursor)
      params.push(filter.limit + 1)
      const { rows } = await db.withTenant(tenantId, (tx) =>
        tx.query<DecisionRow>(
          `SELECT * FROM decisions WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT $${params.length}`,
          params,
        ),
      )
      const page = rows.slice(0, filter.limit).map(decisionOf)
      return { items: page, next: rows.length > filter.limit ? (page.at(-1)?.decisionId ?? null) : null }
    },

    /** POST /v1/policy/overrides: a deployer asks to waive named policies for one deployment. */
    async requestOverride(
      viewer: Viewer,
      tenantId: string,
      body: { deploymentId: string; policies: string[]; reason: string; ttlMinutes?: number },
    ): Promise<OverrideView> {
      if (viewer.userId === undefined)
        throw new NotAllowedError('a person asks for a break-glass override, not a service')
      const ttl = body.ttlMinutes ?? defaultTtlMinutes
      const policies = [...new Set(body.policies)].sort()
      return db.withTenant(tenantId, async (tx) => {
        const { rows } = await tx.query<OverrideRow>(
          `INSERT INTO overrides (id, tenant_id, deployment_id, policies, reason, ttl_minutes, status,
             requested_by, requested_by_user, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $8, $9) RETURNING *`,
          [
            newId(),
            tenantId,
            body.deploymentId,
            policies,
            body.reason,
            ttl,
            viewer.actor,
            viewer.userId,
            clock.now(),
          ],
        )
        const row = rows[0] as OverrideRow
        await bus.publish(tx, {
          type: 'evt.policy.override.requested',
          tenantId,
          key: body.deploymentId,
          data: {
            overrideId: row.id,
            deploymentId: row.deployment_id,
            policies,
            reason: row.reason,
            requestedBy: viewer.actor,
            ttlMinutes: ttl,
          },
        })
        return overrideOf(row)
      })
    },

    /** Approval by another person holding policy:override: the waiver applies for the override's TTL. */
    async approveOverride(viewer: Viewer, tenantId: string, id: string): Promise<OverrideView> {
      if (viewer.userId === undefined) throw new NotAllowedError('a person approves a break-glass override')
      return db.withTenant(tenantId, async (tx) => {
        const row = await overrideById(tx, id)
        if (row.requested_by_user === viewer.userId)
          throw new NotAllowedError(
            'you asked for this override, so you cannot approve it: another person holding policy:override must',
          )
        if (row.status !== 'requested') throw new ConflictError(`override ${id} is already ${row.status}`)
        const now = clock.now()
        const expiresAt = new Date(now.getTime() + row.ttl_minutes * 60_000)
        const { rows } = await tx.query<OverrideRow>(
          `UPDATE overrides SET status = 'approved', decided_by = $2, decided_at = $3, expires_at = $4
           WHERE id = $1 RETURNING *`,
          [id, viewer.actor, now, expiresAt],
        )
        await bus.publish(tx, {
          type: 'evt.policy.override.approved',
          tenantId,
          key: row.deployment_id,
          data: {
            overrideId: id,
            deploymentId: row.deployment_id,
            policies: row.policies,
            approvedBy: viewer.actor,
            expiresAt: expiresAt.toISOString(),
          },
        })
        return overrideOf(rows[0] as OverrideRow)
      })
    },

    /** Rejection, by a holder of policy:override: the policies keep applying. */
    async rejectOverride(viewer: Viewer, tenantId: string, id: string, note?: string): Promise<OverrideView> {
      return db.withTenant(tenantId, async (tx) => {
        const row = await overrideById(tx, id)
        if (row.status !== 'requested') throw new ConflictError(`override ${id} is already ${row.status}`)
        const { rows } = await tx.query<OverrideRow>(
          `UPDATE overrides SET status = 'rejected', decided_by = $2, decided_at = $3, note = $4
           WHERE id = $1 RETURNING *`,
          [id, viewer.actor, clock.now(), note ?? null],
        )
        await bus.publish(tx, {
          type: 'evt.policy.override.rejected',
          tenantId,
          key: row.deployment_id,
          data: {
            overrideId: id,
            deploymentId: row.deployment_id,
            rejectedBy: viewer.actor,
            note: note ?? null,
          },
        })
        return overrideOf(rows[0] as OverrideRow)
      })
    },

    async overrides(tenantId: string, deploymentId?: string): Promise<OverrideView[]> {
      const { rows } = await db.withTenant(tenantId, (tx) =>
        tx.query<OverrideRow>(
          `SELECT * FROM overrides WHERE ($1::text IS NULL OR deployment_id = $1) ORDER BY created_at DESC LIMIT 200`,
          [deploymentId ?? null],
        ),
      )
      return rows.map(overrideOf)
    },
  }
}
export type Policy = ReturnType<typeof createPolicy>
