import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api } from '../api.ts'
import type { Items } from '../types.ts'
import { Empty, ErrorNote, Loading, when } from '../ui.tsx'

interface Provider {
  readonly name: string
  readonly displayName: string
  readonly compute: string
  readonly simulated: boolean
  readonly enabled: boolean
  readonly note: string | null
  readonly health: { readonly healthy: boolean; readonly checkedAt: string | null; readonly message: string }
}
interface DeadLetter {
  readonly id: string
  readonly consumer: string
  readonly type: string
  readonly error: string
  readonly deliveries: number
  readonly deadAt: string
}
interface Consumer {
  readonly consumer: string
  readonly context: string
  readonly types: readonly string[]
  readonly lag: number
}

export function OperatorPage() {
  const queryClient = useQueryClient()
  const providers = useQuery({
    queryKey: ['providers'],
    queryFn: () => api<Items<Provider>>('GET', '/v1/providers'),
  })
  const letters = useQuery({
    queryKey: ['dead-letters'],
    queryFn: () => api<Items<DeadLetter>>('GET', '/v1/admin/dead-letters'),
  })
  const consumers = useQuery({
    queryKey: ['consumers'],
    queryFn: () => api<Items<Consumer>>('GET', '/v1/admin/consumers'),
  })
  const toggle = useMutation({
    mutationFn: (p: Provider) => api('PATCH', `/v1/providers/${p.name}`, { enabled: !p.enabled }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['providers'] }),
  })
  const settle = useMutation({
    mutationFn: ({ id, how }: { id: string; how: 'replay' | 'discard' }) =>
      api('POST', `/v1/admin/dead-letters/${id}/${how}`, {}),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['dead-letters'] }),
  })
  return (
    <section>
      <h1>Operator</h1>
      <h2>Providers</h2>
      {providers.isPending && <Loading what="providers" />}
      <ErrorNote error={providers.error ?? toggle.error} />
      {providers.data !== undefined && (
        <table>
          <caption className="sr-only">Providers</caption>
          <thead>
            <tr>
              <th scope="col">Provider</th>
              <th scope="col">Compute</th>
              <th scope="col">Health</th>
              <th scope="col">Enabled</th>
            </tr>
          </thead>
          <tbody>
            {providers.data.items.map((p) => (
              <tr key={p.name}>
                <td>
                  {p.displayName} <code>{p.name}</code>
                  {p.simulated ? ' (simulated)' : ''}
                </td>
                <td>{p.compute}</td>
                <td>
                  {p.health.healthy ? 'healthy' : 'unhealthy'}: {p.health.message}
                </td>
                <td>
                  <button
                    type="button"
                    aria-pressed={p.enabled}
                    onClick={() => toggle.mutate(p)}
                    disabled={toggle.isPending}
                  >
                    {p.enabled ? `Disable ${p.name}` : `Enable ${p.name}`}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Dead letters</h2>
      <ErrorNote error={letters.error ?? settle.error} />
      {letters.data !== undefined &&
        (letters.data.items.length === 0 ? (
          <Empty>No dead letters: every consumer settled what it was sent.</Empty>
        ) : (
          <table>
            <caption className="sr-only">Dead letters</caption>
            <thead>
              <tr>
                <th scope="col">Consumer</th>
                <th scope="col">Message</th>
                <th scope="col">Error</th>
                <th scope="col">Died</th>
                <th scope="col">Settle</th>
              </tr>
            </thead>
            <tbody>
              {letters.data.items.map((l) => (
                <tr key={l.id}>
                  <td>{l.consumer}</td>
                  <td>{l.type}</td>
                  <td>
                    {l.error} (after {l.deliveries} deliveries)
                  </td>
                  <td>{when(l.deadAt)}</td>
                  <td>
                    <button type="button" onClick={() => settle.mutate({ id: l.id, how: 'replay' })}>
                      Replay
                    </button>{' '}
                    <button type="button" onClick={() => settle.mutate({ id: l.id, how: 'discard' })}>
                      Discard
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      <h2>Consumers</h2>
      <ErrorNote error={consumers.error} />
      {consumers.data !== undefined && (
        <table>
          <caption className="sr-only">Consumers</caption>
          <thead>
            <tr>
              <th scope="col">Consumer</th>
              <th scope="col">Context</th>
              <th scope="col">Lag</th>
              <th scope="col">Types</th>
            </tr>
          </thead>
          <tbody>
            {consumers.data.items.map((c) => (
              <tr key={c.consumer}>
                <td>{c.consumer}</td>
                <td>{c.context}</td>
                <td>{c.lag}</td>
                <td>{c.types.join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}
