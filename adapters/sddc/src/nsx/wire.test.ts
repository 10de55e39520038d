// The wire shapes come from VMware's NSX-T Go bindings: every field our schemas name, and every key the
// client sends, is a field of the binding type the schema names; every path the client calls is one the
// bindings call, and each PATCH body is the type the bindings' Patch takes. The bindings module is
// fetched with `go mod download` (into Go's module cache); without Go the test says SKIPPED.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TSchema } from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNsxSimulator } from '../nsx-sim/nsx-simulator.ts'
import { makeTestCertificates } from '../nsx-sim/test-certificates.ts'
import { applyEnvironmentNetwork, destroyEnvironmentNetwork } from './environment-network.ts'
import { createNsxClient } from './nsx-client.ts'
import * as wire from './wire.ts'

function findGo(): string | undefined {
  for (const candidate of ['go', '/usr/local/go/bin/go']) {
    try {
      execFileSync(candidate, ['version'], { stdio: 'ignore' })
      return candidate
    } catch {
      // not this one
    }
  }
  return undefined
}

const go = findGo()
if (go === undefined)
  process.stdout.write(
    `SKIPPED the NSX bindings test: Go is not installed (it downloads ${wire.nsxtBindingsModule}@${wire.nsxtBindingsVersion})\n`,
  )

/** The wire names of each `<Type>BindingType()` in the bindings' model file. */
function bindingFields(modelFile: string): Map<string, Set<string>> {
  const source = readFileSync(modelFile, 'utf8')
  const types = new Map<string, Set<string>>()
  const header = /^func (\w+)BindingType\(\) vapiBindings_\.BindingType \{$/gm
  for (let match = header.exec(source); match !== null; match = header.exec(source)) {
    const end = source.indexOf('\n}\n', match.index)
    const body = source.slice(match.index, end)
    types.set(
      match[1] as string,
      new Set([...body.matchAll(/fields\["([^"]+)"\]/g)].map((m) => m[1] as string)),
    )
  }
  return types
}

interface Finding {
  readonly where: string
  readonly field: string
}

type Schema = TSchema & {
  nsxType?: string
  properties?: Record<string, Schema>
  items?: Schema
  type?: string
}

/** Every property of every annotated object schema, with the binding type it must be a field of. */
function schemaFields(schema: Schema, into: { type: string; field: string }[] = []): typeof into {
  if (schema.properties !== undefined) {
    for (const [field, property] of Object.entries(schema.properties)) {
      if (schema.nsxType !== undefined) into.push({ type: schema.nsxType, field })
      schemaFields(property, into)
    }
  }
  if (schema.items !== undefined) schemaFields(schema.items, into)
  return into
}

/** Keys of `value` that its schema does not name (so that the binding test would not have seen them). */
function unnamedKeys(schema: Schema, value: unknown, where: string, into: Finding[] = []): Finding[] {
  if (Array.isArray(value)) {
    if (schema.items !== undefined)
      for (const [i, v] of value.entries()) unnamedKeys(schema.items, v, `${where}/${i}`, into)
    return into
  }
  if (typeof value !== 'object' || value === null || schema.properties === undefined) return into
  for (const [field, v] of Object.entries(value)) {
    const property = schema.properties[field]
    if (property === undefined) into.push({ where, field })
    else unnamedKeys(property, v, `${where}/${field}`, into)
  }
  return into
}

/** The Go client file of each kind's collection, and the type its Patch takes. */
const goClients: Readonly<Record<wire.NsxKind, { file: string; patchType: string }>> = {
  tier1: { file: 'infra/Tier1s', patchType: 'Tier1' },
  segment: { file: 'infra/Segments', patchType: 'Segment' },
  'lb-service': { file: 'infra/LbServices', patchType: 'LBService' },
  'lb-pool': { file: 'infra/LbPools', patchType: 'LBPool' },
  'lb-virtual-server': { file: 'infra/LbVirtualServers', patchType: 'LBVirtualServer' },
  certificate: { file: 'infra/Certificates', patchType: 'TlsTrustData' },
  group: { file: 'infra/domains/Groups', patchType: 'Group' },
  'security-policy': { file: 'infra/domains/SecurityPolicies', patchType: 'SecurityPolicy' },
}

describe.skipIf(go === undefined)(
  `the NSX wire shapes against ${wire.nsxtBindingsModule}@${wire.nsxtBindingsVersion}`,
  () => {
    let dir: string
    let fields: Map<string, Set<string>>

    beforeAll(() => {
      const out = execFileSync(
        go as string,
        ['mod', 'download', '-json', `${wire.nsxtBindingsModule}@${wire.nsxtBindingsVersion}`],
        // Outside any module, so that no go.mod or go.sum is touched.
        { encoding: 'utf8', cwd: tmpdir() },
      )
      const answer = JSON.parse(out) as { Dir?: string; Error?: string }
      if (answer.Dir === undefined) throw new Error(`go mod download failed: ${answer.Error ?? out}`)
      dir = answer.Dir
      fields = bindingFields(join(dir, 'model', 'ModelPackageTypes.go'))
    }, 600_000)

    it('reads the binding types from the module', () => {
      expect(existsSync(join(dir, 'model', 'ModelPackageTypes.go'))).toBe(true)
      expect(fields.get('Segment')).toContain('display_name')
      expect(fields.get('Segment')).toContain('_revision')
    })

    it('every field a schema names is a field of the binding type it names', () => {
      const schemas = (Object.values(wire) as unknown[]).filter(
        (v): v is Schema => typeof v === 'object' && v !== null && 'nsxType' in v,
      )
      expect(schemas.length).toBeGreaterThanOrEqual(20)
      const missing: string[] = []
      for (const schema of schemas)
        for (const { type, field } of schemaFields(schema)) {
          const known = fields.get(type)
          if (known === undefined) missing.push(`${type} is not a binding type`)
          else if (!known.has(field) && !(wire.fieldsOutsideBindings[type] ?? []).includes(field))
            missing.push(`${type}.${field}`)
        }
      expect(missing).toEqual([])
    })

    it('each collection is a path of the bindings, each PATCH body the type their Patch takes, and does what it documents', () => {
      for (const [kind, go] of Object.entries(goClients) as [
        wire.NsxKind,
        (typeof goClients)[wire.NsxKind],
      ][]) {
        const client = readFileSync(join(dir, `${go.file}Client.go`), 'utf8')
        const patch = /\tPatch\([^)]*nsx_policyModel\.(\w+)\) error/.exec(client)
        expect(patch?.[1], kind).toBe(go.patchType)
        expect((wire.kinds[kind].body as Schema).nsxType, kind).toBe(go.patchType)
        // What PATCH does to an existing object, as the bindings document it on Patch.
        const doc = /((?:\t\/\/[^\n]*\n)+)\tPatch\(/.exec(client)?.[1] ?? ''
        const documented = /does not modify an existing/.test(doc)
          ? 'keep'
          : /This is a full replace/.test(doc)
            ? 'replace'
            : 'merge'
        expect(wire.patchSemantics[kind], `${kind}: ${doc.split('\n')[0]}`).toBe(documented)
        const types = readFileSync(join(dir, `${go.file}Types.go`), 'utf8')
        const paths = [...types.matchAll(/"(\/policy\/api\/v1\/[^"]+)"/g)].map((m) =>
          (m[1] as string).replace('{domainId}', 'default').replace(/\{\w+\}$/, ':id'),
        )
        expect(paths, kind).toContain(`/policy/api/v1${wire.kinds[kind].collection}/:id`)
      }
      const search = readFileSync(join(dir, 'search', 'QueryTypes.go'), 'utf8')
      expect(search).toContain('"/policy/api/v1/search/query"')
      const realization = readFileSync(join(dir, 'infra', 'realized_state', 'StatusTypes.go'), 'utf8')
      expect(realization).toContain('"/policy/api/v1/infra/realized-state/status"')
      expect(realization).toContain('fields["intent_path"]')
    })

    describe('what the client sends', () => {
      const account = { username: 'admin', password: `pw-${randomBytes(6).toString('hex')}` }
      let sim: Awaited<ReturnType<typeof startNsxSimulator>>
      beforeAll(async () => {
        sim = await startNsxSimulator(account)
      })
      afterAll(async () => {
        await sim?.close()
      })

      it('every key of every body it writes is named by the schema of its kind, so by the bindings', async () => {
        const pki = makeTestCertificates()
        const client = createNsxClient({ url: sim.url, credentials: account })
        const env = { tenantId: 't-wire', projectId: 'p-wire', envId: 'e-wire' }
        const applied = await applyEnvironmentNetwork(client, {
          env,
          tier1: { tier0Path: '/infra/tier-0s/sim-t0' },
          segment: { gatewayCidr: '10.40.0.1/24' },
          loadBalancer: {
            virtualIp: '10.40.0.10',
            ports: [443, 8443],
            members: [{ ip: '10.40.0.21', port: 8080 }],
            tls: { certificatePem: pki.site.cert, privateKeyPem: pki.site.key, passphrase: 'p' },
          },
          firewall: {
            rules: [
              {
                name: 'web',
                action: 'ALLOW',
                from: ['/infra/domains/default/groups/rxt-e-wire-grp'],
                services: 'any',
              },
            ],
          },
        })
        expect(applied.ok).toBe(true)
        expect((await destroyEnvironmentNetwork(client, env)).ok).toBe(true)
        await client.close()
        const writes = sim.requests.filter((r) => r.method === 'PATCH' || r.method === 'PUT')
        expect(writes.length).toBe(8)
        const unnamed: Finding[] = []
        for (const write of writes) {
          const kind = (Object.keys(wire.kinds) as wire.NsxKind[]).find((k) =>
            write.url.startsWith(`/policy/api/v1${wire.kinds[k].collection}/`),
          )
          expect(kind, write.url).toBeDefined()
          unnamedKeys(wire.kinds[kind as wire.NsxKind].body as Schema, write.body, write.url, unnamed)
        }
        expect(unnamed).toEqual([])
      })

      it('every field the simulation answers is a field of the binding type of the answer', async () => {
        const client = createNsxClient({ url: sim.url, credentials: account })
        const pki = makeTestCertificates()
        const env = { tenantId: 't-wire', projectId: 'p-wire', envId: 'a-wire' }
        const applied = await applyEnvironmentNetwork(client, {
          env,
          segment: { gatewayCidr: '10.41.0.1/24' },
          loadBalancer: {
            virtualIp: '10.41.0.10',
            ports: [443],
            members: [{ ip: '10.41.0.21', port: 8080 }],
            tls: { certificatePem: pki.site.cert, privateKeyPem: pki.site.key },
          },
          firewall: { rules: [{ name: 'web', action: 'ALLOW', from: 'any', services: 'any' }] },
        })
        expect(applied.ok).toBe(true)
        const outside: string[] = []
        const check = (type: string, answer: Record<string, unknown>) => {
          for (const field of Object.keys(answer))
            if (!fields.get(type)?.has(field) && !(wire.fieldsOutsideBindings[type] ?? []).includes(field))
              outside.push(`${type}.${field}`)
        }
        // Objects as GET answers them (a certificate as TlsCertificate), and the search's answer.
        const objects = sim.objects()
        expect(objects.length).toBe(8)
        for (const object of objects) check(String(object.resource_type), object)
        const headers = {
          authorization: `Basic ${Buffer.from(`admin:${account.password}`).toString('base64')}`,
        }
        const search = (await (
          await fetch(`${sim.url}/policy/api/v1/search/query?query=resource_type:Segment`, { headers })
        ).json()) as Record<string, unknown>
        check('SearchResponse', search)
        const status = (await (
          await fetch(
            `${sim.url}/policy/api/v1/infra/realized-state/status?intent_path=${encodeURIComponent(String(objects[0]?.path))}`,
            { headers },
          )
        ).json()) as Record<string, unknown>
        check('ConsolidatedRealizedStatus', status)
        check('ConsolidatedStatus', status.consolidated_status as Record<string, unknown>)
        // Errors: a missing object, a body breaking its schema (with related errors), a stale revision.
        const errors = [
          await fetch(`${sim.url}/policy/api/v1/infra/segments/none`, { headers }),
          await fetch(`${sim.url}/policy/api/v1/infra/lb-pools/p`, {
            method: 'PATCH',
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify({ members: [{}] }),
          }),
          await fetch(`${sim.url}/policy/api/v1/infra/segments/rxt-a-wire-seg`, {
            method: 'PUT',
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify({ _revision: 99 }),
          }),
        ]
        expect(errors.map((r) => r.status)).toEqual([404, 400, 412])
        for (const response of errors) {
          const body = (await response.json()) as Record<string, unknown>
          check('ApiError', body)
          for (const related of (body.related_errors ?? []) as Record<string, unknown>[])
            check('RelatedApiError', related)
        }
        expect(outside).toEqual([])
        expect((await destroyEnvironmentNetwork(client, env)).ok).toBe(true)
        await client.close()
      })
    })
  },
)
