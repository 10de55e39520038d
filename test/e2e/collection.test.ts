// The request collection (docs/collection/) is what the OpenAPI document and the MVP path make of it, and
// its requests, run in order against a fresh `rxt-deploy up`, each answer what the document says a success
// answers, every deployment they start reaching `ready`.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { until } from '@rxt/kit/testing/bus'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { endChildren, type Server, startBudgetMs, startServer } from '../../apps/server/test/process.ts'
import {
  fill,
  mvpPath,
  type OpenApiDocument,
  pick,
  renderHttp,
  renderPostman,
  successStatus,
  variables,
} from '../../tools/collection/collection.ts'

const root = new URL('../../', import.meta.url)
const read = (path: string) => readFile(new URL(path, root), 'utf8')
const docOf = async () => JSON.parse(await read('docs/openapi.json')) as OpenApiDocument

describe('the request collection', () => {
  it('docs/collection/ is written from docs/openapi.json (regenerate: npm run docs:collection)', async () => {
    const doc = await docOf()
    expect(await read('docs/collection/rxt-deploy.http')).toBe(renderHttp(doc))
    const postman = await read('docs/collection/rxt-deploy.postman_collection.json')
    expect(postman).toBe(renderPostman(doc))
    expect(JSON.parse(postman).item).toHaveLength(mvpPath.length)
  })

  it('a step that names an operation the API lacks is refused by name', async () => {
    const doc = await docOf()
    expect(() => renderHttp(doc, [{ name: 'gone', method: 'get', path: '/v1/nothing' }])).toThrow(
      'step gone: the API has no GET /v1/nothing',
    )
  })

  describe('run against a server', () => {
    let server: Server
    let dir: string
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'rxt-collection-'))
      server = await startServer(['up'], { RXT_DATA_DIR: dir })
    }, startBudgetMs)
    afterAll(async () => {
      await endChildren()
      await rm(dir, { recursive: true, force: true })
    })

    it('every request answers its documented success, and every deployment it starts becomes ready', {
      timeout: 240_000,
    }, async () => {
      const doc = await docOf()
      const values = new Map<string, string>(Object.entries(variables))
      values.set('base', server.url)
      for (const step of mvpPath) {
        const path = step.path.replace(
          /\{(\w+)\}/g,
          (_, param: string) => `{{${step.params?.[param] ?? param}}}`,
        )
        const headers: Record<string, string> = {}
        if (values.has('token')) headers.authorization = `Bearer ${values.get('token')}`
        if (step.body !== undefined) headers['content-type'] = 'application/json'
        const res = await fetch(`${server.url}${fill(path, values)}`, {
          method: step.method.toUpperCase(),
          headers,
          ...(step.body === undefined ? {} : { body: JSON.stringify(fill(step.body, values)) }),
          signal: AbortSignal.timeout(60_000),
        })
        // The event stream ends once the deployment it follows has (it is ready by now).
        const text = await res.text()
        expect({ step: step.name, status: res.status }, text).toEqual({
          step: step.name,
          status: successStatus(doc, step),
        })
        if (step.name === 'events') expect(text).toContain('event: end')
        const body = text === '' || step.name === 'events' ? {} : JSON.parse(text)
        for (const [variable, at] of Object.entries(step.keep ?? {})) {
          const value = pick(body, at)
          expect(typeof value, `${step.name} keeps ${at}`).toBe('string')
          values.set(variable, value as string)
        }
        if (step.awaitReady !== undefined) {
          const id = values.get(step.awaitReady)
          await until(
            async () => {
              const answer = await fetch(`${server.url}/v1/deployments/${id}`, { headers })
              const deployment = (await answer.json()) as { status: string; failure?: unknown }
              if (['failed', 'cancelled'].includes(deployment.status))
                throw new Error(
                  `${step.name}: deployment ${id} ${deployment.status}: ${JSON.stringify(deployment.failure)}`,
                )
              return deployment.status === 'ready'
            },
            120_000,
            `${step.name}: deployment ${id} ready`,
          )
        }
      }
    })
  })
})
