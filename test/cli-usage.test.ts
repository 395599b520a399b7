// The command line as an operator meets it: help per command naming every flag and every variable the source reads,
// --version, each bad setting as one line naming the variable and what it accepts, logs that say `development` unless
// told otherwise (pretty on a terminal, JSON otherwise), and a pass-through upstream that cannot be reached logged
// as an error with its text.
import t from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ROOT, BIN, runCli, startCli } from './helpers/process.ts'
import { waitFor } from './helpers/wait.ts'

const QUICKSTART = ['--config-file', 'config/quickstart/tensorzero.toml', '--sidecar-config', 'config/quickstart/sidecar.toml']

function sources (dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap(name => {
    const rel = path.join(dir, name)
    return statSync(path.join(ROOT, rel)).isDirectory() ? sources(rel) : rel.endsWith('.ts') ? [rel] : []
  })
}

/** Every environment variable the shipped source reads: `env.NAME`, `env['NAME']`, or a quoted SIDECAR_/OTEL_/TENSORZERO_ name. */
function variablesRead (): Set<string> {
  const names = new Set<string>()
  for (const file of [...sources('src'), ...sources('sidecar'), ...sources('sdk-patch')]) {
    const text = readFileSync(path.join(ROOT, file), 'utf8')
    for (const m of text.matchAll(/\benv(?:\.|\[')([A-Z][A-Z0-9_]+)/g)) names.add(m[1])
    for (const m of text.matchAll(/'((?:SIDECAR|OTEL|TENSORZERO)_[A-Z0-9_]+)'/g)) names.add(m[1])
  }
  return names
}

t.test('--help names every command and every variable the source reads; each command has its own help', async t => {
  const all = await runCli(['--help'])
  t.equal(all.code, 0)
  for (const usage of ['tz-sidecar [serve] --config-file', 'tz-sidecar validate --config-file', 'tz-sidecar migrate [--create-database]', 'tz-sidecar --version']) {
    t.ok(all.stdout.includes(usage), usage)
  }
  const read = variablesRead()
  t.ok(read.size > 20, `${read.size} variables found in the source`)
  for (const name of read) t.match(all.stdout, new RegExp(`^  ${name} `, 'm'), `${name} is documented`)

  const serve = await runCli(['serve', '--help'])
  t.equal(serve.code, 0)
  for (const flag of ['--config-file', '--sidecar-config', '--bind-address', 'SIDECAR_MAX_IN_FLIGHT', 'SIDECAR_CONFIG_WATCH', 'SIGHUP']) t.ok(serve.stdout.includes(flag), `serve: ${flag}`)
  const validate = await runCli(['validate', '--help'])
  t.match(validate.stdout, /^Usage: tz-sidecar validate --config-file/)
  t.notOk(validate.stdout.includes('--bind-address'), 'validate lists only its own flags')
  const migrate = await runCli(['migrate', '-h'])
  t.match(migrate.stdout, /--create-database/)
  t.match(migrate.stdout, /TENSORZERO_CLICKHOUSE_URL/)
  t.notOk(migrate.stdout.includes('SIDECAR_MAX_IN_FLIGHT'), 'migrate lists only the variables it reads')
})

t.test('--version prints the package version', async t => {
  const r = await runCli(['--version'])
  t.equal(r.code, 0)
  t.equal(r.stdout, `${(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`)
})

t.test('each bad setting is one line naming the variable and what it accepts, exit 1; a bad flag is a usage error, exit 2', async t => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ LOG_LEVEL: 'verbose' }, /^tz-sidecar: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got `verbose`\n$/],
    [{ SIDECAR_BIND_ADDRESS: '127.0.0.1:99999' }, /^tz-sidecar: SIDECAR_BIND_ADDRESS: invalid bind address `127\.0\.0\.1:99999`: port 99999 is out of range, expected 0 to 65535\n$/],
    [{ SIDECAR_BIND_ADDRESS: 'nonsense' }, /^tz-sidecar: SIDECAR_BIND_ADDRESS: invalid bind address `nonsense`: expected host:port\n$/],
    [{ SIDECAR_MAX_IN_FLIGHT: 'lots' }, /^tz-sidecar: SIDECAR_MAX_IN_FLIGHT must be a non-negative number, got `lots`\n$/],
    [{ SIDECAR_PROVIDER_QUEUE_TIMEOUT_MS: '-5' }, /^tz-sidecar: SIDECAR_PROVIDER_QUEUE_TIMEOUT_MS must be a non-negative number, got `-5`\n$/],
    [{ SIDECAR_MIGRATE: 'maybe' }, /^tz-sidecar: SIDECAR_MIGRATE must be one of 1, true, yes, on, 0, false, no, off; got `maybe`\n$/]
  ]
  for (const [env, expected] of cases) {
    const r = await runCli(['serve', ...QUICKSTART], env)
    t.equal(r.code, 1, JSON.stringify(env))
    t.match(r.stderr, expected)
    t.equal(r.stdout, '', 'no log line before it')
  }
  const flag = await runCli(['serve', '--bogus'])
  t.equal(flag.code, 2)
  t.match(flag.stderr, /^tz-sidecar: Unknown option '--bogus'\n/)
  const command = await runCli(['serv'])
  t.equal(command.code, 2)
  t.match(command.stderr, /^tz-sidecar: unknown command `serv`\n/)
})

t.test('logs say development unless told otherwise; JSON when stdout is not a terminal, pretty when it is', async t => {
  const s = await startCli(QUICKSTART, { SIDECAR_ENVIRONMENT: '', NODE_ENV: '' })
  const listening = s.output().split('\n').find(l => l.includes('tz-sidecar listening')) as string
  t.equal(JSON.parse(listening).environment, 'development')
  s.child.kill('SIGTERM')
  await s.exited
  const prod = await startCli(QUICKSTART, { SIDECAR_ENVIRONMENT: 'production' })
  t.equal(JSON.parse(prod.output().split('\n').find(l => l.includes('tz-sidecar listening')) as string).environment, 'production')
  prod.child.kill('SIGTERM')
  await prod.exited

  // A terminal: `script` gives the process a pseudo-terminal as stdout.
  const tty = spawn('script', ['-qec', `${process.execPath} ${BIN} serve ${QUICKSTART.join(' ')} --bind-address 127.0.0.1:0`, '/dev/null'], { cwd: ROOT })
  let out = ''
  tty.stdout.on('data', d => { out += d })
  await t.resolves(new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line:\n${out}`)), 30_000)
    tty.stdout.on('data', () => { if (out.includes('tz-sidecar listening')) { clearTimeout(timer); resolve() } })
  }))
  tty.kill('SIGTERM')
  t.match(out, /\[\d\d:\d\d:\d\d\.\d{3}\] .*INFO.*tz-sidecar listening/, 'pretty lines')
  t.notMatch(out, /\{"level":/, 'no JSON lines on a terminal')
})

t.test('a pass-through upstream that cannot be reached: 502 to the client, an error log line with the error text', async t => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-cli-usage-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const sidecar = path.join(dir, 'sidecar.toml')
  await writeFile(sidecar, 'service = "pt"\nunmatched = "passthrough"\npassthrough_upstream = "http://127.0.0.1:1"\n')
  const s = await startCli(['--config-file', 'config/quickstart/tensorzero.toml', '--sidecar-config', sidecar])
  try {
    const r = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'somebody-elses-model', messages: [] }) })
    t.equal(r.status, 502)
    const other = await fetch(`${s.url}/v1/files`)
    t.equal(other.status, 502)
    const found = async (route: string): Promise<Record<string, unknown> | undefined> => {
      const line = s.output().split('\n').find(l => l.includes('"msg":"request"') && l.includes(`"route":"${route}"`))
      return line === undefined ? undefined : JSON.parse(line)
    }
    for (const route of ['/v1/chat/completions', '/v1/*']) {
      const line = await waitFor(`the log line of ${route}`, async () => await found(route))
      t.equal(line?.level, 'error', `${route}: logged at error`)
      t.equal(line?.status, 502)
      t.match(line?.error, /passthrough upstream http:\/\/127\.0\.0\.1:1 failed: ECONNREFUSED/, `${route}: with the error text`)
    }
  } finally {
    s.child.kill('SIGTERM')
    await s.exited
  }
})
