import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useId, useState } from 'react'
import { api, session } from '../api.ts'
import { useMe } from '../router.tsx'
import type { Items } from '../types.ts'
import { ConfirmButton, Empty, ErrorNote, Field, Loading, submitted, when } from '../ui.tsx'

interface Member {
  readonly userId: string
  readonly email: string
  readonly name: string
  readonly role: string
  readonly since: string
}
interface Role {
  readonly name: string
  readonly description: string
  readonly permissions: readonly string[]
  readonly builtin: boolean
}
interface ApiKey {
  readonly id: string
  readonly name: string
  readonly role: string
  readonly createdAt: string
  readonly expiresAt: string | null
  readonly lastUsedAt: string | null
  readonly revokedAt: string | null
}

function RoleSelect({
  roles,
  name,
  label,
  value,
  onChange,
}: {
  roles: readonly Role[]
  name?: string
  label: string
  value?: string
  onChange?: (role: string) => void
}) {
  const id = useId()
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select
        id={id}
        name={name}
        {...(value === undefined ? { defaultValue: 'developer' } : { value })}
        onChange={onChange === undefined ? undefined : (e) => onChange(e.target.value)}
      >
        {roles.map((r) => (
          <option key={r.name} value={r.name}>
            {r.name}
          </option>
        ))}
      </select>
    </div>
  )
}

/** A member's role: chosen in the select, changed only by Save (choosing with the arrow keys sends nothing). */
function MemberRole({
  roles,
  member,
  saving,
  onSave,
}: {
  roles: readonly Role[]
  member: Member
  saving: boolean
  onSave: (role: string) => void
}) {
  const [chosen, setChosen] = useState(member.role)
  return (
    <form
      className="inline-form"
      onSubmit={(e) => {
        e.preventDefault()
        if (chosen !== member.role) onSave(chosen)
      }}
    >
      <RoleSelect roles={roles} label={`Role of ${member.name}`} value={chosen} onChange={setChosen} />
      <button type="submit" disabled={saving || chosen === member.role}>
        Save role of {member.name}
      </button>
    </form>
  )
}

export function OrgPage() {
  const me = useMe()
  const orgId = session.org() ?? me.data?.orgs[0]?.id
  const queryClient = useQueryClient()
  const members = useQuery({
    queryKey: ['members', orgId],
    queryFn: () => api<Items<Member>>('GET', `/v1/orgs/${orgId}/members`),
    enabled: orgId !== undefined,
  })
  const roles = useQuery({ queryKey: ['roles'], queryFn: () => api<Items<Role>>('GET', '/v1/roles') })
  const keys = useQuery({
    queryKey: ['api-keys', orgId],
    queryFn: () => api<Items<ApiKey>>('GET', `/v1/orgs/${orgId}/api-keys`),
    enabled: orgId !== undefined,
  })
  const [invite, setInvite] = useState<string>()
  const [key, setKey] = useState<string>()
  const setRole = useMutation({
    mutationFn: ({ userId, role }: { userId: string; role: string }) =>
      api('PATCH', `/v1/orgs/${orgId}/members/${userId}`, { role }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['members', orgId] }),
  })
  const sendInvite = useMutation({
    mutationFn: (v: Record<string, string>) =>
      api<{ token: string }>('POST', `/v1/orgs/${orgId}/invites`, { email: v.email, role: v.role }),
    onSuccess: (answer) => setInvite(`${window.location.origin}/invites/${answer.token}`),
  })
  const createKey = useMutation({
    mutationFn: (v: Record<string, string>) =>
      api<{ key: string }>('POST', `/v1/orgs/${orgId}/api-keys`, { name: v.name, role: v.role }),
    onSuccess: (answer) => {
      setKey(answer.key)
      void queryClient.invalidateQueries({ queryKey: ['api-keys', orgId] })
    },
  })
  const revoke = useMutation({
    mutationFn: (id: string) => api('DELETE', `/v1/orgs/${orgId}/api-keys/${id}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['api-keys', orgId] }),
  })
  const rotateKey = useMutation({
    mutationFn: (id: string) => api<{ key: string }>('POST', `/v1/orgs/${orgId}/api-keys/${id}/rotate`, {}),
    onSuccess: (answer) => {
      setKey(answer.key)
      void queryClient.invalidateQueries({ queryKey: ['api-keys', orgId] })
    },
  })
  const removeMember = useMutation({
    mutationFn: (userId: string) => api('DELETE', `/v1/orgs/${orgId}/members/${userId}`),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['members', orgId] }),
  })
  const createRole = useMutation({
    mutationFn: (v: Record<string, string>) =>
      api('POST', `/v1/orgs/${orgId}/roles`, {
        name: v.name,
        ...(v.description ? { description: v.description } : {}),
        permissions: (v.permissions ?? '').split(/[\s,]+/).filter((p) => p !== ''),
      }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['roles'] }),
  })
  const allRoles = roles.data?.items ?? []
  const org = me.data?.orgs.find((o) => o.id === orgId)
  return (
    <section>
      <h1>{org?.name ?? 'Organisation'}</h1>
      <h2>Members</h2>
      {members.isPending && <Loading what="members" />}
      <ErrorNote error={members.error ?? setRole.error ?? removeMember.error} />
      {members.data !== undefined && (
        <table>
          <caption className="sr-only">Members</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Since</th>
              <th scope="col">
                <span className="sr-only">Remove</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {members.data.items.map((m) => (
              <tr key={m.userId}>
                <td>{m.name}</td>
                <td>{m.email}</td>
                <td>
                  <MemberRole
                    roles={
                      allRoles.length === 0
                        ? [{ name: m.role, description: '', permissions: [], builtin: true }]
                        : allRoles
                    }
                    member={m}
                    saving={setRole.isPending}
                    onSave={(role) => setRole.mutate({ userId: m.userId, role })}
                  />
                </td>
                <td>{when(m.since)}</td>
                <td>
                  <ConfirmButton
                    label={`Remove ${m.name}`}
                    confirm={`Remove ${m.name} from the organisation`}
                    busy={removeMember.isPending}
                    onConfirm={() => removeMember.mutate(m.userId)}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Invite someone</h2>
      <form className="inline-form" onSubmit={submitted((values) => sendInvite.mutate(values))}>
        <Field label="Email" name="email" type="email" required error={sendInvite.error} />
        <RoleSelect roles={allRoles} name="role" label="Role" />
        <ErrorNote error={sendInvite.error} shown={['email', 'role']} />
        <button type="submit" disabled={sendInvite.isPending}>
          Invite
        </button>
      </form>
      {invite !== undefined && (
        <p role="status">
          Send them this link (shown once): <code>{invite}</code>
        </p>
      )}
      <h2>Roles</h2>
      <ErrorNote error={roles.error} />
      <table>
        <caption className="sr-only">Roles</caption>
        <thead>
          <tr>
            <th scope="col">Role</th>
            <th scope="col">What it is for</th>
            <th scope="col">Permissions</th>
          </tr>
        </thead>
        <tbody>
          {allRoles.map((r) => (
            <tr key={r.name}>
              <td>
                {r.name}
                {r.builtin ? '' : ' (custom)'}
              </td>
              <td>{r.description}</td>
              <td>
                <code>{r.permissions.join(' ')}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="inline-form" onSubmit={submitted((values) => createRole.mutate(values))}>
        <Field label="Role name" name="name" required error={createRole.error} />
        <Field label="Description" name="description" error={createRole.error} />
        <Field
          label="Permissions (space-separated, e.g. audit:read projects:read)"
          name="permissions"
          required
          error={createRole.error}
        />
        <ErrorNote error={createRole.error} shown={['name', 'description', 'permissions']} />
        <button type="submit" disabled={createRole.isPending}>
          Create role
        </button>
      </form>
      <h2>API keys</h2>
      <ErrorNote error={keys.error ?? revoke.error ?? rotateKey.error} />
      {keys.data !== undefined &&
        (keys.data.items.length === 0 ? (
          <Empty>No API keys. Make one for CI or a script below.</Empty>
        ) : (
          <table>
            <caption className="sr-only">API keys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {keys.data.items.map((k) => (
                <tr key={k.id}>
                  <td>{k.name}</td>
                  <td>{k.role}</td>
                  <td>{when(k.lastUsedAt)}</td>
                  <td>
                    {k.revokedAt !== null ? (
                      `revoked ${when(k.revokedAt)}`
                    ) : (
                      <>
                        <ConfirmButton
                          label={`Rotate ${k.name}`}
                          confirm={`Rotate ${k.name}: the old key stops now`}
                          busy={rotateKey.isPending}
                          onConfirm={() => rotateKey.mutate(k.id)}
                        />{' '}
                        <ConfirmButton
                          label={`Revoke ${k.name}`}
                          confirm={`Revoke ${k.name}`}
                          busy={revoke.isPending}
                          onConfirm={() => revoke.mutate(k.id)}
                        />
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      <form className="inline-form" onSubmit={submitted((values) => createKey.mutate(values))}>
        <Field label="Key name" name="name" required error={createKey.error} />
        <RoleSelect roles={allRoles} name="role" label="Key role" />
        <ErrorNote error={createKey.error} shown={['name', 'role']} />
        <button type="submit" disabled={createKey.isPending}>
          Create API key
        </button>
      </form>
      {key !== undefined && (
        <p role="status">
          The key (shown once): <code>{key}</code>
        </p>
      )}
    </section>
  )
}
