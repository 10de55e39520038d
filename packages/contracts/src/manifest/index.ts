export {
  Compliance,
  DeployManifest,
  deployManifestJsonSchema,
  ManifestOverride,
  manifestApiVersions,
  manifestKind,
} from './deploy-manifest.ts'
export {
  loadManifest,
  type ManifestResult,
  type ManifestViolation,
  maxManifestBytes,
} from './load-manifest.ts'
export { canonical, canonicalManifest, manifestDigest } from './manifest-digest.ts'
