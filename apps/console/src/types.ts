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

/** A VM of the organisation (services/vms, GET /v1/vms and /v1/vms/{vmId}). */
export interface Vm {
  readonly vmId: string
  readonly name: string | null
  readonly envId: string | null
  readonly deploymentId: string | null
  readonly host: string | null
  readonly powerState: 'on' | 'off' | 'unknown'
  readonly spec: {
    readonly cpu: number
    readonly memoryMiB: number
    readonly diskGiB: number
    readonly guestOs: string
  } | null
  readonly ipAddresses: readonly string[]
  readonly tags: readonly string[]
  readonly createdAt: string | null
  readonly startedAt: string | null
  readonly stoppedAt: string | null
  readonly stopReason: string | null
  readonly lastMigration: {
    readonly fromHost: string
    readonly toHost: string
    readonly startedAt: string
    readonly completedAt: string
  } | null
  readonly lastEventAt: string
}

export interface VmHistoryItem {
  readonly messageId: string
  readonly type: string
  readonly occurredAt: string
  readonly publishedAt: string
  readonly data: Readonly<Record<string, unknown>>
}

export interface MetricPoint {
  readonly at: string
  readonly avg: number
  readonly max: number
  readonly sum: number
  readonly samples: number
}

export interface MetricSeries {
  readonly name: string
  readonly unit: 'percent' | 'bytes'
  readonly points: readonly MetricPoint[]
}

export interface VmMetrics {
  readonly vmId: string
  readonly stepSeconds: number
  readonly series: readonly MetricSeries[]
}

export interface Migration {
  readonly id: string
  readonly vmId: string
  readonly fromHost: string | null
  readonly toHost: string
  readonly status: 'requested' | 'completed' | 'failed'
  readonly requestedBy: string
  readonly requestedAt: string
  readonly finishedAt: string | null
  readonly reason: string | null
  readonly retryable: boolean | null
}

export interface Alert {
  readonly id: string
  readonly ruleId: string
  readonly ruleName: string
  readonly kind: 'threshold' | 'powered-off'
  readonly vmId: string
  readonly state: 'firing' | 'resolved'
  readonly firstSeen: string
  readonly resolvedAt: string | null
  readonly value: number | null
  readonly detail: string
}

export interface AlertRule {
  readonly id: string
  readonly name: string
  readonly kind: 'threshold' | 'powered-off'
  readonly metric?: 'cpu' | 'memory' | 'disk'
  readonly above?: number
  readonly forSeconds?: number
  readonly envId: string | null
  readonly createdBy: string
  readonly createdAt: string
}
