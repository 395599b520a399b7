// The shipped build: `tz-sidecar serve` from an install runs the one-file bundle (dist/tz-sidecar.js, built by
// build/bundle.ts) with the bin's V8 flags in effect, in the process that was started (re-exec in place), and loads
// only what the config and environment need: no OpenTelemetry SDK without an OTLP endpoint, no template engine, ajv or
// ClickHouse client for a config without templates, schemas or a ClickHouse URL. The checkout path
// (`node bin/tz-sidecar.js`) runs the TypeScript sources the same way. Which modules loaded is read from a module
// hook the child is started with (NODE_OPTIONS --import, kept across the re-exec), which also reports V8's heap limit.
import t from 'tap'
import type { Test } from 'tap'
import { spawn, execFile } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { pathToFileURL } from 'node:url'
import { BIN, ROOT, freePort } from './helpers/process.ts'

const run = promisify(execFile)
const MB = 1024 * 1024

const HOOK = `
import { registerHooks } from 'node:module'
import { appendFileSync } from 'node:fs'
import v8 from 'node:v8'
const log = process.env.TZ_TEST_MODULE_LOG
appendFileSync(log, JSON.stringify({ pid: process.pid, execArgv: process.execArgv, heapLimit: v8.getHeapStatistics().heap_size_limit }) + '\\n')
registerHooks({ load (url, context, next) { appendFileSync(log, url + '\\n'); return next(url, context) } })
`

interface Started {
  pid: number
  cmdline: string[]
  starts: Array<{ pid: number; execArgv: string[]; heapLimit: number }>
  /** Every module URL loaded, across the re-exec. */
  loaded: string[]
  /** The module URLs loaded by the serving process (after its last start record), in order. */
  lastStart: string[]
}

/** Start `node <bin> serve` with the quickstart config, wait for /health, read what it loaded, stop it. */
async function serveOnce (t: Test, bin: string, cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-bundle-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const hook = path.join(dir, 'hook.mjs')
  writeFileSync(hook, HOOK)
  const log = path.join(dir, 'modules.log')
  writeFileSync(log, '')
  const port = await freePort()
  const config = path.join(ROOT, 'config/quickstart')
  const child = spawn(process.execPath, [bin, 'serve', '--config-file', path.join(config, 'tensorzero.toml'), '--sidecar-config', path.join(config, 'sidecar.toml'), '--bind-address', `127.0.0.1:${port}`], {
    cwd,
    env: { ...process.env, TENSORZERO_CLICKHOUSE_URL: '', OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '', TZ_SIDECAR_BUNDLE: '', LOG_LEVEL: 'error', NODE_OPTIONS: `--import=${pathToFileURL(hook).href}`, SIDECAR_SPOOL_DIR: path.join(dir, 'spool'), TZ_TEST_MODULE_LOG: log, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', d => { output += d })
  child.stderr.on('data', d => { output += d })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  try {
    const deadline = Date.now() + 60_000
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) }).then(r => r.status === 200, () => false)
      if (ok) break
      if (child.exitCode !== null) throw new Error(`exited before /health answered:\n${output}`)
      if (Date.now() > deadline) throw new Error(`/health did not answer within 60 s:\n${output}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    const pid = child.pid as number
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(a => a !== '')
    const lines = readFileSync(log, 'utf8').split('\n').filter(l => l !== '')
    const lastStartAt = lines.findLastIndex(l => l.startsWith('{'))
    return {
      lastStart: lines.slice(lastStartAt + 1),
      pid,
      cmdline,
      starts: lines.filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Started['starts'][number]),
      loaded: lines.filter(l => !l.startsWith('{'))
    }
  } finally {
    child.kill('SIGTERM')
    await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 15_000))])
    if (child.exitCode === null) { child.kill('SIGKILL'); await exited }
  }
}

const OPTIONAL = ['@opentelemetry/sdk-trace-node', '@opentelemetry/exporter-trace-otlp-http', 'minijinja-js', '/ajv/', '@clickhouse/client', 'http-proxy-3', '/iovalkey/', '/pg/']

function checkFlags (t: Test, s: Started): void {
  for (const flag of ['--max-semi-space-size=8', '--max-old-space-size=512']) t.ok(s.cmdline.includes(flag), `the serving process runs with ${flag} (${s.cmdline.join(' ')})`)
  const last = s.starts.at(-1)
  t.equal(last?.pid, s.pid, 'the process that answers /health is the one that was started (re-exec in place, no parent left)')
  const limit = last?.heapLimit ?? 0
  t.ok(limit >= 512 * MB && limit < 600 * MB, `V8's heap limit is the bin's 512 MiB old space plus the young generation (${(limit / MB).toFixed(0)} MiB)`)
}

/** A package as a service installs it: bin, package.json, config and a bundle built into its dist/; deps from this checkout. */
async function installed (t: Test): Promise<string> {
  const app = await mkdtemp(path.join(tmpdir(), 'tz-bundle-app-'))
  t.teardown(async () => { await rm(app, { recursive: true, force: true }) })
  const pkg = path.join(app, 'node_modules/tz-sidecar')
  mkdirSync(pkg, { recursive: true })
  await run(process.execPath, [path.join(ROOT, 'build/bundle.ts'), path.join(pkg, 'dist')], { cwd: ROOT, timeout: 120_000 })
  for (const part of ['bin', 'config', 'package.json']) cpSync(path.join(ROOT, part), path.join(pkg, part), { recursive: true })
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'))
  return pkg
}

t.test('installed: serve runs the one-file bundle with the V8 flags in effect and loads no optional module the config does not need', async t => {
  const pkg = await installed(t)
  const s = await serveOnce(t, path.join(pkg, 'bin/tz-sidecar.js'), path.dirname(path.dirname(pkg)))
  checkFlags(t, s)
  // tap's process-info hook (and what it imports) rides along into every child the test spawns, before the main
  // script: what the sidecar loads is what comes from the bin on, in the process that serves.
  const bin = pathToFileURL(path.join(pkg, 'bin/tz-sidecar.js')).href
  const fromBin = s.lastStart.slice(s.lastStart.indexOf(bin))
  const files = [...new Set(fromBin.filter(u => u.startsWith('file:') && !u.includes('/node_modules/@tapjs/')))]
    .map(u => decodeURIComponent(new URL(u).pathname))
  t.same(files.sort(), [path.join(pkg, 'bin/tz-sidecar.js'), path.join(pkg, 'dist/tz-sidecar.js')].sort(), 'the bin and the bundle are the only files loaded')
  for (const name of OPTIONAL) t.notOk(s.loaded.some(u => u.includes(name)), `${name} is not loaded`)
})

t.test('installed: with an OTLP endpoint the OpenTelemetry SDK does load (so the check above can fail)', async t => {
  const pkg = await installed(t)
  const port = await freePort()
  const s = await serveOnce(t, path.join(pkg, 'bin/tz-sidecar.js'), path.dirname(path.dirname(pkg)), { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` })
  t.ok(s.loaded.some(u => u.includes('@opentelemetry/sdk-trace-node')), 'sdk-trace-node loaded')
  t.ok(s.loaded.some(u => u.includes('@opentelemetry/exporter-trace-otlp-http')), 'the OTLP exporter loaded')
})

t.test('checkout: node bin/tz-sidecar.js serve runs the sources with the V8 flags and loads no optional module, nor undici before a request', async t => {
  const s = await serveOnce(t, BIN, ROOT)
  checkFlags(t, s)
  t.ok(s.loaded.some(u => u.endsWith('/sidecar/cli.ts')), 'the TypeScript sources run')
  t.notOk(s.loaded.some(u => u.startsWith(pathToFileURL(path.join(ROOT, 'dist')).href)), 'nothing from dist/')
  for (const name of [...OPTIONAL, '/node_modules/undici/']) t.notOk(s.loaded.some(u => u.includes(name)), `${name} is not loaded`)
})
