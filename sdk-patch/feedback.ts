// `client.feedback(...)`: TensorZero's POST /feedback through the patched client's own `post`, so it shares the base
// URL, API key, timeouts, retries, logging and `fetch` of the client (the sidecar serves /v1/feedback too).
import { currentEpisodeId, isEpisodeId } from './episode.ts'

/** A metric value: boolean or number for `[metrics.*]`, string for `comment`, string or content blocks for `demonstration`. */
export type FeedbackValue = boolean | number | string | readonly unknown[] | { readonly [key: string]: unknown }

interface FeedbackCommon {
  /** A `[metrics.NAME]` of tensorzero.toml, or `comment` / `demonstration`. */
  metric_name: string
  value: FeedbackValue
  tags?: Record<string, string>
  /** Validate, store nothing. */
  dryrun?: boolean
}

/**
 * Feedback targets exactly one inference or one episode. With neither id, the id of the enclosing `withEpisode`
 * scope is used (an episode-level metric); outside a scope that is an error.
 */
export type FeedbackRequest = FeedbackCommon & (
  | { inference_id: string; episode_id?: never }
  | { episode_id: string; inference_id?: never }
  | { inference_id?: never; episode_id?: never }
)

export interface FeedbackResponse { feedback_id: string }

/** Per-call options passed to the SDK's `post` (same meaning as on any SDK call). */
export interface FeedbackRequestOptions {
  signal?: AbortSignal
  timeout?: number
  maxRetries?: number
  headers?: Record<string, string>
}

/** The body sent to /feedback, with the scope's episode id filled in when no target was given. Throws on bad input. */
export function feedbackBody (req: FeedbackRequest): Record<string, unknown> {
  if (typeof req !== 'object' || req === null) throw new TypeError('feedback: expected an object')
  if (typeof req.metric_name !== 'string' || req.metric_name === '') throw new TypeError('feedback: metric_name must be a non-empty string')
  if (req.value === undefined) throw new TypeError('feedback: value is required')
  const body: Record<string, unknown> = { ...req }
  const hasInference = req.inference_id !== undefined
  const hasEpisode = req.episode_id !== undefined
  if (hasInference && hasEpisode) throw new TypeError('feedback: give inference_id or episode_id, not both')
  if (!hasInference && !hasEpisode) {
    const scoped = currentEpisodeId()
    if (scoped === undefined) throw new TypeError('feedback: give inference_id or episode_id (or call it inside withEpisode)')
    body.episode_id = scoped
  }
  const id = body.inference_id ?? body.episode_id
  if (!isEpisodeId(id)) throw new TypeError(`feedback: ${hasInference ? 'inference_id' : 'episode_id'} must be a UUIDv7, got ${JSON.stringify(id)}`)
  return body
}
