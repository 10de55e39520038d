// The local cluster of tools/peers as the spot suites and benchmark use it: the adapter's own
// identity (user rxt-spot) bound to the ClusterRole in deploy/rbac.yaml, applied by the admin.
import { readFileSync } from 'node:fs'
import yaml from 'js-yaml'
import { spotKubeconfigPath } from '../../../tools/peers/cluster.ts'
import { createKube, type Kube } from './kube.ts'
import type { ClusterSettings, KubeObject } from './render/index.ts'

export const testSettings: ClusterSettings = {
  baseDomain: 'rxt-spot.internal',
  ingressClass: 'nginx',
  ingressNamespace: 'ingress-nginx',
  clusterIssuer: 'rxt-test-issuer',
  rateLimitRps: 50,
}

/** The adapter's RBAC, applied with the admin's kubeconfig; returns clients for both identities. */
export async function prepareCluster(adminKubeconfig: string): Promise<{ admin: Kube; adapter: Kube }> {
  const admin = createKube(adminKubeconfig)
  const rbac = yaml.loadAll(
    readFileSync(new URL('../deploy/rbac.yaml', import.meta.url), 'utf8'),
  ) as KubeObject[]
  for (const object of rbac) await admin.apply(object)
  return { admin, adapter: createKube(spotKubeconfigPath) }
}

export { spotKubeconfigPath }

/**
 * An admission policy such as a cluster's operator writes: no Deployment of an image from
 * `registry.forbidden/` in the namespaces with these labels. Returns its removal.
 */
export async function refuseForbiddenImages(
  admin: Kube,
  name: string,
  namespaceLabels: Record<string, string>,
): Promise<() => Promise<void>> {
  const group = 'admissionregistration.k8s.io/v1'
  await admin.apply({
    apiVersion: group,
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: ['apps'],
            apiVersions: ['v1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['deployments'],
          },
        ],
      },
      validations: [
        {
          expression:
            "object.spec.template.spec.containers.all(c, !c.image.startsWith('registry.forbidden/'))",
          message: forbiddenImages,
        },
      ],
    },
  })
  await admin.apply({
    apiVersion: group,
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name },
    spec: {
      policyName: name,
      validationActions: ['Deny'],
      matchResources: { namespaceSelector: { matchLabels: namespaceLabels } },
    },
  })
  return async () => {
    await admin.remove({ apiVersion: group, kind: 'ValidatingAdmissionPolicyBinding', name })
    await admin.remove({ apiVersion: group, kind: 'ValidatingAdmissionPolicy', name })
  }
}

/** What that policy says when it refuses. */
export const forbiddenImages = 'images from registry.forbidden are not allowed on this cluster'
