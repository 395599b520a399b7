// OpenAI's audio API, which OpenAI-compatible servers (faster-whisper servers, vLLM, Groq, a GPU orchestrator) copy:
// the client's request with `model` replaced by the provider's `model_name`, to `{api_base}/audio/<operation>`.
// The answer (JSON, text, subtitles or audio bytes) goes back to the client as the provider sent it, so nothing is parsed.
import type { AudioRequest } from '../../core/types.ts'
import type { AudioProviderRequest, ProviderContext } from '../adapter.ts'
import { joinUrl } from '../http/url.ts'
import { baseHeaders, resolveApiBase } from './request.ts'

const PATHS: Record<AudioRequest['operation'], string> = {
  transcription: 'audio/transcriptions',
  translation: 'audio/translations',
  speech: 'audio/speech'
}

export function buildAudioRequest (req: AudioRequest, ctx: ProviderContext, type: string, defaultApiBase: string | undefined): AudioProviderRequest {
  const url = joinUrl(resolveApiBase(ctx, defaultApiBase, type), PATHS[req.operation])
  const model = ctx.provider.modelName
  const headers = baseHeaders(ctx)
  if (req.operation === 'speech') return { url, headers, body: { ...req.fields, model } }
  // The transport writes the multipart content type, with the boundary it encodes the form with.
  delete headers['content-type']
  // A new list per attempt: the client's entries in their order, `model` once with this provider's name (files are
  // views of the one request body, shared by every attempt).
  let named = false
  const parts = req.parts.flatMap(part => {
    if (part.name !== 'model') return [part]
    if (named) return []
    named = true
    return [{ name: 'model', value: model }]
  })
  return { url, headers, body: parts }
}
