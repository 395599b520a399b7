// POST /v1/responses: the Responses API over the same path as chat completions (resolve `model`, run the function's
// variants, record the rows), answered as a Response object or its event stream. As for chat, the answer's last bytes
// wait for `persisted()`, so a response the client saw complete has its rows on disk; dry runs do not wait.
import type { InferenceMeta } from '../../src/function/run.ts'
import { parseResponsesRequest } from '../../src/endpoints/openai/responses-request.ts'
import type { ResponseEcho } from '../../src/endpoints/openai/responses-request.ts'
import { finishedStatus, outputItems, responseObject, usageOf } from '../../src/endpoints/openai/responses-response.ts'
import { ResponseEvents } from '../../src/endpoints/openai/responses-stream.ts'
import { sendJson } from '../http/respond.ts'
import type { RouteHandler } from './context.ts'
import { servedInference } from './served-request.ts'
import { inferenceHeaders, sendEventStream } from './inference-answer.ts'
import type { StreamEncoding } from './inference-answer.ts'

export const responses: RouteHandler = async (ctx, req, res, log, signal) => {
  const read = await servedInference(ctx, req, res, log)
  if (read === undefined) return
  const { request, echo } = await parseResponsesRequest(read.json, read.target, ctx.gateway.exchanges, read.episodeHeader)
  const createdAt = Math.floor(Date.now() / 1000)
  const result = await ctx.gateway.chat(request, signal, log)
  log.inference = result
  if (result.kind === 'stream') {
    await sendEventStream(res, result, responsesEncoding(result, echo, createdAt), log, request.dryrun ? undefined : ctx.gateway)
    return
  }
  log.usage = result.usage
  if (!request.dryrun) await ctx.gateway.persisted()
  const output = outputItems(result.inferenceId, result.output)
  sendJson(res, 200, responseObject(result, echo, createdAt, { ...finishedStatus(result.finishReason), output, usage: usageOf(result.usage) }), inferenceHeaders(result))
}

function responsesEncoding (meta: InferenceMeta, echo: ResponseEcho, createdAt: number): StreamEncoding {
  const events = new ResponseEvents(meta, echo, createdAt)
  return {
    head: events.start(),
    delta: d => events.delta(d),
    tail: collector => ['', events.finish(collector.finishReason, collector.usage)],
    error: message => events.failed(message)
  }
}
