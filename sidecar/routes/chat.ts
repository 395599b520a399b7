// POST /v1/chat/completions: parse, resolve `model`, run the inference, answer as TensorZero does.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Gateway } from '../../src/gateway.ts'
import type { StreamingInference, InferenceMeta } from '../../src/function/run.ts'
import { modelOf, parseChatRequest } from '../../src/endpoints/openai/chat-request.ts'
import { completionBody, ChunkWriter } from '../../src/endpoints/openai/chat-response.ts'
import { toGatewayError, errorClassOf, GatewayError } from '../../src/core/errors.ts'
import type { Json } from '../../src/endpoints/openai/validate.ts'
import { sendJson, writeChunk } from '../http/respond.ts'
import type { RequestLog } from '../ops/request-log.ts'

export interface ChatRouteDeps {
  gateway: Gateway
  /** Forward the (already read) request to `passthrough_upstream`, for models the config does not match. */
  passthrough: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void
  /** See SidecarOptions.beforeComplete. */
  beforeComplete?: () => Promise<void>
}

export async function handleChat (deps: ChatRouteDeps, req: IncomingMessage, res: ServerResponse, body: Buffer, json: unknown,
  signal: AbortSignal, log: RequestLog): Promise<void> {
  const model = modelOf(json)
  const target = deps.gateway.resolver.resolve(model)
  if (target.kind === 'passthrough') { log.passthrough = true; deps.passthrough(req, res, body); return }
  if (target.kind === 'embedding_model') throw new GatewayError(400, `\`${model}\` is an embedding model: use /v1/embeddings`)
  log.target = target
  const episodeHeader = req.headers['x-tensorzero-episode-id']
  const request = parseChatRequest(json as Json, target, typeof episodeHeader === 'string' ? episodeHeader : undefined)
  const result = await deps.gateway.chat(request, signal)
  log.inference = result
  if (result.kind === 'complete') {
    log.usage = result.usage
    if (deps.beforeComplete !== undefined && !request.dryrun) await deps.beforeComplete()
    sendJson(res, 200, completionBody(result), inferenceHeaders(result))
    return
  }
  await writeStream(res, result, request.includeUsage, log, request.dryrun ? undefined : deps.beforeComplete)
}

function inferenceHeaders (meta: InferenceMeta): Record<string, string> {
  return {
    'x-tensorzero-inference-id': meta.inferenceId,
    'x-tensorzero-episode-id': meta.episodeId,
    'x-tensorzero-function': meta.functionName,
    'x-tensorzero-variant': meta.variantName,
    'x-tensorzero-model': meta.modelName,
    'x-tensorzero-provider': meta.providerName
  }
}

async function writeStream (res: ServerResponse, stream: StreamingInference, includeUsage: boolean, log: RequestLog,
  beforeComplete?: () => Promise<void>): Promise<void> {
  res.writeHead(200, {
    ...inferenceHeaders(stream),
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no'
  })
  const chunks = new ChunkWriter(stream)
  try {
    for await (const delta of stream.deltas) {
      const chunk = chunks.delta(delta)
      if (chunk === '') continue
      log.ttftMs ??= performance.now() - log.started
      if (!await writeChunk(res, chunk)) return
    }
    const usage = stream.collector.usage
    log.usage = usage
    await writeChunk(res, chunks.final(stream.collector.finishReason, includeUsage ? usage : undefined))
    if (beforeComplete !== undefined) await beforeComplete()
    await writeChunk(res, ChunkWriter.DONE)
    res.end()
  } catch (err) {
    // After the first chunk the status line is gone: report in-stream, as TensorZero does.
    const error = toGatewayError(err)
    log.error = error
    log.errorClass = errorClassOf(err)
    log.streamError = true
    if (!res.destroyed) {
      await writeChunk(res, ChunkWriter.error(error.message))
      res.end()
    }
  }
}
