// Embeddings: internal EmbeddingRequest → `POST {api_base}/embeddings`, and the answer back.
import type { EmbeddingRequest, EmbeddingResponse } from '../../core/types.ts'
import type { ProviderContext, ProviderRequest } from '../adapter.ts'
import { ProviderError } from '../../core/errors.ts'
import { excerpt, parseJsonBody } from '../http/json.ts'
import { joinUrl } from '../http/url.ts'
import { baseHeaders, resolveApiBase } from './request.ts'
import { errorMessageOf, parseUsage } from './response.ts'

export function buildEmbeddingsRequest (req: EmbeddingRequest, ctx: ProviderContext, type: string, defaultApiBase: string | undefined): ProviderRequest {
  const body: Record<string, unknown> = { model: ctx.provider.modelName, input: req.input }
  if (req.dimensions !== undefined) body.dimensions = req.dimensions
  if (req.encodingFormat !== undefined) body.encoding_format = req.encodingFormat
  return { url: joinUrl(resolveApiBase(ctx, defaultApiBase, type), 'embeddings'), headers: baseHeaders(ctx), body }
}

function decodeBase64Floats (s: string): number[] {
  const buf = Buffer.from(s, 'base64')
  const out = new Array<number>(buf.length >>> 2)
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4)
  return out
}

/** `data[].embedding` ordered by `index` (float arrays, or base64 little-endian float32 when requested). */
export function parseEmbeddingsResponse (body: string, type: string): EmbeddingResponse {
  const json = parseJsonBody(body, type, 'embeddings response body') as Record<string, unknown> | null
  if (json === null || typeof json !== 'object') throw new ProviderError(`${type}: embeddings response is not a JSON object`, 'bad_response', { rawResponse: body })
  if (json.error !== undefined && json.data === undefined) {
    throw new ProviderError(`${type}: error in embeddings response: ${errorMessageOf(json) ?? excerpt(body)}`, 'server', { rawResponse: body })
  }
  const data = json.data
  if (!Array.isArray(data) || data.length === 0) throw new ProviderError(`${type}: embeddings response has no data`, 'bad_response', { rawResponse: body })
  const items = data.map((d: unknown, pos: number) => {
    const o = (typeof d === 'object' && d !== null ? d : {}) as Record<string, unknown>
    const e = o.embedding
    let vec: number[]
    if (typeof e === 'string') vec = decodeBase64Floats(e)
    else if (Array.isArray(e) && e.every(x => typeof x === 'number')) vec = e as number[]
    else throw new ProviderError(`${type}: embeddings response item ${pos} has no embedding`, 'bad_response', { rawResponse: body })
    return { index: typeof o.index === 'number' ? o.index : pos, vec }
  })
  items.sort((a, b) => a.index - b.index)
  return { embeddings: items.map(i => i.vec), usage: parseUsage(json.usage) ?? {}, rawResponse: body }
}
