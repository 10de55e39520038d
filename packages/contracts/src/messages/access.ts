import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import { closedObject, idField, secretRefField, slugField, textField, timestampField } from '../fields.ts'

/**
 * Who may do what: role changes, short-lived credentials and their rotation, policy violations.
 * Secret values never travel on the bus: messages carry references and versions only.
 */

export const AccessChange = { granted: 'granted', revoked: 'revoked' } as const
export type AccessChange = (typeof AccessChange)[keyof typeof AccessChange]

export const AccessChanged = closedObject({
  subject: closedObject({
    kind: Type.Union([Type.Literal('user'), Type.Literal('service-account'), Type.Literal('group')]),
    id: idField('The user, service account or group'),
  }),
  change: Type.Union([Type.Literal(AccessChange.granted), Type.Literal(AccessChange.revoked)]),
  role: slugField('The role, e.g. owner, developer, viewer'),
  scope: closedObject(
    {
      kind: Type.Union([Type.Literal('tenant'), Type.Literal('project'), Type.Literal('environment')]),
      id: idField('The tenant, project or environment'),
    },
    { description: 'What the role applies to' },
  ),
  changedBy: idField('Who made the change'),
})
export type AccessChanged = Static<typeof AccessChanged>

const deploymentIdField = () => idField("The orchestrator's deployment (saga) id")

export const SecretIssue = closedObject({
  deploymentId: deploymentIdField(),
  projectId: idField('The project'),
  envId: idField("The environment: its secrets first, then the project's"),
  refs: Type.Array(secretRefField('A reference the manifest names'), {
    minItems: 1,
    maxItems: 200,
    uniqueItems: true,
    description: "Every secret:// reference of the deployment's manifest",
  }),
})
export type SecretIssue = Static<typeof SecretIssue>

export const SecretScope = { project: 'project', environment: 'environment' } as const
export type SecretScope = (typeof SecretScope)[keyof typeof SecretScope]
const secretScopeField = () =>
  Type.Union([Type.Literal(SecretScope.project), Type.Literal(SecretScope.environment)], {
    description: "Where the secret is kept: the project's (every environment) or one environment's",
  })

export const SecretGranted = closedObject({
  deploymentId: deploymentIdField(),
  envId: idField('The environment'),
  grantId: idField('The grant: what the adapter reads the values by, until it expires'),
  expiresAt: timestampField('When the grant stops reading values'),
  secrets: Type.Array(
    closedObject({
      ref: secretRefField('The reference'),
      secretId: idField('The secret it resolved to'),
      scope: secretScopeField(),
      version: Type.Integer({ minimum: 1, description: 'The version pinned for this deployment' }),
    }),
    { maxItems: 200, description: 'Each reference, the secret and version it resolved to: no value' },
  ),
})
export type SecretGranted = Static<typeof SecretGranted>

export const SecretGrantRefused = closedObject({
  deploymentId: deploymentIdField(),
  envId: idField('The environment'),
  missing: Type.Array(secretRefField('A reference that resolves to no secret'), { maxItems: 200 }),
  reason: textField('Why, for people: which references to create, and where'),
  retryable: Type.Boolean({ description: 'Whether the same command may succeed later unchanged' }),
})
export type SecretGrantRefused = Static<typeof SecretGrantRefused>

export const SecretAccessed = closedObject({
  secretId: idField('The secret'),
  ref: secretRefField('Its reference (secret://<name>)'),
  version: Type.Integer({ minimum: 1, description: 'The version whose value was read' }),
  actor: idField('Who read it: service:<name>, user:<id>, api-key:<id>'),
  deploymentId: Type.Union([deploymentIdField(), Type.Null()], {
    description: 'The deployment it was read for (by its grant), or null',
  }),
  grantId: Type.Union([idField('The grant it was read by'), Type.Null()], {
    description: 'The grant it was read by, or null',
  }),
  accessedAt: timestampField('When'),
})
export type SecretAccessed = Static<typeof SecretAccessed>

export const SecretRotated = closedObject({
  secretRef: secretRefField('The secret that was rotated'),
  envId: Type.Union([idField('The environment'), Type.Null()], {
    description: 'The environment it belongs to, or null for a tenant-wide secret',
  }),
  version: Type.Integer({ minimum: 1, description: 'The new current version' }),
  previousVersion: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
    description: 'The version it replaced, or null for the first version',
  }),
  rotatedAt: timestampField('When the new version became current'),
  previousExpiresAt: Type.Union([timestampField('When the previous version stops working'), Type.Null()], {
    description: 'End of the overlap window, or null when the previous version was revoked at once',
  }),
  redeployEnvIds: Type.Optional(
    Type.Array(idField('An environment'), {
      maxItems: 1000,
      description:
        'The environments running an earlier version that the secret asks to redeploy on rotation (absent: none)',
    }),
  ),
})
export type SecretRotated = Static<typeof SecretRotated>

export const Severity = { low: 'low', medium: 'medium', high: 'high', critical: 'critical' } as const
export type Severity = (typeof Severity)[keyof typeof Severity]

export const PolicyViolation = closedObject({
  envId: idField('The environment'),
  deploymentId: Type.Union([idField("The orchestrator's deployment (saga) id"), Type.Null()], {
    description: 'The deployment being admitted, or null for a runtime finding',
  }),
  policyId: Type.String({
    minLength: 1,
    maxLength: 200,
    pattern: '^[a-z0-9_]+(\\.[a-z0-9_]+)*$',
    description: 'The Rego package, e.g. rxt.admission.tls',
  }),
  rule: Type.String({ minLength: 1, maxLength: 128, pattern: '^[a-z0-9_]+$', description: 'The rule' }),
  severity: Type.Union([
    Type.Literal(Severity.low),
    Type.Literal(Severity.medium),
    Type.Literal(Severity.high),
    Type.Literal(Severity.critical),
  ]),
  enforcement: Type.Union([Type.Literal('deny'), Type.Literal('warn')], {
    description: 'deny: the deployment was refused; warn: it went ahead',
  }),
  message: textField('What is wrong and how to fix it, for people'),
})
export type PolicyViolation = Static<typeof PolicyViolation>

export const AccessChangedMessage = defineMessage({
  type: 'evt.access.changed',
  version: 1,
  kind: MessageKind.event,
  summary: 'A role was granted to or revoked from a user, service account or group',
  publishedBy: 'identity',
  schema: AccessChanged,
  fixture: {
    subject: { kind: 'user', id: 'usr_grace' },
    change: 'granted',
    role: 'developer',
    scope: { kind: 'project', id: 'prj_shop' },
    changedBy: 'usr_ada',
  },
})

/**
 * Version 2: the short-lived credential is a grant the secrets context keeps (ADR 0023), read by the
 * adapter over HTTP; version 1 had the secrets context write values to the platform itself.
 */
export const SecretIssueMessage = defineMessage({
  type: 'cmd.secret.issue',
  version: 2,
  kind: MessageKind.command,
  summary:
    'Issue a deployment its short-lived credential: resolve its secret references, pin their versions, grant its adapter a minutes-long read',
  publishedBy: 'orchestrator',
  schema: SecretIssue,
  fixture: {
    deploymentId: 'dep_7f3a9c',
    projectId: 'prj_shop',
    envId: 'env_prod',
    refs: ['secret://db/url'],
  },
})

export const SecretGrantedMessage = defineMessage({
  type: 'evt.secret.granted',
  version: 1,
  kind: MessageKind.event,
  summary: "A deployment's secrets resolved and pinned: the grant's id, versions and expiry, never a value",
  publishedBy: 'secrets',
  schema: SecretGranted,
  fixture: {
    deploymentId: 'dep_7f3a9c',
    envId: 'env_prod',
    grantId: 'grt_19ab',
    expiresAt: '2025-06-01T00:15:00Z',
    secrets: [{ ref: 'secret://db/url', secretId: 'sec_3c1d', scope: 'environment', version: 4 }],
  },
})

export const SecretGrantRefusedMessage = defineMessage({
  type: 'evt.secret.refused',
  version: 1,
  kind: MessageKind.event,
  summary: 'A deployment names secrets that do not exist: it fails before any platform is touched',
  publishedBy: 'secrets',
  schema: SecretGrantRefused,
  fixture: {
    deploymentId: 'dep_7f3a9c',
    envId: 'env_prod',
    missing: ['secret://db/url'],
    reason: 'no secret db/url in environment env_prod or its project: create it with POST /v1/secrets',
    retryable: false,
  },
})

export const SecretAccessedMessage = defineMessage({
  type: 'evt.secret.accessed',
  version: 1,
  kind: MessageKind.event,
  summary: "A secret's value was read: who, which secret and version, for which deployment",
  publishedBy: 'secrets',
  schema: SecretAccessed,
  fixture: {
    secretId: 'sec_3c1d',
    ref: 'secret://db/url',
    version: 4,
    actor: 'service:adapter-spot',
    deploymentId: 'dep_7f3a9c',
    grantId: 'grt_19ab',
    accessedAt: '2025-06-01T00:01:00Z',
  },
})

export const SecretRotatedMessage = defineMessage({
  type: 'evt.secret.rotated',
  version: 1,
  kind: MessageKind.event,
  summary: 'A secret has a new version (carries the reference and versions, never the value)',
  publishedBy: 'secrets',
  schema: SecretRotated,
  fixture: {
    secretRef: 'secret://tnt-acme/shop/prod/db',
    envId: 'env_prod',
    version: 4,
    previousVersion: 3,
    rotatedAt: '2025-06-01T00:00:00Z',
    previousExpiresAt: '2025-06-01T01:00:00Z',
  },
})

export const PolicyViolationMessage = defineMessage({
  type: 'evt.policy.violation',
  version: 1,
  kind: MessageKind.event,
  summary: 'A deployment or running workload broke a policy',
  publishedBy: 'policy',
  schema: PolicyViolation,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    policyId: 'rxt.admission.tls',
    rule: 'tls_required',
    severity: 'high',
    enforcement: 'deny',
    message: 'Public endpoints must use TLS: set network.tls in deploy.yaml',
  },
})

export const accessContracts = [
  AccessChangedMessage,
  SecretIssueMessage,
  SecretGrantedMessage,
  SecretGrantRefusedMessage,
  SecretAccessedMessage,
  SecretRotatedMessage,
  PolicyViolationMessage,
] as const
