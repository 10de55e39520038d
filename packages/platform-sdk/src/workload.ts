import type { DeployManifest } from '@rxt/contracts/manifest'
import { defaultCpu, defaultMemoryMiB, mibToGiB, parseBytesMiB, parseCpu } from './quantities.ts'

/** `platform.preference` of deploy.yaml; `auto` when the manifest names none. */
export type Preference = 'auto' | 'vm' | 'container'

/** What one deploy.yaml asks of a platform, in numbers: the shared input of placement and of plans. */
export interface Workload {
  readonly app: string
  readonly preference: Preference
  /** vCPUs per replica (`resources.cpu`, else {@link defaultCpu}). */
  readonly cpu: number
  /** MiB of memory per replica (`resources.memory`, else {@link defaultMemoryMiB}). */
  readonly memoryMiB: number
  /** MiB of ephemeral storage per replica, when `resources.storage` asks for some. */
  readonly ephemeralMiB: number | null
  /** Replicas at rest: `spec.replicas`, raised to `autoscaling.minReplicas` when that is higher. */
  readonly replicas: number
  /** The most replicas that may run: the larger of `spec.replicas` and `autoscaling.maxReplicas`. */
  readonly maxReplicas: number
  /** GiB of all `spec.volumes` together. */
  readonly volumeGiB: number
}

/** Hours in a month, as cloud price lists count them (8760 / 12). */
export const hoursPerMonth = 730

/** Reads the numbers of a workload out of a (loaded, override-applied) deploy.yaml. */
export function describeWorkload(manifest: DeployManifest): Workload {
  const { spec } = manifest
  const replicas = Math.max(spec.replicas, spec.autoscaling?.minReplicas ?? 0)
  return {
    app: manifest.metadata.name,
    preference: spec.platform?.preference ?? 'auto',
    cpu: spec.resources?.cpu === undefined ? defaultCpu : parseCpu(spec.resources.cpu),
    memoryMiB: spec.resources?.memory === undefined ? defaultMemoryMiB : parseBytesMiB(spec.resources.memory),
    ephemeralMiB: spec.resources?.storage === undefined ? null : parseBytesMiB(spec.resources.storage),
    replicas,
    maxReplicas: Math.max(spec.replicas, spec.autoscaling?.maxReplicas ?? 0),
    volumeGiB: mibToGiB((spec.volumes ?? []).reduce((sum, v) => sum + parseBytesMiB(v.size), 0)),
  }
}
