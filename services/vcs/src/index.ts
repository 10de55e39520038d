import type { CiSettings, Envelope } from '@rxt/contracts'
import { WebhookKeyField } from '@rxt/contracts/webhooks'
import { defineContext, InputError, perContext } from '@rxt/kit'
import Type from 'typebox'
import { vcsRoutes } from './routes.ts'
import { createVcs, type VcsConfig } from './service.ts'

/** One vcs per context database: routes, handlers and jobs share it. */
const vcsOf = perContext(createVcs)

interface ProjectCreated {
  projectId: string
  repo: string | null
  deployBranches?: string[]
  webhookGeneration?: number
  deployTags?: boolean
  reportBranchDeletions?: boolean
  ci?: CiSettings | null
}
interface ProjectUpdated {
  projectId: string
  after: {
    repository?: string | null
    deployBranches?: string[]
    webhookGeneration?: number
    deployTags?: boolean
    reportBranchDeletions?: boolean
    ci?: CiSettings | null
    deletedAt?: string | null
  }
}

/** GitHub webhooks: deliveries checked, kept and turned into events. */
export const vcs = defineContext<VcsConfig>({
  name: 'vcs',
  description: 'GitHub webhooks: signatures, deliveries, pushes and pull requests',
  config: Type.Object({ WEBHOOK_KEY: WebhookKeyField }),
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => vcsRoutes(vcsOf(deps))(app),
  handlers: (deps) => [
    {
      id: 'project-routes',
      types: ['evt.project.created', 'evt.project.updated'],
      handle: async (message: Envelope, { tx }) => {
        const orgId = message.tenantId as string
        if (message.type === 'evt.project.created') {
          const data = message.data as ProjectCreated
          await vcsOf(deps).projectChanged(tx, {
            projectId: data.projectId,
            orgId,
            repository: data.repo,
            ...(data.deployBranches === undefined ? {} : { deployBranches: data.deployBranches }),
            ...(data.webhookGeneration === undefined ? {} : { webhookGeneration: data.webhookGeneration }),
            ...(data.deployTags === undefined ? {} : { deployTags: data.deployTags }),
            ...(data.reportBranchDeletions === undefined
              ? {}
              : { reportBranchDeletions: data.reportBranchDeletions }),
            ...(data.ci === undefined ? {} : { ci: data.ci }),
            live: true,
          })
          return
        }
        const { projectId, after } = message.data as ProjectUpdated
        await vcsOf(deps).projectChanged(tx, {
          projectId,
          orgId,
          ...(after.repository === undefined ? {} : { repository: after.repository }),
          ...(after.deployBranches === undefined ? {} : { deployBranches: after.deployBranches }),
          ...(after.webhookGeneration === undefined ? {} : { webhookGeneration: after.webhookGeneration }),
          ...(after.deployTags === undefined ? {} : { deployTags: after.deployTags }),
          ...(after.reportBranchDeletions === undefined
            ? {}
            : { reportBranchDeletions: after.reportBranchDeletions }),
          ...(after.ci === undefined ? {} : { ci: after.ci }),
          ...(after.deletedAt === undefined ? {} : { live: after.deletedAt === null }),
        })
      },
    },
  ],
  // Deliveries beyond each project's newest 1,000 go every 10 minutes, not in each delivery's transaction.
  jobs: (deps) => [{ name: 'prune-deliveries', everyMs: 600_000, run: () => vcsOf(deps).prune() }],
  start: (deps) => {
    if (deps.config.WEBHOOK_KEY === undefined) {
      throw new InputError(
        'WEBHOOK_KEY is not set: vcs needs it to check the signatures of webhook deliveries',
      )
    }
  },
})
export { createVcs, type Vcs } from './service.ts'
