#!/usr/bin/env node
// Node ≥ 22.18 runs the TypeScript sources directly (type stripping); no build step.
// The module compile cache (in NODE_COMPILE_CACHE, else <tmpdir>/node-compile-cache; NODE_DISABLE_COMPILE_CACHE=1 turns
// it off) keeps the stripped and compiled modules on disk: every start after the first skips that work (about half
// the start time; bench/).
import module from 'node:module'
module.enableCompileCache?.()
await import('../sidecar/cli.ts')
