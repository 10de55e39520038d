// The CLI journey against the embedded server, as a developer runs it: `rxt` as a child process with
// its own config directory, from sign-in to a deployment URL, then what goes wrong: a refused manifest
// (file:line:column), a failing deploy (the step, its reason and the compensation), no sign-in, no
// server. The deploy.yaml of examples/github-actions is the one staging runs, so the example cannot rot.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { until } from '@rxt/kit/testing/bus'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { call, signUp } from '../../../test/e2e/deploy-journey.ts'
import { endChildren, type Server, startBudgetMs, startServer } from '../../server/test/process.ts'
import { deploymentSchemaErrors, documentSchemaErrors } from './deployment-schema.ts'
import { type CliRun, runCli } from './run-cli.ts'

/**
 * The budget of a test that deploys: a deploy on the simulations takes 2–4 s on a quiet machine, 3–11 s
 * for the test that makes three beside another suite's server; this is ten times that, so that only a
 * deploy that hangs fails.
 */
const deployMs = 120_000

const example = fileURLToPath(new URL('../../../examples/github-actions/deploy.yaml', import.meta.url))

/** The schema (schemas/documents.schema.json, deployment.schema.json) of what `rxt args… --json` printed. */
const documentKind = (args: readonly string[], code: number | null): string => {
  const [command, sub] = args
  const following = command === 'deploy' || command === 'rollback' || command === 'promote'
  // A deploy that failed prints the deployment as it ended; every other failure the {error} document.
  if (code !== 0) return following && code === 1 ? 'deployment' : 'error'
  if (following) return args.includes('--detach') ? 'detach' : 'deployment'
  const kinds: Record<string, string> = {
    whoami: 'whoami',
    login: 'login',
    logout: 'logout',
    orgs: 'orgList',
    'orgs list': 'orgList',
    'orgs create': 'org',
    'orgs use': 'org',
    projects: 'projectList',
    'projects list': 'projectList',
    'projects create': 'project',
    'projects use': 'project',
    envs: 'environmentList',
    'envs list': 'environmentList',
    'envs create': 'environment',
    'manifest validate': 'manifestValid',
    'manifest push': 'manifestPushed',
    status: 'deployment',
    cancel: 'deployment',
    deployments: 'deploymentList',
    secrets: 'secretList',
    'secrets list': 'secretList',
    'secrets set': 'secret',
    'secrets rotate': 'secret',
    webhook: 'webhook',
    'webhook show': 'webhook',
    'webhook rotate': 'webhookRotated',
    explain: 'explain',
    audit: 'audit',
  }
  const kind = kinds[`${command} ${sub}`] ?? kinds[command ?? '']
  if (kind === undefined) throw new Error(`no schema names the document of rxt ${args.join(' ')}`)
  return kind
}

/** The lines of `text` that are `wanted`, in the order they come. */
const inOrder = (text: string, wanted: readonly string[]) => {
  const lines = text.split('\n')
  return lines.filter((l) => wanted.includes(l))
}

describe('the rxt journey against the embedded server', () => {
  let server: Server
  let dir: string
  let config: string
  let operator: { readonly authorization: string }
  let orgId: string
  /** Runs rxt; every --json document it prints is checked against its schema. */
  const rxt = async (args: string[], input?: string, env: Record<string, string> = {}): Promise<CliRun> => {
    const run = await runCli(
      args,
      { RXT_URL: server.url, XDG_CONFIG_HOME: config, ...env },
      input === undefined ? {} : { input },
    )
    if (args.includes('--json')) {
      const kind = documentKind(args, run.code)
      expect(documentSchemaErrors(kind, JSON.parse(run.stdout)), `rxt ${args.join(' ')} (${kind})`).toEqual(
        [],
      )
    }
    return run
  }
  const json = (run: CliRun) => {
    expect(run.code, run.stderr).toBe(0)
    return JSON.parse(run.stdout)
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rxt-cli-'))
    config = join(dir, 'config')
    server = await startServer(['up'], { RXT_DATA_DIR: join(dir, 'data'), SIM_ROLLOUT_MS: '0' })
    const account = await signUp(server.url)
    operator = account.auth
    orgId = account.orgId
  }, startBudgetMs)

  afterAll(async () => {
    await endChildren()
    await rm(dir, { recursive: true, force: true })
  })

  it('signs in with the password on standard input, keeping the tokens in a 0600 file of a 0700 directory', async () => {
    const run = await rxt(['login', '--email', 'dev@example.com', '--password-stdin'], 'a long passphrase\n')
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('as dev@example.com (organisation Acme)')
    const file = join(config, 'rxt', 'config.json')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect((await stat(join(config, 'rxt'))).mode & 0o777).toBe(0o700)
    const stored = JSON.parse(await readFile(file, 'utf8'))
    expect(stored).toMatchObject({ url: server.url, email: 'dev@example.com', org: orgId })
    expect(run.stdout).not.toContain(stored.accessToken)
    const wrong = await rxt(['login', '--email', 'dev@example.com', '--password-stdin'], 'not the passphrase')
    expect(wrong.code).toBe(3)
    // The server's word for it, not a guess.
    expect(wrong.stderr).toContain('rxt: wrong email or password')
  })

  it('refreshes a refused access token with the stored refresh token, and stores the new ones', async () => {
    const file = join(config, 'rxt', 'config.json')
    const before = JSON.parse(await readFile(file, 'utf8'))
    await writeFile(file, JSON.stringify({ ...before, accessToken: 'expired.or.tampered' }), { mode: 0o600 })
    const me = json(await rxt(['whoami', '--json']))
    expect(me.kind).toBe('user')
    const after = JSON.parse(await readFile(file, 'utf8'))
    expect(after.accessToken).not.toBe('expired.or.tampered')
    expect(after.refreshToken).not.toBe(before.refreshToken)
    // Two runs refused together refresh once (the lock on the file): both go on, the sign-in lives.
    await writeFile(file, JSON.stringify({ ...after, accessToken: 'expired.or.tampered' }), { mode: 0o600 })
    const both = await Promise.all([rxt(['whoami', '--json']), rxt(['whoami', '--json'])])
    for (const run of both) expect(json(run).kind).toBe('user')
    expect(json(await rxt(['whoami', '--json'])).kind).toBe('user')
  })

  it('lists and creates organisations, and keeps acting in the chosen one', async () => {
    expect(json(await rxt(['orgs', 'create', 'Second', '--json'])).name).toBe('Second')
    const orgs = json(await rxt(['orgs', 'list', '--json'])).items as { id: string; name: string }[]
    expect(orgs.map((o) => o.name).sort()).toEqual(['Acme', 'Second'])
    // Two organisations: the requests name the stored one (X-RXT-Org), else the server could not tell.
    expect((await rxt(['orgs', 'use', 'Acme'])).code).toBe(0)
  })

  it('creates a project and its environments, named by slug and name from then on', async () => {
    const created = json(
      await rxt([
        'projects',
        'create',
        'hello',
        '--repository',
        'acme/hello',
        '--deploy-branch',
        'main',
        '--json',
      ]),
    )
    expect(created.slug).toBe('hello')
    // The webhook secret only when asked for.
    expect(created.webhook.secret).toBeUndefined()
    expect((await rxt(['projects', 'use', 'hello'])).code).toBe(0)
    expect((await rxt(['envs', 'create', 'staging', '--type', 'staging'])).code).toBe(0)
    expect((await rxt(['envs', 'create', 'production', '--type', 'production'])).code).toBe(0)
    const envs = json(await rxt(['envs', '--json'])).items as { name: string }[]
    expect(envs.map((e) => e.name)).toEqual(['staging', 'production'])
    expect(json(await rxt(['projects', '--json'])).items).toHaveLength(1)
    const plain = await rxt(['projects'])
    expect(plain.stdout).toMatch(/hello\s+hello\s+acme\/hello\s+\*/)
  })

  it('prints each problem of an invalid deploy.yaml as file:line:column: path: message, exit 5', async () => {
    const bad = join(dir, 'bad.yaml')
    await writeFile(
      bad,
      [
        'apiVersion: rxt-deploy/v1',
        'kind: Application',
        'metadata: {name: hello}',
        'spec:',
        '  image: ghcr.io/acme/hello:1',
        '  ports: [{name: http, port: 80800}]',
        '  replicas: many',
        '',
      ].join('\n'),
    )
    const run = await rxt(['manifest', 'validate', bad])
    expect(run.code).toBe(5)
    const problems = run.stderr.split('\n').filter((l) => l.trim().startsWith(bad))
    // In the file's order: the port on line 6, the replicas on line 7.
    expect(problems).toHaveLength(2)
    expect(problems[0]).toMatch(new RegExp(`^\\s*${bad}:6:\\d+: /spec/ports/0/port: `))
    expect(problems[1]).toMatch(new RegExp(`^\\s*${bad}:7:\\d+: /spec/replicas: `))
    // --json: the problem whole, each error with its line and column.
    const document = await rxt(['manifest', 'validate', bad, '--json'])
    expect(document.code).toBe(5)
    const { error } = JSON.parse(document.stdout)
    expect(error).toMatchObject({ exitCode: 5, message: expect.stringContaining('bad.yaml is invalid') })
    expect(error.problem.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: '/spec/ports/0/port', line: 6, column: expect.any(Number) }),
        expect.objectContaining({ path: '/spec/replicas', line: 7, column: expect.any(Number) }),
      ]),
    )
    expect((await rxt(['manifest', 'validate', example])).code).toBe(0)
  })

  it(
    "pushes the example's deploy.yaml for staging and deploys an image to it, streaming each step to its URL",
    async () => {
      const pushed = json(await rxt(['manifest', 'push', example, '--env', 'staging', '--json']))
      expect(pushed.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
      const run = await rxt(['deploy', '--env', 'staging', '--image', 'ghcr.io/acme/hello:1'])
      expect(run.code, run.stderr).toBe(0)
      expect(
        inOrder(run.stdout, [
          'place: started',
          'place: succeeded',
          'rollout: succeeded',
          'verify: succeeded',
        ]),
      ).toEqual(['place: started', 'place: succeeded', 'rollout: succeeded', 'verify: succeeded'])
      expect(run.stdout.trimEnd().split('\n').at(-1)).toBe('ready: https://hello.acme.example')
    },
    deployMs,
  )

  it(
    'lists the deployments, shows one with its steps, and explains its placement',
    async () => {
      const [latest] = json(await rxt(['deployments', '--env', 'staging', '--json'])).items
      expect(latest).toMatchObject({ status: 'ready', current: true, artifactRef: 'ghcr.io/acme/hello:1' })
      const status = json(await rxt(['status', latest.id, '--json']))
      expect(deploymentSchemaErrors(status)).toEqual([])
      expect(status.steps.every((s: { status: string }) => s.status === 'succeeded')).toBe(true)
      const plain = await rxt(['status', '--env', 'staging'])
      expect(plain.stdout).toContain('urls         https://hello.acme.example')
      expect(json(await rxt(['explain', '--env', 'staging', '--json'])).provider).toBe(status.provider)
      const explained = await rxt(['explain', '--env', 'staging'])
      expect(explained.code, explained.stderr).toBe(0)
      expect(explained.stdout).toContain(`staging runs on ${status.provider}`)
      // The manifest's hint: a SOC 2 platform.
      expect(explained.stdout).toContain('compliance soc2')
    },
    deployMs,
  )

  it('sets, lists and rotates a secret, never printing its value', async () => {
    const value = 'postgres://user:s3cr3t-value@db/app'
    const set = await rxt(['secrets', 'set', 'db/url', '--json'], value)
    expect(json(set)).toMatchObject({ name: 'db/url', ref: 'secret://db/url', currentVersion: 1 })
    expect(json(await rxt(['secrets', 'list', '--json'])).items).toHaveLength(1)
    const listed = await rxt(['secrets', 'list'])
    expect(listed.stdout).toMatch(/db\/url\s+project\s+1/)
    const rotated = await rxt(['secrets', 'rotate', 'db/url', '--json'], 'postgres://user:n3w-value@db/app')
    expect(json(rotated).currentVersion).toBe(2)
    for (const run of [set, listed, rotated]) {
      expect(run.stdout + run.stderr).not.toContain('s3cr3t-value')
      expect(run.stdout + run.stderr).not.toContain('n3w-value')
    }
  })

  it("shows the webhook's URL, and rotates its secret only when told to show it", async () => {
    const shown = json(await rxt(['webhook', '--json']))
    expect(shown.url).toContain(`/v1/webhooks/github/${shown.projectId}`)
    expect(shown.secret).toBeUndefined()
    expect((await rxt(['webhook', 'rotate'])).code).toBe(2)
    const rotated = json(await rxt(['webhook', 'rotate', '--show-secret', '--json']))
    expect(rotated.url).toBe(shown.url)
    expect(rotated.secret).toEqual(expect.any(String))
  })

  it('reads the audit trail: what was just done is in it', async () => {
    // The trail is written from the bus, a moment after the request: read until it has caught up.
    const wanted = ['POST /v1/secrets/:secretId/rotate', 'POST /v1/projects/:projectId/webhook/rotate']
    let actions: string[] = []
    await until(
      async () => {
        const { items } = json(await rxt(['audit', '--limit', '100', '--json']))
        actions = (items as { action: string }[]).map((r) => r.action)
        return wanted.every((w) => actions.includes(w))
      },
      30_000,
      'the audit records of the rotations',
    )
    expect(actions).toEqual(expect.arrayContaining(wanted))
  })

  it(
    'rolls back to the deployment before the current one, and promotes staging to production',
    async () => {
      expect((await rxt(['deploy', '--env', 'staging', '--image', 'ghcr.io/acme/hello:2'])).code).toBe(0)
      const back = json(await rxt(['rollback', '--env', 'staging', '--json']))
      expect(deploymentSchemaErrors(back)).toEqual([])
      expect(back).toMatchObject({
        status: 'ready',
        trigger: 'rollback',
        artifactRef: 'ghcr.io/acme/hello:1',
      })
      const promoted = json(await rxt(['promote', '--from', 'staging', '--to', 'production', '--json']))
      expect(promoted).toMatchObject({
        status: 'ready',
        trigger: 'promote',
        environment: 'production',
        artifactRef: 'ghcr.io/acme/hello:1',
        urls: ['https://www.acme.example'],
      })
    },
    deployMs,
  )

  it(
    'exits 1 on a failing deploy, naming the step, its reason and what was undone; --json validates',
    async () => {
      const faults = (body: object) =>
        call(server.url, 'PUT', '/v1/admin/sim/sim-container/faults', operator, body)
      // The third platform call (the network's, after the provision's and the rollout's) is refused.
      expect((await faults({ failCall: 3, code: 'invalid' })).status).toBe(200)
      try {
        const run = await rxt(['deploy', '--env', 'staging', '--image', 'ghcr.io/acme/hello:3'])
        expect(run.code).toBe(1)
        expect(run.stderr).toMatch(/failed at step network: .*configureNetwork.* \(network-refused\)/)
        expect(run.stderr).toContain('compensation: undone rollout, provision')
        expect(inOrder(run.stdout, ['rollout: undone', 'provision: undone'])).toEqual([
          'rollout: undone',
          'provision: undone',
        ])
        expect(run.stdout).not.toContain('ready:')
      } finally {
        await faults({})
      }
      expect((await faults({ failCall: 3, code: 'invalid' })).status).toBe(200)
      try {
        const run = await rxt(['deploy', '--env', 'staging', '--image', 'ghcr.io/acme/hello:4', '--json'])
        expect(run.code).toBe(1)
        const document = JSON.parse(run.stdout)
        expect(deploymentSchemaErrors(document)).toEqual([])
        // The progress on standard error, standard output the one document.
        expect(inOrder(run.stderr, ['rollout: undone', 'provision: undone'])).toEqual([
          'rollout: undone',
          'provision: undone',
        ])
        expect(document).toMatchObject({
          status: 'failed',
          failure: { step: 'network', code: 'network-refused' },
          urls: [],
        })
        expect(
          (document.steps as { name: string; status: string }[])
            .filter((s) => s.status === 'compensated')
            .map((s) => s.name),
        ).toEqual(['provision', 'rollout'])
      } finally {
        await faults({})
      }
    },
    deployMs,
  )

  it(
    'detaches with the deployment id, which rxt status then shows',
    async () => {
      const keyed = ['--idempotency-key', 'journey-detach']
      const run = await rxt([
        'deploy',
        '--env',
        'staging',
        '--image',
        'ghcr.io/acme/hello:5',
        ...keyed,
        '--detach',
      ])
      expect(run.code, run.stderr).toBe(0)
      const id = run.stdout.trim()
      expect(id).toMatch(/^[0-9a-f-]{36}$/)
      // The same deploy again (a re-run CI job) with --json: the same deployment, as a document.
      const again = json(
        await rxt([
          'deploy',
          '--env',
          'staging',
          '--image',
          'ghcr.io/acme/hello:5',
          ...keyed,
          '--detach',
          '--json',
        ]),
      )
      expect(again).toMatchObject({ id, artifactRef: 'ghcr.io/acme/hello:5' })
      expect(json(await rxt(['status', id, '--json'])).artifactRef).toBe('ghcr.io/acme/hello:5')
    },
    deployMs,
  )

  it('says what is wrong with exit codes: not signed in 3, not found 4, usage 2, no server 6', async () => {
    const elsewhere = { XDG_CONFIG_HOME: join(dir, 'nobody') }
    const unsigned = await rxt(['projects'], undefined, elsewhere)
    expect(unsigned.code).toBe(3)
    expect(unsigned.stderr).toContain('not signed in')
    const missing = await rxt(['status', '--project', 'no-such-project'])
    expect(missing.code).toBe(4)
    expect((await rxt(['deploy', '--no-such-option'])).code).toBe(2)
    expect((await rxt(['deployments', '--limit', 'ten'])).code).toBe(2)
    const usage = await rxt(['deploy', '--no-such-option', '--json'])
    expect(usage.code).toBe(2)
    expect(JSON.parse(usage.stdout).error).toMatchObject({
      exitCode: 2,
      message: expect.stringContaining('--no-such-option'),
    })
    const unreachable = await rxt(['projects'], undefined, { RXT_URL: 'http://127.0.0.1:9' })
    expect(unreachable.code).toBe(6)
    expect(unreachable.stderr).toContain('cannot reach http://127.0.0.1:9')
  })

  it('takes an API key from RXT_API_KEY, as CI does', async () => {
    const key = await call(server.url, 'POST', `/v1/orgs/${orgId}/api-keys`, operator, {
      name: 'ci',
      role: 'developer',
    })
    expect(key.status, JSON.stringify(key.body)).toBe(201)
    const elsewhere = { XDG_CONFIG_HOME: join(dir, 'ci'), RXT_API_KEY: key.body.key as string }
    const run = await rxt(
      ['deployments', '--project', 'hello', '--env', 'staging', '--json'],
      undefined,
      elsewhere,
    )
    expect(json(run).items.length).toBeGreaterThan(0)
    // An API key has no account (GET /v1/me): its organisations are whoami's.
    const orgs = json(await rxt(['orgs', '--json'], undefined, elsewhere)).items as { id: string }[]
    expect(orgs.map((o) => o.id)).toEqual([orgId])
    expect((await rxt(['orgs', 'use', orgId], undefined, elsewhere)).code).toBe(0)
  })

  it('signs in again with --json, and signs out', async () => {
    const login = json(
      await rxt(['login', '--email', 'dev@example.com', '--password-stdin', '--json'], 'a long passphrase\n'),
    )
    expect(login).toMatchObject({ url: server.url, email: 'dev@example.com' })
    expect(json(await rxt(['logout', '--json']))).toEqual({ signedOut: true })
    const after = await rxt(['whoami', '--json'])
    expect(after.code).toBe(3)
  })
})
