// Writing answers: JSON bodies, errors (OpenAI-shaped unless a route says otherwise), and stream writes that respect back-pressure.
import type { ServerResponse } from 'node:http'
import { once } from 'node:events'
import { GatewayError, errorBody, retryAfterHeader } from '../../src/core/errors.ts'

/** Past this size a body is sent as bytes: a string would be joined to the head (a copy) and then encoded (another). */
const LARGE_BODY_CHARS = 64 * 1024

export function sendJson (res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const text = JSON.stringify(body)
  const payload = text.length > LARGE_BODY_CHARS ? Buffer.from(text) : text
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) })
  res.end(payload)
}

/** An error answer; `body` shapes it (OpenAI's `{"error":{"message"}}` unless the route speaks another dialect). */
export function sendError (res: ServerResponse, err: GatewayError, headers?: Record<string, string>,
  body: (err: GatewayError) => unknown = errorBody): void {
  if (res.headersSent) { res.destroy(); return }
  // A body we refused to read must not be left on the socket: close it after answering.
  const close = err.status === 413 ? { connection: 'close' } : undefined
  sendJson(res, err.status, body(err), { ...retryAfterHeader(err), ...headers, ...close })
}

/** Write a chunk; wait for 'drain' when the socket's buffer is full. Returns false once the client is gone. */
export async function writeChunk (res: ServerResponse, chunk: string | Uint8Array): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return false
  if (res.write(chunk)) return true
  const stop = new AbortController()
  try {
    return await Promise.race([
      once(res, 'drain', { signal: stop.signal }).then(() => true),
      once(res, 'close', { signal: stop.signal }).then(() => false)
    ])
  } finally {
    stop.abort() // drops the listener that lost the race
  }
}
