import Type from 'typebox'
import { describe, expect, it } from 'vitest'
import { contracts } from './catalog.ts'
import { defineMessage } from './define-message.ts'
import { MessageKind } from './envelope.ts'
import { readSnapshots } from './read-snapshots.ts'
import {
  parseSnapshotFileName,
  planSnapshots,
  snapshotFileName,
  snapshotFindings,
  snapshotText,
} from './snapshots.ts'

describe('the compatibility gate', () => {
  it('every current version has a snapshot identical to its schema, and no type disappeared', () => {
    const findings = snapshotFindings(contracts, readSnapshots())
    expect(findings, `\n${findings.join('\n')}\n`).toEqual([])
  })
})

const v1 = defineMessage({
  type: 'evt.sample.happened',
  version: 1,
  kind: MessageKind.event,
  summary: 'A sample happened',
  publishedBy: 'registry',
  schema: Type.Object(
    {
      envId: Type.String({ minLength: 1, maxLength: 128 }),
      note: Type.Optional(Type.String({ maxLength: 10 })),
    },
    { additionalProperties: false },
  ),
  fixture: { envId: 'env_1' },
})
const recordedV1 = new Map([[snapshotFileName(v1.type, 1), snapshotText(v1)]])

const compatible = defineMessage({
  ...v1,
  schema: Type.Object(
    {
      envId: Type.String({ minLength: 1, maxLength: 256, description: 'looser' }),
      note: Type.Optional(Type.String({ maxLength: 10 })),
      added: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
})
const incompatible = defineMessage({
  ...v1,
  schema: Type.Object({ envId: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
  fixture: { envId: 1 },
})

describe('snapshotFindings', () => {
  it('passes when the snapshot matches', () => {
    expect(snapshotFindings([v1], recordedV1)).toEqual([])
  })

  it('asks to record a version that has no snapshot', () => {
    expect(snapshotFindings([v1], new Map())).toEqual([
      'evt.sample.happened@v1 has no snapshot: run `npm run contracts:snapshot` to record v1',
    ])
    expect(snapshotFindings([{ ...incompatible, version: 2 }], recordedV1)).toEqual([
      'evt.sample.happened@v2 has no snapshot: run `npm run contracts:snapshot` to record v2',
    ])
  })

  it('asks to record a compatible change', () => {
    expect(snapshotFindings([compatible], recordedV1)).toEqual([
      'evt.sample.happened@v1 differs from its snapshot; compatible change: run `npm run contracts:snapshot` to record it',
    ])
  })

  it('lists the problems of an incompatible change and asks for a version bump', () => {
    const [finding, ...rest] = snapshotFindings([incompatible], recordedV1)
    expect(rest).toEqual([])
    expect(finding).toContain('/envId: type changed from string to integer')
    expect(finding).toContain('/note: property removed')
    expect(finding).toContain('bump the version of evt.sample.happened and record a new snapshot')
  })

  it('fails when a recorded type left the catalog, or a snapshot is newer than the catalog', () => {
    const other = new Map([...recordedV1, ['evt.gone.away@v3.json', '{}\n']])
    expect(snapshotFindings([v1], other)).toEqual([
      expect.stringContaining('evt.gone.away@v3.json: evt.gone.away is no longer in the catalog'),
    ])
    const newer = new Map([...recordedV1, [snapshotFileName(v1.type, 2), '{}\n']])
    expect(snapshotFindings([v1], newer)).toEqual([expect.stringContaining('versions never go back')])
  })

  it('compares schemas, not layout: a reformatted snapshot still matches', () => {
    const expanded = `${JSON.stringify(JSON.parse(snapshotText(v1)), null, 4)}\n`
    expect(expanded).not.toBe(snapshotText(v1))
    expect(snapshotFindings([v1], new Map([[snapshotFileName(v1.type, 1), expanded]]))).toEqual([])
  })

  it('keeps older versions as history', () => {
    const v2 = { ...incompatible, version: 2 }
    const recorded = new Map([...recordedV1, [snapshotFileName(v2.type, 2), snapshotText(v2)]])
    expect(snapshotFindings([v2], recorded)).toEqual([])
  })
})

describe('planSnapshots', () => {
  it('records new versions and compatible changes', () => {
    expect(planSnapshots([v1], new Map()).writes).toEqual([
      {
        file: 'evt.sample.happened@v1.json',
        text: snapshotText(v1),
        note: 'recorded evt.sample.happened v1',
      },
    ])
    const plan = planSnapshots([compatible], recordedV1)
    expect(plan.writes.map((write) => write.file)).toEqual(['evt.sample.happened@v1.json'])
    expect(plan.refusals).toEqual([])
  })

  it('refuses to overwrite a snapshot with an incompatible schema of the same version', () => {
    const plan = planSnapshots([incompatible], recordedV1)
    expect(plan.writes).toEqual([])
    expect(plan.refusals).toEqual([expect.stringContaining('bump the version of evt.sample.happened to 2')])
  })

  it('writes nothing when everything is recorded, and reports orphans without deleting them', () => {
    const plan = planSnapshots([v1], new Map([...recordedV1, ['evt.gone.away@v1.json', '{}\n']]))
    expect(plan).toEqual({ writes: [], refusals: [], orphans: ['evt.gone.away@v1.json'] })
  })
})

describe('snapshot file names', () => {
  it('round-trip, and reject anything else', () => {
    expect(parseSnapshotFileName(snapshotFileName('evt.deploy.ready', 12))).toEqual({
      type: 'evt.deploy.ready',
      version: 12,
    })
    expect(parseSnapshotFileName('evt.deploy.ready.json')).toBeUndefined()
    expect(parseSnapshotFileName('evt.deploy.ready@v0.json')).toBeUndefined()
  })

  it('are canonical: key order in the source does not change the text', () => {
    const reordered = defineMessage({
      ...v1,
      schema: Type.Object(
        {
          note: Type.Optional(Type.String({ maxLength: 10 })),
          envId: Type.String({ maxLength: 128, minLength: 1 }),
        },
        { additionalProperties: false },
      ),
    })
    expect(snapshotText(reordered)).toBe(snapshotText(v1))
  })
})
