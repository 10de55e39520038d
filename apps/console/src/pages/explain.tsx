import { useQuery } from '@tanstack/react-query'
import { Link, useParams } from '@tanstack/react-router'
import { api } from '../api.ts'
import { ApiError } from '../problem.ts'
import { ErrorNote, Loading, when } from '../ui.tsx'

interface Candidate {
  readonly provider: string
  readonly platform: string
  readonly kind: string
  readonly eligible: boolean
  readonly score: number
  readonly monthlyCost: number | null
  readonly filters: readonly { readonly name: string; readonly passed: boolean; readonly reason: string }[]
  readonly terms: readonly {
    readonly name: string
    readonly rating: number
    readonly weight: number
    readonly detail: string
  }[]
}

interface Explanation {
  readonly provider: string
  readonly platform: string
  readonly score: number
  readonly reasoning: string
  readonly monthlyCost: number | null
  readonly target: {
    readonly compliance: readonly string[]
    readonly regions: readonly string[]
    readonly encryptionAtRest: boolean
  }
  readonly pinned: { readonly reason: string; readonly by: string } | null
  readonly reused: boolean
  readonly candidates: readonly Candidate[]
  readonly decidedAt: string
}

const cost = (c: number | null) => (c === null ? '—' : `$${c.toFixed(2)}/month`)

export function ExplainPage() {
  const { projectId, envId } = useParams({ strict: false }) as { projectId: string; envId: string }
  const explain = useQuery({
    queryKey: ['explain', envId],
    queryFn: () => api<Explanation>('GET', `/v1/placement/explain/${envId}`),
  })
  const e = explain.data
  return (
    <section>
      <p className="crumbs">
        <Link to="/projects/$projectId/environments/$envId" params={{ projectId, envId }}>
          Back to the environment
        </Link>
      </p>
      <h1>Placement explained</h1>
      {explain.isPending && <Loading what="the placement decision" />}
      <ErrorNote error={explain.error} />
      {explain.error instanceof ApiError && explain.error.status === 404 && (
        <p className="empty">Deploy the environment once: its placement is decided then.</p>
      )}
      {e !== undefined && (
        <>
          <p data-testid="placement-choice">
            Placed on <strong>{e.provider}</strong> ({e.platform}), score {e.score.toFixed(2)},{' '}
            {cost(e.monthlyCost)}.
          </p>
          <p>{e.reasoning}</p>
          <dl className="facts">
            <dt>Compliance</dt>
            <dd>{e.target.compliance.join(', ') || 'none required'}</dd>
            <dt>Regions</dt>
            <dd>{e.target.regions.join(', ') || 'any'}</dd>
            <dt>Encryption at rest</dt>
            <dd>{e.target.encryptionAtRest ? 'required' : 'not required'}</dd>
            <dt>Pinned</dt>
            <dd>{e.pinned === null ? 'no' : `${e.pinned.reason} (by ${e.pinned.by})`}</dd>
            <dt>Decided</dt>
            <dd>
              {when(e.decidedAt)}
              {e.reused ? ' (the stored decision of the same inputs)' : ''}
            </dd>
          </dl>
          <h2>Candidates</h2>
          {e.candidates.map((c) => (
            <article key={c.provider} className={`candidate ${c.eligible ? '' : 'ineligible'}`}>
              <h3>
                {c.provider} ({c.platform}, {c.kind}):{' '}
                {c.eligible ? `score ${c.score.toFixed(2)}` : 'not eligible'}, {cost(c.monthlyCost)}
              </h3>
              <table>
                <caption>Filters of {c.provider}</caption>
                <thead>
                  <tr>
                    <th scope="col">Filter</th>
                    <th scope="col">Passed</th>
                    <th scope="col">Why</th>
                  </tr>
                </thead>
                <tbody>
                  {c.filters.map((f) => (
                    <tr key={f.name}>
                      <td>{f.name}</td>
                      <td>{f.passed ? 'yes' : 'no'}</td>
                      <td>{f.reason}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {c.terms.length > 0 && (
                <table>
                  <caption>Score terms of {c.provider}</caption>
                  <thead>
                    <tr>
                      <th scope="col">Term</th>
                      <th scope="col">Rating</th>
                      <th scope="col">Weight</th>
                      <th scope="col">Detail</th>
                    </tr>
                  </thead>
                  <tbody>
                    {c.terms.map((t) => (
                      <tr key={t.name}>
                        <td>{t.name}</td>
                        <td>{t.rating.toFixed(2)}</td>
                        <td>{t.weight}</td>
                        <td>{t.detail}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </article>
          ))}
        </>
      )}
    </section>
  )
}
