// An earlier exchange (what a client sent, what the model answered) read back to continue a conversation from it: the
// Responses API's `previous_response_id` and `item_reference`. Declared here so endpoints read stored inferences
// without knowing where they are kept; `gateway.ts` hands in the reader (recent ones in memory, older ones from ClickHouse).
import type { Input, OutputBlock } from './types.ts'

export interface StoredExchange {
  input: Input
  output: OutputBlock[]
  /** The episode it belonged to: a conversation continued from it stays in that episode. */
  episodeId: string
}

export interface ExchangeReads {
  /** The inference with this id (a hyphenated UUID), or null when neither memory nor the store has it. */
  exchange (inferenceId: string): Promise<StoredExchange | null>
}
