import { type DeployManifest, ManifestOverride } from '@rxt/contracts/manifest'
import { Compile } from 'typebox/compile'

/**
 * The environment's overrides of a deploy.yaml, applied: pure, shared by placement (what it weighs)
 * and the router (what it plans), so that both see the same workload.
 */

/** `spec.environments[environment]`, own keys only (an environment named `constructor` finds nothing). */
const manifestOverridesFor = (manifest: DeployManifest, environment: string) => {
  const environments = manifest.spec.environments ?? {}
  return Object.hasOwn(environments, environment) ? environments[environment] : undefined
}

/**
 * The manifest as one environment runs it. Two layers of overrides apply, in this order, each
 * replacing whole top-level fields of `spec` (not merged): first the manifest's own
 * `spec.environments.<name>`, then the overrides stored on the environment in the registry (an
 * operator's word on the running environment wins over what the repository says).
 */
export function applyEnvironment(
  manifest: DeployManifest,
  environment: string,
  stored: ManifestOverride = {},
): DeployManifest {
  const own = manifestOverridesFor(manifest, environment) ?? {}
  const defined = (o: object) => Object.entries(o).filter(([, v]) => v !== undefined)
  const layers = [...defined(own), ...defined(stored)]
  return layers.length === 0
    ? manifest
    : { ...manifest, spec: { ...manifest.spec, ...Object.fromEntries(layers) } }
}

/** The fields each layer overrides, for people: `spec.environments` first, then the stored ones. */
export function overriddenFields(
  manifest: DeployManifest,
  environment: string,
  stored: ManifestOverride = {},
): { manifest: string[]; stored: string[] } {
  const keys = (o: object) =>
    Object.entries(o)
      .filter(([, v]) => v !== undefined)
      .map(([k]) => k)
      .sort()
  return { manifest: keys(manifestOverridesFor(manifest, environment) ?? {}), stored: keys(stored) }
}

const overrideValidator = Compile(ManifestOverride)

/**
 * Overrides as messages carry them (canonical JSON, as the registry validated them), read back; a
 * text that is not valid overrides is refused (undefined), never half-read.
 */
export function overridesFrom(text: string | undefined): ManifestOverride | undefined {
  if (text === undefined) return undefined
  try {
    const value: unknown = JSON.parse(text)
    return overrideValidator.Check(value) ? (value as ManifestOverride) : undefined
  } catch {
    return undefined
  }
}
