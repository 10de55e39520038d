import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useParams } from '@tanstack/react-router'
import { useId, useState } from 'react'
import { api } from '../api.ts'
import { type Deployment, type Environment, type Items, type Project, terminal } from '../types.ts'
import { Empty, ErrorNote, Field, Loading, Status, submitted, when } from '../ui.tsx'

export function EnvironmentPage() {
  const { projectId, envId } = useParams({ strict: false }) as { projectId: string; envId: string }
  const navigate = useNavigate()
  const queryClient = useQueryClient()
  const fromId = useId()
  const [confirming, setConfirming] = useState(false)
  const project = useQuery({
    queryKey: ['project', projectId],
    queryFn: () => api<Project>('GET', `/v1/projects/${projectId}`),
  })
  const env = useQuery({
    queryKey: ['environment', envId],
    queryFn: () => api<Environment>('GET', `/v1/projects/${projectId}/environments/${envId}`),
  })
  const siblings = useQuery({
    queryKey: ['environments', projectId],
    queryFn: () => api<Items<Environment>>('GET', `/v1/projects/${projectId}/environments`),
  })
  const deployments = useQuery({
    queryKey: ['deployments', envId],
    queryFn: () => api<Items<Deployment>>('GET', `/v1/environments/${envId}/deployments?limit=20`),
    refetchInterval: (q) => (q.state.data?.items.some((d) => !terminal.has(d.status)) ? 2_000 : false),
  })
  const opened = (d: Deployment) => {
    void queryClient.invalidateQueries({ queryKey: ['deployments', envId] })
    void navigate({ to: '/deployments/$deploymentId', params: { deploymentId: d.id } })
  }
  const deploy = useMutation({
    mutationFn: (values: Record<string, string>) =>
      api<Deployment>('POST', `/v1/environments/${envId}/deployments`, { artifactRef: values.artifactRef }),
    onSuccess: opened,
  })
  const promote = useMutation({
    mutationFn: (values: Record<string, string>) =>
      api<Deployment>('POST', `/v1/environments/${envId}/promote`, { from: values.from }),
    onSuccess: opened,
  })
  const destroy = useMutation({
    mutationFn: (values: Record<string, string>) =>
      api<Deployment>('POST', `/v1/environments/${envId}/destroy`, { confirm: values.confirm }),
    onSuccess: opened,
  })
  const name = env.data?.name ?? 'Environment'
  const others = (siblings.data?.items ?? []).filter((e) => e.id !== envId)
  return (
    <section>
      <p className="crumbs">
        <Link to="/">Projects</Link> /{' '}
        <Link to="/projects/$projectId" params={{ projectId }}>
          {project.data?.name ?? 'project'}
        </Link>{' '}
        /
      </p>
      <h1>{name}</h1>
      <ErrorNote error={env.error} />
      <p>
        <Link to="/projects/$projectId/environments/$envId/explain" params={{ projectId, envId }}>
          Why this provider? Explain the placement
        </Link>
      </p>
      <h2>Deploy</h2>
      <form className="inline-form" onSubmit={submitted((values) => deploy.mutate(values))}>
        <Field
          label="Artifact"
          name="artifactRef"
          required
          placeholder="ghcr.io/acme/shop:1.2.0"
          hint="The image to run: registry/repository:tag, or pinned with @sha256:…"
          error={deploy.error}
        />
        <ErrorNote error={deploy.error} shown={['artifactRef']} />
        <button type="submit" disabled={deploy.isPending}>
          Deploy
        </button>
      </form>
      <h2>Deployments</h2>
      {deployments.isPending && <Loading what="deployments" />}
      <ErrorNote error={deployments.error} />
      {deployments.data !== undefined &&
        (deployments.data.items.length === 0 ? (
          <Empty>
            Nothing deployed yet. Upload a manifest on the project page, then deploy an artifact above.
          </Empty>
        ) : (
          <table>
            <caption className="sr-only">Deployments of {name}</caption>
            <thead>
              <tr>
                <th scope="col">Deployment</th>
                <th scope="col">Status</th>
                <th scope="col">Trigger</th>
                <th scope="col">Provider</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {deployments.data.items.map((d) => (
                <tr key={d.id}>
                  <td>
                    <Link to="/deployments/$deploymentId" params={{ deploymentId: d.id }}>
                      <code>{d.artifactRef}</code>
                    </Link>
                    {d.current && ' (current)'}
                  </td>
                  <td>
                    <Status status={d.status} />
                  </td>
                  <td>{d.trigger}</td>
                  <td>{d.provider ?? '—'}</td>
                  <td>{when(d.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      {others.length > 0 && (
        <>
          <h2>Promote</h2>
          <form className="inline-form" onSubmit={submitted((values) => promote.mutate(values))}>
            <div className="field">
              <label htmlFor={fromId}>From environment</label>
              <select id={fromId} name="from">
                {others.map((o) => (
                  <option key={o.id} value={o.id}>
                    {o.name}
                  </option>
                ))}
              </select>
            </div>
            <ErrorNote error={promote.error} />
            <button type="submit" disabled={promote.isPending}>
              Promote its healthy deployment here
            </button>
          </form>
        </>
      )}
      <h2>Danger zone</h2>
      {confirming ? (
        <form className="danger" onSubmit={submitted((values) => destroy.mutate(values))}>
          <Field
            label={`Type ${name} to confirm`}
            name="confirm"
            required
            autoFocus
            hint="Everything this environment runs on its provider goes."
            error={destroy.error}
          />
          <ErrorNote error={destroy.error} shown={['confirm']} />
          <button type="submit" className="destructive" disabled={destroy.isPending}>
            Destroy {name}
          </button>{' '}
          <button type="button" className="link" onClick={() => setConfirming(false)}>
            Keep it
          </button>
        </form>
      ) : (
        <button type="button" className="destructive" onClick={() => setConfirming(true)}>
          Destroy this environment…
        </button>
      )}
    </section>
  )
}
