#!/usr/bin/env node
// The runtime floor is package.json's `engines.node`; an older Node gets one line and exit 1 before anything else loads.
// So that an old Node can still parse this file and say so, it has no static imports, no top-level await and no syntax
// newer than ES2017 (Node 12 onward parses it).
//
// What runs: installed as a dependency, Node refuses to strip types under node_modules, so the JavaScript that
// `npm run build` (the `prepare` step) emitted into dist/ runs. In a checkout, the TypeScript sources run when this Node
// strips types (always, at the floor), else dist/. The module compile cache (NODE_COMPILE_CACHE, else
// <tmpdir>/node-compile-cache; NODE_DISABLE_COMPILE_CACHE=1 turns it off) keeps stripped and compiled modules on disk:
// starts after the first skip that work (cold start 2.3 s → 0.8 s; bench/).
'use strict'

function versionParts (text) {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(text)
  return m === null ? [0, 0, 0] : [Number(m[1]), Number(m[2]), Number(m[3])]
}

function below (have, need) {
  for (let i = 0; i < 3; i++) if (have[i] !== need[i]) return have[i] < need[i]
  return false
}

function fail (message) {
  process.stderr.write('tz-sidecar: ' + message + '\n')
  process.exit(1)
}

const here = import.meta.url
import('fs').then(function (fs) {
  const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', here), 'utf8'))
  const floor = versionParts(pkg.engines.node)
  if (below(versionParts(process.versions.node), floor)) {
    process.stderr.write('tz-sidecar needs Node ≥ ' + floor.join('.') + ' (this is ' + process.version + ')\n')
    process.exit(1)
  }
  return import('module').then(function (module) {
    if (module.enableCompileCache !== undefined) module.enableCompileCache()
    const installed = decodeURIComponent(new URL(here).pathname).indexOf('/node_modules/') !== -1
    const stripsTypes = Boolean(process.features.typescript)
    if (!installed && stripsTypes) return import('../sidecar/cli.ts')
    if (!fs.existsSync(new URL('../dist/sidecar/cli.js', here))) {
      fail(installed
        ? 'dist/ is missing: the package was installed without its build step (`npm run build` in ' + decodeURIComponent(new URL('..', here).pathname) + ')'
        : 'this Node does not strip TypeScript types and dist/ is missing: run `npm run build` first')
    }
    return import('../dist/sidecar/cli.js')
  })
}).catch(function (err) {
  fail(err !== null && typeof err === 'object' && 'stack' in err ? err.stack : String(err))
})
