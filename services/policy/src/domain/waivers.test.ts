import { describe, expect, it } from 'vitest'
import type { Finding } from './findings.ts'
import { applyWaivers } from './waivers.ts'

const finding = (policy: string): Finding => ({
  policy,
  rule: 'r',
  severity: 'high',
  message: `${policy} says no`,
})
const now = new Date('2026-12-02T12:00:00Z')
const at = (minutes: number) => new Date(now.getTime() + minutes * 60_000)

describe('break-glass waivers', () => {
  it('waives the named policies only, citing the override, and leaves the rest refusing', () => {
    const { waived, remaining } = applyWaivers(
      [finding('rxt.compliance.pci'), finding('rxt.admission.tls')],
      [{ id: 'ov-1', policies: ['rxt.compliance.pci'], expiresAt: at(30) }],
      now,
    )
    expect(waived).toEqual([{ ...finding('rxt.compliance.pci'), overrideId: 'ov-1' }])
    expect(remaining).toEqual([finding('rxt.admission.tls')])
  })

  it('ignores an expired override', () => {
    const { waived, remaining } = applyWaivers(
      [finding('rxt.compliance.pci')],
      [{ id: 'ov-old', policies: ['rxt.compliance.pci'], expiresAt: at(0) }],
      now,
    )
    expect(waived).toEqual([])
    expect(remaining).toHaveLength(1)
  })

  it('cites the override that expires first when two name the policy', () => {
    const { waived } = applyWaivers(
      [finding('rxt.quota.plan')],
      [
        { id: 'ov-late', policies: ['rxt.quota.plan'], expiresAt: at(600) },
        { id: 'ov-soon', policies: ['rxt.quota.plan', 'rxt.admission.tls'], expiresAt: at(5) },
      ],
      now,
    )
    expect(waived.map((w) => w.overrideId)).toEqual(['ov-soon'])
  })
})
