import { DeployPlan } from '@rxt/contracts'
import type { DeployManifest, ManifestOverride } from '@rxt/contracts/manifest'
import {
  checkPlan,
  overriddenFields,
  type PlanRenderer,
  type PlatformObject,
  type ProviderManifest,
} from '@rxt/platform-sdk'
import { Compile } from 'typebox/compile'
import { ciImagePlaceholder } from './plan.ts'

const planValidator = Compile(DeployPlan)

/**
 * Why a plan cannot be sent, one line per problem (`/deploy/replicas must be …`): what the
 * deployment asks is outside what the SDK's calls take. Empty when it can.
 */
export function planProblems(plan: DeployPlan): string[] {
  if (!planValidator.Check(plan))
    return [...planValidator.Errors(plan)].slice(0, 10).map((e) => `${e.instancePath || '/'} ${e.message}`)
  const broken = checkPlan(plan)
  return broken === undefined ? [] : [broken.message]
}

/** What a deploy.yaml becomes on a provider: the plan, and the objects the adapter would apply of it. */
export interface Preview {
  readonly provider: string
  readonly kind: 'k8s' | 'vm'
  /** A simulated provider: what it creates is not real, and people are told so. */
  readonly simulated: boolean
  readonly plan: DeployPlan
  /** What each step applies, as the adapter's own renderer makes it. */
  readonly steps: { environment: PlatformObject[]; workload: PlatformObject[]; network: PlatformObject[] }
  readonly objects: PlatformObject[]
  readonly summary: string[]
}

/**
 * The preview of a plan: rendered by the renderer of its platform family (the adapter's, through the
 * SDK), with lines for people about the provider, the overrides, the image and the secrets first.
 */
export function previewPlan(
  plan: DeployPlan,
  renderer: PlanRenderer,
  context: {
    readonly provider: ProviderManifest
    readonly manifest: DeployManifest
    readonly overrides: ManifestOverride
  },
): Preview {
  const rendered = renderer.render(plan)
  const { provider } = context
  const kind = provider.spec.capabilities.compute
  const simulated = provider.metadata.simulated
  const fields = overriddenFields(context.manifest, plan.environment, context.overrides)
  const summary = [
    `Provider ${provider.metadata.name} (${kind})${simulated ? ': a simulation, nothing real is created' : ''}`,
    ...(fields.manifest.length > 0
      ? [`Environment ${plan.environment} overrides ${fields.manifest.join(', ')} (spec.environments)`]
      : []),
    ...(fields.stored.length > 0
      ? [`Environment ${plan.environment} overrides ${fields.stored.join(', ')} (stored on the environment)`]
      : []),
    ...(plan.deploy.image === ciImagePlaceholder(plan.projectId, plan.deploy.app)
      ? [`Image: ${plan.deploy.image} stands for the image CI builds for the commit (spec.build.fromCi)`]
      : []),
    ...plan.deploy.secrets.map(
      (s) => `Secret ${s.env} from ${s.ref} (a reference; the value is filled in at deploy time)`,
    ),
    ...rendered.summary,
  ]
  const steps = {
    environment: [...rendered.environment],
    workload: [...rendered.workload],
    network: [...rendered.network],
  }
  return {
    provider: provider.metadata.name,
    kind,
    simulated,
    plan,
    steps,
    objects: [...steps.environment, ...steps.workload, ...steps.network],
    summary,
  }
}
