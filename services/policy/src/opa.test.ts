// The real OPA of the test peers (npm run peers -- build): `opa test` of the policies, and a rebuild of
// the committed bundle, which must be what the policies build to now. Skipped where opa is not built
// (the run's setup prints SKIPPED with the reason; under CI=true it fails instead).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, inject, it } from 'vitest'
import { readTarGz } from './domain/tar.ts'
import { buildBundle, policiesDir, shippedBundleFile } from './shipped.ts'

const opaPath = inject('opaPath')
const skipped = inject('opaSkipReason')

const contents = (archive: Uint8Array) => {
  const files = readTarGz(archive, { maxBytes: 1 << 26, maxEntries: 1000 })
  return {
    wasm: Buffer.from(files.get('policy.wasm') ?? []).toString('base64'),
    data: JSON.parse(new TextDecoder().decode(files.get('data.json'))),
    manifest: JSON.parse(new TextDecoder().decode(files.get('.manifest'))),
  }
}

describe.skipIf(skipped !== '' || !existsSync(opaPath))('the policies with the real opa', () => {
  it('pass their opa tests', { timeout: 60_000 }, () => {
    const out = execFileSync(opaPath, ['test', fileURLToPath(policiesDir), '-v'], { encoding: 'utf8' })
    expect(out).toMatch(/PASS: \d+\/\d+/)
    expect(out).not.toMatch(/FAIL/)
  })

  it('build to the committed bundle (npm run policy:build when this fails)', { timeout: 60_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'rxt-policy-'))
    try {
      const out = join(dir, 'bundle.tar.gz')
      buildBundle(opaPath, out)
      const rebuilt = new Uint8Array(readFileSync(out))
      const committed = new Uint8Array(readFileSync(shippedBundleFile))
      expect(contents(committed), 'the committed bundle is stale: npm run policy:build').toEqual(
        contents(rebuilt),
      )
      // Deterministic: a second build is the same archive, byte for byte.
      buildBundle(opaPath, out)
      expect(Buffer.from(readFileSync(out)).equals(Buffer.from(rebuilt))).toBe(true)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
