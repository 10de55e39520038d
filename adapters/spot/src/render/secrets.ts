import { type DeliveredSecret, secretKeyRef } from '@rxt/platform-sdk'
import type { KubeObject } from './kube-object.ts'

/** The annotations a materialised Secret carries: which reference and version it holds (never the value). */
export const SecretAnnotation = {
  ref: 'rxt-deploy/secret-ref',
  version: 'rxt-deploy/secret-version',
} as const

/**
 * The Kubernetes Secret a reference's value is kept in, in an environment's namespace: named as the
 * workload's `secretKeyRef` names it (`@rxt/platform-sdk`), owned as the environment's other objects.
 */
export function secretObject(
  namespace: string,
  secret: DeliveredSecret,
  owner: Readonly<Record<string, string>>,
): KubeObject {
  const { name, key } = secretKeyRef(secret.ref)
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: { ...owner },
      annotations: {
        [SecretAnnotation.ref]: secret.ref,
        [SecretAnnotation.version]: String(secret.version),
      },
    },
    type: 'Opaque',
    immutable: false,
    data: { [key]: Buffer.from(secret.value, 'utf8').toString('base64') },
  }
}
