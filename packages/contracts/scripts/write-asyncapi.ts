/**
 * `npm run docs:asyncapi`: writes docs/asyncapi.yaml from the catalog, and the table of messages in
 * packages/contracts/README.md (between its `messages` markers).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { asyncApiYaml } from '../src/asyncapi-yaml.ts'
import { catalog } from '../src/catalog.ts'
import { messageTable, replaceMessageTable } from '../src/message-table.ts'

const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string
}
const target = new URL('../../../docs/asyncapi.yaml', import.meta.url)
writeFileSync(target, asyncApiYaml(catalog, { version: packageJson.version }))
process.stdout.write('wrote docs/asyncapi.yaml\n')

const readme = new URL('../README.md', import.meta.url)
writeFileSync(readme, replaceMessageTable(readFileSync(readme, 'utf8'), messageTable(catalog)))
process.stdout.write('wrote the message table of packages/contracts/README.md\n')
