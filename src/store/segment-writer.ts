// Group commit: the records queued since the last turn become rows, encoded once as spool lines and appended to the
// open segment in one write. The same bytes, kept in memory, become the INSERT bodies (see `Segment.mem`).
// Segments are sealed when full (`maxRows`), when old (the writer's timer), or on flush and close.
import type { FileHandle } from 'node:fs/promises'
import type { InferenceRecord, FeedbackRecord, HumanEvaluationRecord } from '../core/records.ts'
import { linePrefix } from './spool.ts'
import type { Segment, SegmentMemory, SpoolDir, SpoolLedger } from './spool.ts'
import { inferenceRows, feedbackRows, humanEvaluationRow, cacheRow, workflowRunRow, workflowEpisodeRow } from './rows.ts'
import type { RowContext, TableRow } from './rows.ts'
import { errorText } from './client.ts'
import type { CacheKey, CachedAnswer } from '../core/cache.ts'
import type { WorkflowEpisodeRecord, WorkflowRunRecord } from '../core/workflow-evaluation.ts'
import type { SinkLogger, SpoolHealth } from './spool-health.ts'

export type QueuedRecord =
  | { kind: 'inference'; rec: InferenceRecord }
  | { kind: 'feedback'; rec: FeedbackRecord }
  | { kind: 'human_evaluation'; rec: HumanEvaluationRecord }
  | { kind: 'cache'; key: CacheKey; answer: CachedAnswer; madeAtMs: number }
  | { kind: 'workflow_run'; rec: WorkflowRunRecord }
  | { kind: 'workflow_episode'; rec: WorkflowEpisodeRecord }

export type { SinkLogger } from './spool-health.ts'

export interface SegmentWriterOptions {
  spool: SpoolDir
  ledger: SpoolLedger
  rowContext: RowContext
  /** Rows per segment, so per INSERT at most. */
  maxRows: number
  spoolMaxBytes: number
  /** Bytes of segments kept in memory for shipping, at most. */
  memBudget: number
  fsync: boolean
  log: SinkLogger
  /** Counts rows that could not be kept; hears whether the spool can be written. */
  health: SpoolHealth
  /** A segment was sealed and joined `ledger.sealed`. */
  onSealed: () => void
}

function rowsOfRecord (item: QueuedRecord, ctx: RowContext): TableRow[] {
  switch (item.kind) {
    case 'inference': return inferenceRows(item.rec, ctx)
    case 'feedback': return feedbackRows(item.rec, ctx)
    case 'human_evaluation': return [humanEvaluationRow(item.rec, item.rec.humanEvaluation)]
    case 'cache': return [cacheRow(item.key, item.answer, item.madeAtMs)]
    case 'workflow_run': return [workflowRunRow(item.rec, ctx)]
    case 'workflow_episode': return [workflowEpisodeRow(item.rec, ctx)]
  }
}

interface OpenSegment { seg: Segment; fh: FileHandle; openedAt: number }

const MAX_SCRATCH = 8 * 1024 * 1024
const prefixCache = new Map<string, Buffer>()
function prefixBytes (table: string): Buffer {
  let b = prefixCache.get(table)
  if (b === undefined) { b = Buffer.from(linePrefix(table)); prefixCache.set(table, b) }
  return b
}

/** Not safe for concurrent calls: the writer runs `write` and `seal` one at a time. */
export class SegmentWriter {
  private readonly opts: SegmentWriterOptions
  private current: OpenSegment | undefined
  // Lines are encoded into one reused scratch buffer (grown as needed, up to MAX_SCRATCH kept), then copied out
  // exactly: a fresh large buffer per batch is external memory V8 answers with full collections (p99 latency).
  private scratch = Buffer.allocUnsafe(64 * 1024)
  // The lines encoded but not yet written: bytes in `chunk[0, pos)`, one table name per row in `tables`, and
  // (start, end) of each row's own bytes in `spans`.
  private chunk = this.scratch
  private pos = 0
  private tables: string[] = []
  private spans: number[] = []

  constructor (opts: SegmentWriterOptions) { this.opts = opts }

  get hasOpenSegment (): boolean { return this.current !== undefined }

  /** The open segment once it is older than `maxAgeMs` or full; the writer then seals it (`seal(segment)`). */
  dueForSeal (maxAgeMs: number): Segment | undefined {
    const cur = this.current
    if (cur === undefined || cur.seg.rows === 0) return undefined
    return Date.now() - cur.openedAt >= maxAgeMs || cur.seg.rows >= this.opts.maxRows ? cur.seg : undefined
  }

  /**
   * Appends the records' rows; rows over the spool cap, or whose write failed, are dropped and counted. Never throws:
   * whatever the disk does, the batch ends and the writer can tell its waiters.
   */
  async write (records: QueuedRecord[]): Promise<void> {
    this.chunk = this.scratch
    this.pos = 0
    this.tables = []
    this.spans = []
    for (const item of records) {
      let rows: TableRow[]
      try {
        rows = rowsOfRecord(item, this.opts.rowContext)
      } catch (err) {
        this.opts.log.error({ err: errorText(err) }, 'could not build observability rows')
        this.opts.health.drop(1, 'row build failed')
        continue
      }
      for (const r of rows) await this.append(r)
    }
    await this.flush()
  }

  /** Seals the open segment (only if it is `which`, when given): it is shipped from now on, never written again. */
  async seal (which?: Segment): Promise<void> {
    const cur = this.current
    if (cur === undefined || (which !== undefined && cur.seg !== which)) return
    this.current = undefined
    // The rows counted in the segment are in the kernel already: a failing fsync or close loses none of them for a
    // running process, so the segment is sealed and shipped regardless.
    if (this.opts.fsync) await cur.fh.datasync().catch(err => { this.opts.log.warn({ err: errorText(err), path: cur.seg.path }, 'fsync of a spool segment failed') })
    await cur.fh.close().catch(() => undefined)
    if (cur.seg.rows === 0) { await this.opts.spool.remove(cur.seg).catch(() => undefined); return }
    this.opts.ledger.sealed.push(cur.seg)
    this.opts.onSealed()
  }

  private async append (r: TableRow): Promise<void> {
    const rowText = JSON.stringify(r.row)
    const prefix = prefixBytes(r.table)
    // At most 3 bytes per UTF-16 unit; a large row is measured instead, so it never reserves three times its size.
    this.ensure(prefix.length + (rowText.length > MAX_SCRATCH / 4 ? Buffer.byteLength(rowText) : rowText.length * 3) + 2)
    const start = this.pos
    const chunk = this.chunk
    let pos = start + prefix.copy(chunk, start)
    const rowStart = pos
    pos += chunk.write(rowText, pos, 'utf8')
    const rowEnd = pos
    chunk[pos++] = 0x7d // }
    chunk[pos++] = 0x0a // \n
    if (this.opts.ledger.bytes + pos > this.opts.spoolMaxBytes) { this.opts.health.drop(1, 'spool full'); return }
    if ((this.current?.seg.rows ?? 0) + this.tables.length >= this.opts.maxRows) {
      // The segment is full: this line opens the next one.
      const line = Buffer.from(chunk.subarray(start, pos))
      await this.flush()
      await this.seal()
      this.ensure(line.length)
      line.copy(this.chunk, 0)
      this.spans.push(rowStart - start, rowEnd - start)
      this.pos = line.length
    } else {
      this.spans.push(rowStart, rowEnd)
      this.pos = pos
    }
    this.tables.push(r.table)
  }

  private ensure (n: number): void {
    if (this.pos + n <= this.chunk.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.chunk.length * 2, this.pos + n))
    this.chunk.copy(grown, 0, 0, this.pos)
    this.chunk = grown
    if (grown.length <= MAX_SCRATCH) this.scratch = grown
  }

  /** Writes the encoded lines to the open segment (opening one if needed) in one write. */
  private async flush (): Promise<void> {
    const rows = this.tables.length
    if (rows === 0) return
    // A copy of exactly the bytes (the scratch buffer is reused): what the file write and the shipper hold. A buffer
    // grown past the scratch size is not reused: it is handed over as it is, and the next lines start in the scratch.
    const data = this.chunk === this.scratch ? Buffer.from(this.chunk.subarray(0, this.pos)) : this.chunk.subarray(0, this.pos)
    this.chunk = this.scratch
    const { tables, spans } = this
    this.pos = 0
    this.tables = []
    this.spans = []
    const { ledger, health } = this.opts
    let cur = this.current
    try {
      cur ??= await this.openSegment()
      const { bytesWritten } = await cur.fh.write(data)
      // A disk that fills up mid-write writes part of the lines and reports no error.
      if (bytesWritten < data.length) throw new Error(`ENOSPC: short write (${bytesWritten} of ${data.length} bytes), the disk is full`)
    } catch (err) {
      health.drop(rows, `spool write failed: ${errorText(err)}`)
      health.writeFailed(err, cur?.seg.path ?? this.opts.spool.dir)
      if (cur !== undefined) await this.abandon(cur)
      return
    }
    cur.seg.bytes += data.length
    cur.seg.rows += rows
    ledger.bytes += data.length
    ledger.rows += rows
    if (cur.seg.mem !== undefined && ledger.memBytes + data.length > this.opts.memBudget) {
      // Lines this large would hold the memory budget and more: the whole segment ships from its file instead.
      ledger.memBytes -= cur.seg.bytes - data.length
      cur.seg.mem = undefined
    } else if (cur.seg.mem !== undefined) {
      rememberRows(cur.seg.mem, data, tables, spans)
      ledger.memBytes += data.length
    }
    health.writable()
  }

  /**
   * After a failed write: cuts what part of the lines reached the file (which also gives the space back), then seals
   * the segment with the rows it held before. If the cut fails too, a later reader skips the partial last line.
   */
  private async abandon (cur: OpenSegment): Promise<void> {
    await cur.fh.truncate(cur.seg.bytes).catch(() => undefined)
    await this.seal()
  }

  private async openSegment (): Promise<OpenSegment> {
    const seg = this.opts.spool.newSegment()
    const fh = await this.opts.spool.openForAppend(seg)
    // Keep the segment's rows in memory too (shipped from there), unless sealed segments already hold the budget.
    if (this.opts.ledger.memBytes < this.opts.memBudget) seg.mem = { chunks: [], rows: new Map() }
    this.current = { seg, fh, openedAt: Date.now() }
    return this.current
  }
}

/** Records where each table's rows lie in the chunk just written: triples (chunk index, start, end) per table. */
function rememberRows (mem: SegmentMemory, data: Buffer, tables: string[], spans: number[]): void {
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
}
