// Writer micro-bench, run as its own process by bench/run.ts:
//   node bench/writer.ts <configFile> <sidecarConfig> <clickhouseUrl> <inferences>
// Captures one real InferenceRecord by running the gateway once against the fake upstream, then feeds `inferences`
// copies of it (fresh ids, made as the gateway makes them) to the production ClickHouse sink (spool + batched inserts) in bursts of 100 per event-loop
// turn, and times until the fake ClickHouse acknowledged every row. Prints one JSON line.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig } from '../src/config/load.ts'
import { Gateway } from '../src/gateway.ts'
import { parseChatRequest } from '../src/endpoints/openai/chat-request.ts'
import type { Json } from '../src/endpoints/openai/validate.ts'
import { createClickHouseSink } from '../src/store/writer.ts'
import type { InferenceRecord } from '../src/core/records.ts'
import { newId } from '../src/core/ids.ts'
import { chatBody } from './load.ts'
import { CLIENT_MODEL } from './config.ts'

const [configFile, sidecarConfig, clickhouseUrl, countArg] = process.argv.slice(2)
const inferences = Number(countArg)

async function captureRecord (): Promise<{ rec: InferenceRecord; config: Awaited<ReturnType<typeof loadConfig>> }> {
  const config = await loadConfig({ configFile, sidecarConfig, env: process.env })
  let rec: InferenceRecord | undefined
  const gw = new Gateway(config, { observer: { onInference: r => { rec = r } } })
  const target = gw.resolver.resolve(CLIENT_MODEL)
  if (target.kind !== 'function' && target.kind !== 'model') throw new Error(`bench route resolved to ${target.kind}`)
  await gw.chat(parseChatRequest(JSON.parse(chatBody(false)) as Json, target), new AbortController().signal)
  await gw.close()
  if (rec === undefined) throw new Error('the gateway reported no inference')
  return { rec, config }
}

async function stats (): Promise<{ rows: number; inserts: number }> {
  const res = await fetch(new URL('/stats', clickhouseUrl))
  return await res.json() as { rows: number; inserts: number }
}

const { rec, config } = await captureRecord()
const spoolDir = await mkdtemp(path.join(tmpdir(), 'tz-bench-spool-'))
const sink = createClickHouseSink({
  url: clickhouseUrl,
  spoolDir,
  service: 'bench',
  config: config.tensorzero,
  flushIntervalMs: config.tensorzero.gateway.batchWrites.flushIntervalMs,
  maxRows: config.tensorzero.gateway.batchWrites.maxRows
})
await sink.ready
const before = await stats()
const rowsPerInference = 1 + rec.modelInferences.length
const onInference = sink.observer.onInference?.bind(sink.observer)
if (onInference === undefined) throw new Error('sink has no onInference')

let enqueueMs = 0
const cpu0 = process.cpuUsage()
const t0 = performance.now()
for (let sent = 0; sent < inferences;) {
  const burst = Math.min(100, inferences - sent)
  const e0 = performance.now()
  for (let k = 0; k < burst; k++) {
    const mi = rec.modelInferences[0]
    onInference({ ...rec, inferenceId: newId(), episodeId: newId(), modelInferences: [{ ...mi, id: newId() }] })
  }
  enqueueMs += performance.now() - e0
  sent += burst
  await new Promise(resolve => setImmediate(resolve))
}
await sink.flush()
const ms = performance.now() - t0
const cpu = process.cpuUsage(cpu0)
const after = await stats()
const status = sink.status()
await sink.close()
await rm(spoolDir, { recursive: true, force: true })
const rows = after.rows - before.rows
process.stdout.write(JSON.stringify({
  inferences,
  expectedRows: inferences * rowsPerInference,
  rows,
  inserts: after.inserts - before.inserts,
  ms,
  rowsPerSec: rows / (ms / 1000),
  enqueueUsPerInference: (enqueueMs * 1000) / inferences,
  cpuUsPerRow: (cpu.user + cpu.system) / Math.max(1, rows),
  dropped: status.droppedRows
}) + '\n')
