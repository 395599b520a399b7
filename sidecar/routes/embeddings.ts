// POST /v1/embeddings: resolve `model` to an embedding model and walk its providers.
import { parseEmbeddingRequest, embeddingBody } from '../../src/endpoints/openai/embeddings.ts'
import { optionalBoolean, stringMap } from '../../src/endpoints/openai/validate.ts'
import { parseCacheOptions } from '../../src/endpoints/openai/chat-request.ts'
import { effectiveCacheOptions } from '../../src/core/cache.ts'
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
  const cacheOptions = parseCacheOptions(json['tensorzero::cache_options'], 'tensorzero::cache_options')
  const dryrun = optionalBoolean(json, 'tensorzero::dryrun') ?? false
  const result = await ctx.gateway.embed(target.modelName, request, signal, credentials, log,
    cacheOptions === undefined ? undefined : effectiveCacheOptions(cacheOptions, dryrun))
  log.usage = result.usage
  sendJson(res, 200, embeddingBody(result, `tensorzero::embedding_model_name::${target.modelName}`, request.encodingFormat), {
    'x-tensorzero-model': target.modelName,
    'x-tensorzero-provider': result.providerName
  })
}
