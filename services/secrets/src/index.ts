import { SecretIssueMessage } from '@rxt/contracts'
import { defineContext, on, perContext, tenantOfMessage } from '@rxt/kit'
import Type from 'typebox'
import { kubeconfigRoutes } from './kubeconfigs.ts'
import { secretsRoutes } from './routes.ts'
import { createSecrets, kekOfConfig, type SecretsConfig } from './service.ts'

/** One secrets per context database: routes and handlers share it. */
const secretsOf = perContext(createSecrets)

const SecretsConfigSchema = Type.Object({
  SECRETS_KEY: Type.Optional(
    Type.String({
      minLength: 43,
      maxLength: 44,
      pattern: '^[A-Za-z0-9_-]+=?$',
      description:
        "The key-encryption key (base64url of 32 random bytes) that wraps every organisation's data key, the same in every process that runs secrets. A secret: no default; `rxt-deploy up` keeps one in RXT_DATA_DIR/secrets.key when it is unset. Losing it loses every stored value.",
    }),
  ),
  SECRETS_KEY_PREVIOUS: Type.Optional(
    Type.String({
      description:
        'KEK rotation: the key-encryption keys before SECRETS_KEY (comma-separated, base64url of 32 bytes each). The data keys they wrap are re-wrapped by SECRETS_KEY (at start, each hour, and on first use); no value is re-encrypted. Remove a key once the rewrap job logs nothing left to re-wrap.',
    }),
  ),
  VAULT_ADDR: Type.Optional(
    Type.String({
      pattern: '^https?://[^/]+$',
      description:
        'A Vault-compatible server (HashiCorp Vault, OpenBao) that keeps the values instead of the database: KV v2 under rxt-deploy/{tenantId}/secrets/, read with short-lived per-tenant tokens. Unset: the built-in envelope-encrypted store.',
    }),
  ),
  VAULT_TOKEN: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        "The secrets context's Vault token (a secret): writes values under rxt-deploy/, writes the tenants' ACL policies, creates their child tokens",
    }),
  ),
  VAULT_KV_MOUNT: Type.String({
    default: 'secret',
    pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
    description: 'The KV v2 mount the values are kept in',
  }),
  SECRET_GRANT_TTL_SECONDS: Type.Integer({
    default: 900,
    minimum: 30,
    maximum: 86_400,
    description:
      "How long a deployment's grant reads its secrets' values (the adapter reads them while it deploys)",
  }),
})

/** Secret values per project or environment, encrypted at rest, granted to deployments (ADR 0023). */
export const secrets = defineContext<SecretsConfig>({
  name: 'secrets',
  description:
    'Secret values per project or environment, envelope-encrypted, versioned; granted to deployments and read by their adapters',
  config: SecretsConfigSchema,
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => {
    secretsRoutes(secretsOf(deps))(app)
    kubeconfigRoutes(deps.peer)(app)
  },
  handlers: (deps) => [
    // For the envelope's tenant: a payload never names whose rows a command reads and writes.
    on(SecretIssueMessage, { id: 'issue' }, (data, ctx, message) =>
      secretsOf(deps).issue(ctx, tenantOfMessage(message), data),
    ),
  ],
  jobs: (deps) => [
    {
      // KEK rotation: data keys still wrapped by a key of SECRETS_KEY_PREVIOUS are re-wrapped.
      name: 'rewrap',
      everyMs: 3_600_000,
      atStart: true,
      run: async () => {
        const { rewrapped, failed } = await secretsOf(deps).rewrapDataKeys()
        if (rewrapped > 0) deps.log.info({ rewrapped }, 'data keys re-wrapped by the current SECRETS_KEY')
        if (failed.length > 0)
          deps.log.error(
            { orgs: failed },
            'data keys no configured key opens: keep SECRETS_KEY_PREVIOUS until they are re-wrapped',
          )
      },
    },
    {
      // A grant is read at deploy time; a day after it expires nothing reads it (the reads are audited).
      name: 'purge-grants',
      everyMs: 3_600_000,
      run: async () => {
        const purged = await secretsOf(deps).purgeExpiredGrants()
        if (purged > 0) deps.log.info({ purged }, 'expired grants purged')
      },
    },
  ],
  start: (deps) => {
    // Refuses to run without a usable key, naming how to make one (the built-in store's; with Vault
    // the data keys still wrap nothing, but the key is asked for all the same: switching back needs it).
    kekOfConfig(deps.config)
  },
})

export {
  type Kek,
  kekOf,
  keyBytes,
  newDataKey,
  openValue,
  rewrapDataKey,
  SealBrokenError,
  sealValue,
  unwrapDataKey,
  type ValueBinding,
  type WrappedDataKey,
} from './domain/envelope.ts'
export { createSealedStore, type SecretStore } from './secret-store.ts'
export { createSecrets, keptVersions, maxValueBytes, type Secrets, type SecretsConfig } from './service.ts'
