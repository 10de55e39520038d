import { createHash } from 'node:crypto'
import Type, { type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import { lazyCache } from '../cache.ts'
import { AuthenticationError, UnavailableError } from '../errors.ts'
import { isPermission, type Principal } from './access.ts'
import type { Authenticator } from './guard.ts'

/** A principal as `GET /v1/auth/whoami` answers it (its response schema, and what this module reads back). */
export const WhoAmISchema = Type.Object({
  kind: Type.Union([Type.Literal('user'), Type.Literal('api-key'), Type.Literal('service')]),
  id: Type.String(),
  userId: Type.Union([Type.String(), Type.Null()]),
  operator: Type.Boolean(),
  orgs: Type.Array(
    Type.Object({
      id: Type.String(),
      role: Type.String(),
      permissions: Type.Array(Type.String()),
    }),
  ),
  everyOrg: Type.Union(
    [Type.Object({ role: Type.String(), permissions: Type.Array(Type.String()) }), Type.Null()],
    {
      description: "A service's permissions in any organisation it names; null for users and keys",
    },
  ),
})
export type WhoAmI = Static<typeof WhoAmISchema>
const isWhoAmI = Compile(WhoAmISchema)

/** Answers already built, per principal: a principal is immutable, and the authenticators cache them. */
const answers = new WeakMap<Principal, WhoAmI>()

export const whoAmI = (p: Principal): WhoAmI => {
  const known = answers.get(p)
  if (known !== undefined) return known
  const answer: WhoAmI = {
    kind: p.kind,
    id: p.id,
    userId: p.userId ?? null,
    operator: p.operator,
    orgs: [...p.orgs].map(([id, m]) => ({ id, role: m.role, permissions: [...m.permissions] })),
    everyOrg:
      p.everyOrg === undefined ? null : { role: p.everyOrg.role, permissions: [...p.everyOrg.permissions] },
  }
  // Shared by every request of the principal: frozen, so that no caller changes another's answer.
  for (const org of answer.orgs) Object.freeze(Object.freeze(org).permissions)
  if (answer.everyOrg !== null) Object.freeze(Object.freeze(answer.everyOrg).permissions)
  Object.freeze(Object.freeze(answer).orgs)
  answers.set(p, answer)
  return answer
}

export interface RemoteAuthenticatorOptions {
  /** Base URL of a process that runs the identity context (`http://identity:8080`). */
  readonly url: string
  /** How long an answer is reused for the same credentials. */
  readonly ttlMs?: number
  readonly timeoutMs?: number
}

/**
 * Authenticates through the identity context of another process (the distributed mode): the caller's
 * Authorization header is presented to its `GET /v1/auth/whoami`, and the principal it answers is kept
 * for a few seconds per credential (by its SHA-256, never the credential itself).
 */
export function createRemoteAuthenticator(options: RemoteAuthenticatorOptions): Authenticator {
  const base = options.url.replace(/\/+$/, '')
  const ttl = options.ttlMs ?? 5_000
  const known = lazyCache<string, Principal>({ max: 50_000, ttl })
  return {
    async authenticate(header: string): Promise<Principal> {
      const digest = createHash('sha256').update(header).digest('base64url')
      const cached = known.get(digest)
      if (cached !== undefined) return cached
      let response: Response
      try {
        response = await fetch(`${base}/v1/auth/whoami`, {
          headers: { authorization: header },
          signal: AbortSignal.timeout(options.timeoutMs ?? 3_000),
        })
      } catch (error) {
        throw new UnavailableError(`the identity service at ${base} does not answer`, { cause: error })
      }
      if (response.status === 401) {
        const problem = (await response.json().catch(() => ({}))) as { detail?: string }
        throw new AuthenticationError(problem.detail ?? 'the credentials are not valid')
      }
      if (!response.ok) {
        throw new UnavailableError(`the identity service at ${base} answered ${response.status}`)
      }
      // Whatever answered is not trusted to be identity: a wrong IDENTITY_URL answers 200 too.
      const who: unknown = await response.json().catch(() => undefined)
      if (!isWhoAmI.Check(who)) {
        throw new UnavailableError(
          `the identity service at ${base} answered something that is not a principal: is IDENTITY_URL the identity context's address?`,
        )
      }
      const principal: Principal = {
        kind: who.kind,
        id: who.id,
        userId: who.userId ?? undefined,
        operator: who.operator,
        orgs: new Map(
          who.orgs.map((o) => [o.id, { role: o.role, permissions: o.permissions.filter(isPermission) }]),
        ),
        ...(who.everyOrg == null
          ? {}
          : {
              everyOrg: {
                role: who.everyOrg.role,
                permissions: who.everyOrg.permissions.filter(isPermission),
              },
            }),
      }
      known.set(digest, principal)
      return principal
    },
  }
}
