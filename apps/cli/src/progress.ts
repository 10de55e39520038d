// How a deployment's progress is shown: each step started, succeeded, failed, retried and undone, as a
// spinner on a terminal (ora) and as plain lines otherwise (CI logs, pipes).
import type { DeploymentEvent } from './follow.ts'

/** The plain line of an event; undefined for an entry nobody needs to read. */
export function eventLine(event: DeploymentEvent): string | undefined {
  const step = event.step ?? '?'
  switch (event.kind) {
    case 'started':
      return 'started'
    case 'step-started':
      return `${step}: started${(event.attempt ?? 1) > 1 ? ` (attempt ${event.attempt})` : ''}`
    case 'step-succeeded':
      return `${step}: succeeded`
    case 'step-failed':
      return event.phase === 'compensate'
        ? `${step}: undo failed: ${event.reason ?? event.code ?? 'no reason given'}`
        : `${step}: failed: ${event.reason ?? 'no reason given'}${event.code === undefined ? '' : ` (${event.code})`}`
    case 'step-timed-out':
      return `${step}: timed out${event.phase === 'compensate' ? ' while undoing it' : ''}`
    case 'retry-scheduled':
      return `${step}: retrying in ${Math.round((event.delayMs ?? 0) / 100) / 10}s (attempt ${event.attempt})`
    case 'cancel-requested':
      return 'cancel requested'
    case 'compensation-started':
      return 'compensating: undoing what was done, last first'
    case 'compensation-step-started':
      return `${step}: undoing`
    case 'step-compensated':
      return `${step}: undone`
    case 'compensation-failed':
      return `${step}: undo failed: ${event.reason ?? 'no reason given'} (a person must undo it)`
    case 'not-undone':
      return `${step}: not undone (irreversible)`
    case 'succeeded':
      return 'succeeded'
    case 'failed':
      return 'failed'
    case 'cancelled':
      return 'cancelled'
    default:
      return undefined
  }
}

export interface ProgressReporter {
  event(event: DeploymentEvent): void
  stop(): void
}

/** Plain lines, one per event, to `write` (standard output without a TTY). */
export function createPlainReporter(write: (line: string) => void): ProgressReporter {
  return {
    event(event) {
      const line = eventLine(event)
      if (line !== undefined) write(line)
    },
    stop() {},
  }
}

/** An ora spinner per step on a terminal; the rest as lines between them. */
export async function createSpinnerReporter(): Promise<ProgressReporter> {
  const { default: ora } = await import('ora')
  const spinner = ora({ stream: process.stdout })
  return {
    event(event) {
      const step = event.step ?? '?'
      const line = eventLine(event)
      switch (event.kind) {
        case 'step-started':
        case 'compensation-step-started':
        case 'retry-scheduled':
          spinner.start(line)
          return
        case 'step-succeeded':
          spinner.succeed(step)
          return
        case 'step-compensated':
          spinner.warn(line)
          return
        case 'step-failed':
        case 'step-timed-out':
        case 'compensation-failed':
          spinner.fail(line)
          return
        default:
          if (line === undefined || ['started', 'succeeded', 'failed', 'cancelled'].includes(event.kind))
            return
          if (spinner.isSpinning) spinner.stopAndPersist({ symbol: '-', text: line })
          else process.stdout.write(`- ${line}\n`)
      }
    },
    stop() {
      if (spinner.isSpinning) spinner.stop()
    },
  }
}
