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
    // Synchronous writes to standard output: a line is out before the next statement runs (nothing is
    // lost when the process dies), and no flush at exit, which would spin forever on a broken pipe.
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  )
}
