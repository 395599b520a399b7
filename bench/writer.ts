// Writer micro-bench, run as its own process by bench/run.ts:
//   node bench/writer.ts <configFile> <sidecarConfig> <clickhouseUrl> <inferences>
// Captures one real InferenceRecord by running the gateway once against the fake upstream, then feeds `inferences`
// copies of it (fresh ids, made as the gateway makes them) to the store `serve` would open (spool + batched inserts) in
// bursts of 100 per event-loop turn, and times until the fake ClickHouse acknowledged every row. Prints one JSON line.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig } from '../src/config/load.ts'
import { createGateway } from '../src/gateway.ts'
import { parseChatRequest } from '../src/endpoints/openai/chat-request.ts'
import type { Json } from '../src/endpoints/openai/validate.ts'
import { openStore } from '../src/store/open.ts'
import type { StoreLogger } from '../src/store/open.ts'
import type { LoadedConfig } from '../src/core/config.ts'
import type { InferenceRecord } from '../src/core/records.ts'
import { newId } from '../src/core/ids.ts'
import { chatBody } from './load.ts'
import { CLIENT_MODEL } from './config.ts'

const [configFile, sidecarConfig, clickhouseUrl, countArg] = process.argv.slice(2)
const inferences = Number(countArg)

async function captureRecord (config: LoadedConfig): Promise<InferenceRecord> {
  let rec: InferenceRecord | undefined
  const gw = createGateway(config, { observer: { onInference: r => { rec = r } } })
  const target = gw.resolve(CLIENT_MODEL)
  if (target.kind !== 'function' && target.kind !== 'model') throw new Error(`bench route resolved to ${target.kind}`)
  await gw.chat(parseChatRequest(JSON.parse(chatBody(false)) as Json, target), new AbortController().signal)
  await gw.close()
  if (rec === undefined) throw new Error('the gateway reported no inference')
  return rec
}

async function stats (): Promise<{ rows: number; inserts: number }> {
  const res = await fetch(new URL('/stats', clickhouseUrl))
  return await res.json() as { rows: number; inserts: number }
}

const config = await loadConfig({ configFile, sidecarConfig, env: process.env })
const rec = await captureRecord(config)
const spoolDir = await mkdtemp(path.join(tmpdir(), 'tz-bench-spool-'))
const silent: StoreLogger = { info () {}, warn () {}, error () {}, child: () => silent }
// The fake ClickHouse takes inserts only: no schema to create.
const store = await openStore(config, { TENSORZERO_CLICKHOUSE_URL: clickhouseUrl, SIDECAR_SPOOL_DIR: spoolDir, SIDECAR_MIGRATE: '0' }, silent)
if (store === undefined) throw new Error('the bench config disables observability')
const before = await stats()
const rowsPerInference = 1 + rec.modelInferences.length
const onInference = store.observer.onInference?.bind(store.observer)
if (onInference === undefined) throw new Error('the store has no onInference')

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
await store.flush()
const ms = performance.now() - t0
const cpu = process.cpuUsage(cpu0)
const after = await stats()
const status = store.status()
await store.close()
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
