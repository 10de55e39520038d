import type { Kube } from './kube.ts'

/** A kubeconfig for one namespace with a bearer token: what the broker gives an environment's tenant. */
export function kubeconfigFor(
  clusterName: string,
  cluster: Kube['cluster'],
  namespace: string,
  token: string,
): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${clusterName}`,
    '  cluster:',
    `    server: ${JSON.stringify(cluster.server)}`,
    ...(cluster.caData === undefined ? [] : [`    certificate-authority-data: ${cluster.caData}`]),
    'users:',
    `- name: ${namespace}`,
    '  user:',
    `    token: ${JSON.stringify(token)}`,
    'contexts:',
    `- name: ${namespace}`,
    '  context:',
    `    cluster: ${clusterName}`,
    `    namespace: ${namespace}`,
    `    user: ${namespace}`,
    `current-context: ${namespace}`,
    '',
  ].join('\n')
}
