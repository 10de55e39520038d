#!/usr/bin/env -S node --experimental-strip-types
// rxt-deploy's entry: turns on Node's compile cache, then loads the composition root (root.ts). The
// cache keeps the compiled code of every module between starts (in NODE_COMPILE_CACHE, else the
// system's temporary directory), so that a start of an unchanged build neither parses nor compiles most
// of the modules again; NODE_DISABLE_COMPILE_CACHE=1 turns it off. It must be on before the modules
// load, which is why the root is imported here, not at the top.
import { enableCompileCache } from 'node:module'

enableCompileCache()
await import('./root.ts')
