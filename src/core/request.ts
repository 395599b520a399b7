// A chat inference request after the endpoint parsed it: independent of the wire format it arrived in.
import type { Input, InferenceParams, ToolDefinition, ToolChoice, ExtraBodyPatch, ExtraHeader } from './types.ts'

/** What a request is addressed to, after model-name resolution. */
export type InferenceTarget =
  | { kind: 'function'; functionName: string; variantName?: string }
  | { kind: 'model'; modelName: string }

export interface ChatRequest {
  target: InferenceTarget
  input: Input
  /** Top-level OpenAI params merged with `tensorzero::params.chat_completion` (the latter wins). */
  params: InferenceParams
  stream: boolean
  includeUsage: boolean
  episodeId?: string
  /** `tensorzero::variant_name`: pins the variant, no fallback. */
  variantName?: string
  tags: Record<string, string>
  dryrun: boolean
  credentials?: Record<string, string>
  extraBody?: ExtraBodyPatch[]
  extraHeaders?: ExtraHeader[]
  /** Tools the request itself defines (OpenAI `tools`), added to the function's own. */
  dynamicTools: ToolDefinition[]
  toolChoice?: ToolChoice
  /** `tool_choice: {type: "allowed_tools", …}`: only these of the function's configured tools are offered (dynamic tools always are). */
  allowedTools?: string[]
  parallelToolCalls?: boolean
  /** `response_format.json_schema.schema`: a per-request output schema for JSON functions. */
  dynamicOutputSchema?: Record<string, unknown>
  /** `response_format.type`: json_object / json_schema asks for JSON mode on chat functions' providers. */
  responseFormat?: 'text' | 'json_object' | 'json_schema'
}
