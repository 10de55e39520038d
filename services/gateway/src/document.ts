import type { HttpApp } from '@rxt/kit'
import { mergeDocuments, type OpenApiDocument, type UpstreamDocument } from './openapi.ts'
import type { Upstreams } from './upstreams.ts'

/**
 * Makes the process's /openapi.json (and so /docs, which renders it) the gateway's merged document: its
 * own operations and every operation of its upstreams, kept current as their documents are read again.
 *
 * The kit serves the document @fastify/swagger builds once, when the app is ready, and keeps; the
 * gateway writes the upstreams' operations into that same object then and whenever the routing tables
 * change, starting from a copy of what the process itself described.
 */
export function serveMergedDocument(app: HttpApp, upstreams: Upstreams): void {
  app.addHook('onReady', async () => {
    const served = app.swagger() as unknown as OpenApiDocument
    const own: OpenApiDocument = structuredClone({ paths: served.paths, components: served.components })
    const write = () => {
      const documents: UpstreamDocument[] = upstreams.list.flatMap((u) =>
        u.document === undefined
          ? []
          : [{ context: u.context, document: u.document, operations: u.operations }],
      )
      const merged = mergeDocuments(own, documents)
      served.paths = merged.paths
      served.components = { ...served.components, schemas: merged.schemas }
    }
    write()
    upstreams.onChange(write)
  })
}
