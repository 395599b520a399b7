// Non-2xx answers → classified ProviderError with the provider's own reason: `error.message` (OpenAI), `message`
// (vLLM) or `detail`, else an excerpt of the body.
import { STATUS_CODES } from 'node:http'
import { ProviderError } from '../../core/errors.ts'
import type { ResponseHeaders } from '../adapter.ts'
import { bodyReason, classifyStatus, errorDetails, parseRetryAfterMs } from '../http/errors.ts'
import { errorMessageOf } from './response.ts'

export function classifyOpenAIError (type: string, status: number, body: string, headers: ResponseHeaders, now?: number): ProviderError {
  // Node's own status text: OpenAI-compatible servers have no private codes (Anthropic's 529 is named elsewhere).
  const statusText = STATUS_CODES[status] ?? 'Error'
  return new ProviderError(`${type}: ${status} ${statusText}: ${bodyReason(body, errorMessageOf)}`, classifyStatus(status),
    errorDetails(status, body, parseRetryAfterMs(headers, now)))
}
