// npm run policy:build: rebuilds services/policy/bundle/bundle.tar.gz from services/policy/policies
// with the opa of the test peers (npm run peers -- build), or OPA_BIN.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { opaPath } from '../../../tools/peers/build.ts'
import { buildBundle, shippedBundleFile } from '../src/shipped.ts'

const opa = process.env.OPA_BIN ?? opaPath
if (!existsSync(opa)) {
  console.error(`no opa at ${opa}: npm run peers -- build (needs Go), or set OPA_BIN`)
  process.exit(1)
}
buildBundle(opa, fileURLToPath(shippedBundleFile))
process.stdout.write(`wrote ${fileURLToPath(shippedBundleFile)}\n`)
