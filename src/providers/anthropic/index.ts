// The Anthropic Messages API adapter (`type = "anthropic"`), translating as TensorZero's anthropic provider does.
import type { ProviderAdapter } from '../adapter.ts'
import { buildAnthropicRequest, needsJsonPrefill } from './request.ts'
import { parseAnthropicResponse } from './response.ts'
import { newAnthropicStreamState, parseAnthropicStreamEvent, type AnthropicStreamState } from './stream.ts'
import { classifyAnthropicError } from './errors.ts'

export { ANTHROPIC_DEFAULT_API_BASE, defaultMaxTokens, messagesUrl, JSON_PREFILL } from './request.ts'

// A prefilled request (JSON prefill) gets the `{` it sent back in front of the answer.
export const anthropicAdapter: ProviderAdapter<AnthropicStreamState> = {
  buildRequest: buildAnthropicRequest,
  parseResponse: (body, req, ctx) => parseAnthropicResponse(body, needsJsonPrefill(req, ctx)),
  newStreamState: (req, ctx) => newAnthropicStreamState(needsJsonPrefill(req, ctx)),
  parseStreamEvent: (event, state) => parseAnthropicStreamEvent(event, state),
  classifyError: (status, body, headers) => classifyAnthropicError(status, body, headers)
}
