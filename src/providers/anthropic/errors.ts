// Non-2xx answers → classified ProviderError: 429 rate_limit (with Retry-After), 401/403 credentials, 408/504 timeout,
// other 4xx client, 5xx and 529 (overloaded) server.
import { ProviderError } from '../../core/errors.ts'
import type { ResponseHeaders } from '../adapter.ts'
import { bodyReason, classifyStatus, errorDetails, parseRetryAfterMs, statusText } from '../http/errors.ts'
import { anthropicErrorReason } from './response.ts'

export function classifyAnthropicError (status: number, body: string, headers: ResponseHeaders, now?: number): ProviderError {
  return new ProviderError(`anthropic: ${status} ${statusText(status)}: ${bodyReason(body, anthropicErrorReason)}`, classifyStatus(status),
    errorDetails(status, body, parseRetryAfterMs(headers, now)))
}
