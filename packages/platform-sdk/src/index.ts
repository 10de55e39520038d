export { checkPlan, checkRequest } from './check-request.ts'
export {
  type Answer,
  type Answers,
  healthReport,
  laterAnswers,
  type RolloutOptions,
  runDestroy,
  runNetwork,
  runProvision,
  runRollout,
  runVerify,
  type VerifyOptions,
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
export { type DeliveredSecret, deliverSecrets, type SecretsDelivery } from './deliver-secrets.ts'
export { applyEnvironment, overriddenFields, overridesFrom } from './environment.ts'
export { conformanceRequests } from './fixtures.ts'
export { createLedger, type Ledger } from './ledger.ts'
export {
  Annotation,
  dnsLabel,
  environmentName,
  Label,
  labelValue,
  managedBy,
  maxPortNameLength,
  maxWorkloadNameLength,
  named,
  ownerLabels,
  platformName,
  portName,
  secretKeyRef,
  secretName,
  serviceName,
  shortHash,
  workloadName,
} from './names.ts'
export {
  defaultProviderFiles,
  loadProviderManifest,
  ProviderManifest,
  providerApiVersions,
} from './provider-manifest.ts'
export {
  defaultCpu,
  defaultMemoryMiB,
  formatUsd,
  mibToGiB,
  parseBytesMiB,
  parseCpu,
} from './quantities.ts'
export {
  type PlanRenderer,
  type PlatformObject,
  planRenderers,
  type RenderedPlan,
  renderedObjects,
  rendererFor,
} from './render.ts'
export { describeWorkload, hoursPerMonth, type Preference, type Workload } from './workload.ts'
