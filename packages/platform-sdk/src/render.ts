import type { DeployPlan, Platform } from '@rxt/contracts'
import { createExtensionPoint } from '@rxt/kit'

/** A platform object as plain JSON: a Kubernetes object, or a VM-side primitive. */
export type PlatformObject = Record<string, unknown>

/**
 * What a plan becomes on its platform: the objects each step applies, in order, and lines that tell
 * a person what they are.
 */
export interface RenderedPlan {
  /** What provisioning the environment applies (a namespace and its guards; a VM folder, segment, firewall). */
  readonly environment: readonly PlatformObject[]
  /** What deploying the application applies (the workload and what serves it in the environment). */
  readonly workload: readonly PlatformObject[]
  /** What configuring the network applies (ingress, load balancer, certificate). */
  readonly network: readonly PlatformObject[]
  readonly summary: readonly string[]
}

/**
 * The one renderer of a platform family: a pure function from a plan to the objects the family's
 * adapter applies. The adapter applies what it renders, and the router's preview renders with it.
 */
export interface PlanRenderer {
  readonly platform: Platform
  render(plan: DeployPlan): RenderedPlan
}

/** Where adapters contribute their family's renderer (a context's `extensions`). */
export const planRenderers = createExtensionPoint<PlanRenderer>('platform-sdk.plan-renderer')

/** Every object of a rendered plan, in the order the steps apply them. */
export const renderedObjects = (rendered: RenderedPlan): PlatformObject[] => [
  ...rendered.environment,
  ...rendered.workload,
  ...rendered.network,
]

/** The renderer of a family among those contributed, or undefined when no adapter of this build renders it. */
export const rendererFor = (
  renderers: readonly PlanRenderer[],
  platform: Platform,
): PlanRenderer | undefined => renderers.find((r) => r.platform === platform)
