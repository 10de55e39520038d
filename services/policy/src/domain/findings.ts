/** One violation as the decision entrypoint reports it: the policy's package, its rule and severity. */
export interface Finding {
  readonly policy: string
  readonly rule: string
  readonly severity: 'low' | 'medium' | 'high' | 'critical'
  readonly message: string
}

/** What a bundle decided for one input. */
export interface Verdict {
  readonly allow: boolean
  /** What refuses. */
  readonly violations: readonly Finding[]
  /** What is worth saying and does not refuse (a workload without limits runs with the defaults). */
  readonly warnings: readonly Finding[]
}

const severities = new Set(['low', 'medium', 'high', 'critical'])
const policyName = /^[a-z0-9_]+(\.[a-z0-9_]+)*$/
const ruleName = /^[a-z0-9_]+$/

const findingOf = (value: unknown): Finding | undefined => {
  if (typeof value !== 'object' || value === null) return undefined
  const { policy, rule, severity, message } = value as Record<string, unknown>
  if (typeof policy !== 'string' || !policyName.test(policy) || policy.length > 200) return undefined
  if (typeof message !== 'string' || message.length === 0) return undefined
  return {
    policy,
    rule: typeof rule === 'string' && ruleName.test(rule) ? rule.slice(0, 128) : 'deny',
    severity:
      typeof severity === 'string' && severities.has(severity) ? (severity as Finding['severity']) : 'high',
    message: message.slice(0, 1000),
  }
}

/**
 * The verdict in what the WebAssembly module returned (`[{result: {allow, violations}}]`), its
 * violations in one order (policy, then message) whatever order the module's set had. Undefined when
 * the result is not that shape: a bundle that does not answer the entrypoint's contract.
 */
export function verdictOf(results: unknown): Verdict | undefined {
  const result = Array.isArray(results) ? (results[0] as { result?: unknown } | undefined)?.result : undefined
  if (typeof result !== 'object' || result === null) return undefined
  const { allow, violations, warnings = [] } = result as Record<string, unknown>
  if (typeof allow !== 'boolean' || !Array.isArray(violations) || !Array.isArray(warnings)) return undefined
  const sorted = (values: unknown[]) => {
    const findings = values.map(findingOf)
    if (findings.some((f) => f === undefined)) return undefined
    return (findings as Finding[]).toSorted((a, b) =>
      a.policy === b.policy ? (a.message < b.message ? -1 : 1) : a.policy < b.policy ? -1 : 1,
    )
  }
  const [refusing, advising] = [sorted(violations), sorted(warnings)]
  if (refusing === undefined || advising === undefined) return undefined
  // A bundle that allows with violations, or refuses without one, contradicts itself: none of it counts.
  return allow === (refusing.length === 0) ? { allow, violations: refusing, warnings: advising } : undefined
}
