export {
  type AppliedNetwork,
  applyEnvironmentNetwork,
  defaultClientSslProfilePath,
  defaultHttpProfilePath,
  desiredObjects,
  destroyEnvironmentNetwork,
  type EnvironmentNetworkSpec,
  environmentIds,
  type FirewallRuleSpec,
  isUpToDate,
  type LoadBalancerSpec,
  listEnvironmentNetwork,
  type NetworkObject,
  type NetworkRealization,
  networkRealization,
  pathOf,
  specProblems,
} from './environment-network.ts'
export {
  belongsTo,
  type EnvironmentRef,
  environmentQuery,
  environmentTags,
  escapeSearchTerm,
  managedByTag,
  TagScope,
} from './environment-tags.ts'
export {
  createNsxClient,
  type NsxClient,
  type NsxClientOptions,
  type NsxCredentials,
  type NsxObject,
} from './nsx-client.ts'
export { codeOfStatus, NsxError, scrub } from './nsx-error.ts'
export * as wire from './wire.ts'
