import { InputError } from '@rxt/kit'
import { describe, expect, it } from 'vitest'
import { bucketOf, parseRange, parseStep } from './range.ts'

const problem = (query: { from?: string; to?: string; step?: string }) => {
  try {
    parseRange(query)
  } catch (error) {
    expect(error).toBeInstanceOf(InputError)
    return { message: (error as InputError).message, violations: (error as InputError).violations }
  }
  throw new Error('the range was accepted')
}

describe('a metrics range', () => {
  it.each([
    ['300', 300],
    ['30s', 30],
    ['5m', 300],
    ['1h', 3_600],
    ['1d', 86_400],
    ['0', undefined],
    ['5w', undefined],
    ['-5m', undefined],
    ['1.5h', undefined],
  ])('step %s is %s seconds', (text, seconds) => {
    expect(parseStep(text)).toBe(seconds)
  })

  it('takes a range and its step as given', () => {
    expect(parseRange({ from: '2026-01-01T00:00:00Z', to: '2026-01-01T06:00:00Z', step: '5m' })).toEqual({
      from: new Date('2026-01-01T00:00:00Z'),
      to: new Date('2026-01-01T06:00:00Z'),
      stepSeconds: 300,
    })
  })

  it.each([
    ['1 hour', '2026-01-01T01:00:00Z', 60],
    ['a day', '2026-01-02T00:00:00Z', 300],
    ['a week', '2026-01-08T00:00:00Z', 3_600],
    ['31 days', '2026-02-01T00:00:00Z', 21_600],
  ])('gives %s the finest default step of at most 300 buckets', (_span, to, step) => {
    expect(parseRange({ from: '2026-01-01T00:00:00Z', to }).stepSeconds).toBe(step)
  })

  it.each([
    [{ from: '2026-01-01T01:00:00Z', to: '2026-01-01T00:00:00Z' }, '/querystring/to', 'must be before'],
    [{ from: '2026-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, '/querystring/to', 'must be before'],
    [{ from: '2025-11-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, '/querystring/from', 'at most 31'],
    [
      { from: '2026-01-01T00:00:00Z', to: '2026-01-01T01:00:00Z', step: '30s' },
      '/querystring/step',
      'between 60',
    ],
    [
      { from: '2026-01-01T00:00:00Z', to: '2026-01-03T00:00:00Z', step: '2d' },
      '/querystring/step',
      'between 60',
    ],
    [
      { from: '2026-01-01T00:00:00Z', to: '2026-01-03T00:00:00Z', step: '1m' },
      '/querystring/step',
      'at most 1500',
    ],
    [
      { from: '2026-01-01T00:00:00Z', to: '2026-01-01T01:00:00Z', step: 'soon' },
      '/querystring/step',
      'not a duration',
    ],
    [{ from: 'yesterday', to: '2026-01-01T01:00:00Z' }, '/querystring/from', 'RFC 3339'],
    [{ to: '2026-01-01T01:00:00Z' }, '/querystring/from', 'names its range'],
  ])('refuses %j at %s, saying %s', (query, path, words) => {
    const { message, violations } = problem(query)
    expect(message).toContain(words)
    expect(violations.map((v) => v.path)).toEqual([path])
  })

  it('aligns buckets to multiples of the step since the epoch', () => {
    expect(bucketOf(new Date('2026-01-01T10:07:59Z'), 300).toISOString()).toBe('2026-01-01T10:05:00.000Z')
    expect(bucketOf(new Date('2026-01-01T10:07:59Z'), 3_600).toISOString()).toBe('2026-01-01T10:00:00.000Z')
  })
})
