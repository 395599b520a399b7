// Non-2xx answers → classified ProviderError. Google's error body names a status (RESOURCE_EXHAUSTED, …) and, for
// rate limits, a RetryInfo `retryDelay` used when there is no Retry-After header. An invalid key is a 400 with
// reason API_KEY_INVALID: classified as a credentials error like 401/403.
import { ProviderError } from '../../core/errors.ts'
import type { ResponseHeaders } from '../adapter.ts'
import { bodyReason, classifyStatus, errorDetails, parseRetryAfterMs, statusText } from '../http/errors.ts'
import { isObj } from '../http/json.ts'
import { geminiErrorReason } from './response.ts'

function details (body: string): Array<Record<string, unknown>> {
  try {
    const json: unknown = JSON.parse(body)
    if (isObj(json) && isObj(json.error) && Array.isArray(json.error.details)) return json.error.details.filter(isObj)
  } catch { /* not JSON */ }
  return []
}

/** `retryDelay: "23s"` (or "1.5s") of a google.rpc.RetryInfo detail, in ms. */
function retryInfoMs (body: string): number | undefined {
  for (const d of details(body)) {
    if (typeof d.retryDelay !== 'string') continue
    const m = /^(\d+(?:\.\d+)?)s$/.exec(d.retryDelay.trim())
    if (m !== null) return Math.round(Number(m[1]) * 1000)
  }
  return undefined
}

export function classifyGeminiError (status: number, body: string, headers: ResponseHeaders, now?: number): ProviderError {
  const retryAfterMs = parseRetryAfterMs(headers, now) ?? (status === 429 ? retryInfoMs(body) : undefined)
  let errorClass = classifyStatus(status)
  if (status === 400 && details(body).some(d => d.reason === 'API_KEY_INVALID')) errorClass = 'credentials'
  return new ProviderError(`google_ai_studio_gemini: ${status} ${statusText(status)}: ${bodyReason(body, geminiErrorReason)}`, errorClass,
    errorDetails(status, body, retryAfterMs))
}
