import { createYamlLoader, type YamlViolation } from '../yaml-document.ts'
import { DeployManifest, manifestApiVersions } from './deploy-manifest.ts'

/** The largest deploy.yaml read: far above any real one, small enough to refuse at once. */
export const maxManifestBytes = 256 * 1024

/** A problem with a manifest: the JSON pointer of the value, and where the YAML says it. */
export type ManifestViolation = YamlViolation

export type ManifestResult =
  | { readonly ok: true; readonly manifest: DeployManifest }
  | { readonly ok: false; readonly violations: readonly ManifestViolation[] }

const load = createYamlLoader<typeof DeployManifest, DeployManifest>({
  fileName: 'deploy.yaml',
  schema: DeployManifest,
  maxBytes: maxManifestBytes,
  apiVersions: manifestApiVersions,
  topLevel: 'apiVersion, kind, metadata, spec',
  check: (manifest) => {
    const ranges = [
      { path: '/spec/autoscaling', autoscaling: manifest.spec.autoscaling },
      ...Object.entries(manifest.spec.environments ?? {}).map(([name, o]) => ({
        path: `/spec/environments/${name}/autoscaling`,
        autoscaling: o.autoscaling,
      })),
    ]
    return ranges.flatMap(({ path, autoscaling }) =>
      autoscaling !== undefined && autoscaling.minReplicas > autoscaling.maxReplicas
        ? [
            {
              path: `${path}/minReplicas`,
              message: `is ${autoscaling.minReplicas}, above maxReplicas (${autoscaling.maxReplicas})`,
            },
          ]
        : [],
    )
  },
})

/** Reads a deploy.yaml (see createYamlLoader for the guards). Never throws on any input. */
export function loadManifest(text: string): ManifestResult {
  const result = load(text)
  return result.ok ? { ok: true, manifest: result.value } : result
}
