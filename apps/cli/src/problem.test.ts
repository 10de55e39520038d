import { describe, expect, it } from 'vitest'
import { fieldLine, problemDetails, problemMessage } from './problem.ts'

describe('a problem document on standard error', () => {
  it("names a deploy.yaml's problems file:line:column: path: message, in the file's order", () => {
    const problem = {
      detail: 'the manifest is not valid: 3 problems',
      errors: [
        { path: '/spec/replicas', message: 'must be integer', line: 7, column: 13 },
        { path: '/spec', message: 'must have required property image' },
        { path: '/spec/ports/0/port', message: 'must be <= 65535', line: 6, column: 24 },
      ],
    }
    expect(problemDetails(problem, 'deploy.yaml')).toEqual([
      'deploy.yaml:6:24: /spec/ports/0/port: must be <= 65535',
      'deploy.yaml:7:13: /spec/replicas: must be integer',
      'deploy.yaml: /spec: must have required property image',
    ])
  })

  it("names a request's fields by path when no file is meant", () => {
    expect(fieldLine({ path: '/slug', message: 'must match pattern' })).toBe('/slug: must match pattern')
    expect(fieldLine({})).toBe('is invalid')
  })

  it('says the detail, else the title, else the status', () => {
    expect(problemMessage({ detail: 'no project x', title: 'Not Found' }, 404)).toBe('no project x')
    expect(problemMessage({ title: 'Not Found' }, 404)).toBe('Not Found')
    expect(problemMessage({}, 502)).toBe('the server answered 502')
  })
})
