// Provider `type` → adapter. OpenAI-compatible types share one factory with per-type defaults and quirks.
import type { ProviderAdapter } from './adapter.ts'
import { createOpenAICompatibleAdapter, openaiAdapter, type OpenAICompatibleOptions } from './openai/index.ts'
import { dummyAdapter } from './dummy/index.ts'
import { anthropicAdapter } from './anthropic/index.ts'
import { geminiAdapter } from './gemini/index.ts'

/** Per-type defaults (TensorZero's documented api_base and key env var for each type). */
export const OPENAI_COMPATIBLE_TYPES: readonly OpenAICompatibleOptions[] = [
  { type: 'vllm' },
  { type: 'sglang' },
  { type: 'tgi', quirks: { jsonSchema: false } },
  { type: 'openrouter', defaultApiBase: 'https://openrouter.ai/api/v1/', defaultApiKeyEnv: 'OPENROUTER_API_KEY' },
  { type: 'together', defaultApiBase: 'https://api.together.xyz/v1/', defaultApiKeyEnv: 'TOGETHER_API_KEY' },
  { type: 'groq', defaultApiBase: 'https://api.groq.com/openai/v1/', defaultApiKeyEnv: 'GROQ_API_KEY', quirks: { maxTokensField: 'max_completion_tokens' } },
  { type: 'mistral', defaultApiBase: 'https://api.mistral.ai/v1/', defaultApiKeyEnv: 'MISTRAL_API_KEY', quirks: { seedField: 'random_seed', requiredToolChoice: 'any' } },
  { type: 'xai', defaultApiBase: 'https://api.x.ai/v1/', defaultApiKeyEnv: 'XAI_API_KEY' },
  // DeepSeek has no json_schema response format: strict downgrades to json_object (as TensorZero does).
  { type: 'deepseek', defaultApiBase: 'https://api.deepseek.com/v1/', defaultApiKeyEnv: 'DEEPSEEK_API_KEY', quirks: { jsonSchema: false } },
  { type: 'fireworks', defaultApiBase: 'https://api.fireworks.ai/inference/v1/', defaultApiKeyEnv: 'FIREWORKS_API_KEY' },
  { type: 'hyperbolic', defaultApiBase: 'https://api.hyperbolic.xyz/v1/', defaultApiKeyEnv: 'HYPERBOLIC_API_KEY', quirks: { jsonSchema: false } }
]

const adapters = new Map<string, ProviderAdapter>([
  ['openai', openaiAdapter],
  ['dummy', dummyAdapter],
  ['anthropic', anthropicAdapter],
  ['google_ai_studio_gemini', geminiAdapter],
  ...OPENAI_COMPATIBLE_TYPES.map((o): [string, ProviderAdapter] => [o.type, createOpenAICompatibleAdapter(o)])
])

/**
 * Types TensorZero knows but this sidecar does not serve yet: config loads, requests fail with `unsupportedTypeMessage`.
 * Anything in neither list is an unknown type (a config validation error).
 */
export const KNOWN_UNSUPPORTED_TYPES: ReadonlySet<string> = new Set([
  'gcp_vertex_gemini', 'gcp_vertex_anthropic', 'aws_bedrock', 'aws_sagemaker',
  'azure', 'tensorzero_relay'
])

/** The adapter for a provider type, or undefined when this sidecar cannot serve it. */
export function getAdapter (type: string): ProviderAdapter | undefined {
  return adapters.get(type)
}

/** Types with an adapter, sorted. */
export function supportedTypes (): string[] {
  return [...adapters.keys()].sort()
}

export function unsupportedTypeMessage (type: string): string {
  return KNOWN_UNSUPPORTED_TYPES.has(type)
    ? `provider type \`${type}\` is not supported by this sidecar yet`
    : `unknown provider type \`${type}\` (supported: ${supportedTypes().join(', ')})`
}
