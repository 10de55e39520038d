import { useMutation, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useParams, useSearch } from '@tanstack/react-router'
import { api, session, type Tokens } from '../api.ts'
import { useSignedIn } from '../router.tsx'
import { ErrorNote, Field, submitted } from '../ui.tsx'

export function SignUpPage() {
  const navigate = useNavigate()
  const queryClient = useQueryClient()
  const signUp = useMutation({
    mutationFn: (body: Record<string, string>) =>
      api<Tokens & { orgId: string }>('POST', '/v1/auth/signup', body),
    onSuccess: (answer) => {
      queryClient.clear()
      session.start(answer, answer.orgId)
      void navigate({ to: '/' })
    },
  })
  const submit = submitted((values) => signUp.mutate(values))
  return (
    <section className="narrow">
      <h1>Create your account</h1>
      <form onSubmit={submit}>
        <Field label="Name" name="name" required autoComplete="name" error={signUp.error} />
        <Field label="Email" name="email" type="email" required autoComplete="email" error={signUp.error} />
        <Field
          label="Password"
          name="password"
          type="password"
          required
          autoComplete="new-password"
          hint="At least 15 characters; a passphrase of a few words is good."
          error={signUp.error}
        />
        <Field
          label="Organisation"
          name="orgName"
          required
          autoComplete="organization"
          error={signUp.error}
        />
        <ErrorNote error={signUp.error} shown={['name', 'email', 'password', 'orgName']} />
        <button type="submit" disabled={signUp.isPending}>
          Sign up
        </button>
      </form>
      <p>
        Have an account? <Link to="/signin">Sign in</Link>
      </p>
    </section>
  )
}

export function SignInPage() {
  const navigate = useNavigate()
  const queryClient = useQueryClient()
  const search = useSearch({ strict: false }) as { next?: string }
  const signIn = useMutation({
    mutationFn: (body: Record<string, string>) => api<Tokens>('POST', '/v1/auth/login', body),
    onSuccess: (tokens) => {
      queryClient.clear()
      session.start(tokens)
      const next = search.next?.startsWith('/') && !search.next.startsWith('//') ? search.next : '/'
      void navigate({ to: next })
    },
  })
  const submit = submitted((values) => signIn.mutate(values))
  return (
    <section className="narrow">
      <h1>Sign in</h1>
      <form onSubmit={submit}>
        <Field label="Email" name="email" type="email" required autoComplete="email" error={signIn.error} />
        <Field
          label="Password"
          name="password"
          type="password"
          required
          autoComplete="current-password"
          error={signIn.error}
        />
        <ErrorNote error={signIn.error} shown={['email', 'password']} />
        <button type="submit" disabled={signIn.isPending}>
          Sign in
        </button>
      </form>
      <p>
        New here? <Link to="/signup">Create an account</Link>
      </p>
    </section>
  )
}

export function AcceptInvitePage() {
  const { token } = useParams({ strict: false }) as { token: string }
  const signedIn = useSignedIn()
  const navigate = useNavigate()
  const queryClient = useQueryClient()
  const accept = useMutation({
    mutationFn: () =>
      api<{ orgId: string; role: string }>('POST', `/v1/invites/${encodeURIComponent(token)}/accept`),
    onSuccess: (answer) => {
      session.setOrg(answer.orgId)
      void queryClient.invalidateQueries()
      void navigate({ to: '/' })
    },
  })
  return (
    <section className="narrow">
      <h1>Join an organisation</h1>
      {signedIn ? (
        <>
          <p>You were invited to an organisation. Accept to join it with the role the invite names.</p>
          <ErrorNote error={accept.error} />
          <button type="button" onClick={() => accept.mutate()} disabled={accept.isPending}>
            Accept the invite
          </button>
        </>
      ) : (
        <p>
          Sign in or create an account with the invited email first, then open this link again:{' '}
          <Link to="/signin" search={{ next: `/invites/${token}` }}>
            Sign in
          </Link>{' '}
          or <Link to="/signup">sign up</Link>.
        </p>
      )}
    </section>
  )
}
