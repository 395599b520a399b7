// What one model call gives back, answered or streamed: shared by the walk (route.ts) and the cache in front of it.
import type { EmbeddingResponse, ProviderResponse, StreamDelta } from '../core/types.ts'
import type { ModelInferenceRecord } from '../core/records.ts'
import type { StreamCollector } from './stream.ts'
import type { FailedRawResponse } from '../core/errors.ts'

export interface ModelCallResult {
  response: ProviderResponse
  record: ModelInferenceRecord
}

export interface ModelStream {
  providerName: string
  providerType: string
  first: StreamDelta
  /** The deltas after `first`. Throws (in-stream) when the provider fails mid-stream or a total timeout fires. */
  rest: AsyncIterator<StreamDelta>
  /** Call once the stream ended well: the model call's row, built from everything streamed. */
  finish (collector: StreamCollector): ModelInferenceRecord
  /** Release timers (stream ended or was abandoned). */
  dispose (): void
  /**
   * `include_raw_response`: the attempts that failed before this stream started (the variant's earlier tries, then the
   * providers before it), known at its start; its row carries them too.
   */
  failedRawResponses?: FailedRawResponse[]
}

export type ModelEmbedding = EmbeddingResponse & { providerName: string; rawRequest: string; failedRawResponses?: FailedRawResponse[] }
