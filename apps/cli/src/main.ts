#!/usr/bin/env node
// rxt: the command line of RXT Deploy. Node's compile cache keeps the compiled (and type-stripped) code
// of what is imported from here on, which halves a start; the rest is in run.ts.
import { enableCompileCache } from 'node:module'

enableCompileCache?.()
await import('./run.ts')
