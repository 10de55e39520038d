import { describe, expect, it } from 'vitest'
import { ApiError } from './client.ts'
import { CliError, ExitCode } from './exit-codes.ts'
import { errorDocument, messageLine } from './report.ts'

describe('how a failure reads', () => {
  const refused = new ApiError(409, {
    status: 409,
    detail: 'a deployment is running',
    code: 'conflict',
    requestId: 'req-7',
  })

  it("names the server's problem code and request id on the message line", () => {
    expect(messageLine(refused)).toBe('rxt: a deployment is running (conflict, request req-7)')
    expect(messageLine(new CliError('not signed in', ExitCode.auth))).toBe('rxt: not signed in')
  })

  it('keeps the problem whole in the --json document', () => {
    expect(errorDocument(refused)).toEqual({
      error: {
        message: 'a deployment is running',
        exitCode: ExitCode.failed,
        details: [],
        problem: { status: 409, detail: 'a deployment is running', code: 'conflict', requestId: 'req-7' },
      },
    })
    expect(errorDocument(new CliError('boom', ExitCode.failed))).toEqual({
      error: { message: 'boom', exitCode: 1, details: [] },
    })
  })
})
