import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { AuthenticationError, type Clock, type ContextDb, lazyCache, newId } from '@rxt/kit'
import {
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose'
import { uuidPattern } from './credentials.ts'

type KeyLike = Awaited<ReturnType<typeof importJWK>>

export const accessTokenTtlSeconds = 15 * 60
export const refreshTokenTtlSeconds = 7 * 24 * 3600
const issuer = 'rxt-deploy'
const audience = 'rxt-deploy'
/** RFC 9068's media type of JWT access tokens: a JWT of another kind signed by the same key is refused. */
const accessTokenType = 'at+jwt'

/** What an access token says, once its signature and claims are checked. */
export interface AccessClaims {
  readonly userId: string
  /** The session (the refresh-token family) it was issued in: its revocation ends the token. */
  readonly sessionId: string
}

const kidOf = (token: string): string | undefined => {
  try {
    return decodeProtectedHeader(token).kid
  } catch {
    return undefined
  }
}

/** A random secret (256 bits, base64url) and the SHA-256 that is stored in its place. */
export function newSecret(): { secret: string; hash: Buffer } {
  const secret = randomBytes(32).toString('base64url')
  return { secret, hash: sha256(secret) }
}
export const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest()
/** Compares two hashes in constant time. */
export const sameHash = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b)

type KeyRow = {
  kid: string
  private_jwk: JWK
  public_jwk: JWK
  created_at: Date | string
  retired_at: Date | string | null
}

/**
 * Ed25519 signing keys in the identity schema, and the access tokens they sign (EdDSA, 15 minutes).
 * The newest unretired key signs; keys retired less than a token lifetime ago still verify, and the
 * JWKS lists them, so that a rotation never invalidates a token in flight.
 */
export function createTokens(db: ContextDb, clock: Clock) {
  let cache:
    | { at: number; signer: { kid: string; key: KeyLike }; verifiers: Map<string, KeyLike>; jwks: JWK[] }
    | undefined

  const load = async () => {
    if (cache !== undefined && clock.now().getTime() - cache.at < 5_000) return cache
    const { rows } = await db.query<KeyRow>(
      `SELECT kid, private_jwk, public_jwk, created_at, retired_at FROM signing_keys
        WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
        ORDER BY created_at DESC`,
      [accessTokenTtlSeconds + 60],
    )
    let active = rows.find((r) => r.retired_at === null)
    if (active === undefined) {
      await rotate()
      return load()
    }
    const verifiers = new Map<string, KeyLike>()
    for (const r of rows) verifiers.set(r.kid, await importJWK(r.public_jwk, 'EdDSA'))
    active = active as KeyRow
    cache = {
      at: clock.now().getTime(),
      signer: { kid: active.kid, key: await importJWK(active.private_jwk, 'EdDSA') },
      verifiers,
      jwks: rows.map((r) => ({ ...r.public_jwk, kid: r.kid, alg: 'EdDSA', use: 'sig' })),
    }
    return cache
  }

  /**
   * Tokens already verified, until they expire: a signature cannot be forged, so checking it once per
   * token (not per request) is as strict, and spares an Ed25519 verification per request.
   */
  const verified = lazyCache<string, AccessClaims & { exp: number }>({ max: 100_000 })

  /** A new signing key; the previous one is retired (it verifies for one more token lifetime). */
  const rotate = async (): Promise<string> => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
    const kid = newId()
    await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['identity:signing-keys'])
      await tx.query('UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL')
      await tx.query('INSERT INTO signing_keys (kid, private_jwk, public_jwk) VALUES ($1, $2, $3)', [
        kid,
        JSON.stringify(await exportJWK(privateKey)),
        JSON.stringify(await exportJWK(publicKey)),
      ])
    })
    cache = undefined
    verified.clear()
    return kid
  }

  return {
    rotate,
    async jwks(): Promise<{ keys: JWK[] }> {
      return { keys: (await load()).jwks }
    },
    /** An access token for the user, in the session (`sid`) whose revocation ends it. */
    async issue(userId: string, sessionId: string): Promise<string> {
      const { signer } = await load()
      const now = Math.floor(clock.now().getTime() / 1000)
      return new SignJWT({ sid: sessionId })
        .setProtectedHeader({ alg: 'EdDSA', kid: signer.kid, typ: accessTokenType })
        .setSubject(userId)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt(now)
        .setExpirationTime(now + accessTokenTtlSeconds)
        .setJti(newId())
        .sign(signer.key)
    },
    /**
     * The user and the session the token was issued to; AuthenticationError for anything else. Whether
     * the session is still live is the caller's to check (it changes; the signature does not).
     */
    async verify(token: string): Promise<AccessClaims> {
      const known = verified.get(token)
      if (known !== undefined) {
        if (known.exp * 1000 > clock.now().getTime())
          return { userId: known.userId, sessionId: known.sessionId }
        verified.delete(token)
        throw new AuthenticationError('the access token is expired; sign in again or refresh it')
      }
      let { verifiers, at } = await load()
      // A key another replica made in the last seconds: read the keys again (at most once a second).
      const kid = kidOf(token)
      if (kid !== undefined && !verifiers.has(kid) && clock.now().getTime() - at > 1_000) {
        cache = undefined
        ;({ verifiers, at } = await load())
      }
      let payload: JWTPayload
      try {
        ;({ payload } = await jwtVerify(
          token,
          async (header) => {
            const key = header.kid === undefined ? undefined : verifiers.get(header.kid)
            if (key === undefined) throw new Error('unknown signing key')
            return key
          },
          {
            issuer,
            audience,
            algorithms: ['EdDSA'],
            typ: accessTokenType,
            currentDate: clock.now(),
            requiredClaims: ['sub', 'sid', 'exp', 'iat'],
          },
        ))
      } catch (error) {
        const reason = (error as { code?: string }).code === 'ERR_JWT_EXPIRED' ? 'expired' : 'invalid'
        throw new AuthenticationError(`the access token is ${reason}; sign in again or refresh it`)
      }
      // Signed with our key does not make a claim well formed (a key can leak, a bug can sign): the ids
      // go into SQL, so they must be ids.
      const { sub, sid } = payload
      if (
        typeof sub !== 'string' ||
        !uuidPattern.test(sub) ||
        typeof sid !== 'string' ||
        !uuidPattern.test(sid)
      ) {
        throw new AuthenticationError('the access token is invalid; sign in again or refresh it')
      }
      verified.set(token, { userId: sub, sessionId: sid, exp: payload.exp as number })
      return { userId: sub, sessionId: sid }
    },
  }
}
export type Tokens = ReturnType<typeof createTokens>
