import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['{packages,services,adapters,apps}/*/{src,test}/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/setup/peers.ts'],
    reporters: ['default', './test/setup/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // 2 cores: PGlite instances and child servers are CPU-heavy; more workers only thrash.
    maxWorkers: 2,
  },
})
