import { describe, expect, it } from 'vitest'
import { routeOfCreated, routeOfUpdate } from './project-routes.ts'

describe("a project's route from the registry's events", () => {
  it('takes a created project as live, with what it was created with', () => {
    expect(
      routeOfCreated('org-1', {
        projectId: 'p-1',
        slug: 'shop',
        name: 'Shop',
        repo: 'acme/shop',
        createdBy: 'u-1',
        deployBranches: ['main', 'release'],
        webhookGeneration: 1,
        ci: { workflow: 'build.yml', image: 'ghcr.io/acme/shop' },
      }),
    ).toEqual({
      projectId: 'p-1',
      orgId: 'org-1',
      repository: 'acme/shop',
      deployBranches: ['main', 'release'],
      webhookGeneration: 1,
      ci: { workflow: 'build.yml', image: 'ghcr.io/acme/shop' },
      live: true,
    })
  })

  it('changes only what an update changed, and a delete or restore flips live', () => {
    const update = { projectId: 'p-1', envIds: [], updatedBy: 'user:u-1' }
    expect(
      routeOfUpdate('org-1', {
        ...update,
        changed: ['repository', 'deployTags'],
        before: { repository: 'acme/shop', deployTags: false },
        after: { repository: null, deployTags: true },
      }),
    ).toEqual({ projectId: 'p-1', orgId: 'org-1', repository: null, deployTags: true })
    const deleted = routeOfUpdate('org-1', {
      ...update,
      changed: ['deletedAt'],
      before: { deletedAt: null },
      after: { deletedAt: '2026-03-01T12:00:00Z' },
    })
    expect(deleted.live).toBe(false)
    const restored = routeOfUpdate('org-1', {
      ...update,
      changed: ['deletedAt'],
      before: { deletedAt: '2026-03-01T12:00:00Z' },
      after: { deletedAt: null },
    })
    expect(restored.live).toBe(true)
  })
})
