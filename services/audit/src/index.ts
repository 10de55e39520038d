import { join } from 'node:path'
import { catalog } from '@rxt/contracts'
import { type ContextDeps, defineContext, InputError, perContext } from '@rxt/kit'
import Type from 'typebox'
import { s3Archive } from './archive/s3.ts'
import { type ArchiveSink, filesystemArchive } from './archive.ts'
import { auditRoutes } from './routes.ts'
import { type AuditConfig, createAudit, tappedTypes } from './service.ts'
import { ephemeralSigningKey, parseSigningKey, type SigningKey } from './signing.ts'

const AuditConfigSchema = Type.Object({
  AUDIT_SIGNING_KEY: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'The Ed25519 private key that signs checkpoints: PEM, or base64url of PKCS #8 DER or of a 32-byte seed. No default: required by the distributed mode; `up` keeps one in RXT_DATA_DIR/audit-signing.key.',
    }),
  ),
  AUDIT_CHECKPOINT_EVERY: Type.Integer({
    minimum: 1,
    default: 1000,
    description: "A tenant's chain head is signed every this many records (and each minute it moved).",
  }),
  AUDIT_ARCHIVE_AFTER_DAYS: Type.Integer({
    minimum: 1,
    default: 90,
    description:
      'Months of records older than this many days are moved to the archive (embedded mode: RXT_DATA_DIR/audit-archive, read-only files) and their partitions dropped.',
  }),
  AUDIT_ARCHIVE_S3_ENDPOINT: Type.Optional(
    Type.String({
      pattern: '^https?://',
      description:
        'An S3-compatible object store with Object Lock the archive goes to (objects written once, COMPLIANCE retention until AUDIT_RETAIN_DAYS), in either mode. Unset: files under RXT_DATA_DIR in the embedded mode, none in the distributed mode.',
    }),
  ),
  AUDIT_ARCHIVE_S3_BUCKET: Type.String({
    default: 'rxt-deploy-audit',
    pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
    description: 'The bucket (made with Object Lock when it does not exist; an existing one must have it)',
  }),
  AUDIT_ARCHIVE_S3_REGION: Type.String({ default: 'us-east-1', minLength: 1, description: 'The region' }),
  AUDIT_ARCHIVE_S3_ACCESS_KEY_ID: Type.Optional(
    Type.String({ minLength: 1, description: 'The access key id of the archive store' }),
  ),
  AUDIT_ARCHIVE_S3_SECRET_ACCESS_KEY: Type.Optional(
    Type.String({ minLength: 1, description: 'Its secret access key (a secret)' }),
  ),
  AUDIT_RETAIN_DAYS: Type.Integer({
    minimum: 1,
    default: 2557,
    description:
      'The retain-until date given to the archive for each object: this many days from archiving (7 years).',
  }),
})

const keyOf = (deps: ContextDeps<AuditConfig>): SigningKey => {
  const given = deps.config.AUDIT_SIGNING_KEY
  if (given !== undefined) return parseSigningKey(given)
  if (deps.runtime.mode === 'distributed') {
    throw new InputError(
      'AUDIT_SIGNING_KEY is not set: the audit context signs its checkpoints with it (an Ed25519 private key, PEM or base64url PKCS #8)',
    )
  }
  deps.log.warn('AUDIT_SIGNING_KEY is not set: checkpoints are signed with a key of this process only')
  return ephemeralSigningKey()
}

/**
 * Where old records go: the S3 object store with Object Lock when one is configured; else files beside
 * the data in the embedded mode; else (distributed, none configured) nowhere: they stay in the database.
 */
const archiveOf = (deps: ContextDeps<AuditConfig>): ArchiveSink | undefined => {
  const c = deps.config
  if (c.AUDIT_ARCHIVE_S3_ENDPOINT !== undefined) {
    if (c.AUDIT_ARCHIVE_S3_ACCESS_KEY_ID === undefined || c.AUDIT_ARCHIVE_S3_SECRET_ACCESS_KEY === undefined)
      throw new InputError(
        'AUDIT_ARCHIVE_S3_ENDPOINT is set but its credentials are not: set AUDIT_ARCHIVE_S3_ACCESS_KEY_ID and AUDIT_ARCHIVE_S3_SECRET_ACCESS_KEY',
      )
    return s3Archive({
      endpoint: c.AUDIT_ARCHIVE_S3_ENDPOINT,
      region: c.AUDIT_ARCHIVE_S3_REGION,
      bucket: c.AUDIT_ARCHIVE_S3_BUCKET,
      credentials: {
        accessKeyId: c.AUDIT_ARCHIVE_S3_ACCESS_KEY_ID,
        secretAccessKey: c.AUDIT_ARCHIVE_S3_SECRET_ACCESS_KEY,
      },
    })
  }
  return deps.runtime.mode === 'embedded'
    ? filesystemArchive(join(c.RXT_DATA_DIR, 'audit-archive'))
    : undefined
}

/** One audit per context database: routes, handlers and jobs share it. */
const auditOf = perContext((deps: ContextDeps<AuditConfig>) =>
  createAudit({
    db: deps.db,
    log: deps.log,
    clock: deps.clock,
    key: keyOf(deps),
    checkpointEvery: deps.config.AUDIT_CHECKPOINT_EVERY,
    publish: (tx, message) => deps.bus.publish(tx, message),
    archive: archiveOf(deps),
    archiveAfterDays: deps.config.AUDIT_ARCHIVE_AFTER_DAYS,
    retainDays: deps.config.AUDIT_RETAIN_DAYS,
  }),
)

/** The tamper-evident audit trail: every event and every mutating request, chained per tenant. */
export const audit = defineContext<AuditConfig>({
  name: 'audit',
  description:
    'The audit trail: a hash chain per tenant of every event and mutating request, signed checkpoints',
  config: AuditConfigSchema,
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => auditRoutes(auditOf(deps))(app),
  handlers: (deps) => [
    // Raw: it records every event of the catalog as it is, whatever its payload.
    {
      id: 'tap',
      types: tappedTypes(catalog.messages.keys()),
      handle: (message, context) => auditOf(deps).tap(message, context),
    },
  ],
  jobs: (deps) => [
    { name: 'checkpoint', everyMs: 60_000, run: () => auditOf(deps).checkpointMoved() },
    {
      name: 'partitions',
      everyMs: 6 * 3_600_000,
      atStart: true,
      run: () => auditOf(deps).ensurePartitions(),
    },
  ],
  // Refuses to start without its key in the distributed mode.
  start: (deps) => void auditOf(deps),
})
export { createS3ArchiveSink, s3Archive } from './archive/s3.ts'
export { type ArchiveSink, filesystemArchive } from './archive.ts'
export { type Audit, createAudit, entryOf, tappedTypes } from './service.ts'
export { parseSigningKey, type SigningKey } from './signing.ts'
export { platformTenant } from './store.ts'
