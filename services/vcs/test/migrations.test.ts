// The migration that made claims verifiable keeps verified the projects a signed ping already reached:
// their webhooks do not ping again by themselves.
import { randomUUID } from 'node:crypto'
import { loadMigrations } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const migrations = await loadMigrations(new URL('../migrations/', import.meta.url))
const before = migrations.filter((m) => m.version < 3)

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`vcs migrations on ${target.name}`, () => {
    let handle: TestDatabase
    beforeAll(async () => {
      handle = await target.create()
    })
    afterAll(async () => {
      await handle?.dispose()
    })

    it('keeps verified the projects whose ping was published, in every organisation, and no other', async () => {
      const old = await handle.database.openContext('vcs', before)
      const [orgA, orgB] = [randomUUID(), randomUUID()]
      const project = (orgId: string) => ({ orgId, projectId: randomUUID() })
      const [pinged, pushedOnly, pingIgnored, otherOrg] = [
        project(orgA),
        project(orgA),
        project(orgA),
        project(orgB),
      ]
      for (const p of [pinged, pushedOnly, pingIgnored, otherOrg])
        await old.query(
          `INSERT INTO project_routes (project_id, org_id, repository, deploy_branches, webhook_generation, live)
           VALUES ($1, $2, 'acme/shop', '{main}', 1, true)`,
          [p.projectId, p.orgId],
        )
      const delivery = (p: { orgId: string; projectId: string }, event: string, outcome: string) =>
        old.withTenant(p.orgId, (tx) =>
          tx.query(
            `INSERT INTO deliveries (id, org_id, project_id, delivery_id, body_digest, event, outcome, detail)
             VALUES ($1, $2, $3, $4, $4, $5, $6, 'then')`,
            [randomUUID(), p.orgId, p.projectId, randomUUID(), event, outcome],
          ),
        )
      await delivery(pinged, 'ping', 'published')
      await delivery(pushedOnly, 'push', 'published')
      await delivery(pingIgnored, 'ping', 'ignored')
      await delivery(otherOrg, 'ping', 'published')

      const migrated = await handle.database.openContext('vcs', migrations)
      const { rows } = await migrated.query<{ project_id: string; verified: boolean }>(
        'SELECT project_id, verified_at IS NOT NULL AS verified FROM project_routes',
      )
      const verified = Object.fromEntries(rows.map((r) => [r.project_id, r.verified]))
      expect(verified).toEqual({
        [pinged.projectId]: true,
        [pushedOnly.projectId]: false,
        [pingIgnored.projectId]: false,
        [otherOrg.projectId]: true,
      })
    })
  })
}
