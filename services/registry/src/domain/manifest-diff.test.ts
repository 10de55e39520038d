import { describe, expect, it } from 'vitest'
import { diffManifests } from './manifest-diff.ts'

describe('diffManifests', () => {
  it('names every added, removed and changed value by its JSON pointer', () => {
    const before = { spec: { image: 'a:1', replicas: 1, ports: [{ port: 80 }], env: { A: '1', 'x/y': '2' } } }
    const after = {
      spec: { image: 'a:2', replicas: 1, ports: [{ port: 80 }, { port: 443 }], env: { B: '1', 'x/y': '3' } },
    }
    expect(diffManifests(before, after)).toEqual([
      { path: '/spec/env/A', change: 'removed', before: '1' },
      { path: '/spec/env/B', change: 'added', after: '1' },
      { path: '/spec/env/x~1y', change: 'changed', before: '2', after: '3' },
      { path: '/spec/image', change: 'changed', before: 'a:1', after: 'a:2' },
      { path: '/spec/ports/1', change: 'added', after: { port: 443 } },
    ])
  })

  it('finds nothing between a manifest and itself, and a whole value where the types differ', () => {
    const m = { spec: { replicas: 2, ports: [] } }
    expect(diffManifests(m, structuredClone(m))).toEqual([])
    expect(diffManifests({ a: [1] }, { a: { 0: 1 } })).toEqual([
      { path: '/a', change: 'changed', before: [1], after: { 0: 1 } },
    ])
  })

  it('tells an env var named constructor or toString, added or removed, from what every object inherits', () => {
    const before = JSON.parse('{"spec":{"env":{"constructor":"1","A":"a"}}}')
    const after = JSON.parse('{"spec":{"env":{"toString":"2","A":"a"}}}')
    expect(diffManifests(before, after)).toEqual([
      { path: '/spec/env/constructor', change: 'removed', before: '1' },
      { path: '/spec/env/toString', change: 'added', after: '2' },
    ])
  })
})
