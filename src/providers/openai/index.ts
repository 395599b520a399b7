// The OpenAI-compatible adapter: one factory, configured per provider type by its row in ../catalog.ts.
import type { ProviderAdapter } from '../adapter.ts'
import { buildChatRequest, resolveQuirks, type OpenAICompatibleQuirks } from './request.ts'
import { parseChatResponse } from './response.ts'
import { parseChatStreamEvent } from './stream.ts'
import { classifyOpenAIError } from './errors.ts'
import { buildEmbeddingsRequest, parseEmbeddingsResponse } from './embeddings.ts'
import { buildAudioRequest } from './audio.ts'

export type { OpenAICompatibleQuirks } from './request.ts'

export interface OpenAICompatibleOptions {
  /** Provider `type` in tensorzero.toml; also the prefix of error messages. */
  type: string
  /** Used when the provider config has no `api_base`; undefined means the config must give one. */
  defaultApiBase?: string
  quirks?: OpenAICompatibleQuirks
}

/** OpenAI's stream needs no state across events: every chunk stands alone. */
export function createOpenAICompatibleAdapter (opts: OpenAICompatibleOptions): ProviderAdapter<undefined> {
  const { type, defaultApiBase } = opts
  const q = resolveQuirks(opts.quirks)
  return {
    buildRequest: (req, ctx) => buildChatRequest(req, ctx, type, defaultApiBase, q),
    parseResponse: (body) => parseChatResponse(body, type),
    newStreamState: () => undefined,
    parseStreamEvent: (event) => parseChatStreamEvent(event, type),
    classifyError: (status, body, headers) => classifyOpenAIError(type, status, body, headers),
    buildEmbeddingRequest: (req, ctx) => buildEmbeddingsRequest(req, ctx, type, defaultApiBase),
    parseEmbeddingResponse: (body) => parseEmbeddingsResponse(body, type),
    buildAudioRequest: (req, ctx) => buildAudioRequest(req, ctx, type, defaultApiBase)
  }
}
