import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useParams } from '@tanstack/react-router'
import { useId, useState } from 'react'
import { api, query } from '../api.ts'
import { axisMax, formatValue, linePath, type RangeName, rangeQuery, ranges, summarise } from '../chart.ts'
import type { Items, MetricSeries, Migration, Vm, VmHistoryItem, VmMetrics } from '../types.ts'
import { ConfirmButton, Empty, ErrorNote, Field, Loading, submitted, when } from '../ui.tsx'

const powerLabels: Record<Vm['powerState'], string> = {
  on: 'powered on',
  off: 'powered off',
  unknown: 'unknown',
}

/** The power state in words (the colour only repeats them). */
export function PowerState({ state }: { state: Vm['powerState'] }) {
  return <span className={`status status-power-${state}`}>{powerLabels[state]}</span>
}

export function VmsPage() {
  const [filters, setFilters] = useState<Record<string, string>>({})
  const stateSelect = useId()
  const vms = useInfiniteQuery({
    queryKey: ['vms', filters],
    initialPageParam: '',
    queryFn: ({ pageParam }) =>
      api<Items<Vm>>(
        'GET',
        `/v1/vms${query({
          envId: filters.envId,
          powerState: filters.powerState,
          host: filters.host,
          cursor: pageParam,
          limit: 50,
        })}`,
      ),
    getNextPageParam: (last) => last.next ?? undefined,
  })
  const items = vms.data?.pages.flatMap((p) => p.items) ?? []
  return (
    <section>
      <h1>VMs</h1>
      <form className="inline-form" onSubmit={submitted((values) => setFilters(values))}>
        <Field label="Environment" name="envId" placeholder="env id" error={vms.error} />
        <div className="field">
          <label htmlFor={stateSelect}>Power state</label>
          <select id={stateSelect} name="powerState" defaultValue="">
            <option value="">any</option>
            <option value="on">powered on</option>
            <option value="off">powered off</option>
            <option value="unknown">unknown</option>
          </select>
        </div>
        <Field label="Host" name="host" placeholder="host-17" error={vms.error} />
        <button type="submit">Filter</button>
      </form>
      {vms.isPending && <Loading what="VMs" />}
      <ErrorNote error={vms.error} shown={['envId', 'host']} />
      {vms.data !== undefined &&
        (items.length === 0 ? (
          <Empty>
            No VMs match. Clear the filters; VMs appear here once an SDDC Flex deployment creates them.
          </Empty>
        ) : (
          <table data-testid="vms">
            <caption className="sr-only">VMs</caption>
            <thead>
              <tr>
                <th scope="col">VM</th>
                <th scope="col">Power state</th>
                <th scope="col">Host</th>
                <th scope="col">Environment</th>
                <th scope="col">Spec</th>
                <th scope="col">Last event</th>
              </tr>
            </thead>
            <tbody>
              {items.map((vm) => (
                <tr key={vm.vmId}>
                  <td>
                    <Link to="/vms/$vmId" params={{ vmId: vm.vmId }}>
                      {vm.name === null ? vm.vmId : `${vm.name} (${vm.vmId})`}
                    </Link>
                  </td>
                  <td>
                    <PowerState state={vm.powerState} />
                  </td>
                  <td>{vm.host ?? '—'}</td>
                  <td>{vm.envId ?? '—'}</td>
                  <td>{vm.spec === null ? '—' : `${vm.spec.cpu} vCPU, ${vm.spec.memoryMiB} MiB`}</td>
                  <td>{when(vm.lastEventAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      {vms.hasNextPage && (
        <button type="button" onClick={() => void vms.fetchNextPage()} disabled={vms.isFetchingNextPage}>
          More VMs
        </button>
      )}
    </section>
  )
}

/** The charts drawn: the percentages one each, network in and out together. */
const charts: readonly { title: string; series: readonly string[]; unit: 'percent' | 'bytes' }[] = [
  { title: 'CPU', series: ['cpu'], unit: 'percent' },
  { title: 'Memory', series: ['memory'], unit: 'percent' },
  { title: 'Disk', series: ['disk'], unit: 'percent' },
  { title: 'Network', series: ['networkRxBytes', 'networkTxBytes'], unit: 'bytes' },
]
const seriesLabels: Record<string, string> = {
  cpu: 'CPU',
  memory: 'memory',
  disk: 'disk',
  networkRxBytes: 'received',
  networkTxBytes: 'sent',
}
const box = { width: 600, height: 120 }

/** One chart: inline SVG (its title and summary read out), and a table of the buckets for screen readers. */
function Chart({
  title,
  series,
  unit,
  range,
  from,
  to,
  stepSeconds,
}: {
  title: string
  range: RangeName
  series: readonly MetricSeries[]
  unit: 'percent' | 'bytes'
  from: number
  to: number
  stepSeconds: number
}) {
  const id = useId()
  const max = axisMax(
    series.flatMap((s) => s.points.map((p) => p.avg)),
    unit,
  )
  const domain = { from, to, max }
  const summary = series
    .map((s) => `${seriesLabels[s.name] ?? s.name}: ${summarise(s.points, unit)}`)
    .join('; ')
  const buckets = [...new Set(series.flatMap((s) => s.points.map((p) => p.at)))].sort()
  return (
    <figure className="chart" data-testid={`chart-${title.toLowerCase()}`}>
      <figcaption>
        <strong>{title}</strong> <span aria-hidden="true">{summary}</span>
      </figcaption>
      <svg
        viewBox={`-40 -10 ${box.width + 50} ${box.height + 30}`}
        role="img"
        aria-labelledby={`${id}-svg`}
        className="chart-svg"
      >
        <title id={`${id}-svg`}>{`${title}, ${ranges[range].label.toLowerCase()}: ${summary}`}</title>
        <line x1={0} y1={box.height} x2={box.width} y2={box.height} className="chart-axis" />
        <line x1={0} y1={0} x2={0} y2={box.height} className="chart-axis" />
        <text x={-4} y={4} textAnchor="end" className="chart-label">
          {formatValue(max, unit)}
        </text>
        <text x={-4} y={box.height} textAnchor="end" className="chart-label">
          0
        </text>
        <text x={0} y={box.height + 16} className="chart-label">
          {new Date(from).toLocaleString()}
        </text>
        <text x={box.width} y={box.height + 16} textAnchor="end" className="chart-label">
          {new Date(to).toLocaleString()}
        </text>
        {series.map((s, i) => (
          <path
            key={s.name}
            className={`chart-line chart-line-${i}`}
            d={linePath(
              s.points.map((p) => ({ at: Date.parse(p.at), value: p.avg })),
              domain,
              box,
              stepSeconds * 1000,
            )}
          />
        ))}
      </svg>
      {series.length > 1 && (
        <p className="chart-legend" aria-hidden="true">
          {series.map((s, i) => (
            <span key={s.name} className={`chart-key chart-key-${i}`}>
              {i === 0 ? 'solid' : 'dashed'}: {seriesLabels[s.name] ?? s.name}
            </span>
          ))}
        </p>
      )}
      {buckets.length > 0 && (
        <details>
          <summary>{title} as a table</summary>
          <table>
            <caption className="sr-only">{title} per bucket (average and maximum)</caption>
            <thead>
              <tr>
                <th scope="col">From</th>
                {series.map((s) => (
                  <th key={s.name} scope="col">
                    {seriesLabels[s.name] ?? s.name} avg / max
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {buckets.map((at) => (
                <tr key={at}>
                  <td>{when(at)}</td>
                  {series.map((s) => {
                    const p = s.points.find((q) => q.at === at)
                    return (
                      <td key={s.name}>
                        {p === undefined ? '—' : `${formatValue(p.avg, unit)} / ${formatValue(p.max, unit)}`}
                      </td>
                    )
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </figure>
  )
}

function Metrics({ vmId }: { vmId: string }) {
  const [range, setRange] = useState<RangeName>('hour')
  // The range is fixed when chosen (a new choice, or a refetch, asks again up to now).
  const [now, setNow] = useState(() => Date.now())
  const q = rangeQuery(range, now)
  const metrics = useQuery({
    queryKey: ['vm-metrics', vmId, q],
    queryFn: () => api<VmMetrics>('GET', `/v1/vms/${encodeURIComponent(vmId)}/metrics${query(q)}`),
  })
  const name = useId()
  return (
    <section aria-labelledby={`${name}-h`}>
      <h2 id={`${name}-h`}>Metrics</h2>
      <fieldset className="inline-form">
        <legend>Range</legend>
        {(Object.keys(ranges) as RangeName[]).map((r) => (
          <label key={r}>
            <input
              type="radio"
              name={name}
              value={r}
              checked={range === r}
              onChange={() => {
                setRange(r)
                setNow(Date.now())
              }}
            />{' '}
            {ranges[r].label}
          </label>
        ))}
        <button type="button" onClick={() => setNow(Date.now())}>
          Refresh
        </button>
      </fieldset>
      {metrics.isPending && <Loading what="metrics" />}
      <ErrorNote error={metrics.error} />
      {metrics.data !== undefined &&
        (metrics.data.series.every((s) => s.points.length === 0) ? (
          <Empty>No samples in this range. Samples arrive each minute while the VM is powered on.</Empty>
        ) : (
          <div className="charts">
            {charts.map((c) => (
              <Chart
                key={c.title}
                title={c.title}
                range={range}
                unit={c.unit}
                series={c.series.flatMap((n) => metrics.data.series.filter((s) => s.name === n))}
                from={Date.parse(q.from)}
                to={Date.parse(q.to)}
                stepSeconds={metrics.data.stepSeconds}
              />
            ))}
          </div>
        ))}
    </section>
  )
}

function MigrationState({ vmId, migration }: { vmId: string; migration: Migration }) {
  const state = useQuery({
    queryKey: ['vm-migration', vmId, migration.id],
    queryFn: () => api<Migration>('GET', `/v1/vms/${encodeURIComponent(vmId)}/migrations/${migration.id}`),
    initialData: migration,
    // Asked again every 2 s until it settles.
    refetchInterval: (q) => (q.state.data?.status === 'requested' ? 2000 : false),
  })
  const m = state.data
  return (
    <p role="status" data-testid="migration">
      Migration to <code>{m.toHost}</code>:{' '}
      <span className={`status status-migration-${m.status}`}>{m.status}</span>
      {m.finishedAt !== null && ` at ${when(m.finishedAt)}`}
      {m.reason !== null && ` — ${m.reason}${m.retryable === true ? ' (asking again may succeed)' : ''}`}
    </p>
  )
}

function Migrate({ vm }: { vm: Vm }) {
  const queryClient = useQueryClient()
  const [toHost, setToHost] = useState<string>()
  const migrate = useMutation({
    mutationFn: (host: string) =>
      api<Migration>('POST', `/v1/vms/${encodeURIComponent(vm.vmId)}/migrate`, { toHost: host }),
    onSuccess: () => {
      setToHost(undefined)
      void queryClient.invalidateQueries({ queryKey: ['vm', vm.vmId] })
    },
  })
  return (
    <section aria-labelledby="migrate-h">
      <h2 id="migrate-h">Migrate</h2>
      <form
        className="inline-form"
        onSubmit={submitted((values) => {
          migrate.reset()
          setToHost(values.toHost?.trim() || undefined)
        })}
      >
        <Field label="Target host" name="toHost" required placeholder="host-21" error={migrate.error} />
        <button type="submit">Migrate…</button>
      </form>
      {toHost !== undefined && (
        <p>
          Move {vm.vmId} from {vm.host ?? 'its host'} to <code>{toHost}</code>?{' '}
          <ConfirmButton
            label={`Migrate to ${toHost}`}
            confirm={`Migrate ${vm.vmId} now`}
            busy={migrate.isPending}
            onConfirm={() => migrate.mutate(toHost)}
          />
        </p>
      )}
      <ErrorNote error={migrate.error} shown={['toHost']} />
      {migrate.data !== undefined && <MigrationState vmId={vm.vmId} migration={migrate.data} />}
    </section>
  )
}

export function VmPage() {
  const { vmId } = useParams({ strict: false }) as { vmId: string }
  const vm = useQuery({
    queryKey: ['vm', vmId],
    queryFn: () => api<Vm>('GET', `/v1/vms/${encodeURIComponent(vmId)}`),
  })
  const history = useQuery({
    queryKey: ['vm', vmId, 'history'],
    queryFn: () => api<Items<VmHistoryItem>>('GET', `/v1/vms/${encodeURIComponent(vmId)}/history`),
  })
  const v = vm.data
  return (
    <section>
      <p className="crumbs">
        <Link to="/vms">VMs</Link> / {vmId}
      </p>
      <h1>VM {v?.name ?? vmId}</h1>
      {vm.isPending && <Loading what="the VM" />}
      <ErrorNote error={vm.error} />
      {v !== undefined && (
        <>
          <dl className="facts" data-testid="vm-facts">
            <dt>Power state</dt>
            <dd>
              <PowerState state={v.powerState} />
              {v.powerState === 'off' && v.stopReason !== null && ` (${v.stopReason})`}
            </dd>
            <dt>Host</dt>
            <dd>{v.host ?? '—'}</dd>
            <dt>Spec</dt>
            <dd>
              {v.spec === null
                ? 'not known yet'
                : `${v.spec.cpu} vCPU, ${v.spec.memoryMiB} MiB memory, ${v.spec.diskGiB} GiB disk, ${v.spec.guestOs}`}
            </dd>
            <dt>IP addresses</dt>
            <dd>{v.ipAddresses.length === 0 ? '—' : v.ipAddresses.join(', ')}</dd>
            <dt>Environment</dt>
            <dd>{v.envId ?? 'none'}</dd>
            <dt>Deployment</dt>
            <dd>
              {v.deploymentId === null ? (
                '—'
              ) : (
                <Link to="/deployments/$deploymentId" params={{ deploymentId: v.deploymentId }}>
                  {v.deploymentId}
                </Link>
              )}
            </dd>
            <dt>Tags</dt>
            <dd>{v.tags.length === 0 ? '—' : v.tags.join(', ')}</dd>
            <dt>Created</dt>
            <dd>{when(v.createdAt)}</dd>
            <dt>Started</dt>
            <dd>{when(v.startedAt)}</dd>
            <dt>Stopped</dt>
            <dd>{when(v.stoppedAt)}</dd>
            <dt>Last migration</dt>
            <dd>
              {v.lastMigration === null
                ? '—'
                : `${v.lastMigration.fromHost} → ${v.lastMigration.toHost}, ${when(v.lastMigration.completedAt)}`}
            </dd>
          </dl>
          <Metrics vmId={vmId} />
          <Migrate vm={v} />
        </>
      )}
      <h2>History</h2>
      {history.isPending && <Loading what="the history" />}
      <ErrorNote error={history.error} />
      {history.data !== undefined &&
        (history.data.items.length === 0 ? (
          <Empty>No lifecycle events for this VM yet.</Empty>
        ) : (
          <table data-testid="vm-history">
            <caption className="sr-only">Lifecycle events, in the order they happened</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">What it said</th>
              </tr>
            </thead>
            <tbody>
              {history.data.items.map((h) => (
                <tr key={h.messageId}>
                  <td>{when(h.occurredAt)}</td>
                  <td>
                    <code>{h.type}</code>
                  </td>
                  <td>{describeEvent(h)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </section>
  )
}

/** A lifecycle event in a few words: the fields people look for. */
function describeEvent(h: VmHistoryItem): string {
  const d = h.data
  const s = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : undefined)
  switch (h.type) {
    case 'evt.vm.created':
      return `placed on ${s('nodeId') ?? '?'}`
    case 'evt.vm.started':
      return `powered on${s('nodeId') === undefined ? '' : ` on ${s('nodeId')}`}`
    case 'evt.vm.stopped':
      return `powered off${s('reason') === undefined ? '' : `: ${s('reason')}`}`
    case 'evt.vm.migrated':
      return `moved from ${s('fromNode') ?? '?'} to ${s('toNode') ?? '?'}`
    case 'evt.sddc.vm.created':
      return `named ${s('name') ?? '?'}${s('deploymentId') === undefined ? '' : ` by deployment ${s('deploymentId')}`}`
    default:
      return ''
  }
}
