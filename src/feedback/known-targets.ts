// Ids this sidecar issued recently, so feedback for them is accepted at once (no ClickHouse round trip, and it works
// while ClickHouse is down or the row is still in the spool). Bounded: the oldest entries are evicted first.
import type { InferenceRecord } from '../core/records.ts'
import type { StoredInference } from '../store/queries.ts'
import { outputColumn } from '../store/rows.ts'
import { toolsAvailable } from '../function/tools.ts'

export interface KnownTargets {
  inference (id: string): StoredInference | undefined
  episode (id: string): boolean
}

/**
 * Default capacity: 20,000 inferences (and episodes). An entry costs ~330 bytes of heap (two ids, the entry, two Map
 * slots; measured), so ~6.5 MB instead of ~31 MB at the former 100,000 — a fifth of the RSS target. The trade-off:
 * feedback for an id older than the last 20,000 inferences of this process is checked against ClickHouse instead
 * (`TargetReads`: a query, and the row must already be shipped); without ClickHouse it is refused as unknown. At
 * 20 requests/s that window is ~17 minutes, at 200/s ~100 s.
 */
const DEFAULT_KNOWN_IDS = 20_000

export class RecentTargets implements KnownTargets {
  readonly capacity: number
  private readonly inferences = new Map<string, StoredInference>()
  private readonly episodes = new Map<string, number>()

  constructor (capacity = DEFAULT_KNOWN_IDS) {
    this.capacity = capacity
  }

  remember (rec: InferenceRecord): void {
    this.inferences.set(rec.inferenceId.toLowerCase(), {
      functionName: rec.functionName,
      functionType: rec.functionType,
      variantName: rec.variantName,
      episodeId: rec.episodeId,
      outputSchema: rec.outputSchema,
      tools: toolsAvailable(rec.toolParams),
      // Only an evaluation's inferences can receive a person's verdict keyed by their output: the rest keep no copy.
      output: rec.tags['tensorzero::datapoint_id'] === undefined ? undefined : outputColumn(rec)
    })
    // Re-insert so an active episode stays young.
    const episode = rec.episodeId.toLowerCase()
    this.episodes.delete(episode)
    this.episodes.set(episode, Date.now())
    evict(this.inferences, this.capacity)
    evict(this.episodes, this.capacity)
  }

  inference (id: string): StoredInference | undefined { return this.inferences.get(id.toLowerCase()) }
  episode (id: string): boolean { return this.episodes.has(id.toLowerCase()) }
  get size (): { inferences: number; episodes: number } { return { inferences: this.inferences.size, episodes: this.episodes.size } }
}

function evict (m: Map<string, unknown>, cap: number): void {
  while (m.size > cap) {
    const first = m.keys().next()
    if (first.done === true) return
    m.delete(first.value)
  }
}
