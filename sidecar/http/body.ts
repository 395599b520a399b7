// Reading a request body: bounded in size and in time (the server's request timeout), parsed once, every failure an
// OpenAI-shaped 4xx.
import type { IncomingMessage } from 'node:http'
import { GatewayError, badRequest } from '../../src/core/errors.ts'
import { timedOut } from './socket-answers.ts'

export const DEFAULT_BODY_LIMIT = 32 * 1024 * 1024

class BodyTooLarge extends GatewayError {
  constructor (limit: number) {
    super(413, `Request body is larger than the limit of ${limit} bytes`)
  }
}

export async function readBody (req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) throw new BodyTooLarge(limit)
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > limit) throw new BodyTooLarge(limit)
      chunks.push(chunk)
    }
  } catch (err) {
    if (err instanceof GatewayError) throw err
    // The socket went away mid-body: the server's request timeout destroyed it, or the client left.
    throw timedOut(req.socket)
      ? new GatewayError(408, 'The request body was not received in time (SIDECAR_REQUEST_TIMEOUT_MS)')
      : new GatewayError(499, 'The client closed the connection before the request body ended')
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)
}

/**
 * Whether a `Content-Type` names JSON (`application/json`, or `application/…+json`). The inference and feedback routes
 * take nothing else: a cross-origin page can POST `text/plain` without a CORS preflight, never `application/json`.
 */
export function isJsonContentType (header: string | undefined): boolean {
  if (header === undefined) return false
  const type = header.split(';', 1)[0].trim().toLowerCase()
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
}

export function parseJson (body: Buffer): unknown {
  if (body.length === 0) throw badRequest('The request body is empty: expected a JSON object')
  try {
    return JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw badRequest(`Invalid JSON in the request body: ${(err as Error).message}`)
  }
}
