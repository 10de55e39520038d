import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Envelope, PolicyAdmit } from '@rxt/contracts'
import { canonicalManifest, loadManifest } from '@rxt/contracts/manifest'
import { identity } from '@rxt/identity'
import {
  type ContextDeps,
  createLogger,
  defineContext,
  loadMigrations,
  type Runtime,
  systemClock,
} from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { signUp, startTestRuntime } from '@rxt/kit/testing/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readTarGz, writeTarGz } from '../src/domain/tar.ts'
import { createPolicy, policy } from '../src/index.ts'
import { shippedBundleFile } from '../src/shipped.ts'

const shipped = new Uint8Array(readFileSync(shippedBundleFile))
const shippedRevision = `sha256:${createHash('sha256').update(shipped).digest('hex')}`

/** The shipped bundle with other plans: a bundle of its own, decided differently. */
const withPlans = (plans: object) => {
  const files = readTarGz(shipped, { maxBytes: 1 << 24, maxEntries: 100 })
  files.set('data.json', new TextEncoder().encode(JSON.stringify({ plans })))
  return writeTarGz(files)
}
const strict = withPlans({ standard: { replicas: 1, cpu: 16, memoryMiB: 32768 } })

const yaml = (spec: string) => `apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: pay}
spec:
  image: ghcr.io/acme/pay:1
  replicas: 2
  resources: {cpu: 500m, memory: 512Mi}
${spec}`
const pciYaml = yaml('  platform: {preference: auto, constraints: {compliance: [pci-dss]}}\n')

const admitOf = (
  tenantId: string,
  deploymentId: string,
  text: string,
  kind: 'k8s' | 'vm',
  sourceDeploymentId: string | null = null,
): PolicyAdmit => {
  const loaded = loadManifest(text)
  if (!loaded.ok) throw new Error('the test manifest is valid')
  const manifest = canonicalManifest(loaded.manifest)
  return {
    deploymentId,
    sourceDeploymentId,
    tenantId,
    projectId: 'prj-pay',
    envId: `env-${deploymentId}`,
    environment: 'production',
    manifest,
    manifestDigest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`,
    overrides: '{}',
    placement: {
      decisionId: `pld-${deploymentId}`,
      provider: kind === 'vm' ? 'sim-vm' : 'sim-container',
      platform: kind === 'vm' ? 'sddc-flex' : 'rxt-spot',
      kind,
      target: { compliance: ['pci-dss'], regions: [], encryptionAtRest: true },
    },
  }
}

for (const target of dbTargets()) {
  describe.skipIf(target.skipped !== undefined)(`policy on ${target.name}`, () => {
    let handle: TestDatabase
    let runtime: Runtime
    let driver: ContextDeps<unknown>
    const events: Envelope[] = []
    let operator = ''
    let alice: Awaited<ReturnType<typeof signUp>>
    let bob: Awaited<ReturnType<typeof signUp>>
    let carol = ''

    const call = async (method: string, url: string, authorization: string, payload?: unknown) => {
      const res = await runtime.app.inject({
        method: method as 'GET',
        url,
        headers: { authorization },
        ...(payload === undefined ? {} : { payload: payload as object }),
      })
      return { status: res.statusCode, body: res.body === '' ? undefined : res.json() }
    }
    const upload = async (archive: Uint8Array, authorization = operator) => {
      const res = await runtime.app.inject({
        method: 'POST',
        url: '/v1/policy/bundles',
        headers: { authorization, 'content-type': 'application/gzip' },
        payload: Buffer.from(archive),
      })
      return { status: res.statusCode, body: res.json() }
    }
    const evaluate = (authorization: string, manifest: object, kind = 'k8s') =>
      call('POST', '/v1/evaluate', authorization, {
        action: 'deploy',
        entity: 'env-eval',
        input: {
          manifest,
          workload: { cpu: 0.5, memoryMiB: 512, replicas: 2, maxReplicas: 2 },
          placement: {
            provider: 'sim-container',
            platform: 'rxt-spot',
            kind,
            target: { encryptionAtRest: true },
          },
          credentials: { token: 'ghp_supersecretvalue123' },
        },
      })
    const limited = { spec: { resources: { cpu: '500m', memory: '512Mi' } } }
    const send = async (command: PolicyAdmit) => {
      await driver.db.transaction((tx) =>
        driver.bus.publish(tx, {
          type: 'cmd.policy.admit',
          tenantId: command.tenantId,
          key: command.envId,
          data: command,
        }),
      )
      await until(
        () =>
          events.some(
            (e) =>
              (e.type === 'evt.policy.admitted' || e.type === 'evt.policy.denied') &&
              (e.data as { deploymentId: string }).deploymentId === command.deploymentId,
          ),
        15_000,
        `an answer for ${command.deploymentId}`,
      )
      return events.filter((e) => (e.data as { deploymentId?: string }).deploymentId === command.deploymentId)
    }

    beforeAll(async () => {
      handle = await target.create()
      const harness = defineContext({
        name: 'harness',
        start: (deps) => {
          driver = deps as ContextDeps<unknown>
        },
        handlers: () => [
          {
            id: 'watch',
            types: [
              'evt.policy.admitted',
              'evt.policy.denied',
              'evt.policy.violation',
              'evt.policy.override.requested',
              'evt.policy.override.approved',
              'evt.policy.override.rejected',
              'evt.policy.bundle.activated',
            ],
            handle: async (m) => void events.push(m),
          },
        ],
      })
      runtime = await startTestRuntime({
        contexts: [identity, policy, harness],
        database: handle.database,
        env: { POLICY_BUNDLE_POLL_MS: '200' },
      })
      operator = (await signUp(runtime, 'op@example.com')).authorization
      alice = await signUp(runtime, 'alice@a.example')
      bob = await signUp(runtime, 'bob@b.example')
      const carolSignup = await signUp(runtime, 'carol@a.example')
      const invite = await call('POST', `/v1/orgs/${alice.orgId}/invites`, alice.authorization, {
        email: 'carol@a.example',
        role: 'developer',
      })
      await call('POST', `/v1/invites/${invite.body.token}/accept`, carolSignup.authorization)
      carol = carolSignup.authorization
    })
    afterAll(async () => {
      await runtime?.stop()
      await handle?.dispose()
    })
    const asCarol = (method: string, url: string, payload?: unknown) =>
      runtime.app
        .inject({
          method: method as 'GET',
          url,
          headers: { authorization: carol, 'x-rxt-org': alice.orgId },
          ...(payload === undefined ? {} : { payload: payload as object }),
        })
        .then((res) => ({ status: res.statusCode, body: res.json() }))

    it('decides with the shipped bundle, stamps its revision and keeps the decision for the tenant only', async () => {
      const allowed = await evaluate(alice.authorization, limited)
      expect(allowed.status).toBe(200)
      expect(allowed.body).toEqual({
        allow: true,
        violations: [],
        warnings: [],
        bundleRevision: shippedRevision,
        decisionId: expect.any(String),
      })
      const denied = await evaluate(alice.authorization, {
        spec: { ...limited.spec, platform: { constraints: { compliance: ['pci-dss'] } } },
      })
      expect(denied.body.allow).toBe(false)
      expect(denied.body.violations).toEqual([
        {
          policy: 'rxt.compliance.pci',
          message:
            'PCI-DSS workloads run on VMs only: sim-container is Kubernetes; set platform.preference: vm in deploy.yaml',
        },
      ])
      const listed = await call('GET', '/v1/policy/decisions', alice.authorization)
      expect(listed.body.items.map((d: { decisionId: string }) => d.decisionId)).toEqual([
        denied.body.decisionId,
        allowed.body.decisionId,
      ])
      const [latest] = listed.body.items
      expect(latest).toMatchObject({
        action: 'deploy',
        entity: 'env-eval',
        subject: expect.stringMatching(/^user:/),
        allow: false,
        bundleRevision: shippedRevision,
        inputDigest: expect.stringMatching(/^sha256:[a-f0-9]{64}$/),
      })
      expect(latest.latencyUs).toBeGreaterThanOrEqual(0)
      expect(JSON.stringify(listed.body)).not.toContain('supersecret')
      // Filters and pages.
      const refused = await call('GET', '/v1/policy/decisions?allow=false', alice.authorization)
      expect(refused.body.items.map((d: { decisionId: string }) => d.decisionId)).toEqual([
        denied.body.decisionId,
      ])
      const first = await call('GET', '/v1/policy/decisions?limit=1', alice.authorization)
      expect(first.body.items).toHaveLength(1)
      const second = await call(
        'GET',
        `/v1/policy/decisions?limit=1&cursor=${first.body.next}`,
        alice.authorization,
      )
      expect(second.body.items.map((d: { decisionId: string }) => d.decisionId)).toEqual([
        allowed.body.decisionId,
      ])
      expect(second.body.next).toBeNull()
      const future = await call('GET', '/v1/policy/decisions?since=2999-01-01T00:00:00Z', alice.authorization)
      expect(future.body.items).toEqual([])
      // Another organisation sees none of them.
      expect((await call('GET', '/v1/policy/decisions', bob.authorization)).body.items).toEqual([])
    })

    it('masks secret-looking values before digesting the input', async () => {
      const withSecret = await evaluate(alice.authorization, limited)
      const listed = await call('GET', '/v1/policy/decisions?limit=1', alice.authorization)
      expect(listed.body.items[0].decisionId).toBe(withSecret.body.decisionId)
      // Two inputs that differ only in a secret's value digest the same.
      const again = await call('POST', '/v1/evaluate', alice.authorization, {
        action: 'deploy',
        entity: 'env-eval',
        input: {
          manifest: limited,
          workload: { cpu: 0.5, memoryMiB: 512, replicas: 2, maxReplicas: 2 },
          placement: {
            provider: 'sim-container',
            platform: 'rxt-spot',
            kind: 'k8s',
            target: { encryptionAtRest: true },
          },
          credentials: { token: 'ghp_anothersecretvalue99' },
        },
      })
      const both = await call('GET', '/v1/policy/decisions?limit=2', alice.authorization)
      expect(both.body.items[0].decisionId).toBe(again.body.decisionId)
      expect(both.body.items[0].inputDigest).toBe(both.body.items[1].inputDigest)
    })

    it('admits or denies cmd.policy.admit, telling each violation', async () => {
      const onVm = await send(admitOf(alice.orgId, 'dep-vm', pciYaml, 'vm'))
      const admitted = onVm.find((e) => e.type === 'evt.policy.admitted')
      expect(admitted?.data).toMatchObject({ bundleRevision: shippedRevision, waived: [], warnings: [] })
      const onK8s = await send(admitOf(alice.orgId, 'dep-k8s', pciYaml, 'k8s'))
      const denied = onK8s.find((e) => e.type === 'evt.policy.denied')
      expect(denied?.data).toMatchObject({
        deploymentId: 'dep-k8s',
        bundleRevision: shippedRevision,
        violations: [{ policy: 'rxt.compliance.pci', message: expect.stringContaining('VMs only') }],
      })
      expect(onK8s.filter((e) => e.type === 'evt.policy.violation').map((e) => e.data)).toEqual([
        expect.objectContaining({
          policyId: 'rxt.compliance.pci',
          rule: 'vm_only',
          severity: 'critical',
          enforcement: 'deny',
          deploymentId: 'dep-k8s',
        }),
      ])
      const stored = await call('GET', '/v1/policy/decisions?action=deploy&allow=false', alice.authorization)
      expect(stored.body.items.map((d: { decisionId: string }) => d.decisionId)).toContain(
        (denied?.data as { decisionId: string }).decisionId,
      )
    })

    it('waives named policies for an approved override of the deployment or its source, never self-approved', async () => {
      // A developer asks; the developer cannot approve (no policy:override); nor can the owner approve their own.
      const asked = await asCarol('POST', '/v1/policy/overrides', {
        deploymentId: 'dep-source',
        policies: ['rxt.compliance.pci'],
        reason: 'VM fleet is down for maintenance until 18:00',
        ttlMinutes: 30,
      })
      expect(asked.status).toBe(201)
      expect(asked.body).toMatchObject({ status: 'requested', ttlMinutes: 30, expiresAt: null })
      expect((await asCarol('POST', `/v1/policy/overrides/${asked.body.id}/approve`)).status).toBe(403)
      const own = await call('POST', '/v1/policy/overrides', alice.authorization, {
        deploymentId: 'dep-own',
        policies: ['rxt.compliance.pci'],
        reason: 'I would like to approve this myself',
      })
      expect(own.body.ttlMinutes).toBe(60)
      const self = await call('POST', `/v1/policy/overrides/${own.body.id}/approve`, alice.authorization)
      expect(self.status).toBe(403)
      expect(self.body.detail).toContain('you asked for this override, so you cannot approve it')
      // Another organisation cannot see or decide it.
      expect(
        (await call('POST', `/v1/policy/overrides/${asked.body.id}/approve`, bob.authorization)).status,
      ).toBe(404)
      const approved = await call(
        'POST',
        `/v1/policy/overrides/${asked.body.id}/approve`,
        alice.authorization,
      )
      expect(approved.status).toBe(200)
      expect(approved.body).toMatchObject({ status: 'approved', decidedBy: expect.stringMatching(/^user:/) })
      expect(Date.parse(approved.body.expiresAt) - Date.now()).toBeGreaterThan(29 * 60_000)
      expect(
        (await call('POST', `/v1/policy/overrides/${asked.body.id}/approve`, alice.authorization)).status,
      ).toBe(409)
      // A retry of the source deployment goes ahead, the violation waived; another deployment does not.
      const retried = await send(admitOf(alice.orgId, 'dep-retry', pciYaml, 'k8s', 'dep-source'))
      expect(retried.find((e) => e.type === 'evt.policy.admitted')?.data).toMatchObject({
        waived: [{ policy: 'rxt.compliance.pci', overrideId: asked.body.id, message: expect.any(String) }],
      })
      expect(retried.find((e) => e.type === 'evt.policy.violation')?.data).toMatchObject({
        enforcement: 'warn',
      })
      const other = await send(admitOf(alice.orgId, 'dep-other', pciYaml, 'k8s'))
      expect(other.some((e) => e.type === 'evt.policy.denied')).toBe(true)
      // The same deployment id in another organisation is not waived.
      const elsewhere = await send(admitOf(bob.orgId, 'dep-source', pciYaml, 'k8s'))
      expect(elsewhere.some((e) => e.type === 'evt.policy.denied' && e.tenantId === bob.orgId)).toBe(true)
      // Rejection is an event too.
      const rejected = await call('POST', `/v1/policy/overrides/${own.body.id}/reject`, alice.authorization, {
        note: 'no',
      })
      expect(rejected.body).toMatchObject({ status: 'rejected', note: 'no' })
      await until(
        () =>
          [
            'evt.policy.override.requested',
            'evt.policy.override.approved',
            'evt.policy.override.rejected',
          ].every((type) => events.some((e) => e.type === type)),
        5000,
        'the override events',
      )
      const listed = await asCarol('GET', '/v1/policy/overrides?deploymentId=dep-source')
      expect(listed.body.items.map((o: { id: string }) => o.id)).toEqual([asked.body.id])
    })

    it('takes bundles from operators only, refuses garbage, and activates one in every process without a restart', async () => {
      expect((await upload(strict, alice.authorization)).status).toBe(403)
      const json = await call('POST', '/v1/policy/bundles', operator, { bundle: 'base64?' })
      expect(json.status).toBe(415)
      expect(json.body).toMatchObject({ status: 415 })
      const garbage = await upload(new TextEncoder().encode('not a bundle'))
      expect(garbage.status).toBe(422)
      expect(garbage.body.detail).toContain('the bundle does not load')
      const stored = await upload(strict)
      expect(stored.status).toBe(201)
      expect(stored.body).toMatchObject({
        active: false,
        shipped: false,
        entrypoints: ['rxt/decision/result'],
      })
      expect((await upload(strict)).status).toBe(200)
      const listed = await call('GET', '/v1/policy/bundles', operator)
      expect(listed.body.items.find((b: { active: boolean }) => b.active).revision).toBe(shippedRevision)
      expect((await call('GET', '/v1/policy/bundles', alice.authorization)).status).toBe(403)

      // Another replica of the context on the same database, with its own evaluator.
      const replica = createPolicy({
        db: await handle.database.openContext(
          'policy',
          await loadMigrations(new URL('../migrations/', import.meta.url)),
        ),
        bus: driver.bus,
        log: createLogger({ level: 'silent' }),
        clock: systemClock,
        config: { POLICY_DEFAULT_PLAN: 'standard', POLICY_BUNDLE_POLL_MS: 200 },
      })
      await replica.start()
      expect(replica.bundles.active().revision).toBe(shippedRevision)

      const activated = await call('POST', `/v1/policy/bundles/${stored.body.revision}/activate`, operator)
      expect(activated.status).toBe(200)
      const after = await evaluate(alice.authorization, limited)
      expect(after.body.bundleRevision).toBe(stored.body.revision)
      expect(after.body.violations.map((v: { policy: string }) => v.policy)).toEqual(['rxt.quota.plan'])
      // The replica's poll (its job) loads it too.
      await replica.bundles.refresh()
      expect(replica.bundles.active().revision).toBe(stored.body.revision)
      // A start (a new release) keeps an operator's choice.
      await replica.start()
      expect(replica.bundles.active().revision).toBe(stored.body.revision)
      await until(
        () => events.some((e) => e.type === 'evt.policy.bundle.activated'),
        5000,
        'the activation event',
      )
      expect(
        (await call('POST', `/v1/policy/bundles/sha256:${'0'.repeat(64)}/activate`, operator)).status,
      ).toBe(404)
      // Back to the shipped one.
      await call('POST', `/v1/policy/bundles/${shippedRevision}/activate`, operator)
      expect((await evaluate(alice.authorization, limited)).body).toMatchObject({
        allow: true,
        bundleRevision: shippedRevision,
      })
    })
  })
}
