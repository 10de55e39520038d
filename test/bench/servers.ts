import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { mainScript, type Server, startServer } from '../../apps/server/test/process.ts'

export const bareScript = fileURLToPath(new URL('./fixtures/bare-fastify.ts', import.meta.url))

/** `rxt-deploy up` on a fresh data directory, quiet logs; removes the directory when stopped. */
export async function startKitServer(env: NodeJS.ProcessEnv = {}): Promise<Server> {
  const dir = await mkdtemp(join(tmpdir(), 'rxt-bench-'))
  const server = await startServer(['up'], { RXT_DATA_DIR: dir, LOG_LEVEL: 'info', ...env }, mainScript)
  return {
    ...server,
    async stop(signal) {
      const code = await server.stop(signal)
      await rm(dir, { recursive: true, force: true })
      return code
    },
  }
}

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}
