// The tenancy-isolation suite (OWASP API1 and API5). Every route of every context in this build that
// names a tenant's resource in its path is called with another organisation's JWT and API key, and must
// answer 404 and leave the organisation's data as it was. Routes are found in the OpenAPI document, so a
// new endpoint is covered the day it is added; a path parameter the suite has no resource of org A for
// fails the suite until a fixture is added to `fixturesOfA` below.
import { randomBytes } from 'node:crypto'
import type { Envelope } from '@rxt/contracts'
import { canonicalManifest, loadManifest, manifestDigest } from '@rxt/contracts/manifest'
import { type ContextDeps, defineContext, type Runtime } from '@rxt/kit'
import { dbTargets, type TestDatabase } from '@rxt/kit/testing'
import { until } from '@rxt/kit/testing/bus'
import { startTestRuntime } from '@rxt/kit/testing/runtime'
import { deploymentIdOf } from '@rxt/orchestrator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { catalog } from '../../apps/server/src/catalog.ts'

const password = 'a long passphrase'
const [pglite] = dbTargets()

interface Operation {
  readonly method: string
  readonly path: string
  readonly auth: 'public' | 'guarded'
}

describe('tenancy isolation: another organisation gets 404 and changes nothing', () => {
  let handle: TestDatabase
  let runtime: Runtime
  const call = async (method: string, url: string, authorization?: string, payload?: unknown) => {
    const res = await runtime.app.inject({
      method: method as 'GET',
      url,
      headers: authorization === undefined ? {} : { authorization },
      ...(payload === undefined ? {} : { payload: payload as object }),
    })
    return { status: res.statusCode, text: res.body }
  }
  const json = async (method: string, url: string, authorization?: string, payload?: unknown) =>
    JSON.parse((await call(method, url, authorization, payload)).text)

  /** Org A's resources, by path parameter name: what an attacker from org B aims at. */
  const fixturesOfA: Record<string, string> = {}
  let attackers: { name: string; authorization: string }[] = []
  let ownerOfA = ''
  let decisionOfA = ''
  let _driver: ContextDeps<unknown>
  const commands: Envelope[] = []

  beforeAll(async () => {
    handle = await (pglite as NonNullable<typeof pglite>).create()
    // Publishes org A's work to the router and to secrets, and sees the command and the grant they answer.
    const harness = defineContext({
      name: 'harness',
      start: (deps) => {
        _driver = deps as ContextDeps<unknown>
      },
      handlers: () => [
        {
          id: 'commands',
          types: ['cmd.spot.provision.request', 'evt.secret.granted'],
          handle: async (m) => void commands.push(m),
        },
      ],
    })
    runtime = await startTestRuntime({
      contexts: [...catalog, harness],
      database: handle.database,
      env: {
        WEBHOOK_KEY: randomBytes(32).toString('base64url'),
        SECRETS_KEY: randomBytes(32).toString('base64url'),
      },
    })
    const signup = (email: string, orgName: string) =>
      json('POST', '/v1/auth/signup', undefined, { email, password, name: email, orgName })
    const alice = await signup('alice@a.example', 'A')
    const bob = await signup('bob@b.example', 'B')
    const carol = await signup('carol@a.example', 'Carol')
    ownerOfA = `Bearer ${alice.accessToken}`
    // Org A has a member besides its owner, a custom role, an API key and an open invite.
    const invite = await json('POST', `/v1/orgs/${alice.orgId}/invites`, ownerOfA, {
      email: 'carol@a.example',
      role: 'developer',
    })
    await json('POST', `/v1/invites/${invite.token}/accept`, `Bearer ${carol.accessToken}`)
    await json('POST', `/v1/orgs/${alice.orgId}/roles`, ownerOfA, {
      name: 'auditor',
      permissions: ['audit:read'],
    })
    const keyOfA = await json('POST', `/v1/orgs/${alice.orgId}/api-keys`, ownerOfA, {
      name: 'ci',
      role: 'viewer',
    })
    const open = await json('POST', `/v1/orgs/${alice.orgId}/invites`, ownerOfA, {
      email: 'dave@a.example',
      role: 'viewer',
    })
    // A project with an environment and two manifests in its history.
    const project = await json('POST', '/v1/projects', ownerOfA, { slug: 'shop', name: 'Shop' })
    const env = await json('POST', `/v1/projects/${project.id}/environments`, ownerOfA, {
      name: 'staging',
      type: 'staging',
    })
    const manifest = (image: string) =>
      json('POST', `/v1/projects/${project.id}/manifests`, ownerOfA, {
        yaml: `apiVersion: rxt-deploy/v1\nkind: Application\nmetadata: {name: shop}\nspec: {image: "${image}"}\n`,
        environment: 'staging',
      })
    const [first, second] = [await manifest('ghcr.io/a/shop:1'), await manifest('ghcr.io/a/shop:2')]
    // vcs learns of the project through the bus before its deliveries can be listed.
    await until(
      async () =>
        (await call('GET', `/v1/projects/${project.id}/webhook/deliveries`, ownerOfA)).status === 200,
      10_000,
    )
    // A deployment of org A's, settled (its status no longer moves while the suite compares).
    const yaml =
      'apiVersion: rxt-deploy/v1\nkind: Application\nmetadata: {name: shop}\nspec: {image: "ghcr.io/a/shop:1"}\n'
    const loaded = loadManifest(yaml)
    if (!loaded.ok) throw new Error('the fixture manifest is valid')
    const apply = {
      envId: env.id,
      projectId: project.id,
      environment: 'staging',
      commitSha: 'c'.repeat(40),
      artifactRef: 'ghcr.io/a/shop:1',
      manifest: canonicalManifest(loaded.manifest),
      manifestDigest: manifestDigest(loaded.manifest),
      overrides: '{}',
    }
    await _driver.db.transaction((tx) =>
      _driver.bus.publish(tx, { type: 'cmd.deploy.apply', tenantId: alice.orgId, key: env.id, data: apply }),
    )
    const deploymentId = deploymentIdOf({ ...apply, tenantId: alice.orgId })
    await until(
      async () =>
        ['ready', 'failed'].includes(
          (await call('GET', `/v1/deployments/${deploymentId}`, ownerOfA)).status === 200
            ? (await json('GET', `/v1/deployments/${deploymentId}`, ownerOfA)).status
            : '',
        ),
      20_000,
      "org A's deployment to settle",
    )
    // A placement decision of org A's environment (placement hears of the environment on the bus).
    await until(
      async () =>
        (await call('POST', '/v1/placement/recommend', ownerOfA, { yaml, envId: env.id })).status === 200,
      15_000,
      "placement to decide for org A's environment",
    )
    // A break-glass override asked for org A's deployment, and a policy decision of org A's.
    const override = await json('POST', '/v1/policy/overrides', ownerOfA, {
      deploymentId,
      policies: ['rxt.compliance.pci'],
      reason: 'the fixture of the tenancy suite',
    })
    decisionOfA = (
      await json('POST', '/v1/evaluate', ownerOfA, {
        action: 'deploy',
        input: { manifest: { spec: {} }, placement: { kind: 'k8s' } },
      })
    ).decisionId
    const bundles = await json('GET', '/v1/policy/bundles', ownerOfA)
    // A secret of org A's environment, and a grant of it to a deployment (as the orchestrator asks).
    const secret = await json('POST', '/v1/secrets', ownerOfA, {
      name: 'db/url',
      projectId: project.id,
      envId: env.id,
      value: 'postgres://the-fixture-of-the-tenancy-suite',
    })
    const issued = await _driver.db.transaction((tx) =>
      _driver.bus.publish(tx, {
        type: 'cmd.secret.issue',
        tenantId: alice.orgId,
        key: env.id,
        data: { deploymentId, projectId: project.id, envId: env.id, refs: ['secret://db/url'] },
      }),
    )
    await until(() => commands.some((m) => m.causationId === issued.id), 15_000, "org A's grant")
    const grant = commands.find((m) => m.causationId === issued.id) as Envelope<{ grantId: string }>
    Object.assign(fixturesOfA, {
      overrideId: override.id,
      secretId: secret.id,
      grantId: grant.data.grantId,
      // Policy bundles are the platform's, decided by operators: read and activated by none of the tenants.
      revision: bundles.items[0].revision,
      deploymentId,
      workflowId: deploymentId,
      type: 'deploy',
      orgId: alice.orgId,
      userId: carol.userId,
      keyId: keyOfA.id,
      token: open.token,
      projectId: project.id,
      envId: env.id,
      digest: first.digest,
      otherDigest: second.digest,
      // Offered to every tenant by the platform, not org A's: read by all, changed by none.
      providerId: 'sim-container',
    })
    // A VM of org A's (as the SDDC Flex adapter reports it), an alert rule, and a migration asked of it.
    await _driver.db.transaction((tx) =>
      _driver.bus.publish(tx, {
        type: 'evt.vm.created',
        tenantId: alice.orgId,
        key: 'vm-a1',
        data: {
          vmId: 'vm-a1',
          tenantId: alice.orgId,
          nodeId: 'host-1',
          envId: env.id,
          spec: { cpu: 2, memoryMiB: 4096, diskGiB: 40, guestOs: 'ubuntu64Guest' },
        },
      }),
    )
    await until(
      async () => (await call('GET', '/v1/vms/vm-a1', ownerOfA)).status === 200,
      15_000,
      "org A's VM",
    )
    const rule = await json('POST', '/v1/monitoring/alert-rules', ownerOfA, {
      name: 'off unexpectedly',
      kind: 'powered-off',
    })
    const migration = await json('POST', '/v1/vms/vm-a1/migrate', ownerOfA, { toHost: 'host-2' })
    Object.assign(fixturesOfA, { vmId: 'vm-a1', ruleId: rule.id, migrationId: migration.id })
    const bobKey = await json('POST', `/v1/orgs/${bob.orgId}/api-keys`, `Bearer ${bob.accessToken}`, {
      name: 'b',
      role: 'owner',
    })
    attackers = [
      { name: "org B's owner (JWT)", authorization: `Bearer ${bob.accessToken}` },
      { name: "org B's API key", authorization: `ApiKey ${bobKey.key}` },
    ]
  }, 240_000) // the whole catalog on PGlite and org A's fixtures: 30 s alone, minutes beside a full run
  afterAll(async () => {
    await runtime?.stop()
    await handle?.dispose()
  })

  /** Every operation in the API whose path names a resource. */
  const operations = (): Operation[] => {
    const doc = runtime.app.swagger() as {
      paths: Record<string, Record<string, { security?: unknown[] }>>
    }
    return Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([method]) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
        .filter(() => path.includes('{'))
        .map(([method, op]) => ({
          method: method.toUpperCase(),
          path,
          auth:
            Array.isArray(op.security) && op.security.length === 0
              ? ('public' as const)
              : ('guarded' as const),
        })),
    )
  }

  /** What org A looks like to its owner: every GET it can make, answered. */
  const snapshotOfA = async () => {
    const seen: Record<string, string> = {}
    // What the platform offers (providers, their health as of now) and operators' routes are not org A's data.
    for (const op of operations().filter(
      (o) =>
        o.method === 'GET' &&
        o.auth === 'guarded' &&
        !platformLevel(o.path) &&
        !o.path.startsWith('/v1/admin/'),
    )) {
      const url = fill(op.path)
      const res = await call('GET', url, ownerOfA)
      // What the owner may not read (a grant's values are a service's) is its status: a problem
      // document carries the request's id.
      seen[url] = res.status === 200 ? res.text : String(res.status)
    }
    return seen
  }

  /**
   * A valid body for the operations whose body would fail validation before the tenant is looked at:
   * an empty body answered 400 would prove nothing. An operation not listed is sent `{}`.
   */
  const bodies: Record<string, unknown | (() => unknown)> = {
    'POST /v1/environments/{envId}/deployments': { artifactRef: 'ghcr.io/b/planted:1' },
    'POST /v1/environments/{envId}/promote': () => ({ from: fixturesOfA.envId }),
    'POST /v1/environments/{envId}/destroy': { confirm: 'staging' },
    'POST /v1/workflows/{type}/start': () => ({
      envId: fixturesOfA.envId,
      artifactRef: 'ghcr.io/b/planted:1',
    }),
    'PATCH /v1/projects/{projectId}': { name: 'taken over' },
    'POST /v1/projects/{projectId}/environments': { name: 'planted', type: 'staging' },
    'PATCH /v1/projects/{projectId}/environments/{envId}': { promotionOrder: 7 },
    'PUT /v1/placement/pins/{envId}': { provider: 'sim-vm', reason: 'planted' },
    'POST /v1/secrets/{secretId}/rotate': { value: 'planted' },
    'POST /v1/vms/{vmId}/migrate': { toHost: 'host-planted' },
    'POST /v1/projects/{projectId}/manifests': {
      yaml: 'apiVersion: rxt-deploy/v1\nkind: Application\nmetadata: {name: planted}\nspec: {image: "x/y:1"}\n',
    },
  }

  const bodyOf = (operation: string) => {
    const body = bodies[operation] ?? {}
    return typeof body === 'function' ? (body as () => unknown)() : body
  }

  /** Routes of what the platform offers every tenant (operators manage it): read by all, changed by none. */
  const platformLevel = (path: string) =>
    path.startsWith('/v1/providers/') || path.startsWith('/v1/policy/bundles/')

  const fill = (path: string) =>
    path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = fixturesOfA[name]
      if (value === undefined) {
        throw new Error(`no resource of org A for path parameter {${name}} (${path}): add one to fixturesOfA`)
      }
      return value
    })

  // Two attackers on every route, and org A read before and after: 14 s alone, two minutes on a busy machine.
  it('covers every guarded route that names a resource, and each answers 404 to org B', {
    timeout: 300_000,
  }, async () => {
    const guarded = operations().filter(
      (o) => o.auth === 'guarded' && !o.path.startsWith('/v1/admin/') && !platformLevel(o.path),
    )
    expect(guarded.length).toBeGreaterThanOrEqual(8)
    const before = await snapshotOfA()
    const failures: string[] = []
    for (const op of guarded) {
      // Invites are accepted by whoever holds the token; the token is the credential, covered below.
      if (op.path === '/v1/invites/{token}/accept') continue
      for (const attacker of attackers) {
        const body =
          op.method === 'GET' || op.method === 'DELETE' ? undefined : bodyOf(`${op.method} ${op.path}`)
        const res = await call(op.method, fill(op.path), attacker.authorization, body)
        if (res.status !== 404)
          failures.push(
            `${op.method} ${op.path} as ${attacker.name}: ${res.status} ${res.text.slice(0, 120)}${res.status === 400 ? ' (add a valid body for it to `bodies`)' : ''}`,
          )
        if (res.text.includes('alice@a.example') || res.text.includes('carol@a.example')) {
          failures.push(`${op.method} ${op.path} as ${attacker.name}: leaks org A's data`)
        }
      }
    }
    expect(failures).toEqual([])
    expect(await snapshotOfA()).toEqual(before)
  })

  it('lets tenants read what the platform offers (providers) and change none of it', async () => {
    const offered = operations().filter((o) => o.auth === 'guarded' && platformLevel(o.path))
    expect(offered.length).toBeGreaterThanOrEqual(3)
    const before = await json('GET', '/v1/providers/sim-container/capabilities', ownerOfA)
    for (const op of offered) {
      // Org A's owner signed up first: the installation's operator. Org B is an ordinary tenant.
      for (const tenant of attackers) {
        const res = await call(
          op.method,
          fill(op.path),
          tenant.authorization,
          op.method === 'GET' ? undefined : { enabled: false },
        )
        expect(res.status, `${op.method} ${op.path} as ${tenant.name}`).toBe(op.method === 'GET' ? 200 : 403)
      }
    }
    expect(await json('GET', '/v1/providers/sim-container/capabilities', ownerOfA)).toEqual(before)
    const listed = await json('GET', '/v1/providers', ownerOfA)
    expect(listed.items.every((p: { enabled: boolean }) => p.enabled)).toBe(true)
  })

  it("shows org B none of org A's policy decisions or overrides", async () => {
    expect(decisionOfA).not.toBe('')
    for (const attacker of attackers) {
      const decisions = await json('GET', '/v1/policy/decisions', attacker.authorization)
      expect(decisions.items.map((d: { decisionId: string }) => d.decisionId)).not.toContain(decisionOfA)
      const overrides = await json('GET', '/v1/policy/overrides', attacker.authorization)
      expect(overrides.items.map((o: { id: string }) => o.id)).not.toContain(fixturesOfA.overrideId)
    }
    const own = await json('GET', '/v1/policy/decisions', ownerOfA)
    expect(own.items.map((d: { decisionId: string }) => d.decisionId)).toContain(decisionOfA)
  })

  it("lists org B none of org A's VMs, alerts or alert rules", async () => {
    expect((await json('GET', '/v1/vms', ownerOfA)).items.map((v: { vmId: string }) => v.vmId)).toEqual([
      fixturesOfA.vmId,
    ])
    expect((await json('GET', '/v1/monitoring/alert-rules', ownerOfA)).items).toHaveLength(1)
    for (const attacker of attackers) {
      expect((await json('GET', '/v1/vms', attacker.authorization)).items).toEqual([])
      expect((await json('GET', `/v1/vms?host=host-1`, attacker.authorization)).items).toEqual([])
      expect((await json('GET', '/v1/monitoring/alerts', attacker.authorization)).items).toEqual([])
      expect((await json('GET', '/v1/monitoring/alert-rules', attacker.authorization)).items).toEqual([])
    }
  })

  it("keeps org A's placement decisions and stored manifests from org B", async () => {
    const explained = await json('GET', `/v1/placement/explain/${fixturesOfA.envId}`, ownerOfA)
    expect(explained.decisionId).toMatch(/^pld_/)
    const yaml =
      'apiVersion: rxt-deploy/v1\nkind: Application\nmetadata: {name: shop}\nspec: {image: "ghcr.io/a/shop:1"}\n'
    for (const attacker of attackers) {
      // Org A's environment, and the manifest placement stored for org A, do not exist for org B.
      const byEnv = await call('POST', '/v1/placement/recommend', attacker.authorization, {
        yaml,
        envId: fixturesOfA.envId,
      })
      expect(byEnv.status).toBe(404)
      const byDigest = await call('POST', '/v1/placement/recommend', attacker.authorization, {
        manifestDigest: explained.manifestDigest,
        environment: 'staging',
      })
      expect(byDigest.status).toBe(404)
      expect(byDigest.text).not.toContain(explained.decisionId)
    }
  })

  it("does not let org B accept org A's invite sent to someone else", async () => {
    for (const attacker of attackers) {
      const res = await call('POST', `/v1/invites/${fixturesOfA.token}/accept`, attacker.authorization)
      expect([403, 404]).toContain(res.status)
    }
    const members = await json('GET', `/v1/orgs/${fixturesOfA.orgId}/members`, ownerOfA)
    expect(members.items.map((m: { email: string }) => m.email).sort()).toEqual([
      'alice@a.example',
      'carol@a.example',
    ])
  })
})
