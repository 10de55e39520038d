export {
  actorOf,
  BuiltinRole,
  builtinRoles,
  type Decision,
  decide,
  isBuiltinRole,
  isPermission,
  isServicePermission,
  Permission,
  type Principal,
  permissions,
  type Requirement,
  rolePermissions,
  servicePermissions,
} from './auth/access.ts'
export { type Authenticator, guardRoutes, orgHeader, principalOf, tenantOf } from './auth/guard.ts'
export { createRemoteAuthenticator, type WhoAmI, WhoAmISchema, whoAmI } from './auth/remote.ts'
export * from './bus/index.ts'
export { type Cache, lazyCache } from './cache.ts'
export { type Clock, systemClock } from './clock.ts'
export { CoreConfig, composeConfigSchema, expects, LogLevel, parseConfig } from './config.ts'
export {
  type ContextDefinition,
  type ContextDeps,
  type ContextJob,
  defineContext,
  perContext,
  type RuntimeInfo,
} from './context.ts'
export {
  type CommitQueue,
  type CommitQueueOptions,
  type ContextDb,
  createCommitQueue,
  type Database,
  type DatabaseKind,
  type DatabaseTarget,
  loadMigrations,
  type Migration,
  migration,
  type OpenContextOptions,
  openDatabase,
  pgliteVersion,
  preparePGliteTemplate,
  type Queryable,
  type QueryResult,
  type Row,
  roleOf,
  type Transaction,
} from './db/index.ts'
export {
  AuthenticationError,
  assertNever,
  ConflictError,
  ErrorCode,
  InputError,
  invalidDocument,
  isKitError,
  type KitError,
  NotAllowedError,
  NotFoundError,
  UnavailableError,
  type Violation,
} from './errors.ts'
export {
  createExtensionPoint,
  type Extension,
  type ExtensionPoint,
  type Extensions,
  extension,
  extensionsOf,
} from './extensions.ts'
export { createHttpApp, type HttpApp, type HttpAppOptions, type ReadinessCheck } from './http/app.ts'
export {
  type AuditWriter,
  auditRequests,
  auditWritten,
  requestAuditedType,
  successAuditOf,
} from './http/audit.ts'
export { Problem, problemContentType, problemResponse, problemResponses, toProblem } from './http/problem.ts'
export { newId } from './ids.ts'
export { createLogger, type Logger, type LoggerOptions, redactPaths } from './log.ts'
export {
  type PeerCall,
  type PeerRequest,
  type PeerResponse,
  type PeersOf,
  peerAnswer,
  remotePeer,
} from './peers.ts'
export {
  applyEmbeddedMigrations,
  embeddedMigrations,
  migrationsDigest,
  type Runtime,
  type RuntimeOptions,
  type SchemaMigrations,
  startRuntime,
} from './runtime.ts'
export * from './saga/index.ts'
export { currentScope, type Scope, withScope } from './scope.ts'
