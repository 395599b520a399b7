// `npm run bench`: the sidecar against a direct call to the same fake upstream, in one run, as ratios and differences.
//
//   node bench/run.ts [--smoke] [--floor] [--runs N] [--only a,b] [--node-arg=--flag …] [--profile=DIR] [--json FILE]
//
//   --floor       measure bench/floor-proxy.ts (a minimal Node JSON proxy) in place of the sidecar: the floor here
//   --only        phases to run: cold, writer, latency, ttfb, throughput, rss (default: all)
//   --node-arg    a Node/V8 flag for the sidecar process (repeatable), e.g. --node-arg=--max-semi-space-size=16
//   --profile=DIR write a CPU profile of the sidecar process there and print a summary (`--profile=` for a temp dir)
//
// Processes: this one (load generators: undici Client for sequential timing, autocannon for throughput), the fake
// OpenAI upstream, the fake ClickHouse, and `tz-sidecar serve` with logging on (TENSORZERO_CLICKHOUSE_URL pointing at
// the fake ClickHouse, a temporary SIDECAR_SPOOL_DIR). Everything is on 127.0.0.1, bounded in count and time, and
// stopped at the end. Each figure is the median of several runs; see the table's notes for what each run is.
import { parseArgs } from 'node:util'
import { mkdtemp, readdir, rm, writeFile, stat } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { startHelper, startSidecar, startFloorProxy, startChild, waitForOutput, rssBytes, stopAll, ROOT } from './procs.ts'
import { writeBenchConfigs } from './config.ts'
import { Endpoint, latencyRun, ttfbRun, throughputRun, cannon } from './load.ts'
import type { LatencyRun, TtfbRun, ThroughputRun } from './load.ts'
import { coldStartRun } from './cold-start.ts'
import type { ColdStartRun } from './cold-start.ts'
import { median, fmtMs, fmtMB, fmtInt, fmtPct, sleep } from './stats.ts'
import { markdownTable, verdict } from './report.ts'
import type { Row } from './report.ts'
import { summarise } from './profile-summary.ts'

const { values: flags } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    floor: { type: 'boolean', default: false },
    runs: { type: 'string' },
    only: { type: 'string' },
    'node-arg': { type: 'string', multiple: true },
    profile: { type: 'string' },
    json: { type: 'string' }
  },
  allowPositionals: false
})
// `--profile` alone: parseArgs needs a value for string options, so accept `--profile=DIR` or `--profile ''`.
const profileDir = flags.profile !== undefined ? (flags.profile !== '' ? path.resolve(flags.profile) : await mkdtemp(path.join(tmpdir(), 'tz-bench-prof-'))) : undefined

const smoke = flags.smoke === true
const PHASES = ['cold', 'writer', 'latency', 'ttfb', 'throughput', 'rss'] as const
const only = new Set((flags.only ?? PHASES.join(',')).split(',').map(s => s.trim()))
for (const p of only) if (!(PHASES as readonly string[]).includes(p)) throw new Error(`--only: unknown phase \`${p}\` (phases: ${PHASES.join(', ')})`)
// What the image ships (compose/Dockerfile NODE_OPTIONS): the bench measures the sidecar as it runs there. A
// --node-arg given on the command line comes after these, so it wins (V8 takes the last value of a flag).
const SHIPPED_NODE_ARGS = ['--max-semi-space-size=8']
const nodeArgs = [...SHIPPED_NODE_ARGS, ...(flags['node-arg'] ?? [])]
const P = smoke
  ? { runs: 1, warmup: 100, latencyEach: 150, ttfbEach: 20, tpRuns: 1, tpSeconds: 0.5, connections: 64, rssTotal: 2000, rssMaxSeconds: 4, coldRuns: 1, writerRuns: 1, writerInferences: 500 }
  : { runs: 5, warmup: 2000, latencyEach: 1500, ttfbEach: 200, tpRuns: 3, tpSeconds: 3, connections: 64, rssTotal: 100_000, rssMaxSeconds: 30, coldRuns: 5, writerRuns: 3, writerInferences: 10_000 }
if (flags.runs !== undefined) { P.runs = Number(flags.runs); P.tpRuns = Number(flags.runs); P.coldRuns = Number(flags.runs); P.writerRuns = Math.max(1, Math.round(Number(flags.runs) / 2)) }

const TARGETS = { addedP50Ms: 0.25, addedP99Ms: 1, throughputRatio: 0.4, addedTtfbP50Ms: 0.5, rssBytes: 100 * 1024 * 1024, rssGrowthBytes: 10 * 1024 * 1024, coldStartMs: 300, writerRowsPerSec: 20_000 }

const started = performance.now()
const log = (msg: string): void => { process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${msg}\n`) }

async function chStats (url: string): Promise<{ rows: number; inserts: number; byTable: Record<string, number> }> {
  const res = await fetch(new URL('/stats', url))
  return await res.json() as { rows: number; inserts: number; byTable: Record<string, number> }
}

/** Temp folders to remove however the run ends. */
const cleanups: Array<() => Promise<void>> = []

async function main (): Promise<void> {
  const load0 = loadavg()[0]
  log(`${smoke ? 'smoke' : 'full'} run on Node ${process.version}, load average ${load0.toFixed(2)}${nodeArgs.length > 0 ? `, sidecar node args ${nodeArgs.join(' ')}` : ''}`)
  const upstream = await startHelper('fake-upstream.ts')
  const clickhouse = await startHelper('fake-clickhouse.ts')
  const chUrl = `${clickhouse.url}/tensorzero`
  const cfg = await writeBenchConfigs(upstream.url)
  cleanups.push(async () => await rm(cfg.dir, { recursive: true, force: true }))
  const spoolDir = path.join(cfg.dir, 'spool')
  const sidecarEnv = { TENSORZERO_CLICKHOUSE_URL: chUrl, SIDECAR_SPOOL_DIR: spoolDir, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' }
  const skipped: Row['verdict'] = 'INFO'

  // ---- cold start (nothing else running yet)
  const cold: ColdStartRun[] = []
  if (only.has('cold')) {
    for (let i = 0; i < P.coldRuns; i++) cold.push(await coldStartRun(cfg.bigConfigFile, { TENSORZERO_CLICKHOUSE_URL: chUrl }, nodeArgs))
    log(`cold start: sidecar ${cold.map(c => c.sidecarMs.toFixed(0)).join(', ')} ms; bare node ${cold.map(c => c.bareNodeMs.toFixed(0)).join(', ')} ms`)
  }

  // ---- writer micro-bench (production sink, its own process)
  const writer: Array<{ rowsPerSec: number; rows: number; expectedRows: number; ms: number; enqueueUsPerInference: number; cpuUsPerRow: number }> = []
  if (only.has('writer')) {
    for (let i = 0; i < P.writerRuns; i++) {
      const child = startChild([...nodeArgs, path.join(ROOT, 'bench/writer.ts'), cfg.configFile, cfg.sidecarConfig, chUrl, String(P.writerInferences)])
      const m = await waitForOutput(child, /^\{"inferences".*\}$/m, 60_000)
      await child.exited
      writer.push(JSON.parse(m[0]))
    }
    log(`writer: ${writer.map(w => fmtInt(w.rowsPerSec)).join(', ')} rows/s (${writer.map(w => `${w.rows}/${w.expectedRows}`).join(', ')} rows arrived)`)
  }

  // ---- the sidecar, logging on
  const chBefore = await chStats(clickhouse.url)
  const execArgv = [...nodeArgs, ...(profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])]
  const sidecar = flags.floor === true
    ? await startFloorProxy(upstream.url, execArgv)
    : await startSidecar({ configFile: cfg.configFile, sidecarConfig: cfg.sidecarConfig, env: sidecarEnv, execArgv })
  const direct = new Endpoint({ name: 'direct', origin: upstream.url })
  const side = new Endpoint({ name: 'sidecar', origin: sidecar.url })
  let cannonServed = 0
  const served = (): number => side.served + cannonServed

  for (let i = 0; i < P.warmup; i++) { await direct.once(); await side.once() }
  for (let i = 0; i < P.warmup / 20; i++) { await direct.stream(); await side.stream() }
  await sleep(200)
  const rssWarm = rssBytes(sidecar.pid)
  const servedWarm = served()
  log(`warm-up done (${servedWarm} sidecar requests), RSS ${fmtMB(rssWarm)}`)

  const lat: LatencyRun[] = []
  if (only.has('latency')) {
    for (let i = 0; i < P.runs; i++) lat.push(await latencyRun(direct, side, P.latencyEach))
    log(`latency added p50: ${lat.map(r => r.addedP50.toFixed(3)).join(', ')} ms; p99: ${lat.map(r => r.addedP99.toFixed(3)).join(', ')} ms`)
  }

  const ttfb: TtfbRun[] = []
  if (only.has('ttfb')) {
    for (let i = 0; i < P.runs; i++) ttfb.push(await ttfbRun(direct, side, P.ttfbEach))
    log(`ttfb added p50: ${ttfb.map(r => r.addedP50.toFixed(3)).join(', ')} ms; p99: ${ttfb.map(r => r.addedP99.toFixed(3)).join(', ')} ms`)
  }

  const tp: ThroughputRun[] = []
  if (only.has('throughput')) {
    for (let i = 0; i < P.tpRuns; i++) {
      const r = await throughputRun(upstream.url, sidecar.url, P.connections, P.tpSeconds, i % 2 === 1, { sidecar: sidecar.pid, upstream: upstream.pid })
      cannonServed += r.sidecarRequests
      tp.push(r)
    }
    log(`throughput: ${tp.map(r => `${fmtInt(r.sidecarRps)}/${fmtInt(r.directRps)}`).join(', ')} req/s (sidecar/direct); ` +
      `CPU/request: sidecar ${tp.map(r => r.sidecarCpuUs.toFixed(0)).join(', ')} µs, upstream ${tp.map(r => r.upstreamCpuUs.toFixed(0)).join(', ')} µs`)
  }

  // ---- RSS: top up to P.rssTotal sidecar requests at P.connections connections (at least 20 % of it, at most
  // P.rssMaxSeconds), in 8 steps, sampling RSS after each; "flat" compares the last sample with the one halfway.
  const rssSamples: Array<{ served: number; rss: number }> = [{ served: served(), rss: rssBytes(sidecar.pid) }]
  if (only.has('rss')) {
    // autocannon refuses an `amount` below its connection count: a step is never smaller than one request per
    // connection, so the phase runs the same way however many requests a fast machine served before it.
    const topUp = Math.max(Math.ceil(P.rssTotal * 0.2), P.rssTotal - served())
    const step = Math.max(P.connections, Math.ceil(topUp / 8))
    const until = performance.now() + P.rssMaxSeconds * 1000
    for (let i = 0; i < 8 && performance.now() < until; i++) {
      cannonServed += (await cannon(sidecar.url, { connections: P.connections, amount: step })).requests
      await sleep(100)
      rssSamples.push({ served: served(), rss: rssBytes(sidecar.pid) })
    }
    log(`RSS: warm ${fmtMB(rssWarm)}; ${rssSamples.map(s => `${fmtMB(s.rss)} at ${fmtInt(s.served)}`).join(', ')}`)
  }
  const rssEnd = rssSamples[rssSamples.length - 1]
  const rssMid = rssSamples[Math.floor((rssSamples.length - 1) / 2)]
  // RSS saw-tooths with the garbage collector (tens of MB between samples): "flat" compares the median of the samples in
  // the second half of the top-up with the median of those in the first half.
  const half = Math.floor(rssSamples.length / 2)
  const firstHalf = median(rssSamples.slice(1, Math.max(2, half + 1)).map(s => s.rss))
  const secondHalf = median(rssSamples.slice(half + 1).map(s => s.rss))

  // ---- logging on: let the sidecar ship, stop it (its shutdown ships the rest), count rows at the fake ClickHouse
  await sleep(300)
  await direct.close()
  await side.close()
  const servedEnd = served()
  // Exact inference count from the sidecar's own counter (autocannon does not count requests in flight when it stops).
  const inferences = await inferencesFromMetrics(sidecar.url) ?? servedEnd
  await sidecar.stop(15_000)
  const chAfter = await chStats(clickhouse.url)
  const byTable: Record<string, number> = {}
  for (const [t, n] of Object.entries(chAfter.byTable)) byTable[t] = n - (chBefore.byTable[t] ?? 0)
  const loggedRows = (byTable.ChatInference ?? 0) + (byTable.ModelInference ?? 0)
  const spoolLeft = await dirSize(spoolDir)
  log(`logging: ${fmtInt(loggedRows)} inference rows reached the fake ClickHouse for ${fmtInt(inferences)} inferences (${JSON.stringify(byTable)}); spool left ${spoolLeft} bytes`)

  let profileText: string | undefined
  if (profileDir !== undefined) {
    const files = (await readdir(profileDir)).filter(f => f.endsWith('.cpuprofile')).sort()
    const newest = files.at(-1)
    if (newest !== undefined) profileText = summarise(path.join(profileDir, newest), 30)
  }
  await upstream.stop()
  await clickhouse.stop()

  // ---- figures
  const m = {
    addedP50: median(lat.map(r => r.addedP50)),
    addedP99: median(lat.map(r => r.addedP99)),
    directP50: median(lat.map(r => r.directP50)),
    directP99: median(lat.map(r => r.directP99)),
    sidecarP50: median(lat.map(r => r.sidecarP50)),
    sidecarP99: median(lat.map(r => r.sidecarP99)),
    tpRatio: median(tp.map(r => r.ratio)),
    tpSidecar: median(tp.map(r => r.sidecarRps)),
    tpDirect: median(tp.map(r => r.directRps)),
    sidecarCpuUs: median(tp.map(r => r.sidecarCpuUs)),
    upstreamCpuUs: median(tp.map(r => r.upstreamCpuUs)),
    ttfbAddedP50: median(ttfb.map(r => r.addedP50)),
    ttfbAddedP99: median(ttfb.map(r => r.addedP99)),
    ttfbDirectP50: median(ttfb.map(r => r.directP50)),
    ttfbDirectP99: median(ttfb.map(r => r.directP99)),
    streamTotalSidecar: median(ttfb.map(r => r.sidecarTotalP50)),
    streamTotalDirect: median(ttfb.map(r => r.directTotalP50)),
    coldSidecar: median(cold.map(c => c.sidecarMs)),
    coldBare: median(cold.map(c => c.bareNodeMs)),
    writerRowsPerSec: median(writer.map(w => w.rowsPerSec)),
    writerEnqueueUs: median(writer.map(w => w.enqueueUsPerInference)),
    writerCpuUsPerRow: median(writer.map(w => w.cpuUsPerRow)),
    writerComplete: writer.every(w => w.rows === w.expectedRows)
  }
  const growth = secondHalf - firstHalf
  const expectedRows = inferences * 2
  const loggingWired = loggedRows > 0
  const skip = (figure: string, target: string): Row => ({ figure, value: 'skipped', reference: '', target, verdict: skipped })
  const rows: Row[] = [
    only.has('latency')
      ? { figure: 'added latency p50, sequential non-streaming (1 conn)', value: `+${fmtMs(m.addedP50)}`, reference: `direct ${fmtMs(m.directP50)}, sidecar ${fmtMs(m.sidecarP50)}`, target: '≤ 0.25 ms', verdict: verdict(m.addedP50 <= TARGETS.addedP50Ms) }
      : skip('added latency p50', '≤ 0.25 ms'),
    only.has('latency')
      ? { figure: 'added latency p99, sequential non-streaming (1 conn)', value: `+${fmtMs(m.addedP99)}`, reference: `direct ${fmtMs(m.directP99)}, sidecar ${fmtMs(m.sidecarP99)}`, target: '≤ 1 ms', verdict: verdict(m.addedP99 <= TARGETS.addedP99Ms) }
      : skip('added latency p99', '≤ 1 ms'),
    only.has('throughput')
      ? { figure: `throughput at ${P.connections} connections, sidecar ÷ direct`, value: fmtPct(m.tpRatio), reference: `${fmtInt(m.tpSidecar)} vs ${fmtInt(m.tpDirect)} req/s`, target: '≥ 40 %', verdict: verdict(m.tpRatio >= TARGETS.throughputRatio) }
      : skip('throughput ratio', '≥ 40 %'),
    only.has('throughput')
      ? { figure: `sidecar CPU per request at ${P.connections} connections`, value: `${m.sidecarCpuUs.toFixed(0)} µs`, reference: `fake upstream ${m.upstreamCpuUs.toFixed(0)} µs`, target: '—', verdict: 'INFO' }
      : skip('sidecar CPU per request', '—'),
    only.has('ttfb')
      ? { figure: 'added time to first byte p50, 50-chunk SSE stream', value: `+${fmtMs(m.ttfbAddedP50)}`, reference: `direct ${fmtMs(m.ttfbDirectP50)}; whole stream ${fmtMs(m.streamTotalSidecar, 2)} vs ${fmtMs(m.streamTotalDirect, 2)}`, target: '≤ 0.5 ms', verdict: verdict(m.ttfbAddedP50 <= TARGETS.addedTtfbP50Ms) }
      : skip('added time to first byte p50', '≤ 0.5 ms'),
    only.has('ttfb')
      ? { figure: 'added time to first byte p99, 50-chunk SSE stream', value: `+${fmtMs(m.ttfbAddedP99)}`, reference: `direct ${fmtMs(m.ttfbDirectP99)}`, target: '—', verdict: 'INFO' }
      : skip('added time to first byte p99', '—'),
    { figure: 'RSS after warm-up', value: fmtMB(rssWarm), reference: `after ${fmtInt(servedWarm)} requests`, target: '≤ 100 MB', verdict: verdict(rssWarm <= TARGETS.rssBytes) },
    only.has('rss')
      ? { figure: `RSS after ${fmtInt(rssEnd.served)} requests`, value: fmtMB(rssEnd.rss), reference: `${fmtMB(rssSamples[0].rss)} at ${fmtInt(rssSamples[0].served)}, ${fmtMB(rssMid.rss)} at ${fmtInt(rssMid.served)}`, target: `≤ 100 MB${rssEnd.served < P.rssTotal ? ` (time cap: ${fmtInt(rssEnd.served)} of ${fmtInt(P.rssTotal)})` : ''}`, verdict: verdict(rssEnd.rss <= TARGETS.rssBytes) }
      : skip('RSS after 100,000 requests', '≤ 100 MB'),
    only.has('rss')
      ? { figure: `RSS growth, median of 2nd half of samples − 1st half (to ${fmtInt(rssEnd.served)} requests)`, value: `${growth >= 0 ? '+' : ''}${fmtMB(growth)}`, reference: `samples ${rssSamples.slice(1).map(s => (s.rss / 1048576).toFixed(0)).join(', ')} MB`, target: 'flat (≤ 10 MB)', verdict: verdict(growth <= TARGETS.rssGrowthBytes) }
      : skip('RSS growth', 'flat'),
    only.has('cold')
      ? { figure: 'cold start to /health ok (50 functions × 10 variants)', value: fmtMs(m.coldSidecar, 0), reference: `bare node http server ${fmtMs(m.coldBare, 0)}`, target: '≤ 300 ms', verdict: verdict(m.coldSidecar <= TARGETS.coldStartMs) }
      : skip('cold start', '≤ 300 ms'),
    only.has('writer')
      ? { figure: 'rows/s the writer ships (spool + batched inserts)', value: fmtInt(m.writerRowsPerSec), reference: `${fmtInt(P.writerInferences * 2)} rows/run${m.writerComplete ? ', all arrived' : ', ROWS MISSING'}; enqueue ${m.writerEnqueueUs.toFixed(1)} µs/inference, ${m.writerCpuUsPerRow.toFixed(1)} µs CPU/row`, target: '≥ 20,000', verdict: verdict(m.writerRowsPerSec >= TARGETS.writerRowsPerSec && m.writerComplete) }
      : skip('writer rows/s', '≥ 20,000'),
    flags.floor === true
      ? { figure: 'logging on in the sidecar: rows at the fake ClickHouse', value: 'n/a', reference: 'the floor proxy writes no rows', target: 'all rows', verdict: 'INFO' }
      : { figure: 'logging on in the sidecar: rows at the fake ClickHouse', value: loggingWired ? `${fmtInt(loggedRows)} / ${fmtInt(expectedRows)}` : 'none', reference: loggingWired ? `for ${fmtInt(inferences)} inferences (tz_sidecar_inferences_total)` : 'sink not wired into `tz-sidecar serve` yet', target: 'all rows', verdict: loggingWired ? verdict(loggedRows === expectedRows) : 'PENDING' }
  ]
  const elapsed = (performance.now() - started) / 1000
  const load1 = loadavg()[0]
  const header = `${flags.floor === true ? 'FLOOR (minimal Node proxy in place of the sidecar) ' : ''}tz-sidecar bench (${smoke ? 'smoke' : `median of ${P.runs} runs`}), Node ${process.version}${nodeArgs.length > 0 ? ` (sidecar: ${nodeArgs.join(' ')})` : ''}, ${new Date().toISOString().slice(0, 16)}Z, ` +
    `load average ${load0.toFixed(1)} → ${load1.toFixed(1)}, ${elapsed.toFixed(0)} s`
  process.stdout.write(`\n${header}\n\n${markdownTable(rows)}\n\n` +
    'Added figures are sidecar minus direct to the same fake upstream, measured interleaved in the same run; the machine is shared and noisy.\n')
  if (profileText !== undefined) process.stdout.write(`\nCPU profile of the sidecar (${profileDir ?? ''}):\n${profileText}\n`)
  if (flags.json !== undefined) {
    await writeFile(flags.json, JSON.stringify({ header, smoke, params: P, nodeArgs, figures: m, rss: { rssWarm, servedWarm, samples: rssSamples }, loggedRows, byTable, expectedRows, rows, runs: { lat, ttfb, tp, cold, writer } }, null, 2))
  }
}

async function inferencesFromMetrics (origin: string): Promise<number | undefined> {
  try {
    const res = await fetch(`${origin}/metrics`)
    if (res.status !== 200) return undefined
    let n = 0
    let seen = false
    for (const line of (await res.text()).split('\n')) {
      if (!line.startsWith('tz_sidecar_inferences_total{')) continue
      n += Number(line.slice(line.lastIndexOf(' ') + 1))
      seen = true
    }
    return seen ? n : undefined
  } catch { return undefined }
}

async function dirSize (dir: string): Promise<number> {
  try {
    let n = 0
    for (const f of await readdir(dir)) n += (await stat(path.join(dir, f))).size
    return n
  } catch { return 0 }
}

const budget = setTimeout(() => {
  process.stderr.write(`bench: over the ${smoke ? 100 : 240} s budget; stopping\n`)
  void stopAll().finally(() => process.exit(1))
}, (smoke ? 100 : 240) * 1000)
budget.unref()
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { void stopAll().finally(() => process.exit(130)) })

try {
  await main()
} catch (err) {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
} finally {
  await stopAll()
  for (const c of cleanups) await c().catch(() => undefined)
}
