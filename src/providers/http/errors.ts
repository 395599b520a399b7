// What every wire format's non-2xx answer has in common: the class of a status, its text, the wait the provider
// asks for, and the provider's own reason taken from the body.
import { STATUS_CODES } from 'node:http'
import type { ErrorClass } from '../../core/errors.ts'
import type { ResponseHeaders } from '../adapter.ts'
import { excerpt } from './json.ts'

/** A header's (first) value, whatever case the caller's record uses (Node's are lower-case already). */
function header (h: ResponseHeaders, name: string): string | undefined {
  let v = h[name]
  if (v === undefined) {
    for (const k in h) {
      if (k.length === name.length && k.toLowerCase() === name) { v = h[k]; break }
    }
  }
  return Array.isArray(v) ? v[0] : v
}

/** Delay the provider asks for: `retry-after-ms` (ms), else `retry-after` (seconds or an HTTP date). */
export function parseRetryAfterMs (headers: ResponseHeaders, now: number = Date.now()): number | undefined {
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

/** 529 is Anthropic's "overloaded", which Node's table does not name. */
export function statusText (status: number): string {
  if (status === 529) return 'Overloaded'
  return STATUS_CODES[status] ?? 'Error'
}

/** The reason `reason` finds in a JSON error body, else an excerpt of the body (≤ 500 chars). */
export function bodyReason (body: string, reason: (v: unknown) => string | undefined): string {
  const trimmed = body.trim()
  if (trimmed === '') return '(empty body)'
  if (trimmed[0] === '{') {
    try {
      const m = reason(JSON.parse(trimmed))
      if (m !== undefined) return excerpt(m)
    } catch { /* not JSON: fall through to the excerpt */ }
  }
  return excerpt(trimmed)
}

/** The status, raw body and (when asked for) the wait, as every classified error carries them. */
export function errorDetails (status: number, body: string, retryAfterMs: number | undefined): { status: number; rawResponse: string; retryAfterMs?: number } {
  const opts: { status: number; rawResponse: string; retryAfterMs?: number } = { status, rawResponse: body }
  if (retryAfterMs !== undefined) opts.retryAfterMs = retryAfterMs
  return opts
}
