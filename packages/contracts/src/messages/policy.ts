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

export const policyContracts = [PolicyAdmitMessage, PolicyAdmittedMessage, PolicyDeniedMessage] as const
