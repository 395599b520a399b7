// `[evaluations.E]` and `[functions.F.evaluators.V]`: the sidecar runs no evaluator, but TensorZero's loader defines a
// metric for each one (`tensorzero::evaluation_name::E::evaluator_name::V`, `tensorzero::function_name::F::
// evaluator_name::V`), and the evaluation runner sends its verdicts to /feedback under those names. Type and optimize
// come from the evaluator's kind; the level is always the inference.
import type { TableReader } from './reader.ts'
import type { FunctionConfig, MetricConfig } from '../core/config.ts'
import { ROLES, readTextFile } from './referenced-files.ts'

type Verdict = Pick<MetricConfig, 'type' | 'optimize'>

const EVALUATOR_KEYS: Readonly<Record<string, readonly string[]>> = {
  exact_match: ['cutoff'],
  llm_judge: ['input_format', 'variants', 'output_type', 'optimize', 'include', 'cutoff', 'description'],
  tool_use: ['behavior', 'tools'],
  regex: ['must_match', 'must_not_match'],
  typescript: ['typescript_file', 'output_type', 'optimize']
}
const TOOL_BEHAVIORS = ['none', 'none_of', 'any', 'any_of', 'all_of'] as const

/** Adds the evaluators' metrics to `metrics` (after the functions were read: evaluations name a function). */
export function addEvaluatorMetrics (root: TableReader, functions: Map<string, FunctionConfig>, metrics: Map<string, MetricConfig>): void {
  for (const [functionName, fn] of root.sub('functions')?.entries() ?? []) {
    const evaluators = fn.sub('evaluators')
    if (evaluators !== undefined) addMetrics(evaluators, `\`[functions.${functionName}.evaluators]\``, `tensorzero::function_name::${functionName}`, metrics)
  }
  for (const [name, r] of root.sub('evaluations')?.entries() ?? []) {
    r.checkKeys(['type', 'function_name', 'evaluators', 'description'])
    r.oneOf('type', ['inference', 'static'] as const, true)
    const functionName = r.string('function_name', true)
    const context = `\`[evaluations.${name}]\``
    if (functionName !== undefined && !functions.has(functionName)) {
      r.error('function_name', `Function \`${functionName}\` not found (referenced in ${context})`)
      continue
    }
    if (name.includes('::')) {
      r.error(undefined, `evaluation names cannot contain "::" (referenced in ${context})`)
      continue
    }
    const evaluators = r.sub('evaluators')
    if (evaluators !== undefined) addMetrics(evaluators, context, `tensorzero::evaluation_name::${name}`, metrics)
  }
}

function addMetrics (evaluators: TableReader, context: string, prefix: string, metrics: Map<string, MetricConfig>): void {
  for (const [evaluatorName, r] of evaluators.entries()) {
    if (evaluatorName.includes('::')) {
      r.error(undefined, `Evaluator names cannot contain "::" (referenced in ${context})`)
      continue
    }
    const verdict = readEvaluator(r, `Evaluator \`${evaluatorName}\` in ${context}`)
    const name = `${prefix}::evaluator_name::${evaluatorName}`
    if (verdict !== undefined) metrics.set(name, { name, ...verdict, level: 'inference', source: r.at() })
  }
}

function readEvaluator (r: TableReader, what: string): Verdict | undefined {
  const type = r.oneOf('type', Object.keys(EVALUATOR_KEYS), true)
  if (type === undefined) return undefined
  r.checkKeys(['type', ...EVALUATOR_KEYS[type]])
  switch (type) {
    case 'llm_judge':
    case 'typescript': {
      const output = r.oneOf('output_type', ['float', 'boolean'] as const, true)
      const optimize = r.oneOf('optimize', ['min', 'max'] as const, true)
      if (type === 'typescript') readTextFile(r, 'typescript_file', true)
      else readJudgeFiles(r)
      return output === undefined || optimize === undefined ? undefined : { type: output, optimize }
    }
    case 'tool_use': {
      const behavior = r.oneOf('behavior', TOOL_BEHAVIORS, true)
      const tools = r.stringArray('tools')
      if (behavior !== undefined && behavior !== 'none' && behavior !== 'any' && (tools === undefined || tools.length === 0)) {
        r.error(undefined, `${what}: \`tools\` must be a non-empty list when behavior is \`${behavior}\``)
        return undefined
      }
      return behavior === undefined ? undefined : { type: 'boolean', optimize: 'max' }
    }
    case 'regex':
      return regexIsValid(r, what) ? { type: 'boolean', optimize: 'max' } : undefined
    default:
      return { type: 'boolean', optimize: 'max' }
  }
}

/**
 * The files an `llm_judge` evaluator's variants name: TensorZero reads them at load, so a missing one is a config
 * error there, even though the sidecar never runs the judge.
 */
function readJudgeFiles (judge: TableReader): void {
  for (const [, variant] of judge.sub('variants')?.entries() ?? []) {
    readTextFile(variant, 'system_instructions')
    for (const part of ['evaluator', 'fuser'].map(key => variant.sub(key))) {
      if (part === undefined) continue
      readTextFile(part, 'system_instructions')
      for (const role of ROLES) readTextFile(part, `${role}_template`)
      for (const [, template] of part.sub('templates')?.entries() ?? []) readTextFile(template, 'path')
    }
  }
}

// TensorZero also compiles the patterns with Rust's regex crate. JavaScript's syntax differs (Rust's `(?i)` prefix is an
// error there), and the sidecar never runs them, so a pattern is not judged here rather than a valid config refused.
function regexIsValid (r: TableReader, what: string): boolean {
  if (r.string('must_match') !== undefined || r.string('must_not_match') !== undefined) return true
  r.error(undefined, `${what}: at least one of \`must_match\` or \`must_not_match\` must be specified`)
  return false
}
