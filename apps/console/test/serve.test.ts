// The distributed mode: the console in a process of its own, calling an API at another origin.
import { createFreshPostgres } from '@rxt/kit/testing'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { endChildren, startBudgetMs, startServer } from '../../server/test/process.ts'

afterEach(endChildren)

const postgresSkip = inject('postgresSkipReason')
// Without PostgreSQL the run's setup prints SKIPPED with the reason (and fails the run under CI=true).
describe.skipIf(postgresSkip !== '')('rxt-deploy serve console', () => {
  it('serves the console, pointed at the API of CONSOLE_API_URL', { timeout: startBudgetMs }, async () => {
    const fresh = await createFreshPostgres(inject('postgresUrl'))
    try {
      const server = await startServer(['serve', 'console'], {
        DATABASE_URL: fresh.url,
        CONSOLE_API_URL: 'https://api.example.com',
      })
      const page = await fetch(`${server.url}/deployments/x`, { headers: { accept: 'text/html' } })
      expect(page.status).toBe(200)
      expect(await page.text()).toContain('<div id="root">')
      expect(page.headers.get('content-security-policy')).toContain(
        "connect-src 'self' https://api.example.com",
      )
      const config = await fetch(`${server.url}/console/config.json`)
      expect(await config.json()).toEqual({ apiUrl: 'https://api.example.com' })
      // This process runs no API context: /v1 is not the console's.
      const api = await fetch(`${server.url}/v1/projects`, { headers: { accept: 'text/html' } })
      expect(api.status).toBe(404)
      expect(api.headers.get('content-type')).toContain('application/problem+json')
      expect(await server.stop()).toBe(0)
    } finally {
      await fresh.drop()
    }
  })
})
