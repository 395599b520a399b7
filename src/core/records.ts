// The seam between inference and everything that records it (ClickHouse rows, metrics, logs).
// The request path calls observers synchronously; an observer must only enqueue, never block.
import type { Input, OutputBlock, FinishReason, ToolParams, InferenceParams, ModelRequest, ExtraBodyPatch } from './types.ts'
import type { ErrorClass, FailedRawResponse } from './errors.ts'
import type { RateLimitEvent } from './rate-limiting.ts'

/**
 * Characters of one output text (a text or thought block) the rows keep. Past it the stored text is cut and ends with
 * a marker saying so; the client still gets all of it. A stream's collector stops accumulating there, so a huge answer
 * is forwarded, not held.
 */
export const STORED_TEXT_KEEP_CHARS = 4 * 1024 * 1024

/** `text` as stored: whole up to `STORED_TEXT_KEEP_CHARS`, else cut there with a marker. */
export function storedText (text: string): string {
  if (text.length <= STORED_TEXT_KEEP_CHARS) return text
  return `${text.slice(0, STORED_TEXT_KEEP_CHARS)}[output truncated: the text passed ${STORED_TEXT_KEEP_CHARS} characters]`
}

export interface ModelInferenceRecord {
  id: string
  modelName: string
  providerName: string
  providerType: string
  rawRequest: string
  rawResponse: string
  inputTokens?: number
  outputTokens?: number
  cacheReadInputTokens?: number
  cacheWriteInputTokens?: number
  /** Dollars, from the provider's `cost` config. */
  cost?: number
  responseTimeMs: number
  ttftMs?: number
  /** What the model was actually sent (rendered system and messages). */
  request: ModelRequest
  output: OutputBlock[]
  finishReason?: FinishReason
  cached: boolean
  /** TensorZero's API type of the call, as raw usage and raw response entries name it (absent: `chat_completions`). */
  apiType?: 'embeddings'
  /**
   * `include_raw_response`: the attempts that failed before this call answered (its variant's earlier tries, then the
   * providers before it in the routing), reported ahead of its own entry, as TensorZero's `failed_raw_response`.
   */
  failedRawResponses?: FailedRawResponse[]
}

export interface InferenceRecord {
  inferenceId: string
  episodeId: string
  functionName: string
  functionType: 'chat' | 'json'
  variantName: string
  input: Input
  output: OutputBlock[]
  /** JSON functions: the raw text and its parse (null when invalid), and the schema used. */
  jsonOutput?: { raw: string | null; parsed: unknown }
  outputSchema?: Record<string, unknown>
  toolParams?: ToolParams
  inferenceParams: InferenceParams
  processingTimeMs: number
  ttftMs?: number
  tags: Record<string, string>
  extraBody?: ExtraBodyPatch[]
  finishReason?: FinishReason
  modelInferences: ModelInferenceRecord[]
  stream: boolean
}

export type AttemptKind = 'first' | 'retry' | 'provider_fallback' | 'variant_fallback'

export interface AttemptRecord {
  functionName?: string
  variantName?: string
  modelName: string
  providerName: string
  providerType: string
  outcome: 'ok' | ErrorClass
  /**
   * Why this attempt was made, decided where it was made: the first try of a request, a variant retry walking its
   * model's routing again, the next provider of a routing after a failed one, or the next variant after a failed one.
   */
  kind: AttemptKind
  durationMs: number
  message?: string
}

export interface FeedbackRecord {
  feedbackId: string
  metricName: string
  metricType: 'boolean' | 'float' | 'comment' | 'demonstration'
  targetId: string
  targetType: 'inference' | 'episode'
  value: unknown
  tags: Record<string, string>
  /**
   * A person's verdict on an evaluated output (tags `tensorzero::human_feedback`, `tensorzero::datapoint_id`,
   * `tensorzero::evaluator_inference_id`): also a StaticEvaluationHumanFeedback row, keyed by the target's stored output.
   */
  humanEvaluation?: HumanEvaluation
}

export interface HumanEvaluation { datapointId: string; evaluatorInferenceId: string; output: string }

/**
 * A verdict's StaticEvaluationHumanFeedback row on its own: queued after its feedback row, once the target's output was
 * read from the store (the reply did not wait for that read).
 */
export type HumanEvaluationRecord = Pick<FeedbackRecord, 'feedbackId' | 'metricName' | 'value'> & { humanEvaluation: HumanEvaluation }

/** A model provider's circuit: closed (called), open (skipped), half_open (one probe call in flight or due). */
export type CircuitState = 'closed' | 'open' | 'half_open'

/** A circuit changed state (health-aware routing, `model/health.ts`). */
export interface CircuitEvent {
  modelName: string
  providerName: string
  from: CircuitState
  to: CircuitState
  reason: string
  /** How long the provider is skipped (to: open). */
  cooldownMs?: number
}

/** Receives what happened. Every method is optional and must return quickly. */
export interface InferenceObserver {
  onInference? (record: InferenceRecord): void
  onAttempt? (attempt: AttemptRecord): void
  onFeedback? (record: FeedbackRecord): void
  onCircuit? (event: CircuitEvent): void
  /** Something an operator should know that fails no request (e.g. experiment statistics unreadable). */
  onWarning? (event: WarningEvent): void
  onRateLimit? (event: RateLimitEvent): void
}

/** `source` names the part that warns (a closed set, e.g. `adaptive_experimentation`). */
export interface WarningEvent { source: string; message: string }
