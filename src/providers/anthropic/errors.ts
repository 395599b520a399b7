// Non-2xx answers → classified ProviderError: 429 rate_limit (with Retry-After), 401/403 credentials, 408/504 timeout,
// other 4xx client, 5xx and 529 (overloaded) server.
import { STATUS_CODES } from 'node:http'
import { ProviderError } from '../../core/errors.ts'
import { classifyStatus, parseRetryAfterMs } from '../openai/errors.ts'
import { excerpt } from '../openai/response.ts'
import { anthropicErrorReason } from './response.ts'

type Headers = Record<string, string | string[] | undefined>

export function statusText (status: number): string {
  if (status === 529) return 'Overloaded'
  return STATUS_CODES[status] ?? 'Error'
}

export function bodyReason (body: string, reason: (v: unknown) => string | undefined): string {
  const trimmed = body.trim()
  if (trimmed === '') return '(empty body)'
  if (trimmed[0] === '{') {
    try {
      const m = reason(JSON.parse(trimmed))
      if (m !== undefined) return excerpt(m)
    } catch { /* not JSON */ }
  }
  return excerpt(trimmed)
}

export function classifyAnthropicError (status: number, body: string, headers: Headers, now?: number): ProviderError {
  const opts: { status: number; rawResponse: string; retryAfterMs?: number } = { status, rawResponse: body }
  const retryAfterMs = parseRetryAfterMs(headers, now)
  if (retryAfterMs !== undefined) opts.retryAfterMs = retryAfterMs
  return new ProviderError(`anthropic: ${status} ${statusText(status)}: ${bodyReason(body, anthropicErrorReason)}`, classifyStatus(status), opts)
}
