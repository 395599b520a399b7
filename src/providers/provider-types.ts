// Facts about TensorZero provider types that the loader needs: which types exist, which env var holds
// each type's key by default, and which type-specific keys a provider table may carry.

/** Every provider `type` TensorZero accepts. Any other value fails validation (there is no `ollama` type). */
export const KNOWN_PROVIDER_TYPES = [
  'openai', 'vllm', 'sglang', 'openrouter', 'together', 'groq', 'mistral', 'xai', 'deepseek', 'fireworks',
  'hyperbolic', 'anthropic', 'google_ai_studio_gemini', 'gcp_vertex_gemini', 'gcp_vertex_anthropic',
  'aws_bedrock', 'aws_sagemaker', 'azure', 'tgi', 'dummy',
] as const

export type ProviderType = typeof KNOWN_PROVIDER_TYPES[number]

const KNOWN_SET: ReadonlySet<string> = new Set(KNOWN_PROVIDER_TYPES)
export function isKnownProviderType (type: string): type is ProviderType {
  return KNOWN_SET.has(type)
}

/**
 * The env var a type reads its key from when `api_key_location` is omitted.
 * Types missing here default to no key at all: self-hosted servers (vllm, sglang, tgi) usually run open,
 * `dummy` never needs one, and the GCP/AWS types authenticate with their own credential chains.
 */
export const DEFAULT_KEY_ENV: Readonly<Record<string, string>> = {
  openai: 'OPENAI_API_KEY',
  openrouter: 'OPENROUTER_API_KEY',
  together: 'TOGETHER_API_KEY',
  groq: 'GROQ_API_KEY',
  mistral: 'MISTRAL_API_KEY',
  xai: 'XAI_API_KEY',
  deepseek: 'DEEPSEEK_API_KEY',
  fireworks: 'FIREWORKS_API_KEY',
  hyperbolic: 'HYPERBOLIC_API_KEY',
  anthropic: 'ANTHROPIC_API_KEY',
  google_ai_studio_gemini: 'GOOGLE_AI_STUDIO_API_KEY',
  azure: 'AZURE_OPENAI_API_KEY',
}

/** Self-hosted servers: there is no hosted default to fall back to, so the config must say where they are. */
export const API_BASE_REQUIRED: ReadonlySet<string> = new Set(['vllm', 'sglang', 'tgi'])

/**
 * The key that names the upstream model. Most types use `model_name`; a few name it differently
 * (an Azure deployment, a Bedrock/Vertex model id) and `tgi` serves exactly one model so needs none.
 * The value lands in `ProviderConfig.modelName` either way.
 */
export function modelKeyFor (type: string): { keys: string[]; required: boolean } {
  switch (type) {
    case 'azure': return { keys: ['deployment_id'], required: true }
    case 'aws_bedrock': return { keys: ['model_id'], required: true }
    case 'gcp_vertex_anthropic': return { keys: ['model_id'], required: true }
    case 'gcp_vertex_gemini': return { keys: ['model_id', 'endpoint_id'], required: true }
    case 'tgi': return { keys: ['model_name'], required: false }
    default: return { keys: ['model_name'], required: true }
  }
}

/** Keys every provider table may have; they map onto ProviderConfig fields. */
export const COMMON_PROVIDER_KEYS: ReadonlySet<string> = new Set([
  'type', 'model_name', 'api_base', 'api_key_location', 'timeouts', 'extra_body', 'extra_headers',
])

/**
 * Type-specific keys, kept as given in `ProviderConfig.options`. The lists follow TensorZero's provider
 * structs as far as we know them; a key that belongs to some other type only draws a warning
 * (see `ANY_TYPE_OPTION_KEYS`), so a config that TensorZero accepts never fails here.
 */
export const PROVIDER_OPTION_KEYS: Readonly<Record<string, readonly string[]>> = {
  openai: ['api_type', 'include_encrypted_reasoning', 'provider_tools', 'discard_unknown_chunks'],
  vllm: ['discard_unknown_chunks'],
  sglang: ['discard_unknown_chunks'],
  openrouter: ['discard_unknown_chunks'],
  together: ['parse_think_blocks', 'discard_unknown_chunks'],
  groq: ['discard_unknown_chunks', 'reasoning_format'],
  mistral: ['discard_unknown_chunks'],
  xai: ['discard_unknown_chunks'],
  deepseek: ['discard_unknown_chunks'],
  fireworks: ['parse_think_blocks', 'discard_unknown_chunks'],
  hyperbolic: ['discard_unknown_chunks'],
  anthropic: ['beta_structured_outputs', 'provider_tools', 'discard_unknown_chunks'],
  google_ai_studio_gemini: ['discard_unknown_chunks'],
  gcp_vertex_gemini: ['model_id', 'endpoint_id', 'location', 'project_id', 'credential_location', 'discard_unknown_chunks'],
  gcp_vertex_anthropic: ['model_id', 'location', 'project_id', 'credential_location', 'discard_unknown_chunks'],
  aws_bedrock: ['model_id', 'region', 'allow_auto_detect_region', 'endpoint_url', 'discard_unknown_chunks'],
  aws_sagemaker: ['endpoint_name', 'region', 'hosted_provider', 'allow_auto_detect_region', 'endpoint_url', 'discard_unknown_chunks'],
  azure: ['deployment_id', 'endpoint', 'api_version', 'discard_unknown_chunks'],
  tgi: ['discard_unknown_chunks'],
  dummy: [],
}

/** Keys TensorZero knows for some type or version; on another type they are suspicious, not fatal. */
export const ANY_TYPE_OPTION_KEYS: ReadonlySet<string> = new Set([
  ...Object.values(PROVIDER_OPTION_KEYS).flat(),
  'cost', 'batch', 'timeout_ms',
])

/**
 * Types usable in a `provider::model` shorthand. The self-hosted types and Azure cannot be: a shorthand
 * has nowhere to say where the server is.
 */
export const SHORTHAND_PROVIDER_TYPES: ReadonlySet<string> = new Set(
  KNOWN_PROVIDER_TYPES.filter((t) => !API_BASE_REQUIRED.has(t) && t !== 'azure'),
)
