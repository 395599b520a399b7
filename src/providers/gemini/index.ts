// The Google AI Studio Gemini adapter (`type = "google_ai_studio_gemini"`), translating as TensorZero's provider does.
import type { ProviderAdapter } from '../adapter.ts'
import { buildGeminiRequest } from './request.ts'
import { parseGeminiResponse } from './response.ts'
import { parseGeminiStreamEvent, type GeminiStreamState } from './stream.ts'
import { classifyGeminiError } from './errors.ts'

export { GEMINI_DEFAULT_API_BASE, stripUnsupportedSchemaKeys } from './request.ts'

export const geminiAdapter: ProviderAdapter<GeminiStreamState> = {
  buildRequest: buildGeminiRequest,
  parseResponse: (body) => parseGeminiResponse(body),
  newStreamState: () => ({ nextTool: 0 }),
  parseStreamEvent: (event, state) => parseGeminiStreamEvent(event, state),
  classifyError: (status, body, headers) => classifyGeminiError(status, body, headers)
}
