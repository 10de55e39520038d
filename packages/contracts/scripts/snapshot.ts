/**
 * `npm run contracts:snapshot`: records the JSON Schema snapshot of every message's current version
 * in packages/contracts/snapshots. A new version is recorded; a compatible change to a recorded
 * version overwrites it; an incompatible one is refused (bump the version instead). Nothing is deleted.
 */
import { writeFileSync } from 'node:fs'
import { contracts } from '../src/catalog.ts'
import { readSnapshots, snapshotDirectory } from '../src/read-snapshots.ts'
import { planSnapshots } from '../src/snapshots.ts'

const plan = planSnapshots(contracts, readSnapshots(snapshotDirectory))
for (const { file, text, note } of plan.writes) {
  writeFileSync(new URL(file, snapshotDirectory), text)
  process.stdout.write(`${note}: snapshots/${file}\n`)
}
for (const orphan of plan.orphans) {
  console.error(`snapshots/${orphan}: its type is no longer in the catalog (removing a message is breaking)`)
}
for (const refusal of plan.refusals) console.error(refusal)
if (plan.writes.length === 0 && plan.refusals.length === 0) process.stdout.write('snapshots are up to date\n')
if (plan.refusals.length > 0 || plan.orphans.length > 0) process.exitCode = 1
