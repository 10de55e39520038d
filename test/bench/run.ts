// npm run bench -- <name…>: runs test/bench/<name>.bench.ts (all when no name is given).
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const dir = fileURLToPath(new URL('.', import.meta.url))
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
const wanted = process.argv.slice(2)
const unknown = wanted.filter((name) => !available.includes(name))
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; there are: ${available.join(', ')}`)
  process.exit(2)
}
for (const name of wanted.length > 0 ? wanted : available) {
  console.log(`\n== ${name}`)
  await import(`./${name}.bench.ts`)
}
