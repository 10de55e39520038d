import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadProviderManifest } from './provider-manifest.ts'

const simContainer = readFileSync(
  new URL('../../../adapters/sim/providers/sim-container.yaml', import.meta.url),
  'utf8',
)

describe('provider.yaml', () => {
  it('reads a provider with its capabilities, constraints and pricing', () => {
    const result = loadProviderManifest(simContainer)
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.value.metadata).toMatchObject({ name: 'sim-container', simulated: true })
    expect(result.value.spec.capabilities).toMatchObject({ compute: 'k8s', storage: ['pvc'], tls: true })
    expect(result.value.spec.pricing.vcpuHour).toBeGreaterThan(0)
  })

  it('says where a problem is: the path, the line and the column', () => {
    const broken = simContainer.replace('compute: k8s', 'compute: mainframe').replace('gpu: false', 'gpus: 2')
    const result = loadProviderManifest(broken)
    expect(result.ok).toBe(false)
    if (result.ok) return
    const line = (text: string) => broken.split('\n').findIndex((l) => l.includes(text)) + 1
    expect(result.violations).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: '/spec/capabilities/compute', line: line('compute: mainframe') }),
        expect.objectContaining({ path: '/spec/capabilities/gpus', line: line('gpus: 2') }),
      ]),
    )
  })

  it('refuses another apiVersion with the supported ones, and YAML that is not one document', () => {
    const other = loadProviderManifest(simContainer.replace('provider/v1', 'provider/v9'))
    expect(other.ok === false && other.violations[0]?.message).toContain('supported: rxt-deploy/provider/v1')
    const two = loadProviderManifest(`${simContainer}\n---\n${simContainer}`)
    expect(two.ok === false && two.violations[0]?.message).toContain(
      'more than one document; a provider.yaml',
    )
    const duplicate = loadProviderManifest(
      simContainer.replace('  version: 0.1.0', '  version: 0.1.0\n  version: 0.2.0'),
    )
    expect(duplicate.ok === false && duplicate.violations[0]?.message).toContain('a key twice')
  })

  it('refuses constructor, prototype and the other prototype names as unknown fields, where they are written', () => {
    const line = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1
    for (const name of ['constructor', 'prototype', 'toString', 'hasOwnProperty']) {
      const text = simContainer.replace('spec:\n', `spec:\n  ${name}: {gpu: true}\n`)
      const result = loadProviderManifest(text)
      expect(result.ok === false && result.violations).toEqual([
        { path: `/spec/${name}`, message: 'is not allowed', line: line(text, `${name}:`), column: 3 },
      ])
    }
  })

  it('refuses __proto__ where it is written, and leaves Object.prototype alone', () => {
    const text = simContainer.replace('spec:\n', 'spec:\n  __proto__: {polluted: true}\n')
    const result = loadProviderManifest(text)
    expect(result.ok === false && result.violations).toEqual([
      {
        path: '/spec/__proto__',
        message: 'is not allowed: no key in a provider.yaml may be named __proto__',
        line: text.split('\n').findIndex((l) => l.includes('__proto__')) + 1,
        column: 3,
      },
    ])
    const constructed = loadProviderManifest(
      simContainer.replace('spec:\n', 'spec:\n  constructor: {prototype: {polluted: true}}\n'),
    )
    expect(constructed.ok).toBe(false)
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
  })
})
