// The request collection of the MVP path — sign up, a project and its environments, a manifest, a deploy
// followed to `ready`, explain, a second deploy, roll back, promote, destroy — written from the OpenAPI
// document as an `.http` file (REST Client / JetBrains HTTP Client) and a Postman collection (v2.1).
// The steps say what to send and what to keep of each answer; the document says the method, path,
// summary, authentication and the status a success answers. `npm run docs:collection` writes both files;
// test/e2e/collection.test.ts checks they are current and runs the steps against a server.

/** One request of the path. */
export interface Step {
  /** A name for the request, also the name later steps use to read its answer. */
  readonly name: string
  readonly method: 'get' | 'post' | 'put' | 'patch' | 'delete'
  /** The OpenAPI path; each `{param}` is filled from the variable `params` names, else of its own name. */
  readonly path: string
  readonly params?: Readonly<Record<string, string>>
  readonly body?: unknown
  /** Variables taken from the answer's JSON body: variable name → dotted path in the body. */
  readonly keep?: Readonly<Record<string, string>>
  /** A deployment this step starts is followed until `ready` before the next step (a note in the files). */
  readonly awaitReady?: string
  /** Said above the request. */
  readonly note?: string
}

/** What the files need of the OpenAPI document. */
export interface OpenApiDocument {
  readonly info: { readonly title: string; readonly version: string }
  readonly paths: Readonly<
    Record<
      string,
      Readonly<
        Record<
          string,
          {
            readonly summary?: string
            readonly security?: readonly unknown[]
            readonly responses?: Readonly<Record<string, unknown>>
          }
        >
      >
    >
  >
}

/** The variables every file starts with. */
export const variables = {
  base: 'http://127.0.0.1:8080',
  email: 'ada@example.com',
  password: 'a long passphrase',
} as const

const manifest = `apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: hello}
spec:
  image: ghcr.io/acme/hello:1
  ports: [{name: http, port: 8080, protocol: http}]
  network: {visibility: public, hostnames: [hello.acme.example], tls: required}
  environments:
    production:
      network: {visibility: public, hostnames: [www.acme.example], tls: required}
`

/** The MVP path, in order. */
export const mvpPath: readonly Step[] = [
  {
    name: 'signup',
    method: 'post',
    path: '/v1/auth/signup',
    body: { email: '{{email}}', password: '{{password}}', name: 'Ada', orgName: 'Acme' },
    keep: { token: 'accessToken' },
    note: 'An account and its organisation (the first account of an installation is its operator). To sign in later: POST /v1/auth/login with the email and password.',
  },
  { name: 'whoami', method: 'get', path: '/v1/auth/whoami' },
  {
    name: 'project',
    method: 'post',
    path: '/v1/projects',
    body: {
      slug: 'hello',
      name: 'Hello',
      repository: 'acme/hello',
      deployBranches: ['main'],
      ci: { workflow: 'build.yml', image: 'ghcr.io/acme/hello' },
    },
    keep: { projectId: 'id' },
    note: "A project. Its answer holds the GitHub webhook's URL and secret, shown once.",
  },
  {
    name: 'staging',
    method: 'post',
    path: '/v1/projects/{projectId}/environments',
    body: { name: 'staging', type: 'staging' },
    keep: { stagingId: 'id' },
  },
  {
    name: 'production',
    method: 'post',
    path: '/v1/projects/{projectId}/environments',
    body: { name: 'production', type: 'production' },
    keep: { productionId: 'id' },
  },
  {
    name: 'validate',
    method: 'post',
    path: '/v1/manifests/validate',
    body: { yaml: manifest },
    note: 'Check a deploy.yaml without storing it: a problem answers 422 with its path, line and column.',
  },
  {
    name: 'manifest',
    method: 'post',
    path: '/v1/projects/{projectId}/manifests',
    body: { yaml: manifest, environment: 'staging' },
  },
  {
    name: 'deploy',
    method: 'post',
    path: '/v1/environments/{envId}/deployments',
    params: { envId: 'stagingId' },
    body: { artifactRef: 'ghcr.io/acme/hello:1' },
    keep: { deploymentId: 'id' },
    awaitReady: 'deploymentId',
    note: 'Deploy an artifact by hand; the next two requests follow it.',
  },
  { name: 'deployment', method: 'get', path: '/v1/deployments/{deploymentId}' },
  {
    name: 'events',
    method: 'get',
    path: '/v1/deployments/{deploymentId}/events',
    note: 'Its progress as Server-Sent Events, from the start until `event: end`.',
  },
  {
    name: 'deployments',
    method: 'get',
    path: '/v1/environments/{envId}/deployments',
    params: { envId: 'stagingId' },
  },
  {
    name: 'explain',
    method: 'get',
    path: '/v1/placement/explain/{envId}',
    params: { envId: 'stagingId' },
    note: 'Why the environment runs where it does: every provider, each filter and score term, the cost.',
  },
  {
    name: 'redeploy',
    method: 'post',
    path: '/v1/environments/{envId}/deployments',
    params: { envId: 'stagingId' },
    body: { artifactRef: 'ghcr.io/acme/hello:2' },
    keep: { secondDeploymentId: 'id' },
    awaitReady: 'secondDeploymentId',
  },
  {
    name: 'rollback',
    method: 'post',
    path: '/v1/deployments/{deploymentId}/rollback',
    keep: { rollbackId: 'id' },
    awaitReady: 'rollbackId',
    note: 'Deploy again what the first deployment deployed, as a new deployment.',
  },
  {
    name: 'promote',
    method: 'post',
    path: '/v1/environments/{envId}/promote',
    params: { envId: 'productionId' },
    body: { from: '{{stagingId}}' },
    keep: { promotionId: 'id' },
    awaitReady: 'promotionId',
    note: "Deploy to production what staging runs, with the manifest's production section.",
  },
  {
    name: 'vms',
    method: 'get',
    path: '/v1/vms',
    note: "The organisation's VMs on SDDC Flex as the adapter reports them (?envId=, ?powerState=, ?host=); each has /v1/vms/{vmId}, its /history, /metrics?from=&to=&step= and /migrate.",
  },
  {
    name: 'alert-rule',
    method: 'post',
    path: '/v1/monitoring/alert-rules',
    body: { name: 'cpu hot', kind: 'threshold', metric: 'cpu', above: 90, forSeconds: 600 },
    keep: { ruleId: 'id' },
    note: 'Alert when a VM stays above 90% CPU for ten minutes; `{"kind": "powered-off"}` alerts on a stop RXT Deploy did not cause.',
  },
  { name: 'alerts', method: 'get', path: '/v1/monitoring/alerts' },
  {
    name: 'destroy',
    method: 'post',
    path: '/v1/environments/{envId}/destroy',
    params: { envId: 'stagingId' },
    body: { confirm: 'staging' },
    note: "Destroy staging: the confirmation is the environment's name.",
  },
]

/** The operation a step calls; throws naming the step when the document has no such operation. */
export function operationOf(doc: OpenApiDocument, step: Step) {
  const operation = doc.paths[step.path]?.[step.method]
  if (operation === undefined)
    throw new Error(`step ${step.name}: the API has no ${step.method.toUpperCase()} ${step.path}`)
  return operation
}

/** The status a success of the operation answers: its lowest documented 2xx. */
export function successStatus(doc: OpenApiDocument, step: Step): number {
  const statuses = Object.keys(operationOf(doc, step).responses ?? {})
    .filter((s) => /^2\d\d$/.test(s))
    .map(Number)
    .sort((a, b) => a - b)
  const first = statuses[0]
  if (first === undefined)
    throw new Error(`step ${step.name}: ${step.method.toUpperCase()} ${step.path} documents no 2xx`)
  return first
}

const isPublic = (doc: OpenApiDocument, step: Step) => operationOf(doc, step).security?.length === 0
const summaryOf = (doc: OpenApiDocument, step: Step) => operationOf(doc, step).summary ?? step.name
/** The step's path with each `{param}` as `{{variable}}`. */
const templated = (step: Step) =>
  step.path.replace(/\{(\w+)\}/g, (_, param: string) => `{{${step.params?.[param] ?? param}}}`)

/** The `.http` file: variables, then each request with its name, and what later requests read of it. */
export function renderHttp(doc: OpenApiDocument, steps: readonly Step[] = mvpPath): string {
  const out: string[] = [
    `# ${doc.info.title} ${doc.info.version}: the MVP path, from sign-up to a promoted deployment.`,
    '# Written from docs/openapi.json by `npm run docs:collection`; do not edit by hand.',
    '# Run the requests in order against `npm start` (REST Client for VS Code, or the JetBrains HTTP Client).',
    '',
    ...Object.entries(variables).map(([k, v]) => `@${k} = ${v}`),
    '',
  ]
  const kept = new Map<string, string>()
  const withKept = (text: string) =>
    text.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => kept.get(name) ?? whole)
  for (const step of steps) {
    out.push(`### ${summaryOf(doc, step)}`)
    if (step.note !== undefined) out.push(`# ${step.note}`)
    if (step.awaitReady !== undefined)
      out.push('# Wait until this deployment is ready before the next request.')
    out.push(`# @name ${step.name}`)
    out.push(`${step.method.toUpperCase()} {{base}}${withKept(templated(step))}`)
    if (!isPublic(doc, step)) out.push(`Authorization: Bearer ${kept.get('token') ?? '{{token}}'}`)
    if (step.body !== undefined) {
      out.push('Content-Type: application/json', '', withKept(JSON.stringify(step.body, null, 2)))
    }
    out.push('')
    for (const [variable, path] of Object.entries(step.keep ?? {}))
      kept.set(variable, `{{${step.name}.response.body.$.${path}}}`)
  }
  return `${out.join('\n').trimEnd()}\n`
}

/** The Postman collection (v2.1): the same requests, each keeping its variables with a test script. */
export function renderPostman(doc: OpenApiDocument, steps: readonly Step[] = mvpPath): string {
  const item = steps.map((step) => {
    const url = `{{base}}${templated(step)}`
    const header: { key: string; value: string }[] = []
    if (!isPublic(doc, step)) header.push({ key: 'Authorization', value: 'Bearer {{token}}' })
    if (step.body !== undefined) header.push({ key: 'Content-Type', value: 'application/json' })
    const keep = Object.entries(step.keep ?? {})
    return {
      name: summaryOf(doc, step),
      ...(step.note === undefined ? {} : { description: step.note }),
      request: {
        method: step.method.toUpperCase(),
        header,
        url: {
          raw: url,
          host: ['{{base}}'],
          path: templated(step)
            .split('/')
            .filter((p) => p !== ''),
        },
        ...(step.body === undefined
          ? {}
          : {
              body: {
                mode: 'raw',
                raw: JSON.stringify(step.body, null, 2),
                options: { raw: { language: 'json' } },
              },
            }),
      },
      event:
        keep.length === 0
          ? []
          : [
              {
                listen: 'test',
                script: {
                  type: 'text/javascript',
                  exec: keep.map(
                    ([variable, path]) =>
                      `pm.collectionVariables.set(${JSON.stringify(variable)}, pm.response.json().${path});`,
                  ),
                },
              },
            ],
    }
  })
  const collection = {
    info: {
      name: `${doc.info.title}: the MVP path`,
      description: 'Written from docs/openapi.json by `npm run docs:collection`; do not edit by hand.',
      schema: 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json',
    },
    variable: Object.entries(variables).map(([key, value]) => ({ key, value })),
    item,
  }
  return `${JSON.stringify(collection, null, 2)}\n`
}

/** `{{name}}` in a string, or in every string of a JSON value, replaced from `values`. */
export function fill<T>(value: T, values: ReadonlyMap<string, string>): T {
  const text = JSON.stringify(value)
  return JSON.parse(
    text.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => {
      const found = values.get(name)
      if (found === undefined) throw new Error(`no value for ${whole}`)
      return JSON.stringify(found).slice(1, -1)
    }),
  ) as T
}

/** A dotted path into a JSON value. */
export const pick = (value: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], value)
