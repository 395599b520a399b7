// OpenAI audio requests → the core's AudioRequest: `/v1/audio/transcriptions` and `/v1/audio/translations` take a
// multipart form (a `file` and a `model`), `/v1/audio/speech` takes JSON (`model`, `input`, `voice`). Only what routing
// needs is checked here; every other field goes to the provider as the client wrote it.
import type { AudioRequest } from '../../core/types.ts'
import { GatewayError, badRequest } from '../../core/errors.ts'
import { isObject } from './validate.ts'
import { modelOf } from './chat-request.ts'
import { parseMultipart } from './multipart.ts'

export interface ParsedAudio { model: string; request: AudioRequest }

/** Whether a `Content-Type` is `multipart/form-data` (with its boundary). */
function isMultipart (contentType: string | undefined): contentType is string {
  return contentType !== undefined && contentType.split(';', 1)[0].trim().toLowerCase() === 'multipart/form-data'
}

export function parseAudioForm (body: Buffer, contentType: string | undefined, operation: 'transcription' | 'translation'): ParsedAudio {
  if (!isMultipart(contentType)) {
    throw new GatewayError(415, `Unsupported Content-Type \`${(contentType ?? '(none)').slice(0, 100)}\`: send the audio as \`multipart/form-data\` with \`file\` and \`model\` fields`)
  }
  const parts = parseMultipart(body, contentType)
  const models = parts.filter(p => p.name === 'model')
  if (models.length > 1) throw badRequest('`model` must be given once')
  const model = models[0]
  if (model === undefined || !('value' in model) || model.value === '') throw badRequest('`model` must be a non-empty form field')
  const file = parts.find(p => p.name === 'file')
  if (file === undefined || !('data' in file)) throw badRequest('`file` must be a file part of the form (an audio file)')
  return { model: model.value, request: { operation, parts } }
}

export function parseSpeechRequest (json: unknown): ParsedAudio {
  const model = modelOf(json)
  const fields = json as Record<string, unknown>
  if (typeof fields.input !== 'string' || fields.input === '') throw badRequest('`input` must be a non-empty string: the text to speak')
  const voice = fields.voice
  if (!(typeof voice === 'string' && voice !== '') && !(isObject(voice) && typeof voice.id === 'string')) {
    throw badRequest('`voice` must be a voice name or an object with an `id`')
  }
  // A provider is not TensorZero: it would refuse `tensorzero::` fields (the SDK patch's episode id) as unknown.
  const sent = Object.fromEntries(Object.entries(fields).filter(([key]) => !key.startsWith('tensorzero::')))
  return { model, request: { operation: 'speech', fields: sent } }
}
