import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checksumOf, loadMigrations, migration, planMigrations } from './migrations.ts'

const m1 = migration('0001_init.sql', 'CREATE TABLE a (id int);')
const m2 = migration('0002_more.sql', 'CREATE TABLE b (id int);')
const row = (m: typeof m1) => ({ version: m.version, name: m.name, checksum: m.checksum })

describe('planMigrations', () => {
  it('returns what is not applied yet, in order', () => {
    expect(planMigrations('x', [], [m1, m2])).toEqual([m1, m2])
    expect(planMigrations('x', [row(m1)], [m1, m2])).toEqual([m2])
    expect(planMigrations('x', [row(m1), row(m2)], [m1, m2])).toEqual([])
  })
  it('refuses an edited migration', () => {
    expect(() => planMigrations('x', [{ ...row(m1), checksum: checksumOf('old') }], [m1])).toThrow(
      /migration x\/0001_init\.sql was edited after it was applied/,
    )
  })
  it('refuses a database that is ahead of the build', () => {
    expect(() => planMigrations('x', [row(m1), row(m2)], [m1])).toThrow(
      /0002_more\.sql is applied .* missing from this build/,
    )
  })
  it('refuses a new migration numbered before an applied one', () => {
    expect(() => planMigrations('x', [row(m2)], [m1, m2])).toThrow(
      /0001_init\.sql sorts before the newest applied migration/,
    )
  })
  it('ignores line-ending differences in checksums', () => {
    expect(checksumOf('a;\r\nb;')).toBe(checksumOf('a;\nb;'))
  })
})

describe('loadMigrations', () => {
  it('reads NNNN_name.sql files in version order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rxt-mig-'))
    await writeFile(join(dir, '0002_b.sql'), 'SELECT 2')
    await writeFile(join(dir, '0001_a.sql'), 'SELECT 1')
    await writeFile(join(dir, 'README.md'), 'not a migration')
    const loaded = await loadMigrations(dir)
    expect(loaded.map((m) => m.name)).toEqual(['0001_a.sql', '0002_b.sql'])
  })
  it('refuses badly named files and duplicate versions', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'rxt-mig-'))
    await writeFile(join(bad, '1_init.sql'), 'SELECT 1')
    await expect(loadMigrations(bad)).rejects.toThrow(/must be named NNNN_name\.sql/)
    const dup = await mkdtemp(join(tmpdir(), 'rxt-mig-'))
    await writeFile(join(dup, '0001_a.sql'), 'SELECT 1')
    await writeFile(join(dup, '0001_b.sql'), 'SELECT 1')
    await expect(loadMigrations(dup)).rejects.toThrow(/share version 1/)
  })
})
