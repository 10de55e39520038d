import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useParams } from '@tanstack/react-router'
import { useEffect, useState } from 'react'
import { api, followEvents } from '../api.ts'
import { type Deployment, type Project, terminal } from '../types.ts'
import { ErrorNote, Loading, Status, took, when } from '../ui.tsx'

interface LiveEvent {
  readonly id: string | undefined
  readonly kind: string
  readonly step: string | undefined
  readonly at: string | undefined
}

const parse = (data: string): Record<string, unknown> => {
  try {
    const value: unknown = JSON.parse(data)
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

export function DeploymentPage() {
  const { deploymentId } = useParams({ strict: false }) as { deploymentId: string }
  const navigate = useNavigate()
  const queryClient = useQueryClient()
  const key = ['deployment', deploymentId]
  const [events, setEvents] = useState<readonly LiveEvent[]>([])
  const [streamError, setStreamError] = useState<unknown>()
  const [live, setLive] = useState(false)
  const deployment = useQuery({
    queryKey: key,
    queryFn: () => api<Deployment>('GET', `/v1/deployments/${deploymentId}`),
    // The stream gave up: poll until the deployment settles.
    refetchInterval: (q) =>
      streamError !== undefined && !(q.state.data !== undefined && terminal.has(q.state.data.status))
        ? 2_000
        : false,
  })

  useEffect(() => {
    const controller = new AbortController()
    let pending: ReturnType<typeof setTimeout> | undefined
    setEvents([])
    setStreamError(undefined)
    setLive(true)
    followEvents(
      deploymentId,
      (event) => {
        const data = parse(event.data)
        setEvents((seen) => [
          ...seen,
          {
            id: event.id,
            kind: event.event,
            step: typeof data.step === 'string' ? data.step : undefined,
            at:
              typeof data.at === 'string'
                ? data.at
                : typeof data.recordedAt === 'string'
                  ? data.recordedAt
                  : undefined,
          },
        ])
        // The steps and status as the server has them now: one fetch for a burst of events.
        if (pending === undefined)
          pending = setTimeout(() => {
            pending = undefined
            void queryClient.invalidateQueries({ queryKey: ['deployment', deploymentId] })
          }, 200)
      },
      controller.signal,
    )
      .catch(setStreamError)
      .finally(() => {
        if (!controller.signal.aborted) setLive(false)
      })
    return () => {
      controller.abort()
      clearTimeout(pending)
    }
  }, [deploymentId, queryClient])

  const after = (next: Deployment) => {
    void queryClient.invalidateQueries({ queryKey: ['deployments', next.envId] })
    void navigate({ to: '/deployments/$deploymentId', params: { deploymentId: next.id } })
  }
  const cancel = useMutation({
    mutationFn: () => api<Deployment>('POST', `/v1/deployments/${deploymentId}/cancel`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: key }),
  })
  const rollback = useMutation({
    mutationFn: () => api<Deployment>('POST', `/v1/deployments/${deploymentId}/rollback`),
    onSuccess: after,
  })
  const retry = useMutation({
    mutationFn: () => api<Deployment>('POST', `/v1/deployments/${deploymentId}/retry`),
    onSuccess: after,
  })

  const d = deployment.data
  const project = useQuery({
    queryKey: ['project', d?.projectId],
    queryFn: () => api<Project>('GET', `/v1/projects/${d?.projectId}`),
    enabled: d !== undefined,
  })
  if (d === undefined)
    return (
      <section>
        <h1>Deployment</h1>
        {deployment.isPending && <Loading what="the deployment" />}
        <ErrorNote error={deployment.error} />
      </section>
    )
  const done = terminal.has(d.status)
  return (
    <section>
      <p className="crumbs">
        <Link to="/">Projects</Link> /{' '}
        <Link to="/projects/$projectId" params={{ projectId: d.projectId }}>
          {project.data?.name ?? 'project'}
        </Link>{' '}
        /{' '}
        <Link
          to="/projects/$projectId/environments/$envId"
          params={{ projectId: d.projectId, envId: d.envId }}
        >
          {d.environment}
        </Link>{' '}
        /
      </p>
      <h1>
        {d.kind === 'destroy' ? 'Destroy of' : 'Deployment of'} <code>{d.artifactRef}</code>
      </h1>
      <p aria-live="polite" data-testid="deployment-status">
        Status: <Status status={d.status} />
        {d.step !== null && !done && <> at step {d.step}</>}
        {live && <span className="live"> (live)</span>}
      </p>
      <dl className="facts">
        <dt>Environment</dt>
        <dd>{d.environment}</dd>
        <dt>Trigger</dt>
        <dd>
          {d.trigger}
          {d.requestedBy === null ? '' : ` by ${d.requestedBy}`}
        </dd>
        <dt>Platform</dt>
        <dd>{d.platform ?? '—'}</dd>
        <dt>Provider</dt>
        <dd>{d.provider ?? '—'}</dd>
        <dt>URL</dt>
        <dd>
          {d.urls.length === 0
            ? '—'
            : d.urls.map((u) => (
                <a key={u} href={u}>
                  {u}
                </a>
              ))}
        </dd>
        <dt>Created</dt>
        <dd>{when(d.createdAt)}</dd>
        <dt>Ready</dt>
        <dd>{when(d.succeededAt)}</dd>
        <dt>Manifest</dt>
        <dd>
          <code>{d.manifestDigest.slice(0, 19)}</code>
        </dd>
      </dl>
      {d.failure !== null && (
        <div className="error" role="alert">
          <h2>Failed{d.failure.step === null ? '' : ` at ${d.failure.step}`}</h2>
          <p>
            {d.failure.reason} <code>{d.failure.code}</code>
          </p>
        </div>
      )}
      {d.compensationFailures.length > 0 && (
        <div className="error">
          <h2>Not undone: a person must undo these</h2>
          <ul>
            {d.compensationFailures.map((c) => (
              <li key={c.step}>
                {c.step}: {c.reason} <code>{c.code}</code>
              </li>
            ))}
          </ul>
        </div>
      )}
      <h2>Steps</h2>
      <table data-testid="steps">
        <caption className="sr-only">Steps</caption>
        <thead>
          <tr>
            <th scope="col">Step</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Started</th>
            <th scope="col">Took</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {(d.steps ?? []).map((s) => (
            <tr key={s.name}>
              <td>{s.name}</td>
              <td>
                <Status status={s.status} />
              </td>
              <td>{s.attempts}</td>
              <td>{when(s.startedAt)}</td>
              <td>{took(s.startedAt, s.endedAt)}</td>
              <td>{s.reason ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="actions">
        {!done && (
          <button type="button" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
            Cancel
          </button>
        )}
        {d.kind === 'deploy' && d.succeededAt !== null && !d.current && (
          <button type="button" onClick={() => rollback.mutate()} disabled={rollback.isPending}>
            Roll back to this deployment
          </button>
        )}
        {(d.status === 'failed' || d.status === 'cancelled') && (
          <button type="button" onClick={() => retry.mutate()} disabled={retry.isPending}>
            Retry
          </button>
        )}
      </div>
      <ErrorNote error={cancel.error ?? rollback.error ?? retry.error ?? streamError} />
      <h2>Events</h2>
      {events.length === 0 ? (
        <p className="empty">No events yet.</p>
      ) : (
        <ol className="events" data-testid="events">
          {events.map((e, i) => (
            // The list only grows, and an `end` event repeats the id before it: the position is the key.
            // biome-ignore lint/suspicious/noArrayIndexKey: an append-only list
            <li key={i}>
              <code>{e.kind}</code>
              {e.step === undefined ? '' : ` ${e.step}`}
              {e.at === undefined ? '' : ` at ${new Date(e.at).toLocaleTimeString()}`}
            </li>
          ))}
        </ol>
      )}
    </section>
  )
}
