// POST /v1/audio/transcriptions, /v1/audio/translations (multipart) and /v1/audio/speech (JSON): resolve `model` as
// chat does, walk the model's providers, and pass the answer back as it arrives with the provider's content type.
// The body is held (bounded by the body limit) because a fallback sends it again; nothing is recorded in ClickHouse
// (TensorZero has no table for audio), the request log and metrics count each call.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AudioAnswer } from '../../src/core/types.ts'
import { parseAudioForm, parseSpeechRequest } from '../../src/endpoints/openai/audio.ts'
import type { ParsedAudio } from '../../src/endpoints/openai/audio.ts'
import { GatewayError, errorClassOf, toGatewayError } from '../../src/core/errors.ts'
import { parseJson, readBody } from '../http/body.ts'
import { writeChunk } from '../http/respond.ts'
import type { RequestLog } from '../ops/request-log.ts'
import type { RouteContext, RouteHandler } from './context.ts'

const formRoute = (operation: 'transcription' | 'translation'): RouteHandler => async (ctx, req, res, log, signal) => {
  const body = await readBody(req, ctx.bodyLimit)
  await serve(ctx, req, res, log, signal, body, parseAudioForm(body, req.headers['content-type'], operation))
}

export const transcriptions = formRoute('transcription')
export const translations = formRoute('translation')

export const speech: RouteHandler = async (ctx, req, res, log, signal) => {
  const body = await readBody(req, ctx.bodyLimit)
  await serve(ctx, req, res, log, signal, body, parseSpeechRequest(parseJson(body)))
}

async function serve (ctx: RouteContext, req: IncomingMessage, res: ServerResponse, log: RequestLog, signal: AbortSignal,
  body: Buffer, { model, request }: ParsedAudio): Promise<void> {
  const target = ctx.gateway.resolve(model)
  if (target.kind === 'passthrough') { log.passthrough = true; ctx.passthrough.web(req, res, body); return }
  if (target.kind !== 'model') {
    const named = target.kind === 'function' ? `function \`${target.functionName}\`` : `embedding model \`${target.modelName}\``
    throw new GatewayError(400, `\`${model}\` names ${named}: audio routes are served by a model (a \`[models.*]\` entry whose providers speak OpenAI's audio API, or a route to one)`)
  }
  log.target = { kind: 'audio_model', modelName: target.modelName }
  const answer = await ctx.gateway.audio(target.model, request, signal, log)
  try {
    await relay(res, answer, target.modelName, log)
  } finally {
    answer.dispose()
  }
}

/** The provider's body as it arrives; a failure after the head cuts the response, the only way left to say it. */
async function relay (res: ServerResponse, answer: AudioAnswer, modelName: string, log: RequestLog): Promise<void> {
  res.writeHead(200, {
    'content-type': answer.contentType,
    'x-tensorzero-model': modelName,
    'x-tensorzero-provider': answer.providerName
  })
  try {
    for await (const chunk of answer.body) {
      log.ttftMs ??= performance.now() - log.started
      if (!await writeChunk(res, chunk)) return
    }
    res.end()
  } catch (err) {
    log.error = toGatewayError(err)
    log.errorClass = errorClassOf(err)
    log.streamError = true
    res.destroy()
  }
}
