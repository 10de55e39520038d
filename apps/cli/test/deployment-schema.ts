// The JSON Schema of `rxt deploy --json` (schemas/deployment.schema.json), compiled once for the tests.
import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'

const schema = JSON.parse(readFileSync(new URL('../schemas/deployment.schema.json', import.meta.url), 'utf8'))
const ajv = new Ajv2020({ allErrors: true, strict: true })
;(addFormats as unknown as (a: Ajv2020) => void)(ajv)
const check = ajv.compile(schema)

/** The schema's errors for `value` (none: it validates). */
export function deploymentSchemaErrors(value: unknown): string[] {
  return check(value) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message}`)
}
