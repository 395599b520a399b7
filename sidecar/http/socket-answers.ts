// Answers for what never became a routed request: malformed HTTP, headers too large, a request not received in time,
// a refused WebSocket upgrade. Written straight to the socket, OpenAI-shaped, and the socket is destroyed right after
// (not `end()`ed: a client that neither reads nor closes would hold a half-closed socket for good).
import { STATUS_CODES } from 'node:http'
import type { ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { GatewayError, errorBody, retryAfterHeader } from '../../src/core/errors.ts'

/** Node's codes for a client's broken HTTP → what the client is told. Anything else the parser rejects is a 400. */
const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request headers are too large'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'Chunk extensions of the request body are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'The request was not received in time (SIDECAR_HEADERS_TIMEOUT_MS / SIDECAR_REQUEST_TIMEOUT_MS)']
}

/** Write `err` as a whole HTTP response, then destroy the socket. */
export function answerAndDestroy (socket: Duplex, err: GatewayError, cause?: Error): void {
  if (socket.writable) {
    const body = JSON.stringify(errorBody(err))
    const retryAfter = retryAfterHeader(err)
    socket.write(`HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}\r\nconnection: close\r\ncontent-type: application/json\r\n` +
      `${retryAfter === undefined ? '' : `retry-after: ${retryAfter['retry-after']}\r\n`}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  }
  socket.destroy(cause)
}

/** The server's `clientError` handler. */
export function answerClientError (err: NodeJS.ErrnoException, socket: Duplex): void {
  // As Node's own handler: answer only while no response has started on this socket (else the bytes would corrupt it).
  const response = (socket as { _httpMessage?: ServerResponse })._httpMessage
  if (err.code === 'ECONNRESET' || response?.headersSent === true) { socket.destroy(err); return }
  const [status, message] = CLIENT_ERRORS[err.code ?? ''] ?? [400, `Malformed HTTP request${err.code === undefined ? '' : ` (${err.code})`}`]
  answerAndDestroy(socket, new GatewayError(status, message), err)
}

/** Whether the request's socket was destroyed because the request took longer than the server's timeouts. */
export function timedOut (socket: Duplex): boolean {
  return (socket.errored as NodeJS.ErrnoException | null)?.code === 'ERR_HTTP_REQUEST_TIMEOUT'
}
