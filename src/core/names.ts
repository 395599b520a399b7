// TensorZero's reserved `tensorzero::` names: the model strings that address a function, a model or an embedding model
// directly, and the built-in function a bare model runs through. Parsed and written here only.
import type { RouteTarget } from './config.ts'

/** Names under this prefix are TensorZero's own: configs may not define them, tags may not use them. */
export const RESERVED_PREFIX = 'tensorzero::'
export const FUNCTION_NAME_PREFIX = 'tensorzero::function_name::'
export const MODEL_NAME_PREFIX = 'tensorzero::model_name::'
export const EMBEDDING_MODEL_NAME_PREFIX = 'tensorzero::embedding_model_name::'
const VARIANT_INFIX = '::variant_name::'

/** The tag a request's namespace is stored as; the client's own tags cannot set it (the prefix is reserved). */
export const NAMESPACE_TAG = 'tensorzero::namespace'

/** The chat function TensorZero runs `tensorzero::model_name::M` through, with one variant named after the model. */
export const DEFAULT_FUNCTION_NAME = 'tensorzero::default'

/**
 * `tensorzero::function_name::F[::variant_name::V]`, `tensorzero::model_name::M` or `tensorzero::embedding_model_name::E`
 * as the names they carry (possibly empty: callers decide whether an empty name is unknown or malformed);
 * undefined for any other string.
 */
export function parseTargetName (s: string): RouteTarget | undefined {
  if (s.startsWith(FUNCTION_NAME_PREFIX)) {
    const rest = s.slice(FUNCTION_NAME_PREFIX.length)
    const at = rest.indexOf(VARIANT_INFIX)
    if (at < 0) return { kind: 'function', functionName: rest }
    return { kind: 'function', functionName: rest.slice(0, at), variantName: rest.slice(at + VARIANT_INFIX.length) }
  }
  // Model names may themselves contain `::` (shorthands like `openai::gpt-4o`): everything after the prefix is the name.
  if (s.startsWith(MODEL_NAME_PREFIX)) return { kind: 'model', modelName: s.slice(MODEL_NAME_PREFIX.length) }
  if (s.startsWith(EMBEDDING_MODEL_NAME_PREFIX)) return { kind: 'embedding_model', modelName: s.slice(EMBEDDING_MODEL_NAME_PREFIX.length) }
  return undefined
}

/** The `tensorzero::` model string of a target: what a client sends to reach it, and what TensorZero answers with. */
export function formatTargetName (target: RouteTarget): string {
  switch (target.kind) {
    case 'function':
      return FUNCTION_NAME_PREFIX + target.functionName + (target.variantName === undefined ? '' : VARIANT_INFIX + target.variantName)
    case 'model':
      return MODEL_NAME_PREFIX + target.modelName
    case 'embedding_model':
      return EMBEDDING_MODEL_NAME_PREFIX + target.modelName
  }
}
