// The write path: request path → in-memory queue → spool segment files → ClickHouse, in order, nothing lost.
//
//   onInference / onFeedback (request path): push the record on an array. No I/O, no serialisation.
//   segment writer (setImmediate, group commit): builds the rows, appends them as lines to the open segment (async fs).
//     A row is on disk within one event-loop turn plus one write, typically < 1 ms after the response finished;
//     `whenPersisted()` lets a caller wait for exactly that before it sends the last bytes of a response.
//   sealer (timer, ≤ 50 ms): seals the open segment after `flushIntervalMs` or `maxRows` rows.
//   shipper (one loop): ships sealed segments oldest first; at start, leftover segments of a previous process first.
//
// Crash-safety trade-off: lines are written with write(2) but not fsync'd. That survives the process dying (SIGKILL,
// OOM, crash): the data is in the kernel. It does not survive the machine losing power within the few seconds before
// the kernel writes back. `fsync: true` fsyncs each segment when it is sealed (every `flushIntervalMs`), narrowing that
// window to one interval at the cost of an fsync per interval.
//
// Size cap: the spool (segment files + rows waiting to be written) never exceeds `spoolMaxBytes`. Rows beyond it, and
// rows the disk refuses (full, read-only, folder removed), are dropped, counted (`droppedRows`) and logged once per
// burst (`spool-health.ts`): never blocking, never silent. `whenPersisted()` settles whatever the disk does.
import type { HumanEvaluationRecord, InferenceObserver } from '../core/records.ts'
import type { TensorZeroConfig } from '../core/config.ts'
import type { RowContext } from './rows.ts'
import { SpoolDir } from './spool.ts'
import type { SpoolLedger } from './spool.ts'
import { SegmentWriter } from './segment-writer.ts'
import type { QueuedRecord, SinkLogger } from './segment-writer.ts'
import { createShipper } from './shipper.ts'
import type { Shipper, ShipStats } from './shipper.ts'
import { errorText, storeClient } from './client.ts'
import type { StoreClient } from './client.ts'
import { runMigrate } from './migrate.ts'
import { configSnapshot, writeConfigSnapshot } from './config-snapshot.ts'
import type { ConfigSnapshot } from './config-snapshot.ts'
import { SpoolHealth } from './spool-health.ts'
import { targetReads, exchangeReads, experimentReads, inferenceCacheLookup, workflowRunReads } from './queries.ts'
import type { ExperimentReads, TargetReads } from './queries.ts'
import type { ExchangeReads } from '../core/exchanges.ts'
import type { InferenceCache } from '../core/cache.ts'
import type { WorkflowRunReads, WorkflowRunWrites } from '../core/workflow-evaluation.ts'

export type { SinkLogger } from './segment-writer.ts'

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
  /**
   * Run `runMigrate` (create the database and missing tables; nothing if a TensorZero gateway manages the schema)
   * before the first insert, retried with the same backoff while ClickHouse is unreachable (default false).
   */
  migrate?: boolean
  /** The loaded config's snapshot: its hash goes on every row; its `ConfigSnapshot` row is written before the first insert. */
  configSnapshot?: ConfigSnapshot
}

export interface SinkStatus extends ShipStats {
  /** Rows on disk or waiting for the writer, not yet in ClickHouse. */
  spoolDepthRows: number
  spoolBytes: number
  spoolMaxBytes: number
  /** Segments waiting to be shipped (sealed) plus the open one. */
  spoolSegments: number
  /** Rows dropped: spool full, disk full or unwritable, queue full, or recorded after close. */
  droppedRows: number
  /** Set while the spool folder cannot be written (rows are dropped), saying why: the sidecar is not ready. */
  spoolError?: string
}

export interface ClickHouseSink {
  /** Hears inferences and feedback: queues their rows. */
  readonly observer: InferenceObserver
  /** Feedback targets stored in ClickHouse; absent when there is no ClickHouse to read. */
  readonly reads?: TargetReads
  /** Earlier exchanges stored in ClickHouse (`previous_response_id`); absent without ClickHouse. */
  readonly exchanges?: ExchangeReads
  /** DICL examples and experiment statistics; absent when there is no ClickHouse to read. */
  readonly experimentReads?: ExperimentReads
  /** `ModelInferenceCache`: lookups read ClickHouse, entries go through the spool like rows; absent without ClickHouse. */
  readonly cache?: InferenceCache
  /** Workflow evaluation runs and episodes: rows go through the spool; reads are absent without ClickHouse. */
  readonly workflowRuns: WorkflowRunWrites & { reads?: WorkflowRunReads }
  /** A verdict's StaticEvaluationHumanFeedback row, when it comes after its feedback row (the output was read first). */
  humanEvaluation (rec: HumanEvaluationRecord): void
  /** Resolves when every record queued before the call is in a spool file (or was dropped). */
  whenPersisted (): Promise<void>
  /** The config rows are built with from now on (a reloaded config). */
  useConfig (config: TensorZeroConfig): void
  status (): SinkStatus
  /** Writes and seals everything queued, then waits until it is all in ClickHouse (when enabled). */
  flush (): Promise<void>
  /** Writes what is queued, tries to ship it for `closeTimeoutMs`, then stops. Unshipped rows stay for the next start. */
  close (): Promise<void>
  /** Resolves once leftover segments of a previous process were found (they ship first). */
  readonly ready: Promise<void>
}

const silentLogger: SinkLogger = { info () {}, warn () {}, error () {} }

export function createClickHouseSink (opts: ClickHouseSinkOptions): ClickHouseSink {
  return new ClickHouseWriter(opts)
}

/** The rows a record makes (segment-writer's `rowsOfRecord`), without building them: for drop counts and queue depth. */
function rowsOf (item: QueuedRecord): number {
  if (item.kind === 'inference') return 1 + item.rec.modelInferences.length
  return item.kind === 'feedback' && item.rec.humanEvaluation !== undefined ? 2 : 1
}

class ClickHouseWriter implements ClickHouseSink {
  readonly observer: InferenceObserver = {
    onInference: rec => { this.push({ kind: 'inference', rec }) },
    onFeedback: rec => { this.push({ kind: 'feedback', rec }) }
  }

  readonly reads?: TargetReads
  readonly exchanges?: ExchangeReads
  readonly experimentReads?: ExperimentReads
  readonly cache?: InferenceCache
  readonly workflowRuns: ClickHouseSink['workflowRuns'] = {
    run: rec => { this.push({ kind: 'workflow_run', rec }) },
    episode: rec => { this.push({ kind: 'workflow_episode', rec }) }
  }

  readonly ready: Promise<void>
  private readonly log: SinkLogger
  private readonly spoolMaxBytes: number
  private readonly maxQueued: number
  private readonly closeTimeoutMs: number
  private readonly ledger: SpoolLedger = { sealed: [], bytes: 0, rows: 0, memBytes: 0 }
  private readonly segments: SegmentWriter
  private readonly shipper: Shipper
  private readonly sealTimer: NodeJS.Timeout
  private readonly health: SpoolHealth
  private readonly spool: SpoolDir
  private spoolUsable = false
  private readonly rowContext: RowContext
  private readonly client: StoreClient
  /** Whether a reloaded config gets a snapshot of its own (the opener took one of the first). */
  private readonly snapshots: boolean
  private lastProbe = 0
  private queue: QueuedRecord[] = []
  private enqueued = 0
  private persisted = 0
  private readonly persistWaiters: Array<{ seq: number; resolve: () => void }> = []
  private fileChain: Promise<unknown> = Promise.resolve()
  private writeScheduled = false
  private closed = false
  private closing: Promise<void> | undefined

  constructor (opts: ClickHouseSinkOptions) {
    const flushIntervalMs = Math.max(1, opts.flushIntervalMs ?? 100)
    this.log = opts.logger ?? silentLogger
    this.spoolMaxBytes = opts.spoolMaxBytes ?? 512 * 1024 * 1024
    this.maxQueued = opts.maxQueuedRecords ?? 100_000
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 3000
    const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000
    const client = storeClient(opts.url, { requestTimeoutMs })
    if (client.enabled) {
      this.reads = targetReads(client)
      this.exchanges = exchangeReads(client)
      this.experimentReads = experimentReads(client)
      this.cache = {
        lookup: inferenceCacheLookup(client),
        write: (key, answer) => { this.push({ kind: 'cache', key, answer, madeAtMs: Date.now() }) }
      }
      this.workflowRuns.reads = workflowRunReads(client)
    }
    this.health = new SpoolHealth(this.log, () => ({ spoolBytes: this.ledger.bytes, spoolMaxBytes: this.spoolMaxBytes }))
    this.rowContext = { service: opts.service, config: opts.config, snapshotHash: opts.configSnapshot?.hash }
    this.client = client
    this.snapshots = opts.configSnapshot !== undefined
    const spool = this.spool = new SpoolDir(opts.spoolDir)
    this.ready = this.findLeftovers(spool)
    this.segments = new SegmentWriter({
      spool,
      ledger: this.ledger,
      rowContext: this.rowContext,
      maxRows: Math.max(1, opts.maxRows ?? 1000),
      spoolMaxBytes: this.spoolMaxBytes,
      memBudget: Math.min(this.spoolMaxBytes, 16 * 1024 * 1024),
      fsync: opts.fsync === true,
      log: this.log,
      health: this.health,
      onSealed: () => { this.shipper.wake() }
    })
    this.shipper = createShipper({
      client,
      url: opts.url ?? '',
      spool,
      ledger: this.ledger,
      log: this.log,
      dedup: opts.dedupTokens ?? true,
      retry: { initialMs: opts.retry?.initialMs ?? 200, maxMs: opts.retry?.maxMs ?? 10_000 },
      migrate: opts.url !== undefined && (opts.migrate === true || opts.configSnapshot !== undefined)
        ? async () => await runMigrate({
          url: opts.url as string,
          requestTimeoutMs,
          createDatabase: true,
          createSchema: opts.migrate === true,
          configSnapshot: opts.configSnapshot,
          onWarning: (line, msg) => { this.log.warn(line, msg) }
        })
        : undefined,
      ready: this.ready,
      lost: (rows, reason) => { this.health.drop(rows, reason) }
    })
    this.ready.then(() => { this.spoolUsable = true }, err => {
      this.health.writeError = this.shipper.stats.lastError = errorText(err)
      this.log.error({ err: errorText(err), dir: opts.spoolDir }, 'spool directory unusable')
    })
    this.sealTimer = setInterval(() => {
      const due = this.segments.dueForSeal(flushIntervalMs)
      if (due !== undefined) void this.fileOp(async () => { await this.segments.seal(due) })
      this.health.tick()
      this.probeIfUnwritable()
    }, Math.min(50, flushIntervalMs))
    this.sealTimer.unref()
  }

  whenPersisted (): Promise<void> {
    const seq = this.enqueued
    if (this.persisted >= seq) return Promise.resolve()
    return new Promise(resolve => { this.persistWaiters.push({ seq, resolve }) })
  }

  humanEvaluation (rec: HumanEvaluationRecord): void { this.push({ kind: 'human_evaluation', rec }) }

  useConfig (config: TensorZeroConfig): void {
    const changed = this.rowContext.config !== undefined && this.rowContext.config !== config
    this.rowContext.config = config
    if (changed && this.snapshots) void this.snapshotReloaded(config)
  }

  /** A reloaded config: rows take its hash once its files are read; its `ConfigSnapshot` row is written best effort. */
  private async snapshotReloaded (config: TensorZeroConfig): Promise<void> {
    try {
      const snapshot = await configSnapshot(config)
      if (this.rowContext.config !== config) return
      this.rowContext.snapshotHash = snapshot.hash
      if (this.client.enabled) await writeConfigSnapshot(this.client, snapshot)
    } catch (err) {
      this.log.warn({ err: errorText(err) }, 'could not record the reloaded config snapshot')
    }
  }

  status (): SinkStatus {
    const { ledger, shipper: { stats } } = this
    let queuedRows = 0
    for (const it of this.queue) queuedRows += rowsOf(it)
    return {
      clickhouse: stats.clickhouse,
      spoolDepthRows: ledger.rows + queuedRows,
      spoolBytes: ledger.bytes,
      spoolMaxBytes: this.spoolMaxBytes,
      spoolSegments: ledger.sealed.length + (this.segments.hasOpenSegment ? 1 : 0),
      droppedRows: this.health.droppedRows,
      ...(this.health.writeError !== undefined ? { spoolError: this.health.writeError } : {}),
      shippedRows: stats.shippedRows,
      failedBatches: stats.failedBatches,
      rejectedRows: stats.rejectedRows,
      damagedLines: stats.damagedLines,
      ...(stats.lastError !== undefined ? { lastError: stats.lastError } : {}),
      ...(stats.lastShippedAt !== undefined ? { lastShippedAt: stats.lastShippedAt } : {})
    }
  }

  async flush (): Promise<void> {
    await this.ready
    await this.writeAndSeal()
    await this.shipper.idle()
  }

  close (): Promise<void> {
    this.closing ??= this.shutDown()
    return this.closing
  }

  private async shutDown (): Promise<void> {
    await this.ready.catch(() => undefined)
    // A close that cannot write leaves what is queued unwritten, but still stops the timer and the shipper.
    await this.writeAndSeal().catch(err => { this.log.warn({ err: errorText(err) }, 'writing queued rows at close failed') })
    this.closed = true
    clearInterval(this.sealTimer)
    await this.shipper.close(this.closeTimeoutMs)
    for (const w of this.persistWaiters.splice(0)) w.resolve()
    this.health.endBurst()
    await this.spool.release().catch(() => undefined)
    if (this.ledger.sealed.length > 0) this.log.info({ segments: this.ledger.sealed.length, rows: this.ledger.rows }, 'stopping with rows still in the spool; the next start ships them')
  }

  private async findLeftovers (spool: SpoolDir): Promise<void> {
    const { leftovers, staleHolder } = await spool.init()
    if (staleHolder !== undefined) this.log.info({ dir: spool.dir, pid: staleHolder }, 'took over the spool lock of a process that is gone')
    for (const seg of leftovers) {
      this.ledger.sealed.push(seg)
      this.ledger.bytes += seg.bytes
      this.ledger.rows += seg.rows
    }
    if (leftovers.length > 0) {
      this.log.info({ segments: leftovers.length, rows: this.ledger.rows, bytes: this.ledger.bytes }, 'found spool segments of an earlier process; shipping them first')
    }
  }

  private push (item: QueuedRecord): void {
    if (this.closed) { this.health.drop(rowsOf(item), 'sink closed'); return }
    if (this.queue.length >= this.maxQueued) { this.health.drop(rowsOf(item), 'queue full'); return }
    this.queue.push(item)
    this.enqueued++
    this.scheduleWrite()
  }

  /** File operations run one at a time, in order. */
  private fileOp<T> (fn: () => Promise<T>): Promise<T> {
    const p = this.fileChain.then(fn, fn)
    this.fileChain = p.catch(() => undefined)
    return p
  }

  private scheduleWrite (): void {
    if (this.writeScheduled) return
    this.writeScheduled = true
    setImmediate(() => {
      this.writeScheduled = false
      void this.fileOp(async () => { await this.writeQueued() })
    })
  }

  private async writeQueued (): Promise<void> {
    await this.ready.catch(() => undefined)
    while (this.queue.length > 0) {
      const items = this.queue
      this.queue = []
      const upTo = this.enqueued
      try {
        if (this.spoolUsable) await this.segments.write(items)
        else this.health.drop(items.reduce((n, it) => n + rowsOf(it), 0), `spool unusable: ${this.health.writeError ?? 'not ready'}`)
      } catch (err) {
        // `write` does not throw by design; should it, the waiters are still told (a request never hangs on the spool).
        this.log.error({ err: errorText(err) }, 'spool writer failed')
      } finally {
        this.persisted = upTo
        const waiters = this.persistWaiters
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i].seq <= upTo) { waiters[i].resolve(); waiters.splice(i, 1) }
        }
      }
    }
  }

  /** While the spool cannot be written, checks once a second whether it can again (no traffic needed to recover). */
  private probeIfUnwritable (): void {
    const now = Date.now()
    if (!this.spoolUsable || this.health.writeError === undefined || now - this.lastProbe < 1000) return
    this.lastProbe = now
    void this.fileOp(async () => {
      if (this.health.writeError === undefined) return
      try {
        await this.spool.probe()
        this.health.writable()
      } catch (err) { this.health.writeError = errorText(err) }
    })
  }

  private async writeAndSeal (): Promise<void> {
    await this.fileOp(async () => { await this.writeQueued() })
    await this.fileOp(async () => { await this.segments.seal() })
  }
}
