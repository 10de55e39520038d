// rxt audit: the organisation's audit trail, newest first.
import type { RunContext } from '../context.ts'

interface Record_ {
  readonly sequence: number
  readonly recordedAt: string
  readonly actor: string
  readonly action: string
  readonly object: string
  readonly outcome: string
}

export async function audit(
  ctx: RunContext,
  _args: string[],
  options: { limit?: number; action?: string; actor?: string; object?: string; since?: string },
): Promise<void> {
  const page = await ctx.client.request<{ items: Record_[]; next: string | null }>('GET', '/v1/audit', {
    query: {
      limit: options.limit ?? 50,
      action: options.action,
      actor: options.actor,
      object: options.object,
      from: options.since,
    },
  })
  if (ctx.out.json) return ctx.out.document(page)
  if (page.items.length === 0) return ctx.out.line('no audit records')
  ctx.out.table([
    ['SEQ', 'TIME', 'ACTOR', 'ACTION', 'OBJECT', 'OUTCOME'],
    ...page.items.map((r) => [String(r.sequence), r.recordedAt, r.actor, r.action, r.object, r.outcome]),
  ])
}
