import { useInfiniteQuery } from '@tanstack/react-query'
import { useState } from 'react'
import { api, query } from '../api.ts'
import type { Items } from '../types.ts'
import { Empty, ErrorNote, Field, Loading, submitted, when } from '../ui.tsx'

interface AuditRecord {
  readonly sequence: number
  readonly recordedAt: string
  readonly source: string
  readonly actor: string
  readonly action: string
  readonly object: string
  readonly outcome: string
}

export function AuditPage() {
  const [filters, setFilters] = useState<Record<string, string>>({})
  const records = useInfiniteQuery({
    queryKey: ['audit', filters],
    initialPageParam: '',
    queryFn: ({ pageParam }) =>
      api<Items<AuditRecord>>(
        'GET',
        `/v1/audit${query({
          actor: filters.actor,
          action: filters.action,
          object: filters.object,
          from:
            filters.from === undefined || filters.from === ''
              ? undefined
              : new Date(filters.from).toISOString(),
          to: filters.to === undefined || filters.to === '' ? undefined : new Date(filters.to).toISOString(),
          cursor: pageParam,
          limit: 50,
        })}`,
      ),
    getNextPageParam: (last) => last.next ?? undefined,
  })
  const items = records.data?.pages.flatMap((p) => p.items) ?? []
  return (
    <section>
      <h1>Audit log</h1>
      <form className="inline-form" onSubmit={submitted((values) => setFilters(values))}>
        <Field label="Actor" name="actor" placeholder="user:…" error={records.error} />
        <Field label="Action" name="action" placeholder="deployment.create" error={records.error} />
        <Field label="Object" name="object" error={records.error} />
        <Field label="From" name="from" type="datetime-local" error={records.error} />
        <Field label="To" name="to" type="datetime-local" error={records.error} />
        <button type="submit">Filter</button>
      </form>
      {records.isPending && <Loading what="the audit log" />}
      <ErrorNote error={records.error} shown={['actor', 'action', 'object', 'from', 'to']} />
      {records.data !== undefined &&
        (items.length === 0 ? (
          <Empty>No records match. Clear the filters, or act (create a project, deploy) and come back.</Empty>
        ) : (
          <table>
            <caption className="sr-only">Audit records</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Object</th>
                <th scope="col">Outcome</th>
              </tr>
            </thead>
            <tbody>
              {items.map((r) => (
                <tr key={r.sequence}>
                  <td>{r.sequence}</td>
                  <td>{when(r.recordedAt)}</td>
                  <td>{r.actor}</td>
                  <td>
                    <code>{r.action}</code>
                  </td>
                  <td>{r.object}</td>
                  <td>{r.outcome}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      {records.hasNextPage && (
        <button
          type="button"
          onClick={() => void records.fetchNextPage()}
          disabled={records.isFetchingNextPage}
        >
          Older records
        </button>
      )}
    </section>
  )
}
