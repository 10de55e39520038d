// rxt deploy, rollback, promote, status, deployments, cancel: the deployments of an environment, each
// new one followed live to its end (unless --detach), exiting non-zero with the failed step, its reason
// and what was undone.
import type { RunContext } from '../context.ts'
import { CliError, ExitCode } from '../exit-codes.ts'
import { followDeployment } from '../follow.ts'
import { createPlainReporter, createSpinnerReporter } from '../progress.ts'
import { type EnvironmentRef, isId, resolveEnvironment, resolveProject } from '../resolve.ts'

/** A deployment as GET /v1/deployments/:id answers it (the fields `rxt` reads). */
export interface Deployment {
  readonly id: string
  readonly kind: string
  readonly trigger: string
  readonly status: string
  readonly envId: string
  readonly environment: string
  readonly artifactRef: string
  readonly manifestDigest: string
  readonly current: boolean
  readonly provider: string | null
  readonly urls: readonly string[]
  readonly failure: { readonly step: string | null; readonly code: string; readonly reason: string } | null
  readonly compensationFailures: readonly {
    readonly step: string
    readonly code: string
    readonly reason: string
  }[]
  readonly steps?: readonly {
    readonly name: string
    readonly status: string
    readonly attempts: number
    readonly reason: string | null
  }[]
  readonly createdAt: string
}

export interface DeployOptions {
  readonly project?: string
  readonly env?: string
  readonly image?: string
  readonly commit?: string
  readonly idempotencyKey?: string
  readonly detach?: boolean
}

/** The request `rxt deploy` sends for its options (the body of POST /v1/environments/:envId/deployments). */
export function deployRequest(
  envId: string,
  options: Pick<DeployOptions, 'image' | 'commit' | 'idempotencyKey'> & { readonly image: string },
): { path: string; body: { artifactRef: string; commitSha?: string }; headers: Record<string, string> } {
  return {
    path: `/v1/environments/${envId}/deployments`,
    body: {
      artifactRef: options.image,
      ...(options.commit === undefined ? {} : { commitSha: options.commit }),
    },
    headers: options.idempotencyKey === undefined ? {} : { 'idempotency-key': options.idempotencyKey },
  }
}

/** Why a failed deployment failed, and what was undone, as the lines `rxt` prints on standard error. */
export function failureReport(deployment: Deployment): { message: string; details: string[] } {
  const failure = deployment.failure
  const message =
    failure === null
      ? `deployment ${deployment.id} ended ${deployment.status}`
      : failure.step === null
        ? `deployment ${deployment.id} ${deployment.status}: ${failure.reason} (${failure.code})`
        : `deployment ${deployment.id} failed at step ${failure.step}: ${failure.reason} (${failure.code})`
  const steps = deployment.steps ?? []
  // Compensations run last first: the undone steps in that order.
  const undone = steps
    .filter((s) => s.status === 'compensated')
    .map((s) => s.name)
    .reverse()
  const notUndone = steps.filter((s) => s.status === 'not-undone').map((s) => s.name)
  const details = [
    undone.length === 0 ? 'compensation: nothing to undo' : `compensation: undone ${undone.join(', ')}`,
    ...(notUndone.length === 0 ? [] : [`not undone (irreversible): ${notUndone.join(', ')}`]),
    ...deployment.compensationFailures.map(
      (f) => `compensation failed at ${f.step}: ${f.reason} (${f.code}): a person must undo it`,
    ),
  ]
  return { message, details }
}

async function environmentOf(
  ctx: RunContext,
  options: { project?: string; env?: string },
): Promise<EnvironmentRef> {
  const project = await resolveProject(ctx.client, options.project ?? ctx.settings.project)
  return resolveEnvironment(ctx.client, project, options.env)
}

const getDeployment = (ctx: RunContext, id: string) =>
  ctx.client.request<Deployment>('GET', `/v1/deployments/${id}`)

const listDeployments = async (ctx: RunContext, envId: string, limit = 20) =>
  (
    await ctx.client.request<{ items: Deployment[] }>('GET', `/v1/environments/${envId}/deployments`, {
      query: { limit },
    })
  ).items

/**
 * A deployment just made: with --detach its id (or document); otherwise followed to its end, the final
 * deployment printed (as one JSON document with --json), non-zero when it did not end ready.
 */
async function follow(ctx: RunContext, created: Deployment, detach: boolean | undefined): Promise<void> {
  const { out } = ctx
  if (detach === true) {
    if (out.json) out.document(created)
    else out.line(created.id)
    return
  }
  const heading = `deployment ${created.id} of ${created.artifactRef} to ${created.environment}`
  if (out.json) out.note(heading)
  else out.line(heading)
  // With --json standard output keeps the one document: the progress goes to standard error.
  const reporter = out.json
    ? createPlainReporter((line) => out.note(line))
    : out.tty
      ? await createSpinnerReporter()
      : createPlainReporter((line) => out.line(line))
  // Ctrl-C stops following, not the deployment: say how to find it again (or to cancel it).
  const interrupted = () => {
    reporter?.stop()
    out.note(
      `stopped following: deployment ${created.id} goes on (rxt status ${created.id}; rxt cancel ${created.id})`,
    )
    process.exit(130)
  }
  process.once('SIGINT', interrupted)
  try {
    await followDeployment(ctx.client, created.id, (event) => reporter?.event(event))
  } finally {
    process.off('SIGINT', interrupted)
    reporter?.stop()
  }
  const final = await getDeployment(ctx, created.id)
  if (out.json) out.document(final)
  if (final.status === 'ready') {
    if (!out.json) out.line(final.urls.length === 0 ? 'ready' : `ready: ${final.urls.join(' ')}`)
    return
  }
  const report = failureReport(final)
  throw new CliError(report.message, ExitCode.failed, report.details, out.json)
}

export async function deploy(ctx: RunContext, _args: string[], options: DeployOptions): Promise<void> {
  const env = await environmentOf(ctx, options)
  let image = options.image
  if (image === undefined) {
    // No image: deploy again what the environment runs.
    const running = (await listDeployments(ctx, env.id)).find((d) => d.current)
    if (running === undefined)
      throw new CliError(`${env.name} runs nothing yet: name the image with --image`, ExitCode.usage)
    image = running.artifactRef
  }
  const request = deployRequest(env.id, { ...options, image })
  const created = await ctx.client.request<Deployment>('POST', request.path, {
    body: request.body,
    headers: request.headers,
  })
  await follow(ctx, created, options.detach)
}

export async function rollback(
  ctx: RunContext,
  [id]: string[],
  options: { project?: string; env?: string; detach?: boolean },
): Promise<void> {
  let target = id
  if (target === undefined) {
    // The newest deployment before the current one that was ready once.
    const env = await environmentOf(ctx, options)
    const items = await listDeployments(ctx, env.id, 100)
    const current = items.findIndex((d) => d.current)
    const earlier = items
      .slice(current + 1)
      .find((d) => d.kind === 'deploy' && (d as { succeededAt?: string | null }).succeededAt != null)
    if (earlier === undefined)
      throw new CliError(
        `${env.name} has no earlier deployment that was ready to roll back to`,
        ExitCode.notFound,
      )
    target = earlier.id
  }
  const created = await ctx.client.request<Deployment>('POST', `/v1/deployments/${target}/rollback`)
  await follow(ctx, created, options.detach)
}

export async function promote(
  ctx: RunContext,
  _args: string[],
  options: { project?: string; from: string; to: string; detach?: boolean },
): Promise<void> {
  const project = await resolveProject(ctx.client, options.project ?? ctx.settings.project)
  const [from, to] = await Promise.all([
    resolveEnvironment(ctx.client, project, options.from),
    resolveEnvironment(ctx.client, project, options.to),
  ])
  const created = await ctx.client.request<Deployment>('POST', `/v1/environments/${to.id}/promote`, {
    body: { from: from.id },
  })
  await follow(ctx, created, options.detach)
}

export async function cancel(ctx: RunContext, [id]: string[]): Promise<void> {
  const cancelled = await ctx.client.request<Deployment>('POST', `/v1/deployments/${id}/cancel`)
  if (ctx.out.json) ctx.out.document(cancelled)
  else ctx.out.line(`deployment ${cancelled.id}: ${cancelled.status}`)
}

export async function deployments(
  ctx: RunContext,
  _args: string[],
  options: { project?: string; env?: string; limit?: number },
): Promise<void> {
  const env = await environmentOf(ctx, options)
  const items = await listDeployments(ctx, env.id, options.limit ?? 20)
  if (ctx.out.json) return ctx.out.document({ items })
  if (items.length === 0) return ctx.out.line(`${env.name} has no deployments`)
  ctx.out.table([
    ['ID', 'STATUS', 'TRIGGER', 'CURRENT', 'ARTIFACT', 'CREATED'],
    ...items.map((d) => [d.id, d.status, d.trigger, d.current ? '*' : '', d.artifactRef, d.createdAt]),
  ])
}

export async function status(
  ctx: RunContext,
  [id]: string[],
  options: { project?: string; env?: string },
): Promise<void> {
  let deploymentId = id
  if (deploymentId === undefined || !isId(deploymentId)) {
    const env = await environmentOf(ctx, { ...options, env: options.env ?? deploymentId })
    const [latest] = await listDeployments(ctx, env.id, 1)
    if (latest === undefined) throw new CliError(`${env.name} has no deployments`, ExitCode.notFound)
    deploymentId = latest.id
  }
  const deployment = await getDeployment(ctx, deploymentId)
  if (ctx.out.json) return ctx.out.document(deployment)
  const { out } = ctx
  out.line(`deployment ${deployment.id}`)
  out.line(`  environment  ${deployment.environment}`)
  out.line(`  status       ${deployment.status}${deployment.current ? ' (current)' : ''}`)
  out.line(`  trigger      ${deployment.trigger}`)
  out.line(`  artifact     ${deployment.artifactRef}`)
  out.line(`  provider     ${deployment.provider ?? '-'}`)
  out.line(`  urls         ${deployment.urls.join(' ') || '-'}`)
  if (deployment.failure !== null) {
    const report = failureReport(deployment)
    out.line(`  failure      ${report.message}`)
    for (const line of report.details) out.line(`               ${line}`)
  }
  out.line('  steps')
  for (const step of deployment.steps ?? [])
    out.line(`    ${step.name.padEnd(10)} ${step.status}${step.reason === null ? '' : `: ${step.reason}`}`)
}
