// POST /v1/chat/completions: parse, resolve `model`, run the inference, answer as TensorZero does.
// The last bytes of an answer (the body, or a stream's `[DONE]`) wait for `persisted()`: a response the client saw complete
// has its rows on disk even if the process is killed right after. Dry runs store nothing and do not wait.
import type { StreamingInference } from '../../src/function/run.ts'
import type { ChatRequest } from '../../src/core/request.ts'
import { streamHead } from '../../src/endpoints/openai/raw-entries.ts'
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
    const raw = { usage: request.includeRawUsage, response: request.includeRawResponse, original: request.includeOriginalResponse }
    sendJson(res, 200, completionBody(result, undefined, raw), inferenceHeaders(result))
    return
  }
  await sendEventStream(res, result, chatEncoding(result, request), log, request.dryrun ? undefined : ctx.gateway)
}

function chatEncoding (inference: StreamingInference, request: ChatRequest): StreamEncoding {
  const chunks = new ChunkWriter(inference, {
    response: request.includeRawResponse, original: request.includeOriginalResponse, usage: request.includeRawUsage, json: request.target.fn.type === 'json'
  })
  const flags = { usage: request.includeRawUsage, response: request.includeRawResponse }
  return {
    head: streamHead(inference, flags, chunks),
    delta: d => chunks.delta(d),
    tail: collector => [chunks.final(collector.finishReason, request.includeUsage ? collector.usage : undefined), ChunkWriter.DONE],
    // TensorZero's mid-stream error event carries the provider's raw text of the failure, when raw responses were asked for.
    error: (message, rawChunk) => ChunkWriter.error(message, request.includeRawResponse === true ? rawChunk : undefined)
  }
}
