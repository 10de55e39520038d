export { checkRequest } from './check-request.ts'
export {
  type Answers,
  fromSddc,
  fromSddcNetwork,
  fromSpot,
  fromSpotNetwork,
  runNetwork,
  runProvision,
} from './commands.ts'
export {
  ComputeKind,
  type ComputePlatform,
  DeploymentOutcome,
  DeployRequest,
  DestroyOutcome,
  DestroyRequest,
  Endpoint,
  EnvironmentOutcome,
  EnvironmentPhase,
  EnvironmentStatus,
  FailureCode,
  failed,
  failure,
  type IComputePlatform,
  NetworkOutcome,
  NetworkSpec,
  type Outcome,
  type PlatformFailure,
  Port,
  Protocol,
  ProvisionRequest,
  ResourceRef,
  ScaleOutcome,
  ScaleSpec,
  succeeded,
} from './compute-platform.ts'
export { conformanceRequests } from './fixtures.ts'
export { loadProviderManifest, ProviderManifest, providerApiVersions } from './provider-manifest.ts'
