import type { DeployManifest } from '@rxt/contracts/manifest'
import { labelValue, platformName } from '@rxt/platform-sdk'
import { describeWorkload, type Workload } from './workload.ts'

export { dnsLabel, labelValue, named, shortHash } from '@rxt/platform-sdk'

/** A Kubernetes object, or a VM-side primitive, as plain JSON. */
export type PlatformObject = Record<string, unknown>

/** The platform objects of one translation and the lines that tell a person what they are. */
export interface Translated {
  readonly objects: PlatformObject[]
  readonly summary: string[]
}

/** Where a translation lands: the tenant, project and environment (its id and its name). */
export interface Target {
  readonly tenantId: string
  readonly projectId: string
  readonly envId: string
  /** The environment's name: the key of `spec.environments` whose overrides apply. */
  readonly environment: string
}

/** The image when `spec.build.fromCi` asks for the one CI built: known only when the deploy runs. */
export const ciImagePlaceholder = '<the image CI built for the commit>'

/** The image when deploy.yaml names neither `spec.image` nor `spec.build`. */
export const missingImagePlaceholder = '<no image: deploy.yaml sets neither spec.image nor spec.build>'

/** Everything the platform translators share: the effective manifest, its numbers, names and labels. */
export interface TranslationContext {
  readonly manifest: DeployManifest
  readonly workload: Workload
  readonly target: Target
  readonly app: string
  readonly image: string
  /**
   * The environment's platform name, unique per tenant and environment (see {@link platformName}):
   * the namespace, or the VM folder and the prefix of NSX names.
   */
  readonly scope: string
  /** Labels every object carries: tenant, project, environment, app, manager. */
  readonly labels: Readonly<Record<string, string>>
  /** The labels that select the workload's replicas. */
  readonly selector: Readonly<Record<string, string>>
  readonly ports: NonNullable<DeployManifest['spec']['ports']>
  readonly hostnames: readonly string[]
  readonly visibility: 'public' | 'private'
  readonly tls: 'required' | 'optional' | 'off'
}

/** `spec.environments[environment]`, own keys only (an environment named `constructor` finds nothing). */
const overrideFor = (manifest: DeployManifest, environment: string) => {
  const environments = manifest.spec.environments ?? {}
  return Object.hasOwn(environments, environment) ? environments[environment] : undefined
}

/**
 * The manifest as one environment runs it: every top-level field `spec.environments[environment]`
 * names replaces the manifest's own (whole, not merged, as deploy.yaml documents).
 */
export function applyEnvironment(manifest: DeployManifest, environment: string): DeployManifest {
  const override = overrideFor(manifest, environment)
  return override === undefined ? manifest : { ...manifest, spec: { ...manifest.spec, ...override } }
}

/** The fields an environment overrides, sorted: what the summary reports. */
export function overriddenFields(manifest: DeployManifest, environment: string): string[] {
  return Object.entries(overrideFor(manifest, environment) ?? {})
    .filter(([, value]) => value !== undefined)
    .map(([key]) => key)
    .sort()
}

/** The image to run: `spec.image`, else a placeholder for the one CI builds, else one that says it is missing. */
export function resolveImage(manifest: DeployManifest): string {
  if (manifest.spec.image !== undefined) return manifest.spec.image
  return manifest.spec.build?.fromCi === true ? ciImagePlaceholder : missingImagePlaceholder
}

/** Builds the shared context from a loaded deploy.yaml, applying the target environment's overrides first. */
export function translationContext(original: DeployManifest, target: Target): TranslationContext {
  const manifest = applyEnvironment(original, target.environment)
  const app = manifest.metadata.name
  const selector = { 'app.kubernetes.io/name': labelValue(app) }
  return {
    manifest,
    workload: describeWorkload(manifest),
    target,
    app,
    image: resolveImage(manifest),
    scope: platformName(app, target.environment, target.tenantId, target.envId),
    labels: {
      ...selector,
      'app.kubernetes.io/managed-by': 'rxt-deploy',
      'rxt.dev/tenant': labelValue(target.tenantId),
      'rxt.dev/project': labelValue(target.projectId),
      'rxt.dev/environment': labelValue(target.envId),
      'rxt.dev/environment-name': labelValue(target.environment),
    },
    selector,
    ports: manifest.spec.ports ?? [],
    hostnames: manifest.spec.network?.hostnames ?? [],
    visibility: manifest.spec.network?.visibility ?? 'private',
    tls: manifest.spec.network?.tls ?? 'required',
  }
}
