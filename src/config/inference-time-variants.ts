// The inference-time variant types, read as TensorZero reads them (tensorzero-core variant/best_of_n_sampling.rs,
// mixture_of_n.rs, chain_of_thought.rs, config/mod.rs):
// - `experimental_best_of_n_sampling`: `candidates` (variant names of the same function) and an `evaluator` table
//   holding chat_completion keys (no `type`, no `timeouts`); `weight`, `timeouts`; deprecated `timeout_s`, applied to
//   each candidate as its non-streaming total and streaming first-token timeout (an error where a candidate already
//   sets `timeouts`);
// - `experimental_mixture_of_n`: the same with a `fuser` table;
// - `experimental_chain_of_thought`: a chat_completion variant of a JSON function (deprecated in TensorZero 2026.2+).
import type { EmbeddingModelConfig, ModelConfig, TimeoutsConfig, VariantConfig } from '../core/config.ts'
import { readTimeouts } from './common-fields.ts'
import { blankVariant, readChatCompletion, VARIANT_INFO_KEYS } from './chat-completion.ts'
import type { LoadContext, TableReader } from './reader.ts'

export interface VariantReadContext {
  ctx: LoadContext
  models: Map<string, ModelConfig>
  embeddingModels: Map<string, EmbeddingModelConfig>
  functionName: string
  /** undefined when the function's own type is broken (reported there). */
  functionType?: 'chat' | 'json'
}

const BEST_OF_N = 'experimental_best_of_n_sampling'
const MIXTURE_OF_N = 'experimental_mixture_of_n'
export const CHAIN_OF_THOUGHT = 'experimental_chain_of_thought'

/** The key of a variant type's evaluator or fuser table. */
export const JUDGE_KEYS: Readonly<Record<string, string>> = { [BEST_OF_N]: 'evaluator', [MIXTURE_OF_N]: 'fuser' }

export function readCandidatesAndJudge (r: TableReader, variant: VariantConfig, c: VariantReadContext): void {
  const judgeKey = JUDGE_KEYS[variant.type]
  r.checkKeys(['type', 'weight', ...VARIANT_INFO_KEYS, 'timeout_s', 'candidates', judgeKey])
  variant.candidates = r.stringArray('candidates', true) ?? []
  variant.timeouts = readTimeouts(r)
  if (r.number('timeout_s', { positive: true }) !== undefined) {
    r.warning('timeout_s', `\`${r.name('timeout_s')}\` is deprecated (TensorZero 2026.2+): set \`timeouts\` on the candidate variants instead;` +
      ' it applies to each candidate as its timeout')
  }
  const judgeTable = r.sub(judgeKey)
  if (judgeTable === undefined) {
    if (!r.has(judgeKey)) r.missing(judgeKey)
    return
  }
  const judge = blankVariant(judgeTable, variant.name, 'chat_completion')
  readChatCompletion(judgeTable, judge, c.ctx, c.models, [])
  variant.judge = judge
}

export function readChainOfThought (r: TableReader, variant: VariantConfig, c: VariantReadContext): void {
  r.warning('type', `\`${CHAIN_OF_THOUGHT}\` is deprecated in TensorZero (2026.2+), now that reasoning models are prevalent;` +
    ' a `chat_completion` variant with reasoning is its replacement')
  if (c.functionType === 'chat') {
    r.error('type', `variant \`${variant.name}\` of function \`${c.functionName}\` has type "${CHAIN_OF_THOUGHT}", which only JSON functions` +
      ' (type = "json") can have')
  }
  readChatCompletion(r, variant, c.ctx, c.models, ['type', ...VARIANT_INFO_KEYS])
}

/**
 * Once every variant of a function is read: candidates must be variants of it, a variant may not run itself through
 * its candidates, and a deprecated `timeout_s` becomes each candidate's timeouts.
 */
export function checkCandidates (variantsPath: readonly string[], functionName: string, variants: Map<string, VariantConfig>, ctx: LoadContext): void {
  for (const variant of variants.values()) {
    variant.candidates?.forEach((name, i) => {
      if (variants.has(name)) return
      ctx.diags.error(ctx.toml.at([...variantsPath, variant.name, 'candidates', String(i)]),
        `candidate \`${name}\` of variant \`${variant.name}\` is not a variant of function \`${functionName}\`` +
        ` (variants: ${[...variants.keys()].join(', ')})`)
    })
    if (reaches(variants, variant.name, variant, new Set())) {
      ctx.diags.error(ctx.toml.at([...variantsPath, variant.name, 'candidates']),
        `variant \`${variant.name}\` of function \`${functionName}\` runs itself through its candidates`)
    }
  }
  for (const variant of variants.values()) {
    const timeoutS = variant.raw.timeout_s
    if (variant.candidates === undefined || typeof timeoutS !== 'number' || !(timeoutS > 0)) continue
    const ms = Math.floor(timeoutS * 1000)
    const timeouts: TimeoutsConfig = { nonStreamingTotalMs: ms, streamingTtftMs: ms }
    for (const name of new Set(variant.candidates)) {
      const candidate = variants.get(name)
      if (candidate === undefined) continue
      if (candidate.raw.timeouts !== undefined) {
        ctx.diags.error(ctx.toml.at([...variantsPath, variant.name, 'timeout_s']),
          `\`timeout_s\` of variant \`${variant.name}\` cannot apply to candidate \`${name}\`, which already has \`timeouts\`;` +
          ' remove `timeout_s` and set the timeouts on the candidate')
        continue
      }
      candidate.timeouts = { ...timeouts }
    }
  }
}

function reaches (variants: Map<string, VariantConfig>, target: string, from: VariantConfig, seen: Set<string>): boolean {
  for (const name of from.candidates ?? []) {
    if (name === target) return true
    if (seen.has(name)) continue
    seen.add(name)
    const next = variants.get(name)
    if (next !== undefined && reaches(variants, target, next, seen)) return true
  }
  return false
}
