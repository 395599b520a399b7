// Non-2xx answers → classified ProviderError with the provider's own reason.
import { STATUS_CODES } from 'node:http'
import { ProviderError, type ErrorClass } from '../../core/errors.ts'
import { errorMessageOf, excerpt } from './response.ts'

type Headers = Record<string, string | string[] | undefined>

/** A header's (first) value, whatever case the caller's record uses (Node's are lower-case already). */
function header (h: Headers, name: string): string | undefined {
  let v = h[name]
  if (v === undefined) {
    for (const k in h) {
      if (k.length === name.length && k.toLowerCase() === name) { v = h[k]; break }
    }
  }
  return Array.isArray(v) ? v[0] : v
}

/** Delay the provider asks for: `retry-after-ms` (ms), else `retry-after` (seconds or an HTTP date). */
export function parseRetryAfterMs (headers: Headers, now: number = Date.now()): number | undefined {
  const ms = header(headers, 'retry-after-ms')
  if (ms !== undefined) {
    const n = Number(ms.trim())
    if (ms.trim() !== '' && Number.isFinite(n) && n >= 0) return Math.round(n)
  }
  const ra = header(headers, 'retry-after')
  if (ra === undefined) return undefined
  const s = ra.trim()
  if (s === '') return undefined
  const secs = Number(s)
  if (Number.isFinite(secs)) return secs >= 0 ? Math.round(secs * 1000) : undefined
  const date = Date.parse(s)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, date - now)
}

export function classifyStatus (status: number): ErrorClass {
  if (status === 429) return 'rate_limit'
  if (status === 408 || status === 504) return 'timeout'
  if (status === 401 || status === 403) return 'credentials'
  if (status >= 400 && status < 500) return 'client'
  return 'server'
}

/** The provider's reason: `error.message` (OpenAI), `message` (vLLM), `detail`, or an excerpt of the body (≤ 500 chars). */
export function providerReason (body: string): string {
  const trimmed = body.trim()
  if (trimmed === '') return '(empty body)'
  if (trimmed[0] === '{') {
    try {
      const m = errorMessageOf(JSON.parse(trimmed))
      if (m !== undefined) return excerpt(m)
    } catch { /* not JSON: fall through to the excerpt */ }
  }
  return excerpt(trimmed)
}

export function classifyOpenAIError (type: string, status: number, body: string, headers: Headers, now?: number): ProviderError {
  const errorClass = classifyStatus(status)
  const statusText = STATUS_CODES[status] ?? 'Error'
  const retryAfterMs = parseRetryAfterMs(headers, now)
  const opts: { status: number; rawResponse: string; retryAfterMs?: number } = { status, rawResponse: body }
  if (retryAfterMs !== undefined) opts.retryAfterMs = retryAfterMs
  return new ProviderError(`${type}: ${status} ${statusText}: ${providerReason(body)}`, errorClass, opts)
}
