// `npm run docs:collection`: writes docs/collection/ from docs/openapi.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { type OpenApiDocument, renderHttp, renderPostman } from './collection.ts'

const root = new URL('../../', import.meta.url)
const doc = JSON.parse(readFileSync(new URL('docs/openapi.json', root), 'utf8')) as OpenApiDocument
mkdirSync(new URL('docs/collection/', root), { recursive: true })
writeFileSync(new URL('docs/collection/rxt-deploy.http', root), renderHttp(doc))
writeFileSync(new URL('docs/collection/rxt-deploy.postman_collection.json', root), renderPostman(doc))
