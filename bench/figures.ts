// The figures table of `npm run bench`: medians of the runs, each against its target (issue 11's targets for memory,
// start, throughput and latency against the minimal Node proxy; the earlier ones for tail latency, streams and rows).
import type { LatencyRun, TtfbRun, ThroughputRun } from './load.ts'
import type { ColdStartRun } from './cold-start.ts'
import type { SlowStreamsRun } from './slow-streams.ts'
import { median, fmtMs, fmtMB, fmtInt, fmtPct } from './stats.ts'
import { verdict } from './report.ts'
import type { Row } from './report.ts'

const MB = 1024 * 1024
const TARGETS = {
  addedP50OverFloorMs: 0.1, addedP99Ms: 1, throughputVsFloor: 0.8, addedTtfbP50Ms: 0.5,
  rssLoadBytes: 120 * MB, rssLoadOverFloorBytes: 25 * MB, rssRestOverBareBytes: 15 * MB, rssStreamsBytes: 150 * MB,
  rssGrowthBytes: 10 * MB, coldStartMs: 200, writerRowsPerSec: 20_000
}

export interface Measured {
  only: Set<string>
  P: { connections: number; rssTotal: number; writerInferences: number; slowStreams: number }
  lat: LatencyRun[]
  ttfb: TtfbRun[]
  tp: ThroughputRun[]
  cold: ColdStartRun[]
  writer: Array<{ rowsPerSec: number; rows: number; expectedRows: number; enqueueUsPerInference: number; cpuUsPerRow: number }>
  streams: SlowStreamsRun[]
  loopDelayP99Ms: number
  rssRest: number
  rssWarm: number
  servedWarm: number
  rssSamples: Array<{ served: number; rss: number }>
  firstHalf: number
  secondHalf: number
  loggedRows: number
  inferences: number
}

const signed = (ms: number): string => `${ms >= 0 ? '+' : ''}${fmtMs(ms)}`

export function figureRows (x: Measured): Row[] {
  const med = <T>(runs: T[], f: (r: T) => number): number => median(runs.map(f))
  const has = (phase: string): boolean => x.only.has(phase)
  const skip = (figure: string, target: string): Row => ({ figure, value: 'skipped', reference: '', target, verdict: 'INFO' })
  const rows: Row[] = []
  const push = (phase: string, figure: string, target: string, row: () => Omit<Row, 'figure' | 'target'>): void => {
    rows.push(has(phase) ? { figure, target, ...row() } : skip(figure, target))
  }
  const conns = x.P.connections

  push('throughput', `RSS under the ${conns}-connection load, as shipped (peak)`, '≤ 120 MB', () => {
    const peak = med(x.tp, r => r.sidecarPeakRss)
    return { value: fmtMB(peak), reference: `runs ${x.tp.map(r => fmtMB(r.sidecarPeakRss)).join(', ')}`, verdict: verdict(peak <= TARGETS.rssLoadBytes) }
  })
  push('throughput', `RSS under the ${conns}-connection load over the floor proxy, both with the shipped V8 flags`, '≤ floor + 25 MB', () => {
    const over = med(x.tp, r => r.sidecarPeakRss - r.floorPeakRss)
    return { value: `+${fmtMB(over)}`, reference: `floor ${fmtMB(med(x.tp, r => r.floorPeakRss))}`, verdict: verdict(over <= TARGETS.rssLoadOverFloorBytes) }
  })
  {
    const bare = med(x.cold, c => c.bareRestRss)
    const over = x.rssRest - bare
    rows.push(has('cold')
      ? { figure: 'RSS at rest after start-up (the bench config)', value: fmtMB(x.rssRest), reference: `bare node http server ${fmtMB(bare)} (+${fmtMB(over)})`, target: '≤ bare + 15 MB', verdict: verdict(over <= TARGETS.rssRestOverBareBytes) }
      : { figure: 'RSS at rest after start-up (the bench config)', value: fmtMB(x.rssRest), reference: 'bare server not measured (cold phase skipped)', target: '≤ bare + 15 MB', verdict: 'INFO' })
  }
  push('cold', 'RSS at rest after start-up (50 functions × 10 variants)', '—', () =>
    ({ value: fmtMB(med(x.cold, c => c.sidecarRestRss)), reference: `bare node http server ${fmtMB(med(x.cold, c => c.bareRestRss))}`, verdict: 'INFO' }))
  push('throughput', `throughput at ${conns} connections, sidecar ÷ floor proxy`, '≥ 80 %', () => {
    const ratio = med(x.tp, r => r.floorRatio)
    return { value: fmtPct(ratio), reference: `${fmtInt(med(x.tp, r => r.sidecarRps))} vs floor ${fmtInt(med(x.tp, r => r.floorRps))} vs direct ${fmtInt(med(x.tp, r => r.directRps))} req/s (sidecar ÷ direct ${fmtPct(med(x.tp, r => r.ratio))})`, verdict: verdict(ratio >= TARGETS.throughputVsFloor) }
  })
  push('throughput', `CPU per request at ${conns} connections`, '—', () =>
    ({ value: `${med(x.tp, r => r.sidecarCpuUs).toFixed(0)} µs`, reference: `floor ${med(x.tp, r => r.floorCpuUs).toFixed(0)} µs, fake upstream ${med(x.tp, r => r.upstreamCpuUs).toFixed(0)} µs`, verdict: 'INFO' }))
  push('throughput', `event-loop delay p99 under the ${conns}-connection load`, '—', () =>
    ({ value: fmtMs(x.loopDelayP99Ms, 1), reference: 'nodejs_eventloop_lag_p99_seconds over the throughput runs', verdict: 'INFO' }))
  push('latency', 'added latency p50 over direct, sequential non-streaming (1 conn)', '≤ floor + 0.1 ms', () => {
    const added = med(x.lat, r => r.addedP50)
    const floor = med(x.lat, r => r.floorAddedP50)
    return { value: signed(added), reference: `floor ${signed(floor)}; direct ${fmtMs(med(x.lat, r => r.directP50))}`, verdict: verdict(added <= floor + TARGETS.addedP50OverFloorMs) }
  })
  push('latency', 'added latency p99, sequential non-streaming (1 conn)', '≤ 1 ms', () => {
    const added = med(x.lat, r => r.addedP99)
    return { value: signed(added), reference: `direct ${fmtMs(med(x.lat, r => r.directP99))}, sidecar ${fmtMs(med(x.lat, r => r.sidecarP99))}`, verdict: verdict(added <= TARGETS.addedP99Ms) }
  })
  push('cold', 'cold start to /health ok (50 functions × 10 variants), as shipped', '≤ 200 ms', () => {
    const ms = med(x.cold, c => c.sidecarMs)
    return { value: fmtMs(ms, 0), reference: `bare node http server ${fmtMs(med(x.cold, c => c.bareNodeMs), 0)}; runs ${x.cold.map(c => c.sidecarMs.toFixed(0)).join(', ')} ms`, verdict: verdict(ms <= TARGETS.coldStartMs) }
  })
  push('streams', `${x.P.slowStreams} concurrent slow streams (a chunk every 50 ms)`, '≤ 150 MB, all complete, no stall', () => {
    const r = x.streams[0]
    const ok = r.peakRss <= TARGETS.rssStreamsBytes && r.complete === r.streams && r.stalls === 0
    return {
      value: `${fmtMB(r.peakRss)} peak, ${r.complete}/${r.streams} complete`,
      reference: `${r.stalls} gaps ≥ 1 s (largest ${r.maxGapMs.toFixed(0)} ms); first byte p50 ${r.firstByteP50.toFixed(0)} ms, max ${r.firstByteMax.toFixed(0)} ms${r.failures.length > 0 ? `; ${r.failures[0]}` : ''}`,
      verdict: verdict(ok)
    }
  })
  push('ttfb', 'added time to first byte p50, 50-chunk SSE stream', '≤ 0.5 ms', () => {
    const added = med(x.ttfb, r => r.addedP50)
    return { value: signed(added), reference: `direct ${fmtMs(med(x.ttfb, r => r.directP50))}; whole stream ${fmtMs(med(x.ttfb, r => r.sidecarTotalP50), 2)} vs ${fmtMs(med(x.ttfb, r => r.directTotalP50), 2)}`, verdict: verdict(added <= TARGETS.addedTtfbP50Ms) }
  })
  rows.push({ figure: 'RSS after warm-up', value: fmtMB(x.rssWarm), reference: `after ${fmtInt(x.servedWarm)} requests`, target: '—', verdict: 'INFO' })
  const end = x.rssSamples[x.rssSamples.length - 1]
  push('rss', `RSS after ${fmtInt(end.served)} requests at ${conns} connections`, '≤ 120 MB', () =>
    ({ value: fmtMB(end.rss), reference: `samples ${x.rssSamples.slice(1).map(s => (s.rss / MB).toFixed(0)).join(', ')} MB`, verdict: verdict(end.rss <= TARGETS.rssLoadBytes) }))
  push('rss', 'RSS growth, median of 2nd half of samples − 1st half', 'flat (≤ 10 MB)', () => {
    const growth = x.secondHalf - x.firstHalf
    return { value: `${growth >= 0 ? '+' : ''}${fmtMB(growth)}`, reference: `to ${fmtInt(end.served)} requests`, verdict: verdict(growth <= TARGETS.rssGrowthBytes) }
  })
  push('writer', 'rows/s the writer ships (spool + batched inserts)', '≥ 20,000', () => {
    const rps = med(x.writer, w => w.rowsPerSec)
    const complete = x.writer.every(w => w.rows === w.expectedRows)
    return { value: fmtInt(rps), reference: `${fmtInt(x.P.writerInferences * 2)} rows/run${complete ? ', all arrived' : ', ROWS MISSING'}; enqueue ${med(x.writer, w => w.enqueueUsPerInference).toFixed(1)} µs/inference, ${med(x.writer, w => w.cpuUsPerRow).toFixed(1)} µs CPU/row`, verdict: verdict(rps >= TARGETS.writerRowsPerSec && complete) }
  })
  const expected = x.inferences * 2
  rows.push({ figure: 'logging on in the sidecar: rows at the fake ClickHouse', value: `${fmtInt(x.loggedRows)} / ${fmtInt(expected)}`, reference: `for ${fmtInt(x.inferences)} inferences (tz_sidecar_inferences_total)`, target: 'all rows', verdict: verdict(x.loggedRows === expected) })
  return rows
}

/** The medians behind the table, by name (the `figures` of `--json`). */
export function keyFigures (x: Measured): Record<string, number | boolean> {
  const med = <T>(runs: T[], f: (r: T) => number): number => median(runs.map(f))
  return {
    addedP50: med(x.lat, r => r.addedP50),
    floorAddedP50: med(x.lat, r => r.floorAddedP50),
    addedP99: med(x.lat, r => r.addedP99),
    tpRatio: med(x.tp, r => r.ratio),
    tpRatioVsFloor: med(x.tp, r => r.floorRatio),
    sidecarCpuUs: med(x.tp, r => r.sidecarCpuUs),
    floorCpuUs: med(x.tp, r => r.floorCpuUs),
    sidecarPeakRss: med(x.tp, r => r.sidecarPeakRss),
    floorPeakRss: med(x.tp, r => r.floorPeakRss),
    rssRest: x.rssRest,
    bareRestRss: med(x.cold, c => c.bareRestRss),
    loopDelayP99Ms: x.loopDelayP99Ms,
    ttfbAddedP50: med(x.ttfb, r => r.addedP50),
    coldSidecar: med(x.cold, c => c.sidecarMs),
    coldBare: med(x.cold, c => c.bareNodeMs),
    slowStreamsPeakRss: x.streams[0]?.peakRss ?? NaN,
    slowStreamsComplete: x.streams.length > 0 && x.streams.every(r => r.complete === r.streams),
    writerRowsPerSec: med(x.writer, w => w.rowsPerSec),
    writerComplete: x.writer.every(w => w.rows === w.expectedRows)
  }
}
