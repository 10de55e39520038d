import type { DeployRequest } from '@rxt/platform-sdk'
import { Annotation } from '@rxt/platform-sdk'
import type { KubeObject } from './render/index.ts'

type Template = { metadata?: { annotations?: Record<string, string> } }

/**
 * The pod templates a workload's history keeps: a Deployment's ReplicaSets (`spec.template`), a
 * StatefulSet's ControllerRevisions (`data.spec.template`).
 */
export const templatesOf = (history: readonly KubeObject[]): Template[] =>
  history
    .map((o) =>
      o.kind === 'ControllerRevision'
        ? (o as { data?: { spec?: { template?: Template } } }).data?.spec?.template
        : (o as { spec?: { template?: Template } }).spec?.template,
    )
    .filter((t): t is Template => t !== undefined)

/**
 * The deploy request (without its key) that revision `revision` ran, as its pod template kept it;
 * undefined when no template of that revision is left, or it kept none.
 */
export function requestAt(
  history: readonly KubeObject[],
  revision: number,
): Omit<DeployRequest, 'key'> | undefined {
  const template = templatesOf(history).find(
    (t) => t.metadata?.annotations?.[Annotation.revision] === String(revision),
  )
  const stored = template?.metadata?.annotations?.[Annotation.request]
  return stored === undefined ? undefined : (JSON.parse(stored) as Omit<DeployRequest, 'key'>)
}
