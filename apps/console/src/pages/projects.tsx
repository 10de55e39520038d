import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link } from '@tanstack/react-router'
import { type FormEvent, useState } from 'react'
import { api } from '../api.ts'
import type { Items, Project } from '../types.ts'
import { Empty, ErrorNote, Field, formValues, Loading } from '../ui.tsx'
import { WebhookGuide } from './webhook.tsx'

interface Created extends Project {
  readonly webhook: { readonly url: string; readonly secret: string }
}

export function ProjectsPage() {
  const queryClient = useQueryClient()
  const projects = useQuery({
    queryKey: ['projects'],
    queryFn: () => api<Items<Project>>('GET', '/v1/projects'),
  })
  const [created, setCreated] = useState<Created>()
  const create = useMutation({
    mutationFn: (values: Record<string, string>) =>
      api<Created>('POST', '/v1/projects', {
        slug: values.slug,
        name: values.name === '' ? values.slug : values.name,
        ...(values.repository === '' ? {} : { repository: values.repository }),
      }),
    onSuccess: (project, _values) => {
      setCreated(project)
      void queryClient.invalidateQueries({ queryKey: ['projects'] })
    },
  })
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const form = e.currentTarget
    create.mutate(formValues(form), { onSuccess: () => form.reset() })
  }
  return (
    <section>
      <h1>Projects</h1>
      {projects.isPending && <Loading what="projects" />}
      <ErrorNote error={projects.error} />
      {projects.data !== undefined &&
        (projects.data.items.length === 0 ? (
          <Empty>
            No projects yet. Create one below: name it, link its GitHub repository, then add an environment.
          </Empty>
        ) : (
          <table>
            <caption className="sr-only">Projects</caption>
            <thead>
              <tr>
                <th scope="col">Project</th>
                <th scope="col">Repository</th>
                <th scope="col">Webhook</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {projects.data.items.map((p) => (
                <tr key={p.id}>
                  <td>
                    <Link to="/projects/$projectId" params={{ projectId: p.id }}>
                      {p.name}
                    </Link>{' '}
                    <code>{p.slug}</code>
                  </td>
                  <td>{p.repository ?? '—'}</td>
                  <td>
                    {p.repository === null
                      ? '—'
                      : p.repositoryVerifiedAt === null
                        ? 'not verified'
                        : 'verified'}
                  </td>
                  <td>{new Date(p.createdAt).toLocaleDateString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      {created !== undefined && (
        <div className="notice" role="status">
          <h2>Project {created.name} created</h2>
          <WebhookGuide
            url={created.webhook.url}
            secret={created.webhook.secret}
            repository={created.repository}
          />
          <p>
            <Link to="/projects/$projectId" params={{ projectId: created.id }}>
              Open {created.name}
            </Link>
          </p>
        </div>
      )}
      <h2>New project</h2>
      <form onSubmit={submit} className="inline-form">
        <Field
          label="Slug"
          name="slug"
          required
          hint="Lower-case letters, digits and dashes: part of its URLs."
          error={create.error}
        />
        <Field label="Name" name="name" error={create.error} />
        <Field label="GitHub repository" name="repository" placeholder="owner/name" error={create.error} />
        <ErrorNote error={create.error} shown={['slug', 'name', 'repository']} />
        <button type="submit" disabled={create.isPending}>
          Create project
        </button>
      </form>
    </section>
  )
}
