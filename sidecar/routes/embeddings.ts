// POST /v1/embeddings: resolve `model` to an embedding model and walk its providers.
import { parseEmbeddingRequest, embeddingBody } from '../../src/endpoints/openai/embeddings.ts'
import { stringMap } from '../../src/endpoints/openai/validate.ts'
import { GatewayError } from '../../src/core/errors.ts'
import { sendJson } from '../http/respond.ts'
import type { RouteHandler } from './context.ts'
import { servedRequest } from './served-request.ts'
import { readBody } from '../http/body.ts'

export const embeddings: RouteHandler = async (ctx, req, res, log, signal) => {
  const read = servedRequest(ctx, req, res, await readBody(req, ctx.bodyLimit), log)
  if (read === undefined) return
  const { json, model, target } = read
  if (target.kind !== 'embedding_model') throw new GatewayError(400, `\`${model}\` is not an embedding model`)
  log.target = target
  const request = parseEmbeddingRequest(json)
  const rawCredentials = json['tensorzero::credentials']
  const credentials = rawCredentials === undefined ? undefined : stringMap(rawCredentials, 'tensorzero::credentials')
  const result = await ctx.gateway.embed(target.modelName, request, signal, credentials, log)
  log.usage = result.usage
  sendJson(res, 200, embeddingBody(result, `tensorzero::embedding_model_name::${target.modelName}`, request.encodingFormat), {
    'x-tensorzero-model': target.modelName,
    'x-tensorzero-provider': result.providerName
  })
}
