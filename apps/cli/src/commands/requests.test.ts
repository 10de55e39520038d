// What the commands' arguments become: the requests they send, the report of a failed deployment.
import { describe, expect, it } from 'vitest'
import { pathWithQuery } from '../client.ts'
import { type Deployment, deployRequest, failureReport } from './deploy.ts'
import { createProjectBody } from './projects.ts'

describe('arguments to requests', () => {
  it('deploy --image --commit --idempotency-key: the body and header of POST /v1/environments/:envId/deployments', () => {
    expect(deployRequest('env-1', { image: 'ghcr.io/acme/hello:2' })).toEqual({
      path: '/v1/environments/env-1/deployments',
      body: { artifactRef: 'ghcr.io/acme/hello:2' },
      headers: {},
    })
    const sha = 'a'.repeat(40)
    expect(
      deployRequest('env-1', { image: 'ghcr.io/acme/hello:2', commit: sha, idempotencyKey: 'ci-42' }),
    ).toEqual({
      path: '/v1/environments/env-1/deployments',
      body: { artifactRef: 'ghcr.io/acme/hello:2', commitSha: sha },
      headers: { 'idempotency-key': 'ci-42' },
    })
  })

  it('projects create: the slug as name unless given, CI settings only when named', () => {
    expect(createProjectBody('hello', {})).toEqual({ slug: 'hello', name: 'hello' })
    expect(
      createProjectBody('hello', {
        name: 'Hello',
        repository: 'acme/hello',
        deployBranch: ['main', 'release'],
        ciImage: 'ghcr.io/acme/hello',
      }),
    ).toEqual({
      slug: 'hello',
      name: 'Hello',
      repository: 'acme/hello',
      deployBranches: ['main', 'release'],
      ci: { workflow: 'build.yml', image: 'ghcr.io/acme/hello' },
    })
  })

  it('query strings leave out what is not given', () => {
    expect(pathWithQuery('/v1/audit', { limit: 50, action: undefined, actor: 'user:1' })).toBe(
      '/v1/audit?limit=50&actor=user%3A1',
    )
    expect(pathWithQuery('/v1/projects', {})).toBe('/v1/projects')
  })
})

describe('the report of a failed deployment', () => {
  const step = (name: string, status: string) => ({ name, status, attempts: 1, reason: null })
  const failed = (over: Partial<Deployment>): Deployment => ({
    id: 'd-1',
    kind: 'deploy',
    trigger: 'manual',
    status: 'failed',
    envId: 'e',
    environment: 'staging',
    artifactRef: 'ghcr.io/acme/hello:3',
    manifestDigest: 'sha256:0',
    current: false,
    provider: 'sim-container',
    urls: [],
    failure: { step: 'network', code: 'network-refused', reason: 'refused by the platform' },
    compensationFailures: [],
    steps: [
      step('place', 'succeeded'),
      step('provision', 'compensated'),
      step('rollout', 'compensated'),
      step('network', 'failed'),
    ],
    createdAt: '2026-01-01T00:00:00Z',
    ...over,
  })

  it('names the step and reason, and the steps undone last first', () => {
    expect(failureReport(failed({}))).toEqual({
      message: 'deployment d-1 failed at step network: refused by the platform (network-refused)',
      details: ['compensation: undone rollout, provision'],
    })
  })

  it('tells what a person must undo, and what cannot be undone', () => {
    const report = failureReport(
      failed({
        steps: [
          step('place', 'not-undone'),
          step('provision', 'compensation-failed'),
          step('network', 'failed'),
        ],
        compensationFailures: [{ step: 'provision', code: 'unavailable', reason: 'the platform is down' }],
      }),
    )
    expect(report.details).toEqual([
      'compensation: nothing to undo',
      'not undone (irreversible): place',
      'compensation failed at provision: the platform is down (unavailable): a person must undo it',
    ])
  })

  it('names a deadline or cancel without a step', () => {
    expect(
      failureReport(
        failed({
          status: 'cancelled',
          failure: { step: null, code: 'cancelled', reason: 'cancelled by ada' },
          steps: [],
        }),
      ).message,
    ).toBe('deployment d-1 cancelled: cancelled by ada (cancelled)')
  })
})
