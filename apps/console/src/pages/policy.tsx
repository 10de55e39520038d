import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useId, useState } from 'react'
import { api, query } from '../api.ts'
import type { Items } from '../types.ts'
import { Empty, ErrorNote, Field, Loading, submitted, when } from '../ui.tsx'

interface Violation {
  readonly policy: string
  readonly rule: string
  readonly severity: string
  readonly message: string
}
interface Decision {
  readonly decisionId: string
  readonly subject: string | null
  readonly action: string
  readonly entity: string | null
  readonly allow: boolean
  readonly violations: readonly Violation[]
  readonly warnings: readonly Violation[]
  readonly decidedAt: string
}
interface Override {
  readonly id: string
  readonly deploymentId: string
  readonly policies: readonly string[]
  readonly reason: string
  readonly ttlMinutes: number
  readonly status: string
  readonly requestedBy: string
  readonly decidedBy: string | null
  readonly expiresAt: string | null
  readonly createdAt: string
}

export function PolicyPage() {
  const queryClient = useQueryClient()
  const allowId = useId()
  const [allow, setAllow] = useState('')
  const pages = useInfiniteQuery({
    queryKey: ['decisions', allow],
    initialPageParam: '',
    queryFn: ({ pageParam }) =>
      api<Items<Decision>>('GET', `/v1/policy/decisions${query({ allow, limit: 50, cursor: pageParam })}`),
    getNextPageParam: (last) => last.next ?? undefined,
  })
  // Every page fetched so far, as one list.
  const decisions = {
    ...pages,
    data: pages.data === undefined ? undefined : { items: pages.data.pages.flatMap((p) => p.items) },
  }
  const overrides = useQuery({
    queryKey: ['overrides'],
    queryFn: () => api<Items<Override>>('GET', '/v1/policy/overrides'),
  })
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['overrides'] })
  const request = useMutation({
    mutationFn: (v: Record<string, string>) =>
      api<Override>('POST', '/v1/policy/overrides', {
        deploymentId: v.deploymentId,
        policies: (v.policies ?? '')
          .split(',')
          .map((p) => p.trim())
          .filter((p) => p !== ''),
        reason: v.reason,
        ttlMinutes: Number(v.ttlMinutes),
      }),
    onSuccess: refresh,
  })
  const decide = useMutation({
    mutationFn: ({ id, verdict }: { id: string; verdict: 'approve' | 'reject' }) =>
      api<Override>('POST', `/v1/policy/overrides/${id}/${verdict}`, {}),
    onSuccess: refresh,
  })
  return (
    <section>
      <h1>Policy</h1>
      <h2>Decisions</h2>
      <div className="field">
        <label htmlFor={allowId}>Show</label>
        <select id={allowId} value={allow} onChange={(e) => setAllow(e.target.value)}>
          <option value="">all decisions</option>
          <option value="false">denials only</option>
          <option value="true">allowed only</option>
        </select>
      </div>
      {decisions.isPending && <Loading what="decisions" />}
      <ErrorNote error={decisions.error} />
      {decisions.data !== undefined &&
        (decisions.data.items.length === 0 ? (
          <Empty>No policy decisions yet: each deployment is evaluated before it runs.</Empty>
        ) : (
          <table>
            <caption className="sr-only">Policy decisions</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">Outcome</th>
                <th scope="col">Violations and warnings</th>
              </tr>
            </thead>
            <tbody>
              {decisions.data.items.map((d) => (
                <tr key={d.decisionId}>
                  <td>{when(d.decidedAt)}</td>
                  <td>
                    {d.action} {d.entity === null ? '' : <code>{d.entity}</code>}
                  </td>
                  <td>{d.allow ? 'allowed' : 'denied'}</td>
                  <td>
                    <ul className="plain">
                      {[...d.violations, ...d.warnings].map((v) => (
                        <li key={`${v.policy}/${v.rule}/${v.message}`}>
                          <strong>{v.severity}</strong> {v.policy}.{v.rule}: {v.message}
                        </li>
                      ))}
                    </ul>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      {pages.hasNextPage && (
        <button type="button" onClick={() => void pages.fetchNextPage()} disabled={pages.isFetchingNextPage}>
          Older decisions
        </button>
      )}
      <h2>Break-glass requests</h2>
      <ErrorNote error={overrides.error ?? decide.error} />
      {overrides.data !== undefined &&
        (overrides.data.items.length === 0 ? (
          <Empty>
            No break-glass requests. Ask for one below when a denied deployment must go out anyway.
          </Empty>
        ) : (
          <table>
            <caption className="sr-only">Break-glass requests</caption>
            <thead>
              <tr>
                <th scope="col">Deployment</th>
                <th scope="col">Policies</th>
                <th scope="col">Reason</th>
                <th scope="col">Status</th>
                <th scope="col">Decide</th>
              </tr>
            </thead>
            <tbody>
              {overrides.data.items.map((o) => (
                <tr key={o.id}>
                  <td>
                    <code>{o.deploymentId.slice(0, 8)}</code>
                  </td>
                  <td>{o.policies.join(', ')}</td>
                  <td>
                    {o.reason} (by {o.requestedBy}, {o.ttlMinutes} min)
                  </td>
                  <td>
                    {o.status}
                    {o.decidedBy === null ? '' : ` by ${o.decidedBy}`}
                  </td>
                  <td>
                    {o.status === 'requested' && (
                      <>
                        <button type="button" onClick={() => decide.mutate({ id: o.id, verdict: 'approve' })}>
                          Approve
                        </button>{' '}
                        <button type="button" onClick={() => decide.mutate({ id: o.id, verdict: 'reject' })}>
                          Reject
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      <h3>Request a break-glass override</h3>
      <form onSubmit={submitted((values) => request.mutate(values))}>
        <Field label="Deployment id" name="deploymentId" required error={request.error} />
        <Field
          label="Policies to waive"
          name="policies"
          required
          hint="Comma-separated policy names"
          error={request.error}
        />
        <Field label="Reason" name="reason" required error={request.error} />
        <Field
          label="Minutes it lasts"
          name="ttlMinutes"
          type="number"
          defaultValue="60"
          required
          error={request.error}
        />
        <ErrorNote error={request.error} shown={['deploymentId', 'policies', 'reason', 'ttlMinutes']} />
        <button type="submit" disabled={request.isPending}>
          Request approval
        </button>
      </form>
    </section>
  )
}
