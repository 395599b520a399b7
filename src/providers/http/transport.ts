// The only place provider HTTP happens: one keep-alive undici Pool per upstream origin, bodies read as text
// (non-streaming) or handed over chunk by chunk through the SSE parser (streaming). Every call is bounded: it waits
// at most `queueTimeoutMs` for one of its origin's `connectionsPerOrigin` connections, and reads at most
// `responseLimitBytes` of answer; past either limit it fails that provider, which the model walk treats as any failure.
import type { Dispatcher, Pool } from 'undici'
import { Readable } from 'node:stream'
import type { FormPart } from '../../core/types.ts'
import { encodeMultipart } from './multipart.ts'
import type { AudioRequestSpec, HttpAnswer, HttpBodyAnswer, HttpRequestSpec, HttpStreamAnswer, ProviderTransport, SseEvent } from '../adapter.ts'
import { ProviderError } from '../../core/errors.ts'
import { numberFromEnv } from '../../core/env.ts'
import { SseParser } from './sse.ts'
import { withTraceHeaders } from '../../core/tracing.ts'
import { OriginSlots } from './origin-slots.ts'

// LLM calls can legitimately take minutes; the config's timeouts are enforced with AbortSignals.
// These only stop a dead socket from hanging forever when no timeout is configured.
const SAFETY_TIMEOUT_MS = 15 * 60 * 1000
/** An error answer is only excerpted and stored: this much of it is plenty. */
const ERROR_BODY_KEEP_BYTES = 64 * 1024

export interface TransportSettings {
  /** Connections per provider origin (`SIDECAR_PROVIDER_CONNECTIONS`). */
  connectionsPerOrigin: number
  /** Longest wait for a free connection before the call fails that provider (`SIDECAR_PROVIDER_QUEUE_TIMEOUT_MS`). */
  queueTimeoutMs: number
  /** Largest answer (a body, or a whole stream) one call may read (`SIDECAR_PROVIDER_RESPONSE_LIMIT_BYTES`). */
  responseLimitBytes: number
}

export const DEFAULT_TRANSPORT_SETTINGS: TransportSettings = {
  connectionsPerOrigin: 256,
  queueTimeoutMs: 10_000,
  responseLimitBytes: 32 * 1024 * 1024
}

export function transportSettingsFromEnv (env: NodeJS.ProcessEnv): TransportSettings {
  const d = DEFAULT_TRANSPORT_SETTINGS
  return {
    connectionsPerOrigin: Math.max(1, Math.floor(numberFromEnv(env, 'SIDECAR_PROVIDER_CONNECTIONS', d.connectionsPerOrigin))),
    queueTimeoutMs: numberFromEnv(env, 'SIDECAR_PROVIDER_QUEUE_TIMEOUT_MS', d.queueTimeoutMs),
    responseLimitBytes: numberFromEnv(env, 'SIDECAR_PROVIDER_RESPONSE_LIMIT_BYTES', d.responseLimitBytes)
  }
}

interface Origin { pool: Pool; slots: OriginSlots }

export class Transport implements ProviderTransport {
  private readonly origins = new Map<string, Origin>()
  private readonly settings: TransportSettings

  constructor (settings: Partial<TransportSettings> = {}) {
    this.settings = { ...DEFAULT_TRANSPORT_SETTINGS, ...settings }
  }

  /** undici loads with the first provider origin, not at start-up (its module graph is the largest of the start). */
  private async newOrigin (url: URL): Promise<Origin> {
    const { Pool } = await import('undici')
    let origin = this.origins.get(url.origin)
    if (origin === undefined) {
      const { connectionsPerOrigin, queueTimeoutMs } = this.settings
      origin = {
        pool: new Pool(url.origin, {
          connections: connectionsPerOrigin,
          pipelining: 1,
          keepAliveTimeout: 30_000,
          headersTimeout: SAFETY_TIMEOUT_MS,
          bodyTimeout: SAFETY_TIMEOUT_MS
        }),
        slots: new OriginSlots(url.origin, connectionsPerOrigin, queueTimeoutMs)
      }
      this.origins.set(url.origin, origin)
    }
    return origin
  }

  /** The answer's head; its connection slot is released when its body closes (read, destroyed or aborted). */
  private async dispatch (spec: { method: 'POST'; headers: Record<string, string>; body: string | Readable }, url: URL, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    const { pool, slots } = this.origins.get(url.origin) ?? await this.newOrigin(url)
    const release = await slots.acquire(signal)
    try {
      const res = await pool.request({
        path: url.pathname + url.search,
        method: spec.method,
        headers: withTraceHeaders(spec.headers),
        body: spec.body,
        signal
      })
      if (res.body.closed || res.body.destroyed) release()
      else res.body.once('close', release)
      return res
    } catch (err) {
      release()
      throw connectionError(err, url, signal)
    }
  }

  async request (spec: HttpRequestSpec, signal: AbortSignal): Promise<HttpAnswer> {
    const url = new URL(spec.url)
    const res = await this.dispatch(spec, url, signal)
    const ok = res.statusCode >= 200 && res.statusCode < 300
    const body = ok
      ? await readBounded(res, this.settings.responseLimitBytes, url, signal)
      : await readErrorBody(res, url, signal)
    return { status: res.statusCode, headers: res.headers, body }
  }

  async stream (spec: HttpRequestSpec, signal: AbortSignal): Promise<HttpStreamAnswer> {
    const url = new URL(spec.url)
    const res = await this.dispatch(spec, url, signal)
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const body = await readErrorBody(res, url, signal).catch(() => '')
      return { status: res.statusCode, headers: res.headers, body }
    }
    return { status: res.statusCode, headers: res.headers, events: sseEvents(res.body, this.settings.responseLimitBytes, url, signal) }
  }

  /**
   * An audio call: a form is sent as multipart, its files from the client's body (not copied); a 2xx body is handed
   * over as it arrives (a speech answer is streamed back to the client), an error body is read up to its excerpt.
   */
  async open (spec: AudioRequestSpec, signal: AbortSignal): Promise<HttpBodyAnswer> {
    const url = new URL(spec.url)
    const sent = typeof spec.body === 'string' ? { ...spec, body: spec.body } : multipart(spec.headers, spec.body)
    const res = await this.dispatch(sent, url, signal)
    const destroy = (): void => { if (!res.body.destroyed) res.body.destroy() }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const errorBody = await readErrorBody(res, url, signal).catch(() => '')
      return { status: res.statusCode, headers: res.headers, errorBody, destroy }
    }
    return { status: res.statusCode, headers: res.headers, body: bodyChunks(res.body, url, signal), destroy }
  }

  async close (): Promise<void> {
    const origins = [...this.origins.values()]
    this.origins.clear()
    await Promise.all(origins.map(async o => await o.pool.close().catch(() => {})))
  }
}

function tooLarge (url: URL, limit: number): ProviderError {
  return new ProviderError(`the answer from ${url.origin} exceeds the response limit of ${limit} bytes (SIDECAR_PROVIDER_RESPONSE_LIMIT_BYTES)`, 'bad_response')
}

/** The whole body as text, failing the call (and dropping the connection) once it passes `limit` bytes. */
async function readBounded (res: Dispatcher.ResponseData, limit: number, url: URL, signal: AbortSignal): Promise<string> {
  const declared = Number(res.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) { res.body.destroy(); throw tooLarge(url, limit) }
  // Copied into one buffer as it arrives (sized by Content-Length when there is one, else doubled as needed), so each
  // chunk can go at once and the body is decoded once, with no list of chunks and no second whole copy beside it.
  let buf = Buffer.allocUnsafe(Number.isFinite(declared) && declared > 0 ? declared : 64 * 1024)
  let size = 0
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (size + chunk.length > limit) { res.body.destroy(); throw tooLarge(url, limit) }
      if (size + chunk.length > buf.length) {
        const grown = Buffer.allocUnsafe(Math.min(Math.max(buf.length * 2, size + chunk.length), Math.max(limit, size + chunk.length)))
        buf.copy(grown, 0, 0, size)
        buf = grown
      }
      size += chunk.copy(buf, size)
    }
  } catch (err) {
    throw connectionError(err, url, signal)
  }
  return buf.toString('utf8', 0, size)
}

/** The start of an error answer (it is only excerpted and stored), the rest dropped with its connection. */
async function readErrorBody (res: Dispatcher.ResponseData, url: URL, signal: AbortSignal): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      chunks.push(chunk)
      size += chunk.length
      if (size >= ERROR_BODY_KEEP_BYTES) { res.body.destroy(); break }
    }
  } catch (err) {
    throw connectionError(err, url, signal)
  }
  const text = Buffer.concat(chunks, size).toString('utf8')
  return size >= ERROR_BODY_KEEP_BYTES ? `${text.slice(0, ERROR_BODY_KEEP_BYTES)}…[truncated]` : text
}

async function * sseEvents (body: Dispatcher.ResponseData['body'], limit: number, url: URL, signal: AbortSignal): AsyncGenerator<SseEvent> {
  const parser = new SseParser()
  let size = 0
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > limit) throw tooLarge(url, limit)
      for (const event of parser.push(chunk)) yield event
    }
    for (const event of parser.end()) yield event
  } catch (err) {
    throw connectionError(err, url, signal)
  } finally {
    // Ended early (a limit, an error, a consumer that left): the connection cannot be reused, so let it go.
    if (!body.destroyed) body.destroy()
  }
}

/** A form as the multipart body undici sends, its files straight from the client's body. */
function multipart (headers: Record<string, string>, parts: readonly FormPart[]): { method: 'POST'; headers: Record<string, string>; body: Readable } {
  const { contentType, contentLength, chunks } = encodeMultipart(parts)
  return {
    method: 'POST',
    headers: { ...headers, 'content-type': contentType, 'content-length': String(contentLength) },
    body: Readable.from(chunks, { objectMode: false })
  }
}

async function * bodyChunks (body: Dispatcher.ResponseData['body'], url: URL, signal: AbortSignal): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) yield chunk
  } catch (err) {
    throw connectionError(err, url, signal)
  } finally {
    if (!body.destroyed) body.destroy()
  }
}

function connectionError (err: unknown, url: URL, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason ?? err
  if (err instanceof ProviderError) return err
  const code = (err as { code?: string }).code
  const message = (err as Error).message ?? String(err)
  return new ProviderError(`connection to ${url.origin} failed: ${code !== undefined ? code + ' ' : ''}${message}`, 'connection')
}
