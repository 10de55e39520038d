import { PowerState, type VmState } from './projection.ts'

/**
 * Alert evaluation: pure. A rule of an organisation is weighed for one VM against what is known of it
 * (its latest samples, its projected state), and says whether its alert should now fire, resolve, or
 * stay as it is. Run when a sample or a lifecycle event of the VM arrives.
 */

export const AlertMetric = { cpu: 'cpu', memory: 'memory', disk: 'disk' } as const
export type AlertMetric = (typeof AlertMetric)[keyof typeof AlertMetric]
export const alertMetrics: readonly AlertMetric[] = Object.values(AlertMetric)

export const RuleKind = { threshold: 'threshold', poweredOff: 'powered-off' } as const
export type RuleKind = (typeof RuleKind)[keyof typeof RuleKind]

export type AlertRule =
  | {
      readonly kind: typeof RuleKind.threshold
      readonly metric: AlertMetric
      /** Fires when the metric (a percentage) stays above this… */
      readonly above: number
      /** …for this many seconds of samples. */
      readonly forSeconds: number
    }
  | { readonly kind: typeof RuleKind.poweredOff }

/** One sample's value of one metric. */
export interface MetricPoint {
  readonly windowStart: Date
  readonly windowEnd: Date
  readonly value: number
}

export type Transition =
  | { readonly action: 'fire'; readonly at: Date; readonly value: number | null; readonly detail: string }
  | { readonly action: 'resolve'; readonly at: Date }
  | { readonly action: 'none' }

const none: Transition = { action: 'none' }

/**
 * Stop reasons RXT Deploy causes itself (a scale-down, a destroy, a rollback): a VM stopped for one of
 * these is not "powered off unexpectedly". Compared lower-case with spaces collapsed; a reason that
 * starts with one of them and goes on after a colon (`destroyed: environment removed`) is one too.
 */
export const expectedStopReasons: readonly string[] = [
  'scaled down',
  'destroyed',
  'deleted',
  'undeployed',
  'rolled back',
  'migrated',
]

export function isExpectedStop(reason: string): boolean {
  const text = reason.trim().toLowerCase().replace(/\s+/g, ' ')
  return expectedStopReasons.some((expected) => text === expected || text.startsWith(`${expected}:`))
}

/**
 * A threshold rule over one VM's points of its metric (any order): breached when the points whose
 * window ends within `forSeconds` of the latest one's end all exceed `above`, and they reach back over
 * the whole duration (the earliest starts no later than `forSeconds` before the latest ends). It
 * resolves as soon as the latest point is at or below the level.
 */
export function evaluateThreshold(
  rule: Extract<AlertRule, { kind: 'threshold' }>,
  points: readonly MetricPoint[],
  firing: boolean,
): Transition {
  if (points.length === 0) return none
  const ordered = [...points].sort((a, b) => a.windowEnd.getTime() - b.windowEnd.getTime())
  const latest = ordered[ordered.length - 1] as MetricPoint
  const end = latest.windowEnd.getTime()
  const since = end - rule.forSeconds * 1000
  if (firing) return latest.value <= rule.above ? { action: 'resolve', at: latest.windowEnd } : none
  const recent = ordered.filter((p) => p.windowEnd.getTime() > since)
  const covered = recent.some((p) => p.windowStart.getTime() <= since)
  if (!covered || !recent.every((p) => p.value > rule.above)) return none
  return {
    action: 'fire',
    at: latest.windowEnd,
    value: latest.value,
    detail: `${rule.metric} above ${rule.above}% for ${rule.forSeconds} s (now ${round(latest.value)}%)`,
  }
}

/**
 * The powered-off rule over a VM's projected state (so a late or replayed event cannot flip it the
 * wrong way): firing while the VM is off for a reason RXT Deploy did not cause, from when it stopped;
 * resolved once it is on again (or its stop turns out to be one RXT Deploy caused).
 */
export function evaluatePoweredOff(state: VmState, firing: boolean): Transition {
  const unexpected =
    state.powerState === PowerState.off &&
    state.stopReason !== null &&
    state.stoppedAt !== null &&
    !isExpectedStop(state.stopReason)
  if (unexpected && !firing)
    return {
      action: 'fire',
      at: state.stoppedAt as Date,
      value: null,
      detail: `powered off unexpectedly: ${state.stopReason}`,
    }
  if (!unexpected && firing)
    return {
      action: 'resolve',
      at: state.powerState === PowerState.on ? (state.startedAt ?? state.lastEventAt) : state.lastEventAt,
    }
  return none
}

const round = (value: number) => Math.round(value * 10) / 10
