// `type = "experimental_dynamic_in_context_learning"` variants: TensorZero's keys (it denies unknown ones) and defaults.
import type { EmbeddingModelConfig, ModelConfig, VariantConfig } from '../core/config.ts'
import { readExtraBody, readExtraHeaders, readRetries, readSamplingParams, readTimeouts } from './common-fields.ts'
import { VARIANT_INFO_KEYS } from './chat-completion.ts'
import { ensureModel } from './models.ts'
import { readTextFile } from './referenced-files.ts'
import type { LoadContext, TableReader } from './reader.ts'

export const DICL_TYPE = 'experimental_dynamic_in_context_learning'

const DICL_KEYS = [
  'type', 'weight', 'embedding_model', 'k', 'model', 'system_instructions', 'temperature', 'top_p', 'stop_sequences',
  'presence_penalty', 'frequency_penalty', 'max_tokens', 'seed', 'json_mode', 'extra_body', 'extra_headers', 'retries',
  'max_distance', ...VARIANT_INFO_KEYS,
]
/** Accepted as TensorZero accepts them, not sent on (as for chat_completion variants). */
const DICL_TOLERATED = new Set(['reasoning_effort', 'thinking_budget_tokens', 'verbosity'])

/** TensorZero's text when `system_instructions` is not set. */
export const DEFAULT_DICL_INSTRUCTIONS = 'You are tasked with learning by induction and then solving a problem below. You will be shown several examples of inputs followed by outputs. Then, in the same format you will be given one last set of inputs. Your job is to use the provided examples to inform your response to the last set of inputs.'

/** Fills `variant` (model, sampling keys, retries, extra body and headers, `dicl`) from a DICL variant table. */
export function readDiclVariant (r: TableReader, variant: VariantConfig, ctx: LoadContext, deps: { models: Map<string, ModelConfig>; embeddingModels: Map<string, EmbeddingModelConfig> }): void {
  r.checkKeys(DICL_KEYS, key => DICL_TOLERATED.has(key) ? 'ok' : undefined)
  const model = r.string('model', true)
  if (model !== undefined) {
    variant.model = model
    const problem = ensureModel(ctx, deps.models, model, r.at('model'))
    if (problem !== undefined) r.error('model', problem)
  }
  const embeddingModel = r.string('embedding_model', true) ?? ''
  if (embeddingModel !== '') {
    const problem = ensureModel(ctx, deps.embeddingModels, embeddingModel, r.at('embedding_model'), '[embedding_models]')
    if (problem !== undefined) r.error('embedding_model', `\`${r.name('embedding_model')}\` must be a valid embedding model name: ${problem}`)
  }
  const k = r.number('k', { integer: true, min: 0 }, true) ?? 0
  const maxDistance = r.number('max_distance', { min: 0 })
  variant.dicl = {
    embeddingModel,
    k,
    systemInstructions: r.has('system_instructions') ? (readTextFile(r, 'system_instructions') ?? '') : DEFAULT_DICL_INSTRUCTIONS
  }
  if (maxDistance !== undefined) variant.dicl.maxDistance = maxDistance
  variant.params = readSamplingParams(r)
  variant.retries = readRetries(r)
  variant.timeouts = readTimeouts(r)
  const extraBody = readExtraBody(r)
  if (extraBody !== undefined) variant.extraBody = extraBody
  const extraHeaders = readExtraHeaders(r)
  if (extraHeaders !== undefined) variant.extraHeaders = extraHeaders
}
