// The Anthropic Messages API adapter (`type = "anthropic"`), translating as TensorZero's anthropic provider does.
import type { HttpProviderAdapter } from '../adapter.ts'
import { ANTHROPIC_DEFAULT_API_BASE, buildAnthropicRequest, wasPrefilled } from './request.ts'
import { parseAnthropicResponse } from './response.ts'
import { parseAnthropicStreamEvent } from './stream.ts'
import { classifyAnthropicError } from './errors.ts'

export { buildAnthropicBody, defaultMaxTokens, messagesUrl, toAnthropicMessages, needsJsonPrefill, JSON_PREFILL, LISTENING, ANTHROPIC_API_VERSION } from './request.ts'
export { mapStopReason, parseAnthropicResponse } from './response.ts'
export { parseAnthropicStreamEvent } from './stream.ts'
export { classifyAnthropicError } from './errors.ts'

export const anthropicAdapter: HttpProviderAdapter = {
  kind: 'http',
  type: 'anthropic',
  defaultApiBase: ANTHROPIC_DEFAULT_API_BASE,
  defaultApiKeyEnv: 'ANTHROPIC_API_KEY',
  buildRequest: buildAnthropicRequest,
  parseResponse: (body, ctx) => parseAnthropicResponse(body, wasPrefilled(ctx)),
  parseStreamEvent: (event, state, ctx) => parseAnthropicStreamEvent(event, state, wasPrefilled(ctx)),
  classifyError: (status, body, headers) => classifyAnthropicError(status, body, headers)
}
