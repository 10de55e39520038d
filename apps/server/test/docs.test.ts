import { readFileSync } from 'node:fs'
import { CoreConfig, composeConfigSchema } from '@rxt/kit'
import type { TObject } from 'typebox'
import { afterEach, describe, expect, it } from 'vitest'
import { catalog } from '../src/catalog.ts'
import { endChildren, runToEnd, startBudgetMs } from './process.ts'

afterEach(endChildren)

const root = new URL('../../../', import.meta.url)
const read = (path: string) => readFileSync(new URL(path, root), 'utf8')

describe('docs move with the code', () => {
  it('the README documents every configuration key, and no other', () => {
    const schema = composeConfigSchema([
      CoreConfig,
      ...catalog.flatMap((c) => (c.config === undefined ? [] : [c.config as TObject])),
    ])
    const section = read('README.md').split('## Configuration')[1]?.split('\n## ')[0] ?? ''
    const documented = [...section.matchAll(/^\| `([A-Z0-9_]+)` *\|/gm)].map((m) => m[1])
    expect(documented.sort()).toEqual(Object.keys(schema.properties).sort())
  })

  it('docs/openapi.json is what `rxt-deploy openapi` prints (regenerate: npm run docs:openapi)', {
    timeout: startBudgetMs,
  }, async () => {
    const run = await runToEnd(['openapi'])
    expect(run.code).toBe(0)
    expect(JSON.parse(read('docs/openapi.json'))).toEqual(JSON.parse(run.stdout))
  })

  it('every context in the catalog has a README', () => {
    // A context is a service, an adapter (the platforms it drives), or an app (the console).
    const readme = (name: string) => {
      for (const dir of ['services', 'adapters', 'apps']) {
        try {
          return read(`${dir}/${name}/README.md`)
        } catch {
          // Not in this directory.
        }
      }
      throw new Error(`no README of context ${name} in services/, adapters/ or apps/`)
    }
    for (const context of catalog) expect(readme(context.name)).toContain(`# ${context.name}`)
  })
})
