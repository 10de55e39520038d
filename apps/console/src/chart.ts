// The pure side of the VM metrics chart: the ranges offered, the scale and the SVG path of a series.

export type RangeName = 'hour' | 'day' | 'week'

/** The ranges the details page offers, each with a step that keeps the chart at 60–170 buckets. */
export const ranges: Readonly<
  Record<RangeName, { readonly label: string; readonly ms: number; readonly step: string }>
> = {
  hour: { label: 'Last hour', ms: 3_600_000, step: '1m' },
  day: { label: 'Last day', ms: 86_400_000, step: '15m' },
  week: { label: 'Last week', ms: 7 * 86_400_000, step: '1h' },
}

/** The query of a range ending at `now`: from, to (a minute past now, so the latest sample is in), step. */
export function rangeQuery(name: RangeName, now: number): { from: string; to: string; step: string } {
  const range = ranges[name]
  const to = Math.ceil((now + 1) / 60_000) * 60_000
  return { from: new Date(to - range.ms).toISOString(), to: new Date(to).toISOString(), step: range.step }
}

/**
 * The top of the value axis: 100 for percentages; for other units the smallest 1, 2 or 5 × 10ⁿ at or
 * above the largest value (1 when there is none, so an empty or all-zero series still has a scale).
 */
export function axisMax(values: readonly number[], unit: 'percent' | 'bytes'): number {
  if (unit === 'percent') return 100
  const top = Math.max(0, ...values.filter((v) => Number.isFinite(v)))
  if (top <= 0) return 1
  const magnitude = 10 ** Math.floor(Math.log10(top))
  for (const m of [1, 2, 5, 10]) if (m * magnitude >= top) return m * magnitude
  return 10 * magnitude
}

export interface Box {
  readonly width: number
  readonly height: number
}

/** A point's place in the box: time from `from` to `to` left to right, value from 0 up to `max`. */
export function place(
  at: number,
  value: number,
  domain: { readonly from: number; readonly to: number; readonly max: number },
  box: Box,
): { x: number; y: number } {
  const span = Math.max(1, domain.to - domain.from)
  const clampedValue = Math.min(Math.max(value, 0), domain.max)
  const x = ((Math.min(Math.max(at, domain.from), domain.to) - domain.from) / span) * box.width
  const y = box.height - (clampedValue / domain.max) * box.height
  return { x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10 }
}

/** The SVG path of points (oldest first); a gap longer than two steps breaks the line. */
export function linePath(
  points: readonly { readonly at: number; readonly value: number }[],
  domain: { readonly from: number; readonly to: number; readonly max: number },
  box: Box,
  stepMs: number,
): string {
  let path = ''
  let previous: number | undefined
  for (const p of points) {
    const { x, y } = place(p.at, p.value, domain, box)
    const move = previous === undefined || p.at - previous > 2 * stepMs
    path += `${path === '' ? '' : ' '}${move ? 'M' : 'L'}${x} ${y}`
    previous = p.at
  }
  return path
}

/** A value for people: a percentage with one decimal, bytes in B, KB, MB, GB (powers of 1000). */
export function formatValue(value: number, unit: 'percent' | 'bytes'): string {
  if (unit === 'percent') return `${value.toFixed(1)} %`
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let v = value
  let i = 0
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000
    i++
  }
  return `${i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`
}

/** The summary a screen reader hears: latest, average and peak of the range. */
export function summarise(
  points: readonly { readonly avg: number; readonly max: number }[],
  unit: 'percent' | 'bytes',
): string {
  if (points.length === 0) return 'no samples in this range'
  const latest = points[points.length - 1] as { avg: number }
  const mean = points.reduce((s, p) => s + p.avg, 0) / points.length
  const peak = Math.max(...points.map((p) => p.max))
  return `latest ${formatValue(latest.avg, unit)}, average ${formatValue(mean, unit)}, peak ${formatValue(peak, unit)}`
}
