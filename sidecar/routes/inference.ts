// POST /inference: TensorZero's native endpoint. The body names a function or a model directly (no [routes], no
// pass-through), runs through the same gateway as chat, and is answered in TensorZero's native shapes. As for chat,
// the answer's last bytes wait for the rows to be on disk; dry runs store nothing and do not wait.
import type { Gateway } from '../../src/gateway.ts'
import type { Resolution } from '../../src/function/resolve.ts'
import type { InferenceTarget } from '../../src/core/request.ts'
import { GatewayError } from '../../src/core/errors.ts'
import { MODEL_NAME_PREFIX } from '../../src/core/names.ts'
import { nativeTargetName, parseNativeInference } from '../../src/endpoints/tensorzero/inference-request.ts'
import { inferenceBody, NativeChunkWriter } from '../../src/endpoints/tensorzero/inference-response.ts'
import type { Json } from '../../src/endpoints/openai/validate.ts'
import { readBody, parseJson } from '../http/body.ts'
import { sendJson } from '../http/respond.ts'
import type { RouteHandler } from './context.ts'
import { inferenceHeaders, sendEventStream } from './inference-answer.ts'
import { streamHead } from '../../src/endpoints/openai/raw-entries.ts'

export const inference: RouteHandler = async (ctx, req, res, log, signal) => {
  const json = parseJson(await readBody(req, ctx.bodyLimit))
  const name = nativeTargetName(json)
  const target = resolveNative(ctx.gateway, name)
  log.target = target
  const { request, includeOriginalResponse, raw } = parseNativeInference(json as Json, target)
  const result = await ctx.gateway.chat(request, signal, log)
  log.inference = result
  const functionType = target.fn.type
  if (result.kind === 'complete') {
    log.usage = result.usage
    if (!request.dryrun) await ctx.gateway.persisted()
    sendJson(res, 200, inferenceBody(result, includeOriginalResponse, functionType, raw), inferenceHeaders(result))
    return
  }
  const chunks = new NativeChunkWriter(result, functionType, { response: raw.response, original: includeOriginalResponse, usage: raw.usage })
  await sendEventStream(res, result, {
    head: streamHead(result, raw, chunks),
    delta: d => chunks.delta(d),
    tail: collector => [chunks.final(collector.finishReason, collector.usage), chunks.done],
    error: (message, rawChunk) => chunks.error(message, raw.response ? rawChunk : undefined)
  }, log, request.dryrun ? undefined : ctx.gateway)
}

/** A model the config does not know is TensorZero's `Invalid inference target` on this endpoint. */
function resolveNative (gateway: Pick<Gateway, 'resolve'>, name: string): InferenceTarget {
  let resolved: Resolution
  try {
    resolved = gateway.resolve(name)
  } catch (err) {
    if (err instanceof GatewayError && err.status === 400 && name.startsWith(MODEL_NAME_PREFIX)) {
      throw new GatewayError(400, `Invalid inference target: ${err.message}`)
    }
    throw err
  }
  if (resolved.kind !== 'function' && resolved.kind !== 'model') throw new GatewayError(500, `\`${name}\` did not resolve to a function or model`)
  return resolved
}
