import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useId, useState } from 'react'
import { api, query } from '../api.ts'
import type { Environment, Items, Project } from '../types.ts'
import { Empty, ErrorNote, Field, formValues, Loading, submitted, when } from '../ui.tsx'

interface Secret {
  readonly id: string
  readonly name: string
  readonly ref: string
  readonly envId: string | null
  readonly scope: string
  readonly currentVersion: number
  readonly redeployOnRotation: boolean
  readonly updatedAt: string
}

function Rotate({ secret }: { secret: Secret }) {
  const queryClient = useQueryClient()
  const [open, setOpen] = useState(false)
  const rotate = useMutation({
    mutationFn: (value: string) => api<Secret>('POST', `/v1/secrets/${secret.id}/rotate`, { value }),
    onSuccess: () => {
      setOpen(false)
      void queryClient.invalidateQueries({ queryKey: ['secrets'] })
    },
  })
  if (!open)
    return (
      <button type="button" onClick={() => setOpen(true)}>
        Rotate {secret.name}
      </button>
    )
  return (
    <form className="inline-form" onSubmit={submitted((values) => rotate.mutate(values.value ?? ''))}>
      <Field
        label={`New value of ${secret.name}`}
        name="value"
        type="password"
        required
        autoComplete="off"
        autoFocus
        error={rotate.error}
      />
      <ErrorNote error={rotate.error} shown={['value']} />
      <button type="submit" disabled={rotate.isPending}>
        Save version {secret.currentVersion + 1}
      </button>
    </form>
  )
}

export function SecretsPage() {
  const queryClient = useQueryClient()
  const projectSelect = useId()
  const envSelect = useId()
  const projects = useQuery({
    queryKey: ['projects'],
    queryFn: () => api<Items<Project>>('GET', '/v1/projects'),
  })
  const [chosen, setChosen] = useState<string>()
  const projectId = chosen ?? projects.data?.items[0]?.id
  const environments = useQuery({
    queryKey: ['environments', projectId],
    queryFn: () => api<Items<Environment>>('GET', `/v1/projects/${projectId}/environments`),
    enabled: projectId !== undefined,
  })
  const secrets = useQuery({
    queryKey: ['secrets', projectId],
    queryFn: () => api<Items<Secret>>('GET', `/v1/secrets${query({ projectId })}`),
    enabled: projectId !== undefined,
  })
  const create = useMutation({
    mutationFn: (v: Record<string, string>) =>
      api<Secret>('POST', '/v1/secrets', {
        name: v.name,
        projectId,
        value: v.value,
        ...(v.envId === '' || v.envId === undefined ? {} : { envId: v.envId }),
      }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['secrets'] }),
  })
  const envName = (id: string | null) =>
    id === null ? 'every environment' : (environments.data?.items.find((e) => e.id === id)?.name ?? id)
  return (
    <section>
      <h1>Secrets</h1>
      <p>Values are write-only: the console never shows one; a deployment receives them.</p>
      {projects.isPending && <Loading what="projects" />}
      <ErrorNote error={projects.error} />
      {projects.data !== undefined && projects.data.items.length === 0 && (
        <Empty>Create a project first: secrets belong to one.</Empty>
      )}
      {projectId !== undefined && (
        <>
          <div className="field">
            <label htmlFor={projectSelect}>Project</label>
            <select id={projectSelect} value={projectId} onChange={(e) => setChosen(e.target.value)}>
              {projects.data?.items.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
          </div>
          <ErrorNote error={secrets.error} />
          {secrets.data !== undefined &&
            (secrets.data.items.length === 0 ? (
              <Empty>
                No secrets in this project. Add one below; reference it from deploy.yaml by its name.
              </Empty>
            ) : (
              <table>
                <caption className="sr-only">Secrets</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">For</th>
                    <th scope="col">Version</th>
                    <th scope="col">Updated</th>
                    <th scope="col">Rotate</th>
                  </tr>
                </thead>
                <tbody>
                  {secrets.data.items.map((s) => (
                    <tr key={s.id}>
                      <td>
                        <code>{s.name}</code>
                      </td>
                      <td>{envName(s.envId)}</td>
                      <td>{s.currentVersion}</td>
                      <td>{when(s.updatedAt)}</td>
                      <td>
                        <Rotate secret={s} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ))}
          <h2>New secret</h2>
          <form
            onSubmit={(e: FormEvent<HTMLFormElement>) => {
              e.preventDefault()
              const form = e.currentTarget
              create.mutate(formValues(form), { onSuccess: () => form.reset() })
            }}
          >
            <Field
              label="Name"
              name="name"
              required
              hint="Upper-case letters, digits and underscores: DATABASE_URL"
              error={create.error}
            />
            <div className="field">
              <label htmlFor={envSelect}>Environment</label>
              <select id={envSelect} name="envId" defaultValue="">
                <option value="">every environment of the project</option>
                {environments.data?.items.map((env) => (
                  <option key={env.id} value={env.id}>
                    {env.name}
                  </option>
                ))}
              </select>
            </div>
            <Field
              label="Value"
              name="value"
              type="password"
              required
              autoComplete="off"
              error={create.error}
            />
            <ErrorNote error={create.error} shown={['name', 'value', 'envId']} />
            <button type="submit" disabled={create.isPending}>
              Add secret
            </button>
          </form>
        </>
      )}
    </section>
  )
}
