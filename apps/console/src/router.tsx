import { useQuery, useQueryClient } from '@tanstack/react-query'
import {
  createRootRoute,
  createRoute,
  createRouter,
  Link,
  lazyRouteComponent,
  Outlet,
  redirect,
  useRouter,
  useRouterState,
} from '@tanstack/react-router'
import { useEffect, useState, useSyncExternalStore } from 'react'
import { api, session, signOut } from './api.ts'
import { AcceptInvitePage, SignInPage, SignUpPage } from './pages/auth.tsx'
import { DeploymentPage } from './pages/deployment.tsx'
import { EnvironmentPage } from './pages/environment.tsx'
import { ProjectPage } from './pages/project.tsx'
import { ProjectsPage } from './pages/projects.tsx'
import type { Me } from './types.ts'
import { ErrorNote } from './ui.tsx'

const publicPaths = ['/signin', '/signup', '/invites/']

export const useSignedIn = () => useSyncExternalStore(session.subscribe, session.signedIn)
const useOrg = () => useSyncExternalStore(session.subscribe, session.org)

export const useMe = () =>
  useQuery({ queryKey: ['me'], queryFn: () => api<Me>('GET', '/v1/me'), enabled: session.signedIn() })

/** Choose an organisation, then Switch: choosing alone (arrow keys on the select) changes nothing. */
function OrgSwitcher({ me }: { me: Me }) {
  const org = useOrg()
  const current = org ?? me.orgs[0]?.id
  const [chosen, setChosen] = useState(current)
  if (me.orgs.length === 0) return null
  return (
    <form
      className="org"
      onSubmit={(e) => {
        e.preventDefault()
        if (chosen === undefined || chosen === current) return
        session.setOrg(chosen)
        window.location.assign('/')
      }}
    >
      <label>
        <span>Organisation</span>
        <select value={chosen ?? current} onChange={(e) => setChosen(e.target.value)}>
          {me.orgs.map((o) => (
            <option key={o.id} value={o.id}>
              {o.name} ({o.role})
            </option>
          ))}
        </select>
      </label>{' '}
      <button type="submit" className="link" disabled={chosen === undefined || chosen === current}>
        Switch
      </button>
    </form>
  )
}

function Layout() {
  const signedIn = useSignedIn()
  const pathname = useRouterState({ select: (s) => s.location.pathname })
  const isPublic = publicPaths.some((p) => pathname.startsWith(p))
  const router = useRouter()
  const queryClient = useQueryClient()
  const me = useMe()
  // Signed out (here or by a refused refresh): the guarded routes send to the sign-in page.
  useEffect(() => {
    if (!signedIn && !isPublic) void router.invalidate()
  }, [signedIn, isPublic, router])
  useEffect(() => {
    // None chosen yet, or one this user no longer belongs to: the first of theirs.
    const stored = session.org()
    if (me.data === undefined || me.data.orgs[0] === undefined) return
    if (stored === undefined || !me.data.orgs.some((o) => o.id === stored)) session.setOrg(me.data.orgs[0].id)
  }, [me.data])
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand">
          RXT Deploy
        </Link>
        {signedIn && (
          <nav aria-label="Main">
            <Link to="/">Projects</Link>
            <Link to="/vms">VMs</Link>
            <Link to="/alerts">Alerts</Link>
            <Link to="/policy">Policy</Link>
            <Link to="/secrets">Secrets</Link>
            <Link to="/audit">Audit</Link>
            <Link to="/org">Organisation</Link>
            {me.data?.operator === true && <Link to="/operator">Operator</Link>}
          </nav>
        )}
        {signedIn && me.data !== undefined && <OrgSwitcher me={me.data} />}
        {signedIn && (
          <button
            type="button"
            className="link"
            onClick={() => {
              // The API revokes the sign-in first; then nothing of this session stays in the tab.
              void signOut().then(() => queryClient.clear())
            }}
          >
            Sign out
          </button>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        {me.error !== null && signedIn && <ErrorNote error={me.error} />}
        <Outlet />
      </main>
    </>
  )
}

const rootRoute = createRootRoute({
  component: Layout,
  notFoundComponent: () => (
    <section>
      <h1>Not found</h1>
      <p>
        No page here. <Link to="/">Go to your projects</Link>.
      </p>
    </section>
  ),
})

/** Every page but signing in needs a session: without one, the sign-in page, then back. */
const guarded = createRoute({
  getParentRoute: () => rootRoute,
  id: 'guarded',
  beforeLoad: ({ location }) => {
    if (!session.signedIn()) throw redirect({ to: '/signin', search: { next: location.href } })
  },
})

const route = <P extends string>(path: P, component: Parameters<typeof createRoute>[0]['component']) =>
  createRoute({ getParentRoute: () => guarded, path, component })

const signIn = createRoute({
  getParentRoute: () => rootRoute,
  path: '/signin',
  component: SignInPage,
  validateSearch: (search: Record<string, unknown>): { next?: string } =>
    typeof search.next === 'string' ? { next: search.next } : {},
})

const routeTree = rootRoute.addChildren([
  signIn,
  createRoute({ getParentRoute: () => rootRoute, path: '/signup', component: SignUpPage }),
  createRoute({ getParentRoute: () => rootRoute, path: '/invites/$token', component: AcceptInvitePage }),
  guarded.addChildren([
    route('/', ProjectsPage),
    route('/projects/$projectId', ProjectPage),
    route('/projects/$projectId/environments/$envId', EnvironmentPage),
    route(
      '/projects/$projectId/environments/$envId/explain',
      lazyRouteComponent(() => import('./pages/explain.tsx'), 'ExplainPage'),
    ),
    route('/deployments/$deploymentId', DeploymentPage),
    route(
      '/vms',
      lazyRouteComponent(() => import('./pages/vms.tsx'), 'VmsPage'),
    ),
    route(
      '/vms/$vmId',
      lazyRouteComponent(() => import('./pages/vms.tsx'), 'VmPage'),
    ),
    route(
      '/alerts',
      lazyRouteComponent(() => import('./pages/alerts.tsx'), 'AlertsPage'),
    ),
    route(
      '/policy',
      lazyRouteComponent(() => import('./pages/policy.tsx'), 'PolicyPage'),
    ),
    route(
      '/secrets',
      lazyRouteComponent(() => import('./pages/secrets.tsx'), 'SecretsPage'),
    ),
    route(
      '/audit',
      lazyRouteComponent(() => import('./pages/audit.tsx'), 'AuditPage'),
    ),
    route(
      '/org',
      lazyRouteComponent(() => import('./pages/org.tsx'), 'OrgPage'),
    ),
    route(
      '/operator',
      lazyRouteComponent(() => import('./pages/operator.tsx'), 'OperatorPage'),
    ),
  ]),
])

export const router = createRouter({ routeTree, defaultPreload: 'intent' })

declare module '@tanstack/react-router' {
  interface Register {
    router: typeof router
  }
}
