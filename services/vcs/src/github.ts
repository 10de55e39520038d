/**
 * What a GitHub delivery means for the platform: the events to publish, or why it is ignored. Pure:
 * the payload in, a decision out (the shapes read are GitHub's documented webhook payloads).
 */

export interface ProjectRoute {
  readonly projectId: string
  readonly orgId: string
  /** owner/name, lower-case: the repository the project claims; null: none linked. */
  readonly repository: string | null
  /**
   * Whether the claim is proved: a ping signed with the project's own secret, naming that repository,
   * reached the project's URL. An unverified claim's deliveries cause nothing but a ping.
   */
  readonly verified: boolean
  readonly deployBranches: readonly string[]
  /** Pushing a tag deploys. */
  readonly deployTags: boolean
  /** A deleted branch becomes evt.branch.deleted. */
  readonly reportBranchDeletions: boolean
  /** The project's CI: a successful run of `workflow` built `<image>:<commit sha>`. */
  readonly ci: { readonly workflow: string; readonly image: string } | null
}

export type Decision =
  | { readonly outcome: 'published'; readonly detail: string; readonly events: readonly OutgoingEvent[] }
  | { readonly outcome: 'ignored' | 'failed'; readonly detail: string }

export interface OutgoingEvent {
  readonly type: string
  readonly data: Record<string, unknown>
}

// biome-ignore lint/suspicious/noExplicitAny: GitHub's payloads, read field by field and checked on publish
type Payload = Record<string, any>

const zeroSha = /^0+$/
const truncate = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)

/**
 * Why a delivery signed with the project's secret causes nothing, or undefined when it may: it must
 * name the project's repository, and, unless it is the ping that proves the claim, the claim must be
 * proved.
 */
export function unclaimed(event: string, payload: Payload, project: ProjectRoute): string | undefined {
  const named = payload.repository?.full_name
  const repo = typeof named === 'string' ? named.slice(0, 200) : ''
  if (project.repository === null)
    return 'the project names no repository: set its repository (owner/name), then send the ping again'
  if (repo.toLowerCase() !== project.repository)
    return `the delivery is from ${repo === '' ? 'no repository' : repo}; this project's repository is ${project.repository}`
  if (event !== 'ping' && !project.verified)
    return `${project.repository} is not verified for this project yet: a ping signed with the project's webhook secret verifies it (GitHub sends one when the webhook is created; POST /repos/${project.repository}/hooks/{hook_id}/pings sends another)`
  return undefined
}

/** The events a delivery causes for one project; a delivery of another repository, or of an unverified claim, causes none. */
export function decide(event: string, payload: Payload, deliveryId: string, project: ProjectRoute): Decision {
  const unclaimedBecause = unclaimed(event, payload, project)
  if (unclaimedBecause !== undefined) return { outcome: 'ignored', detail: unclaimedBecause }
  const repo = String(payload.repository?.full_name ?? '')
  switch (event) {
    case 'ping':
      return {
        outcome: 'published',
        detail: project.verified
          ? 'the webhook works'
          : `the webhook works: ${project.repository} is verified`,
        events: [
          {
            type: 'evt.repo.verified',
            data: {
              projectId: project.projectId,
              provider: 'github',
              repo,
              installationId: String(payload.hook_id ?? payload.hook?.id ?? 'unknown'),
              defaultBranch: String(payload.repository?.default_branch ?? 'main'),
            },
          },
        ],
      }
    case 'push':
      return push(payload, deliveryId, project, repo)
    case 'pull_request':
      return pullRequest(payload, project, repo)
    case 'workflow_run':
      return workflowRun(payload, deliveryId, project, repo)
    // `registry_package` is the older name of `package`; GitHub sends either, with the same payload.
    case 'package':
    case 'registry_package':
      return packagePublished(payload, deliveryId, project, repo)
    default:
      return { outcome: 'ignored', detail: `${event} events are not handled` }
  }
}

function push(payload: Payload, deliveryId: string, project: ProjectRoute, repo: string): Decision {
  const ref = String(payload.ref ?? '')
  const isTag = ref.startsWith('refs/tags/')
  if (payload.deleted === true) {
    if (isTag || !project.reportBranchDeletions) return { outcome: 'ignored', detail: `${ref} was deleted` }
    return {
      outcome: 'published',
      detail: `${ref} was deleted`,
      events: [
        {
          type: 'evt.branch.deleted',
          data: {
            projectId: project.projectId,
            provider: 'github',
            repo,
            deliveryId,
            ref,
            pusher: pusherOf(payload),
          },
        },
      ],
    }
  }
  if (isTag && !project.deployTags)
    return { outcome: 'ignored', detail: `${ref} is a tag; this project deploys no tags` }
  if (!isTag && !ref.startsWith('refs/heads/'))
    return { outcome: 'ignored', detail: `${ref} is not a branch` }
  const branch = ref.replace(/^refs\/(heads|tags)\//, '')
  if (!isTag && !project.deployBranches.includes(branch)) {
    return {
      outcome: 'ignored',
      detail: `${branch} is not a deploy branch (${project.deployBranches.join(', ')})`,
    }
  }
  const head = payload.head_commit as Payload | null | undefined
  const before = String(payload.before ?? '')
  return {
    outcome: 'published',
    detail: `${branch} at ${String(payload.after).slice(0, 12)}`,
    events: [
      {
        type: 'evt.commit.pushed',
        data: {
          projectId: project.projectId,
          provider: 'github',
          repo,
          deliveryId,
          ref,
          commitSha: String(payload.after),
          beforeSha: before === '' || zeroSha.test(before) ? null : before,
          pusher: pusherOf(payload),
          ...(head?.author?.name ? { author: truncate(String(head.author.name), 256) } : {}),
          message: truncate(String(head?.message || '(no message)'), 1000),
          pushedAt: pushedAt(head, payload),
        },
      },
    ],
  }
}

function pullRequest(payload: Payload, project: ProjectRoute, repo: string): Decision {
  const pr = payload.pull_request as Payload
  const action = String(payload.action ?? '')
  const type =
    action === 'opened' || action === 'reopened'
      ? 'evt.pr.opened'
      : action === 'synchronize'
        ? 'evt.pr.synchronized'
        : action === 'closed'
          ? 'evt.pr.closed'
          : undefined
  if (type === undefined || pr === undefined)
    return { outcome: 'ignored', detail: `pull_request ${action} is not handled` }
  return {
    outcome: 'published',
    detail: `pull request #${pr.number} ${action}`,
    events: [
      {
        type,
        data: {
          projectId: project.projectId,
          provider: 'github',
          repo,
          number: Number(pr.number),
          title: truncate(String(pr.title || '(untitled)'), 256),
          author: String(pr.user?.login ?? 'unknown'),
          headRef: String(pr.head?.ref),
          headSha: String(pr.head?.sha),
          baseRef: String(pr.base?.ref),
          url: httpsUrl(pr.html_url, 'pull_request.html_url'),
          ...(type === 'evt.pr.closed' ? { merged: pr.merged === true } : {}),
        },
      },
    ],
  }
}

/** The file name of a workflow path: `.github/workflows/build.yml` → `build.yml`. */
const workflowFile = (path: string) => path.slice(path.lastIndexOf('/') + 1)

/** A run of the project's CI workflow ended: the image it built, or why there is none. */
function workflowRun(payload: Payload, deliveryId: string, project: ProjectRoute, repo: string): Decision {
  const action = String(payload.action ?? '')
  if (action !== 'completed') return { outcome: 'ignored', detail: `workflow_run ${action} is not handled` }
  const run = payload.workflow_run as Payload
  const path = String(run.path || payload.workflow?.path || '')
  if (project.ci === null)
    return { outcome: 'ignored', detail: `${path}: the project names no CI workflow (its ci settings)` }
  if (workflowFile(path) !== workflowFile(project.ci.workflow))
    return { outcome: 'ignored', detail: `${path} is not the project's CI workflow (${project.ci.workflow})` }
  const conclusion = typeof run.conclusion === 'string' ? run.conclusion : ''
  if (conclusion === '') return { outcome: 'ignored', detail: `run ${run.id} completed without a conclusion` }
  const commitSha = String(run.head_sha)
  const branch = typeof run.head_branch === 'string' && run.head_branch !== '' ? run.head_branch : null
  const common = { projectId: project.projectId, provider: 'github', repo, deliveryId }
  const at = timestamp(run.updated_at)
  if (conclusion !== 'success') {
    return {
      outcome: 'published',
      detail: `${path} ended ${conclusion} at ${commitSha.slice(0, 12)}`,
      events: [
        {
          type: 'evt.ci.failed',
          data: {
            ...common,
            workflow: path,
            runId: Number(run.id),
            commitSha,
            branch,
            conclusion,
            url: httpsUrl(run.html_url, 'workflow_run.html_url'),
            completedAt: at,
          },
        },
      ],
    }
  }
  const image = `${project.ci.image}:${commitSha}`
  return {
    outcome: 'published',
    detail: `${path} built ${image}`,
    events: [
      {
        type: 'evt.image.published',
        data: {
          ...common,
          source: 'workflow_run',
          image,
          repository: project.ci.image,
          tag: commitSha,
          digest: null,
          commitSha,
          branch,
          url: httpsUrl(run.html_url, 'workflow_run.html_url'),
          publishedAt: at,
        },
      },
    ],
  }
}

const digestPattern = /^sha256:[a-f0-9]{64}$/
const commitPattern = /^[0-9a-f]{40}$/

/** A container image was pushed to the registry: its reference, pinned by digest. */
function packagePublished(
  payload: Payload,
  deliveryId: string,
  project: ProjectRoute,
  repo: string,
): Decision {
  const action = String(payload.action ?? '')
  if (action !== 'published') return { outcome: 'ignored', detail: `package ${action} is not handled` }
  const pkg = (payload.package ?? payload.registry_package) as Payload
  // GitHub's own example of a container sets package_type npm and the registry's type CONTAINER.
  const isImage = (t: unknown) => ['container', 'docker'].includes(String(t).toLowerCase())
  const type = String(pkg.package_type).toLowerCase()
  if (!isImage(type) && !isImage(pkg.registry?.type))
    return { outcome: 'ignored', detail: `${pkg.name} is a ${type} package, not an image` }
  const version = (pkg.package_version ?? {}) as Payload
  const packageUrl = typeof version.package_url === 'string' ? version.package_url : ''
  if (packageUrl === '') return { outcome: 'ignored', detail: `${pkg.name}: the version names no image` }
  // `ghcr.io/owner/name:tag`; the tag may be empty. A colon before the last slash is a registry port.
  const colon = packageUrl.lastIndexOf(':')
  const hasTag = colon > packageUrl.lastIndexOf('/')
  const repository = (hasTag ? packageUrl.slice(0, colon) : packageUrl).toLowerCase()
  const metadata = (version.container_metadata ?? {}) as Payload
  const digest = [version.version, version.name, metadata.manifest?.digest].find(
    (d): d is string => typeof d === 'string' && digestPattern.test(d),
  )
  if (digest === undefined)
    return { outcome: 'ignored', detail: `${repository}: the version names no digest` }
  if (project.ci !== null && repository !== project.ci.image)
    return { outcome: 'ignored', detail: `${repository} is not the project's image (${project.ci.image})` }
  const tag = [metadata.tag?.name, hasTag ? packageUrl.slice(colon + 1) : undefined].find(
    (t): t is string => typeof t === 'string' && t !== '',
  )
  const labels = (metadata.labels ?? {}) as Payload
  const commitSha = [
    version.target_oid,
    labels.revision,
    labels.all_labels?.['org.opencontainers.image.revision'],
  ].find((c): c is string => typeof c === 'string' && commitPattern.test(c))
  const branch = version.target_commitish
  const image = `${repository}@${digest}`
  return {
    outcome: 'published',
    detail: `the registry received ${image}`,
    events: [
      {
        type: 'evt.image.published',
        data: {
          projectId: project.projectId,
          provider: 'github',
          repo,
          deliveryId,
          source: 'package',
          image,
          repository,
          tag: tag ?? null,
          digest,
          commitSha: commitSha ?? null,
          branch: typeof branch === 'string' && branch !== '' && !commitPattern.test(branch) ? branch : null,
          url: version.html_url
            ? httpsUrl(version.html_url, 'package.package_version.html_url')
            : httpsUrl(pkg.html_url, 'package.html_url'),
          publishedAt: timestamp(version.updated_at ?? version.created_at ?? pkg.updated_at),
        },
      },
    ],
  }
}

/**
 * A page of GitHub's the payload links to, which events carry to people (consoles render it as a link):
 * an https URL and nothing else (`javascript:` and `data:` URLs are URLs too). A signed payload is
 * still only as trustworthy as whoever holds the project's secret.
 */
export function httpsUrl(value: unknown, field: string): string {
  if (typeof value === 'string' && value.length <= 2048 && URL.canParse(value)) {
    if (new URL(value).protocol === 'https:') return value
  }
  throw new Error(`${field} must be an https URL`)
}

/** A payload's time as ISO 8601, or now when it has none that parses. */
function timestamp(value: unknown): string {
  const at = typeof value === 'string' ? new Date(value) : undefined
  return (at !== undefined && !Number.isNaN(at.getTime()) ? at : new Date()).toISOString()
}

/** When the push happened: the head commit's time, else the repository's last push, else now. */
function pushedAt(head: Payload | null | undefined, payload: Payload): string {
  const candidates = [
    typeof head?.timestamp === 'string' ? new Date(head.timestamp) : undefined,
    new Date(Number(payload.repository?.pushed_at) * 1000),
  ]
  const valid = candidates.find((d) => d !== undefined && !Number.isNaN(d.getTime()))
  return (valid ?? new Date()).toISOString()
}

/** Who pushed: the pusher's name, else the sender's login. */
const pusherOf = (payload: Payload): string =>
  String(payload.pusher?.name ?? payload.sender?.login ?? 'unknown')
