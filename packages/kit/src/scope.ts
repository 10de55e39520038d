import { AsyncLocalStorage } from 'node:async_hooks'

/**
 * What is known about the work in progress: the request or message that caused it and the tenant it
 * acts for. The HTTP layer opens a scope per request; log lines, and later published events, read it.
 */
export interface Scope {
  readonly correlationId?: string
  readonly tenantId?: string
  /** Who asked for the work: `user:<id>`, `api-key:<id>` or `service:<name>` (set by the HTTP guard). */
  readonly actor?: string
}

const storage = new AsyncLocalStorage<Scope>()

export const currentScope = (): Scope | undefined => storage.getStore()

/** Runs `fn` with `patch` added to the current scope. */
export function withScope<T>(patch: Scope, fn: () => T): T {
  const outer = storage.getStore()
  return storage.run(outer === undefined ? patch : { ...outer, ...patch }, fn)
}
