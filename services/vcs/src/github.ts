/**
 * What a GitHub delivery means for the platform: the events to publish, or why it is ignored. Pure:
 * the payload in, a decision out (the shapes read are GitHub's documented webhook payloads).
 */

export interface ProjectRoute {
  readonly projectId: string
  readonly orgId: string
  readonly deployBranches: readonly string[]
  /** Pushing a tag deploys. */
  readonly deployTags: boolean
  /** A deleted branch becomes evt.branch.deleted. */
  readonly reportBranchDeletions: boolean
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

/** The events a delivery causes for one project. */
export function decide(event: string, payload: Payload, deliveryId: string, project: ProjectRoute): Decision {
  const repo = String(payload.repository?.full_name ?? '')
  switch (event) {
    case 'ping':
      return {
        outcome: 'published',
        detail: 'the webhook works',
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
          url: String(pr.html_url),
          ...(type === 'evt.pr.closed' ? { merged: pr.merged === true } : {}),
        },
      },
    ],
  }
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
