// OpenAI embeddings bodies ↔ the internal embedding request/response.
import type { EmbeddingRequest, EmbeddingResponse } from '../../core/types.ts'
import { badRequest } from '../../core/errors.ts'
import { optionalInteger, optionalString } from './validate.ts'
import type { Json } from './validate.ts'

export function parseEmbeddingRequest (body: Json): EmbeddingRequest {
  const input = body.input
  const valid = typeof input === 'string' || (Array.isArray(input) && input.length > 0 && input.every(s => typeof s === 'string'))
  if (!valid) throw badRequest('`input` must be a string or a non-empty array of strings')
  const encoding = optionalString(body, 'encoding_format')
  if (encoding !== undefined && encoding !== 'float' && encoding !== 'base64') throw badRequest('`encoding_format` must be float or base64')
  const req: EmbeddingRequest = { input: input as string | string[] }
  const dimensions = optionalInteger(body, 'dimensions', 1)
  if (dimensions !== undefined) req.dimensions = dimensions
  if (encoding !== undefined) req.encodingFormat = encoding
  return req
}

export function embeddingBody (result: EmbeddingResponse, responseModel: string, encoding: 'float' | 'base64' | undefined): Record<string, unknown> {
  const prompt = result.usage.inputTokens ?? 0
  return {
    object: 'list',
    data: result.embeddings.map((embedding, index) => ({
      object: 'embedding',
      index,
      embedding: encoding === 'base64' ? Buffer.from(new Float32Array(embedding).buffer).toString('base64') : embedding
    })),
    model: responseModel,
    usage: { prompt_tokens: prompt, total_tokens: prompt }
  }
}
