// The keys of a `chat_completion` variant: model, templates, sampling parameters, retries, extra body and headers.
// TensorZero reads the same set for a chain-of-thought variant and for the evaluator of best-of-N and the fuser of
// mixture-of-N (those two without `timeouts`, which belong to the variant that owns them).
import type { ModelConfig, TemplateRef, VariantConfig } from '../core/config.ts'
import { readExtraBody, readExtraHeaders, readRetries, readSamplingParams, readTimeouts } from './common-fields.ts'
import { ensureModel } from './models.ts'
import { ROLES, readNamed, readTemplateRef } from './referenced-files.ts'
import type { LoadContext, TableReader } from './reader.ts'

const CHAT_COMPLETION_KEYS = [
  'model', 'weight', 'system_template', 'user_template', 'assistant_template', 'templates',
  'temperature', 'max_tokens', 'top_p', 'seed', 'presence_penalty', 'frequency_penalty', 'stop_sequences',
  'json_mode', 'retries', 'extra_body', 'extra_headers', 'reasoning_effort', 'input_wrappers',
]
/** Keys TensorZero reads beside any variant type's own (`type` aside): its timeouts and namespace. */
export const VARIANT_INFO_KEYS = ['timeouts', 'namespace']
/** Newer TensorZero keys we pass over (kept in `raw`) rather than reject. */
const CHAT_COMPLETION_TOLERATED = new Set(['service_tier', 'thinking_budget_tokens', 'verbosity'])

/** A variant (or evaluator/fuser) with nothing read yet but its name and type. */
export function blankVariant (r: TableReader, name: string, type: string): VariantConfig {
  return { name, type, templates: {}, params: {}, retries: { numRetries: 0, maxDelayS: 10 }, timeouts: {}, raw: r.table, source: r.at() }
}

/**
 * Reads the chat_completion keys of `r` into `variant`. `ownKeys` are the keys the table may hold besides them
 * (`type` and `timeouts` for a variant; nothing for an evaluator or fuser).
 */
export function readChatCompletion (r: TableReader, variant: VariantConfig, ctx: LoadContext, models: Map<string, ModelConfig>,
  ownKeys: string[]): void {
  r.checkKeys([...CHAT_COMPLETION_KEYS, ...ownKeys], (key) => CHAT_COMPLETION_TOLERATED.has(key) ? 'ok' : undefined)
  const model = r.string('model', true)
  if (model !== undefined) {
    variant.model = model
    checkVariantModel(r, ctx, models)
  }
  variant.templates = readNamed<TemplateRef>(r, 'template', 'templates', (t, key) => readTemplateRef(t, key, true))
  readInputWrappers(r, variant)
  variant.params = readSamplingParams(r)
  // Checked as TensorZero checks it, but not sent: tz-sidecar does not pass a variant's reasoning effort on.
  r.string('reasoning_effort')
  variant.retries = readRetries(r)
  if (ownKeys.includes('timeouts')) variant.timeouts = readTimeouts(r)
  const extraBody = readExtraBody(r)
  if (extraBody !== undefined) variant.extraBody = extraBody
  const extraHeaders = readExtraHeaders(r)
  if (extraHeaders !== undefined) variant.extraHeaders = extraHeaders
}

export function checkVariantModel (r: TableReader, ctx: LoadContext, models: Map<string, ModelConfig>): void {
  const model = r.get('model') as string
  const problem = ensureModel(ctx, models, model, r.at('model'))
  if (problem !== undefined) r.error('model', problem)
}

/**
 * `input_wrappers.{user,system,assistant}`: TensorZero turns each into the role's legacy template without a schema
 * (its text reaches the template as `<role>_text`), so it may not sit beside another template for that role.
 * The clash with a function schema is checked by the function, which has its schemas (functions.ts).
 */
function readInputWrappers (r: TableReader, variant: VariantConfig): void {
  const wrappers = r.sub('input_wrappers')
  if (wrappers === undefined) return
  wrappers.checkKeys(ROLES)
  const owner = r.name()
  for (const role of ROLES) {
    const wrapper = readTemplateRef(wrappers, role, false, 'text')
    if (wrapper === undefined) continue
    if (variant.templates[role] !== undefined) {
      const other = r.has(`${role}_template`) ? `\`${role}\` template` : `\`templates.${role}.path\``
      wrappers.error(role, `${owner}: Cannot provide both \`input_wrappers.${role}\` and ${other}`)
      continue
    }
    variant.templates[role] = { ...wrapper, inputWrapper: true }
  }
}
