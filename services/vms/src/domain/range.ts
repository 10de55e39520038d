import { InputError, type Violation } from '@rxt/kit'

/** The ranges GET /v1/vms/:vmId/metrics answers: validated here, pure. */

/** The longest span one request reads. */
export const maxSpanDays = 31
/** The finest and coarsest buckets, in seconds. */
export const minStepSeconds = 60
export const maxStepSeconds = 86_400
/** The most buckets one answer has. */
export const maxBuckets = 1_500
/** The steps a request without one is given: the finest that keeps it at most `defaultBuckets`. */
const defaultSteps = [60, 300, 900, 3_600, 21_600, 86_400] as const
const defaultBuckets = 300

export interface MetricsRange {
  readonly from: Date
  readonly to: Date
  readonly stepSeconds: number
}

const units: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 }

/** `300`, `300s`, `5m`, `1h`, `1d` → seconds; undefined when it is none of these. */
export function parseStep(text: string): number | undefined {
  const match = /^([1-9][0-9]{0,6})([smhd]?)$/.exec(text)
  if (match === null) return undefined
  return Number(match[1]) * (units[match[2] || 's'] as number)
}

/**
 * The range of a metrics request, or an InputError naming every problem (from before to, a span over
 * maxSpanDays, a step out of bounds or giving too many buckets), each at its query parameter.
 */
export function parseRange(query: {
  from?: string | undefined
  to?: string | undefined
  step?: string | undefined
}): MetricsRange {
  const violations: Violation[] = []
  if (query.from === undefined || query.to === undefined) {
    for (const name of ['from', 'to'] as const)
      if (query[name] === undefined) violations.push({ path: `/querystring/${name}`, message: 'is required' })
    throw new InputError(
      'a metrics request names its range: from and to (RFC 3339), e.g. ?from=2026-01-01T10:00:00Z&to=2026-01-01T11:00:00Z',
      violations,
    )
  }
  const from = new Date(query.from)
  const to = new Date(query.to)
  if (Number.isNaN(from.getTime()))
    violations.push({ path: '/querystring/from', message: 'is not an RFC 3339 date-time' })
  if (Number.isNaN(to.getTime()))
    violations.push({ path: '/querystring/to', message: 'is not an RFC 3339 date-time' })
  if (violations.length > 0) throw new InputError('from and to must be RFC 3339 date-times', violations)
  const spanSeconds = (to.getTime() - from.getTime()) / 1000
  if (spanSeconds <= 0)
    throw new InputError(`from (${query.from}) must be before to (${query.to})`, [
      { path: '/querystring/to', message: 'must be after from' },
    ])
  if (spanSeconds > maxSpanDays * 86_400)
    throw new InputError(
      `the range spans ${Math.ceil(spanSeconds / 86_400)} days; one request reads at most ${maxSpanDays}: ask for several`,
      [{ path: '/querystring/from', message: `at most ${maxSpanDays} days before to` }],
    )
  let stepSeconds: number
  if (query.step === undefined) {
    stepSeconds =
      defaultSteps.find((step) => spanSeconds / step <= defaultBuckets) ?? (defaultSteps.at(-1) as number)
  } else {
    const parsed = parseStep(query.step)
    if (parsed === undefined)
      throw new InputError(
        `step ${JSON.stringify(query.step)} is not a duration: seconds, or 30s, 5m, 1h, 1d`,
        [{ path: '/querystring/step', message: 'seconds, or a number with s, m, h or d' }],
      )
    stepSeconds = parsed
  }
  if (stepSeconds < minStepSeconds || stepSeconds > maxStepSeconds)
    throw new InputError(
      `step is ${stepSeconds} s; it must be between ${minStepSeconds} s and ${maxStepSeconds} s (1d)`,
      [{ path: '/querystring/step', message: `between ${minStepSeconds} and ${maxStepSeconds} seconds` }],
    )
  const buckets = Math.ceil(spanSeconds / stepSeconds)
  if (buckets > maxBuckets)
    throw new InputError(
      `${buckets} buckets of ${stepSeconds} s over the range; at most ${maxBuckets}: a coarser step (at least ${Math.ceil(spanSeconds / maxBuckets)} s) or a shorter range`,
      [{ path: '/querystring/step', message: `gives more than ${maxBuckets} buckets` }],
    )
  return { from, to, stepSeconds }
}

/** The start of the bucket an instant falls in: buckets are aligned to multiples of the step since the epoch. */
export const bucketOf = (at: Date, stepSeconds: number): Date =>
  new Date(Math.floor(at.getTime() / (stepSeconds * 1000)) * stepSeconds * 1000)
