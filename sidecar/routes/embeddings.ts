// POST /v1/embeddings: resolve `model` to an embedding model and walk its providers.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { modelOf } from '../../src/endpoints/openai/chat-request.ts'
import { parseEmbeddingRequest, embeddingBody } from '../../src/endpoints/openai/embeddings.ts'
import { stringMap } from '../../src/endpoints/openai/validate.ts'
import type { Json } from '../../src/endpoints/openai/validate.ts'
import { GatewayError } from '../../src/core/errors.ts'
import { sendJson } from '../http/respond.ts'
import type { ChatRouteDeps } from './chat.ts'
import type { RequestLog } from '../ops/request-log.ts'

export async function handleEmbeddings (deps: ChatRouteDeps, req: IncomingMessage, res: ServerResponse, body: Buffer, json: unknown,
  signal: AbortSignal, log: RequestLog): Promise<void> {
  const model = modelOf(json)
  const target = deps.gateway.resolver.resolve(model)
  if (target.kind === 'passthrough') { log.passthrough = true; deps.passthrough(req, res, body); return }
  if (target.kind !== 'embedding_model') throw new GatewayError(400, `\`${model}\` is not an embedding model`)
  log.target = target
  const request = parseEmbeddingRequest(json as Json)
  const rawCredentials = (json as Json)['tensorzero::credentials']
  const credentials = rawCredentials === undefined ? undefined : stringMap(rawCredentials, 'tensorzero::credentials')
  const result = await deps.gateway.embed(target.modelName, request, signal, credentials)
  log.usage = result.usage
  sendJson(res, 200, embeddingBody(result, `tensorzero::embedding_model_name::${target.modelName}`, request.encodingFormat), {
    'x-tensorzero-model': target.modelName,
    'x-tensorzero-provider': result.providerName
  })
}
