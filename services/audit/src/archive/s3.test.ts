// The archive sink against the real S3 of the test peers (SeaweedFS, npm run peers -- build), started
// for the run. Skipped where it is not built (the run's setup prints SKIPPED with the reason; under
// CI=true it fails instead).
import { randomBytes } from 'node:crypto'
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  PutObjectCommand,
  PutObjectLockConfigurationCommand,
  PutObjectRetentionCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import { ConflictError, InputError, NotFoundError } from '@rxt/kit'
import { describe, expect, inject, it } from 'vitest'
import { createS3ArchiveSink } from './s3.ts'

const endpoint = inject('s3Endpoint')
const region = inject('s3Region')
const credentials = { accessKeyId: inject('s3AccessKeyId'), secretAccessKey: inject('s3SecretAccessKey') }
const skipped = inject('s3SkipReason')

const newBucket = () => `rxt-audit-${randomBytes(6).toString('hex')}`
const inAnHour = () => new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000)

describe.skipIf(skipped !== '' || endpoint === '')('the S3 archive sink with the real SeaweedFS', () => {
  const raw = () => new S3Client({ endpoint, region, credentials, forcePathStyle: true })

  it('makes its bucket with Object Lock and versioning, and accepts it again', async () => {
    const bucket = newBucket()
    const sink = createS3ArchiveSink({ endpoint, region, credentials, bucket })
    await sink.ensureBucket()
    await sink.ensureBucket()
    const lock = await raw().send(new GetObjectLockConfigurationCommand({ Bucket: bucket }))
    expect(lock.ObjectLockConfiguration?.ObjectLockEnabled).toBe('Enabled')
  })

  it('refuses a bucket that exists without Object Lock', async () => {
    const bucket = newBucket()
    await raw().send(new CreateBucketCommand({ Bucket: bucket }))
    const error = await createS3ArchiveSink({ endpoint, region, credentials, bucket })
      .ensureBucket()
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConflictError)
    expect((error as Error).message).toMatch(/without Object Lock/)
  })

  it('writes an object locked in COMPLIANCE mode and reads it back', async () => {
    const bucket = newBucket()
    const sink = createS3ArchiveSink({ endpoint, region, credentials, bucket })
    await sink.ensureBucket()
    const bytes = new Uint8Array(randomBytes(4096))
    const retainUntil = inAnHour()
    const { versionId } = await sink.put('tenant-a/2026/12/03/segment-0001.jsonl', bytes, retainUntil)
    expect(versionId).toBeTruthy()
    const got = await sink.get('tenant-a/2026/12/03/segment-0001.jsonl')
    expect(Buffer.from(got.bytes).equals(Buffer.from(bytes))).toBe(true)
    expect(got.versionId).toBe(versionId)
    expect(got.mode).toBe('COMPLIANCE')
    expect(got.retainUntil?.getTime()).toBe(retainUntil.getTime())
    const retention = await raw().send(
      new GetObjectRetentionCommand({
        Bucket: bucket,
        Key: 'tenant-a/2026/12/03/segment-0001.jsonl',
        VersionId: versionId,
      }),
    )
    expect(retention.Retention?.Mode).toBe('COMPLIANCE')
    await expect(sink.get('tenant-a/none')).rejects.toBeInstanceOf(NotFoundError)
  })

  it('refuses to overwrite, delete or unlock a locked version', async () => {
    const bucket = newBucket()
    const key = 'tenant-a/segment.jsonl'
    const sink = createS3ArchiveSink({ endpoint, region, credentials, bucket })
    await sink.ensureBucket()
    const bytes = new TextEncoder().encode('{"seq":1}\n')
    const { versionId } = await sink.put(key, bytes, inAnHour())
    // A second write of the key is refused.
    const again = await sink.put(key, new TextEncoder().encode('forged'), inAnHour()).catch((e: unknown) => e)
    expect(again).toBeInstanceOf(ConflictError)
    // Deleting the locked version is refused, by the store, even to its admin.
    await expect(
      raw().send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId })),
    ).rejects.toMatchObject({
      $metadata: { httpStatusCode: 403 },
    })
    // So is shortening its retention, or moving it to GOVERNANCE.
    await expect(
      raw().send(
        new PutObjectRetentionCommand({
          Bucket: bucket,
          Key: key,
          VersionId: versionId,
          Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + 60_000) },
          BypassGovernanceRetention: true,
        }),
      ),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } })
    // A plain overwrite through the raw API stacks a new version; the locked one is still there as written.
    await raw().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'forged' }))
    const kept = await raw().send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }))
    expect(await kept.Body?.transformToString()).toBe('{"seq":1}\n')
  })

  it("honours a bucket's default retention (PutObjectLockConfiguration)", async () => {
    const bucket = newBucket()
    await createS3ArchiveSink({ endpoint, region, credentials, bucket }).ensureBucket()
    await raw().send(
      new PutObjectLockConfigurationCommand({
        Bucket: bucket,
        ObjectLockConfiguration: {
          ObjectLockEnabled: 'Enabled',
          Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 1 } },
        },
      }),
    )
    const lock = await raw().send(new GetObjectLockConfigurationCommand({ Bucket: bucket }))
    expect(lock.ObjectLockConfiguration?.Rule?.DefaultRetention).toMatchObject({
      Mode: 'COMPLIANCE',
      Days: 1,
    })
    const put = await raw().send(new PutObjectCommand({ Bucket: bucket, Key: 'plain', Body: 'x' }))
    const retention = await raw().send(
      new GetObjectRetentionCommand({ Bucket: bucket, Key: 'plain', VersionId: put.VersionId }),
    )
    expect(retention.Retention?.Mode).toBe('COMPLIANCE')
    await expect(
      raw().send(new DeleteObjectCommand({ Bucket: bucket, Key: 'plain', VersionId: put.VersionId })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } })
  })

  it('refuses bad keys and past retention dates before calling the store', async () => {
    const sink = createS3ArchiveSink({ endpoint, region, credentials, bucket: newBucket() })
    for (const key of ['', '/abs', 'a//b', 'a/../b', 'a b']) {
      await expect(sink.put(key, new Uint8Array(1), inAnHour()), key).rejects.toBeInstanceOf(InputError)
    }
    await expect(sink.put('k', new Uint8Array(1), new Date(Date.now() - 1000))).rejects.toBeInstanceOf(
      InputError,
    )
    expect(() => createS3ArchiveSink({ endpoint, region, credentials, bucket: 'Bad_Bucket' })).toThrow(
      InputError,
    )
  })
})
