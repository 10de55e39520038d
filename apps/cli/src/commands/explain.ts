// rxt explain: why an environment's last deploy runs where it does (the placement decision it used).
import type { RunContext } from '../context.ts'
import { resolveEnvironment, resolveProject } from '../resolve.ts'

interface Candidate {
  readonly provider: string
  readonly kind: string
  readonly eligible: boolean
  readonly score: number
  readonly monthlyCost: number | null
  readonly filters?: readonly {
    readonly name?: string
    readonly passed?: boolean
    readonly reason?: string
  }[]
}

export async function explain(ctx: RunContext, _args: string[], options: { project?: string; env?: string }) {
  const project = await resolveProject(ctx.client, options.project ?? ctx.settings.project)
  const env = await resolveEnvironment(ctx.client, project, options.env)
  const decision = await ctx.client.request<{
    provider: string
    kind: string
    score: number
    reasoning: string
    monthlyCost: number | null
    pinned: { reason: string; by: string } | null
    target: { compliance: string[]; regions: string[]; encryptionAtRest: boolean }
    candidates: Candidate[]
    decidedAt: string
  }>('GET', `/v1/placement/explain/${env.id}`)
  if (ctx.out.json) return ctx.out.document(decision)
  const { out } = ctx
  out.line(`${env.name} runs on ${decision.provider} (${decision.kind}), score ${decision.score}`)
  out.line(decision.reasoning)
  if (decision.pinned !== null) out.line(`pinned by ${decision.pinned.by}: ${decision.pinned.reason}`)
  const { target } = decision
  out.line(
    `asked for: compliance ${target.compliance.join(', ') || 'none'}; regions ${target.regions.join(', ') || 'any'}; encryption at rest ${target.encryptionAtRest ? 'yes' : 'no'}`,
  )
  out.line('candidates:')
  out.table(
    decision.candidates.map((c) => {
      const refused = (c.filters ?? []).filter((f) => f.passed === false).map((f) => f.reason ?? f.name ?? '')
      return [
        `  ${c.provider}`,
        c.kind,
        c.eligible ? `score ${c.score}` : 'not eligible',
        c.monthlyCost === null ? '-' : `$${c.monthlyCost}/month`,
        refused.join('; '),
      ]
    }),
  )
}
