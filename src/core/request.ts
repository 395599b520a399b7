// A chat inference request after the endpoint parsed it: independent of the wire format it arrived in.
import type { Input, InferenceParams, ToolDefinition, ToolChoice, ExtraBodyPatch, ExtraHeader } from './types.ts'
import type { FunctionConfig, ModelConfig, VariantConfig } from './config.ts'
import type { CacheOptions } from './cache.ts'

/**
 * What a request is addressed to, as the resolver found it: the names, and the function that runs it (a model runs
 * through the default function). `variant` is set when the request pins one: it runs alone, no sampling, no fallback.
 */
export type InferenceTarget =
  | { kind: 'function'; functionName: string; variantName?: string; fn: FunctionConfig; variant?: VariantConfig }
  | { kind: 'model'; modelName: string; model: ModelConfig; fn: FunctionConfig; variant: VariantConfig }

export interface ChatRequest {
  target: InferenceTarget
  input: Input
  /** Top-level OpenAI params merged with `tensorzero::params.chat_completion` (the latter wins). */
  params: InferenceParams
  stream: boolean
  includeUsage: boolean
  /** `tensorzero::include_raw_usage`: the providers' own usage objects beside `usage`. */
  includeRawUsage?: boolean
  /** `tensorzero::include_raw_response`: the providers' raw answers; on a stream, each provider event's raw text too. */
  includeRawResponse?: boolean
  /** The deprecated `include_original_response`: the answer's raw text; on a stream, each provider event's raw text. */
  includeOriginalResponse?: boolean
  episodeId?: string
  tags: Record<string, string>
  dryrun: boolean
  credentials?: Record<string, string>
  /** `tensorzero::cache_options` as sent (the dry-run rule is applied where the cache is used). */
  cacheOptions?: CacheOptions
  extraBody?: ExtraBodyPatch[]
  extraHeaders?: ExtraHeader[]
  /** Tools the request itself defines (OpenAI `tools`), added to the function's own. */
  dynamicTools: ToolDefinition[]
  toolChoice?: ToolChoice
  /**
   * `allowed_tools` (or `tool_choice: {type: "allowed_tools", …}`): only these tools are offered, of the function's, of
   * the request's, and of any other `[tools.*]` it names.
   */
  allowedTools?: string[]
  parallelToolCalls?: boolean
  /** `response_format.json_schema.schema`: a per-request output schema for JSON functions. */
  dynamicOutputSchema?: Record<string, unknown>
  /** `response_format.type`: json_object / json_schema asks for JSON mode on chat functions' providers. */
  responseFormat?: 'text' | 'json_object' | 'json_schema'
}
