#!/usr/bin/env -S node --max-semi-space-size=8 --max-old-space-size=512
// The runtime floor is package.json's `engines.node`; an older Node gets one line and exit 1 before anything else loads.
// So that an old Node can still parse this file and say so, it has no static imports, no top-level await and no syntax
// newer than ES2017 (Node 12 onward parses it).
//
// What runs: installed as a dependency (or wherever the TypeScript sources are absent, as in the image), the one-file
// bundle that `npm run build` (the `prepare` step) wrote, dist/tz-sidecar.js (build/bundle.ts). In a checkout, the
// TypeScript sources run when this Node strips types (always, at the floor), so a stale build never hides a change;
// TZ_SIDECAR_BUNDLE=1 runs the bundle there too (`npm start`, the bench).
//
// `serve` runs with the V8 settings below without the user passing anything. Run as a command (`npx tz-sidecar`, the
// image's entrypoint, a .bin symlink), the shebang line above gives them at no cost. Run as `node bin/tz-sidecar.js`,
// a setting not already given (on the command line or in NODE_OPTIONS, where the user's value wins) makes this
// process replace itself (process.execve: same pid, no parent left waiting, signals reach the sidecar directly) with
// one that has it: one more Node start-up, ~50 ms of CPU here (NODE_OPTIONS would need the same new process, since
// Node reads it only when it starts). Keep the shebang line and V8_FLAGS in step.
//
// The module compile cache (NODE_COMPILE_CACHE, else <tmpdir>/node-compile-cache; NODE_DISABLE_COMPILE_CACHE=1 turns it
// off) keeps stripped and compiled modules on disk: starts after the first skip that work (cold start 2.3 s → 0.8 s;
// bench/).
'use strict'

function versionParts (text) {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(text)
  return m === null ? [0, 0, 0] : [Number(m[1]), Number(m[2]), Number(m[3])]
}

function below (have, need) {
  for (let i = 0; i < 3; i++) if (have[i] !== need[i]) return have[i] < need[i]
  return false
}

// --max-semi-space-size=8 (MiB): V8 otherwise grows the young generation to 3 × 32 MiB under load, most of it RSS that
// buys a proxy's short-lived garbage nothing (README "Speed and memory": 4 → 251 MB, 8 → 240 MB, 16 → 264 MB, default
// ~410 MB under the bench load); the price is more scavenges (~150 µs of GC per request at 64 connections, against
// ~75 µs at 32). --max-old-space-size=512 (MiB): the JS heap is bounded by design; a leak fails the process (its spool
// keeps every row a client saw complete) instead of growing until the host's OOM killer picks a neighbour.
const V8_FLAGS = ['--max-semi-space-size=8', '--max-old-space-size=512']
const NOT_SERVING = ['validate', 'migrate', '--help', '-h', '--version', '-V']

function missingV8Flags () {
  const given = process.execArgv.concat((process.env.NODE_OPTIONS || '').split(/\s+/))
    .map(function (arg) { return arg.split('=')[0].replace(/_/g, '-') })
  return V8_FLAGS.filter(function (flag) { return given.indexOf(flag.split('=')[0]) === -1 })
}

function reexecWithV8Flags () {
  if (NOT_SERVING.indexOf(process.argv[2]) !== -1 || typeof process.execve !== 'function') return
  const missing = missingV8Flags()
  if (missing.length === 0) return
  const script = decodeURIComponent(new URL(here).pathname)
  process.execve(process.execPath, [process.execPath].concat(missing, process.execArgv, [script], process.argv.slice(2)), process.env)
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
  reexecWithV8Flags()
  return import('module').then(function (module) {
    if (module.enableCompileCache !== undefined) module.enableCompileCache()
    const installed = decodeURIComponent(new URL(here).pathname).indexOf('/node_modules/') !== -1
    const stripsTypes = Boolean(process.features.typescript)
    const sources = !installed && stripsTypes && process.env.TZ_SIDECAR_BUNDLE !== '1' && fs.existsSync(new URL('../sidecar/cli.ts', here))
    if (sources) return import('../sidecar/cli.ts')
    if (fs.existsSync(new URL('../dist/tz-sidecar.js', here))) return import('../dist/tz-sidecar.js')
    // tsc's output alone (a build without the bundle step) runs too, only slower to start.
    if (fs.existsSync(new URL('../dist/sidecar/cli.js', here))) return import('../dist/sidecar/cli.js')
    fail(installed
      ? 'dist/ is missing: the package was installed without its build step (`npm run build` in ' + decodeURIComponent(new URL('..', here).pathname) + ')'
      : 'dist/tz-sidecar.js is missing: run `npm run build` first')
  })
}).catch(function (err) {
  fail(err !== null && typeof err === 'object' && 'stack' in err ? err.stack : String(err))
})
