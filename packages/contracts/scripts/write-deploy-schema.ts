/** `npm run docs:deploy-schema`: writes docs/deploy.schema.json, the JSON Schema of deploy.yaml. */
import { writeFileSync } from 'node:fs'
import { deployManifestJsonSchema } from '../src/manifest/index.ts'

writeFileSync(new URL('../../../docs/deploy.schema.json', import.meta.url), deployManifestJsonSchema())
process.stdout.write('wrote docs/deploy.schema.json\n')
