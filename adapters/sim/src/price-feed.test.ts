import { readFileSync } from 'node:fs'
import { loadProviderManifest } from '@rxt/platform-sdk'
import { describe, expect, it } from 'vitest'
import { simProviderFiles } from './index.ts'
import { simulatedQuote } from './price-feed.ts'

const providers = simProviderFiles.map((file) => {
  const loaded = loadProviderManifest(readFileSync(file, 'utf8'))
  if (!loaded.ok) throw new Error(`${file} is valid`)
  return loaded.value
})
const at = new Date('2026-01-01T00:00:00Z')

describe('the simulated spot price feed', () => {
  it('quotes the spot simulation at each percentile, a share of its list price, labelled simulated', () => {
    const container = providers.find((p) => p.metadata.name === 'sim-container')
    const quote = container === undefined ? undefined : simulatedQuote(container, at)
    expect(quote).toMatchObject({
      provider: 'sim-container',
      simulated: true,
      quotedAt: '2026-01-01T00:00:00.000Z',
    })
    // sim-container lists 0.02 a vCPU-hour and 0.0025 a GiB-hour; p90 is 60% of that.
    expect(quote?.points.find((p) => p.percentile === 90)).toEqual({
      percentile: 90,
      vcpuHour: 0.012,
      memoryGiBHour: 0.0015,
      preemptionRisk: 0.06,
    })
  })

  it('is the same at every call, and quotes nothing for a provider without spot capacity', () => {
    const [container, vm] = [providers[0], providers[1]]
    if (container === undefined || vm === undefined) throw new Error('two simulations')
    expect(simulatedQuote(container, at)).toEqual(simulatedQuote(container, at))
    expect(simulatedQuote(vm, at)).toBeUndefined()
  })
})
