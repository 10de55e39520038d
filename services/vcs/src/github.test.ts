import { describe, expect, it } from 'vitest'
import { decide, httpsUrl, type ProjectRoute, unclaimed } from './github.ts'

const project: ProjectRoute = {
  projectId: '00000000-0000-4000-8000-000000000001',
  orgId: '00000000-0000-4000-8000-000000000002',
  repository: 'acme/shop',
  verified: true,
  deployBranches: ['main'],
  deployTags: false,
  reportBranchDeletions: false,
  ci: null,
}
const of = (fullName: unknown) => ({ repository: { full_name: fullName } })
const push = { ...of('Acme/Shop'), ref: 'refs/heads/main', after: 'a'.repeat(40), before: '0'.repeat(40) }

describe('a delivery for a project', () => {
  it("is the project's when it names its repository (in any case) and the claim is verified", () => {
    expect(unclaimed('push', of('Acme/Shop'), project)).toBeUndefined()
    expect(decide('push', push, 'd1', project).outcome).toBe('published')
  })

  it('causes nothing when it names another repository, or none', () => {
    expect(unclaimed('push', of('acme/other'), project)).toBe(
      "the delivery is from acme/other; this project's repository is acme/shop",
    )
    expect(unclaimed('ping', of({ toString: 1 }), project)).toContain('from no repository')
    expect(unclaimed('ping', of('acme/shop'), { ...project, repository: null })).toContain(
      'the project names no repository',
    )
  })

  it('causes nothing but its ping while the claim is unverified', () => {
    const unverified = { ...project, verified: false }
    expect(unclaimed('push', of('acme/shop'), unverified)).toContain(
      'acme/shop is not verified for this project yet',
    )
    expect(decide('push', push, 'd2', unverified)).toMatchObject({ outcome: 'ignored' })
    expect(unclaimed('ping', of('acme/shop'), unverified)).toBeUndefined()
    expect(decide('ping', of('acme/shop'), 'd3', unverified)).toMatchObject({
      outcome: 'published',
      detail: 'the webhook works: acme/shop is verified',
      events: [{ type: 'evt.repo.verified' }],
    })
  })
})

describe('the pages a payload links to', () => {
  it('are https URLs', () => {
    const page = 'https://github.com/acme/shop/pull/1'
    expect(httpsUrl(page, 'pull_request.html_url')).toBe(page)
  })

  it.each([
    'javascript:alert(1)',
    'JavaScript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'http://github.com/acme/shop/pull/1',
    '//github.com/acme/shop/pull/1',
    'github.com/acme/shop/pull/1',
    `https://github.com/${'x'.repeat(2048)}`,
    '',
    42,
    null,
  ])('refuse %j with one message naming the field', (value) => {
    expect(() => httpsUrl(value, 'pull_request.html_url')).toThrow(
      'pull_request.html_url must be an https URL',
    )
  })
})
