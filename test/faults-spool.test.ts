// The spool under faults, against real `tz-sidecar serve` processes (issue 14, items 1, 2, 5 and the read-only start of
// 11): a tmpfs spool that fills while ClickHouse is down drains once it is back and keeps new rows again; a spool made
// read-only never hangs a request, is reported by /status as not ready and recovers; a read-only spool fails the start
// with the real reason; a second process on one spool folder is refused, a stale lock is taken over.
// The tmpfs cases need `mount` (root); where the machine does not allow it they are skipped with the reason.
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, writeFile, rm, readFile, readdir } from 'node:fs/promises'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { BIN, ROOT, startCli } from './helpers/process.ts'
import type { ServingSidecar } from './helpers/process.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startChdbServer, startFaultProxy } from './helpers/chdb-server.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'
import { waitFor } from './helpers/wait.ts'

let fake: FakeOpenAI
let dir: string
let args: string[]

t.before(async () => {
  fake = await startFakeOpenAI()
  dir = await mkdtemp(path.join(tmpdir(), 'tz-faults-spool-'))
  await writeFile(path.join(dir, 'tensorzero.toml'), `
[gateway.observability.batch_writes]
flush_interval_ms = 50
max_rows = 20
${fakeModel(fake.url, 'gpt', [['upstream', 'ok']])}
${fakeFunction('agent', [['main', 'gpt']])}
`)
  await writeFile(path.join(dir, 'sidecar.toml'), 'service = "faults"\n[routes]\n"gpt-4o-mini" = "tensorzero::function_name::agent"\n')
  args = ['--config-file', path.join(dir, 'tensorzero.toml'), '--sidecar-config', path.join(dir, 'sidecar.toml')]
})

t.teardown(async () => {
  await fake.close()
  await rm(dir, { recursive: true, force: true })
})

/** Why tmpfs cannot be mounted here, or undefined when it can (checked once, with a mount of our own). */
function whyNoMount (): string | undefined {
  const probe = mkdtempSync(path.join(tmpdir(), 'tz-mount-probe-'))
  try {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { encoding: 'utf8' })
    if (r.error !== undefined || r.status !== 0) return `cannot mount tmpfs here: ${r.error?.message ?? r.stderr.trim()}`
    spawnSync('umount', [probe])
    return undefined
  } finally { rmSync(probe, { recursive: true, force: true }) }
}
const noMount = whyNoMount()

/** A tmpfs of its own, unmounted at the end of the test. */
async function tmpfs (t: Test, options: string): Promise<string> {
  const mnt = await mkdtemp(path.join(tmpdir(), 'tz-faults-mnt-'))
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', mnt], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`mount failed: ${r.stderr}`)
  t.teardown(() => { spawnSync('umount', ['-l', mnt]); rmSync(mnt, { recursive: true, force: true }) })
  return mnt
}

/** Remounts read-only or read-write; a remount to read-only waits out EBUSY while a segment is still open. */
async function remount (mnt: string, mode: 'ro' | 'rw'): Promise<void> {
  await waitFor(`remount ${mode}`, async () => spawnSync('mount', ['-o', `remount,${mode}`, mnt]).status === 0 ? true : undefined, 15_000)
}

/** `tz-sidecar serve` expected to fail at start: its exit code and stderr (killed if it is still up after 20 s). */
async function failingStart (env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--bind-address', '127.0.0.1:0', ...args], { cwd: ROOT, env: { ...process.env, ...env } })
  let stderr = ''
  child.stderr.on('data', d => { stderr += d })
  child.stdout.resume()
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  const code = await new Promise<number | null>(resolve => child.on('close', c => resolve(c)))
  clearTimeout(timer)
  return { code, stderr }
}

async function chat (s: ServingSidecar, content = 'Hello?'): Promise<{ status: number; id?: string }> {
  const res = await fetch(`${s.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }),
    // A request must never hang on the spool: far longer than any answer takes, short of the test's own timeout.
    signal: AbortSignal.timeout(20_000)
  })
  const body = await res.json() as { id?: string }
  return { status: res.status, id: body.id }
}

async function status (s: ServingSidecar): Promise<{ code: number; body: any }> {
  const res = await fetch(`${s.url}/status`, { signal: AbortSignal.timeout(10_000) })
  return { code: res.status, body: await res.json() }
}

async function stop (s: ServingSidecar): Promise<void> {
  s.child.kill('SIGTERM')
  await s.exited
}

const count = (text: string, msg: string): number => text.split('\n').filter(l => l.includes(`"msg":"${msg}"`)).length

t.test('one process per spool folder: a second is refused naming the folder and the holder; a stale lock is taken over', async t => {
  const spool = path.join(dir, 'shared-spool')
  const first = await startCli(args, { SIDECAR_SPOOL_DIR: spool })
  try {
    const second = await failingStart({ SIDECAR_SPOOL_DIR: spool })
    t.equal(second.code, 1, 'the second process exits 1')
    const lines = second.stderr.trim().split('\n')
    t.equal(lines.length, 1, `one line: ${second.stderr}`)
    t.match(lines[0], `spool folder ${spool} is in use by process ${first.child.pid as number}`)
    t.equal((await status(first)).code, 200, 'the first is untouched')
  } finally {
    first.child.kill('SIGKILL')
    await first.exited
  }
  t.equal((await readFile(path.join(spool, 'spool.lock'), 'utf8')).trim(), String(first.child.pid), 'a killed process leaves its lock')
  const third = await startCli(args, { SIDECAR_SPOOL_DIR: spool })
  t.match(third.output(), 'took over the spool lock of a process that is gone', 'the stale lock is taken over')
  t.equal((await readFile(path.join(spool, 'spool.lock'), 'utf8')).trim(), String(third.child.pid))
  await stop(third)
  t.notOk((await readdir(spool)).includes('spool.lock'), 'a clean stop releases the lock')
})

t.test('a read-only spool fails the start with the real reason, not ENOENT', { skip: noMount ?? false }, async t => {
  const mnt = await tmpfs(t, 'size=64k,ro')
  for (const spool of [mnt, path.join(mnt, 'not', 'there')]) {
    const r = await failingStart({ SIDECAR_SPOOL_DIR: spool })
    t.equal(r.code, 1, `${spool}: exit 1`)
    t.match(r.stderr.trim(), new RegExp(`^tz-sidecar: spool folder ${spool} cannot be written: EROFS`), `${spool}: one line with the reason`)
    t.notMatch(r.stderr, /ENOENT/)
  }
})

t.test('a spool made read-only while serving: requests still answer, rows are counted as dropped, /status is not ready, then recovers', { skip: noMount ?? false }, async t => {
  const mnt = await tmpfs(t, 'size=4m')
  const s = await startCli(args, { SIDECAR_SPOOL_DIR: path.join(mnt, 'spool'), TENSORZERO_CLICKHOUSE_URL: '' })
  t.teardown(() => stop(s))
  t.equal((await chat(s)).status, 200)
  await remount(mnt, 'ro')

  for (let i = 0; i < 5; i++) t.equal((await chat(s)).status, 200, `request ${i} answers although its rows cannot be kept`)
  const broken = await status(s)
  t.equal(broken.code, 503)
  t.match(broken.body, { status: 'not_ready', reason: /spool cannot be written.*EROFS/, droppedRows: 10, spoolError: /EROFS/ })
  // Log lines reach stdout in batches: wait until both have been written, then count them.
  const notWritable = 'the spool cannot be written: rows are dropped and /status is not ready until it can'
  await waitFor('the two log lines', async () => count(s.output(), notWritable) > 0 && count(s.output(), 'observability rows dropped') > 0 ? true : undefined)
  t.equal(count(s.output(), notWritable), 1, 'logged once, with the reason')
  t.equal(count(s.output(), 'observability rows dropped'), 1, 'the burst is logged once')

  await remount(mnt, 'rw')
  await waitFor('/status ready again', async () => (await status(s)).code === 200 ? true : undefined)
  const before = (await status(s)).body
  t.equal((await chat(s)).status, 200)
  const after = await waitFor('the new rows in the spool', async () => {
    const st = (await status(s)).body
    return st.spoolDepthRows >= before.spoolDepthRows + 2 ? st : undefined
  })
  t.equal(after.droppedRows, 10, 'new rows are kept again')
  t.ok(await waitFor('the recovery log line', async () => s.output().includes('the spool can be written again') ? true : undefined), 'the recovery is logged')
})

t.test('a full tmpfs spool with ClickHouse down drains once ClickHouse is back, and keeps new rows again', { skip: noMount ?? false }, async t => {
  const ch = await startChdbServer({ database: 'tz_faults' })
  t.teardown(() => ch.close())
  const proxy = await startFaultProxy(ch)
  t.teardown(() => proxy.close())
  await proxy.setMode('refuse')
  const mnt = await tmpfs(t, 'size=256k')
  const s = await startCli(args, { SIDECAR_SPOOL_DIR: path.join(mnt, 'spool'), TENSORZERO_CLICKHOUSE_URL: proxy.url })
  t.teardown(() => stop(s))

  // Fill the disk: rows are big enough that a few dozen requests do it; every request still answers.
  const big = 'x'.repeat(2000)
  const completed: string[] = []
  const failed: number[] = []
  let full: { code: number; body: any } | undefined
  for (let i = 0; i < 400 && full === undefined; i++) {
    const r = await chat(s, big)
    if (r.status !== 200) failed.push(r.status)
    if (r.id !== undefined) completed.push(r.id)
    const st = await status(s)
    if (st.body.droppedRows > 0) full = st
  }
  if (full === undefined) throw new Error('the spool never filled')
  t.same(failed, [], `all ${completed.length} requests answered while the disk filled`)
  t.equal(full.code, 503, 'not ready while the disk is full')
  t.match(full.body, { status: 'not_ready', clickhouse: 'unreachable', spoolError: /ENOSPC/ })
  for (let i = 0; i < 5; i++) { const r = await chat(s, big); if (r.id !== undefined) completed.push(r.id) }

  await proxy.setMode('pass')
  const drained = await waitFor('the spool to drain', async () => {
    const st = await status(s)
    return st.code === 200 && st.body.clickhouse === 'connected' && st.body.spoolDepthRows === 0 ? st.body : undefined
  }, 60_000)
  t.ok(drained.shippedRows > 0, `${drained.shippedRows} rows shipped after the outage`)

  const fresh: string[] = []
  for (let i = 0; i < 3; i++) fresh.push((await chat(s, big)).id as string)
  completed.push(...fresh)
  await waitFor('the new rows in ClickHouse', async () => {
    const rows = await ch.query<{ n: number }>(`SELECT count() AS n FROM ChatInference WHERE id IN (${fresh.map(id => `'${id}'`).join(',')})`)
    return Number(rows[0].n) === fresh.length ? true : undefined
  })
  const end = await waitFor('everything shipped', async () => {
    const st = (await status(s)).body
    return st.spoolDepthRows === 0 ? st : undefined
  })
  t.equal(end.droppedRows, drained.droppedRows, 'nothing dropped once space was free again')
  t.equal(end.shippedRows + end.droppedRows, 2 * completed.length, 'every row (one inference, one model call per request) is shipped or counted as dropped')
  const [chat1] = await ch.query<{ n: number; ids: number }>('SELECT count() AS n, uniqExact(id) AS ids FROM ChatInference')
  const [model1] = await ch.query<{ n: number }>('SELECT count() AS n FROM ModelInference')
  t.equal(Number(chat1.n), Number(chat1.ids), 'no inference twice')
  t.equal(Number(chat1.n) + Number(model1.n), end.shippedRows, 'ClickHouse holds what was shipped')
  t.equal(count(s.output(), 'observability rows dropped'), 1, 'the burst of drops is logged once')
})
