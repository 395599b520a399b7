// The spool-backed writer against a real ClickHouse engine (chdb) and a fault-injecting proxy: nothing lost while
// ClickHouse refuses, fails or hangs, nothing doubled by retries, leftovers of a killed process shipped, cap enforced.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, readdir, writeFile, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { v7 as uuidv7 } from 'uuid'
import { startChdbServer, startFaultProxy } from './helpers/chdb-server.ts'
import type { ChdbServer } from './helpers/chdb-server.ts'
import { runMigrate } from '../src/store/migrate.ts'
import { createClickHouseSink } from '../src/store/writer.ts'
import { inferenceRows } from '../src/store/rows.ts'
import type { SinkLogger } from '../src/store/writer.ts'
import { encodeLine } from '../src/store/spool.ts'
import { chatToolRecord, modelNameRecord, testConfig } from './fixtures/clickhouse/records.ts'

let ch: ChdbServer
const dirs: string[] = []
async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tz-spool-'))
  dirs.push(d)
  return d
}
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
const inList = (ids: string[]): string => ids.map(i => `'${i}'`).join(',')

async function countIds (table: string, column: string, ids: string[]): Promise<{ rows: number; distinct: number }> {
  const [r] = await ch.query<{ rows: string; distinct: string }>(`SELECT count() AS rows, uniqExact(${column}) AS distinct FROM ${table} WHERE ${column} IN (${inList(ids)})`)
  return { rows: Number(r.rows), distinct: Number(r.distinct) }
}

function recordingLogger (): SinkLogger & { lines: Array<{ level: string; msg: string; obj: object }> } {
  const lines: Array<{ level: string; msg: string; obj: object }> = []
  return {
    lines,
    info: (obj, msg) => { lines.push({ level: 'info', msg, obj }) },
    warn: (obj, msg) => { lines.push({ level: 'warn', msg, obj }) },
    error: (obj, msg) => { lines.push({ level: 'error', msg, obj }) }
  }
}

t.before(async () => {
  ch = await startChdbServer()
  await runMigrate({ url: ch.url })
})
t.teardown(async () => {
  await ch?.close()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

t.test('ClickHouse refusing, answering 500, hanging and losing answers during load: every row arrives once', async t => {
  const proxy = await startFaultProxy(ch)
  t.teardown(() => proxy.close())
  const logger = recordingLogger()
  const sink = createClickHouseSink({
    url: proxy.url, spoolDir: await tempDir(), service: 'load', logger,
    flushIntervalMs: 20, maxRows: 40, requestTimeoutMs: 400, retry: { initialMs: 20, maxMs: 150 }, closeTimeoutMs: 500
  })
  t.teardown(() => sink.close())
  const ids: string[] = []
  const produce = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const rec = modelNameRecord()
      sink.observer.onInference?.(rec)
      ids.push(rec.inferenceId)
      if (i % 10 === 9) await sleep(4)
    }
  }
  await produce(60)
  for (const mode of ['refuse', 'error500', 'hang', 'lose-response'] as const) {
    const failedBefore = sink.status().failedBatches
    await proxy.setMode(mode)
    await produce(120)
    // At least longer than the request timeout (a hung insert times out at least once), and then until the fault
    // has been met however slow the machine is (bounded: the assertions below report what did not happen).
    await sleep(700)
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(50)) {
      if (sink.status().failedBatches > failedBefore && (mode === 'refuse' || proxy.hits[mode] > 0)) break
    }
    t.ok(sink.status().failedBatches > failedBefore, `${mode}: inserts failed and are being retried`)
    if (mode !== 'refuse') t.ok(proxy.hits[mode] > 0, `${mode}: the fault was hit`)
    t.equal(sink.status().clickhouse, 'unreachable', `${mode}: status says unreachable`)
    t.ok(sink.status().spoolDepthRows > 0, `${mode}: rows wait in the spool`)
    await proxy.setMode('pass')
    await produce(40)
  }
  await sink.flush()
  const n = ids.length
  t.same(await countIds('ChatInference', 'id', ids), { rows: n, distinct: n }, `all ${n} inferences arrived, none twice`)
  t.same(await countIds('ModelInference', 'inference_id', ids), { rows: n, distinct: n }, 'all model inferences arrived, none twice')
  const [byId] = await ch.query<{ n: string }>(`SELECT count() AS n FROM InferenceById FINAL WHERE id_uint IN (SELECT toUInt128(id) FROM ChatInference WHERE id IN (${inList(ids)}))`)
  t.equal(Number(byId.n), n, 'InferenceById has each of them')
  const st = sink.status()
  t.match(st, { clickhouse: 'connected', spoolDepthRows: 0, droppedRows: 0, rejectedRows: 0, shippedRows: 2 * n })
  t.ok(logger.lines.some(l => l.level === 'warn' && l.msg.includes('ClickHouse insert failed')), 'the outage was logged')
  t.ok(logger.lines.filter(l => l.msg.includes('ClickHouse insert failed')).length < 10, 'and rate-limited')
  // Every insert carried TensorZero's settings and a deduplication token.
  const inserts = (await ch.requests()).filter(r => (r.params.query ?? '').startsWith('INSERT INTO ChatInference'))
  t.ok(inserts.length > 0)
  t.ok(inserts.every(r => r.params.async_insert === '1' && r.params.wait_for_async_insert === '1' && r.params.input_format_skip_unknown_fields === '0' &&
    r.params.input_format_null_as_default === '0' && /^[0-9a-f-]{36}:ChatInference:\d+$/.test(r.params.insert_deduplication_token ?? '')), 'insert settings and token')
})

t.test('feedback shipped with its inference in one batch is counted for the variant (inference rows land first)', async t => {
  // The feedback-by-variant views look the target up in InferenceById when the feedback row is inserted: an
  // inference row that lands later leaves the feedback out of FeedbackByVariantStatistics for good.
  const proxy = await startFaultProxy(ch)
  t.teardown(() => proxy.close())
  proxy.delayInserts('ChatInference', 1000)
  const sink = createClickHouseSink({ url: proxy.url, spoolDir: await tempDir(), service: 'order', logger: recordingLogger(), flushIntervalMs: 200, maxRows: 100 })
  t.teardown(() => sink.close())
  const rec = chatToolRecord({ inferenceId: uuidv7(), episodeId: uuidv7() })
  const feedbackId = uuidv7()
  sink.observer.onInference?.(rec)
  sink.observer.onFeedback?.({ feedbackId, metricName: 'rating', metricType: 'float', targetId: rec.inferenceId, targetType: 'inference', value: 4, tags: {} })
  await sink.flush()
  t.same(await countIds('FloatMetricFeedback', 'id', [feedbackId]), { rows: 1, distinct: 1 })
  const byVariant = await ch.query<{ variant_name: string }>(`SELECT variant_name FROM FloatMetricFeedbackByVariant WHERE id_uint = toUInt128(toUUID('${feedbackId}'))`)
  t.same(byVariant, [{ variant_name: rec.variantName }], 'the feedback row found its inference')
})

t.test('spool cap: rows beyond it are dropped, counted and logged; without a URL rows stay in the spool', async t => {
  const logger = recordingLogger()
  const spoolDir = await tempDir()
  const sink = createClickHouseSink({ spoolDir, service: 'capped', logger, spoolMaxBytes: 40_000, flushIntervalMs: 10, maxRows: 25 })
  const total = 60
  for (let i = 0; i < total; i++) sink.observer.onInference?.(chatToolRecord())
  await sink.whenPersisted()
  const st = sink.status()
  t.equal(st.clickhouse, 'disabled')
  t.ok(st.droppedRows > 0, `dropped ${st.droppedRows} rows`)
  t.ok(st.spoolBytes <= 40_000, `spool ${st.spoolBytes} bytes within the cap`)
  t.equal(st.spoolDepthRows + st.droppedRows, total * 2, 'every row is either spooled or counted as dropped')
  const warns = logger.lines.filter(l => l.msg === 'observability rows dropped')
  t.equal(warns.length, 1, 'one warning (rate-limited)')
  t.match(warns[0].obj, { reason: 'spool full' })
  await sink.close()
  const files = (await readdir(spoolDir)).filter(f => f.endsWith('.jsonl'))
  t.ok(files.length >= 1, 'rows left in segment files')
  t.equal(sink.status().spoolDepthRows, st.spoolDepthRows)
  sink.observer.onInference?.(chatToolRecord())
  t.equal(sink.status().droppedRows, st.droppedRows + 2, 'rows recorded after close are counted as dropped')
})

t.test('a person\'s verdict counts as its two rows (feedback + StaticEvaluationHumanFeedback) in the spool depth and when dropped; a deferred verdict row as one', async t => {
  const sink = createClickHouseSink({ spoolDir: await tempDir(), service: 'verdicts', logger: recordingLogger(), flushIntervalMs: 10, maxRows: 25 })
  const humanEvaluation = { datapointId: uuidv7(), evaluatorInferenceId: uuidv7(), output: '[{"type":"text","text":"hi"}]' }
  const feedback = { feedbackId: uuidv7(), metricName: 'ok', metricType: 'boolean' as const, targetId: uuidv7(), targetType: 'inference' as const, value: true, tags: {}, humanEvaluation }
  sink.observer.onFeedback?.(feedback)
  t.equal(sink.status().spoolDepthRows, 2, 'queued: two rows')
  sink.humanEvaluation({ feedbackId: uuidv7(), metricName: 'ok', value: false, humanEvaluation })
  t.equal(sink.status().spoolDepthRows, 3, 'a verdict row queued on its own is one')
  await sink.whenPersisted()
  t.equal(sink.status().spoolDepthRows, 3, 'in the spool: the same three rows')
  await sink.close()
  sink.observer.onFeedback?.(feedback)
  t.equal(sink.status().droppedRows, 2, 'recorded after close: two rows dropped')
  sink.humanEvaluation({ feedbackId: uuidv7(), metricName: 'ok', value: false, humanEvaluation })
  t.equal(sink.status().droppedRows, 3)
})

t.test('a restart ships what a SIGKILLed writer persisted, resumes acked segments, sets bad rows aside', async t => {
  const spoolDir = await tempDir()
  const proxy = await startFaultProxy(ch)
  t.teardown(() => proxy.close())
  await proxy.setMode('hang') // the killed process cannot ship: everything it persisted must come from its spool
  // A child process writes records and reports each id once `whenPersisted()` resolved (what the server awaits
  // before sending a response's last bytes); it is SIGKILLed mid-load.
  const sinkUrl = new URL('../src/store/writer.ts', import.meta.url).href
  const fixturesUrl = new URL('./fixtures/clickhouse/records.ts', import.meta.url).href
  const code = `
    import { createClickHouseSink } from ${JSON.stringify(sinkUrl)}
    import { modelNameRecord } from ${JSON.stringify(fixturesUrl)}
    const sink = createClickHouseSink({ url: process.env.CH_URL, spoolDir: process.env.SPOOL, service: 'crashy', flushIntervalMs: 30, maxRows: 50, requestTimeoutMs: 200 })
    const tick = async () => {
      const batch = []
      for (let i = 0; i < 15; i++) { const r = modelNameRecord(); sink.observer.onInference(r); batch.push(r.inferenceId) }
      await sink.whenPersisted()
      process.stdout.write(batch.join('\\n') + '\\n')
      setTimeout(tick, 2)
    }
    tick()`
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, CH_URL: proxy.url, SPOOL: spoolDir }, stdio: ['ignore', 'pipe', 'inherit'] })
  const persistedIds: string[] = []
  const rl = createInterface({ input: child.stdout! })
  rl.on('line', l => { if (l !== '') persistedIds.push(l) })
  while (persistedIds.length < 300) await sleep(20)
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
  rl.close()
  t.ok(persistedIds.length >= 300, `${persistedIds.length} inferences persisted before the kill`)
  // A SIGKILL can land inside a write of rows not yet persisted and leave that segment's last line cut short too.
  let tornByKill = 0
  for (const name of (await readdir(spoolDir)).filter(f => f.endsWith('.jsonl'))) {
    const text = await readFile(join(spoolDir, name), 'utf8')
    if (text !== '' && !text.endsWith('\n')) tornByKill++
  }

  // A segment resumed half-way: its ChatInference rows were inserted (and acked) before a crash.
  const recs = [modelNameRecord(), modelNameRecord()]
  const rows = recs.flatMap(r => inferenceRows(r, { service: 'crashy' }))
  const segId = uuidv7()
  const seg = join(spoolDir, `seg-${segId}.jsonl`)
  const chatRows = rows.filter(r => r.table === 'ChatInference').map(r => JSON.stringify(r.row))
  await ch.query(`INSERT INTO ChatInference FORMAT JSONEachRow ${chatRows.join('\n')}`)
  const badFeedback = { id: uuidv7(), target_id: recs[0].inferenceId, metric_name: 'x', value: 1, tags: {}, snapshot_hash: null, bogus: true }
  const goodFeedback = (i: number): string => encodeLine('FloatMetricFeedback', JSON.stringify({ id: uuidv7(), target_id: recs[0].inferenceId, metric_name: `ok${i}`, value: i, tags: {}, snapshot_hash: null }))
  await writeFile(seg, rows.map(r => encodeLine(r.table, JSON.stringify(r.row))).join('') +
    goodFeedback(1) + goodFeedback(2) + encodeLine('FloatMetricFeedback', JSON.stringify(badFeedback)) + goodFeedback(3) +
    '{"t":"ChatInference","r":{"id":"0199')
  await writeFile(join(spoolDir, `seg-${segId}.ack`), 'ChatInference\n')

  const logger = recordingLogger()
  const sink = createClickHouseSink({ url: ch.url, spoolDir, service: 'crashy', logger, flushIntervalMs: 20 })
  t.teardown(() => sink.close())
  await sink.ready
  t.ok(logger.lines.some(l => l.msg.includes('found spool segments of an earlier process')))
  await sink.flush()
  const n = persistedIds.length
  const got = await countIds('ChatInference', 'id', persistedIds)
  t.same(got, { rows: n, distinct: n }, 'every persisted inference of the killed process is in ClickHouse, once')
  t.same(await countIds('ChatInference', 'id', recs.map(r => r.inferenceId)), { rows: 2, distinct: 2 }, 'acked table not inserted again')
  t.same(await countIds('ModelInference', 'inference_id', recs.map(r => r.inferenceId)), { rows: 2, distinct: 2 }, 'the rest of the resumed segment shipped')
  const st = sink.status()
  t.equal(st.rejectedRows, 1, 'the row ClickHouse refuses is set aside, not retried forever')
  t.same(await ch.query(`SELECT metric_name FROM FloatMetricFeedback WHERE target_id = '${recs[0].inferenceId}' ORDER BY metric_name`),
    [{ metric_name: 'ok1' }, { metric_name: 'ok2' }, { metric_name: 'ok3' }], 'the valid rows of that batch are in')
  t.equal(st.damagedLines, 1 + tornByKill, `the line cut short by the crash is skipped (and ${tornByKill} the kill cut)`)
  t.equal(st.spoolDepthRows, 0)
  const rejected = await readdir(join(spoolDir, 'rejected'))
  t.same(rejected, [`seg-${segId}-FloatMetricFeedback.jsonl`])
  t.match(await readFile(join(spoolDir, 'rejected', rejected[0]), 'utf8'), /Unknown field found while parsing JSONEachRow format: bogus/)
  t.same((await readdir(spoolDir)).filter(f => f.startsWith('seg-')), [], 'shipped segments deleted')
})

t.test('migrate: true creates the schema (here a fresh database) before the first insert, retrying while ClickHouse is down', async t => {
  const fresh = { origin: ch.origin, database: 'tz_auto' }
  const proxy = await startFaultProxy(fresh)
  t.teardown(() => proxy.close())
  await proxy.setMode('refuse')
  const sink = createClickHouseSink({ url: proxy.url, spoolDir: await tempDir(), service: 'auto', migrate: true, flushIntervalMs: 10, retry: { initialMs: 20, maxMs: 50 } })
  t.teardown(() => sink.close())
  const rec = chatToolRecord()
  sink.observer.onInference?.(rec)
  await sleep(200)
  t.match(sink.status(), { clickhouse: 'unreachable', lastError: /^migrate: / })
  await proxy.setMode('pass')
  await sink.flush()
  t.same(await ch.query(`SELECT count() AS n FROM ChatInference WHERE id = '${rec.inferenceId}'`, { database: 'tz_auto' }), [{ n: '1' }])
})

t.test('throughput: rows per second one writer ships to the chdb engine', async t => {
  const sink = createClickHouseSink({ url: ch.url, spoolDir: await tempDir(), service: 'bench', config: testConfig(), flushIntervalMs: 100, maxRows: 1000 })
  t.teardown(() => sink.close())
  const measure = async (label: string, make: () => ReturnType<typeof chatToolRecord>, records: number): Promise<number> => {
    const before = sink.status().shippedRows
    const started = performance.now()
    for (let i = 0; i < records; i++) {
      sink.observer.onInference?.(make())
      if (i % 500 === 499) await sleep(0)
    }
    await sink.flush()
    const secs = (performance.now() - started) / 1000
    const rows = sink.status().shippedRows - before
    t.equal(rows, records * 2, `${label}: all rows shipped`)
    const rate = Math.round(rows / secs)
    t.comment(`${label}: ${rows} rows in ${secs.toFixed(2)} s = ${rate} rows/s`)
    return rate
  }
  await measure('small rows (model-name inference, ~1 KB/inference)', modelNameRecord, 10_000)
  await measure('chat rows with tools (~4 KB/inference)', chatToolRecord, 5_000)
})
