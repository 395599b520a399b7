// The Google AI Studio Gemini adapter (`type = "google_ai_studio_gemini"`), translating as TensorZero's provider does.
import type { HttpProviderAdapter } from '../adapter.ts'
import { GEMINI_DEFAULT_API_BASE, buildGeminiRequest } from './request.ts'
import { parseGeminiResponse } from './response.ts'
import { parseGeminiStreamEvent } from './stream.ts'
import { classifyGeminiError } from './errors.ts'

export { buildGeminiBody, geminiUrl, geminiToolFields, stripUnsupportedSchemaKeys, toGeminiContents } from './request.ts'
export { mapGeminiFinishReason, parseGeminiResponse } from './response.ts'
export { parseGeminiStreamEvent } from './stream.ts'
export { classifyGeminiError, retryInfoMs } from './errors.ts'

export const geminiAdapter: HttpProviderAdapter = {
  kind: 'http',
  type: 'google_ai_studio_gemini',
  defaultApiBase: GEMINI_DEFAULT_API_BASE,
  defaultApiKeyEnv: 'GOOGLE_AI_STUDIO_API_KEY',
  buildRequest: buildGeminiRequest,
  parseResponse: (body) => parseGeminiResponse(body),
  parseStreamEvent: (event, state) => parseGeminiStreamEvent(event, state),
  classifyError: (status, body, headers) => classifyGeminiError(status, body, headers)
}
