// The audit archive on S3-compatible object storage with Object Lock: each object is written once,
// with a retention date before which no one — the writer included — can delete that version or
// shorten its retention (COMPLIANCE mode), and a second write of the same key is refused.
import { createRequire } from 'node:module'
import type * as S3 from '@aws-sdk/client-s3'
import type { S3ServiceException } from '@aws-sdk/client-s3'
import {
  AuthenticationError,
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
  UnavailableError,
} from '@rxt/kit'
import type { ArchiveSink } from '../archive.ts'

export const RetentionMode = { compliance: 'COMPLIANCE', governance: 'GOVERNANCE' } as const
export type RetentionMode = (typeof RetentionMode)[keyof typeof RetentionMode]

export interface S3ArchiveSinkOptions {
  /** The S3 endpoint, e.g. `http://127.0.0.1:8333`; addressed path-style (`/{bucket}/{key}`). */
  readonly endpoint: string
  readonly region: string
  /** Access key and secret key (secrets: never logged). */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string }
  readonly bucket: string
  /** COMPLIANCE (the default): no one can remove a version before its date; GOVERNANCE: a holder of s3:BypassGovernanceRetention can. */
  readonly mode?: RetentionMode
}

export interface ArchivedObject {
  readonly bytes: Uint8Array
  readonly versionId: string | undefined
  readonly mode: RetentionMode | undefined
  readonly retainUntil: Date | undefined
}

export interface S3ArchiveSink {
  /** Creates the bucket with Object Lock (and so versioning) enabled, or checks an existing one has it. */
  ensureBucket(): Promise<void>
  /** Writes `bytes` once under `key`, locked until `retainUntil`; returns the version's id. */
  put(key: string, bytes: Uint8Array, retainUntil: Date): Promise<{ versionId: string | undefined }>
  /** The object under `key` (its latest version), with its lock. */
  get(key: string): Promise<ArchivedObject>
}

const bucketPattern = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/
const keyPattern = /^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*$/

function checkKey(key: string): void {
  if (
    key.length > 1024 ||
    !keyPattern.test(key) ||
    key.split('/').some((s) => s === '' || s === '.' || s === '..')
  )
    throw new InputError('the archive key is not valid', [
      {
        path: '/key',
        message:
          'letters, digits and !_.*\'()- in "/"-separated segments, none empty, "." or ".."; at most 1024',
      },
    ])
}

/** The S3 client library, loaded with the first sink: a process that archives nowhere never needs it. */
let library: typeof S3 | undefined
const s3 = (): typeof S3 => {
  library ??= createRequire(import.meta.url)('@aws-sdk/client-s3') as typeof S3
  return library
}
/** An error of the S3 client's (none exists before it is loaded). */
const isS3Error = (error: unknown): error is S3ServiceException =>
  library !== undefined && error instanceof library.S3ServiceException

const statusOf = (error: S3ServiceException) => error.$metadata?.httpStatusCode ?? 0

/** A kit error for what S3 answered (its code and status; never the request's content). */
function kitError(error: unknown, what: string): Error {
  if (!isS3Error(error))
    return new UnavailableError(`the archive store did not answer to ${what}`, {
      cause: new Error((error as Error)?.name ?? 'error'),
    })
  const status = statusOf(error)
  switch (error.name) {
    case 'NoSuchKey':
    case 'NoSuchBucket':
    case 'NoSuchVersion':
    case 'NotFound':
      return new NotFoundError(`nothing to ${what} (${error.name})`)
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'ExpiredToken':
      return new AuthenticationError(
        `the archive store did not accept the credentials to ${what} (${error.name})`,
      )
    case 'AccessDenied':
      return new NotAllowedError(`the archive store refused to ${what} (AccessDenied)`)
    case 'PreconditionFailed':
    case 'ConditionalRequestConflict':
      return new ConflictError(`${what}: the key is taken; an archive object is written once`)
  }
  if (status === 404) return new NotFoundError(`nothing to ${what} (${error.name})`)
  if (status === 403) return new NotAllowedError(`the archive store refused to ${what} (${error.name})`)
  if (status === 409 || status === 412)
    return new ConflictError(`the archive store refused to ${what} (${error.name})`)
  if (status === 400)
    return new InputError(`the archive store refused to ${what} as malformed (${error.name})`)
  return new UnavailableError(`the archive store failed to ${what} (${status} ${error.name})`, {
    retryable: status >= 500 || status === 429,
  })
}

export function createS3ArchiveSink(options: S3ArchiveSinkOptions): S3ArchiveSink {
  const { bucket, mode = RetentionMode.compliance } = options
  if (!bucketPattern.test(bucket))
    throw new InputError('the archive bucket name is not valid', [
      { path: '/bucket', message: '3 to 63 lower-case letters, digits, "." and "-"' },
    ])
  const {
    CreateBucketCommand,
    GetBucketVersioningCommand,
    GetObjectCommand,
    GetObjectLockConfigurationCommand,
    PutObjectCommand,
    S3Client,
  } = s3()
  const client = new S3Client({
    endpoint: options.endpoint,
    region: options.region,
    credentials: {
      accessKeyId: options.credentials.accessKeyId,
      secretAccessKey: options.credentials.secretAccessKey,
    },
    forcePathStyle: true,
    maxAttempts: 3,
  })

  const send = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call()
    } catch (error) {
      throw kitError(error, what)
    }
  }

  return {
    async ensureBucket() {
      const what = `create the bucket ${bucket}`
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }))
        return
      } catch (error) {
        if (!(isS3Error(error) && /BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(error.name)))
          throw kitError(error, what)
      }
      // It exists: it must already lock its objects, as Object Lock is chosen when a bucket is made.
      const lock = await send(`read the Object Lock of ${bucket}`, () =>
        client.send(new GetObjectLockConfigurationCommand({ Bucket: bucket })),
      ).catch((error: unknown) => {
        if (error instanceof NotFoundError) return undefined
        throw error
      })
      const versioning = await send(`read the versioning of ${bucket}`, () =>
        client.send(new GetBucketVersioningCommand({ Bucket: bucket })),
      )
      if (lock?.ObjectLockConfiguration?.ObjectLockEnabled !== 'Enabled' || versioning.Status !== 'Enabled')
        throw new ConflictError(
          `the bucket ${bucket} exists without Object Lock and versioning: the archive needs a bucket made with Object Lock (name another bucket)`,
        )
    },

    async put(key, bytes, retainUntil) {
      checkKey(key)
      if (!(bytes instanceof Uint8Array))
        throw new InputError('archive bytes are a Uint8Array', [{ path: '/bytes', message: typeof bytes }])
      if (
        !(retainUntil instanceof Date) ||
        Number.isNaN(retainUntil.getTime()) ||
        retainUntil.getTime() <= Date.now()
      )
        throw new InputError('the retention date must be in the future', [
          { path: '/retainUntil', message: String(retainUntil) },
        ])
      const answer = await send(`write ${key}`, () =>
        client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: bytes,
            ContentLength: bytes.byteLength,
            ContentType: 'application/octet-stream',
            // Written once: a second write of the key is refused rather than stacked as a new version.
            IfNoneMatch: '*',
            ObjectLockMode: mode,
            ObjectLockRetainUntilDate: retainUntil,
          }),
        ),
      )
      return { versionId: answer.VersionId }
    },

    async get(key) {
      checkKey(key)
      const answer = await send(`read ${key}`, () =>
        client.send(new GetObjectCommand({ Bucket: bucket, Key: key })),
      )
      const bytes = answer.Body === undefined ? new Uint8Array() : await answer.Body.transformToByteArray()
      const lockMode = answer.ObjectLockMode
      return {
        bytes,
        versionId: answer.VersionId,
        mode: lockMode === 'COMPLIANCE' || lockMode === 'GOVERNANCE' ? lockMode : undefined,
        retainUntil: answer.ObjectLockRetainUntilDate,
      }
    },
  }
}

/**
 * The archive of the audit context on an S3 object store with Object Lock (`ArchiveSink`): the bucket is
 * made (or checked) with Object Lock on first use; each object is written once, locked until its
 * retain-until date; an object not there reads as undefined.
 */
export function s3Archive(options: S3ArchiveSinkOptions): ArchiveSink {
  const sink = createS3ArchiveSink(options)
  let ready: Promise<void> | undefined
  const bucket = () => {
    ready ??= sink.ensureBucket().catch((error: unknown) => {
      ready = undefined
      throw error
    })
    return ready
  }
  return {
    async put(key, bytes, retainUntil) {
      await bucket()
      await sink.put(key, bytes, retainUntil)
    },
    async get(key) {
      await bucket()
      try {
        return (await sink.get(key)).bytes
      } catch (error) {
        if (error instanceof NotFoundError) return undefined
        throw error
      }
    },
  }
}
