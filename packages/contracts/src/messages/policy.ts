import { createHash } from 'node:crypto'
import Type, { type Static } from 'typebox'
import { defineMessage } from '../define-message.ts'
import { MessageKind } from '../envelope.ts'
import {
  canonicalManifestField,
  canonicalOverridesField,
  closedObject,
  digestField,
  idField,
  platformField,
  providerField,
  slugField,
  textField,
} from '../fields.ts'
import { canonical } from '../manifest/manifest-digest.ts'
import { PlacementTarget } from './placement.ts'

/**
 * Admission: the deploy saga asks policy (OPA) whether a placed deployment may go ahead; policy
 * answers with the bundle revision that decided and, when it refuses, each violation.
 */

const deploymentId = () => idField("The orchestrator's deployment (saga) id")
const envId = () => idField('The environment')

const policyId = () =>
  Type.String({
    minLength: 1,
    maxLength: 200,
    pattern: '^[a-z0-9_]+(\\.[a-z0-9_]+)*$',
    description: 'The Rego package that decided, e.g. rxt.admission.tls',
  })

export const PolicyFinding = closedObject({
  policy: policyId(),
  message: textField('What is wrong and how to fix it, for people', 1000),
})
export type PolicyFinding = Static<typeof PolicyFinding>

export const PolicyAdmit = closedObject({
  deploymentId: deploymentId(),
  sourceDeploymentId: Type.Union([deploymentId(), Type.Null()], {
    description:
      'The deployment this one re-runs (a retry, rollback or promotion), whose approved break-glass overrides also apply; null when none',
  }),
  tenantId: idField('The tenant'),
  projectId: idField('The project'),
  envId: envId(),
  environment: slugField("The environment's name: its overrides in the manifest apply"),
  manifest: canonicalManifestField(),
  manifestDigest: digestField('sha256: of the canonical manifest'),
  overrides: Type.Optional(
    canonicalOverridesField('The overrides stored on the environment, in canonical JSON (RFC 8785)'),
  ),
  placement: closedObject(
    {
      decisionId: idField("Placement's decision"),
      provider: providerField('The provider placement chose'),
      platform: platformField(),
      kind: Type.Union([Type.Literal('k8s'), Type.Literal('vm')]),
      target: PlacementTarget,
    },
    { description: 'Where placement put it: what the policies weigh besides the manifest' },
  ),
})
export type PolicyAdmit = Static<typeof PolicyAdmit>

export const PolicyAdmitted = closedObject({
  deploymentId: deploymentId(),
  envId: envId(),
  decisionId: idField('The stored policy decision'),
  bundleRevision: Type.String({
    minLength: 1,
    maxLength: 128,
    description: 'The bundle that decided (its digest)',
  }),
  waived: Type.Array(
    closedObject({
      policy: policyId(),
      message: textField('The violation waived', 1000),
      overrideId: idField('The approved break-glass override'),
    }),
    { maxItems: 50, description: 'Violations an approved break-glass override let through' },
  ),
  warnings: Type.Array(PolicyFinding, { maxItems: 50, description: 'Findings that do not refuse' }),
})
export type PolicyAdmitted = Static<typeof PolicyAdmitted>

export const PolicyDenied = closedObject({
  deploymentId: deploymentId(),
  envId: envId(),
  decisionId: idField('The stored policy decision'),
  bundleRevision: Type.String({
    minLength: 1,
    maxLength: 128,
    description: 'The bundle that decided (its digest)',
  }),
  violations: Type.Array(PolicyFinding, { minItems: 1, maxItems: 50 }),
})
export type PolicyDenied = Static<typeof PolicyDenied>

const manifest = canonical({
  apiVersion: 'rxt-deploy/v1',
  kind: 'Application',
  metadata: { name: 'shop' },
  spec: { image: 'ghcr.io/acme/shop:1.4.2', replicas: 1, stateful: false },
})
const revision = 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'

export const PolicyAdmitMessage = defineMessage({
  type: 'cmd.policy.admit',
  version: 1,
  kind: MessageKind.command,
  summary: "Admit or deny a placed deployment by policy (the deploy saga's admission step)",
  publishedBy: 'orchestrator',
  schema: PolicyAdmit,
  fixture: {
    deploymentId: 'dep_7f3a9c',
    sourceDeploymentId: null,
    tenantId: 'tnt_acme',
    projectId: 'prj_shop',
    envId: 'env_prod',
    environment: 'production',
    manifest,
    manifestDigest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`,
    overrides: '{}',
    placement: {
      decisionId: 'pld_01hx',
      provider: 'rxt-spot',
      platform: 'rxt-spot',
      kind: 'k8s',
      target: { compliance: ['soc2'], regions: ['us-east'], encryptionAtRest: true },
    },
  },
})

export const PolicyAdmittedMessage = defineMessage({
  type: 'evt.policy.admitted',
  version: 1,
  kind: MessageKind.event,
  summary:
    'Policy let a placed deployment go ahead (the bundle revision that decided, what an override waived)',
  publishedBy: 'policy',
  schema: PolicyAdmitted,
  fixture: {
    deploymentId: 'dep_7f3a9c',
    envId: 'env_prod',
    decisionId: 'pdc_01hx',
    bundleRevision: revision,
    waived: [],
    warnings: [],
  },
})

export const PolicyDeniedMessage = defineMessage({
  type: 'evt.policy.denied',
  version: 1,
  kind: MessageKind.event,
  summary: 'Policy refused a placed deployment: each violation, with the bundle revision that decided',
  publishedBy: 'policy',
  schema: PolicyDenied,
  fixture: {
    deploymentId: 'dep_7f3a9c',
    envId: 'env_prod',
    decisionId: 'pdc_01hx',
    bundleRevision: revision,
    violations: [
      { policy: 'rxt.compliance.pci', message: 'PCI-DSS workloads run on VMs only: rxt-spot is Kubernetes' },
    ],
  },
})

/** Break-glass: a deployer asks that named policies let one deployment through; another person decides. */
const overrideId = () => idField('The break-glass override')
const policies = () =>
  Type.Array(policyId(), { minItems: 1, maxItems: 20, uniqueItems: true, description: 'The policies waived' })

export const PolicyOverrideRequested = closedObject({
  overrideId: overrideId(),
  deploymentId: deploymentId(),
  policies: policies(),
  reason: textField('Why the deployment must go ahead despite the policies, for the record', 1000),
  requestedBy: idField('Who asked: user:<id>'),
  ttlMinutes: Type.Integer({ minimum: 1, maximum: 1440, description: 'How long an approval lasts' }),
})
export type PolicyOverrideRequested = Static<typeof PolicyOverrideRequested>

export const PolicyOverrideApproved = closedObject({
  overrideId: overrideId(),
  deploymentId: deploymentId(),
  policies: policies(),
  approvedBy: idField('Who approved: user:<id>, never the requester'),
  expiresAt: Type.String({ format: 'date-time', description: 'When the waiver stops applying' }),
})
export type PolicyOverrideApproved = Static<typeof PolicyOverrideApproved>

export const PolicyOverrideRejected = closedObject({
  overrideId: overrideId(),
  deploymentId: deploymentId(),
  rejectedBy: idField('Who rejected: user:<id>'),
  note: Type.Union([textField('Why, for the requester', 1000), Type.Null()]),
})
export type PolicyOverrideRejected = Static<typeof PolicyOverrideRejected>

export const PolicyBundleActivated = closedObject({
  revision: Type.String({
    minLength: 1,
    maxLength: 128,
    description: 'The bundle now deciding (its digest)',
  }),
  previous: Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()], {
    description: 'The bundle it replaced; null for the first',
  }),
  activatedBy: idField('Who activated it: user:<id>, or shipped for the bundle of the release'),
})
export type PolicyBundleActivated = Static<typeof PolicyBundleActivated>

export const PolicyOverrideRequestedMessage = defineMessage({
  type: 'evt.policy.override.requested',
  version: 1,
  kind: MessageKind.event,
  summary: 'A deployer asked to waive named policies for one deployment (break-glass); it waits for approval',
  publishedBy: 'policy',
  schema: PolicyOverrideRequested,
  fixture: {
    overrideId: 'pov_01hx',
    deploymentId: 'dep_7f3a9c',
    policies: ['rxt.compliance.pci'],
    reason: 'Card-data migration window; the VM fleet is down for maintenance until 18:00',
    requestedBy: 'user:usr_grace',
    ttlMinutes: 60,
  },
})

export const PolicyOverrideApprovedMessage = defineMessage({
  type: 'evt.policy.override.approved',
  version: 1,
  kind: MessageKind.event,
  summary: 'Another person holding policy:override approved a break-glass override, until it expires',
  publishedBy: 'policy',
  schema: PolicyOverrideApproved,
  fixture: {
    overrideId: 'pov_01hx',
    deploymentId: 'dep_7f3a9c',
    policies: ['rxt.compliance.pci'],
    approvedBy: 'user:usr_ada',
    expiresAt: '2026-12-02T18:00:00.000Z',
  },
})

export const PolicyOverrideRejectedMessage = defineMessage({
  type: 'evt.policy.override.rejected',
  version: 1,
  kind: MessageKind.event,
  summary: 'A break-glass override was rejected: the policies still apply',
  publishedBy: 'policy',
  schema: PolicyOverrideRejected,
  fixture: {
    overrideId: 'pov_01hx',
    deploymentId: 'dep_7f3a9c',
    rejectedBy: 'user:usr_ada',
    note: 'Wait for the VM fleet',
  },
})

export const PolicyBundleActivatedMessage = defineMessage({
  type: 'evt.policy.bundle.activated',
  version: 1,
  kind: MessageKind.event,
  summary: 'An operator activated a policy bundle: every decision from now on is made by it',
  publishedBy: 'policy',
  schema: PolicyBundleActivated,
  fixture: {
    revision: revision,
    previous: null,
    activatedBy: 'user:usr_ops',
  },
})

export const policyContracts = [
  PolicyAdmitMessage,
  PolicyAdmittedMessage,
  PolicyDeniedMessage,
  PolicyOverrideRequestedMessage,
  PolicyOverrideApprovedMessage,
  PolicyOverrideRejectedMessage,
  PolicyBundleActivatedMessage,
] as const
