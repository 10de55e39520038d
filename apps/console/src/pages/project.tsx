import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useParams } from '@tanstack/react-router'
import { type FormEvent, useId, useState } from 'react'
import { api } from '../api.ts'
import type { Deployment, Environment, Items, Project } from '../types.ts'
import {
  ConfirmButton,
  Empty,
  ErrorNote,
  Field,
  formValues,
  Loading,
  Status,
  submitted,
  when,
} from '../ui.tsx'
import { WebhookGuide } from './webhook.tsx'

/** The deployment an environment runs (its current one), else its latest. */
export const currentOf = (items: readonly Deployment[]): Deployment | undefined =>
  items.find((d) => d.current) ?? items[0]

function EnvironmentRow({ env }: { env: Environment }) {
  const deployments = useQuery({
    queryKey: ['deployments', env.id],
    queryFn: () => api<Items<Deployment>>('GET', `/v1/environments/${env.id}/deployments?limit=5`),
  })
  const current = deployments.data === undefined ? undefined : currentOf(deployments.data.items)
  return (
    <tr>
      <td>
        <Link
          to="/projects/$projectId/environments/$envId"
          params={{ projectId: env.projectId, envId: env.id }}
        >
          {env.name}
        </Link>
      </td>
      <td>{env.type}</td>
      {deployments.isPending ? (
        <td colSpan={5}>
          <Loading what="its deployment" />
        </td>
      ) : current === undefined ? (
        <td colSpan={5}>{deployments.error === null ? 'Nothing deployed yet' : deployments.error.message}</td>
      ) : (
        <>
          <td>
            <Link to="/deployments/$deploymentId" params={{ deploymentId: current.id }}>
              <code>{current.artifactRef}</code>
            </Link>
          </td>
          <td>
            <Status status={current.status} />
          </td>
          <td>
            {current.urls.length === 0
              ? '—'
              : current.urls.map((u) => (
                  <a key={u} href={u}>
                    {u}
                  </a>
                ))}
          </td>
          <td>{current.platform ?? '—'}</td>
          <td>{current.provider ?? '—'}</td>
        </>
      )}
    </tr>
  )
}

export function EnvironmentsTable({ environments }: { environments: readonly Environment[] }) {
  return (
    <table data-testid="environments">
      <caption className="sr-only">Environments</caption>
      <thead>
        <tr>
          <th scope="col">Environment</th>
          <th scope="col">Type</th>
          <th scope="col">Deployment</th>
          <th scope="col">Status</th>
          <th scope="col">URL</th>
          <th scope="col">Platform</th>
          <th scope="col">Provider</th>
        </tr>
      </thead>
      <tbody>
        {environments.map((env) => (
          <EnvironmentRow key={env.id} env={env} />
        ))}
      </tbody>
    </table>
  )
}

const types = ['preview', 'development', 'staging', 'production']

function Webhook({ project }: { project: Project }) {
  const [secret, setSecret] = useState<{ url: string; secret: string }>()
  const deliveries = useQuery({
    queryKey: ['deliveries', project.id],
    queryFn: () =>
      api<
        Items<{
          deliveryId: string
          event: string
          action: string | null
          outcome: string
          detail: string
          receivedAt: string
        }>
      >('GET', `/v1/projects/${project.id}/webhook/deliveries`),
  })
  const rotate = useMutation({
    mutationFn: () =>
      api<{ url: string; secret: string }>('POST', `/v1/projects/${project.id}/webhook/rotate`),
    onSuccess: setSecret,
  })
  return (
    <section aria-labelledby="webhook-heading">
      <h2 id="webhook-heading">Webhook</h2>
      <p>
        URL: <code>{project.webhookUrl}</code>.{' '}
        {project.repository === null
          ? 'Link a repository to receive its pushes.'
          : project.repositoryVerifiedAt === null
            ? 'Not verified yet: add the webhook in GitHub; its ping verifies it.'
            : `Verified ${when(project.repositoryVerifiedAt)}.`}
      </p>
      {secret !== undefined ? (
        <WebhookGuide url={secret.url} secret={secret.secret} repository={project.repository} />
      ) : (
        <p>The secret was shown when the project was made. Lost it? Rotate it to get a new one.</p>
      )}
      <ErrorNote error={rotate.error} />
      <ConfirmButton
        label="Rotate the webhook secret"
        confirm="Rotate it: GitHub's deliveries fail until its webhook has the new secret"
        busy={rotate.isPending}
        onConfirm={() => rotate.mutate()}
      />
      <h3>Recent deliveries</h3>
      <ErrorNote error={deliveries.error} />
      {deliveries.data !== undefined &&
        (deliveries.data.items.length === 0 ? (
          <Empty>No deliveries yet: GitHub sends a ping when you add the webhook.</Empty>
        ) : (
          <table>
            <caption className="sr-only">Webhook deliveries</caption>
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">Event</th>
                <th scope="col">Outcome</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.data.items.map((d) => (
                <tr key={d.deliveryId}>
                  <td>{when(d.receivedAt)}</td>
                  <td>
                    {d.event}
                    {d.action === null ? '' : `.${d.action}`}
                  </td>
                  <td>{d.outcome}</td>
                  <td>{d.detail}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </section>
  )
}

export function ProjectPage() {
  const { projectId } = useParams({ strict: false }) as { projectId: string }
  const queryClient = useQueryClient()
  const typeId = useId()
  const envSelect = useId()
  const project = useQuery({
    queryKey: ['project', projectId],
    queryFn: () => api<Project>('GET', `/v1/projects/${projectId}`),
  })
  const environments = useQuery({
    queryKey: ['environments', projectId],
    queryFn: () => api<Items<Environment>>('GET', `/v1/projects/${projectId}/environments`),
  })
  const createEnv = useMutation({
    mutationFn: (values: Record<string, string>) =>
      api<Environment>('POST', `/v1/projects/${projectId}/environments`, {
        name: values.name,
        type: values.type,
      }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['environments', projectId] }),
  })
  const [uploaded, setUploaded] = useState<string>()
  const upload = useMutation({
    mutationFn: (values: Record<string, string>) =>
      api<{ digest: string; created: boolean }>('POST', `/v1/projects/${projectId}/manifests`, {
        yaml: values.yaml,
        environment: values.environment,
      }),
    onSuccess: (answer) => setUploaded(answer.digest),
  })
  const envs = environments.data?.items ?? []
  return (
    <section>
      <p className="crumbs">
        <Link to="/">Projects</Link> /
      </p>
      <h1>{project.data?.name ?? 'Project'}</h1>
      <ErrorNote error={project.error} />
      <h2>Environments</h2>
      {environments.isPending && <Loading what="environments" />}
      <ErrorNote error={environments.error} />
      {environments.data !== undefined &&
        (envs.length === 0 ? (
          <Empty>No environments yet. Add one below (staging, say), then upload its deploy.yaml.</Empty>
        ) : (
          <EnvironmentsTable environments={envs} />
        ))}
      <h3>New environment</h3>
      <form
        className="inline-form"
        onSubmit={(e: FormEvent<HTMLFormElement>) => {
          e.preventDefault()
          const form = e.currentTarget
          createEnv.mutate(formValues(form), { onSuccess: () => form.reset() })
        }}
      >
        <Field label="Name" name="name" required error={createEnv.error} />
        <div className="field">
          <label htmlFor={typeId}>Type</label>
          <select id={typeId} name="type" defaultValue="staging">
            {types.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </div>
        <ErrorNote error={createEnv.error} shown={['name', 'type']} />
        <button type="submit" disabled={createEnv.isPending}>
          Add environment
        </button>
      </form>
      {envs.length > 0 && (
        <>
          <h3>Upload a manifest</h3>
          <form onSubmit={submitted((values) => upload.mutate(values))}>
            <div className="field">
              <label htmlFor={envSelect}>Environment</label>
              <select id={envSelect} name="environment">
                {envs.map((env) => (
                  <option key={env.id} value={env.name}>
                    {env.name}
                  </option>
                ))}
              </select>
            </div>
            <Field
              label="deploy.yaml"
              name="yaml"
              multiline
              required
              hint="apiVersion: rxt-deploy/v1, kind: Application; the image, ports and network of the app."
              error={upload.error}
            />
            <ErrorNote error={upload.error} shown={['yaml', 'environment']} />
            <button type="submit" disabled={upload.isPending}>
              Upload manifest
            </button>
            {uploaded !== undefined && (
              <p role="status">
                Manifest <code>{uploaded.slice(0, 19)}</code> is the environment's current one.
              </p>
            )}
          </form>
        </>
      )}
      {project.data !== undefined && <Webhook project={project.data} />}
    </section>
  )
}
