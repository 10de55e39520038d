import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link } from '@tanstack/react-router'
import { useId, useState } from 'react'
import { api } from '../api.ts'
import type { Alert, AlertRule, Items } from '../types.ts'
import { ConfirmButton, Empty, ErrorNote, Field, Loading, submitted, when } from '../ui.tsx'

const metricLabels: Record<string, string> = { cpu: 'CPU', memory: 'memory', disk: 'disk' }

/** What a rule watches, in words. */
export function describeRule(rule: AlertRule): string {
  const scope = rule.envId === null ? 'every VM' : `VMs of ${rule.envId}`
  if (rule.kind === 'powered-off') return `${scope}: powered off for a reason RXT Deploy did not cause`
  const seconds = rule.forSeconds ?? 0
  const duration = seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`
  return `${scope}: ${metricLabels[rule.metric ?? ''] ?? rule.metric} above ${rule.above} % for ${duration}`
}

function NewRule() {
  const queryClient = useQueryClient()
  const [kind, setKind] = useState<'threshold' | 'powered-off'>('threshold')
  const kindSelect = useId()
  const metricSelect = useId()
  const create = useMutation({
    mutationFn: (v: Record<string, string>) =>
      api<AlertRule>('POST', '/v1/monitoring/alert-rules', {
        name: v.name,
        kind,
        ...(kind === 'threshold'
          ? {
              metric: v.metric,
              above: v.above === '' ? undefined : Number(v.above),
              forSeconds: v.forMinutes === '' ? undefined : Math.round(Number(v.forMinutes) * 60),
            }
          : {}),
        ...(v.envId === '' || v.envId === undefined ? {} : { envId: v.envId }),
      }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['alert-rules'] }),
  })
  return (
    <form onSubmit={submitted((values) => create.mutate(values))} aria-labelledby="new-rule-h">
      <h3 id="new-rule-h">New rule</h3>
      <Field label="Rule name" name="name" required error={create.error} />
      <div className="field">
        <label htmlFor={kindSelect}>Kind</label>
        <select
          id={kindSelect}
          value={kind}
          onChange={(e) => setKind(e.target.value === 'powered-off' ? 'powered-off' : 'threshold')}
        >
          <option value="threshold">threshold: a metric above a level</option>
          <option value="powered-off">powered off: a stop RXT Deploy did not cause</option>
        </select>
      </div>
      {kind === 'threshold' && (
        <>
          <div className="field">
            <label htmlFor={metricSelect}>Metric</label>
            <select id={metricSelect} name="metric" defaultValue="cpu">
              <option value="cpu">CPU</option>
              <option value="memory">memory</option>
              <option value="disk">disk</option>
            </select>
          </div>
          <Field
            label="Above (%)"
            name="above"
            type="number"
            required
            hint="A percentage of the VM's capacity, 0–100"
            error={create.error}
          />
          <Field
            label="For (minutes)"
            name="forMinutes"
            type="number"
            required
            defaultValue="5"
            hint="1 minute to 1 day"
            error={create.error}
          />
        </>
      )}
      <Field
        label="Environment (optional)"
        name="envId"
        hint="Only this environment's VMs; empty: every VM"
        error={create.error}
      />
      <ErrorNote error={create.error} shown={['name', 'above', 'envId']} />
      {create.data !== undefined && !create.isPending && create.error === null && (
        <p role="status">Rule {create.data.name} created.</p>
      )}
      <button type="submit" disabled={create.isPending}>
        Create rule
      </button>
    </form>
  )
}

export function AlertsPage() {
  const queryClient = useQueryClient()
  const alerts = useQuery({
    queryKey: ['alerts'],
    queryFn: () => api<Items<Alert>>('GET', '/v1/monitoring/alerts'),
  })
  const rules = useQuery({
    queryKey: ['alert-rules'],
    queryFn: () => api<Items<AlertRule>>('GET', '/v1/monitoring/alert-rules'),
  })
  const remove = useMutation({
    mutationFn: (id: string) => api('DELETE', `/v1/monitoring/alert-rules/${encodeURIComponent(id)}`),
    onSuccess: () =>
      Promise.all([
        queryClient.invalidateQueries({ queryKey: ['alert-rules'] }),
        queryClient.invalidateQueries({ queryKey: ['alerts'] }),
      ]),
  })
  return (
    <section>
      <h1>Alerts</h1>
      <h2>Current alerts</h2>
      {alerts.isPending && <Loading what="alerts" />}
      <ErrorNote error={alerts.error} />
      {alerts.data !== undefined &&
        (alerts.data.items.length === 0 ? (
          <Empty>No alerts. Add a rule below; its alerts appear here when a VM meets it.</Empty>
        ) : (
          <table data-testid="alerts">
            <caption className="sr-only">Alerts, newest first</caption>
            <thead>
              <tr>
                <th scope="col">State</th>
                <th scope="col">Rule</th>
                <th scope="col">VM</th>
                <th scope="col">First seen</th>
                <th scope="col">Resolved at</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {alerts.data.items.map((a) => (
                <tr key={a.id}>
                  <td>
                    <span className={`status status-alert-${a.state}`}>{a.state}</span>
                  </td>
                  <td>{a.ruleName}</td>
                  <td>
                    <Link to="/vms/$vmId" params={{ vmId: a.vmId }}>
                      {a.vmId}
                    </Link>
                  </td>
                  <td>{when(a.firstSeen)}</td>
                  <td>{when(a.resolvedAt)}</td>
                  <td>
                    {a.detail}
                    {a.value !== null && ` (${a.value.toFixed(1)} %)`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      <h2>Alert rules</h2>
      {rules.isPending && <Loading what="alert rules" />}
      <ErrorNote error={rules.error ?? remove.error} />
      {rules.data !== undefined &&
        (rules.data.items.length === 0 ? (
          <Empty>No rules yet. Create one: a threshold on CPU, memory or disk, or VMs powered off.</Empty>
        ) : (
          <table data-testid="alert-rules">
            <caption className="sr-only">Alert rules</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Watches</th>
                <th scope="col">Created</th>
                <th scope="col">Delete</th>
              </tr>
            </thead>
            <tbody>
              {rules.data.items.map((r) => (
                <tr key={r.id}>
                  <td>{r.name}</td>
                  <td>{r.kind}</td>
                  <td>{describeRule(r)}</td>
                  <td>{when(r.createdAt)}</td>
                  <td>
                    <ConfirmButton
                      label={`Delete ${r.name}`}
                      confirm={`Delete ${r.name} and its alerts`}
                      busy={remove.isPending}
                      onConfirm={() => remove.mutate(r.id)}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      <NewRule />
    </section>
  )
}
