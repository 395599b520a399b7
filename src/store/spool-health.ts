// Rows that could not be kept, and whether the spool can be written right now: what /status and the logs say.
//
// Drops come in bursts (the spool at its cap, a full or read-only disk, the queue full): the first dropped row of a
// burst is logged with its reason, the burst's total once no row was dropped for `QUIET_MS`. Never one line per row.
// A spool that cannot be written (a write or open failed) is reported from the first failure until a write, or the
// writer's probe, succeeds again: /status is not ready meanwhile.
import { errorText } from './client.ts'

export interface SinkLogger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

/** A burst of drops ends after this long without one. */
const QUIET_MS = 10_000

export class SpoolHealth {
  droppedRows = 0
  /** Why the spool cannot be written; undefined while it can. */
  writeError: string | undefined
  private readonly log: SinkLogger
  /** Facts logged with a burst (spool size and cap). */
  private readonly facts: () => object
  private burstRows = 0
  private burstStartedAt = 0
  private lastDropAt = 0

  constructor (log: SinkLogger, facts: () => object) {
    this.log = log
    this.facts = facts
  }

  drop (rows: number, reason: string): void {
    if (rows <= 0) return
    this.droppedRows += rows
    const now = Date.now()
    if (this.burstRows === 0) {
      this.burstStartedAt = now
      this.log.warn({ droppedRows: rows, droppedTotal: this.droppedRows, reason, ...this.facts() }, 'observability rows dropped')
    }
    this.burstRows += rows
    this.lastDropAt = now
  }

  /** On the writer's timer: ends a burst that has gone quiet. */
  tick (now = Date.now()): void {
    if (this.burstRows > 0 && now - this.lastDropAt >= QUIET_MS) this.endBurst()
  }

  /** Reports the burst in progress, if any (at close). */
  endBurst (): void {
    if (this.burstRows === 0) return
    this.log.warn({ droppedRows: this.burstRows, droppedTotal: this.droppedRows, burstMs: this.lastDropAt - this.burstStartedAt }, 'observability rows dropped in a burst that has ended')
    this.burstRows = 0
  }

  /** A spool write or open failed. */
  writeFailed (err: unknown, path: string): void {
    const reason = errorText(err)
    if (this.writeError === undefined) this.log.error({ err: reason, path }, 'the spool cannot be written: rows are dropped and /status is not ready until it can')
    this.writeError = reason
  }

  /** A spool write (or probe) succeeded. */
  writable (): void {
    if (this.writeError === undefined) return
    this.log.info({ after: this.writeError }, 'the spool can be written again')
    this.writeError = undefined
  }
}
