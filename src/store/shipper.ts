// Sealed segments → ClickHouse, oldest first, one INSERT per table, each with a deduplication token
// `<segment id>:<table>:<rows>`. The body is the rows' UTF-8 bytes as written to the segment, copied from memory
// (segments of this process, within the memory budget) or read back from the file (leftovers, over budget), sent as
// one JSONEachRow stream: no per-row parsing or re-encoding. Retries with capped exponential backoff while ClickHouse
// is down, slow or answering errors; rows ClickHouse refuses as invalid are set aside; a segment is deleted once all
// its tables are in. Without ClickHouse nothing ships: rows wait in the spool.
//
// On a full disk the shipper must free space, not need it: a segment whose tables all went in is deleted without
// writing anything; `.ack` files are written only for a segment that stays (some of its tables failed), and a failed
// ack or delete is logged, never taken for a failed insert (the tables already in are remembered in memory, and a
// replay after a restart carries the same deduplication tokens).
import type { StoreClient } from './client.ts'
import { errorText, isDataError, redactUrl } from './client.ts'
import { decodeLine, splitSegment, memoryBody, memoryLines } from './spool.ts'
import type { Segment, SpoolDir, SpoolLedger } from './spool.ts'
import { SHIPPING_WAVES, WRITTEN_TABLES, optionalColumns } from './tables.ts'
import type { TableName } from './tables.ts'
import { columnNames } from './queries.ts'
import type { MigrateResult } from './migrate.ts'
import type { SinkLogger } from './segment-writer.ts'
import { exponentialDelayMs, sleep } from '../core/backoff.ts'
import { isCode } from './spool-lock.ts'

export interface ShipStats {
  clickhouse: 'connected' | 'unreachable' | 'disabled'
  shippedRows: number
  failedBatches: number
  rejectedRows: number
  damagedLines: number
  lastError?: string
  lastShippedAt?: string
}

export interface ShipperOptions {
  client: StoreClient
  /** The ClickHouse URL, for logs (redacted). */
  url: string
  spool: SpoolDir
  ledger: SpoolLedger
  log: SinkLogger
  /** Send `insert_deduplication_token`. */
  dedup: boolean
  /** First delay and cap of the backoff, doubled per failure. */
  retry: { initialMs: number; maxMs: number }
  /** Creates the missing schema before the first insert, retried with the same backoff; absent: nothing to create. */
  migrate?: () => Promise<MigrateResult>
  /** Resolves once leftover segments of a previous process are in `ledger.sealed`. */
  ready: Promise<void>
  /** Counts rows that can no longer be shipped (their segment file vanished). */
  lost: (rows: number, reason: string) => void
}

export interface Shipper {
  readonly stats: ShipStats
  /** A segment was sealed. */
  wake (): void
  /** Resolves once every sealed segment is in ClickHouse (at once when nothing can be shipped). */
  idle (): Promise<void>
  /** Tries to ship what is sealed for `graceMs`, then stops and closes the client. Unshipped segments stay on disk. */
  close (graceMs: number): Promise<void>
}

/** The shipper for `opts.client`: one that never ships when ClickHouse is disabled. */
export function createShipper (opts: ShipperOptions): Shipper {
  if (opts.client.enabled) return new ClickHouseShipper(opts)
  return {
    stats: { clickhouse: 'disabled', shippedRows: 0, failedBatches: 0, rejectedRows: 0, damagedLines: 0 },
    wake () {},
    idle: async () => {},
    close: async () => {}
  }
}

/** One table's rows of a segment: as one newline-terminated JSONEachRow body, or as single rows. */
interface TableRows { count: number; body: () => Buffer; lines: () => string[] }

function linesRows (rows: string[]): TableRows {
  return { count: rows.length, body: () => Buffer.from(rows.join('\n') + '\n'), lines: () => rows }
}

interface InsertOutcome { shipped: number; rejected: string[]; reason?: string }

class ClickHouseShipper implements Shipper {
  readonly stats: ShipStats = { clickhouse: 'unreachable', shippedRows: 0, failedBatches: 0, rejectedRows: 0, damagedLines: 0 }
  private readonly opts: ShipperOptions
  private readonly client: StoreClient
  private readonly running: Promise<void>
  private wakeUp: (() => void) | undefined
  private readonly idleWaiters: Array<() => void> = []
  private napping: AbortController | undefined
  private stopping = false
  private failures = 0
  private lastErrorLog = 0
  /** Per table, the keys to leave out of rows (columns an older TensorZero-managed table lacks). */
  private readonly stripped = new Map<TableName, readonly string[]>()
  /** Segments whose damaged lines were already counted. */
  private readonly inspected = new Set<string>()
  /** Per segment that failed part-way, the tables already in ClickHouse (whether or not their ack was written). */
  private readonly inserted = new Map<string, Set<string>>()
  private lastDiskWarn = 0

  constructor (opts: ShipperOptions) {
    this.opts = opts
    this.client = opts.client
    this.running = this.run().catch(err => opts.log.error({ err: errorText(err) }, 'ClickHouse shipper stopped'))
    this.client.ping().then(ok => {
      if (ok && this.stats.clickhouse === 'unreachable' && this.stats.failedBatches === 0) this.stats.clickhouse = 'connected'
    }, () => undefined)
  }

  wake (): void { const w = this.wakeUp; this.wakeUp = undefined; w?.() }

  idle (): Promise<void> {
    if (this.opts.ledger.sealed.length === 0) return Promise.resolve()
    return new Promise(resolve => { this.idleWaiters.push(resolve); this.wake() })
  }

  async close (graceMs: number): Promise<void> {
    if (this.opts.ledger.sealed.length > 0) {
      // Cut a pending backoff short: one more attempt now.
      this.cutNap()
      let timer: NodeJS.Timeout | undefined
      await Promise.race([this.idle(), new Promise<void>(resolve => { timer = setTimeout(resolve, graceMs) })])
      clearTimeout(timer)
    }
    this.stopping = true
    this.cutNap()
    this.wake()
    // An insert still in flight is abandoned: its segment stays on disk and the next start re-sends it with the
    // same deduplication token.
    await Promise.race([this.running, new Promise(resolve => setTimeout(resolve, 100))])
    await this.client.close().catch(() => undefined)
  }

  private async run (): Promise<void> {
    await this.opts.ready
    let migrated = this.opts.migrate === undefined
    while (!this.stopping) {
      if (!migrated) { migrated = await this.tryMigrate(); continue }
      const seg = this.opts.ledger.sealed[0]
      if (seg === undefined) {
        for (const w of this.idleWaiters.splice(0)) w()
        await new Promise<void>(resolve => { this.wakeUp = resolve })
        continue
      }
      await this.tryShip(seg)
    }
  }

  private async tryMigrate (): Promise<boolean> {
    try {
      const r = await (this.opts.migrate as () => Promise<MigrateResult>)()
      this.failures = 0
      this.stats.clickhouse = 'connected'
      this.opts.log.info({ managedBy: r.managedBy, created: r.created }, 'ClickHouse schema checked')
      return true
    } catch (err) {
      this.failures++
      this.stats.clickhouse = 'unreachable'
      this.stats.lastError = `migrate: ${errorText(err)}`
      this.warnRateLimited({ err: this.stats.lastError, attempt: this.failures }, 'ClickHouse schema check failed; will retry')
      if (!this.stopping) await this.nap(this.backoffMs())
      return false
    }
  }

  private async tryShip (seg: Segment): Promise<void> {
    const { ledger, log } = this.opts
    try {
      await this.shipSegment(seg)
    } catch (err) {
      if (seg.mem === undefined && isCode(err, 'ENOENT')) { this.forget(seg, `segment file vanished: ${errorText(err)}`); return }
      this.failures++
      this.stats.failedBatches++
      this.stats.clickhouse = 'unreachable'
      this.stats.lastError = errorText(err)
      this.warnRateLimited({ err: this.stats.lastError, url: redactUrl(this.opts.url), backlogSegments: ledger.sealed.length, attempt: this.failures },
        'ClickHouse insert failed; rows stay in the spool and will be retried')
      if (!this.stopping) await this.nap(this.backoffMs() * (0.8 + Math.random() * 0.4))
      return
    }
    this.takeOut(seg)
    await this.opts.spool.remove(seg).catch(err => { this.diskWarn({ err: errorText(err), path: seg.path }, 'could not delete a shipped spool segment') })
    if (this.stats.clickhouse !== 'connected' && this.failures > 0) log.info({ backlogSegments: ledger.sealed.length }, 'ClickHouse reachable again; shipping the spool')
    this.stats.clickhouse = 'connected'
    this.failures = 0
  }

  /** A segment leaves the spool's books (shipped, or gone). */
  private takeOut (seg: Segment): void {
    const { ledger } = this.opts
    const at = ledger.sealed.indexOf(seg)
    if (at >= 0) ledger.sealed.splice(at, 1)
    if (seg.mem !== undefined) { ledger.memBytes -= seg.bytes; seg.mem = undefined }
    ledger.bytes -= seg.bytes
    ledger.rows -= seg.rows
    this.inserted.delete(seg.id)
    this.inspected.delete(seg.id)
  }

  /** A segment whose file is gone (removed by hand, or by another process before the lock existed): its rows are lost. */
  private forget (seg: Segment, reason: string): void {
    this.takeOut(seg)
    this.opts.lost(seg.rows, reason)
    this.opts.log.error({ segment: seg.id, rows: seg.rows, err: reason }, 'a spool segment vanished before it was shipped; its rows are lost')
  }

  /** Disk trouble on the shipper's side (a delete or an ack that failed): logged at most every 10 s, never retried. */
  private diskWarn (obj: object, msg: string): void {
    const now = Date.now()
    if (now - this.lastDiskWarn < 10_000) return
    this.opts.log.warn(obj, msg)
    this.lastDiskWarn = now
  }

  private backoffMs (): number {
    return exponentialDelayMs(this.failures - 1, this.opts.retry.initialMs, this.opts.retry.maxMs)
  }

  private warnRateLimited (obj: object, msg: string): void {
    const now = Date.now()
    if (now - this.lastErrorLog < 10_000) return
    this.opts.log.warn(obj, msg)
    this.lastErrorLog = now
  }

  private async nap (ms: number): Promise<void> {
    const nap = new AbortController()
    this.napping = nap
    await sleep(ms, nap.signal).catch(() => undefined)
    if (this.napping === nap) this.napping = undefined
  }

  private cutNap (): void { this.napping?.abort(); this.napping = undefined }

  private async shipSegment (seg: Segment): Promise<void> {
    const { byTable, damaged } = await this.readSegment(seg)
    if (!this.inspected.has(seg.id)) {
      this.inspected.add(seg.id)
      this.countDamaged(seg, byTable, damaged)
    }
    const done = this.inserted.get(seg.id) ?? await this.opts.spool.acks(seg)
    // The tables of one segment go in parallel (each in its own INSERT, each in order), feedback once the inferences
    // it refers to are in; segments go one after another.
    let failed: PromiseRejectedResult | undefined
    for (const wave of SHIPPING_WAVES) {
      const results = await Promise.allSettled(wave.map(async table => {
        const rows = byTable.get(table)
        if (rows === undefined || rows.count === 0 || done.has(table)) return
        await this.shipTable(seg, table, rows)
        done.add(table)
      }))
      failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed !== undefined) break
    }
    if (failed === undefined) return
    // The segment stays: remember what is in, and write it down for a restart (best effort: the tokens cover a replay).
    this.inserted.set(seg.id, done)
    for (const table of done) await this.opts.spool.ack(seg, table).catch(err => { this.diskWarn({ err: errorText(err), path: seg.path }, 'could not write a spool ack') })
    throw failed.reason
  }

  /** A segment's rows by table, from memory or its file, and how many of its lines were damaged. */
  private async readSegment (seg: Segment): Promise<{ byTable: Map<string, TableRows>; damaged: number }> {
    const byTable = new Map<string, TableRows>()
    const mem = seg.mem
    if (mem !== undefined) {
      for (const [table, refs] of mem.rows) byTable.set(table, { count: refs.length / 3, body: () => memoryBody(mem, refs), lines: () => memoryLines(mem, refs) })
      return { byTable, damaged: 0 }
    }
    const { lines, damaged } = splitSegment(await this.opts.spool.read(seg))
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
    return { byTable, damaged: bad }
  }

  /** Damaged lines and rows of tables the writer does not know are skipped: counted and logged once per segment. */
  private countDamaged (seg: Segment, byTable: Map<string, TableRows>, damaged: number): void {
    let bad = damaged
    for (const [table, rows] of byTable) {
      if (!(WRITTEN_TABLES as readonly string[]).includes(table)) {
        this.opts.log.error({ table, rows: rows.count }, 'spool holds rows for an unknown table; skipping them')
        bad += rows.count
      }
    }
    if (bad > 0) {
      this.stats.damagedLines += bad
      this.opts.log.warn({ segment: seg.id, damagedLines: bad }, 'skipped damaged spool lines (cut short by a crash)')
    }
  }

  private async shipTable (seg: Segment, table: TableName, rows: TableRows): Promise<void> {
    const token = `${seg.id}:${table}:${rows.count}`
    let result: InsertOutcome
    try {
      await this.insert(table, rows, token)
      result = { shipped: rows.count, rejected: [] }
    } catch (err) {
      if (!isDataError(err)) throw err
      // Maybe the table lacks a column we write (an older TensorZero schema): learn it, then find the bad rows.
      await this.strippedKeys(table, true)
      result = await this.insertOrBisect(table, rows.lines(), token)
    }
    if (result.rejected.length > 0) {
      const reason = result.reason ?? 'refused'
      this.stats.rejectedRows += result.rejected.length
      this.stats.lastError = reason
      // On a full disk they cannot be set aside: logged and counted as rejected, not retried forever.
      const path = await this.opts.spool.reject(seg, table, result.rejected, reason).catch(err => `not saved: ${errorText(err)}`)
      this.opts.log.error({ table, rows: result.rejected.length, err: reason, path }, 'ClickHouse refused rows as invalid; moved them aside')
    }
    this.stats.shippedRows += result.shipped
    if (result.shipped > 0) this.stats.lastShippedAt = new Date().toISOString()
  }

  /**
   * Inserts rows; when ClickHouse refuses them as invalid, halves the batch (tokens `<token>/a`, `<token>/b`, so a
   * replay deduplicates the halves too) until the offending rows are isolated. Other errors propagate (retry).
   */
  private async insertOrBisect (table: TableName, rows: string[], token: string): Promise<InsertOutcome> {
    try {
      await this.insert(table, linesRows(rows), token)
      return { shipped: rows.length, rejected: [] }
    } catch (err) {
      if (!isDataError(err)) throw err
      if (rows.length === 1) return { shipped: 0, rejected: rows, reason: errorText(err) }
      const mid = Math.ceil(rows.length / 2)
      const a = await this.insertOrBisect(table, rows.slice(0, mid), `${token}/a`)
      const b = await this.insertOrBisect(table, rows.slice(mid), `${token}/b`)
      return { shipped: a.shipped + b.shipped, rejected: [...a.rejected, ...b.rejected], reason: a.reason ?? b.reason }
    }
  }

  private async insert (table: TableName, rows: TableRows, token: string): Promise<void> {
    const strip = await this.strippedKeys(table)
    const body = strip.length === 0
      ? rows.body()
      : Buffer.from(rows.lines().map(r => { const o = JSON.parse(r) as Record<string, unknown>; for (const k of strip) delete o[k]; return JSON.stringify(o) + '\n' }).join(''))
    const dedup = this.opts.dedup
    await this.client.insert(table, body, {
      async_insert: 1,
      wait_for_async_insert: 1,
      async_insert_deduplicate: dedup ? 1 : 0,
      input_format_skip_unknown_fields: 0,
      input_format_null_as_default: 0,
      ...(dedup ? { insert_deduplication_token: token, insert_deduplicate: 1 } : {})
    })
  }

  private async strippedKeys (table: TableName, refresh = false): Promise<readonly string[]> {
    if (!refresh) {
      const cached = this.stripped.get(table)
      if (cached !== undefined) return cached
    }
    const optional = optionalColumns(table)
    if (optional.length === 0) return []
    const names = await columnNames(this.client, table)
    // A table that does not exist yet: strip nothing (the insert fails and is retried until it does).
    const strip = names.size === 0 ? [] : optional.filter(c => !names.has(c))
    this.stripped.set(table, strip)
    if (strip.length > 0) this.opts.log.info({ table, columns: strip }, 'ClickHouse table lacks newer TensorZero columns; writing without them')
    return strip
  }
}
