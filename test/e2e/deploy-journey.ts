// A developer's way to a deployment against a running rxt-deploy, as the crash test drives it: sign up;
// a project with its repository and CI workflow, a staging environment with a manifest, the repository's
// webhook proved by a signed ping; then the successful workflow run of a commit on the deploy branch
// deploys staging. Every call names the base URL it goes to: a restarted server listens on another port.
import { randomBytes, randomUUID } from 'node:crypto'
import examples from '@octokit/webhooks-examples' with { type: 'json' }
import { sign } from '@octokit/webhooks-methods'
import { until } from '@rxt/kit/testing/bus'

// biome-ignore lint/suspicious/noExplicitAny: GitHub's payloads and the API's answers, read field by field
export type Payload = Record<string, any>

export interface Answer {
  readonly status: number
  readonly body: Payload
}

/** A JSON call to `base`. */
export async function call(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Payload) }
}

const example = (event: string, match: (payload: Payload) => boolean = () => true): Payload => {
  const found = (examples as unknown as { name: string; examples: Payload[] }[])
    .find((e) => e.name === event)
    ?.examples.find(match)
  if (found === undefined) throw new Error(`no ${event} example`)
  return found
}
const ping = example('ping')
const completed = example('workflow_run', (p) => p.workflow_run.conclusion === 'success')

/** The project a journey made, and how to reach it. */
export interface DeployTarget {
  readonly auth: { readonly authorization: string }
  readonly orgId: string
  readonly projectId: string
  readonly envId: string
  /** The project's webhook path (the same on every port). */
  readonly hook: string
  readonly secret: string
  /** Its repository's full name, as GitHub's deliveries name it. */
  readonly repository: string
  /** The image its CI workflow pushes: a workflow run of commit C publishes `<image>:<C>`. */
  readonly image: string
}

/** A GitHub delivery to the project's webhook, signed with its secret, as GitHub sends it. */
async function deliver(base: string, target: DeployTarget, event: string, payload: Payload): Promise<Answer> {
  const body = JSON.stringify({ ...payload, test_nonce: randomUUID() })
  const res = await fetch(`${base}${target.hook}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/e2e',
      'x-github-event': event,
      'x-github-delivery': randomUUID(),
      'x-github-hook-id': '42',
      'x-hub-signature-256': await sign(target.secret, body),
    },
    body,
  })
  return { status: res.status, body: (await res.json()) as Payload }
}

const created = (answer: Answer, what: string) => {
  if (answer.status !== 201) throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`)
  return answer.body
}

/** Signs up (the first user of a fresh server: the organisation's owner): its authorization and organisation. */
export async function signUp(
  base: string,
): Promise<{ readonly auth: { readonly authorization: string }; readonly orgId: string }> {
  const signup = created(
    await call(
      base,
      'POST',
      '/v1/auth/signup',
      {},
      { email: 'dev@example.com', password: 'a long passphrase', name: 'Dev', orgName: 'Acme' },
    ),
    'signup',
  )
  return { auth: { authorization: `Bearer ${signup.accessToken}` }, orgId: signup.orgId as string }
}

/**
 * A project `slug` of repository `Codertocat/<slug>` whose CI workflow builds its image, its staging
 * environment with a public HTTPS manifest (so that a deployment has a URL), and the webhook proved by a
 * ping (vcs learns of the project over the bus: until it has, the ping is refused). Each project is
 * deployed on its own: a workflow run deploys the environments of its project only.
 */
export async function setUpProject(
  base: string,
  account: { readonly auth: { readonly authorization: string }; readonly orgId: string },
  slug: string,
  settleMs = 60_000,
): Promise<DeployTarget> {
  const { auth, orgId } = account
  const repository = `Codertocat/${slug}`
  const project = created(
    await call(base, 'POST', '/v1/projects', auth, {
      slug,
      name: slug,
      repository,
      deployBranches: ['master'],
      ci: { workflow: 'build.yml', image: `ghcr.io/codertocat/${slug}` },
    }),
    'project',
  )
  const projectId = project.id as string
  const env = created(
    await call(base, 'POST', `/v1/projects/${projectId}/environments`, auth, {
      name: 'staging',
      type: 'staging',
    }),
    'environment',
  )
  created(
    await call(base, 'POST', `/v1/projects/${projectId}/manifests`, auth, {
      yaml: `apiVersion: rxt-deploy/v1\nkind: Application\nmetadata: {name: ${slug}}\nspec:\n  image: "ghcr.io/codertocat/${slug}:1"\n  ports: [{name: http, port: 8080, protocol: http}]\n  network: {visibility: public, hostnames: [${slug}.acme.example], tls: required}\n`,
      environment: 'staging',
    }),
    'manifest',
  )
  const target: DeployTarget = {
    auth,
    orgId,
    projectId,
    envId: env.id as string,
    hook: new URL(project.webhook.url as string).pathname,
    secret: project.webhook.secret as string,
    repository,
    image: `ghcr.io/codertocat/${slug}`,
  }
  let answer: Answer = { status: 0, body: {} }
  await until(
    async () => {
      answer = await deliver(base, target, 'ping', {
        ...ping,
        repository: { ...ping.repository, full_name: repository },
      })
      return answer.status === 202
    },
    settleMs,
    'vcs to know the project',
  ).catch(() => {
    throw new Error(`the ping was not accepted: ${answer.status} ${JSON.stringify(answer.body)}`)
  })
  return target
}

/** A new commit's id (40 hex digits). */
export const newCommit = () => randomBytes(20).toString('hex')

/**
 * The successful workflow run of `commitSha` on the deploy branch, delivered: vcs publishes the image,
 * the registry sends cmd.deploy.apply for staging, the orchestrator starts its deploy saga.
 */
export async function deliverWorkflowRun(
  base: string,
  target: DeployTarget,
  commitSha: string,
): Promise<void> {
  const answer = await deliver(base, target, 'workflow_run', {
    ...completed,
    repository: { full_name: target.repository },
    workflow_run: {
      ...completed.workflow_run,
      id: Number.parseInt(commitSha.slice(0, 8), 16),
      head_sha: commitSha,
      path: '.github/workflows/build.yml',
      conclusion: 'success',
      head_branch: 'master',
    },
  })
  if (answer.status !== 202 || answer.body.outcome !== 'published')
    throw new Error(`the workflow run was not published: ${answer.status} ${JSON.stringify(answer.body)}`)
}

/** The deployment of `commitSha` in the target's environment, once the orchestrator has it. */
export async function deploymentOf(
  base: string,
  target: DeployTarget,
  commitSha: string,
): Promise<Payload | undefined> {
  const listed = await call(base, 'GET', `/v1/environments/${target.envId}/deployments`, target.auth)
  if (listed.status !== 200) return undefined
  return ((listed.body.items ?? []) as Payload[]).find((d) => d.commitSha === commitSha)
}
