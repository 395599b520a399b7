// The start every inference route shares once the body is read: parse it, resolve its `model`, and hand a model the
// config does not match to the pass-through upstream with that body.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Resolution } from '../../src/function/resolve.ts'
import type { InferenceTarget } from '../../src/core/request.ts'
import { GatewayError } from '../../src/core/errors.ts'
import { EMBEDDING_MODEL_NAME_PREFIX, FUNCTION_NAME_PREFIX, MODEL_NAME_PREFIX } from '../../src/core/names.ts'
import { modelOf } from '../../src/endpoints/openai/chat-request.ts'
import type { Json } from '../../src/endpoints/openai/validate.ts'
import { parseJson, readBody } from '../http/body.ts'
import type { RequestLog } from '../ops/request-log.ts'
import type { RouteContext } from './context.ts'
import { upstreamFailure } from './passthrough.ts'

/** The request and what its `model` names; undefined when it went to the pass-through upstream. */
export function servedRequest (ctx: RouteContext, req: IncomingMessage, res: ServerResponse, body: Buffer, log: RequestLog,
  checkModel?: (model: string) => void): { json: Json; model: string; target: Exclude<Resolution, { kind: 'passthrough' }> } | undefined {
  const json = parseJson(body)
  const model = modelOf(json)
  checkModel?.(model)
  const target = ctx.gateway.resolve(model)
  if (target.kind === 'passthrough') { log.passthrough = true; ctx.passthrough.web(req, res, body, upstreamFailure(log)); return undefined }
  return { json: json as Json, model, target }
}

/** TensorZero's answer to `tensorzero::embedding_model_name::…` on a chat route, whether or not that model exists. */
function refuseEmbeddingModelName (model: string): void {
  if (!model.startsWith(EMBEDDING_MODEL_NAME_PREFIX)) return
  throw new GatewayError(400, `\`model\` field must start with \`${FUNCTION_NAME_PREFIX}\` or \`${MODEL_NAME_PREFIX}\`. For example,` +
    ` \`${FUNCTION_NAME_PREFIX}my_function\` for a function \`my_function\` defined in your config, \`${MODEL_NAME_PREFIX}my_model\`` +
    ` for a model \`my_model\` defined in your config, or default functions like \`${MODEL_NAME_PREFIX}openai::gpt-4o-mini\`.`)
}

/** A chat-shaped inference request (chat completions, responses): its target (not an embedding model) and episode header. */
export async function servedInference (ctx: RouteContext, req: IncomingMessage, res: ServerResponse, log: RequestLog):
  Promise<{ json: Json; target: InferenceTarget; episodeHeader?: string } | undefined> {
  const read = servedRequest(ctx, req, res, await readBody(req, ctx.bodyLimit), log, refuseEmbeddingModelName)
  if (read === undefined) return undefined
  const { json, model, target } = read
  if (target.kind === 'embedding_model') throw new GatewayError(400, `\`${model}\` is an embedding model: use /v1/embeddings`)
  log.target = target
  const episode = req.headers['x-tensorzero-episode-id']
  return { json, target, episodeHeader: typeof episode === 'string' ? episode : undefined }
}
