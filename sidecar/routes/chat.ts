// POST /v1/chat/completions: parse, resolve `model`, run the inference, answer as TensorZero does.
// The last bytes of an answer (the body, or a stream's `[DONE]`) wait for `persisted()`: a response the client saw complete
// has its rows on disk even if the process is killed right after. Dry runs store nothing and do not wait.
import type { InferenceMeta } from '../../src/function/run.ts'
import { parseChatRequest } from '../../src/endpoints/openai/chat-request.ts'
import { completionBody, ChunkWriter } from '../../src/endpoints/openai/chat-response.ts'
import { sendJson } from '../http/respond.ts'
import type { RouteHandler } from './context.ts'
import { servedInference } from './served-request.ts'
import { inferenceHeaders, sendEventStream } from './inference-answer.ts'
import type { StreamEncoding } from './inference-answer.ts'

export const chat: RouteHandler = async (ctx, req, res, log, signal) => {
  const read = await servedInference(ctx, req, res, log)
  if (read === undefined) return
  const request = parseChatRequest(read.json, read.target, read.episodeHeader)
  const result = await ctx.gateway.chat(request, signal, log)
  log.inference = result
  if (result.kind === 'complete') {
    log.usage = result.usage
    if (!request.dryrun) await ctx.gateway.persisted()
    sendJson(res, 200, completionBody(result), inferenceHeaders(result))
    return
  }
  await sendEventStream(res, result, chatEncoding(result, request.includeUsage), log, request.dryrun ? undefined : ctx.gateway)
}

function chatEncoding (meta: InferenceMeta, includeUsage: boolean): StreamEncoding {
  const chunks = new ChunkWriter(meta)
  return {
    head: '',
    delta: d => chunks.delta(d),
    tail: collector => [chunks.final(collector.finishReason, includeUsage ? collector.usage : undefined), ChunkWriter.DONE],
    error: message => ChunkWriter.error(message)
  }
}
