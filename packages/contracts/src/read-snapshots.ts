import { readdirSync, readFileSync } from 'node:fs'

/** The directory the snapshots are committed in. */
export const snapshotDirectory = new URL('../snapshots/', import.meta.url)

/** Every `*.json` file of a snapshot directory: file name → text. */
export function readSnapshots(directory: URL = snapshotDirectory): Map<string, string> {
  const snapshots = new Map<string, string>()
  for (const file of readdirSync(directory).sort()) {
    if (file.endsWith('.json')) snapshots.set(file, readFileSync(new URL(file, directory), 'utf8'))
  }
  return snapshots
}
