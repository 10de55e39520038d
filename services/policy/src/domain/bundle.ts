import { createHash } from 'node:crypto'
import { type LoadedPolicy, loadPolicy } from '@open-policy-agent/opa-wasm'
import { type Verdict, verdictOf } from './findings.ts'
import { readTarGz } from './tar.ts'

/** The one entrypoint every bundle answers: `{allow, violations: [{policy, rule, severity, message}]}`. */
export const decisionEntrypoint = 'rxt/decision/result'

/** An uploaded bundle larger than this is refused before it is unpacked. */
export const maxBundleBytes = 8 * 1024 * 1024

/** A bundle's revision: the sha256 of the archive as uploaded (or shipped). */
export const revisionOf = (archive: Uint8Array): string =>
  `sha256:${createHash('sha256').update(archive).digest('hex')}`

/** What an `opa build -t wasm` archive holds that evaluation needs. */
export interface BundleContents {
  readonly wasm: Uint8Array
  readonly data: Record<string, unknown>
  readonly entrypoints: readonly string[]
}

/** The bundle is not one this context can evaluate: why, for the operator who uploaded it. */
export class BundleProblem extends Error {}

const json = (bytes: Uint8Array | undefined, what: string): unknown => {
  if (bytes === undefined) return undefined
  try {
    return JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    throw new BundleProblem(`${what} is not JSON`)
  }
}

/** The wasm module, its data and entrypoints from an `opa build -t wasm` archive; a BundleProblem if not one. */
export function readBundle(archive: Uint8Array): BundleContents {
  if (archive.length > maxBundleBytes) throw new BundleProblem(`the bundle is over ${maxBundleBytes} bytes`)
  let files: Map<string, Uint8Array>
  try {
    files = readTarGz(archive, { maxBytes: 4 * maxBundleBytes, maxEntries: 1000 })
  } catch (error) {
    throw new BundleProblem(
      `the upload is not a bundle (a tar.gz from opa build): ${(error as Error).message}`,
    )
  }
  const manifest = json(files.get('.manifest'), 'the bundle manifest (.manifest)') as
    | { wasm?: { entrypoint?: unknown; module?: unknown }[] }
    | undefined
  const modules = manifest?.wasm ?? []
  const entrypoints = modules.flatMap((m) => (typeof m.entrypoint === 'string' ? [m.entrypoint] : []))
  const module = modules.find((m) => m.entrypoint === decisionEntrypoint)?.module
  const wasmPath = typeof module === 'string' ? module.replace(/^\/+/, '') : 'policy.wasm'
  const wasm = files.get(wasmPath)
  if (wasm === undefined)
    throw new BundleProblem(
      `the bundle has no WebAssembly module (${wasmPath}): build it with opa build -t wasm -e ${decisionEntrypoint}`,
    )
  if (!entrypoints.includes(decisionEntrypoint))
    throw new BundleProblem(
      `the bundle does not compile the entrypoint ${decisionEntrypoint} (it has ${entrypoints.join(', ') || 'none'}): build it with -e ${decisionEntrypoint}`,
    )
  const data = json(files.get('data.json'), 'data.json') ?? {}
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new BundleProblem('data.json is not a JSON object')
  return { wasm, data: data as Record<string, unknown>, entrypoints }
}

/** A bundle ready to decide: its revision, and the decision for an input. */
export interface Evaluator {
  readonly revision: string
  evaluate(input: unknown): Verdict
}

/**
 * Instantiates a bundle's module with its data, and checks that it answers the decision contract for
 * an empty input. One instance per bundle: evaluation is synchronous, so a process never runs two at
 * once on it.
 */
export async function compileBundle(revision: string, contents: BundleContents): Promise<Evaluator> {
  let policy: LoadedPolicy
  try {
    policy = await loadPolicy(contents.wasm)
    policy.setData(contents.data)
  } catch (error) {
    throw new BundleProblem(
      `the WebAssembly module does not load: ${String((error as Error)?.message ?? error)}`,
    )
  }
  const evaluate = (input: unknown): Verdict => {
    const verdict = verdictOf(policy.evaluate(input, decisionEntrypoint))
    if (verdict === undefined)
      throw new BundleProblem(
        `bundle ${revision} answered ${decisionEntrypoint} with something other than {allow, violations}`,
      )
    return verdict
  }
  try {
    evaluate({})
  } catch (error) {
    throw error instanceof BundleProblem
      ? error
      : new BundleProblem(`the bundle fails on an empty input: ${String((error as Error)?.message ?? error)}`)
  }
  return { revision, evaluate }
}

/** Reads and compiles an archive: its revision and evaluator. */
export async function loadBundle(archive: Uint8Array): Promise<Evaluator> {
  const revision = revisionOf(archive)
  return compileBundle(revision, readBundle(archive))
}
