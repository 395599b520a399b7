// POST /v1/chat/completions: parse, resolve `model`, run the inference, answer as TensorZero does.
// The last bytes of an answer (the body, or a stream's `[DONE]`) wait for `persisted()`: a response the client saw complete
// has its rows on disk even if the process is killed right after. Dry runs store nothing and do not wait.
import type { ServerResponse } from 'node:http'
import type { Gateway } from '../../src/gateway.ts'
import type { StreamingInference, InferenceMeta } from '../../src/function/run.ts'
import type { FinishReason, StreamDelta, Usage } from '../../src/core/types.ts'
import { parseChatRequest } from '../../src/endpoints/openai/chat-request.ts'
import { completionBody, ChunkWriter } from '../../src/endpoints/openai/chat-response.ts'
import { toGatewayError, errorClassOf, GatewayError } from '../../src/core/errors.ts'
import { sendJson, writeChunk } from '../http/respond.ts'
import type { RequestLog } from '../ops/request-log.ts'
import type { RouteHandler } from './context.ts'
import { servedRequest } from './served-request.ts'
import { readBody } from '../http/body.ts'

export const chat: RouteHandler = async (ctx, req, res, log, signal) => {
  const read = servedRequest(ctx, req, res, await readBody(req, ctx.bodyLimit), log)
  if (read === undefined) return
  const { json, model, target } = read
  if (target.kind === 'embedding_model') throw new GatewayError(400, `\`${model}\` is an embedding model: use /v1/embeddings`)
  log.target = target
  const episodeHeader = req.headers['x-tensorzero-episode-id']
  const request = parseChatRequest(json, target, typeof episodeHeader === 'string' ? episodeHeader : undefined)
  const result = await ctx.gateway.chat(request, signal, log)
  log.inference = result
  if (result.kind === 'complete') {
    log.usage = result.usage
    if (!request.dryrun) await ctx.gateway.persisted()
    sendJson(res, 200, completionBody(result), inferenceHeaders(result))
    return
  }
  const chunks = new ChunkWriter(result)
  const serializer: StreamSerializer = {
    delta: d => chunks.delta(d),
    final: (reason, usage) => chunks.final(reason, request.includeUsage ? usage : undefined),
    error: ChunkWriter.error,
    done: ChunkWriter.DONE
  }
  await writeStream(res, result, serializer, log, request.dryrun ? undefined : ctx.gateway)
}

/** How one route family writes a stream's chunks; the loop, its persistence wait and its error handling are shared. */
export interface StreamSerializer {
  delta (d: StreamDelta): string
  final (finishReason: FinishReason | undefined, usage: Usage): string
  error (message: string): string
  done: string
}

export function inferenceHeaders (meta: InferenceMeta): Record<string, string> {
  return {
    'x-tensorzero-inference-id': meta.inferenceId,
    'x-tensorzero-episode-id': meta.episodeId,
    'x-tensorzero-function': meta.functionName,
    'x-tensorzero-variant': meta.variantName,
    'x-tensorzero-model': meta.modelName,
    'x-tensorzero-provider': meta.providerName
  }
}

export async function writeStream (res: ServerResponse, stream: StreamingInference, chunks: StreamSerializer, log: RequestLog,
  store?: Pick<Gateway, 'persisted'>): Promise<void> {
  res.writeHead(200, {
    ...inferenceHeaders(stream),
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no'
  })
  try {
    for await (const delta of stream.deltas) {
      const chunk = chunks.delta(delta)
      if (chunk === '') continue
      log.ttftMs ??= performance.now() - log.started
      if (!await writeChunk(res, chunk)) return
    }
    const usage = stream.collector.usage
    log.usage = usage
    await writeChunk(res, chunks.final(stream.collector.finishReason, usage))
    if (store !== undefined) await store.persisted()
    await writeChunk(res, chunks.done)
    res.end()
  } catch (err) {
    // After the first chunk the status line is gone: report in-stream, as TensorZero does.
    const error = toGatewayError(err)
    log.error = error
    log.errorClass = errorClassOf(err)
    log.streamError = true
    if (!res.destroyed) {
      await writeChunk(res, chunks.error(error.message))
      res.end()
    }
  }
}
