// The OpenAI-compatible adapter: one factory, configured per provider type (see ../registry.ts).
import type { HttpProviderAdapter } from '../adapter.ts'
import { buildChatRequest, resolveQuirks, type OpenAICompatibleQuirks } from './request.ts'
import { parseChatResponse } from './response.ts'
import { parseChatStreamEvent } from './stream.ts'
import { classifyOpenAIError } from './errors.ts'
import { buildEmbeddingsRequest, parseEmbeddingsResponse } from './embeddings.ts'

export type { OpenAICompatibleQuirks } from './request.ts'
export { joinUrl, toOpenAIMessages, buildChatBody } from './request.ts'
export { mapFinishReason } from './response.ts'
export { parseRetryAfterMs, classifyStatus } from './errors.ts'
export { applyPointer, applyExtraBody, applyExtraHeaders, entryApplies } from '../http/extra.ts'

export interface OpenAICompatibleOptions {
  /** Provider `type` in tensorzero.toml; also the prefix of error messages. */
  type: string
  /** Used when the provider config has no `api_base`; undefined means the config must give one. */
  defaultApiBase?: string
  /** Env var for the key when `api_key_location` is omitted; undefined means no key by default. */
  defaultApiKeyEnv?: string
  quirks?: OpenAICompatibleQuirks
}

export function createOpenAICompatibleAdapter (opts: OpenAICompatibleOptions): HttpProviderAdapter {
  const { type, defaultApiBase, defaultApiKeyEnv } = opts
  const q = resolveQuirks(opts.quirks)
  return {
    kind: 'http',
    type,
    defaultApiBase,
    defaultApiKeyEnv,
    buildRequest: (req, ctx) => buildChatRequest(req, ctx, type, defaultApiBase, q),
    parseResponse: (body) => parseChatResponse(body, type),
    parseStreamEvent: (event) => parseChatStreamEvent(event, type),
    classifyError: (status, body, headers) => classifyOpenAIError(type, status, body, headers),
    buildEmbeddingRequest: (req, ctx) => buildEmbeddingsRequest(req, ctx, type, defaultApiBase),
    parseEmbeddingResponse: (body) => parseEmbeddingsResponse(body, type)
  }
}

/** OpenAI itself (`type = "openai"`, also used for Ollama and other compatible servers via `api_base`). */
export const openaiAdapter: HttpProviderAdapter = createOpenAICompatibleAdapter({
  type: 'openai',
  defaultApiBase: 'https://api.openai.com/v1/',
  defaultApiKeyEnv: 'OPENAI_API_KEY',
  quirks: { maxTokensField: 'max_completion_tokens' }
})
