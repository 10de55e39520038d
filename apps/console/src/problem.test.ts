import { describe, expect, it } from 'vitest'
import { ApiError, describeFieldError, fieldOf, toApiError } from './problem.ts'

describe('problem+json mapping', () => {
  it('names the form field of a violation path', () => {
    expect(fieldOf('/body/name')).toBe('name')
    expect(fieldOf('/body/ci/image')).toBe('ci.image')
    expect(fieldOf('/querystring/limit')).toBe('limit')
    expect(fieldOf('/spec/ports/0/port')).toBe('spec.ports.0.port')
    expect(fieldOf('/body/a~1b')).toBe('a/b')
  })

  it('keeps the detail, the code and every well-formed violation', () => {
    const error = toApiError(400, {
      type: 'https://rxt.dev/problems/input',
      title: 'Invalid input',
      status: 400,
      code: 'input',
      detail: 'the body is invalid: /body/slug must match pattern',
      errors: [{ path: '/body/slug', message: 'must match pattern' }, { path: 3 }, 'junk'],
    })
    expect(error).toBeInstanceOf(ApiError)
    expect(error.detail).toBe('the body is invalid: /body/slug must match pattern')
    expect(error.code).toBe('input')
    expect(error.errors).toEqual([{ path: '/body/slug', message: 'must match pattern' }])
    expect(error.fieldMessage('slug')).toBe('must match pattern')
    expect(error.fieldMessage('name')).toBeUndefined()
  })

  it('joins every message about one field', () => {
    const error = toApiError(400, {
      code: 'input',
      detail: 'the password is not accepted',
      errors: [
        { path: '/body/password', message: 'is too short' },
        { path: '/body/password', message: 'is a common one' },
      ],
    })
    expect(error.fieldMessage('password')).toBe('is too short; is a common one')
  })

  it('falls back to the title, then the status, when there is no detail', () => {
    expect(toApiError(409, { code: 'conflict', title: 'Conflict' }).detail).toBe('Conflict')
    expect(toApiError(409, { code: 'conflict' }).detail).toBe('request failed (409)')
  })

  it('answers a body that is not a problem with its status', () => {
    const error = toApiError(502, '<html>bad gateway</html>', 'Bad Gateway')
    expect(error.code).toBe('http')
    expect(error.detail).toBe('request failed: 502 Bad Gateway')
    expect(error.errors).toEqual([])
  })

  it('says where in a manifest a violation is', () => {
    expect(describeFieldError({ path: '/spec/image', message: 'is required', line: 4, column: 3 })).toBe(
      'spec.image: is required (line 4, column 3)',
    )
    expect(describeFieldError({ path: '/body/email', message: 'is taken' })).toBe('email: is taken')
  })
})
