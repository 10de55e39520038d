import { compatibilityProblems } from './compatibility.ts'
import type { MessageContract } from './envelope.ts'
import { canonicalJson, type JSONSchema, sameCanonicalJson, toJsonSchema } from './json-schema.ts'

/**
 * The compatibility gate over recorded payload schemas. A snapshot `<type>@v<version>.json` is the
 * canonical JSON Schema of one version of one payload; the snapshot of every current version must
 * match the catalog exactly, older versions stay as history, and a type may not disappear.
 */

export const snapshotCommand = 'npm run contracts:snapshot'

export function snapshotFileName(type: string, version: number): string {
  return `${type}@v${version}.json`
}

export function parseSnapshotFileName(file: string): { type: string; version: number } | undefined {
  const match = /^(.+)@v([1-9][0-9]*)\.json$/.exec(file)
  if (match === null || match[1] === undefined || match[2] === undefined) return undefined
  return { type: match[1], version: Number(match[2]) }
}

/** The snapshot text of a contract's current schema. */
export function snapshotText(contract: MessageContract): string {
  return canonicalJson(toJsonSchema(contract.schema))
}

/**
 * Everything that keeps the recorded snapshots (file name → text) from matching the catalog, as
 * messages that say what to do; empty when the gate passes.
 */
export function snapshotFindings(
  contracts: readonly MessageContract[],
  recorded: ReadonlyMap<string, string>,
): string[] {
  const findings: string[] = []
  const current = new Map(contracts.map((contract) => [contract.type, contract]))
  for (const contract of contracts) {
    const file = snapshotFileName(contract.type, contract.version)
    const name = `${contract.type}@v${contract.version}`
    const previous = recorded.get(file)
    const next = snapshotText(contract)
    if (previous === undefined) {
      findings.push(`${name} has no snapshot: run \`${snapshotCommand}\` to record v${contract.version}`)
    } else if (!sameCanonicalJson(previous, next)) {
      const problems = problemsAgainst(previous, next)
      findings.push(
        problems.length === 0
          ? `${name} differs from its snapshot; compatible change: run \`${snapshotCommand}\` to record it`
          : [
              `${name} is incompatible with its snapshot ${file}:`,
              ...problems.map((problem) => `  - ${problem}`),
              `bump the version of ${contract.type} and record a new snapshot`,
            ].join('\n'),
      )
    }
  }
  for (const file of [...recorded.keys()].sort()) {
    const parsed = parseSnapshotFileName(file)
    if (parsed === undefined) {
      findings.push(`${file} is not named <type>@v<version>.json`)
      continue
    }
    const contract = current.get(parsed.type)
    if (contract === undefined) {
      findings.push(
        `${file}: ${parsed.type} is no longer in the catalog; removing a message breaks its consumers (restore it)`,
      )
    } else if (parsed.version > contract.version) {
      findings.push(
        `${file}: ${parsed.type} is at v${contract.version} in the catalog; versions never go back`,
      )
    }
  }
  return findings
}

export interface SnapshotPlan {
  /** Snapshots to write: new versions, and compatible changes to a current version. */
  readonly writes: ReadonlyArray<{ readonly file: string; readonly text: string; readonly note: string }>
  /** Contracts whose change is incompatible: their snapshot is kept, and the version must be bumped. */
  readonly refusals: readonly string[]
  /** Recorded snapshots whose type left the catalog (never deleted here). */
  readonly orphans: readonly string[]
}

/** What `npm run contracts:snapshot` does: record what is missing or compatible, refuse the rest. */
export function planSnapshots(
  contracts: readonly MessageContract[],
  recorded: ReadonlyMap<string, string>,
): SnapshotPlan {
  const writes: { file: string; text: string; note: string }[] = []
  const refusals: string[] = []
  for (const contract of contracts) {
    const file = snapshotFileName(contract.type, contract.version)
    const previous = recorded.get(file)
    const next = snapshotText(contract)
    if (previous === undefined) {
      writes.push({ file, text: next, note: `recorded ${contract.type} v${contract.version}` })
    } else if (!sameCanonicalJson(previous, next)) {
      const problems = problemsAgainst(previous, next)
      if (problems.length === 0) {
        writes.push({
          file,
          text: next,
          note: `updated ${contract.type} v${contract.version} (compatible change)`,
        })
      } else {
        refusals.push(
          [
            `refusing to overwrite ${file}: the change is incompatible:`,
            ...problems.map((problem) => `  - ${problem}`),
            `bump the version of ${contract.type} to ${contract.version + 1} and run this again`,
          ].join('\n'),
        )
      }
    }
  }
  const types = new Set(contracts.map((contract) => contract.type))
  const orphans = [...recorded.keys()].sort().filter((file) => {
    const parsed = parseSnapshotFileName(file)
    return parsed !== undefined && !types.has(parsed.type)
  })
  return { writes, refusals, orphans }
}

function problemsAgainst(previousText: string, nextText: string): string[] {
  let previous: JSONSchema
  try {
    previous = JSON.parse(previousText) as JSONSchema
  } catch {
    return ['the recorded snapshot is not valid JSON']
  }
  return compatibilityProblems(previous, JSON.parse(nextText) as JSONSchema)
}
