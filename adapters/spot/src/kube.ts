import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type * as KubeClient from '@kubernetes/client-node'
import type { ApiException } from '@kubernetes/client-node'
import { FailureCode, failure, type PlatformFailure } from '@rxt/platform-sdk'
import type { KubeObject } from './render/index.ts'

/**
 * The client library, loaded when the first client is made: it is the largest module of the build,
 * and a process whose Spot context has no cluster (SPOT_KUBECONFIG unset) never needs it.
 */
let library: typeof KubeClient | undefined
const kubeClient = (): typeof KubeClient => {
  library ??= createRequire(import.meta.url)('@kubernetes/client-node') as typeof KubeClient
  return library
}
/** An error of the client library's (none exists before it is loaded). */
const isApiException = (error: unknown): error is ApiException<unknown> =>
  library !== undefined && error instanceof library.ApiException

/**
 * The field managers of what the adapter applies: a deploy (and a rollback, which deploys an earlier
 * request) owns everything it renders; a scale owns the replica count (an apply drops what its manager
 * owned and left out).
 */
export const FieldManager = {
  deploy: 'rxt-deploy',
  scale: 'rxt-deploy-scale',
  rollback: 'rxt-deploy-rollback',
} as const

export interface ObjectRef {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly namespace?: string
}

/** What the adapter asks of the Kubernetes API, through @kubernetes/client-node, counted. */
export interface Kube {
  /** Server-side apply with a field manager (forcing: the adapter owns what it applies). */
  apply(object: KubeObject, options?: { fieldManager?: string; dryRun?: boolean }): Promise<KubeObject>
  /** The object, or undefined when it does not exist. */
  read(ref: ObjectRef): Promise<KubeObject | undefined>
  list(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    labelSelector?: string,
  ): Promise<KubeObject[]>
  /** Deletes the object (its dependents in the background); false when there was none. */
  remove(ref: ObjectRef): Promise<boolean>
  /**
   * Waits until `done` holds for one object (undefined: it does not exist), listing it and then
   * watching it from the list's version, so no change between is missed; rejects on timeout.
   */
  watchUntil(
    ref: ObjectRef & { readonly path: string },
    done: (object: KubeObject | undefined) => boolean,
    timeoutMs: number,
  ): Promise<void>
  /** A token for a ServiceAccount from the TokenRequest API. */
  requestToken(
    namespace: string,
    serviceAccount: string,
    seconds: number,
  ): Promise<{ token: string; expiresAt: string }>
  /** The API server and its CA, for kubeconfigs given to others. */
  readonly cluster: { server: string; caData: string | undefined }
  /** API requests made so far (discovery, cached per API version, not counted). */
  readonly requests: () => number
  /** Ends every wait (each rejects): the process is stopping. */
  close(): void
}

/** An object in the client library's model of its kind (its JSON read as the library reads YAML). */
const modelOf = (object: KubeObject): KubeObject => kubeClient().loadYaml<KubeObject>(JSON.stringify(object))

/** A client of the cluster the kubeconfig names (its current context). */
export function createKube(kubeconfig: string): Kube {
  const { CoreV1Api, KubeConfig, KubernetesObjectApi, PatchStrategy, Watch, ApiException } = kubeClient()
  const kc = new KubeConfig()
  if (kubeconfig.includes('\n')) kc.loadFromString(kubeconfig)
  else kc.loadFromFile(kubeconfig)
  const objects = KubernetesObjectApi.makeApiClient(kc)
  const core = kc.makeApiClient(CoreV1Api)
  const watcher = new Watch(kc)
  const current = kc.getCurrentCluster()
  if (current === null) throw new Error('the kubeconfig names no current cluster')
  let requests = 0
  const waits = new Set<(error: Error) => void>()
  /**
   * A request, counted; an API server shedding load (429, or 503 with Retry-After) is asked again
   * after the wait it names, as client-go does, up to 5 times.
   */
  const counted = async <T>(call: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      requests++
      try {
        return await call()
      } catch (error) {
        const status = statusOf(error)
        const retryAfter = Number((error as ApiException<unknown>).headers?.['retry-after'] ?? 1)
        if (attempt >= 5 || !(status === 429 || (status === 503 && retryAfter > 0))) throw error
        await new Promise((resolve) => setTimeout(resolve, Math.min(10, Math.max(1, retryAfter)) * 1000))
      }
    }
  }
  const header = (ref: ObjectRef) => ({
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: { name: ref.name, ...(ref.namespace === undefined ? {} : { namespace: ref.namespace }) },
  })
  const caData =
    current.caData ??
    (current.caFile === undefined ? undefined : readFileSync(current.caFile).toString('base64'))
  return {
    apply: (object, options = {}) =>
      counted(() =>
        objects.patch(
          // Sent as the library's model of the kind: it serializes a plain object by the model's own
          // property names, and would drop every field whose JSON name differs (LimitRange `default`,
          // NetworkPolicy `from`), so the object is read into the model first, as loadYaml does.
          modelOf(object),
          undefined,
          options.dryRun ? 'All' : undefined,
          options.fieldManager ?? FieldManager.deploy,
          true,
          PatchStrategy.ServerSideApply,
        ),
      ) as Promise<KubeObject>,
    read: async (ref) => {
      try {
        return (await counted(() => objects.read(header(ref)))) as KubeObject
      } catch (error) {
        if (statusOf(error) === 404) return undefined
        throw error
      }
    },
    list: async (apiVersion, kind, namespace, labelSelector) =>
      (
        await counted(() =>
          objects.list(
            apiVersion,
            kind,
            namespace,
            undefined,
            undefined,
            undefined,
            undefined,
            labelSelector,
          ),
        )
      ).items.map((item) => ({ ...item, apiVersion, kind }) as KubeObject),
    remove: async (ref) => {
      try {
        await counted(() =>
          objects.delete(header(ref), undefined, undefined, undefined, undefined, 'Background'),
        )
        return true
      } catch (error) {
        if (statusOf(error) === 404) return false
        throw error
      }
    },
    watchUntil: (ref, done, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        let settled = false
        let abort: AbortController | undefined
        const finish = (error?: Error) => {
          if (settled) return
          settled = true
          waits.delete(finish)
          clearTimeout(timer)
          abort?.abort()
          if (error === undefined) resolve()
          else reject(error)
        }
        const timer = setTimeout(
          () => finish(new TimeoutError(`not done within ${Math.round(timeoutMs / 1000)} s`)),
          timeoutMs,
        )
        waits.add(finish)
        const fieldSelector = `metadata.name=${ref.name}`
        // List, then watch from the list's version: nothing that happens between is missed.
        const start = async () => {
          const listed = await counted(() =>
            objects.list(
              ref.apiVersion,
              ref.kind,
              ref.namespace,
              undefined,
              undefined,
              undefined,
              fieldSelector,
            ),
          )
          if (settled || done(listed.items[0] as KubeObject | undefined)) return finish()
          requests++
          abort = await watcher.watch(
            ref.path,
            { fieldSelector, resourceVersion: listed.metadata?.resourceVersion, allowWatchBookmarks: false },
            (type: string, object: KubeObject) => {
              if (type === 'ERROR') return
              if (done(type === 'DELETED' ? undefined : object)) finish()
            },
            (error: (Error & { statusCode?: number }) | null) => {
              if (settled) return
              // A refusal ends the wait; the server closing the watch, or a quiet spell, starts it again.
              if (error?.statusCode !== undefined && error.statusCode !== 410)
                return finish(new ApiException(error.statusCode, error.message, {}, {}))
              setTimeout(() => void start().catch(finish), error ? 250 : 0)
            },
          )
          if (settled) abort.abort()
        }
        start().catch(finish)
      }),
    requestToken: async (namespace, serviceAccount, seconds) => {
      const answer = await counted(() =>
        core.createNamespacedServiceAccountToken({
          name: serviceAccount,
          namespace,
          body: { spec: { audiences: [], expirationSeconds: seconds } },
        }),
      )
      return {
        token: answer.status?.token ?? '',
        expiresAt: new Date(answer.status?.expirationTimestamp ?? Date.now()).toISOString(),
      }
    },
    cluster: { server: current.server, caData },
    requests: () => requests,
    close: () => {
      for (const finish of [...waits]) finish(new ClosingError('the Kubernetes client is closing'))
    },
  }
}

/** The adapter gave up waiting; the platform may still finish. */
export class TimeoutError extends Error {
  override name = 'TimeoutError'
}

/** The client is closing: the process stops. */
export class ClosingError extends Error {
  override name = 'ClosingError'
}

const networkCodes =
  /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EPIPE|EHOSTUNREACH|UND_ERR_\w+)$/

/**
 * Whether an error is the platform's answer, or the way to it failing (a typed failure), rather than
 * a bug in the adapter (which throws).
 */
export function isPlatformError(error: unknown): boolean {
  if (isApiException(error) || error instanceof TimeoutError || error instanceof ClosingError) return true
  const code =
    (error as { code?: unknown; cause?: { code?: unknown } } | undefined)?.cause?.code ??
    (error as { code?: unknown })?.code
  return (
    (typeof code === 'string' && networkCodes.test(code)) ||
    (error instanceof TypeError && error.message === 'fetch failed') ||
    (error instanceof Error && error.name === 'AbortError')
  )
}

/** The HTTP status of an API error, when it is one. */
export const statusOf = (error: unknown): number | undefined =>
  isApiException(error) ? error.code : undefined

/** The API server's own message in an error (its Status), never a request or credential. */
export function messageOf(error: unknown): string {
  if (isApiException(error)) {
    const body = typeof error.body === 'string' ? safeJson(error.body) : error.body
    const message = (body as { message?: unknown } | undefined)?.message
    return typeof message === 'string' && message !== '' ? message : `HTTP ${error.code}`
  }
  return error instanceof Error ? error.message : String(error)
}
const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return { message: text.slice(0, 500) }
  }
}

/**
 * A typed failure for what the API server (or the way to it) answered. 422 and 400 are refusals of
 * what was asked (validation, admission policies), 403 a refusal too (quota, RBAC); conflicts are
 * conflicts; 429, 5xx and connection errors pass.
 */
export function failureOf(error: unknown, step: string): PlatformFailure {
  const status = statusOf(error)
  const message = `${step}: ${messageOf(error)}`.slice(0, 2000)
  if (error instanceof TimeoutError) return failure(FailureCode.timeout, message, step)
  if (status === undefined) return failure(FailureCode.unavailable, message, step)
  if (status === 404) return failure(FailureCode.notFound, message, step)
  if (status === 409) return failure(FailureCode.conflict, message, step)
  // A namespace being deleted refuses new objects for a while: that passes.
  if (status === 403 && /is being terminated/.test(message))
    return failure(FailureCode.unavailable, message, step)
  if (status === 400 || status === 403 || status === 422) return failure(FailureCode.rejected, message, step)
  if (status === 504) return failure(FailureCode.timeout, message, step)
  return failure(FailureCode.unavailable, message, step)
}
