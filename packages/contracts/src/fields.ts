import Type, { type TObject, type TObjectOptions, type TProperties, type TSchema } from 'typebox'

/**
 * Field schemas that many payloads share. Each is a function so that every use gets its own
 * description; the constraints live here once.
 */

/** A closed object: every payload object rejects properties it does not declare. */
export function closedObject<P extends TProperties>(properties: P, options: TObjectOptions = {}): TObject<P> {
  return Type.Object(properties, { ...options, additionalProperties: false })
}

/** The two compute platforms. */
export const Platform = { sddcFlex: 'sddc-flex', rxtSpot: 'rxt-spot' } as const
export type Platform = (typeof Platform)[keyof typeof Platform]

export const platformField = (
  description = 'The platform: SDDC Flex (VMware VMs) or RXT Spot (Kubernetes)',
) => Type.Union([Type.Literal(Platform.sddcFlex), Type.Literal(Platform.rxtSpot)], { description })

/** `platform.preference` of deploy.yaml. */
export const PlatformPreference = { auto: 'auto', vm: 'vm', container: 'container' } as const
export type PlatformPreference = (typeof PlatformPreference)[keyof typeof PlatformPreference]

export const platformPreferenceField = (
  description = 'platform.preference of deploy.yaml: auto lets placement decide',
) =>
  Type.Union(
    [
      Type.Literal(PlatformPreference.auto),
      Type.Literal(PlatformPreference.vm),
      Type.Literal(PlatformPreference.container),
    ],
    { description },
  )

/** An identifier minted by a context: letters, digits and `._:-`, up to 128 characters. */
export const idField = (description: string) =>
  Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$', description })

/** A DNS-label-like slug (also a valid Kubernetes namespace name). */
export const slugField = (description: string) =>
  Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$', description })

/** Free text for people: a reason, a summary, a message. */
export const textField = (description: string, maxLength = 2000) =>
  Type.String({ minLength: 1, maxLength, description })

export const nameField = (description: string) => Type.String({ minLength: 1, maxLength: 200, description })

export const timestampField = (description: string) => Type.String({ format: 'date-time', description })

export const urlField = (description: string) =>
  Type.String({ format: 'uri', minLength: 1, maxLength: 2048, description })

export const hostnameField = (description: string) =>
  Type.String({ format: 'hostname', minLength: 1, maxLength: 253, description })

/** An IPv4 or IPv6 address. */
export const ipAddressField = (description: string) =>
  Type.Union([Type.String({ format: 'ipv4' }), Type.String({ format: 'ipv6' })], { description })

/** An IPv4 or IPv6 CIDR block, e.g. `10.0.0.0/24`. */
export const cidrField = (description: string) =>
  Type.String({ minLength: 3, maxLength: 43, pattern: '^[0-9A-Fa-f.:]+/[0-9]{1,3}$', description })

export const portField = (description: string) => Type.Integer({ minimum: 1, maximum: 65535, description })

/** A content digest, `sha256:` and 64 lower-case hex digits. */
export const digestField = (description: string) =>
  Type.String({ minLength: 71, maxLength: 71, pattern: '^sha256:[a-f0-9]{64}$', description })

/** A deploy.yaml in the registry's canonical JSON (RFC 8785), as a deploy's commands carry it. */
export const canonicalManifestField = () =>
  Type.String({
    minLength: 2,
    maxLength: 262_144,
    description:
      "The deploy.yaml in the registry's canonical JSON (RFC 8785), whose digest is manifestDigest",
  })

/** An environment's stored deploy.yaml overrides in canonical JSON (RFC 8785), at most 64 KiB. */
export const canonicalOverridesField = (description: string) =>
  Type.String({ minLength: 2, maxLength: 65_536, description })

/** An OCI image reference, optionally pinned by digest: `registry/repo:tag@sha256:…`. */
export const artifactRefField = (description = 'OCI image reference, pinned by digest where known') =>
  Type.String({
    minLength: 1,
    maxLength: 512,
    pattern: '^[a-z0-9][A-Za-z0-9._/:-]*(@sha256:[a-f0-9]{64})?$',
    description,
  })

/** A git commit id: SHA-1 (40 hex) or SHA-256 (64 hex). */
export const commitShaField = (description: string) =>
  Type.String({ minLength: 40, maxLength: 64, pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$', description })

/**
 * A record whose keys must match `key`: a key that does not is an error, never passed on unchecked
 * (TypeBox's Record alone lets it through, its value unchecked). `propertyNames`, not
 * `additionalProperties: false`, which TypeBox's Value.Default cannot walk.
 */
export const closedRecord = <K extends TSchema, V extends TSchema>(key: K, value: V, options: object = {}) =>
  Type.Record(key, value, { ...options, propertyNames: key })

/**
 * A compute provider, as its provider.yaml names it (`rxt-spot`, `sim-container`): one offering of a
 * platform family, whose commands (`cmd.spot.*`, `cmd.sddc.*`) it answers.
 */
export const providerField = (description = 'The provider, as its provider.yaml names it') =>
  Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$', description })

/** An OCI image repository, fully qualified and without tag or digest: `ghcr.io/acme/shop`. */
export const imageRepositoryField = (description = 'The image repository, e.g. ghcr.io/acme/shop') =>
  Type.String({
    minLength: 3,
    maxLength: 255,
    pattern: '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)+$',
    description,
  })

/** A GitHub Actions workflow file: `build.yml` or `.github/workflows/build.yml`. */
export const workflowFileField = (description = 'A workflow file, e.g. .github/workflows/build.yml') =>
  Type.String({
    minLength: 5,
    maxLength: 200,
    pattern: '^(\\.github/workflows/)?[A-Za-z0-9_.-]+\\.ya?ml$',
    description,
  })

/** `owner/name` of a repository. */
export const repoFullNameField = (description = 'The repository as owner/name') =>
  Type.String({ minLength: 3, maxLength: 200, pattern: '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$', description })

/** A runner or scheduling label, e.g. `linux`, `gpu`, `arch=arm64`. */
export const labelField = (description = 'A label') =>
  Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9][a-z0-9._/=-]*$', description })

/**
 * A reference to a secret held by the secrets context (`secret://<path>`): never the secret itself.
 * Consumers resolve it through the secrets API with their own credentials.
 */
export const secretRefField = (description: string) =>
  Type.String({ minLength: 10, maxLength: 256, pattern: '^secret://[a-z0-9][a-z0-9._/-]*$', description })

/** Transport-level TLS settings shared by both networking adapters. */
export const TlsSettings = closedObject(
  {
    mode: Type.Union([Type.Literal('acme'), Type.Literal('provided'), Type.Literal('none')], {
      description: 'acme: the domains context obtains a certificate; provided: use certificateRef',
    }),
    certificateRef: Type.Union([secretRefField('The certificate and key'), Type.Null()], {
      description: 'Set when mode is provided; a reference, never the key material',
    }),
    minVersion: Type.Union([Type.Literal('1.2'), Type.Literal('1.3')], { description: 'Lowest TLS version' }),
  },
  { description: 'TLS termination' },
)

/** DNS records both networking adapters publish. */
export const DnsSettings = closedObject(
  {
    zone: hostnameField('The DNS zone the records live in'),
    records: Type.Array(
      closedObject({
        name: hostnameField('Fully qualified record name'),
        type: Type.Union([Type.Literal('A'), Type.Literal('AAAA'), Type.Literal('CNAME')]),
        ttlSeconds: Type.Integer({ minimum: 30, maximum: 86400 }),
      }),
      { minItems: 0, maxItems: 100 },
    ),
  },
  { description: 'DNS records to publish' },
)
