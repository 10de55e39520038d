import { describe, expect, it, vi } from 'vitest'

// A build that fails, as vite does on a typo in a page.
vi.mock('../server/build.ts', async (actual) => ({
  ...(await actual<typeof import('../server/build.ts')>()),
  ensureBuilt: async () => {
    throw new Error('Transform failed: src/pages/org.tsx: Unexpected token')
  },
}))

describe('the console context starting', () => {
  it('logs a failed build as a warning and starts, serving the build it has', async () => {
    const { consoleContext } = await import('../server/index.ts')
    const warnings: string[] = []
    const log = { info: () => undefined, warn: (_: unknown, message: string) => warnings.push(message) }
    // biome-ignore lint/suspicious/noExplicitAny: only the log is used
    await expect(consoleContext.ready?.({ log } as any)).resolves.toBeUndefined()
    expect(warnings).toEqual(['the console failed to build: the previous build, if any, is served'])
  })
})
