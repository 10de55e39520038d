// The JSON Schemas of `rxt … --json` (schemas/deployment.schema.json and schemas/documents.schema.json),
// compiled once for the tests.
import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'

const load = (file: string) =>
  JSON.parse(readFileSync(new URL(`../schemas/${file}`, import.meta.url), 'utf8'))
const deployment = load('deployment.schema.json')
const documents = load('documents.schema.json')
const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false })
;(addFormats as unknown as (a: Ajv2020) => void)(ajv)
ajv.addSchema(deployment)
ajv.addSchema(documents)
const check = ajv.getSchema(deployment.$id)
if (check === undefined) throw new Error('deployment.schema.json did not compile')

const errorsOf = (validate: NonNullable<ReturnType<typeof ajv.getSchema>>, value: unknown) =>
  validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`)

/** The schema's errors for `value` (none: it validates). */
export function deploymentSchemaErrors(value: unknown): string[] {
  return errorsOf(check as NonNullable<typeof check>, value)
}

/** The kinds of document schemas/documents.schema.json defines. */
export type DocumentKind = keyof (typeof documents)['$defs'] | 'deployment'

/** The errors of `value` against the schema of `kind` (`deployment`: deployment.schema.json). */
export function documentSchemaErrors(kind: string, value: unknown): string[] {
  if (kind === 'deployment') return deploymentSchemaErrors(value)
  if (!(kind in documents.$defs)) throw new Error(`no schema for ${kind}`)
  const validate = ajv.getSchema(`${documents.$id}#/$defs/${kind}`)
  if (validate === undefined) throw new Error(`no schema for ${kind}`)
  return errorsOf(validate, value)
}
