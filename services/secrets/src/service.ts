import { randomUUID } from 'node:crypto'
import type {
  SecretAccessed,
  SecretGranted,
  SecretGrantRefused,
  SecretIssue,
  SecretRotated,
  SecretScope,
} from '@rxt/contracts'
import {
  actorOf,
  ConflictError,
  type ContextDeps,
  decide,
  type HandlerContext,
  InputError,
  NotAllowedError,
  NotFoundError,
  Permission,
  type Principal,
  type Queryable,
} from '@rxt/kit'
import { type Kek, kekOf } from './domain/envelope.ts'
import { createSealedStore, rewrapAll, type SealedStore, type SecretStore } from './secret-store.ts'
import { createSecretRows, type GrantRow, type SecretRow, type VersionRow } from './store.ts'
import { createVaultStore } from './vault-store.ts'

export interface SecretsConfig {
  /** The key-encryption key, base64url of 32 bytes; no default (start refuses to run without it). */
  readonly SECRETS_KEY?: string | undefined
  /** The KEKs before SECRETS_KEY (comma-separated): data keys they wrap are re-wrapped by it. */
  readonly SECRETS_KEY_PREVIOUS?: string | undefined
  readonly SECRET_GRANT_TTL_SECONDS: number
  /** A Vault-compatible server keeps the values instead of the database (its KV v2 mount, a token). */
  readonly VAULT_ADDR?: string | undefined
  readonly VAULT_TOKEN?: string | undefined
  readonly VAULT_KV_MOUNT: string
}

/** How many versions of a secret are kept: a rotation drops the older ones. */
export const keptVersions = 5
/** The largest value stored, in bytes of UTF-8. */
export const maxValueBytes = 64 * 1024
export const refPrefix = 'secret://'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The key-encryption key of the configuration, or why there is none. */
/** SECRETS_KEY_PREVIOUS: the KEKs data keys may still be wrapped by after a rotation. */
export function previousKeksOf(config: Pick<SecretsConfig, 'SECRETS_KEY_PREVIOUS'>): Kek[] {
  const text = config.SECRETS_KEY_PREVIOUS ?? ''
  return text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
    .map((t, i) => {
      const key = Buffer.from(t, 'base64url')
      if (key.length !== 32)
        throw new InputError(
          `SECRETS_KEY_PREVIOUS: key ${i + 1} must be base64url of 32 bytes; it decodes to ${key.length}`,
        )
      return kekOf(key)
    })
}

export function kekOfConfig(config: Pick<SecretsConfig, 'SECRETS_KEY'>) {
  const text = config.SECRETS_KEY
  const how = 'base64url of 32 random bytes: openssl rand -base64 32 | tr "+/" "-_" | tr -d "="'
  if (text === undefined || text === '')
    throw new InputError(
      `SECRETS_KEY is not set: secrets needs it to encrypt the organisations' data keys (${how}); keep it safe, every stored secret depends on it`,
    )
  const key = Buffer.from(text, 'base64url')
  if (key.length !== 32 || key.toString('base64url') !== text.replace(/=+$/, ''))
    throw new InputError(`SECRETS_KEY must be ${how}; it decodes to ${key.length} bytes`)
  return kekOf(key)
}

export interface NewSecret {
  readonly name: string
  readonly projectId: string
  readonly envId?: string
  readonly value: string
  readonly redeployOnRotation?: boolean
}

const scopeOf = (row: SecretRow): SecretScope => (row.env_id === null ? 'project' : 'environment')

const view = (row: SecretRow) => ({
  id: row.id,
  name: row.name,
  ref: `${refPrefix}${row.name}`,
  projectId: row.project_id,
  envId: row.env_id,
  scope: scopeOf(row),
  currentVersion: row.current_version,
  redeployOnRotation: row.redeploy_on_rotation,
  createdBy: row.created_by,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
})

const versionView = (row: VersionRow) => ({
  version: row.version,
  createdBy: row.created_by,
  createdAt: row.created_at.toISOString(),
})

const refuseLargeValue = (value: string) => {
  const bytes = Buffer.byteLength(value, 'utf8')
  if (bytes > maxValueBytes)
    throw new InputError(`the value is ${bytes} bytes; a secret holds at most ${maxValueBytes}`, [
      { path: '/body/value', message: `at most ${maxValueBytes} bytes of UTF-8` },
    ])
}

/**
 * Secrets: values per project or environment, encrypted at rest (envelope.ts), versioned, granted to a
 * deployment by cmd.secret.issue and read over HTTP by the adapter's service credential (ADR 0023).
 */
export function createSecrets(deps: ContextDeps<SecretsConfig>, options: { store?: SecretStore } = {}) {
  const { db, bus, clock } = deps
  let builtIn: SecretStore | undefined
  let sealed: SealedStore | undefined
  /** The backend: given, or the built-in sealed store (made on first use, after start checked the key). */
  const storeOf = (): SecretStore => {
    if (options.store !== undefined) return options.store
    const { VAULT_ADDR, VAULT_TOKEN, VAULT_KV_MOUNT } = deps.config
    if (VAULT_ADDR !== undefined) {
      if (VAULT_TOKEN === undefined)
        throw new InputError(
          'VAULT_ADDR is set but VAULT_TOKEN is not: secrets needs a Vault token that may write under rxt-deploy/ in the KV v2 mount, write ACL policies and create child tokens',
        )
      builtIn ??= createVaultStore({
        addr: VAULT_ADDR,
        token: VAULT_TOKEN,
        mount: VAULT_KV_MOUNT,
        onDestroyFailed: ({ tenantId, secretId, versions, error }) =>
          deps.log.warn(
            { tenantId, secretId, versions, err: error },
            'pruned versions could not be destroyed in Vault: they stay there, named by no row',
          ),
      })
      return builtIn
    }
    sealed ??= createSealedStore(kekOfConfig(deps.config), previousKeksOf(deps.config))
    builtIn ??= sealed
    return builtIn
  }
  const ttlMs = () => deps.config.SECRET_GRANT_TTL_SECONDS * 1000

  const secretOf = async (tx: Queryable, secretId: string, lock = false) => {
    const row = uuid.test(secretId) ? await createSecretRows(tx).secret(secretId, lock) : undefined
    if (row === undefined) throw new NotFoundError(`no secret ${secretId}`)
    return row
  }

  /** The environments whose latest grant of the secret pinned a version before `version`. */
  const behind = async (tx: Queryable, secretId: string, version: number) =>
    (await createSecretRows(tx).latestGrantVersions(secretId))
      .filter((g) => g.version < version)
      .map((g) => g.env_id)
      .sort()

  /** Answers a grant on the bus (the saga correlates it with its command through the handler's context). */
  const granted = async (ctx: HandlerContext, tenantId: string, grant: GrantRow) => {
    const rows = createSecretRows(ctx.tx)
    const pinned = await rows.grantSecrets(grant.id)
    const data: SecretGranted = {
      deploymentId: grant.deployment_id,
      envId: grant.env_id,
      grantId: grant.id,
      expiresAt: grant.expires_at.toISOString(),
      secrets: pinned.map((p) => ({
        ref: p.ref,
        secretId: p.secret_id,
        scope: p.env_id === null ? 'project' : 'environment',
        version: p.version,
      })),
    }
    await ctx.publish({ type: 'evt.secret.granted', tenantId, key: grant.env_id, data })
  }

  return {
    storeOf,
    /** KEK rotation: re-wraps every data key a previous KEK wraps (the built-in store only). */
    async rewrapDataKeys(): Promise<{ rewrapped: number; failed: string[] }> {
      if (options.store !== undefined || deps.config.VAULT_ADDR !== undefined)
        return { rewrapped: 0, failed: [] }
      storeOf()
      return rewrapAll(db, sealed as SealedStore, kekOfConfig(deps.config))
    },

    /** The `purge-grants` job: grants expired over a day ago, of every organisation, deleted. */
    purgeExpiredGrants(): Promise<number> {
      return db.transaction((tx) => createSecretRows(tx).purgeExpiredGrants())
    },

    /** POST /v1/secrets: a new secret and its first version. */
    async create(principal: Principal, tenantId: string, input: NewSecret) {
      refuseLargeValue(input.value)
      const actor = actorOf(principal)
      return db.withTenant(tenantId, async (tx) => {
        const rows = createSecretRows(tx)
        const envId = input.envId ?? null
        if ((await rows.liveByName(input.projectId, envId, input.name)) !== undefined)
          throw new ConflictError(
            `a secret ${input.name} exists in ${envId === null ? `project ${input.projectId}` : `environment ${envId}`}: rotate it (POST /v1/secrets/{secretId}/rotate) or delete it first`,
          )
        const id = randomUUID()
        const now = clock.now()
        const row = await rows.insertSecret({
          id,
          org_id: tenantId,
          project_id: input.projectId,
          env_id: envId,
          name: input.name,
          redeploy_on_rotation: input.redeployOnRotation ?? false,
          created_by: actor,
          created_at: now,
        })
        const held = await storeOf().put(tx, { tenantId, secretId: id, version: 1 }, input.value)
        const version = await rows.insertVersion({
          secret_id: id,
          org_id: tenantId,
          version: 1,
          sealed: held,
          created_by: actor,
          created_at: now,
        })
        return { ...view(row), versions: [versionView(version)] }
      })
    },

    /** GET /v1/secrets: the live secrets, by project and environment when asked. */
    async list(tenantId: string, filter: { projectId?: string; envId?: string }) {
      return db.withTenant(tenantId, async (tx) => ({
        items: (await createSecretRows(tx).live(filter)).map(view),
      }))
    },

    /** GET /v1/secrets/:secretId: its metadata and the versions kept, never a value. */
    async get(tenantId: string, secretId: string) {
      return db.withTenant(tenantId, async (tx) => {
        const row = await secretOf(tx, secretId)
        const versions = await createSecretRows(tx).versions(secretId)
        return { ...view(row), versions: versions.map(versionView) }
      })
    },

    /** DELETE /v1/secrets/:secretId: gone from lists and grants to come; its values are dropped. */
    async remove(principal: Principal, tenantId: string, secretId: string) {
      await db.withTenant(tenantId, async (tx) => {
        await secretOf(tx, secretId, true)
        const rows = createSecretRows(tx)
        const versions = (await rows.versions(secretId)).map((v) => v.version)
        await storeOf().drop(tx, tenantId, secretId, await rows.held(secretId, versions))
        await rows.dropVersions(secretId, versions)
        await rows.markDeleted(secretId, actorOf(principal), clock.now())
      })
    },

    /**
     * POST /v1/secrets/:secretId/rotate: a new current version, the last five kept; evt.secret.rotated
     * in the same transaction, naming the environments to redeploy when the secret asks for it.
     */
    async rotate(principal: Principal, tenantId: string, secretId: string, value: string) {
      refuseLargeValue(value)
      const actor = actorOf(principal)
      return db.withTenant(tenantId, async (tx) => {
        const row = await secretOf(tx, secretId, true)
        const rows = createSecretRows(tx)
        const version = row.current_version + 1
        const now = clock.now()
        const held = await storeOf().put(tx, { tenantId, secretId, version }, value)
        await rows.insertVersion({
          secret_id: secretId,
          org_id: tenantId,
          version,
          sealed: held,
          created_by: actor,
          created_at: now,
        })
        const updated = await rows.setCurrent(secretId, version, now)
        const old = (await rows.versions(secretId))
          .map((v) => v.version)
          .filter((v) => v <= version - keptVersions)
        await storeOf().drop(tx, tenantId, secretId, await rows.held(secretId, old))
        await rows.dropVersions(secretId, old)
        const redeploy = row.redeploy_on_rotation ? await behind(tx, secretId, version) : undefined
        const data: SecretRotated = {
          secretRef: `${refPrefix}${row.name}`,
          envId: row.env_id,
          version,
          previousVersion: row.current_version,
          rotatedAt: now.toISOString(),
          // Pinned grants still read the previous version until they expire; nothing revokes it at once.
          previousExpiresAt: null,
          ...(redeploy === undefined ? {} : { redeployEnvIds: redeploy }),
        }
        await bus.publish(tx, {
          type: 'evt.secret.rotated',
          tenantId,
          key: row.env_id ?? row.project_id,
          data,
        })
        const versions = await rows.versions(secretId)
        return { ...view(updated), versions: versions.map(versionView) }
      })
    },

    /**
     * cmd.secret.issue: each reference resolved in the environment, then the project; versions pinned
     * in a grant of SECRET_GRANT_TTL_SECONDS; answered evt.secret.granted, or evt.secret.refused naming
     * every reference that resolves to nothing. A repeated command answers the live grant it made.
     */
    async issue(ctx: HandlerContext, tenantId: string, command: SecretIssue): Promise<void> {
      await ctx.tx.query("SELECT set_config('rxt.tenant_id', $1, true)", [tenantId])
      const rows = createSecretRows(ctx.tx)
      const now = clock.now()
      const live = await rows.liveGrant(command.deploymentId, now)
      if (live !== undefined) return granted(ctx, tenantId, live)
      const names = command.refs.map((ref) => ref.slice(refPrefix.length))
      const found = await rows.resolvable(command.projectId, command.envId, names)
      const chosen = new Map<string, SecretRow>()
      for (const row of found) {
        const had = chosen.get(row.name)
        // The environment's secret of a name first, then the project's.
        if (had === undefined || (had.env_id === null && row.env_id !== null)) chosen.set(row.name, row)
      }
      const missing = command.refs.filter((ref) => !chosen.has(ref.slice(refPrefix.length)))
      if (missing.length > 0) {
        const list = missing.map((ref) => ref.slice(refPrefix.length)).join(', ')
        const data: SecretGrantRefused = {
          deploymentId: command.deploymentId,
          envId: command.envId,
          missing,
          reason:
            `no secret ${list} in environment ${command.envId} or its project ${command.projectId}: create ${missing.length === 1 ? 'it' : 'each'} with POST /v1/secrets {name, projectId: ${command.projectId}, envId: ${command.envId} (or none for every environment of the project), value}, then deploy again`.slice(
              0,
              2000,
            ),
          retryable: false,
        }
        await ctx.publish({ type: 'evt.secret.refused', tenantId, key: command.envId, data })
        return
      }
      const grant = await rows.insertGrant({
        id: randomUUID(),
        org_id: tenantId,
        deployment_id: command.deploymentId,
        project_id: command.projectId,
        env_id: command.envId,
        expires_at: new Date(now.getTime() + ttlMs()),
        created_at: now,
      })
      await rows.insertGrantSecrets(
        command.refs.map((ref) => {
          const row = chosen.get(ref.slice(refPrefix.length)) as SecretRow
          return {
            grant_id: grant.id,
            org_id: tenantId,
            secret_id: row.id,
            ref,
            version: row.current_version,
          }
        }),
      )
      await granted(ctx, tenantId, grant)
    },

    /**
     * GET /v1/secrets/grants/:grantId/values: a live grant's values, for a service credential holding
     * secrets:deliver; each value read is an evt.secret.accessed in the same transaction.
     */
    async grantValues(principal: Principal, tenantId: string, grantId: string) {
      return db.withTenant(tenantId, async (tx) => {
        const rows = createSecretRows(tx)
        const now = clock.now()
        // Another organisation's grant, an expired one and none at all look the same (404), before
        // the caller is weighed (403).
        const grant = uuid.test(grantId) ? await rows.grant(grantId) : undefined
        if (grant === undefined || grant.expires_at.getTime() <= now.getTime())
          throw new NotFoundError(`no live grant ${grantId}: it is unknown or has expired; deploy again`)
        if (
          principal.kind !== 'service' ||
          !decide(principal, { permission: Permission.secretsDeliver }, tenantId).allowed
        )
          throw new NotAllowedError(
            `only a service credential holding ${Permission.secretsDeliver} reads a grant's values (the platform adapters)`,
          )
        const actor = actorOf(principal)
        const values: { ref: string; version: number; value: string }[] = []
        const accessed: SecretAccessed[] = []
        for (const pinned of await rows.grantValues(grant.id)) {
          if (pinned.deleted_at !== null || pinned.kept === false)
            throw new NotFoundError(
              `${pinned.ref} version ${pinned.version} is no longer kept (the secret was deleted, or rotated ${keptVersions} times since the grant): deploy again`,
            )
          const binding = { tenantId, secretId: pinned.secret_id, version: pinned.version }
          const value = await storeOf().read(tx, binding, pinned.sealed)
          values.push({ ref: pinned.ref, version: pinned.version, value })
          accessed.push({
            secretId: pinned.secret_id,
            ref: pinned.ref,
            version: pinned.version,
            actor,
            deploymentId: grant.deployment_id,
            grantId: grant.id,
            accessedAt: now.toISOString(),
          })
        }
        if (accessed.length > 0)
          await bus.publishAll(
            tx,
            accessed.map((data) => ({
              type: 'evt.secret.accessed',
              tenantId,
              key: grant.env_id,
              actor,
              data,
            })),
          )
        return {
          deploymentId: grant.deployment_id,
          envId: grant.env_id,
          expiresAt: grant.expires_at.toISOString(),
          values,
        }
      })
    },
  }
}
export type Secrets = ReturnType<typeof createSecrets>
