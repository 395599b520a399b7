// `[functions.*]`, their variants and experimentation.
import type { ToolChoice } from '../core/types.ts'
import { readExperimentation } from './experimentation.ts'
import { DICL_TYPE, readDiclVariant } from './dicl.ts'
import { RESERVED_PREFIX } from '../core/names.ts'
import { ROLES, readNamed, readSchemaRef } from './referenced-files.ts'
import { describeType, type LoadContext, type TableReader } from './reader.ts'
import { isTable } from './toml-files.ts'
import { blankVariant, checkVariantModel, readChatCompletion, VARIANT_INFO_KEYS } from './chat-completion.ts'
import { checkNamespacedVariants, readNamespace } from './namespaces.ts'
import {
  CHAIN_OF_THOUGHT, JUDGE_KEYS, checkCandidates, readCandidatesAndJudge, readChainOfThought, type VariantReadContext,
} from './inference-time-variants.ts'
import { completionConfigs } from '../core/config.ts'
import type {
  EmbeddingModelConfig, FunctionConfig, MetricConfig, ModelConfig, SchemaRef, VariantConfig,
} from '../core/config.ts'

type VariantReader = (r: TableReader, variant: VariantConfig, c: VariantReadContext) => void

/** Variant types TensorZero knows, each with its reader (and, in function/variant-types.ts, its runner). */
const VARIANT_TYPES: Readonly<Record<string, { read: VariantReader }>> = {
  chat_completion: { read: (r, variant, c) => { readChatCompletion(r, variant, c.ctx, c.models, ['type', ...VARIANT_INFO_KEYS]) } },
  experimental_best_of_n_sampling: { read: readCandidatesAndJudge },
  experimental_mixture_of_n: { read: readCandidatesAndJudge },
  [DICL_TYPE]: { read: (r, variant, c) => { readDiclVariant(r, variant, c.ctx, { models: c.models, embeddingModels: c.embeddingModels }) } },
  [CHAIN_OF_THOUGHT]: { read: readChainOfThought },
}

/** Types whose variant renders the function's templates itself (a schema needs a template of its name there). */
const TEMPLATED_TYPES = new Set(['chat_completion', CHAIN_OF_THOUGHT])

// `evaluators` define metrics (read by evaluations.ts).
const FUNCTION_COMMON_KEYS = [
  'type', 'variants', 'description', 'system_schema', 'user_schema', 'assistant_schema', 'schemas', 'experimentation', 'evaluators',
]
const CHAT_FUNCTION_KEYS = ['tools', 'tool_choice', 'parallel_tool_calls']
const JSON_FUNCTION_KEYS = ['output_schema']

export interface FunctionDeps {
  models: Map<string, ModelConfig>
  embeddingModels: Map<string, EmbeddingModelConfig>
  /** Adaptive experiments name the metric they optimise. */
  metrics: Map<string, MetricConfig>
  /** Tool names declared in `[tools]` (declared, even if broken: one error per problem). */
  toolNames: ReadonlySet<string>
}

export function readFunctions (section: TableReader | undefined, ctx: LoadContext, deps: FunctionDeps): Map<string, FunctionConfig> {
  const functions = new Map<string, FunctionConfig>()
  if (!section) return functions
  for (const [name, r] of section.entries()) {
    const fn = readFunction(r, name, ctx, deps)
    if (fn) functions.set(name, fn)
  }
  return functions
}

function readFunction (r: TableReader, name: string, ctx: LoadContext, deps: FunctionDeps): FunctionConfig | undefined {
  if (name.startsWith(RESERVED_PREFIX)) r.error(undefined, `function name \`${name}\` uses the reserved prefix \`${RESERVED_PREFIX}\``)
  const type = r.oneOf('type', ['chat', 'json'] as const, true)
  // With an unknown type, accept either type's keys so only the type itself is reported.
  r.checkKeys([...FUNCTION_COMMON_KEYS,
    ...(type !== 'json' ? CHAT_FUNCTION_KEYS : []), ...(type !== 'chat' ? JSON_FUNCTION_KEYS : [])])

  const schemas = readNamed<SchemaRef>(r, 'schema', 'schemas', (t, key) => readSchemaRef(t, key, true))

  const tools = r.stringArray('tools') ?? []
  tools.forEach((tool, i) => {
    if (!deps.toolNames.has(tool)) {
      ctx.diags.error(ctx.toml.at([...r.path, 'tools', String(i)]), `function \`${name}\` uses tool \`${tool}\`, which is not defined in [tools]`)
    }
  })
  const toolChoice = readToolChoice(r)
  const parallelToolCalls = r.boolean('parallel_tool_calls')
  const description = r.string('description')

  const variants = new Map<string, VariantConfig>()
  const variantsTable = r.sub('variants')
  if (!variantsTable && !r.has('variants')) r.error(undefined, `function \`${name}\` has no variants; add at least one [${r.name()}.variants.NAME]`)
  const readContext: VariantReadContext = { ctx, models: deps.models, embeddingModels: deps.embeddingModels, functionName: name, functionType: type }
  for (const [variantName, v] of variantsTable?.entries() ?? []) {
    variants.set(variantName, readVariant(v, variantName, readContext))
  }
  if (variantsTable) checkCandidates(variantsTable.path, name, variants, ctx)
  if (variantsTable && Object.keys(variantsTable.table).length === 0) {
    r.error('variants', `function \`${name}\` has no variants; add at least one [${r.name()}.variants.NAME]`)
  }

  // TensorZero: a schema for a role (or named template) needs a template of that name in every chat_completion variant,
  // since the arguments are only turned into text by that template.
  for (const [schemaName, schema] of Object.entries(schemas)) {
    if (!schema) continue
    for (const variant of variants.values()) {
      for (const owner of completionConfigs(variant)) {
        const label = owner === variant ? variant.name : `${variant.name}.${JUDGE_KEYS[variant.type]}`
        const template = owner.templates[schemaName]
        if (template?.inputWrapper === true) {
          ctx.diags.error(template.source, `functions.${name}.variants.${label}: Cannot provide both \`input_wrappers.${schemaName}\` and ${schemaKeyName(schemaName)}`)
        }
        if (!TEMPLATED_TYPES.has(owner.type) || template) continue
        ctx.diags.error(owner.source, `variant \`${label}\` of function \`${name}\` has no ${templateKeyName(schemaName)},` +
          ` but the function has ${schemaKeyName(schemaName)}`)
      }
    }
  }

  if (type === 'json') for (const variant of variants.values()) warnMissingJsonMode(variant, name, ctx)

  const fn: FunctionConfig = {
    name,
    type: type ?? 'chat',
    variants,
    sortedVariantNames: [...variants.keys()].sort(),
    ...readExperimentation(r, name, variants, ctx, deps.metrics),
    schemas,
    tools,
    toolChoice,
    source: r.at(),
  }
  checkNamespacedVariants(fn, deps.models, ctx)
  if (parallelToolCalls !== undefined) fn.parallelToolCalls = parallelToolCalls
  if (description !== undefined) fn.description = description
  if (type === 'json') {
    // TensorZero's default when output_schema is omitted: accept any JSON (`{}`); `path` is empty then.
    fn.outputSchema = readSchemaRef(r, 'output_schema') ?? { path: '', schema: {}, source: r.at() }
  }
  return fn
}

const templateKeyName = (n: string): string => (ROLES as readonly string[]).includes(n) ? `\`${n}_template\`` : `\`templates.${n}\``
const schemaKeyName = (n: string): string => (ROLES as readonly string[]).includes(n) ? `\`${n}_schema\`` : `\`schemas.${n}\``

function readToolChoice (r: TableReader): ToolChoice {
  const v = r.get('tool_choice')
  if (v === undefined) return 'auto'
  if (typeof v === 'string') {
    if (v === 'auto' || v === 'none' || v === 'required') return v
    r.error('tool_choice', `\`${r.name('tool_choice')}\` must be "auto", "none", "required" or { specific = "TOOL" }, got "${v}"`)
    return 'auto'
  }
  if (isTable(v)) {
    const t = r.sub('tool_choice')!
    t.checkKeys(['specific'])
    const specific = t.string('specific', true)
    if (specific === undefined) return 'auto'
    // Not checked against the function's tools here: as in TensorZero, a request's dynamic tools may supply it,
    // so the check happens per inference (function/tools.ts).
    return { specific }
  }
  r.error('tool_choice', `\`${r.name('tool_choice')}\` must be a string or a table, got ${describeType(v)}`)
  return 'auto'
}

/** Variant types whose own `json_mode` TensorZero requires in a JSON function (mixture-of-N: its fuser's). */
const JSON_MODE_REQUIRED = new Set(['chat_completion', DICL_TYPE, CHAIN_OF_THOUGHT])

/**
 * TensorZero's gateway refuses to start on a JSON function's variant without `json_mode` (best-of-N aside: its
 * evaluator defaults to strict). The sidecar serves it with `on`, and says that the gateway would not.
 */
function warnMissingJsonMode (variant: VariantConfig, fn: string, ctx: LoadContext): void {
  const owner = JUDGE_KEYS[variant.type] === 'fuser' ? variant.judge : JSON_MODE_REQUIRED.has(variant.type) ? variant : undefined
  if (owner === undefined || owner.params.json_mode !== undefined) return
  const label = owner === variant ? variant.name : `${variant.name}.fuser`
  ctx.diags.warning(owner.source, `\`json_mode\` must be specified for \`[functions.${fn}.variants.${label}]\` (parent function \`${fn}\` is a` +
    ' JSON function): TensorZero\'s gateway refuses to start without it; tz-sidecar uses "on"')
}

/** Always returns a variant, so experimentation that names it does not draw a second error. */
function readVariant (r: TableReader, name: string, c: VariantReadContext): VariantConfig {
  const type = r.string('type', true) ?? ''
  const known = VARIANT_TYPES[type]
  if (type !== '' && !known) {
    r.error('type', `unknown variant type "${type}" for variant \`${name}\` of function \`${c.functionName}\`;` +
      ` known types: ${Object.keys(VARIANT_TYPES).join(', ')}`)
  }
  const variant = blankVariant(r, name, type)
  const weight = r.number('weight', { min: 0 })
  if (weight !== undefined) variant.weight = weight
  if (known !== undefined) {
    known.read(r, variant, c)
    const namespace = readNamespace(r)
    if (namespace !== undefined) variant.namespace = namespace
  } else if (typeof r.get('model') === 'string') {
    // An unknown type is reported above; only the model it names is checked, so nothing else cascades.
    checkVariantModel(r, c.ctx, c.models)
  }
  return variant
}

