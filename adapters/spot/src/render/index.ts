export { environmentObjects } from './environment.ts'
export type { KubeObject } from './kube-object.ts'
export {
  appLabels,
  cpu,
  EnvObject,
  environmentReader,
  environmentSelector,
  memory,
  namespaceOf,
  serviceNames,
} from './names.ts'
export { certificateDuration, hostnamesOf, networkObjects } from './network.ts'
export { renderSpotPlan, requestDigest, spotRenderer } from './plan.ts'
export { SecretAnnotation, secretObject } from './secrets.ts'
export { type ClusterSettings, clusterSettingsOf, defaultClusterSettings } from './settings.ts'
export { autoscalerObject, scaleObjects, workloadObjects } from './workload.ts'
