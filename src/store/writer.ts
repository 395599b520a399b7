// The write path: request path → in-memory queue → spool segment files → ClickHouse, in order, nothing lost.
//
//   onInference / onFeedback (request path): push the record on an array. No I/O, no serialisation.
//   writer (setImmediate, group commit): builds the rows, appends them as lines to the open segment (async fs).
//     A row is on disk within one event-loop turn plus one write, typically < 1 ms after the response finished;
//     `whenPersisted()` lets a caller wait for exactly that before it sends the last bytes of a response.
//   sealer (timer, ≤ 50 ms): seals the open segment after `flushIntervalMs` or `maxRows` rows.
//   shipper (one loop): ships sealed segments oldest first, one INSERT per table, each with a deduplication token
//     `<segment id>:<table>:<rows>`. The body is the rows' UTF-8 bytes as written to the segment, copied from memory
//     (segments of this process, within a 16 MiB budget) or read back from the file (leftovers, over budget), sent
//     as one JSONEachRow stream: no per-row parsing or re-encoding. Retries with capped exponential backoff while
//     ClickHouse is down, slow or answering errors; deletes a segment once all its tables are in. At start, leftover
//     segments ship first.
//
// Crash-safety trade-off: lines are written with write(2) but not fsync'd. That survives the process dying (SIGKILL,
// OOM, crash): the data is in the kernel. It does not survive the machine losing power within the few seconds before
// the kernel writes back. `fsync: true` fsyncs each segment when it is sealed (every `flushIntervalMs`), narrowing that
// window to one interval at the cost of an fsync per interval.
//
// Size cap: the spool (segment files + rows waiting to be written) never exceeds `spoolMaxBytes`. Rows beyond it are
// dropped, counted (`droppedRows`) and reported in a warning at most every 10 s: never blocking, never silent.
import type { ClickHouseClient } from '@clickhouse/client'
import type { FileHandle } from 'node:fs/promises'
import type { InferenceObserver, InferenceRecord, FeedbackRecord } from '../core/records.ts'
import type { TensorZeroConfig } from '../core/config.ts'
import { Readable } from 'node:stream'
import { SpoolDir, linePrefix, decodeLine, splitSegment, memoryBody, memoryLines } from './spool.ts'
import type { Segment } from './spool.ts'
import { inferenceRows, feedbackRow, TABLE_ORDER } from './rows.ts'
import type { TableName } from './rows.ts'
import { makeClient, parseClickHouseUrl, redactUrl } from './client.ts'
import { runMigrate } from './tables.ts'
import { RecentTargets, DEFAULT_KNOWN_IDS } from '../feedback/known-targets.ts'
import type { KnownInference, KnownTargets, TargetLookup } from '../feedback/known-targets.ts'
import { UUID_TEXT } from '../core/ids.ts'

export interface SinkLogger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

export interface ClickHouseSinkOptions {
  /** `TENSORZERO_CLICKHOUSE_URL`. Unset: rows stay in the spool (bounded) and status says `disabled`. */
  url?: string
  spoolDir: string
  /** The sidecar's service name, written as tag `service` on inference rows. */
  service: string
  /** `[gateway] observability.batch_writes.flush_interval_ms` (default 100). */
  flushIntervalMs?: number
  /** `[gateway] observability.batch_writes.max_rows` (default 1000): rows per segment, so per INSERT at most. */
  maxRows?: number
  /** Spool size cap in bytes (default 512 MiB). */
  spoolMaxBytes?: number
  logger?: SinkLogger
  /** Send `insert_deduplication_token` (default true). */
  dedupTokens?: boolean
  /** Tells a function's configured tools from request tools (`dynamic_tools` column). */
  config?: TensorZeroConfig
  /** Per-request timeout of the ClickHouse client; a hung ClickHouse is retried after it (default 10 000 ms). */
  requestTimeoutMs?: number
  /** Retry backoff: first delay and cap (default 200 ms, 10 000 ms), doubled per failure, ±20 % jitter. */
  retry?: { initialMs?: number; maxMs?: number }
  /** `close()` tries this long to ship what is left before leaving it on disk for the next start (default 3000 ms). */
  closeTimeoutMs?: number
  /** Records waiting in memory for the writer beyond which new ones are dropped (default 100 000). */
  maxQueuedRecords?: number
  /** fsync each segment when sealed (default false; see the trade-off above). */
  fsync?: boolean
  /** Capacity of the recent-ids set used by feedback validation (default 20 000: see `DEFAULT_KNOWN_IDS`). */
  knownIdsCapacity?: number
  /**
   * Run `runMigrate` (create the database and missing tables; nothing if a TensorZero gateway manages the schema)
   * before the first insert, retried with the same backoff while ClickHouse is unreachable (default false).
   */
  migrate?: boolean
}

export interface SinkStatus {
  clickhouse: 'connected' | 'unreachable' | 'disabled'
  /** Rows on disk or waiting for the writer, not yet in ClickHouse. */
  spoolDepthRows: number
  spoolBytes: number
  spoolMaxBytes: number
  /** Segments waiting to be shipped (sealed) plus the open one. */
  spoolSegments: number
  /** Rows dropped: spool full, queue full, or recorded after close. */
  droppedRows: number
  /** Rows ClickHouse acknowledged. */
  shippedRows: number
  /** Insert attempts that failed and will be retried. */
  failedBatches: number
  /** Rows ClickHouse refused as data errors, moved to `<spoolDir>/rejected/`. */
  rejectedRows: number
  /** Damaged spool lines skipped (a line cut short by a crash). */
  damagedLines: number
  lastError?: string
  lastShippedAt?: string
}

export interface ClickHouseSink {
  observer: InferenceObserver
  /** Ids this sidecar issued recently (feedback accepts them at once). */
  knownTargets: KnownTargets
  /** ClickHouse lookups for other ids; undefined when ClickHouse is disabled. */
  lookupInClickHouse?: TargetLookup
  enqueueFeedback (record: FeedbackRecord): void
  /** Resolves when every record queued before the call is in a spool file (or was dropped). */
  whenPersisted (): Promise<void>
  status (): SinkStatus
  /** Writes and seals everything queued, then waits until it is all in ClickHouse (when enabled). */
  flush (): Promise<void>
  /** Writes what is queued, tries to ship it for `closeTimeoutMs`, then stops. Unshipped rows stay for the next start. */
  close (): Promise<void>
  /** Resolves once leftover segments of a previous process were found (they ship first). */
  ready: Promise<void>
}

type Item = { kind: 'inference'; rec: InferenceRecord } | { kind: 'feedback'; rec: FeedbackRecord }

/** ClickHouse error codes that mean the rows themselves are wrong: retrying cannot help. */
const DATA_ERROR_CODES = new Set([6, 16, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 349, 376, 457, 691])

/** Columns later TensorZero versions added: left out when an older TensorZero-managed table lacks them. */
const OPTIONAL_COLUMNS: Partial<Record<TableName, string[]>> = {
  ModelInference: ['cost', 'provider_cache_read_input_tokens', 'provider_cache_write_input_tokens', 'function_name', 'variant_name', 'snapshot_hash'],
  ChatInference: ['snapshot_hash', 'dynamic_tools', 'dynamic_provider_tools', 'allowed_tools', 'tool_choice', 'parallel_tool_calls'],
  JsonInference: ['snapshot_hash'],
  BooleanMetricFeedback: ['snapshot_hash'],
  FloatMetricFeedback: ['snapshot_hash'],
  CommentFeedback: ['snapshot_hash'],
  DemonstrationFeedback: ['snapshot_hash']
}


/** One table's rows of a segment: as one newline-terminated JSONEachRow body, or as single rows. */
interface TableRows { count: number; body: () => Buffer; lines: () => string[] }

function linesRows (rows: string[]): TableRows {
  return { count: rows.length, body: () => Buffer.from(rows.join('\n') + '\n'), lines: () => rows }
}

const MAX_SCRATCH = 8 * 1024 * 1024
const prefixCache = new Map<string, Buffer>()
function prefixBytes (table: string): Buffer {
  let b = prefixCache.get(table)
  if (b === undefined) { b = Buffer.from(linePrefix(table)); prefixCache.set(table, b) }
  return b
}

const silentLogger: SinkLogger = { info () {}, warn () {}, error () {} }

function errorCode (err: unknown): number | undefined {
  const e = err as { code?: unknown; message?: unknown }
  if (typeof e.code === 'string' && /^\d+$/.test(e.code)) return Number(e.code)
  const m = typeof e.message === 'string' ? /Code: (\d+)\./.exec(e.message) : null
  return m === null ? undefined : Number(m[1])
}

function errorText (err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err)
  return msg.split('\n')[0].slice(0, 500)
}

export function createClickHouseSink (opts: ClickHouseSinkOptions): ClickHouseSink {
  const flushIntervalMs = Math.max(1, opts.flushIntervalMs ?? 100)
  const maxRows = Math.max(1, opts.maxRows ?? 1000)
  const spoolMaxBytes = opts.spoolMaxBytes ?? 512 * 1024 * 1024
  const log = opts.logger ?? silentLogger
  const dedup = opts.dedupTokens ?? true
  const retryInitial = opts.retry?.initialMs ?? 200
  const retryMax = opts.retry?.maxMs ?? 10_000
  const closeTimeoutMs = opts.closeTimeoutMs ?? 3000
  const maxQueued = opts.maxQueuedRecords ?? 100_000
  const tickMs = Math.min(50, flushIntervalMs)
  const rowCtx = { service: opts.service, config: opts.config }

  const target = opts.url !== undefined && opts.url !== '' ? parseClickHouseUrl(opts.url) : undefined
  const client: ClickHouseClient | undefined = target === undefined ? undefined : makeClient(target, { requestTimeoutMs: opts.requestTimeoutMs ?? 10_000 })
  const spool = new SpoolDir(opts.spoolDir)
  const known = new RecentTargets(opts.knownIdsCapacity ?? DEFAULT_KNOWN_IDS)

  const st = {
    clickhouse: (client === undefined ? 'disabled' : 'unreachable') as SinkStatus['clickhouse'],
    droppedRows: 0,
    shippedRows: 0,
    failedBatches: 0,
    rejectedRows: 0,
    damagedLines: 0,
    lastError: undefined as string | undefined,
    lastShippedAt: undefined as string | undefined
  }

  let queue: Item[] = []
  let enqueued = 0
  let persisted = 0
  const persistWaiters: Array<{ seq: number; resolve: () => void }> = []
  const sealed: Segment[] = []
  let current: { seg: Segment; fh: FileHandle; openedAt: number } | undefined
  let spoolBytes = 0
  let spoolRows = 0
  // Bytes of segments kept in memory for shipping (see `Segment.mem`); beyond the budget (a backlog while ClickHouse
  // is down or slow) new segments ship from their files.
  let memBytes = 0
  const memBudget = Math.min(spoolMaxBytes, 16 * 1024 * 1024)
  let closed = false
  let dropsSinceWarn = 0
  let lastDropWarn = 0
  let lastShipErrorLog = 0

  // ---------------------------------------------------------------- drop accounting

  function drop (n: number, reason: string): void {
    st.droppedRows += n
    dropsSinceWarn += n
    const now = Date.now()
    if (now - lastDropWarn >= 10_000) {
      log.warn({ droppedRows: dropsSinceWarn, droppedTotal: st.droppedRows, reason, spoolBytes, spoolMaxBytes }, 'observability rows dropped')
      lastDropWarn = now
      dropsSinceWarn = 0
    }
  }

  // ---------------------------------------------------------------- request path

  function push (item: Item): void {
    if (closed) { drop(item.kind === 'inference' ? 1 + item.rec.modelInferences.length : 1, 'sink closed'); return }
    if (queue.length >= maxQueued) { drop(item.kind === 'inference' ? 1 + item.rec.modelInferences.length : 1, 'queue full'); return }
    queue.push(item)
    enqueued++
    scheduleWrite()
  }

  const observer: InferenceObserver = {
    onInference (rec) {
      known.remember(rec)
      push({ kind: 'inference', rec })
    },
    onFeedback (rec) { push({ kind: 'feedback', rec }) }
  }

  // ---------------------------------------------------------------- file operations (one at a time)

  let fileChain: Promise<unknown> = Promise.resolve()
  function fileOp<T> (fn: () => Promise<T>): Promise<T> {
    const p = fileChain.then(fn, fn)
    fileChain = p.catch(() => undefined)
    return p
  }

  let writeScheduled = false
  function scheduleWrite (): void {
    if (writeScheduled) return
    writeScheduled = true
    setImmediate(() => {
      writeScheduled = false
      void fileOp(writeQueued)
    })
  }

  async function openSegment (): Promise<NonNullable<typeof current>> {
    const seg = spool.newSegment()
    const fh = await spool.openForAppend(seg)
    // Keep the segment's rows in memory too (shipped from there), unless sealed segments already hold the budget.
    if (memBytes < memBudget) seg.mem = { chunks: [], rows: new Map() }
    current = { seg, fh, openedAt: Date.now() }
    return current
  }

  async function sealCurrent (): Promise<void> {
    const cur = current
    if (cur === undefined) return
    current = undefined
    try {
      if (opts.fsync === true) await cur.fh.datasync()
    } finally { await cur.fh.close() }
    if (cur.seg.rows === 0) { await spool.remove(cur.seg); return }
    sealed.push(cur.seg)
    wakeShipper()
  }

  // Lines are encoded into one reused scratch buffer (grown as needed, up to MAX_SCRATCH kept), then copied out
  // exactly: a fresh large buffer per batch is external memory V8 answers with full collections (p99 latency).
  let scratch = Buffer.allocUnsafe(64 * 1024)
  async function writeQueued (): Promise<void> {
    await ready
    while (queue.length > 0) {
      const items = queue
      queue = []
      const upTo = enqueued - queue.length
      // Lines are encoded straight into `chunk` (UTF-8), once: the same bytes go to the file and, kept in memory,
      // into the INSERT bodies. `refs` holds (table, start, end) of each row's bytes in `chunk`.
      let chunk = scratch
      let pos = 0
      let bufRows = 0
      let refTables: string[] = []
      let refs: number[] = []
      const ensure = (n: number): void => {
        if (pos + n <= chunk.length) return
        const grown = Buffer.allocUnsafe(Math.max(chunk.length * 2, pos + n))
        chunk.copy(grown, 0, 0, pos)
        chunk = grown
        if (grown.length <= MAX_SCRATCH) scratch = grown
      }
      const flushBuf = async (): Promise<void> => {
        if (bufRows === 0) return
        const cur = current ?? await openSegment()
        // A copy of exactly the bytes (the scratch buffer is reused): what the file write and the shipper hold.
        const data = Buffer.from(chunk.subarray(0, pos))
        const rows = bufRows
        const bytes = pos
        const tables = refTables
        const spans = refs
        pos = 0
        bufRows = 0
        refTables = []
        refs = []
        try {
          await cur.fh.write(data)
          cur.seg.bytes += bytes
          cur.seg.rows += rows
          spoolBytes += bytes
          spoolRows += rows
          const mem = cur.seg.mem
          if (mem !== undefined) {
            const ci = mem.chunks.length
            mem.chunks.push(data)
            let lastTable = ''
            let list: number[] | undefined
            for (let i = 0; i < tables.length; i++) {
              if (tables[i] !== lastTable || list === undefined) {
                lastTable = tables[i]
                list = mem.rows.get(lastTable)
                if (list === undefined) { list = []; mem.rows.set(lastTable, list) }
              }
              list.push(ci, spans[2 * i], spans[2 * i + 1])
            }
            memBytes += bytes
          }
        } catch (err) {
          // What reached the file is unknown: that segment ships from the file, as a leftover would.
          if (cur.seg.mem !== undefined) { memBytes -= cur.seg.bytes; cur.seg.mem = undefined }
          drop(rows, `spool write failed: ${errorText(err)}`)
          log.error({ err: errorText(err), path: cur.seg.path }, 'spool write failed')
          await sealCurrent().catch(() => undefined)
        }
      }
      for (const item of items) {
        let rows
        try {
          rows = item.kind === 'inference' ? inferenceRows(item.rec, rowCtx) : [feedbackRow(item.rec)]
        } catch (err) {
          log.error({ err: errorText(err) }, 'could not build observability rows')
          drop(1, 'row build failed')
          continue
        }
        for (const r of rows) {
          const rowText = JSON.stringify(r.row)
          const prefix = prefixBytes(r.table)
          ensure(prefix.length + rowText.length * 3 + 2)
          const start = pos
          pos += prefix.copy(chunk, pos)
          const rowStart = pos
          pos += chunk.write(rowText, pos, 'utf8')
          const rowEnd = pos
          chunk[pos++] = 0x7d // }
          chunk[pos++] = 0x0a // \n
          const bytes = pos - start
          if (spoolBytes + start + bytes > spoolMaxBytes) { pos = start; drop(1, 'spool full'); continue }
          const curRows = (current?.seg.rows ?? 0) + bufRows
          if (curRows >= maxRows) {
            // The segment is full: this line opens the next one.
            const line = Buffer.from(chunk.subarray(start, pos))
            pos = start
            await flushBuf()
            await sealCurrent()
            ensure(line.length)
            line.copy(chunk, pos)
            refs.push(pos + rowStart - start, pos + rowEnd - start)
            pos += line.length
          } else {
            refs.push(rowStart, rowEnd)
          }
          refTables.push(r.table)
          bufRows++
        }
      }
      await flushBuf()
      persisted = upTo
      for (let i = persistWaiters.length - 1; i >= 0; i--) {
        if (persistWaiters[i].seq <= persisted) { persistWaiters[i].resolve(); persistWaiters.splice(i, 1) }
      }
    }
  }

  const sealTimer = setInterval(() => {
    const cur = current
    if (cur === undefined || cur.seg.rows === 0) return
    if (Date.now() - cur.openedAt >= flushIntervalMs || cur.seg.rows >= maxRows) {
      void fileOp(async () => { if (current === cur) await sealCurrent() })
    }
  }, tickMs)
  sealTimer.unref()

  // ---------------------------------------------------------------- shipping

  let wake: (() => void) | undefined
  function wakeShipper (): void { const w = wake; wake = undefined; w?.() }
  const idleWaiters: Array<() => void> = []
  let stopShipping = false
  let sleeping: { timer: NodeJS.Timeout; resolve: () => void } | undefined

  function sleep (ms: number): Promise<void> {
    return new Promise(resolve => {
      const timer = setTimeout(() => { sleeping = undefined; resolve() }, ms)
      sleeping = { timer, resolve }
    })
  }

  const columnsCache = new Map<TableName, string[]>() // keys to strip per table
  async function stripKeysFor (table: TableName, refresh = false): Promise<string[]> {
    const optional = OPTIONAL_COLUMNS[table] ?? []
    if (!refresh) {
      const cached = columnsCache.get(table)
      if (cached !== undefined) return cached
    }
    if (client === undefined || optional.length === 0) return []
    const rs = await client.query({ query: `SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '${table}'`, format: 'JSONEachRow' })
    const names = new Set((await rs.json<{ name: string }>()).map(r => r.name))
    // A table that does not exist yet: strip nothing (the insert fails and is retried until it does).
    const strip = names.size === 0 ? [] : optional.filter(c => !names.has(c))
    columnsCache.set(table, strip)
    if (strip.length > 0) log.info({ table, columns: strip }, 'ClickHouse table lacks newer TensorZero columns; writing without them')
    return strip
  }

  async function insert (table: TableName, rows: TableRows, token: string): Promise<void> {
    const strip = await stripKeysFor(table)
    // One JSONEachRow body of UTF-8 bytes, sent as is (`exec` with a byte stream: no per-row encoding by the client).
    const body = strip.length === 0
      ? rows.body()
      : Buffer.from(rows.lines().map(r => { const o = JSON.parse(r) as Record<string, unknown>; for (const k of strip) delete o[k]; return JSON.stringify(o) + '\n' }).join(''))
    const res = await (client as ClickHouseClient).exec({
      query: `INSERT INTO ${table} FORMAT JSONEachRow`,
      values: Readable.from([body], { objectMode: false }),
      clickhouse_settings: {
        async_insert: 1,
        wait_for_async_insert: 1,
        async_insert_deduplicate: dedup ? 1 : 0,
        input_format_skip_unknown_fields: 0,
        input_format_null_as_default: 0,
        ...(dedup ? { insert_deduplication_token: token, insert_deduplicate: 1 } : {})
      }
    })
    for await (const _ of res.stream) { /* drain the (empty) response */ }
  }

  function isDataError (err: unknown): boolean {
    const code = errorCode(err)
    return code !== undefined && DATA_ERROR_CODES.has(code)
  }

  /**
   * Inserts rows; when ClickHouse refuses them as invalid, halves the batch (tokens `<token>/a`, `<token>/b`, so a
   * replay deduplicates the halves too) until the offending rows are isolated. Other errors propagate (retry).
   */
  async function insertOrBisect (table: TableName, rows: string[], token: string): Promise<{ shipped: number; rejected: string[]; reason?: string }> {
    try {
      await insert(table, linesRows(rows), token)
      return { shipped: rows.length, rejected: [] }
    } catch (err) {
      if (!isDataError(err)) throw err
      if (rows.length === 1) return { shipped: 0, rejected: rows, reason: errorText(err) }
      const mid = Math.ceil(rows.length / 2)
      const a = await insertOrBisect(table, rows.slice(0, mid), `${token}/a`)
      const b = await insertOrBisect(table, rows.slice(mid), `${token}/b`)
      return { shipped: a.shipped + b.shipped, rejected: [...a.rejected, ...b.rejected], reason: a.reason ?? b.reason }
    }
  }

  async function shipTable (seg: Segment, table: TableName, rows: TableRows): Promise<void> {
    const token = `${seg.id}:${table}:${rows.count}`
    let result: { shipped: number; rejected: string[]; reason?: string }
    try {
      await insert(table, rows, token)
      result = { shipped: rows.count, rejected: [] }
    } catch (err) {
      if (!isDataError(err)) throw err
      // Maybe the table lacks a column we write (an older TensorZero schema): learn it, then find the bad rows.
      await stripKeysFor(table, true)
      result = await insertOrBisect(table, rows.lines(), token)
    }
    if (result.rejected.length > 0) {
      const reason = result.reason ?? 'refused'
      const path = await spool.reject(seg, table, result.rejected, reason)
      st.rejectedRows += result.rejected.length
      st.lastError = reason
      log.error({ table, rows: result.rejected.length, err: reason, path }, 'ClickHouse refused rows as invalid; moved them aside')
    }
    st.shippedRows += result.shipped
    if (result.shipped > 0) st.lastShippedAt = new Date().toISOString()
    await spool.ack(seg, table)
  }

  const inspected = new Set<string>() // segments whose damaged lines were already counted
  async function readSegment (seg: Segment): Promise<{ byTable: Map<string, TableRows>; bad: number }> {
    const byTable = new Map<string, TableRows>()
    const mem = seg.mem
    if (mem !== undefined) {
      for (const [table, refs] of mem.rows) byTable.set(table, { count: refs.length / 3, body: () => memoryBody(mem, refs), lines: () => memoryLines(mem, refs) })
      return { byTable, bad: 0 }
    }
    const text = await spool.read(seg)
    const { lines, damaged } = splitSegment(text)
    const lists = new Map<string, string[]>()
    let bad = damaged
    for (const line of lines) {
      const d = decodeLine(line)
      if (d === null) { bad++; continue }
      let list = lists.get(d.table)
      if (list === undefined) { list = []; lists.set(d.table, list) }
      list.push(d.row)
    }
    for (const [table, rows] of lists) byTable.set(table, linesRows(rows))
    return { byTable, bad }
  }

  async function shipSegment (seg: Segment): Promise<void> {
    const { byTable, bad: damaged } = await readSegment(seg)
    let bad = damaged
    if (!inspected.has(seg.id)) {
      inspected.add(seg.id)
      for (const [table, rows] of byTable) {
        if (!(TABLE_ORDER as readonly string[]).includes(table)) {
          log.error({ table, rows: rows.count }, 'spool holds rows for an unknown table; skipping them')
          bad += rows.count
        }
      }
      if (bad > 0) {
        st.damagedLines += bad
        log.warn({ segment: seg.id, damagedLines: bad }, 'skipped damaged spool lines (cut short by a crash)')
      }
    }
    const acked = await spool.acks(seg)
    // The tables of one segment go in parallel (each in its own INSERT, each in order); segments go one after another.
    const results = await Promise.allSettled(TABLE_ORDER.map(async table => {
      const rows = byTable.get(table)
      if (rows === undefined || rows.count === 0 || acked.has(table)) return
      await shipTable(seg, table, rows)
    }))
    const failed = results.find(r => r.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
    inspected.delete(seg.id)
  }

  async function shipLoop (): Promise<void> {
    await ready
    let failures = 0
    let migrated = opts.migrate !== true
    while (!stopShipping) {
      const seg = sealed[0]
      if (client !== undefined && !migrated) {
        try {
          const r = await runMigrate({ url: opts.url as string, requestTimeoutMs: opts.requestTimeoutMs })
          migrated = true
          failures = 0
          st.clickhouse = 'connected'
          log.info({ managedBy: r.managedBy, created: r.created }, 'ClickHouse schema checked')
          continue
        } catch (err) {
          failures++
          st.clickhouse = 'unreachable'
          st.lastError = `migrate: ${errorText(err)}`
          if (Date.now() - lastShipErrorLog >= 10_000) {
            log.warn({ err: st.lastError, attempt: failures }, 'ClickHouse schema check failed; will retry')
            lastShipErrorLog = Date.now()
          }
          if (stopShipping) break
          await sleep(Math.min(retryMax, retryInitial * 2 ** Math.min(failures - 1, 20)))
          continue
        }
      }
      if (seg === undefined || client === undefined) {
        for (const w of idleWaiters.splice(0)) w()
        await new Promise<void>(resolve => { wake = resolve })
        continue
      }
      try {
        await shipSegment(seg)
        sealed.shift()
        if (seg.mem !== undefined) { memBytes -= seg.bytes; seg.mem = undefined }
        await spool.remove(seg)
        spoolBytes -= seg.bytes
        spoolRows -= seg.rows
        if (st.clickhouse !== 'connected' && failures > 0) log.info({ backlogSegments: sealed.length }, 'ClickHouse reachable again; shipping the spool')
        st.clickhouse = 'connected'
        failures = 0
      } catch (err) {
        failures++
        st.failedBatches++
        st.clickhouse = 'unreachable'
        st.lastError = errorText(err)
        const now = Date.now()
        if (now - lastShipErrorLog >= 10_000) {
          log.warn({ err: st.lastError, url: redactUrl(opts.url ?? ''), backlogSegments: sealed.length, attempt: failures }, 'ClickHouse insert failed; rows stay in the spool and will be retried')
          lastShipErrorLog = now
        }
        if (stopShipping) break
        const base = Math.min(retryMax, retryInitial * 2 ** Math.min(failures - 1, 20))
        await sleep(base * (0.8 + Math.random() * 0.4))
      }
    }
  }

  // ---------------------------------------------------------------- lifecycle

  const ready = (async () => {
    const leftovers = await spool.init()
    for (const seg of leftovers) {
      sealed.push(seg)
      spoolBytes += seg.bytes
      spoolRows += seg.rows
    }
    if (leftovers.length > 0) {
      log.info({ segments: leftovers.length, rows: spoolRows, bytes: spoolBytes }, 'found spool segments of an earlier process; shipping them first')
    }
  })()
  ready.catch(err => {
    st.lastError = `spool: ${errorText(err)}`
    log.error({ err: errorText(err), dir: opts.spoolDir }, 'spool directory unusable')
  })

  const shipping = shipLoop().catch(err => log.error({ err: errorText(err) }, 'ClickHouse shipper stopped'))
  if (client !== undefined) {
    client.ping().then(r => { if (r.success && st.clickhouse === 'unreachable' && st.failedBatches === 0) st.clickhouse = 'connected' }, () => undefined)
  }

  function whenPersisted (): Promise<void> {
    const seq = enqueued
    if (persisted >= seq) return Promise.resolve()
    return new Promise(resolve => { persistWaiters.push({ seq, resolve }) })
  }

  async function writeAndSeal (): Promise<void> {
    await fileOp(writeQueued)
    await fileOp(sealCurrent)
  }

  function idle (): Promise<void> {
    if (sealed.length === 0 || client === undefined) return Promise.resolve()
    return new Promise(resolve => { idleWaiters.push(resolve); wakeShipper() })
  }

  async function flush (): Promise<void> {
    await ready
    await writeAndSeal()
    await idle()
  }

  let closePromise: Promise<void> | undefined
  function close (): Promise<void> {
    closePromise ??= doClose()
    return closePromise
  }

  async function doClose (): Promise<void> {
    await ready.catch(() => undefined)
    await writeAndSeal()
    closed = true
    clearInterval(sealTimer)
    if (client !== undefined && sealed.length > 0) {
      // Cut a pending backoff short: one more attempt now.
      if (sleeping !== undefined) { clearTimeout(sleeping.timer); const s = sleeping; sleeping = undefined; s.resolve() }
      let timer: NodeJS.Timeout | undefined
      await Promise.race([idle(), new Promise<void>(resolve => { timer = setTimeout(resolve, closeTimeoutMs) })])
      clearTimeout(timer)
    }
    stopShipping = true
    if (sleeping !== undefined) { clearTimeout(sleeping.timer); const s = sleeping; sleeping = undefined; s.resolve() }
    wakeShipper()
    if (client !== undefined) {
      // An insert still in flight is abandoned: its segment stays on disk and the next start re-sends it with the
      // same deduplication token.
      await Promise.race([shipping, new Promise(resolve => setTimeout(resolve, 100))])
      await client.close().catch(() => undefined)
    }
    for (const w of persistWaiters.splice(0)) w.resolve()
    if (sealed.length > 0) log.info({ segments: sealed.length, rows: spoolRows }, 'stopping with rows still in the spool; the next start ships them')
  }

  const lookupInClickHouse: TargetLookup | undefined = client === undefined
    ? undefined
    : {
        async inference (id) {
          if (!UUID_TEXT.test(id)) return null
          const rs = await client.query({
            query: `SELECT function_name, variant_name, toString(episode_id) AS episode_id, toString(function_type) AS function_type FROM InferenceById WHERE id_uint = toUInt128(toUUID('${id}')) LIMIT 1`,
            format: 'JSONEachRow'
          })
          const rows = await rs.json<{ function_name: string; variant_name: string; episode_id: string; function_type: 'chat' | 'json' }>()
          if (rows.length === 0) return null
          const r = rows[0]
          const info: KnownInference = { functionName: r.function_name, variantName: r.variant_name, episodeId: r.episode_id, functionType: r.function_type }
          const fn = r.function_name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")
          if (r.function_type === 'json') {
            const q = await client.query({ query: `SELECT output_schema FROM JsonInference WHERE function_name = '${fn}' AND id = toUUID('${id}') LIMIT 1`, format: 'JSONEachRow' })
            const s = await q.json<{ output_schema: string }>()
            if (s.length > 0) { try { info.outputSchema = JSON.parse(s[0].output_schema) } catch { /* keep the config's */ } }
          } else {
            const q = await client.query({ query: `SELECT tool_params FROM ChatInference WHERE function_name = '${fn}' AND id = toUUID('${id}') LIMIT 1`, format: 'JSONEachRow' })
            const s = await q.json<{ tool_params: string }>()
            if (s.length > 0 && s[0].tool_params !== '') {
              try {
                const tp = JSON.parse(s[0].tool_params) as { tools_available?: Array<{ name: string; description: string; parameters: Record<string, unknown>; strict?: boolean }> }
                info.tools = (tp.tools_available ?? []).map(t => ({ name: t.name, description: t.description, parameters: t.parameters, strict: t.strict === true }))
              } catch { /* no tools */ }
            }
          }
          return info
        },
        async episode (id) {
          if (!UUID_TEXT.test(id)) return false
          const rs = await client.query({ query: `SELECT 1 AS found FROM InferenceByEpisodeId WHERE episode_id_uint = toUInt128(toUUID('${id}')) LIMIT 1`, format: 'JSONEachRow' })
          return (await rs.json()).length > 0
        }
      }

  return {
    observer,
    knownTargets: known,
    lookupInClickHouse,
    enqueueFeedback: (rec) => observer.onFeedback?.(rec),
    whenPersisted,
    status: () => ({
      clickhouse: st.clickhouse,
      spoolDepthRows: spoolRows + queueRows(),
      spoolBytes,
      spoolMaxBytes,
      spoolSegments: sealed.length + (current === undefined ? 0 : 1),
      droppedRows: st.droppedRows,
      shippedRows: st.shippedRows,
      failedBatches: st.failedBatches,
      rejectedRows: st.rejectedRows,
      damagedLines: st.damagedLines,
      ...(st.lastError !== undefined ? { lastError: st.lastError } : {}),
      ...(st.lastShippedAt !== undefined ? { lastShippedAt: st.lastShippedAt } : {})
    }),
    flush,
    close,
    ready
  }

  function queueRows (): number {
    let n = 0
    for (const it of queue) n += it.kind === 'inference' ? 1 + it.rec.modelInferences.length : 1
    return n
  }
}
