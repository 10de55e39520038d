import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import {
  closedObject,
  idField,
  platformField,
  secretRefField,
  slugField,
  textField,
  timestampField,
} from '../fields.ts'

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

export const SecretIssue = closedObject({
  envId: idField('The environment the credential is for'),
  deploymentId: idField("The orchestrator's deployment (saga) id"),
  secretRef: secretRefField('The secret or credential engine to issue from'),
  audience: slugField('What uses the credential, e.g. db, registry-pull'),
  ttlSeconds: Type.Integer({ minimum: 60, maximum: 86400, description: 'Lifetime of the credential' }),
  deliverTo: closedObject(
    {
      platform: platformField(),
      target: Type.String({
        minLength: 1,
        maxLength: 253,
        pattern: '^[a-z0-9][a-z0-9./-]*$',
        description: 'Where the secrets context writes it: namespace/secret-name (Spot) or a VM id (SDDC)',
      }),
    },
    { description: 'The secrets context writes the value straight to the platform, never to the bus' },
  ),
})
export type SecretIssue = Static<typeof SecretIssue>

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

export const SecretIssueMessage = defineMessage({
  type: 'cmd.secret.issue',
  version: 1,
  kind: MessageKind.command,
  summary: 'Issue a short-lived credential to a deployment (delivered to the platform, not the bus)',
  publishedBy: 'orchestrator',
  schema: SecretIssue,
  fixture: {
    envId: 'env_prod',
    deploymentId: 'dep_7f3a9c',
    secretRef: 'secret://tnt-acme/shop/prod/db',
    audience: 'db',
    ttlSeconds: 3600,
    deliverTo: { platform: 'rxt-spot', target: 'tnt-acme-shop-prod/db-credentials' },
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
  SecretRotatedMessage,
  PolicyViolationMessage,
] as const
