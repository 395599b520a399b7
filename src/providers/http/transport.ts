// The only place provider HTTP happens: one keep-alive undici Pool per upstream origin, bodies read as text
// (non-streaming) or handed over chunk by chunk through the SSE parser (streaming).
import { Pool } from 'undici'
import type { Dispatcher } from 'undici'
import type { HttpAnswer, HttpRequestSpec, HttpStreamAnswer, ProviderTransport, SseEvent } from '../adapter.ts'
import { ProviderError } from '../../core/errors.ts'
import { SseParser } from './sse.ts'
import { withTraceHeaders } from '../../core/tracing.ts'

// LLM calls can legitimately take minutes; the config's timeouts are enforced with AbortSignals.
// These only stop a dead socket from hanging forever when no timeout is configured.
const SAFETY_TIMEOUT_MS = 15 * 60 * 1000

export class Transport implements ProviderTransport {
  private readonly pools = new Map<string, Pool>()
  private readonly connections: number

  constructor (opts: { connectionsPerOrigin?: number } = {}) {
    this.connections = opts.connectionsPerOrigin ?? 256
  }

  private poolFor (url: URL): Pool {
    let pool = this.pools.get(url.origin)
    if (pool === undefined) {
      pool = new Pool(url.origin, {
        connections: this.connections,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        headersTimeout: SAFETY_TIMEOUT_MS,
        bodyTimeout: SAFETY_TIMEOUT_MS
      })
      this.pools.set(url.origin, pool)
    }
    return pool
  }

  private async dispatch (spec: HttpRequestSpec, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    const url = new URL(spec.url)
    try {
      return await this.poolFor(url).request({
        path: url.pathname + url.search,
        method: spec.method,
        headers: withTraceHeaders(spec.headers),
        body: spec.body,
        signal
      })
    } catch (err) {
      throw connectionError(err, url, signal)
    }
  }

  async request (spec: HttpRequestSpec, signal: AbortSignal): Promise<HttpAnswer> {
    const res = await this.dispatch(spec, signal)
    try {
      const body = await res.body.text()
      return { status: res.statusCode, headers: res.headers, body }
    } catch (err) {
      throw connectionError(err, new URL(spec.url), signal)
    }
  }

  async stream (spec: HttpRequestSpec, signal: AbortSignal): Promise<HttpStreamAnswer> {
    const res = await this.dispatch(spec, signal)
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const body = await res.body.text().catch(() => '')
      return { status: res.statusCode, headers: res.headers, body }
    }
    return { status: res.statusCode, headers: res.headers, events: sseEvents(res.body, spec.url, signal) }
  }

  async close (): Promise<void> {
    const pools = [...this.pools.values()]
    this.pools.clear()
    await Promise.all(pools.map(async p => await p.close().catch(() => {})))
  }
}

async function * sseEvents (body: AsyncIterable<Buffer>, url: string, signal: AbortSignal): AsyncGenerator<SseEvent> {
  const parser = new SseParser()
  try {
    for await (const chunk of body) {
      for (const event of parser.push(chunk)) yield event
    }
    for (const event of parser.end()) yield event
  } catch (err) {
    throw connectionError(err, new URL(url), signal)
  }
}

function connectionError (err: unknown, url: URL, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason ?? err
  if (err instanceof ProviderError) return err
  const code = (err as { code?: string }).code
  const message = (err as Error).message ?? String(err)
  return new ProviderError(`connection to ${url.origin} failed: ${code !== undefined ? code + ' ' : ''}${message}`, 'connection')
}
