/**
 * Extension points: one context (or package) declares a point, others contribute values to it, and
 * the point's owner reads every contribution — how an adapter gives the router its renderer without
 * the router importing the adapter. Contributions are plain code (pure functions, defaults), so every
 * process has every contribution of its build, whichever contexts it runs.
 */

/** A named point values of type T are contributed to. */
export interface ExtensionPoint<T> {
  readonly id: string
  /** Carries T for the type checker only. */
  readonly type?: (value: T) => void
}

export const createExtensionPoint = <T>(id: string): ExtensionPoint<T> => ({ id })

/** One value contributed to one point. */
export interface Extension<T = unknown> {
  readonly point: ExtensionPoint<T>
  readonly value: T
}

/** A contribution to a point; a context lists them in its definition's `extensions`. */
export const extension = <T>(point: ExtensionPoint<T>, value: T): Extension<T> => ({ point, value })

/** What has been contributed to a point, in the order contexts are listed. */
export type Extensions = <T>(point: ExtensionPoint<T>) => readonly T[]

export function extensionsOf(all: readonly Extension<unknown>[]): Extensions {
  return <T>(point: ExtensionPoint<T>) => all.filter((e) => e.point.id === point.id).map((e) => e.value as T)
}
