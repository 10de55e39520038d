export { type AsyncApiOptions, asyncApiDocument, sampleEnvelope } from './asyncapi.ts'
export { catalog, contracts } from './catalog.ts'
export { compatibilityProblems } from './compatibility.ts'
export { defineMessage } from './define-message.ts'
export {
  createCatalog,
  Envelope,
  type MessageCatalog,
  type MessageContract,
  MessageKind,
  type MessageOf,
  messageTypePattern,
  type PayloadOf,
} from './envelope.ts'
export {
  artifactRefField,
  cidrField,
  closedObject,
  closedRecord,
  commitShaField,
  DnsSettings,
  digestField,
  hostnameField,
  idField,
  ipAddressField,
  labelField,
  nameField,
  Platform,
  PlatformPreference,
  platformField,
  platformPreferenceField,
  portField,
  providerField,
  repoFullNameField,
  secretRefField,
  slugField,
  TlsSettings,
  textField,
  timestampField,
  urlField,
} from './fields.ts'
export { canonicalJson, type JSONSchema, toJsonSchema } from './json-schema.ts'
export { messageTable } from './message-table.ts'
export * from './messages/access.ts'
export * from './messages/deploy.ts'
export * from './messages/operations.ts'
export * from './messages/placement.ts'
export * from './messages/policy.ts'
export * from './messages/provisioning.ts'
export * from './messages/routing.ts'
export * from './messages/runners.ts'
export * from './messages/sddc.ts'
export * from './messages/source.ts'
export * from './messages/spot.ts'
export * from './messages/vm.ts'
export {
  Autoscaling,
  DeployPlan,
  DeployRequest,
  deployPlanFixture,
  NetworkSpec,
  Port,
  ProviderSettings,
  ProvisionRequest,
} from './plan/deploy-plan.ts'
export {
  parseSnapshotFileName,
  planSnapshots,
  type SnapshotPlan,
  snapshotCommand,
  snapshotFileName,
  snapshotFindings,
  snapshotText,
} from './snapshots.ts'
export { type Violation, validateEnvelope, validatePayload, violations } from './validate.ts'
