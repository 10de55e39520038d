// The console in a real browser against the embedded server: the journey from sign-up to a rollback,
// every page checked with axe-core, and (RXT_SCREENSHOTS=1) the screenshots of the main pages.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { endChildren, type Server, startBudgetMs, startServer } from '../../server/test/process.ts'
import { collectErrors, launchChromium, seriousViolations } from './browser.ts'

const chromiumPath = inject('chromiumPath')
// Without Chromium the run's setup prints SKIPPED with the reason (and fails the run under CI=true).
const skipped = chromiumPath === ''
const shots = process.env.RXT_SCREENSHOTS === '1'
const shotDir = fileURLToPath(new URL('../../../docs/console/', import.meta.url))

const manifest = `apiVersion: rxt-deploy/v1
kind: Application
metadata: {name: shop}
spec:
  image: "ghcr.io/acme/shop:1"
  ports: [{name: http, port: 8080, protocol: http}]
  network: {visibility: public, hostnames: [shop.acme.example], tls: required}
`

/** What the journey made, for the pages the accessibility check visits. */
const made = { projectId: '', envId: '', deploymentId: '' }
const account = { email: 'dev@example.com', password: 'a long passphrase for the console' }

describe.skipIf(skipped)('the console in a browser', () => {
  let server: Server
  let browser: Browser
  const dataDir = mkdtempSync(join(tmpdir(), 'rxt-console-'))

  beforeAll(async () => {
    ;[server, browser] = await Promise.all([
      // A page load reuses the tab's access token: the sign-in budget's default is not raised.
      startServer(['up'], { RXT_DATA_DIR: dataDir, RATE_LIMIT_PER_MINUTE: '100000' }),
      launchChromium(chromiumPath),
    ])
    if (shots) mkdirSync(shotDir, { recursive: true })
  }, startBudgetMs)

  afterAll(async () => {
    await browser?.close()
    await endChildren()
    rmSync(dataDir, { recursive: true, force: true })
  })

  const shot = async (page: Page, name: string) => {
    if (shots) await page.screenshot({ path: `${shotDir}${name}.png`, fullPage: true })
  }

  /** Deploys `artifact` from the environment's page and waits on the live steps until it is ready. */
  const deployAndWatch = async (page: Page, artifact: string) => {
    await page.getByLabel('Artifact').fill(artifact)
    await page.getByRole('button', { name: 'Deploy', exact: true }).click()
    await page.waitForURL(/\/deployments\//)
    const status = page.getByTestId('deployment-status')
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toContain('ready')
    // The stream reported the steps as they happened, and its end.
    await expect.poll(() => page.getByTestId('events').textContent(), { timeout: 10_000 }).toContain('end')
    return new URL(page.url()).pathname.split('/').pop() as string
  }

  it(
    'signs up, makes a project and an environment, deploys twice, explains the placement and rolls back',
    async () => {
      const context = await browser.newContext()
      const page = await context.newPage()
      // A loaded machine can take longer than the default 30 s for the first load of a cold server.
      page.setDefaultNavigationTimeout(120_000)
      const errors = collectErrors(page)

      await page.goto(`${server.url}/`)
      await page.waitForURL(/\/signin/)
      await page.getByRole('link', { name: 'Create an account' }).click()
      await page.getByLabel('Name').fill('Dev')
      await page.getByLabel('Email').fill(account.email)
      await page.getByLabel('Organisation').fill('Acme')
      // A refused password is shown beside its field, with the API's words.
      await page.getByLabel('Password').fill('short')
      await page.getByRole('button', { name: 'Sign up' }).click()
      const password = page.getByLabel('Password')
      await expect.poll(() => password.getAttribute('aria-invalid'), { timeout: 10_000 }).toBe('true')
      expect(await page.getByText('a password has at least 15 characters').first().isVisible()).toBe(true)
      await shot(page, 'sign-up-error')

      await password.fill(account.password)
      await page.getByRole('button', { name: 'Sign up' }).click()
      await page.getByRole('heading', { name: 'Projects' }).waitFor()
      await page.getByText('No projects yet').waitFor()

      await page.getByLabel('Slug').fill('shop')
      await page.getByLabel('GitHub repository').fill('acme/shop')
      await page.getByRole('button', { name: 'Create project' }).click()
      await page.getByText('Project shop created').waitFor()
      expect((await page.getByTestId('webhook-secret').textContent())?.length).toBeGreaterThan(20)
      await shot(page, 'projects')
      await page.getByRole('link', { name: 'Open shop' }).click()
      made.projectId = new URL(page.url()).pathname.split('/').pop() as string

      await page.getByText('No environments yet').waitFor()
      await page.getByLabel('Name').fill('staging')
      await page.getByRole('button', { name: 'Add environment' }).click()
      await page.getByRole('link', { name: 'staging' }).waitFor()
      await page.getByLabel('deploy.yaml').fill(manifest)
      await page.getByRole('button', { name: 'Upload manifest' }).click()
      await page.getByText("is the environment's current one").waitFor()

      await page.getByRole('link', { name: 'staging' }).click()
      await page.waitForURL(/\/environments\//)
      made.envId = new URL(page.url()).pathname.split('/').pop() as string
      const first = await deployAndWatch(page, 'ghcr.io/acme/shop:1')
      made.deploymentId = first
      const steps = await page.getByTestId('steps').locator('tbody tr').count()
      expect(steps).toBeGreaterThan(1)
      expect(await page.getByTestId('steps').textContent()).not.toContain('pending')
      await shot(page, 'deployment')

      await page.getByRole('link', { name: 'staging' }).click()
      await deployAndWatch(page, 'ghcr.io/acme/shop:2')

      await page.getByRole('link', { name: 'staging' }).click()
      await page.getByRole('link', { name: /Explain the placement/ }).click()
      const choice = page.getByTestId('placement-choice')
      await choice.waitFor()
      expect(await choice.textContent()).toMatch(/Placed on sim-/)
      expect(await page.getByRole('table', { name: /Filters of/ }).count()).toBeGreaterThan(1)
      await shot(page, 'explain')

      // Back to the first deployment, and roll back to it.
      await page.getByRole('link', { name: 'Back to the environment' }).click()
      await shot(page, 'environment')
      await page.getByRole('link', { name: 'ghcr.io/acme/shop:1' }).click()
      await page.getByRole('button', { name: 'Roll back to this deployment' }).click()
      await expect.poll(() => page.url(), { timeout: 30_000 }).not.toContain(first)
      await expect
        .poll(() => page.getByTestId('deployment-status').textContent(), { timeout: 60_000 })
        .toContain('ready')
      expect(await page.locator('.facts').textContent()).toContain('rollback')

      // The project's environments: what each runs, its status, URL, platform and provider.
      await page.goto(`${server.url}/projects/${made.projectId}`)
      const row = page.getByTestId('environments').locator('tbody tr').first()
      await expect.poll(() => row.textContent(), { timeout: 10_000 }).toContain('ghcr.io/acme/shop:1')
      expect(await row.textContent()).toMatch(/ready.*https:\/\/shop\.acme\.example.*sim-/)
      await shot(page, 'environments')

      // Only the refused sign-up was answered with an error status; nothing else went wrong.
      expect(errors.filter((e) => !/status of 400/.test(e))).toEqual([])
      expect(errors.filter((e) => /status of 400/.test(e))).toHaveLength(1)

      // Asking to destroy replaces the button that had the focus: the focus goes to the confirmation.
      await page.goto(`${server.url}/projects/${made.projectId}/environments/${made.envId}`)
      await page.getByRole('button', { name: 'Destroy this environment…' }).click()
      await expect
        .poll(
          () =>
            // biome-ignore lint/suspicious/noExplicitAny: the page's document
            page.evaluate(() => (globalThis as any).document.activeElement?.getAttribute('name')),
          { timeout: 10_000 },
        )
        .toBe('confirm')
      await page.getByRole('button', { name: 'Keep it' }).click()

      // Signing out revokes the sign-in: its refresh token is refused afterwards.
      const refreshToken = await page.evaluate(() =>
        // biome-ignore lint/suspicious/noExplicitAny: the page's sessionStorage
        (globalThis as any).sessionStorage.getItem('rxt.refresh'),
      )
      expect(typeof refreshToken).toBe('string')
      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.waitForURL(/\/signin/)
      expect(
        await page.evaluate(() =>
          // biome-ignore lint/suspicious/noExplicitAny: the page's sessionStorage
          Object.keys((globalThis as any).sessionStorage).filter((k) => k.startsWith('rxt.')),
        ),
      ).toEqual([])
      const refused = await fetch(`${server.url}/v1/auth/refresh`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken }),
      })
      expect(refused.status).toBe(401)
      await context.close()
    },
    4 * 60_000,
  )

  it(
    'has no serious or critical accessibility violation on any page',
    async () => {
      expect(made.deploymentId).not.toBe('')
      // axe is injected as a script: this context alone is let past the console's CSP.
      const context = await browser.newContext({ bypassCSP: true })
      const page = await context.newPage()
      // A loaded machine can take longer than the default 30 s for the first load of a cold server.
      page.setDefaultNavigationTimeout(120_000)
      const errors = collectErrors(page)
      const found: Record<string, string[]> = {}
      const check = async (path: string, ready: () => Promise<unknown>) => {
        await page.goto(`${server.url}${path}`)
        await ready()
        found[path] = await seriousViolations(page)
      }
      await check('/signup', () => page.getByRole('heading', { name: 'Create your account' }).waitFor())
      await check('/signin', () => page.getByRole('heading', { name: 'Sign in' }).waitFor())
      // Signing in with the keyboard alone: the skip link first, then the form in order, Enter submits.
      const focused = () =>
        page.evaluate(() => {
          // biome-ignore lint/suspicious/noExplicitAny: the page's document
          const active = (globalThis as any).document.activeElement
          return `${active?.tagName.toLowerCase()}:${active?.getAttribute('name') ?? active?.textContent}`
        })
      await page.keyboard.press('Tab')
      expect(await focused()).toBe('a:Skip to content')
      await page.keyboard.press('Enter')
      expect(await focused()).toMatch(/^main:Sign in/)
      await page.keyboard.press('Tab')
      expect(await focused()).toBe('input:email')
      await page.keyboard.type(account.email)
      await page.keyboard.press('Tab')
      expect(await focused()).toBe('input:password')
      await page.keyboard.type(account.password)
      await page.keyboard.press('Enter')
      await page.getByRole('heading', { name: 'Projects' }).waitFor()
      const pages: [string, string, string?][] = [
        ['/', 'Projects'],
        [`/projects/${made.projectId}`, 'shop'],
        [`/projects/${made.projectId}/environments/${made.envId}`, 'staging'],
        [`/deployments/${made.deploymentId}`, 'Deployment of'],
        [`/projects/${made.projectId}/environments/${made.envId}/explain`, 'Placement explained'],
        ['/policy', 'Policy', 'policy'],
        ['/secrets', 'Secrets', 'secrets'],
        ['/audit', 'Audit log', 'audit'],
        ['/org', 'Acme', 'organisation'],
        ['/operator', 'Operator', 'operator'],
      ]
      for (const [path, heading, name] of pages) {
        await check(path, async () => {
          await page.getByRole('heading', { name: heading, level: 1 }).waitFor()
          // Wait for the page's queries to settle.
          await expect.poll(() => page.locator('.loading').count(), { timeout: 10_000 }).toBe(0)
        })
        if (name !== undefined) await shot(page, name)
      }
      // The organisation's page: a custom role made and listed as such; an API key made, then rotated
      // once the rotation is confirmed, its new key shown once in place of the first.
      await page.goto(`${server.url}/org`)
      await page.getByRole('heading', { name: 'Acme', level: 1 }).waitFor()
      await page.getByLabel('Role name', { exact: true }).fill('auditor')
      await page.getByLabel(/^Permissions/).fill('audit:read')
      await page.getByRole('button', { name: 'Create role' }).click()
      await page.getByRole('cell', { name: 'auditor (custom)' }).waitFor({ timeout: 30_000 })
      await page.getByLabel('Key name', { exact: true }).fill('ci')
      await page.getByRole('button', { name: 'Create API key' }).click()
      const shownKey = page.locator('p[role="status"]', { hasText: 'The key (shown once)' }).locator('code')
      await shownKey.waitFor({ timeout: 30_000 })
      const firstKey = await shownKey.textContent()
      expect(firstKey).toMatch(/\S{20,}/)
      await page.getByRole('button', { name: 'Rotate ci', exact: true }).click()
      await page.getByRole('button', { name: 'Rotate ci: the old key stops now' }).click()
      await expect.poll(() => shownKey.textContent(), { timeout: 30_000 }).not.toBe(firstKey)
      expect(Object.entries(found).filter(([, v]) => v.length > 0)).toEqual([])
      expect(errors).toEqual([])
      await context.close()
    },
    3 * 60_000,
  )
})
