import { describe, expect, it } from 'vitest'
import { mergeDocuments, type OpenApiDocument, operationsOf } from './openapi.ts'

const problem = { type: 'object', properties: { title: { type: 'string' } } }
const problemRef = { $ref: '#/components/schemas/Problem' }
const upstream: OpenApiDocument = {
  paths: {
    '/healthz': { get: { tags: ['operations'], security: [] } },
    '/v1/projects/{projectId}': {
      get: {
        tags: ['registry'],
        responses: { 404: { content: { 'application/json': { schema: problemRef } } } },
      },
      parameters: [{ in: 'path', name: 'projectId' }],
    },
    '/v1/webhooks/github': { post: { tags: ['vcs'], security: [] } },
    '/v1/admin/registry/purge': { post: { tags: ['registry'], security: [{ bearer: [] }] } },
    '/v1/admin/consumers': { get: { tags: ['admin'] } },
  },
  components: {
    schemas: {
      Problem: { type: 'object', properties: { title: { type: 'string' }, extra: { type: 'integer' } } },
      Project: { type: 'object' },
    },
  },
}

describe("the gateway's view of OpenAPI documents", () => {
  it("takes a context's /v1 operations (its operator routes too) and the per-process ones", () => {
    expect(operationsOf(upstream, 'registry')).toEqual([
      { method: 'GET', path: '/v1/projects/{projectId}', public: false, perProcess: false },
      { method: 'POST', path: '/v1/admin/registry/purge', public: false, perProcess: false },
      { method: 'GET', path: '/v1/admin/consumers', public: false, perProcess: true },
    ])
    expect(operationsOf(upstream, 'vcs')).toEqual([
      { method: 'POST', path: '/v1/webhooks/github', public: true, perProcess: false },
      { method: 'GET', path: '/v1/admin/consumers', public: false, perProcess: true },
    ])
  })

  it('merges the upstreams into its own document, keeping a schema defined differently apart', () => {
    const local: OpenApiDocument = {
      paths: {
        '/healthz': { get: { tags: ['operations'] } },
        '/v1/admin/consumers': { get: { tags: ['admin'] } },
      },
      components: { schemas: { Problem: problem } },
    }
    const merged = mergeDocuments(local, [
      { context: 'registry', document: upstream, operations: operationsOf(upstream, 'registry') },
    ])
    expect(Object.keys(merged.paths).sort()).toEqual([
      '/healthz',
      '/v1/admin/consumers',
      '/v1/admin/registry/purge',
      '/v1/projects/{projectId}',
    ])
    expect(merged.schemas).toEqual({
      Problem: problem,
      Problem_registry: upstream.components?.schemas?.Problem,
      Project: { type: 'object' },
    })
    expect(merged.paths['/v1/projects/{projectId}']?.get).toEqual({
      tags: ['registry'],
      responses: {
        404: {
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Problem_registry' } } },
        },
      },
    })
    expect(merged.paths['/v1/admin/consumers']?.get).toMatchObject({
      tags: ['admin'],
      parameters: [{ in: 'header', name: 'x-rxt-context', required: false }],
    })
    // The local document is left as it was.
    expect(local.paths?.['/v1/admin/consumers']?.get).toEqual({ tags: ['admin'] })
  })
})
