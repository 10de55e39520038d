import type { DeployManifest } from '@rxt/contracts/manifest'
import type { ProviderManifest } from '@rxt/platform-sdk'
import {
  ciImagePlaceholder,
  missingImagePlaceholder,
  overriddenFields,
  type Target,
  translationContext,
} from './context.ts'
import { translateToKubernetes } from './translate-k8s.ts'
import { translateToVms } from './translate-vm.ts'

export { applyEnvironment, ciImagePlaceholder, missingImagePlaceholder, type Target } from './context.ts'

/** What deploy.yaml becomes on one provider: the objects it would create, in order, and a summary for people. */
export interface Translation {
  readonly provider: string
  readonly kind: 'k8s' | 'vm'
  /** A simulated provider: what it creates is not real, and people are told so. */
  readonly simulated: boolean
  readonly objects: readonly Record<string, unknown>[]
  readonly summary: string[]
}

/** The secrets a manifest refers to, as summary lines: references only; values never reach the router. */
function secretLines(manifest: DeployManifest): string[] {
  return Object.entries(manifest.spec.secrets ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, ref]) => `Secret ${name} from ${ref} (a reference; the value is filled in at deploy time)`)
}

/**
 * Translates a deploy.yaml into the primitives of the provider's platform (Kubernetes objects for
 * `k8s`, VM-side primitives for `vm`) after applying the target environment's overrides, so that a
 * person sees exactly what would be created. Pure and deterministic: same input, same output.
 */
export function translate(manifest: DeployManifest, provider: ProviderManifest, target: Target): Translation {
  const ctx = translationContext(manifest, target)
  const kind = provider.spec.capabilities.compute
  const translated = kind === 'k8s' ? translateToKubernetes(ctx) : translateToVms(ctx)
  const simulated = provider.metadata.simulated
  const overrides = overriddenFields(manifest, target.environment)

  const summary = [
    `Provider ${provider.metadata.name} (${kind})${simulated ? ': a simulation, nothing real is created' : ''}`,
    ...(overrides.length > 0 ? [`Environment ${target.environment} overrides ${overrides.join(', ')}`] : []),
    ...(ctx.image === ciImagePlaceholder
      ? [`Image: ${ciImagePlaceholder}, known once CI has built it (spec.build.fromCi)`]
      : []),
    ...(ctx.image === missingImagePlaceholder ? ['No image: set spec.image or spec.build.fromCi'] : []),
    ...translated.summary,
    ...secretLines(ctx.manifest),
  ]
  return { provider: provider.metadata.name, kind, simulated, objects: translated.objects, summary }
}
