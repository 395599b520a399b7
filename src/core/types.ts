// The one internal representation every endpoint parses into and every provider adapter translates from.
// It mirrors TensorZero's (system + role-tagged messages of content blocks) so stored rows match its shapes.

export type Role = 'user' | 'assistant'

export interface TextBlock { type: 'text'; text: string }
/** Template arguments (TensorZero `tensorzero::arguments` / a JSON-object message), rendered by a function's templates. */
export interface TemplateBlock { type: 'template'; name: string; arguments: Record<string, unknown> }
/** `tensorzero::raw_text`: text sent to the model as is, never wrapped by a template. */
export interface RawTextBlock { type: 'raw_text'; value: string }
export interface ImageBlock { type: 'image'; url: string; detail?: 'low' | 'high' | 'auto' }
export interface ToolCallBlock { type: 'tool_call'; id: string; name: string; arguments: string }
export interface ToolResultBlock { type: 'tool_result'; id: string; name: string; result: string }
export type ContentBlock = TextBlock | RawTextBlock | TemplateBlock | ImageBlock | ToolCallBlock | ToolResultBlock

export interface Message { role: Role; content: ContentBlock[] }

/** Input as the client sent it (before templates), as TensorZero stores it. */
export interface Input {
  system?: string | Record<string, unknown>
  messages: Message[]
}

export interface ToolDefinition {
  name: string
  description: string
  parameters: Record<string, unknown>
  strict: boolean
}

export type ToolChoice = 'auto' | 'none' | 'required' | { specific: string }

export interface ToolParams {
  tools: ToolDefinition[]
  toolChoice: ToolChoice
  parallelToolCalls?: boolean
  /** The request's `allowed_tools` (config tool keys and the request's tool names), when it restricted them. */
  allowedTools?: string[]
  /**
   * With `allowed_tools`: every tool TensorZero counts as available (the function's, the config tools the list adds,
   * the request's), of which `tools` are the ones offered; what `tool_params.tools_available` stores.
   */
  availableTools?: ToolDefinition[]
  /** The request's own tools, all of them, even those `allowed_tools` leaves out (TensorZero's `dynamic_tools`). */
  dynamicTools?: ToolDefinition[]
  /** JSON functions with json_mode `tool`: the implicit `respond` tool carrying the output schema, not a user tool. */
  implicit?: boolean
}

export type JsonMode = 'off' | 'on' | 'strict' | 'tool'

/** Sampling parameters after merging request, `tensorzero::params` and variant defaults. */
export interface InferenceParams {
  temperature?: number
  max_tokens?: number
  top_p?: number
  seed?: number
  presence_penalty?: number
  frequency_penalty?: number
  stop_sequences?: string[]
  json_mode?: JsonMode
  reasoning_effort?: string
}

/** What a variant hands to a model: rendered system text and messages of plain blocks. */
export interface ModelRequest {
  system?: string
  messages: Message[]
  toolParams?: ToolParams
  params: InferenceParams
  /** The function's type: JSON functions get provider-specific JSON handling (e.g. Anthropic's prefill). */
  functionType?: 'chat' | 'json'
  /** JSON functions: the schema the output must satisfy (for json_mode strict/tool). */
  outputSchema?: Record<string, unknown>
  stream: boolean
  /** The variant's own `extra_body`/`extra_headers` (config): applied first, so the provider's and the request's win. */
  variantExtraBody?: ExtraBodyPatch[]
  variantExtraHeaders?: ExtraHeader[]
  /** The request's entries, applied last to the calls their filters select. */
  extraBody?: ExtraBodyPatch[]
  extraHeaders?: ExtraHeader[]
}

/**
 * Which calls a request-level `extra_body`/`extra_headers` entry reaches (TensorZero's `DynamicExtraBody` kinds): one
 * variant, one model (every provider of it, or only `providerName`), or, with neither set, every call.
 */
export interface ExtraEntryFilter { variantName?: string; modelName?: string; providerName?: string }
export interface ExtraBodyPatch extends ExtraEntryFilter { pointer: string; value?: unknown; delete?: boolean }
export interface ExtraHeader extends ExtraEntryFilter { name: string; value?: string; delete?: boolean }

export type FinishReason = 'stop' | 'stop_sequence' | 'length' | 'tool_call' | 'content_filter' | 'unknown'

export interface Usage {
  inputTokens?: number
  outputTokens?: number
  /** Input tokens the provider served from its prompt cache (OpenAI `cached_tokens`, Anthropic `cache_read_input_tokens`). */
  cacheReadInputTokens?: number
  /** Input tokens the provider wrote to its prompt cache (Anthropic `cache_creation_input_tokens`). */
  cacheWriteInputTokens?: number
  /** Dollars, from the provider's `cost` config; absent when it has none or the answer lacks a required field. */
  cost?: number
}

/** Output content a model produced: text and tool calls. */
export type OutputBlock = TextBlock | ToolCallBlock | { type: 'thought'; text: string }

/** A provider's non-streaming answer, already translated. */
export interface ProviderResponse {
  output: OutputBlock[]
  usage: Usage
  finishReason?: FinishReason
  rawResponse: string
}

/** One translated piece of a provider stream. Tool call pieces are keyed by `index` across chunks. */
export interface StreamDelta {
  text?: string
  thought?: string
  toolCalls?: Array<{ index: number; id?: string; name?: string; arguments?: string }>
  usage?: Usage
  finishReason?: FinishReason
  /** The provider event's data as received (TensorZero's raw chunk): set only when the request asked for raw chunks. */
  raw?: string
  /** The event's own usage object and the call it belongs to (TensorZero's raw usage on a chunk): only when asked for. */
  rawUsage?: ChunkRawUsage
}

/** One model call's usage, as its provider wrote it, on the stream chunk that carried it. */
export interface ChunkRawUsage { modelInferenceId: string; providerType: string; usage: unknown }

// ---- embeddings ----
export interface EmbeddingRequest {
  input: string | string[]
  dimensions?: number
  encodingFormat?: 'float' | 'base64'
}
export interface EmbeddingResponse {
  embeddings: number[][]
  usage: Usage
  rawResponse: string
}

// ---- audio (OpenAI's audio API: no TensorZero table, so no row) ----

/** One entry of a multipart form: a text field, or a file whose bytes are a view into the request body (never copied). */
export type FormPart =
  | { name: string; value: string }
  | { name: string; filename: string; contentType: string; data: Uint8Array }

/**
 * One audio call as the client sent it, `model` still the client's name (each provider sends its own `model_name`).
 * Speech is JSON; transcription and translation are the client's form, entries in order, held for fallback.
 */
export type AudioRequest =
  | { operation: 'speech'; fields: Record<string, unknown> }
  | { operation: 'transcription' | 'translation'; parts: FormPart[] }

/** A provider's 2xx answer to an audio call: its content type and its body as it arrives. */
export interface AudioAnswer {
  providerName: string
  contentType: string
  /** Throws when the provider fails mid-body or a timeout fires. */
  body: AsyncIterable<Uint8Array>
  /** Release timers and the connection (body read, or abandoned). */
  dispose (): void
}
