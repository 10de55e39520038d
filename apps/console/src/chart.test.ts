import { describe, expect, it } from 'vitest'
import { axisMax, formatValue, linePath, place, rangeQuery, summarise } from './chart.ts'

describe('the metrics chart', () => {
  it('asks for the range ending at the next whole minute, with its step', () => {
    const now = Date.UTC(2026, 0, 1, 10, 30, 15)
    expect(rangeQuery('hour', now)).toEqual({
      from: '2026-01-01T09:31:00.000Z',
      to: '2026-01-01T10:31:00.000Z',
      step: '1m',
    })
    const week = rangeQuery('week', now)
    expect(Date.parse(week.to) - Date.parse(week.from)).toBe(7 * 86_400_000)
    expect(week.step).toBe('1h')
  })

  it('scales percentages to 100 and other units to a round top above the largest value', () => {
    expect(axisMax([3, 250], 'percent')).toBe(100)
    expect(axisMax([], 'bytes')).toBe(1)
    expect(axisMax([0, 0], 'bytes')).toBe(1)
    expect(axisMax([730], 'bytes')).toBe(1000)
    expect(axisMax([1000], 'bytes')).toBe(1000)
    expect(axisMax([1001], 'bytes')).toBe(2000)
    expect(axisMax([4.2e6], 'bytes')).toBe(5e6)
  })

  it('places time left to right and values bottom to top, clamped to the box', () => {
    const domain = { from: 0, to: 100, max: 100 }
    const box = { width: 200, height: 50 }
    expect(place(0, 0, domain, box)).toEqual({ x: 0, y: 50 })
    expect(place(100, 100, domain, box)).toEqual({ x: 200, y: 0 })
    expect(place(50, 50, domain, box)).toEqual({ x: 100, y: 25 })
    expect(place(-10, 150, domain, box)).toEqual({ x: 0, y: 0 })
  })

  it('draws a line through the points and breaks it where samples are missing', () => {
    const domain = { from: 0, to: 10, max: 10 }
    const box = { width: 10, height: 10 }
    const points = [
      { at: 0, value: 0 },
      { at: 1, value: 5 },
      { at: 2, value: 10 },
      { at: 8, value: 5 },
    ]
    expect(linePath(points, domain, box, 1)).toBe('M0 10 L1 5 L2 0 M8 5')
    expect(linePath([], domain, box, 1)).toBe('')
  })

  it('says the values in words', () => {
    expect(formatValue(42.25, 'percent')).toBe('42.3 %')
    expect(formatValue(999, 'bytes')).toBe('999 B')
    expect(formatValue(1_500_000, 'bytes')).toBe('1.5 MB')
    expect(summarise([], 'percent')).toBe('no samples in this range')
    expect(
      summarise(
        [
          { avg: 10, max: 20 },
          { avg: 30, max: 90 },
        ],
        'percent',
      ),
    ).toBe('latest 30.0 %, average 20.0 %, peak 90.0 %')
  })
})
