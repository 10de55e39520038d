// Following a deployment: GET /v1/deployments/:id/events (Server-Sent Events) until `end`, resumed with
// Last-Event-ID when the connection drops; each history entry handed to the caller as it arrives.
import { ApiError, type Client } from './client.ts'
import { CliError, ExitCode } from './exit-codes.ts'
import { createSseParser } from './sse.ts'

/** A history entry of a deployment's saga, as the stream sends it (the step by name). */
export interface DeploymentEvent {
  readonly seq: number
  readonly at: string
  readonly kind: string
  readonly step?: string
  readonly attempt?: number
  readonly phase?: 'forward' | 'compensate'
  readonly code?: string
  readonly reason?: string
  readonly delayMs?: number
  readonly [key: string]: unknown
}

export interface FollowOptions {
  /**
   * How many times in a row the stream may fail to open before giving up. A stream that opened (200)
   * and then ended or dropped does not count: a deploy that is quiet for minutes is still followed.
   */
  readonly reconnects?: number
  readonly retryDelayMs?: (attempt: number) => number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Follows the stream to its end: resolves with the final status `end` names. */
export async function followDeployment(
  client: Client,
  id: string,
  onEvent: (event: DeploymentEvent) => void,
  options: FollowOptions = {},
): Promise<{ status: string }> {
  const reconnects = options.reconnects ?? 8
  const delay = options.retryDelayMs ?? ((attempt) => Math.min(250 * 2 ** attempt, 4000))
  let lastId: string | undefined
  let failures = 0
  for (;;) {
    let lastError: unknown
    let opened = false
    try {
      const response = await client.open(`/v1/deployments/${id}/events`, {
        accept: 'text/event-stream',
        ...(lastId === undefined ? {} : { 'last-event-id': lastId }),
      })
      opened = true
      failures = 0
      const parser = createSseParser()
      const decoder = new TextDecoder()
      if (response.body === null) throw new Error('the event stream has no body')
      for await (const chunk of response.body) {
        for (const message of parser.feed(decoder.decode(chunk, { stream: true }))) {
          if (message.event === 'end') return JSON.parse(message.data) as { status: string }
          lastId = message.id ?? lastId
          onEvent(JSON.parse(message.data) as DeploymentEvent)
        }
      }
    } catch (error) {
      // What the server refused (the deployment is not there, not allowed) is not a dropped connection.
      if (error instanceof ApiError && error.status < 500) throw error
      lastError = error
    }
    if (!opened) failures++
    if (failures > reconnects)
      throw new CliError(
        `the event stream of deployment ${id} could not be opened ${failures} times in a row`,
        ExitCode.unavailable,
        [
          `${lastError instanceof Error ? lastError.message : 'it ended before its end event'}`,
          `its status: rxt status ${id}`,
        ],
      )
    await sleep(delay(failures))
  }
}
