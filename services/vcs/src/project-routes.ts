import type { ProjectCreated, ProjectUpdated } from '@rxt/contracts'

/** What vcs learns of a project from the registry's events; an undefined field is left as it is. */
export interface ProjectRouteChange {
  readonly projectId: string
  readonly orgId: string
  /** owner/name; null: none linked. */
  readonly repository?: string | null | undefined
  readonly deployBranches?: readonly string[] | undefined
  readonly webhookGeneration?: number | undefined
  readonly deployTags?: boolean | undefined
  readonly reportBranchDeletions?: boolean | undefined
  /** null: the project names no CI. */
  readonly ci?: { readonly workflow: string; readonly image: string } | null | undefined
  /** false once the project is deleted. */
  readonly live?: boolean | undefined
}

/** A project as evt.project.created announces it: live, with what it was created with. */
export const routeOfCreated = (orgId: string, project: ProjectCreated): ProjectRouteChange => ({
  projectId: project.projectId,
  orgId,
  repository: project.repo,
  deployBranches: project.deployBranches,
  webhookGeneration: project.webhookGeneration,
  deployTags: project.deployTags,
  reportBranchDeletions: project.reportBranchDeletions,
  ci: project.ci,
  live: true,
})

/** What evt.project.updated changed of a project's route (its `after`); a delete or restore flips `live`. */
export const routeOfUpdate = (orgId: string, update: ProjectUpdated): ProjectRouteChange => {
  const { after } = update
  return {
    projectId: update.projectId,
    orgId,
    repository: after.repository,
    deployBranches: after.deployBranches,
    webhookGeneration: after.webhookGeneration,
    deployTags: after.deployTags,
    reportBranchDeletions: after.reportBranchDeletions,
    ci: after.ci,
    live: after.deletedAt === undefined ? undefined : after.deletedAt === null,
  }
}
