// Pure row builders: inference, feedback and workflow-evaluation records become rows of TensorZero's ClickHouse tables,
// in the shapes a TensorZero gateway (2026.x) writes them, so its UI reads sidecar rows as its own.
//
// Shapes (read from TensorZero's source, tensorzero-core):
// - `input`: StoredInput `{"system"?:…, "messages":[{"role","content":[…]}]}`; text blocks are `{"type":"text","text":…}`
//   (the old `{"type":"text","value":…}` form is legacy), template blocks `{"type":"template","name","arguments"}`,
//   tool calls `{"type":"tool_call","id","name","arguments"(string)}`, tool results `{"type":"tool_result","name","result","id"}`,
//   files `{"type":"file","source_url","mime_type","storage_path":{"kind":{"type":"disabled"},"path"},"detail"?}`.
// - chat `output`: ContentBlockChatOutput; tool calls `{"type":"tool_call","id","raw_name","raw_arguments","name"|null,"arguments"|null}`.
// - json `output`: `{"raw":…, "parsed":…}`; `auxiliary_content` the other blocks (`[]` when none).
// - tool columns: `tool_params` (legacy `{"tools_available","tool_choice","parallel_tool_calls"}`, "" when no tools),
//   `dynamic_tools` (JSON strings of `{"type":"function",…}` for the request's own tools),
//   `allowed_tools` (`{"tools":[config names, dynamic names],"choice":"function_default"}`, or the request's list with
//   `"choice":"explicit"`), `tool_choice` (`auto`, or `{"specific":"t"}`),
//   `parallel_tool_calls`; all NULL/empty when the inference had no tools.
// - `inference_params`: `{"chat_completion":{temperature,max_tokens,seed,top_p,presence_penalty,frequency_penalty,json_mode,stop_sequences,reasoning_effort}}`, absent keys skipped.
// - `extra_body`: the request's extra_body entries as a JSON array (`[]` when none), in TensorZero's entry shapes.
// - ModelInference token counts of 0 are stored as NULL (TensorZero does the same to keep aggregates honest).
// - Unlike TensorZero, an output text past `STORED_TEXT_KEEP_CHARS` is stored cut, with a marker (the README's limits).
import { createHash } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import type { InferenceRecord, ModelInferenceRecord, FeedbackRecord, HumanEvaluation } from '../core/records.ts'
import { storedText } from '../core/records.ts'
import type { ContentBlock, ExtraBodyPatch, Input, InferenceParams, Message, OutputBlock, ToolChoice, ToolDefinition, ToolParams } from '../core/types.ts'
import type { TensorZeroConfig } from '../core/config.ts'
import type { TableName } from './tables.ts'
import type { CacheKey, CachedAnswer } from '../core/cache.ts'
import type { WorkflowEpisodeRecord, WorkflowRunRecord } from '../core/workflow-evaluation.ts'
import { checkedToolCall, toolsAvailable } from '../function/tools.ts'

export interface TableRow { table: TableName; row: Record<string, unknown> }

export interface RowContext {
  /** The sidecar's service name, added as tag `service`. */
  service: string
  /** Used to tell a function's configured (static) tools from tools the request added (dynamic). */
  config?: TensorZeroConfig
  /** Id generator for ModelInference rows (tests pass a fixed one). Default UUIDv7. */
  newId?: () => string
  /** The loaded config's `ConfigSnapshot` hash (decimal UInt256); absent: NULL. */
  snapshotHash?: string
}

// ---------------------------------------------------------------- input

function storedInput (input: Input): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (input.system !== undefined) out.system = input.system
  out.messages = input.messages.map(storedMessage)
  return out
}

function storedMessage (m: Message): Record<string, unknown> {
  return { role: m.role, content: m.content.map(storedContentBlock) }
}

function storedContentBlock (b: ContentBlock): Record<string, unknown> {
  switch (b.type) {
    case 'text': return { type: 'text', text: b.text }
    case 'raw_text': return { type: 'raw_text', value: b.value }
    case 'template': return { type: 'template', name: b.name, arguments: b.arguments }
    case 'tool_call': return { type: 'tool_call', id: b.id, name: b.name, arguments: b.arguments }
    case 'tool_result': return { type: 'tool_result', name: b.name, result: b.result, id: b.id }
    case 'image': return storedFile(b.url, b.detail)
    default: return { ...(b as Record<string, unknown>) }
  }
}

const EXT_BY_MIME: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp', 'application/pdf': 'pdf' }

/**
 * TensorZero stores files in object storage and keeps a pointer. The sidecar has no object store: it records the
 * pointer a gateway with `object_storage.type = "disabled"` would record (content-addressed path, nothing uploaded).
 * For an http(s) URL the sidecar does not download the file, so the path hashes the URL instead of the bytes.
 */
function storedFile (url: string, detail?: string): Record<string, unknown> {
  let mime = 'application/octet-stream'
  let hashInput: Buffer | string = url
  let sourceUrl: string | null = url
  const m = /^data:([^;,]+)?(;base64)?,(.*)$/s.exec(url)
  if (m !== null) {
    mime = m[1] ?? 'text/plain'
    hashInput = m[2] !== undefined ? Buffer.from(m[3], 'base64') : decodeURIComponent(m[3])
    sourceUrl = null
  } else {
    const ext = /\.([a-z0-9]+)(?:\?|#|$)/i.exec(url)?.[1]?.toLowerCase()
    const byExt = Object.entries(EXT_BY_MIME).find(([, e]) => e === ext || (ext === 'jpeg' && e === 'jpg'))
    if (byExt !== undefined) mime = byExt[0]
  }
  const hash = createHash('sha256').update(hashInput).digest('hex')
  const ext = EXT_BY_MIME[mime] ?? 'bin'
  const out: Record<string, unknown> = {
    type: 'file',
    source_url: sourceUrl,
    mime_type: mime,
    storage_path: { kind: { type: 'disabled' }, path: `observability/files/${hash}.${ext}` }
  }
  if (detail !== undefined) out.detail = detail
  return out
}

// ---------------------------------------------------------------- output

/** ModelInference `output`: ContentBlockOutput (tool call arguments stay the raw string). */
function modelOutputBlock (b: OutputBlock): Record<string, unknown> {
  switch (b.type) {
    case 'text': return { type: 'text', text: storedText(b.text) }
    case 'tool_call': return { type: 'tool_call', id: b.id, name: b.name, arguments: b.arguments }
    case 'thought': return { type: 'thought', text: storedText(b.text) }
    default: return { ...(b as Record<string, unknown>) }
  }
}

/** Chat `output` blocks, with tool calls validated against the inference's available tools, as TensorZero does. */
export function chatOutputBlocks (output: OutputBlock[], tools: ToolDefinition[] | undefined): Array<Record<string, unknown>> {
  return output.map(b => b.type === 'tool_call' ? checkedToolCall(b, tools) : modelOutputBlock(b))
}

// ---------------------------------------------------------------- params

function inferenceParamsJson (p: InferenceParams): string {
  const cc: Record<string, unknown> = {}
  // TensorZero's ChatCompletionInferenceParams field order; None fields are skipped.
  for (const key of ['temperature', 'max_tokens', 'seed', 'top_p', 'presence_penalty', 'frequency_penalty', 'json_mode', 'stop_sequences', 'reasoning_effort'] as const) {
    if (p[key] !== undefined) cc[key] = p[key]
  }
  return JSON.stringify({ chat_completion: cc })
}

function toolChoiceValue (c: ToolChoice): unknown {
  return typeof c === 'string' ? c : { specific: c.specific }
}

function functionTool (t: ToolDefinition): Record<string, unknown> {
  return { description: t.description, parameters: t.parameters, name: t.name, strict: t.strict }
}

interface ToolColumns {
  tool_params: string
  dynamic_tools: string[]
  dynamic_provider_tools: string[]
  allowed_tools: string | null
  tool_choice: string | null
  parallel_tool_calls: boolean | null
}

function toolColumns (functionName: string, tp: ToolParams | undefined, config?: TensorZeroConfig): ToolColumns {
  if (tp === undefined || (tp.availableTools ?? tp.tools).length === 0) {
    return { tool_params: '', dynamic_tools: [], dynamic_provider_tools: [], allowed_tools: null, tool_choice: null, parallel_tool_calls: null }
  }
  const fn = config?.functions.get(functionName)
  const staticKeys = fn?.tools ?? []
  const staticWireNames = new Set(staticKeys.map(k => config?.tools.get(k)?.wireName ?? k))
  const dynamic = tp.dynamicTools ?? tp.tools.filter(t => !staticWireNames.has(t.name))
  const choice = toolChoiceValue(tp.toolChoice)
  const parallel = tp.parallelToolCalls ?? null
  // TensorZero's `tools_available` lists every available tool, even those a request's `allowed_tools` left out of
  // what the model was offered (and the config tools it added); the restriction itself is `allowed_tools` with choice
  // `explicit`. Without one, the allowed list is the function's tools and the request's dynamic tools.
  const available = tp.availableTools ?? tp.tools
  const allowed = tp.allowedTools === undefined
    ? { tools: [...staticKeys, ...dynamic.map(t => t.name)], choice: 'function_default' }
    : { tools: tp.allowedTools, choice: 'explicit' }
  return {
    tool_params: JSON.stringify({ tools_available: available.map(functionTool), tool_choice: choice, parallel_tool_calls: parallel }),
    dynamic_tools: dynamic.map(t => JSON.stringify({ type: 'function', ...functionTool(t) })),
    dynamic_provider_tools: [],
    allowed_tools: JSON.stringify(allowed),
    tool_choice: typeof choice === 'string' ? choice : JSON.stringify(choice),
    parallel_tool_calls: parallel
  }
}

/**
 * TensorZero's `extra_body` column: the request-level entries as its `DynamicExtraBody` serialises them, field order
 * included: `{variant_name, pointer, value}`, `{model_name, provider_name (null when unset), pointer, value}` or
 * `{pointer, value}`, with `delete: true` in place of `value` for deletions.
 */
function extraBodyJson (extraBody: ExtraBodyPatch[] | undefined): string {
  return JSON.stringify((extraBody ?? []).map(e => {
    const o: Record<string, unknown> = {}
    if (e.variantName !== undefined) o.variant_name = e.variantName
    else if (e.modelName !== undefined) Object.assign(o, { model_name: e.modelName, provider_name: e.providerName ?? null })
    o.pointer = e.pointer
    if (e.delete === true) o.delete = true
    else o.value = e.value
    return o
  }))
}

// ---------------------------------------------------------------- rows

function u32 (n: number | undefined | null): number | null {
  if (n === undefined || n === null || !Number.isFinite(n)) return null
  return Math.min(0xffffffff, Math.max(0, Math.round(n)))
}

function tokens (n: number | undefined): number | null {
  const v = u32(n)
  return v === null || v === 0 ? null : v
}

function modelInferenceRow (rec: InferenceRecord, mi: ModelInferenceRecord, ctx: RowContext): Record<string, unknown> {
  return {
    id: mi.id !== '' ? mi.id : (ctx.newId ?? uuidv7)(),
    inference_id: rec.inferenceId,
    raw_request: mi.rawRequest,
    raw_response: mi.rawResponse,
    model_name: mi.modelName,
    model_provider_name: mi.providerName,
    input_tokens: tokens(mi.inputTokens),
    output_tokens: tokens(mi.outputTokens),
    response_time_ms: u32(mi.responseTimeMs),
    ttft_ms: u32(mi.ttftMs),
    system: mi.request.system ?? null,
    input_messages: JSON.stringify(mi.request.messages.map(storedMessage)),
    output: JSON.stringify(mi.output.map(modelOutputBlock)),
    cached: mi.cached,
    finish_reason: mi.finishReason ?? null,
    snapshot_hash: ctx.snapshotHash ?? null,
    cost: mi.cost ?? null,
    provider_cache_read_input_tokens: mi.cacheReadInputTokens ?? null,
    provider_cache_write_input_tokens: mi.cacheWriteInputTokens ?? null,
    function_name: rec.functionName,
    variant_name: rec.variantName
  }
}

/** The `output` column of an inference's ChatInference / JsonInference row. */
export function outputColumn (rec: InferenceRecord): string {
  if (rec.functionType === 'json') {
    const json = rec.jsonOutput ?? { raw: rec.output.filter(b => b.type === 'text').map(b => (b as { text: string }).text).join(''), parsed: null }
    return JSON.stringify({ raw: json.raw === null ? null : storedText(json.raw), parsed: json.parsed ?? null })
  }
  return JSON.stringify(chatOutputBlocks(rec.output, toolsAvailable(rec.toolParams)))
}

/** One finished inference → its ChatInference/JsonInference row and one ModelInference row per model call. */
export function inferenceRows (rec: InferenceRecord, ctx: RowContext): TableRow[] {
  // A client's own `service` tag is kept: the sidecar's name only fills the gap.
  const tags = { service: ctx.service, ...rec.tags }
  const common = {
    id: rec.inferenceId,
    function_name: rec.functionName,
    variant_name: rec.variantName,
    episode_id: rec.episodeId,
    input: JSON.stringify(storedInput(rec.input))
  }
  const rows: TableRow[] = []
  if (rec.functionType === 'json') {
    rows.push({
      table: 'JsonInference',
      row: {
        ...common,
        output: outputColumn(rec),
        output_schema: JSON.stringify(rec.outputSchema ?? {}),
        inference_params: inferenceParamsJson(rec.inferenceParams),
        processing_time_ms: u32(rec.processingTimeMs),
        tags,
        extra_body: extraBodyJson(rec.extraBody),
        auxiliary_content: JSON.stringify(rec.output.filter(b => b.type === 'thought').map(modelOutputBlock)),
        ttft_ms: rec.stream ? u32(rec.ttftMs) : null,
        snapshot_hash: ctx.snapshotHash ?? null
      }
    })
  } else {
    const { tool_params: toolParams, ...tools } = toolColumns(rec.functionName, rec.toolParams, ctx.config)
    rows.push({
      table: 'ChatInference',
      row: {
        ...common,
        output: outputColumn(rec),
        tool_params: toolParams,
        inference_params: inferenceParamsJson(rec.inferenceParams),
        processing_time_ms: u32(rec.processingTimeMs),
        tags,
        extra_body: extraBodyJson(rec.extraBody),
        ttft_ms: rec.stream ? u32(rec.ttftMs) : null,
        ...tools,
        snapshot_hash: ctx.snapshotHash ?? null
      }
    })
  }
  for (const mi of rec.modelInferences) rows.push({ table: 'ModelInference', row: modelInferenceRow(rec, mi, ctx) })
  return rows
}

/** An inference cache entry; `timestamp` is when it was made, not when it is shipped (`max_age_s` counts from it). */
export function cacheRow (key: CacheKey, answer: CachedAnswer, madeAtMs: number): TableRow {
  return {
    table: 'ModelInferenceCache',
    row: {
      short_cache_key: key.short,
      long_cache_key: key.long,
      timestamp: Math.floor(madeAtMs / 1000),
      output: answer.output,
      raw_request: answer.rawRequest,
      raw_response: answer.rawResponse,
      input_tokens: u32(answer.inputTokens),
      output_tokens: u32(answer.outputTokens),
      finish_reason: answer.finishReason ?? null
    }
  }
}

/** One feedback → its row, and for a person's evaluation verdict the StaticEvaluationHumanFeedback row TensorZero adds. */
export function feedbackRows (f: FeedbackRecord, ctx: Pick<RowContext, 'snapshotHash'> = {}): TableRow[] {
  const row = feedbackRow(f, ctx.snapshotHash ?? null)
  return f.humanEvaluation === undefined ? [row] : [row, humanEvaluationRow(f, f.humanEvaluation)]
}

export function humanEvaluationRow (f: Pick<FeedbackRecord, 'feedbackId' | 'metricName' | 'value'>, h: HumanEvaluation): TableRow {
  return {
    table: 'StaticEvaluationHumanFeedback',
    row: { feedback_id: f.feedbackId, metric_name: f.metricName, datapoint_id: h.datapointId, output: h.output, value: JSON.stringify(f.value), evaluator_inference_id: h.evaluatorInferenceId }
  }
}

function feedbackRow (f: FeedbackRecord, hash: string | null): TableRow {
  switch (f.metricType) {
    case 'boolean':
      return { table: 'BooleanMetricFeedback', row: { id: f.feedbackId, target_id: f.targetId, metric_name: f.metricName, value: f.value === true, tags: f.tags, snapshot_hash: hash } }
    case 'float':
      return { table: 'FloatMetricFeedback', row: { id: f.feedbackId, target_id: f.targetId, metric_name: f.metricName, value: Number(f.value), tags: f.tags, snapshot_hash: hash } }
    case 'comment':
      return { table: 'CommentFeedback', row: { id: f.feedbackId, target_id: f.targetId, target_type: f.targetType, value: String(f.value), tags: f.tags, snapshot_hash: hash } }
    case 'demonstration':
      return { table: 'DemonstrationFeedback', row: { id: f.feedbackId, inference_id: f.targetId, value: typeof f.value === 'string' ? f.value : JSON.stringify(f.value), tags: f.tags, snapshot_hash: hash } }
  }
}

/** TensorZero keys these tables by a UUID as UInt128 (`toUInt128(uuid)`: the 32 hex digits as one number), sent as decimal text. */
function uuidAsUInt128 (id: string): string {
  return BigInt(`0x${id.replace(/-/g, '')}`).toString()
}

/** A workflow evaluation run's `DynamicEvaluationRun` row, as TensorZero's insert_workflow_evaluation_run writes it. */
export function workflowRunRow (rec: WorkflowRunRecord, ctx: Pick<RowContext, 'snapshotHash'> = {}): TableRow {
  return {
    table: 'DynamicEvaluationRun',
    row: {
      run_id_uint: uuidAsUInt128(rec.runId),
      variant_pins: rec.variantPins,
      tags: rec.tags,
      project_name: rec.projectName ?? null,
      run_display_name: rec.displayName ?? null,
      snapshot_hash: ctx.snapshotHash ?? null
    }
  }
}

/** An episode's `DynamicEvaluationRunEpisode` row (its task name is stored as `datapoint_name`, as TensorZero stores it). */
export function workflowEpisodeRow (rec: WorkflowEpisodeRecord, ctx: Pick<RowContext, 'snapshotHash'> = {}): TableRow {
  return {
    table: 'DynamicEvaluationRunEpisode',
    row: {
      run_id: rec.runId,
      episode_id_uint: uuidAsUInt128(rec.episodeId),
      variant_pins: rec.variantPins,
      datapoint_name: rec.taskName ?? null,
      tags: rec.tags,
      snapshot_hash: ctx.snapshotHash ?? null
    }
  }
}
