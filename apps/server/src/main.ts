#!/usr/bin/env -S node --experimental-strip-types
// rxt-deploy's entry: turns on Node's compile cache, then loads the composition root: the bundle
// `rxt-deploy prepare` made (bundle.ts, ADR 0036) when every file it was made from is unchanged, else
// the sources (root.ts); RXT_BUNDLE=0 always loads the sources. The cache keeps the compiled code of
// every module between starts (in NODE_COMPILE_CACHE, else the system's temporary directory), so that a
// start of an unchanged build neither parses nor compiles most of it again; NODE_DISABLE_COMPILE_CACHE=1
// turns it off. It must be on before the modules load, which is why the root is imported here.
import { enableCompileCache } from 'node:module'
import { freshBundle } from './bundle.ts'

enableCompileCache()
const bundle = process.env.RXT_BUNDLE === '0' ? undefined : freshBundle()
if (bundle === undefined) await import('./root.ts')
else {
  // A stack trace names the sources' files and lines, as it would without the bundle.
  process.setSourceMapsEnabled(true)
  try {
    await import(bundle.href)
  } catch (error) {
    // Gone since it was checked (a `prepare` replacing it): found missing while linking, before any of
    // it ran, so the sources start instead.
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error
    await import('./root.ts')
  }
}
