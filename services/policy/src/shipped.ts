import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { decisionEntrypoint } from './domain/bundle.ts'

/** The policies of the release, their pinned capabilities and the bundle built from them (committed). */
export const policiesDir = new URL('../policies/', import.meta.url)
export const capabilitiesFile = new URL('../capabilities.json', import.meta.url)
export const shippedBundleFile = new URL('../bundle/bundle.tar.gz', import.meta.url)

/**
 * `opa build -t wasm` of the shipped policies (tests left out) with the pinned capabilities, so the
 * bundle uses only built-ins the WebAssembly runtime implements. Deterministic: the same policies and
 * opa give the same bytes (opa writes no times into the archive).
 */
export function buildBundle(opa: string, out: string): void {
  execFileSync(
    opa,
    [
      'build',
      '-t',
      'wasm',
      '-e',
      decisionEntrypoint,
      '--capabilities',
      fileURLToPath(capabilitiesFile),
      '--ignore',
      '*_test.rego',
      '-o',
      out,
      'policies',
    ],
    { cwd: fileURLToPath(new URL('..', policiesDir)), stdio: ['ignore', 'pipe', 'pipe'] },
  )
}
