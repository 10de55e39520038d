// The composition root of rxt-deploy: the only place that reads the environment (loaded by main.ts).
import packageJson from '../package.json' with { type: 'json' }
import { catalog } from './catalog.ts'
import { main } from './run.ts'

const code = await main({
  argv: process.argv.slice(2),
  env: process.env,
  catalog,
  version: packageJson.version,
})
if (code !== 'running') process.exitCode = code
