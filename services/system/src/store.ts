import type { Queryable, RuntimeInfo } from '@rxt/kit'

export interface Boot {
  readonly instanceId: string
  readonly startedAt: string
  readonly version: string
  readonly mode: string
  readonly contexts: string[]
}

interface BootRow extends Record<string, unknown> {
  instance_id: string
  started_at: Date | string
  version: string
  mode: string
  contexts: string[]
}

const toBoot = (row: BootRow): Boot => ({
  instanceId: row.instance_id,
  startedAt: new Date(row.started_at).toISOString(),
  version: row.version,
  mode: row.mode,
  contexts: row.contexts,
})

/** SQL on the system schema only. */
export function createSystemStore(db: Queryable) {
  return {
    async recordBoot(info: RuntimeInfo): Promise<void> {
      await db.query(
        'INSERT INTO boots (instance_id, started_at, version, mode, contexts) VALUES ($1, $2, $3, $4, $5)',
        [info.instanceId, info.startedAt.toISOString(), info.version, info.mode, [...info.contexts]],
      )
    },
    async countBoots(): Promise<{ count: number; first: Boot | undefined }> {
      const { rows } = await db.query<{ count: string }>('SELECT count(*)::text AS count FROM boots')
      const first = await db.query<BootRow>(
        'SELECT * FROM boots ORDER BY started_at ASC, instance_id LIMIT 1',
      )
      const row = first.rows[0]
      return { count: Number(rows[0]?.count ?? 0), first: row === undefined ? undefined : toBoot(row) }
    },
    async recentBoots(limit: number): Promise<Boot[]> {
      const { rows } = await db.query<BootRow>(
        'SELECT * FROM boots ORDER BY started_at DESC, instance_id LIMIT $1',
        [limit],
      )
      return rows.map(toBoot)
    },
  }
}
