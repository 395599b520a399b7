// `npm run bench`: the sidecar against a direct call to the same fake upstream and against a minimal Node proxy
// (bench/floor-proxy.ts: what Node itself costs here), in one run, as ratios and differences.
//
//   node bench/run.ts [--smoke] [--runs N] [--only a,b] [--node-arg=--flag …] [--profile=DIR] [--json FILE]
//
//   --only        phases to run: cold, writer, latency, ttfb, throughput, rss, streams (default: all)
//   --node-arg    a Node/V8 flag for the sidecar and floor processes (repeatable), e.g. --node-arg=--max-semi-space-size=16;
//                 a flag the bin ships (bin/tz-sidecar.js V8_FLAGS) given here replaces the shipped value
//   --profile=DIR write a CPU profile of the sidecar process there and print a summary (`--profile=` for a temp dir)
//
// Processes: this one (load generators: undici Client for sequential timing, autocannon for throughput), the fake
// OpenAI upstream, the fake ClickHouse, the floor proxy (with the sidecar's shipped V8 flags), and `tz-sidecar serve`
// as shipped: the bundle (built first, `node build/bundle.ts`) through the bin, which applies its V8 flags itself, with
// logging on (TENSORZERO_CLICKHOUSE_URL pointing at the fake ClickHouse, a temporary SIDECAR_SPOOL_DIR). Everything is on 127.0.0.1, bounded in count and time, and
// stopped at the end. Each figure is the median of several runs; see the table's notes for what each run is.
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import { mkdtemp, readdir, rm, writeFile, stat } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { startHelper, startSidecar, startFloorProxy, startChild, waitForOutput, rssBytes, stopAll, shippedV8Flags, ROOT } from './procs.ts'
import { writeBenchConfigs } from './config.ts'
import { Endpoint, latencyRun, ttfbRun, throughputRun, cannon } from './load.ts'
import type { LatencyRun, TtfbRun, ThroughputRun } from './load.ts'
import { coldStartRun } from './cold-start.ts'
import type { ColdStartRun } from './cold-start.ts'
import { slowStreamsRun } from './slow-streams.ts'
import type { SlowStreamsRun } from './slow-streams.ts'
import { median, fmtInt, fmtMB, sleep } from './stats.ts'
import { markdownTable } from './report.ts'
import { figureRows, keyFigures } from './figures.ts'
import { summarise } from './profile-summary.ts'

const { values: flags } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
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
const PHASES = ['cold', 'writer', 'latency', 'ttfb', 'throughput', 'rss', 'streams'] as const
const only = new Set((flags.only ?? PHASES.join(',')).split(',').map(s => s.trim()))
for (const p of only) if (!(PHASES as readonly string[]).includes(p)) throw new Error(`--only: unknown phase \`${p}\` (phases: ${PHASES.join(', ')})`)
// The sidecar gets its V8 flags from the bin (as a user's `tz-sidecar serve` does); the floor proxy gets the same ones
// so "both with the sidecar's shipped V8 flags" compares like with like. --node-arg comes after, so it wins.
const nodeArgs = flags['node-arg'] ?? []
const floorArgs = [...shippedV8Flags(), ...nodeArgs]
const P = smoke
  ? { runs: 1, warmup: 100, latencyEach: 150, ttfbEach: 20, tpRuns: 1, tpSeconds: 0.5, connections: 64, rssTotal: 2000, rssMaxSeconds: 4, coldRuns: 1, writerRuns: 1, writerInferences: 500, slowStreams: 20 }
  : { runs: 5, warmup: 2000, latencyEach: 1500, ttfbEach: 200, tpRuns: 3, tpSeconds: 3, connections: 64, rssTotal: 100_000, rssMaxSeconds: 30, coldRuns: 5, writerRuns: 3, writerInferences: 10_000, slowStreams: 500 }
if (flags.runs !== undefined) { P.runs = Number(flags.runs); P.tpRuns = Number(flags.runs); P.coldRuns = Number(flags.runs); P.writerRuns = Math.max(1, Math.round(Number(flags.runs) / 2)) }

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
  log(`${smoke ? 'smoke' : 'full'} run on Node ${process.version}, load average ${load0.toFixed(2)}${nodeArgs.length > 0 ? `, node args ${nodeArgs.join(' ')}` : ''}`)
  const bundling = startChild([path.join(ROOT, 'build/bundle.ts')])
  if ((await bundling.exited).code !== 0) throw new Error(`build/bundle.ts failed:\n${bundling.output()}`)
  const upstream = await startHelper('fake-upstream.ts')
  const clickhouse = await startHelper('fake-clickhouse.ts')
  const chUrl = `${clickhouse.url}/tensorzero`
  const cfg = await writeBenchConfigs(upstream.url)
  cleanups.push(async () => await rm(cfg.dir, { recursive: true, force: true }))
  const spoolDir = path.join(cfg.dir, 'spool')
  // TZ_SIDECAR_BUNDLE=1: the bin runs dist/tz-sidecar.js, as installed and in the image, rather than the sources.
  const sidecarEnv = { TENSORZERO_CLICKHOUSE_URL: chUrl, SIDECAR_SPOOL_DIR: spoolDir, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', TZ_SIDECAR_BUNDLE: '1' }

  // ---- cold start (nothing else running yet)
  const cold: ColdStartRun[] = []
  if (only.has('cold')) {
    for (let i = 0; i < P.coldRuns; i++) cold.push(await coldStartRun(cfg.bigConfigFile, { TENSORZERO_CLICKHOUSE_URL: chUrl, TZ_SIDECAR_BUNDLE: '1' }, nodeArgs))
    log(`cold start: sidecar ${cold.map(c => c.sidecarMs.toFixed(0)).join(', ')} ms; bare node ${cold.map(c => c.bareNodeMs.toFixed(0)).join(', ')} ms`)
  }

  // ---- writer micro-bench (production sink, its own process)
  const writer: Array<{ rowsPerSec: number; rows: number; expectedRows: number; ms: number; enqueueUsPerInference: number; cpuUsPerRow: number }> = []
  if (only.has('writer')) {
    for (let i = 0; i < P.writerRuns; i++) {
      const child = startChild([...floorArgs, path.join(ROOT, 'bench/writer.ts'), cfg.configFile, cfg.sidecarConfig, chUrl, String(P.writerInferences)])
      const m = await waitForOutput(child, /^\{"inferences".*\}$/m, 60_000)
      await child.exited
      writer.push(JSON.parse(m[0]))
    }
    log(`writer: ${writer.map(w => fmtInt(w.rowsPerSec)).join(', ')} rows/s (${writer.map(w => `${w.rows}/${w.expectedRows}`).join(', ')} rows arrived)`)
  }

  // ---- the sidecar, logging on
  const chBefore = await chStats(clickhouse.url)
  const execArgv = [...nodeArgs, ...(profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])]
  const sidecar = await startSidecar({ configFile: cfg.configFile, sidecarConfig: cfg.sidecarConfig, env: sidecarEnv, execArgv })
  const sidecarArgv = readFileSync(`/proc/${sidecar.pid}/cmdline`, 'utf8').split('\0').filter(a => a.startsWith('--max'))
  const floor = await startFloorProxy(upstream.url, floorArgs)
  await sleep(500)
  const rssRest = rssBytes(sidecar.pid)
  log(`sidecar pid ${sidecar.pid} runs with ${sidecarArgv.join(' ')}; RSS at rest ${fmtMB(rssRest)}`)
  const direct = new Endpoint({ name: 'direct', origin: upstream.url })
  const floorEp = new Endpoint({ name: 'floor', origin: floor.url })
  const side = new Endpoint({ name: 'sidecar', origin: sidecar.url })
  let cannonServed = 0
  const served = (): number => side.served + cannonServed

  for (let i = 0; i < P.warmup; i++) { await direct.once(); await floorEp.once(); await side.once() }
  for (let i = 0; i < P.warmup / 20; i++) { await direct.stream(); await side.stream() }
  await sleep(200)
  const rssWarm = rssBytes(sidecar.pid)
  const servedWarm = served()
  log(`warm-up done (${servedWarm} sidecar requests), RSS ${fmtMB(rssWarm)}`)

  const lat: LatencyRun[] = []
  if (only.has('latency')) {
    for (let i = 0; i < P.runs; i++) lat.push(await latencyRun(direct, floorEp, side, P.latencyEach))
    log(`latency added p50: ${lat.map(r => r.addedP50.toFixed(3)).join(', ')} ms (floor ${lat.map(r => r.floorAddedP50.toFixed(3)).join(', ')}); p99: ${lat.map(r => r.addedP99.toFixed(3)).join(', ')} ms`)
  }

  const ttfb: TtfbRun[] = []
  if (only.has('ttfb')) {
    for (let i = 0; i < P.runs; i++) ttfb.push(await ttfbRun(direct, side, P.ttfbEach))
    log(`ttfb added p50: ${ttfb.map(r => r.addedP50.toFixed(3)).join(', ')} ms; p99: ${ttfb.map(r => r.addedP99.toFixed(3)).join(', ')} ms`)
  }

  const tp: ThroughputRun[] = []
  let loopDelayP99Ms = NaN
  if (only.has('throughput')) {
    await eventLoopDelayP99Ms(sidecar.url) // prom-client resets its event-loop histogram on each scrape
    for (let i = 0; i < P.tpRuns; i++) {
      const r = await throughputRun({ direct: upstream.url, floor: floor.url, sidecar: sidecar.url }, P.connections, P.tpSeconds, i, { sidecar: sidecar.pid, floor: floor.pid, upstream: upstream.pid })
      cannonServed += r.sidecarRequests
      tp.push(r)
    }
    loopDelayP99Ms = await eventLoopDelayP99Ms(sidecar.url)
    log(`throughput: ${tp.map(r => `${fmtInt(r.sidecarRps)}/${fmtInt(r.floorRps)}/${fmtInt(r.directRps)}`).join(', ')} req/s (sidecar/floor/direct); ` +
      `CPU/request: sidecar ${tp.map(r => r.sidecarCpuUs.toFixed(0)).join(', ')} µs, floor ${tp.map(r => r.floorCpuUs.toFixed(0)).join(', ')} µs; ` +
      `peak RSS sidecar ${tp.map(r => fmtMB(r.sidecarPeakRss)).join(', ')}, floor ${tp.map(r => fmtMB(r.floorPeakRss)).join(', ')}; event-loop delay p99 ${loopDelayP99Ms.toFixed(1)} ms`)
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
  const streams: SlowStreamsRun[] = []
  if (only.has('streams')) {
    streams.push(await slowStreamsRun(sidecar.url, sidecar.pid, P.slowStreams, 60_000))
    const r = streams[0]
    log(`slow streams: ${r.complete}/${r.streams} complete in ${(r.wallMs / 1000).toFixed(1)} s, peak RSS ${fmtMB(r.peakRss)}, first byte p50 ${r.firstByteP50.toFixed(0)} ms ` +
      `(max ${r.firstByteMax.toFixed(0)} ms), largest gap ${r.maxGapMs.toFixed(0)} ms, ${r.stalls} stalls${r.failures.length > 0 ? `; failures: ${r.failures.join(' | ')}` : ''}`)
  }
  // RSS saw-tooths with the garbage collector (tens of MB between samples): "flat" compares the median of the samples in
  // the second half of the top-up with the median of those in the first half.
  const half = Math.floor(rssSamples.length / 2)
  const firstHalf = median(rssSamples.slice(1, Math.max(2, half + 1)).map(s => s.rss))
  const secondHalf = median(rssSamples.slice(half + 1).map(s => s.rss))

  // ---- logging on: let the sidecar ship, stop it (its shutdown ships the rest), count rows at the fake ClickHouse
  await sleep(300)
  await direct.close()
  await floorEp.close()
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
  await floor.stop()
  await upstream.stop()
  await clickhouse.stop()

  const measured = { only, P, lat, ttfb, tp, cold, writer, streams, loopDelayP99Ms, rssRest, rssWarm, servedWarm, rssSamples, firstHalf, secondHalf, loggedRows, inferences }
  const rows = figureRows(measured)
  const elapsed = (performance.now() - started) / 1000
  const load1 = loadavg()[0]
  const header = `tz-sidecar bench (${smoke ? 'smoke' : `median of ${P.runs} runs`}), Node ${process.version} (sidecar as shipped: ${sidecarArgv.join(' ')}; floor: ${floorArgs.join(' ')}), ${new Date().toISOString().slice(0, 16)}Z, ` +
    `load average ${load0.toFixed(1)} → ${load1.toFixed(1)}, ${elapsed.toFixed(0)} s`
  process.stdout.write(`\n${header}\n\n${markdownTable(rows)}\n\n` +
    'Added figures are sidecar minus direct to the same fake upstream; "floor" is the minimal Node proxy, measured interleaved in the same run; the machine is shared and noisy.\n')
  if (profileText !== undefined) process.stdout.write(`\nCPU profile of the sidecar (${profileDir ?? ''}):\n${profileText}\n`)
  if (flags.json !== undefined) {
    await writeFile(flags.json, JSON.stringify({ header, smoke, params: P, nodeArgs, sidecarArgv, figures: keyFigures(measured), floorArgs, rss: { rssRest, rssWarm, servedWarm, samples: rssSamples }, loopDelayP99Ms, loggedRows, byTable, rows, runs: { lat, ttfb, tp, cold, writer, streams } }, null, 2))
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

/** The sidecar's `nodejs_eventloop_lag_p99_seconds` (since the previous scrape), in ms. */
async function eventLoopDelayP99Ms (origin: string): Promise<number> {
  const text = await (await fetch(`${origin}/metrics`)).text()
  const line = text.split('\n').find(l => l.startsWith('nodejs_eventloop_lag_p99_seconds'))
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1)) * 1000
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
