// The shapes of the /v1 answers the console reads (docs/openapi.json), the fields it uses.

export interface Me {
  readonly id: string
  readonly email: string
  readonly name: string
  readonly operator: boolean
  readonly orgs: readonly { readonly id: string; readonly name: string; readonly role: string }[]
}

export interface Project {
  readonly id: string
  readonly slug: string
  readonly name: string
  readonly repository: string | null
  readonly repositoryVerifiedAt: string | null
  readonly webhookUrl: string
  readonly deployBranches: readonly string[]
  readonly createdAt: string
}

export interface Environment {
  readonly id: string
  readonly projectId: string
  readonly name: string
  readonly type: string
  readonly promotionOrder: number
}

export interface Failure {
  readonly step: string | null
  readonly code: string
  readonly reason: string
}

export interface Step {
  readonly name: string
  readonly status: string
  readonly attempts: number
  readonly startedAt: string | null
  readonly endedAt: string | null
  readonly reason: string | null
}

export interface Deployment {
  readonly id: string
  readonly kind: 'deploy' | 'destroy'
  readonly trigger: string
  readonly sourceDeploymentId: string | null
  readonly requestedBy: string | null
  readonly current: boolean
  readonly succeededAt: string | null
  readonly projectId: string
  readonly envId: string
  readonly environment: string
  readonly commitSha: string | null
  readonly artifactRef: string
  readonly manifestDigest: string
  readonly status: string
  readonly step: string | null
  readonly platform: string | null
  readonly provider: string | null
  readonly urls: readonly string[]
  readonly failure: Failure | null
  readonly compensationFailures: readonly {
    readonly step: string
    readonly code: string
    readonly reason: string
  }[]
  readonly createdAt: string
  readonly updatedAt: string
  readonly steps?: readonly Step[]
}

export interface Items<T> {
  readonly items: readonly T[]
  readonly next?: string | null
}

export const terminal = new Set(['ready', 'failed', 'cancelled', 'replaced', 'destroyed', 'superseded'])
