// Every provider `type` TensorZero knows, one row each: where it lives by default, which env var holds its key,
// which type-specific keys its config table may carry, and what serves it. The loader checks configs against these
// rows; the model walk takes the adapter (and, for in-process types, the transport) from them.
import type { ProviderAdapter, ProviderTransport } from './adapter.ts'
import { createOpenAICompatibleAdapter, type OpenAICompatibleQuirks } from './openai/index.ts'
import { dummyAdapter, dummyTransport } from './dummy/index.ts'
import { anthropicAdapter, ANTHROPIC_DEFAULT_API_BASE } from './anthropic/index.ts'
import { geminiAdapter, GEMINI_DEFAULT_API_BASE } from './gemini/index.ts'

interface ProviderTypeRow {
  type: string
  /** What serves it: the OpenAI translator with this row's defaults and quirks, a native adapter, or nothing yet. */
  serve?: 'openai-compatible' | ProviderAdapter
  /** Served in-process instead of by the HTTP transport. */
  transport?: ProviderTransport
  /** Used when the config has no `api_base`. */
  defaultApiBase?: string
  /** Self-hosted servers: there is no hosted default to fall back to, so the config must say where they are. */
  apiBaseRequired?: true
  /**
   * The env var its key is read from when `api_key_location` is omitted. Without one there is no key at all:
   * self-hosted servers usually run open, `dummy` never needs one, GCP/AWS have their own credential chains.
   */
  defaultApiKeyEnv?: string
  /**
   * Type-specific keys, kept as given in `ProviderConfig.options`. The lists follow TensorZero's provider structs as
   * far as we know them; a key that belongs to some other type only draws a warning, so a config TensorZero accepts
   * never fails here.
   */
  optionKeys: readonly string[]
  /** The key naming the upstream model when it is not a required `model_name` (an Azure deployment, a Vertex model id). */
  modelKeys?: { keys: string[]; required: boolean }
  /** Usable in a `provider::model` shorthand (default: unless the config must say where the server is). */
  shorthand?: false
  /** A type this sidecar's errors may name, but that the loader does not accept. */
  notInConfig?: true
  quirks?: OpenAICompatibleQuirks
}

const CHUNKS = 'discard_unknown_chunks'
/** TensorZero's explicit AWS credentials (each a key location, like `api_key_location`). */
const AWS_CREDENTIALS = ['access_key_id', 'secret_access_key', 'session_token']
const OPENAI = 'openai-compatible'

// In TensorZero's order, which the loader's "known types" message lists.
const ROWS: readonly ProviderTypeRow[] = [
  { type: 'openai', serve: OPENAI, defaultApiBase: 'https://api.openai.com/v1/', defaultApiKeyEnv: 'OPENAI_API_KEY', quirks: { maxTokensField: 'max_completion_tokens', allowedToolsChoice: true }, optionKeys: ['api_type', 'include_encrypted_reasoning', 'provider_tools', 'content_type_overrides', CHUNKS] },
  { type: 'vllm', serve: OPENAI, apiBaseRequired: true, optionKeys: [CHUNKS] },
  { type: 'sglang', serve: OPENAI, apiBaseRequired: true, optionKeys: [CHUNKS] },
  { type: 'openrouter', serve: OPENAI, defaultApiBase: 'https://openrouter.ai/api/v1/', defaultApiKeyEnv: 'OPENROUTER_API_KEY', quirks: { allowedToolsChoice: true }, optionKeys: [CHUNKS] },
  { type: 'together', serve: OPENAI, defaultApiBase: 'https://api.together.xyz/v1/', defaultApiKeyEnv: 'TOGETHER_API_KEY', optionKeys: ['parse_think_blocks', CHUNKS] },
  { type: 'groq', serve: OPENAI, defaultApiBase: 'https://api.groq.com/openai/v1/', defaultApiKeyEnv: 'GROQ_API_KEY', quirks: { maxTokensField: 'max_completion_tokens', allowedToolsChoice: true }, optionKeys: [CHUNKS, 'reasoning_format'] },
  { type: 'mistral', serve: OPENAI, defaultApiBase: 'https://api.mistral.ai/v1/', defaultApiKeyEnv: 'MISTRAL_API_KEY', quirks: { seedField: 'random_seed', requiredToolChoice: 'any', bodyOptions: ['prompt_mode'] }, optionKeys: ['prompt_mode', CHUNKS] },
  { type: 'xai', serve: OPENAI, defaultApiBase: 'https://api.x.ai/v1/', defaultApiKeyEnv: 'XAI_API_KEY', optionKeys: [CHUNKS] },
  // DeepSeek has no json_schema response format: strict downgrades to json_object (as TensorZero does).
  { type: 'deepseek', serve: OPENAI, defaultApiBase: 'https://api.deepseek.com/v1/', defaultApiKeyEnv: 'DEEPSEEK_API_KEY', quirks: { jsonSchema: false }, optionKeys: [CHUNKS] },
  { type: 'fireworks', serve: OPENAI, defaultApiBase: 'https://api.fireworks.ai/inference/v1/', defaultApiKeyEnv: 'FIREWORKS_API_KEY', optionKeys: ['parse_think_blocks', CHUNKS] },
  { type: 'hyperbolic', serve: OPENAI, defaultApiBase: 'https://api.hyperbolic.xyz/v1/', defaultApiKeyEnv: 'HYPERBOLIC_API_KEY', quirks: { jsonSchema: false }, optionKeys: [CHUNKS] },
  { type: 'anthropic', serve: anthropicAdapter, defaultApiBase: ANTHROPIC_DEFAULT_API_BASE, defaultApiKeyEnv: 'ANTHROPIC_API_KEY', optionKeys: ['beta_structured_outputs', 'provider_tools', CHUNKS] },
  { type: 'google_ai_studio_gemini', serve: geminiAdapter, defaultApiBase: GEMINI_DEFAULT_API_BASE, defaultApiKeyEnv: 'GOOGLE_AI_STUDIO_API_KEY', optionKeys: [CHUNKS] },
  { type: 'gcp_vertex_gemini', modelKeys: { keys: ['model_id', 'endpoint_id'], required: true }, optionKeys: ['model_id', 'endpoint_id', 'location', 'project_id', 'credential_location', CHUNKS] },
  { type: 'gcp_vertex_anthropic', modelKeys: { keys: ['model_id'], required: true }, optionKeys: ['model_id', 'location', 'project_id', 'credential_location', 'provider_tools', CHUNKS] },
  { type: 'aws_bedrock', modelKeys: { keys: ['model_id'], required: true }, optionKeys: ['model_id', 'region', 'allow_auto_detect_region', 'endpoint_url', 'api_key', ...AWS_CREDENTIALS, CHUNKS] },
  { type: 'aws_sagemaker', optionKeys: ['endpoint_name', 'region', 'hosted_provider', 'allow_auto_detect_region', 'endpoint_url', ...AWS_CREDENTIALS, CHUNKS] },
  // A shorthand has nowhere to say which Azure resource it means.
  { type: 'azure', defaultApiKeyEnv: 'AZURE_OPENAI_API_KEY', modelKeys: { keys: ['deployment_id'], required: true }, shorthand: false, optionKeys: ['deployment_id', 'endpoint', 'api_version', CHUNKS] },
  // TGI serves exactly one model, so it needs no name for it.
  { type: 'tgi', serve: OPENAI, apiBaseRequired: true, quirks: { jsonSchema: false }, modelKeys: { keys: ['model_name'], required: false }, optionKeys: [CHUNKS] },
  { type: 'dummy', serve: dummyAdapter, transport: dummyTransport, optionKeys: [] },
  { type: 'tensorzero_relay', notInConfig: true, optionKeys: [] }
]

/** A row with its adapter resolved. */
export interface ProviderTypeFacts extends Readonly<Omit<ProviderTypeRow, 'serve'>> {
  /** undefined: TensorZero knows the type, this sidecar does not serve it yet (requests fail with `unsupportedTypeMessage`). */
  adapter?: ProviderAdapter
}

const FACTS: ReadonlyMap<string, ProviderTypeFacts> = new Map(ROWS.map(({ serve, ...row }) => [row.type, {
  ...row,
  adapter: serve === OPENAI ? createOpenAICompatibleAdapter(row) : serve
}]))

/** The facts of a provider type, served or not; undefined for a type TensorZero does not know either. */
export function providerType (type: string): ProviderTypeFacts | undefined {
  return FACTS.get(type)
}

/** The adapter for a provider type, or undefined when this sidecar cannot serve it. */
export function getAdapter (type: string): ProviderAdapter | undefined {
  return FACTS.get(type)?.adapter
}

const SUPPORTED = ROWS.filter(r => r.serve !== undefined).map(r => r.type).sort()

/** Types with an adapter, sorted. */
export function supportedTypes (): string[] {
  return [...SUPPORTED]
}

export function unsupportedTypeMessage (type: string): string {
  return FACTS.get(type)?.adapter === undefined && FACTS.has(type)
    ? `provider type \`${type}\` is not supported by this sidecar yet`
    : `unknown provider type \`${type}\` (supported: ${SUPPORTED.join(', ')})`
}

// ---- the loader's view of the rows ----

const CONFIG_ROWS = ROWS.filter(r => r.notInConfig !== true)

/** Every provider `type` a config may name. Any other value fails validation (there is no `ollama` type). */
export const KNOWN_PROVIDER_TYPES: readonly string[] = CONFIG_ROWS.map(r => r.type)

const KNOWN_SET: ReadonlySet<string> = new Set(KNOWN_PROVIDER_TYPES)
export function isKnownProviderType (type: string): boolean {
  return KNOWN_SET.has(type)
}

export const DEFAULT_KEY_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  CONFIG_ROWS.flatMap(r => r.defaultApiKeyEnv !== undefined ? [[r.type, r.defaultApiKeyEnv]] : []))

export const API_BASE_REQUIRED: ReadonlySet<string> = new Set(CONFIG_ROWS.filter(r => r.apiBaseRequired === true).map(r => r.type))

const MODEL_NAME_KEY = { keys: ['model_name'], required: true }

/** The key that names the upstream model; its value lands in `ProviderConfig.modelName` either way. */
export function modelKeyFor (type: string): { keys: string[]; required: boolean } {
  const keys = FACTS.get(type)?.modelKeys ?? MODEL_NAME_KEY
  return { keys: [...keys.keys], required: keys.required }
}

/** Keys every provider table may have; they map onto ProviderConfig fields. */
export const COMMON_PROVIDER_KEYS: ReadonlySet<string> = new Set([
  'type', 'model_name', 'api_base', 'api_key_location', 'timeouts', 'extra_body', 'extra_headers', 'cost', 'batch_cost',
])

/** An embedding model's provider: one `timeout_ms` instead of the `timeouts` table (which TensorZero removed). */
export const EMBEDDING_PROVIDER_KEYS: ReadonlySet<string> = new Set([
  'type', 'model_name', 'api_base', 'api_key_location', 'timeout_ms', 'extra_body', 'extra_headers', 'cost',
])

export const PROVIDER_OPTION_KEYS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(CONFIG_ROWS.map(r => [r.type, r.optionKeys]))

/**
 * Keys TensorZero knows for some type or version; on another type they are suspicious, not fatal. A credential on
 * the wrong type stays an error: ignoring a secret the operator meant to use is worse than stopping.
 */
const CREDENTIAL_KEYS: ReadonlySet<string> = new Set(['api_key', ...AWS_CREDENTIALS])
export const ANY_TYPE_OPTION_KEYS: ReadonlySet<string> = new Set([
  ...CONFIG_ROWS.flatMap(r => r.optionKeys).filter(k => !CREDENTIAL_KEYS.has(k)),
  'batch', 'batch_cost', 'timeout_ms',
])

export const SHORTHAND_PROVIDER_TYPES: ReadonlySet<string> = new Set(
  CONFIG_ROWS.filter(r => r.apiBaseRequired !== true && r.shorthand !== false).map(r => r.type))
