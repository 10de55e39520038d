// The distributed mode end to end: separate `rxt-deploy serve` processes on PostgreSQL and NATS JetStream
// (identity; registry + vcs; router + sim + orchestrator; the gateway in front of them), and a developer's journey
// through the gateway — sign-up, a project with its repository, environments, a manifest, signed
// GitHub deliveries, and the successful workflow run's deployment, ready with its URL — which must
// answer as the same journey does against `rxt-deploy up` (embedded),
// with the events on the bus. The gateway's own routes answer, and its document lists every upstream
// operation. Every process runs in a process group of its own, ended when the suite ends, pass or fail.
import type { ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import examples from '@octokit/webhooks-examples' with { type: 'json' }
import { sign } from '@octokit/webhooks-methods'
import type { Envelope } from '@rxt/contracts'
import { createFreshPostgres } from '@rxt/kit/testing'
import { deleteStreams, until } from '@rxt/kit/testing/bus'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { runCli } from '../../apps/cli/test/run-cli.ts'
import { spawnRxt } from '../../apps/server/test/process.ts'

const postgresUrl = inject('postgresUrl')
const natsUrl = inject('natsUrl')
// A missing peer is printed SKIPPED with its reason by the run's setup (and fails the run under CI=true).
const skipped = postgresUrl === '' || natsUrl === ''

/** Generous: two slow cores start five processes, each compiling its contexts. */
const startMs = 180_000
const settleMs = 60_000

// biome-ignore lint/suspicious/noExplicitAny: GitHub's payloads, read field by field
type Payload = Record<string, any>
const example = (event: string, match: (payload: Payload) => boolean = () => true): Payload => {
  const found = (examples as unknown as { name: string; examples: Payload[] }[])
    .find((e) => e.name === event)
    ?.examples.find(match)
  if (found === undefined) throw new Error(`no ${event} example`)
  return found
}
const repository = 'Codertocat/Hello-World'
const push = { ...example('push', (p) => p.ref === 'refs/heads/master' && p.deleted === false) }
const ping = { ...example('ping'), repository: { ...example('ping').repository, full_name: repository } }
const completed = example('workflow_run', (p) => p.workflow_run.conclusion === 'success')
const workflowRun = {
  ...completed,
  repository: { full_name: repository },
  workflow_run: {
    ...completed.workflow_run,
    path: '.github/workflows/build.yml',
    conclusion: 'success',
    head_branch: 'master',
  },
}

/** One `rxt-deploy` process, the leader of its own process group. */
interface Child {
  readonly name: string
  readonly url: string
  readonly process: ChildProcess
  output(): string
}

const children: Child[] = []
const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null
const signalGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal)
  } catch {
    // The group is gone already.
  }
}

/** Ends a process group: SIGTERM, then SIGKILL if any of it is still there after 20 seconds. */
async function stop(entry: Child): Promise<void> {
  children.splice(children.indexOf(entry), 1)
  const child = entry.process
  if (!alive(child)) return
  const exited = once(child, 'exit')
  signalGroup(child, 'SIGTERM')
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), 20_000)
  await exited
  clearTimeout(timer)
  // Whatever it started goes too.
  signalGroup(child, 'SIGKILL')
}

const stopAll = () => Promise.all([...children].map(stop))

/** Starts `rxt-deploy <args>` and resolves with its address once it logs that it serves. */
async function start(name: string, args: string[], env: Record<string, string>): Promise<Child> {
  // The shared helper: a process group of its own, ended with the worker however the worker ends.
  const child = spawnRxt(args, env)
  const lines: string[] = []
  const keep = (line: string) => {
    lines.push(line)
    if (lines.length > 400) lines.shift()
  }
  const output = () => lines.join('\n')
  const entry: Child = { name, url: '', process: child, output }
  children.push(entry)
  const url = await new Promise<string>((resolve, reject) => {
    let partial = ''
    const timer = setTimeout(
      () => reject(new Error(`${name} did not serve within ${startMs} ms:\n${output()}`)),
      startMs,
    )
    child.stdout?.on('data', (data: Buffer) => {
      const split = (partial + data).split('\n')
      partial = split.pop() ?? ''
      for (const line of split) {
        keep(line)
        if (line.includes('rxt-deploy is serving')) {
          clearTimeout(timer)
          resolve(JSON.parse(line).address as string)
        }
      }
    })
    child.stderr?.on('data', (data: Buffer) => keep(String(data)))
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited with ${code} before serving:\n${output()}`))
    })
  })
  Object.assign(entry, { url })
  return entry
}

interface Answer {
  readonly status: number
  readonly body: Payload
}

/** The HTTP client of a journey: JSON in and out, against one base URL. */
const client = (base: string) => ({
  async call(method: string, path: string, headers: Record<string, string> = {}, body?: unknown) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    return {
      status: res.status,
      body: text === '' ? {} : (JSON.parse(text) as Payload),
      headers: res.headers,
    }
  },
  /** A GitHub delivery to a project's webhook path, signed with `secret`, as GitHub sends it (JSON, or form-encoded). */
  async deliver(
    hook: string,
    event: string,
    payload: Payload,
    secret: string,
    form = false,
  ): Promise<Answer> {
    const json = JSON.stringify({ ...payload, test_nonce: randomUUID() })
    const body = form ? `payload=${encodeURIComponent(json)}` : json
    const res = await fetch(`${base}${hook}`, {
      method: 'POST',
      headers: {
        'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json',
        'user-agent': 'GitHub-Hookshot/e2e',
        'x-github-event': event,
        'x-github-delivery': randomUUID(),
        'x-github-hook-id': '42',
        'x-hub-signature-256': await sign(secret, body),
      },
      body,
    })
    return { status: res.status, body: (await res.json()) as Payload }
  },
})

/** What a journey saw: each step's status and what it said, comparable between the two modes. */
interface Journey {
  readonly steps: Record<string, { status: number; outcome?: string }>
  readonly projectId: string
  readonly webhookUrl: string
  readonly verified: boolean
  readonly deliveries: { event: string; outcome: string }[]
  readonly operator: string
}

/** The developer's journey, the same in both modes. */
async function journey(base: string): Promise<Journey> {
  const { call, deliver } = client(base)
  const steps: Journey['steps'] = {}
  const signup = await call(
    'POST',
    '/v1/auth/signup',
    {},
    {
      email: 'dev@example.com',
      password: 'a long passphrase',
      name: 'Dev',
      orgName: 'Acme',
    },
  )
  steps.signup = { status: signup.status }
  const auth = { authorization: `Bearer ${signup.body.accessToken}` }
  const project = await call('POST', '/v1/projects', auth, {
    slug: 'hello',
    name: 'Hello',
    repository,
    deployBranches: ['master'],
    ci: { workflow: 'build.yml', image: 'ghcr.io/codertocat/hello-world' },
  })
  steps.project = { status: project.status }
  const projectId = project.body.id as string
  const secret = project.body.webhook.secret as string
  // The project's own webhook URL, reached here through this mode's base URL.
  const hook = new URL(project.body.webhook.url as string).pathname
  const envIds: Record<string, string> = {}
  for (const name of ['staging', 'production']) {
    const env = await call('POST', `/v1/projects/${projectId}/environments`, auth, { name, type: name })
    steps[`environment ${name}`] = { status: env.status }
    envIds[name] = env.body.id as string
  }
  // Staging's manifest: a public HTTP service with TLS, so that its deployment has a URL.
  const manifest = await call('POST', `/v1/projects/${projectId}/manifests`, auth, {
    yaml: 'apiVersion: rxt-deploy/v1\nkind: Application\nmetadata: {name: hello}\nspec:\n  image: "ghcr.io/codertocat/hello-world:1"\n  ports: [{name: http, port: 8080, protocol: http}]\n  network: {visibility: public, hostnames: [hello.acme.example], tls: required}\n',
    environment: 'staging',
  })
  steps.manifest = { status: manifest.status }

  // vcs learns of the project over the bus; until it has, no project's secret signs the delivery.
  // (Waited on for a while, then the last answer is what the step answered.)
  let answer: Answer = { status: 0, body: {} }
  await until(
    async () => {
      answer = await deliver(hook, 'ping', ping, secret)
      return answer.status === 202
    },
    settleMs,
    'vcs to know the project',
  ).catch(() => undefined)
  steps.ping = { status: answer.status, outcome: answer.body.outcome }
  // The ci settings reach vcs in the same event as the project, so a workflow run is recognised now.
  for (const [step, event, payload, form] of [
    ['push', 'push', push, false],
    ['push (form-encoded)', 'push', push, true],
    ['workflow_run', 'workflow_run', workflowRun, false],
  ] as const) {
    const delivered = await deliver(hook, event, payload, secret, form)
    steps[step] = { status: delivered.status, outcome: delivered.body.outcome }
  }
  steps['push with another secret'] = { status: (await deliver(hook, 'push', push, 'not-the-secret')).status }

  // registry hears evt.repo.verified from vcs: the ping proved the repository's webhook.
  let verified = false
  await until(
    async () => {
      const seen = await call('GET', `/v1/projects/${projectId}`, auth)
      verified = seen.body.repositoryVerifiedAt !== null && seen.body.repositoryVerifiedAt !== undefined
      return verified
    },
    settleMs,
    'registry to hear the repository is verified',
  ).catch(() => undefined)
  // The successful workflow run of a deploy branch deploys staging (the environment with a manifest):
  // the registry sends cmd.deploy.apply, the orchestrator's saga places, provisions and networks it.
  let deployment: Payload = {}
  // Its progress as Server-Sent Events, opened as soon as the deployment is listed.
  let streamed: Promise<string> | undefined
  await until(
    async () => {
      const listed = await call('GET', `/v1/environments/${envIds.staging}/deployments`, auth)
      deployment = ((listed.body.items ?? []) as Payload[])[0] ?? {}
      if (deployment.id !== undefined && streamed === undefined)
        streamed = fetch(`${base}/v1/deployments/${deployment.id}/events`, { headers: auth }).then((r) =>
          r.text(),
        )
      return ['ready', 'failed', 'cancelled'].includes(deployment.status as string)
    },
    settleMs,
    'the push to be deployed',
  ).catch(() => undefined)
  const shown =
    deployment.id === undefined
      ? { status: 0, body: {} as Payload }
      : await call('GET', `/v1/deployments/${deployment.id}`, auth)
  steps.deployment = {
    status: shown.status,
    outcome: [
      shown.body.status,
      ...((shown.body.urls ?? []) as string[]),
      ((shown.body.steps ?? []) as { name: string; status: string }[])
        .map((s) => `${s.name}:${s.status}`)
        .join(','),
    ].join(' '),
  }
  // Each step as the stream told it (started, then succeeded), and how it ended.
  const frames = ((await streamed) ?? '')
    .trim()
    .split('\n\n')
    .map((frame) => {
      const event = /^event: (.*)$/m.exec(frame)?.[1]
      const data = JSON.parse(/^data: (.*)$/m.exec(frame)?.[1] ?? '{}') as { step?: string; status?: string }
      return event === 'end'
        ? `end:${data.status}`
        : `${event}${data.step === undefined ? '' : `:${data.step}`}`
    })
  steps['deployment events'] = {
    status: streamed === undefined ? 0 : 200,
    outcome: frames.filter((f) => f.startsWith('step-') || f.startsWith('end')).join(','),
  }
  const listed = await call('GET', `/v1/projects/${projectId}/webhook/deliveries`, auth)
  const deliveries = (listed.body.items ?? []) as { event: string; outcome: string }[]
  return {
    steps,
    projectId,
    webhookUrl: project.body.webhook.url,
    verified,
    deliveries: deliveries.map(({ event, outcome }) => ({ event, outcome })).reverse(),
    operator: auth.authorization,
  }
}

/** What both modes must answer: statuses and outcomes stated here, not taken from either run. */
const expectedSteps = {
  signup: { status: 201 },
  project: { status: 201 },
  'environment staging': { status: 201 },
  'environment production': { status: 201 },
  manifest: { status: 201 },
  ping: { status: 202, outcome: 'published' },
  push: { status: 202, outcome: 'published' },
  'push (form-encoded)': { status: 202, outcome: 'published' },
  workflow_run: { status: 202, outcome: 'published' },
  'push with another secret': { status: 401 },
  deployment: {
    status: 200,
    outcome:
      'ready https://hello.acme.example place:succeeded,admission:succeeded,plan:succeeded,secrets:succeeded,provision:succeeded,rollout:succeeded,network:succeeded,verify:succeeded,retire:succeeded',
  },
  'deployment events': {
    status: 200,
    outcome: ['place', 'admission', 'plan', 'secrets', 'provision', 'rollout', 'network', 'verify', 'retire']
      .map((step) => `step-started:${step},step-succeeded:${step}`)
      .concat('end:ready')
      .join(','),
  },
}

const expectedDeliveries = [
  { event: 'ping', outcome: 'published' },
  { event: 'push', outcome: 'published' },
  { event: 'push', outcome: 'published' },
  { event: 'workflow_run', outcome: 'published' },
]

/** The messages of one type on the run's NATS streams. */
async function onTheBus(namespace: string, type: string): Promise<Envelope[]> {
  const nc = await connect({ servers: natsUrl })
  try {
    const jsm = await jetstreamManager(nc)
    const subject = `${namespace}.${type}`
    const stream = await jsm.streams.find(subject).catch(() => undefined)
    if (stream === undefined) return []
    const { state } = await jsm.streams.info(stream)
    const found: Envelope[] = []
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const message = await jsm.streams.getMessage(stream, { seq }).catch(() => null)
      if (message?.subject === subject) found.push(message.json<Envelope>())
    }
    return found
  } finally {
    await nc.close()
  }
}

describe.skipIf(skipped)('the distributed mode: the journey through the gateway answers as embedded', () => {
  const webhookKey = randomBytes(32).toString('base64url')
  const namespace = `e2e${randomUUID().replaceAll('-', '').slice(0, 12)}`
  let fresh: { url: string; drop(): Promise<void> } | undefined
  let dataDir = ''
  let embedded: Journey | undefined
  let distributed: Journey | undefined
  const journeyThroughGateway = (): Journey => {
    if (distributed === undefined) throw new Error('the journey through the gateway did not run')
    return distributed
  }
  let gateway: Child
  let identity: Child
  let registryVcs: Child
  let routerSim: Child

  beforeAll(async () => {
    // The same build as four processes on PostgreSQL and NATS, in a database and a bus namespace of this
    // run's own.
    fresh = await createFreshPostgres(postgresUrl)
    const shared = {
      DATABASE_URL: fresh.url,
      NATS_URL: natsUrl,
      BUS_NAMESPACE: namespace,
      WEBHOOK_KEY: webhookKey,
      TRUSTED_PROXIES: '127.0.0.1',
      // Eleven contexts in four processes, a pool each, beside the suite's other worker on one server
      // (max_connections 100): a few connections a context are plenty for one journey.
      DATABASE_POOL_MAX: '3',
    }
    identity = await start('identity', ['serve', 'identity'], shared)
    const behind = { ...shared, IDENTITY_URL: identity.url }
    ;[registryVcs, routerSim] = await Promise.all([
      start('registry+vcs', ['serve', 'registry', 'vcs'], behind),
      start('router+sim', ['serve', 'router', 'sim', 'orchestrator', 'placement', 'policy'], behind),
    ])
    gateway = await start('gateway', ['serve', 'gateway'], {
      ...behind,
      GATEWAY_UPSTREAMS: [
        `identity=${identity.url}`,
        `registry=${registryVcs.url}`,
        `vcs=${registryVcs.url}`,
        `router=${routerSim.url}`,
        `sim=${routerSim.url}`,
        `orchestrator=${routerSim.url}`,
        `placement=${routerSim.url}`,
        `policy=${routerSim.url}`,
      ].join(','),
    })
  }, 3 * startMs)

  afterAll(async () => {
    await stopAll()
    if (dataDir !== '') await rm(dataDir, { recursive: true, force: true })
    await fresh?.drop().catch(() => undefined)
    if (!skipped) await deleteStreams(natsUrl, namespace).catch(() => undefined)
  }, 120_000)

  it(
    'answers the journey embedded (rxt-deploy up on PGlite)',
    async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'rxt-e2e-'))
      const up = await start('up', ['up'], { RXT_DATA_DIR: dataDir, WEBHOOK_KEY: webhookKey })
      try {
        embedded = await journey(up.url)
      } finally {
        await stop(up)
      }
      expect(embedded.steps).toEqual(expectedSteps)
      expect(embedded.deliveries).toEqual(expectedDeliveries)
      expect(embedded.verified).toBe(true)
      expect(embedded.webhookUrl).toBe(`${up.url}/v1/webhooks/github/${embedded.projectId}`)
    },
    2 * startMs,
  )

  it(
    'answers the same journey through the gateway of the distributed processes',
    async () => {
      distributed = await journey(gateway.url)
      expect(distributed.steps).toEqual(expectedSteps)
      expect(distributed.steps).toEqual(embedded?.steps)
      expect(distributed.deliveries).toEqual(expectedDeliveries)
      // Events cross processes: registry heard vcs's evt.repo.verified.
      expect(distributed.verified).toBe(true)
      // Unset, PUBLIC_URL is the address the registry's process listens on (its real port: PORT=0).
      expect(distributed.webhookUrl).toBe(`${registryVcs.url}/v1/webhooks/github/${distributed.projectId}`)
    },
    2 * startMs,
  )

  it('publishes the deliveries as events on NATS JetStream', async () => {
    const distributed = journeyThroughGateway()
    const pushed = await onTheBus(namespace, 'evt.commit.pushed')
    expect(pushed).toHaveLength(2)
    for (const envelope of pushed) {
      expect(envelope).toMatchObject({
        type: 'evt.commit.pushed',
        data: { projectId: distributed.projectId, commitSha: push.after, ref: 'refs/heads/master' },
      })
    }
    expect(await onTheBus(namespace, 'evt.image.published')).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ projectId: distributed.projectId }) }),
    ])
    expect(await onTheBus(namespace, 'evt.repo.verified')).toHaveLength(1)
  })

  it("answers the gateway's /healthz and /readyz, and /openapi.json lists every upstream operation", async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/docs/']) {
      expect((await fetch(`${gateway.url}${path}`)).status, path).toBe(200)
    }
    const upstreams = (await (await fetch(`${gateway.url}/v1/gateway/upstreams`)).json()) as Payload
    expect(upstreams).toMatchObject({ ready: true })
    expect(upstreams.items.map((u: { context: string }) => u.context)).toEqual([
      'identity',
      'registry',
      'vcs',
      'router',
      'sim',
      'orchestrator',
      'placement',
      'policy',
    ])
    const merged = (await (await fetch(`${gateway.url}/openapi.json`)).json()) as Payload
    const operations = (doc: Payload) =>
      Object.entries(doc.paths as Record<string, object>).flatMap(([path, item]) =>
        Object.keys(item)
          .filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
          .map((m) => `${m.toUpperCase()} ${path}`),
      )
    for (const upstream of [identity, registryVcs, routerSim]) {
      const own = operations((await (await fetch(`${upstream.url}/openapi.json`)).json()) as Payload)
      expect(own.length).toBeGreaterThan(3)
      expect(operations(merged), upstream.name).toEqual(expect.arrayContaining(own))
    }
    expect(operations(merged)).toEqual(
      expect.arrayContaining(['POST /v1/webhooks/github/{projectId}', 'PUT /v1/admin/sim/{provider}/faults']),
    )
  })

  it('sends operator routes to the processes that serve them', async () => {
    const distributed = journeyThroughGateway()
    const { call } = client(gateway.url)
    const operator = { authorization: distributed.operator }
    const faults = await call('PUT', '/v1/admin/sim/sim-container/faults', operator, {})
    expect(faults).toMatchObject({ status: 200, body: { provider: 'sim-container', faults: {} } })
    const consumers = async (context: string) =>
      (await call('GET', '/v1/admin/consumers', { ...operator, 'x-rxt-context': context })).body.items as {
        context: string
      }[]
    expect(new Set((await consumers('registry')).map((c) => c.context))).toEqual(new Set(['registry', 'vcs']))
    expect((await consumers('router')).map((c) => c.context)).toContain('router')
  })

  it(
    'runs the rxt journey through the gateway: sign-in, a project, an environment, a manifest, a deploy to ready',
    async () => {
      const { call } = client(gateway.url)
      const signup = await call(
        'POST',
        '/v1/auth/signup',
        {},
        {
          email: 'cli@example.com',
          password: 'a long passphrase',
          name: 'Cli',
          orgName: 'Cli Co',
        },
      )
      expect(signup.status).toBe(201)
      const home = await mkdtemp(join(tmpdir(), 'rxt-cli-e2e-'))
      try {
        const rxt = (args: string[], input?: string) =>
          runCli(args, { RXT_URL: gateway.url, XDG_CONFIG_HOME: home }, input === undefined ? {} : { input })
        const ok = async (args: string[], input?: string) => {
          const run = await rxt(args, input)
          expect(run.code, `rxt ${args.join(' ')}: ${run.stderr}`).toBe(0)
          return run
        }
        await ok(['login', '--email', 'cli@example.com', '--password-stdin'], 'a long passphrase')
        await ok(['projects', 'create', 'cli-hello'])
        await ok(['projects', 'use', 'cli-hello'])
        await ok(['envs', 'create', 'staging', '--type', 'staging'])
        const manifest = join(home, 'deploy.yaml')
        await writeFile(
          manifest,
          'apiVersion: rxt-deploy/v1\nkind: Application\nmetadata: {name: cli-hello}\nspec:\n  image: ghcr.io/acme/cli-hello:1\n  ports: [{name: http, port: 8080, protocol: http}]\n  network: {visibility: public, hostnames: [cli-hello.acme.example], tls: required}\n',
        )
        await ok(['manifest', 'push', manifest, '--env', 'staging'])
        const deployed = await ok(['deploy', '--env', 'staging', '--image', 'ghcr.io/acme/cli-hello:2'])
        expect(deployed.stdout).toContain('rollout: succeeded')
        expect(deployed.stdout.trimEnd().split('\n').at(-1)).toBe('ready: https://cli-hello.acme.example')
        const status = JSON.parse((await ok(['status', '--env', 'staging', '--json'])).stdout)
        expect(status).toMatchObject({
          status: 'ready',
          current: true,
          artifactRef: 'ghcr.io/acme/cli-hello:2',
          urls: ['https://cli-hello.acme.example'],
        })
      } finally {
        await rm(home, { recursive: true, force: true })
      }
    },
    startMs,
  )
})
