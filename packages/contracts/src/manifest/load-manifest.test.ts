import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { deployManifestJsonSchema } from './deploy-manifest.ts'
import { loadManifest, type ManifestResult, maxManifestBytes } from './load-manifest.ts'
import { canonical, canonicalManifest, manifestDigest } from './manifest-digest.ts'

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')
const violationsOf = (result: ManifestResult) => (result.ok ? [] : result.violations)

describe('loadManifest', () => {
  it('reads the worked examples, with defaults applied', () => {
    const minimal = loadManifest(fixture('minimal.yaml'))
    expect(minimal.ok).toBe(true)
    if (!minimal.ok) return
    expect(minimal.manifest.spec).toMatchObject({ replicas: 1, stateful: false })
    const full = loadManifest(fixture('full.yaml'))
    expect(violationsOf(full)).toEqual([])
    if (!full.ok) return
    expect(full.manifest.spec.healthChecks?.liveness).toMatchObject({
      port: 8080,
      periodSeconds: 20,
      timeoutSeconds: 1,
    })
    expect(full.manifest.spec.environments?.production?.replicas).toBe(4)
  })

  it('names the JSON path, line and column of every problem at once; unknown fields are errors', () => {
    const text = [
      'apiVersion: rxt-deploy/v1',
      'kind: Application',
      'metadata:',
      '  name: Not_A_Label',
      'spec:',
      '  image: ghcr.io/acme/x:1',
      '  replicas: -1',
      '  ports:',
      '    - name: http',
      '      port: 70000',
      '  colour: blue',
    ].join('\n')
    const problems = violationsOf(loadManifest(text))
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: '/metadata/name', line: 4, column: 3 }),
        expect.objectContaining({ path: '/spec/replicas', line: 7, column: 3 }),
        expect.objectContaining({ path: '/spec/ports/0/port', line: 10, column: 7 }),
        expect.objectContaining({ path: '/spec/colour', message: 'is not allowed', line: 11, column: 3 }),
      ]),
    )
    expect(problems).toHaveLength(4)
  })

  it('points a missing field at the mapping that lacks it', () => {
    const problems = violationsOf(loadManifest('apiVersion: rxt-deploy/v1\nkind: Application\nspec: {}\n'))
    expect(problems).toContainEqual(
      expect.objectContaining({ path: '/metadata', message: 'is required', line: 1 }),
    )
  })

  it('refuses an apiVersion it does not read, naming the ones it does', () => {
    const [problem] = violationsOf(loadManifest('kind: Application\napiVersion: rxt-deploy/v2\n'))
    expect(problem).toEqual({
      path: '/apiVersion',
      message: '"rxt-deploy/v2" is not supported; supported: rxt-deploy/v1',
      line: 2,
      column: 1,
    })
  })

  it.each([
    ['duplicate keys', 'apiVersion: rxt-deploy/v1\napiVersion: rxt-deploy/v1\n', /unique/i],
    ['two documents', `${fixture('minimal.yaml')}---\n${fixture('minimal.yaml')}`, /more than one document/],
    ['an empty file', '', /is empty/],
    ['a list at the top', '- a\n- b\n', /must be a mapping/],
    ['an unknown tag', 'apiVersion: !evil rxt-deploy/v1\n', /tag/i],
    [
      'an alias bomb',
      `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n`,
      /alias/i,
    ],
    ['a huge input', `a: "${'x'.repeat(maxManifestBytes)}"\n`, /at most 262144/],
    ['deep nesting', `${'['.repeat(20_000)}${']'.repeat(20_000)}`, /./],
  ])('refuses %s fast, with a clear message', (_name, text, message) => {
    const started = performance.now()
    const result = loadManifest(text)
    expect(result.ok).toBe(false)
    expect(violationsOf(result)[0]?.message).toMatch(message)
    // Not a timing assertion on the happy path: hostile input must not be a denial of service.
    expect(performance.now() - started).toBeLessThan(2_000)
  })

  it('refuses a __proto__ key, which would hide what it holds, where it is written, and reports 150 unknown fields', () => {
    const hidden = loadManifest(
      `${fixture('minimal.yaml').replace('  image: ghcr.io/acme/hello:1.0.0\n', '')}  __proto__: {image: x}\n`,
    )
    expect(violationsOf(hidden)).toEqual([
      {
        path: '/spec/__proto__',
        message: 'is not allowed: no key in a deploy.yaml may be named __proto__',
        line: 6,
        column: 3,
      },
    ])
    const inEnv = loadManifest(`${fixture('minimal.yaml')}  env:\n    A: a\n    __proto__: b\n`)
    expect(violationsOf(inEnv)).toEqual([expect.objectContaining({ path: '/spec/env/__proto__', line: 9 })])
    const many = `${fixture('minimal.yaml')}${Array.from({ length: 150 }, (_, i) => `  extra${i}: 1`).join('\n')}\n`
    const problems = violationsOf(loadManifest(many))
    expect(problems.length).toBeGreaterThan(0)
    expect(problems.every((p) => p.message === 'is not allowed')).toBe(true)
  })

  it('refuses env and secret names that are not variable names, and environments that are not names', () => {
    const problems = violationsOf(
      loadManifest(
        `${fixture('minimal.yaml')}  env:\n    "A-B=C": [1, 2]\n  secrets:\n    "not ok": secret://a/b\n  environments:\n    Prod_1: {replicas: 2}\n`,
      ),
    )
    expect(problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(['/spec/env/A-B=C', '/spec/secrets/not ok', '/spec/environments/Prod_1']),
    )
  })

  it('keeps an env var, a label and an environment named constructor, prototype or toString, and digests them', () => {
    const text = [
      fixture('minimal.yaml').replace(
        '  name: hello\n',
        '  name: hello\n  labels: {constructor: a, prototype: b}\n',
      ),
      '  env:',
      '    constructor: c',
      '    prototype: p',
      '    toString: t',
      '    hasOwnProperty: h',
      '    valueOf: v',
      '  environments:',
      '    constructor: {replicas: 2}',
      '',
    ].join('\n')
    const result = loadManifest(text)
    expect(violationsOf(result)).toEqual([])
    if (!result.ok) return
    expect(result.manifest.metadata.labels).toEqual({ constructor: 'a', prototype: 'b' })
    expect(result.manifest.spec.env).toEqual({
      constructor: 'c',
      prototype: 'p',
      toString: 't',
      hasOwnProperty: 'h',
      valueOf: 'v',
    })
    expect(Object.hasOwn(result.manifest.spec.environments ?? {}, 'constructor')).toBe(true)
    expect(result.manifest.spec.environments?.constructor).toEqual({ replicas: 2 })
    // The digest covers them: the canonical form, read back by JSON.parse, holds each one.
    const canonical = JSON.parse(canonicalManifest(result.manifest))
    expect(canonical.spec.env).toEqual({
      constructor: 'c',
      hasOwnProperty: 'h',
      prototype: 'p',
      toString: 't',
      valueOf: 'v',
    })
    expect(Object.keys(canonical.spec.environments)).toEqual(['constructor'])
    expect(Object.keys(canonical.metadata.labels)).toEqual(['constructor', 'prototype'])
    const without = loadManifest(text.replace('    constructor: c\n', ''))
    if (!without.ok) throw new Error('valid')
    expect(manifestDigest(without.manifest)).not.toBe(manifestDigest(result.manifest))
  })

  it.each([
    ['/spec/constructor', `  constructor: {image: x}\n`, 7],
    ['/spec/prototype', `  prototype: {image: x}\n`, 7],
    ['/spec/toString', `  toString: x\n`, 7],
    ['/spec/network/constructor', `  network:\n    constructor: {}\n`, 8],
    [
      '/spec/environments/prod/constructor',
      `  environments:\n    prod:\n      constructor: {replicas: 2}\n`,
      9,
    ],
    ['/constructor', 'constructor: {}\n', 7],
  ])('refuses %s as an unknown field, as any misspelt field, where it is written', (path, extra, line) => {
    expect(violationsOf(loadManifest(`${fixture('minimal.yaml')}${extra}`))).toEqual([
      expect.objectContaining({ path, message: 'is not allowed', line }),
    ])
  })

  // Property: an env of any variable names, prototype names among them, is read and digested whole.
  it('reads every env var whatever its name, and the canonical form holds each one', () => {
    const prototypeNames = [...Object.getOwnPropertyNames(Object.prototype), 'prototype'].filter(
      (name) => name !== '__proto__',
    )
    const name = fc.oneof(
      fc.constantFrom(...prototypeNames),
      fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/),
    )
    fc.assert(
      fc.property(
        fc
          .uniqueArray(fc.tuple(name, fc.string({ maxLength: 20 })), {
            selector: ([key]) => key,
            maxLength: 20,
          })
          .map((entries) => entries.filter(([key]) => key !== '__proto__')),
        (entries) => {
          const env = entries.map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`).join('\n')
          const result = loadManifest(
            `${fixture('minimal.yaml')}  env:${entries.length === 0 ? ' {}' : `\n${env}`}\n`,
          )
          expect(violationsOf(result)).toEqual([])
          if (!result.ok) return
          const expected = Object.fromEntries(entries)
          expect(Object.keys(result.manifest.spec.env ?? {}).sort()).toEqual(Object.keys(expected).sort())
          expect(result.manifest.spec.env).toEqual(expected)
          expect(Object.entries(JSON.parse(canonicalManifest(result.manifest)).spec.env)).toEqual(
            [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
          )
        },
      ),
      { numRuns: 300 },
    )
  })

  it('leaves Object.prototype alone whatever a hostile deploy.yaml holds', () => {
    const hostile = [
      '  __proto__: {polluted: yes}\n',
      '  env: {__proto__: {polluted: yes}}\n',
      '  constructor: {prototype: {polluted: yes}}\n',
      '  env: {constructor: {prototype: {polluted: yes}}}\n',
      '  environments: {constructor: {prototype: {polluted: yes}}}\n',
      '  network: &n {polluted: yes}\n  healthChecks: {__proto__: *n}\n',
    ]
    for (const extra of hostile) {
      expect(loadManifest(`${fixture('minimal.yaml')}${extra}`).ok).toBe(false)
      expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    }
    expect(loadManifest('__proto__: {polluted: yes}\napiVersion: rxt-deploy/v1\n').ok).toBe(false)
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false)
  })

  it('refuses autoscaling whose minimum is above its maximum, where it is written', () => {
    const text = `${fixture('minimal.yaml')}  autoscaling: {minReplicas: 6, maxReplicas: 2}\n  environments:\n    prod:\n      autoscaling:\n        minReplicas: 9\n        maxReplicas: 3\n`
    expect(violationsOf(loadManifest(text))).toEqual([
      expect.objectContaining({ path: '/spec/autoscaling/minReplicas', line: 7 }),
      expect.objectContaining({ path: '/spec/environments/prod/autoscaling/minReplicas', line: 11 }),
    ])
  })

  it('reads "yes" and "no" as strings (YAML 1.2), not booleans', () => {
    const result = loadManifest(`${fixture('minimal.yaml')}  env:\n    ENABLED: yes\n`)
    expect(result.ok && result.manifest.spec.env).toEqual({ ENABLED: 'yes' })
    const [problem] = violationsOf(loadManifest(`${fixture('minimal.yaml')}  stateful: no\n`))
    expect(problem).toMatchObject({ path: '/spec/stateful', line: 7, column: 3 })
  })

  // Property: whatever the text, the loader answers with a manifest or with violations; it never throws.
  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), yamlish()), (text) => {
        const result = loadManifest(text)
        expect(typeof result.ok).toBe('boolean')
        if (!result.ok) for (const v of result.violations) expect(typeof v.message).toBe('string')
      }),
      { numRuns: 500 },
    )
  })

  it('never throws on manifests mutated from a valid one', () => {
    const base = fixture('full.yaml').split('\n')
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.nat(base.length - 1),
            fc.oneof(fc.string(), fc.constantFrom(': ', '- ', '  ', '&a ', '*a', '{', '[')),
          ),
          {
            maxLength: 5,
          },
        ),
        (edits) => {
          const lines = [...base]
          for (const [i, text] of edits) lines[i] = `${lines[i]?.slice(0, 4) ?? ''}${text}`
          expect(typeof loadManifest(lines.join('\n')).ok).toBe('boolean')
        },
      ),
      { numRuns: 500 },
    )
  })
})

describe('manifestDigest', () => {
  it('gives the same digest to the same content, whatever the key order, comments or defaults written out', () => {
    const a = loadManifest(fixture('minimal.yaml'))
    const b = loadManifest(
      [
        '# reordered, with comments and the defaults spelled out',
        'spec:',
        '  stateful: false   # the default',
        '  replicas: 1',
        '  image: "ghcr.io/acme/hello:1.0.0"',
        'metadata: { name: hello }',
        'kind: Application',
        'apiVersion: rxt-deploy/v1',
      ].join('\n'),
    )
    if (!a.ok || !b.ok) throw new Error('both fixtures are valid')
    expect(manifestDigest(a.manifest)).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(manifestDigest(b.manifest)).toBe(manifestDigest(a.manifest))
    const c = loadManifest(fixture('minimal.yaml').replace('hello:1.0.0', 'hello:1.0.1'))
    if (!c.ok) throw new Error('valid')
    expect(manifestDigest(c.manifest)).not.toBe(manifestDigest(a.manifest))
  })

  // Property: every own key is in the canonical form, whatever its name (__proto__ and the prototype's).
  it('writes every own key of a record into the canonical form, sorted by UTF-16 code units', () => {
    const key = fc.oneof(
      fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype), 'prototype'),
      fc.string({ maxLength: 8 }),
    )
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, fc.string()), { selector: ([k]) => k }), (entries) => {
        const record = Object.fromEntries(entries)
        const parsed = JSON.parse(canonical({ record })).record as object
        const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        // JSON.parse lists integer-like keys first; compare as sets of entries, then the text's order.
        expect(Object.entries(parsed).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(sorted)
        const text = canonical(record)
        expect(text).toBe(
          `{${sorted.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`,
        )
      }),
      { numRuns: 300 },
    )
  })

  it('writes the canonical form of RFC 8785: sorted keys, no whitespace', () => {
    const a = loadManifest(fixture('minimal.yaml'))
    if (!a.ok) throw new Error('valid')
    expect(canonicalManifest(a.manifest)).toBe(
      '{"apiVersion":"rxt-deploy/v1","kind":"Application","metadata":{"name":"hello"},"spec":{"image":"ghcr.io/acme/hello:1.0.0","replicas":1,"stateful":false}}',
    )
  })
})

/** Text that looks like YAML: keys, lists, anchors, tags and quotes in random order. */
function yamlish() {
  const token = fc.constantFrom(
    'apiVersion: rxt-deploy/v1\n',
    'kind: Application\n',
    'metadata:\n',
    '  name: x\n',
    'spec:\n',
    '  replicas: ',
    '- ',
    '&a ',
    '*a',
    '!!binary ',
    '"',
    "'",
    '{',
    '}',
    '[',
    ']',
    '---\n',
    '\t',
    '? ',
    '%YAML 1.1\n',
    '\n',
  )
  return fc
    .array(fc.oneof(token, fc.string({ maxLength: 5 })), { maxLength: 40 })
    .map((parts) => parts.join(''))
}

describe('the JSON Schema of deploy.yaml', () => {
  it('is committed as docs/deploy.schema.json (npm run docs:deploy-schema writes it)', () => {
    const committed = readFileSync(new URL('../../../../docs/deploy.schema.json', import.meta.url), 'utf8')
    expect(committed).toBe(deployManifestJsonSchema())
  })
})
