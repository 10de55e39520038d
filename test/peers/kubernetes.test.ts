// The local Kubernetes control plane of tools/peers, as the suites that need one get it: the pinned
// version, RBAC, and pods that reach Running on KWOK nodes.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, inject, it } from 'vitest'
import { until } from '../../packages/kit/src/testing/bus.ts'
import { pins } from '../../tools/peers/build.ts'
import { api } from '../../tools/peers/cluster.ts'

const kubeconfigPath = inject('kubeconfigPath')
const skipReason = inject('kubeSkipReason')

/** A request to the cluster's API server with a bearer token; the answer's status and JSON. */
const kube = async (token: string, method: string, path: string, body?: unknown) => {
  const res = await api(token, path, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, json: JSON.parse(res.text || '{}') as Record<string, unknown> }
}

describe.skipIf(skipReason !== '')('the local Kubernetes control plane (tools/peers)', () => {
  const admin = () => /token: "([^"]+)"/.exec(readFileSync(kubeconfigPath, 'utf8'))?.[1] as string

  it('serves the pinned version, and refuses what RBAC does not allow', async () => {
    expect((await kube(admin(), 'GET', '/version')).json.gitVersion).toBe(pins.kubernetes)
    expect((await kube('not-a-token', 'GET', '/api/v1/namespaces')).status).toBe(401)
  })

  it('runs the pods of a Deployment on KWOK nodes, and removes them with their namespace', async () => {
    const ns = `smoke-${randomBytes(4).toString('hex')}`
    expect((await kube(admin(), 'POST', '/api/v1/namespaces', { metadata: { name: ns } })).status).toBe(201)
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'nginx' }] },
        },
      },
    }
    expect(
      (await kube(admin(), 'POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment)).status,
    ).toBe(201)
    type Pods = { items: { spec: { nodeName?: string }; status: { phase?: string } }[] }
    await until(
      async () => {
        const pods = (await kube(admin(), 'GET', `/api/v1/namespaces/${ns}/pods`)).json as unknown as Pods
        return pods.items.length === 2 && pods.items.every((p) => p.status.phase === 'Running')
      },
      60_000,
      'two pods Running',
    )
    const pods = (await kube(admin(), 'GET', `/api/v1/namespaces/${ns}/pods`)).json as unknown as Pods
    expect(pods.items.every((p) => p.spec.nodeName?.startsWith('kwok-node-'))).toBe(true)
    await kube(admin(), 'DELETE', `/api/v1/namespaces/${ns}`)
    await until(
      async () => (await kube(admin(), 'GET', `/api/v1/namespaces/${ns}`)).status === 404,
      // The namespace controller and KWOK's pod deletion share two cores with the rest of the run.
      150_000,
      'the namespace is gone',
    )
  }, 240_000)
})
