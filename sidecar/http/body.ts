// Reading a request body: bounded in size, parsed once, every failure an OpenAI-shaped 4xx.
import type { IncomingMessage } from 'node:http'
import { GatewayError, badRequest } from '../../src/core/errors.ts'

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
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw new BodyTooLarge(limit)
    chunks.push(chunk)
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)
}

export function parseJson (body: Buffer): unknown {
  if (body.length === 0) throw badRequest('The request body is empty: expected a JSON object')
  try {
    return JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw badRequest(`Invalid JSON in the request body: ${(err as Error).message}`)
  }
}
