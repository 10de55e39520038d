import { write, writeSync } from 'node:fs'
import { type DestinationStream, type Logger, pino } from 'pino'
import type { LogLevel } from './config.ts'
import { currentScope } from './scope.ts'

export type { Logger } from 'pino'

/**
 * Paths never written to the log. Wildcards cover one level: add a path here rather than relying on
 * callers to remember. Values are replaced, keys kept, so a reader sees that a secret was there.
 */
export const redactPaths: readonly string[] = [
  'password',
  'secret',
  'token',
  'apiKey',
  'authorization',
  'cookie',
  'DATABASE_URL',
  '*.password',
  '*.secret',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.apiKey',
  '*.privateKey',
  '*.clientSecret',
  '*.authorization',
  '*.cookie',
  '*.DATABASE_URL',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.headers["x-hub-signature-256"]',
  'res.headers["set-cookie"]',
]

export interface LoggerOptions {
  readonly level: LogLevel
  /** Where lines go; standard output when not given. */
  readonly destination?: DestinationStream
  readonly base?: Record<string, unknown>
}

/**
 * A pino JSON logger. Every line carries the correlationId and tenantId of the current scope
 * (see scope.ts); contexts get a child with `context` bound.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: options.base ?? null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...redactPaths], censor: '[redacted]' },
      mixin: () => {
        const scope = currentScope()
        return scope === undefined ? {} : { ...scope }
      },
    },
    options.destination ?? standardOutput(),
  )
}

let stdout: DestinationStream | undefined

/**
 * Standard output, one writer for the whole process, written without blocking the event loop: a line
 * goes out at once when no write is in flight, and the lines that arrive during a write go out
 * together in the next one (under load, one system call carries many lines rather than one each).
 * Nothing waits for a timer, so an idle process has written everything within a write's time.
 *
 * What is pending is written synchronously when the process exits (a crash included); a reader that
 * has stopped reading gets one second, a closed one (EPIPE) none, and the exit goes on. A process
 * killed outright (SIGKILL, the OOM killer) loses the lines in memory, under load the last few
 * milliseconds: the trade ADR 0008 makes. Audit records and events are transactional and never depend
 * on a log line. (pino's own SonicBoom retries a failed synchronous write forever, whatever the error,
 * which turns a closed pipe into an exit that never ends.)
 */
function standardOutput(): DestinationStream {
  if (stdout !== undefined) return stdout
  const writer = createAsyncWriter(1)
  process.once('exit', () => writer.flushSync(1_000))
  stdout = writer
  return writer
}

/** Pending output past which lines are dropped: a stalled reader costs memory, up to this much. */
const maxPendingChars = 32 * 1024 * 1024

function createAsyncWriter(fd: number) {
  let pending: string[] = []
  let pendingChars = 0
  let inFlight = false
  let closed = false
  let dropped = 0
  /** A buffer waiting to be written again after EAGAIN: no write of it is in progress. */
  let waiting: Buffer | undefined

  const take = (): Buffer => {
    const lines =
      dropped > 0
        ? [...pending, `${JSON.stringify({ level: 'warn', msg: 'log lines dropped', dropped })}\n`]
        : pending
    dropped = 0
    pending = []
    pendingChars = 0
    return Buffer.from(lines.join(''))
  }
  const send = (buffer: Buffer): void => {
    inFlight = true
    write(fd, buffer, 0, buffer.length, null, (error, written) => {
      if (error !== null) {
        if (error.code === 'EAGAIN') {
          waiting = buffer
          setTimeout(() => {
            if (waiting !== buffer) return
            waiting = undefined
            send(buffer)
          }, 10).unref()
          return
        }
        // EPIPE (the reader is gone) or a descriptor that is no more: nobody is left to read a line.
        closed = true
        inFlight = false
        pending = []
        pendingChars = 0
        return
      }
      if (written < buffer.length) return send(buffer.subarray(written))
      inFlight = false
      if (pending.length > 0) send(take())
    })
  }

  return {
    write(line: string): void {
      if (closed) return
      if (pendingChars + line.length > maxPendingChars) {
        dropped++
        return
      }
      pending.push(line)
      pendingChars += line.length
      if (!inFlight) send(take())
    },
    /** Writes what is pending now, retrying a full pipe for up to `withinMs`. */
    flushSync(withinMs: number): void {
      if (closed) return
      // A buffer waiting for its retry goes first; one being written by the thread pool is left to it.
      const first = waiting
      waiting = undefined
      if (first === undefined && pending.length === 0) return
      let buffer = first === undefined ? take() : Buffer.concat([first, take()])
      const deadline = Date.now() + withinMs
      while (buffer.length > 0) {
        try {
          buffer = buffer.subarray(writeSync(fd, buffer))
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) return
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
        }
      }
    },
  }
}
