// Test helpers: the shapes TensorZero's serde types read from ClickHouse rows, as checks that list what does not fit.
//   t.same(storedInference(row), [])      // a list_inferences row, tagged chat|json
//   t.same(toolInfo(row), [])             // tool_params, dynamic_tools, allowed_tools, tool_choice columns
// Read from TensorZero 7a6159a: db/inferences.rs (ClickHouseStoredInferenceWithDispreferredOutputs), tool/storage.rs
// (deserialize_optional_tool_info), inference/types/stored_input.rs and tensorzero-types (content blocks).

export type Row = Record<string, any>
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
/** `formatDateTime(…, '%Y-%m-%dT%H:%i:%SZ')`, which chrono reads as a DateTime<Utc>. */
export const SECOND_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/
export const HASH = /^[0-9a-f]{64}$/

export const parse = (v: unknown): any => { if (typeof v !== 'string') throw new Error(`not a JSON string: ${JSON.stringify(v)}`); return JSON.parse(v) }
export const isStr = (v: unknown): boolean => typeof v === 'string'
export const uint = (v: unknown): boolean => (typeof v === 'number' && Number.isInteger(v) && v >= 0) || (typeof v === 'string' && /^\d+$/.test(v))
/** Keys beyond `allowed` (TensorZero's content structs deny unknown fields). */
const extraKeys = (o: Row, allowed: string[]): string[] => Object.keys(o).filter(k => !allowed.includes(k))
/** One StoredInputMessageContent block, tagged by `type`, as serde reads it. */
function inputBlock (b: Row): boolean {
  switch (b.type) {
    case 'text': return isStr(b.text) && extraKeys(b, ['type', 'text']).length === 0
    case 'tool_call': return isStr(b.id) && isStr(b.name) && (isStr(b.arguments) || typeof b.arguments === 'object') && extraKeys(b, ['type', 'id', 'name', 'arguments']).length === 0
    case 'tool_result': return isStr(b.id) && isStr(b.name) && isStr(b.result) && extraKeys(b, ['type', 'id', 'name', 'result']).length === 0
    case 'raw_text': return isStr(b.value) && extraKeys(b, ['type', 'value']).length === 0
    case 'template': return isStr(b.name) && typeof b.arguments === 'object' && extraKeys(b, ['type', 'name', 'arguments']).length === 0
    case 'file': return (b.source_url === null || isStr(b.source_url)) && isStr(b.mime_type) && isStr(b.storage_path?.kind?.type) &&
      isStr(b.storage_path?.path) && extraKeys(b, ['type', 'source_url', 'mime_type', 'storage_path', 'detail', 'filename']).length === 0
    case 'thought': return b.text === null || isStr(b.text)
    case 'unknown': return 'data' in b
    default: return false
  }
}
/** StoredInput: optional system (text or template arguments), messages of role user|assistant with content blocks. */
export function storedInput (v: unknown): string[] {
  const input = parse(v)
  const bad = extraKeys(input, ['system', 'messages'])
  if (input.system !== undefined && !isStr(input.system) && typeof input.system !== 'object') bad.push('system')
  if (!Array.isArray(input.messages)) return [...bad, 'messages']
  for (const m of input.messages) {
    if (m.role !== 'user' && m.role !== 'assistant') bad.push(`role ${m.role}`)
    if (!Array.isArray(m.content)) bad.push('content not an array')
    else bad.push(...m.content.filter((b: Row) => !inputBlock(b)).map((b: Row) => `input block ${JSON.stringify(b)}`))
  }
  return bad
}
/** Vec<ContentBlockChatOutput>. */
export function chatOutput (v: unknown): string[] {
  const out = parse(v)
  if (!Array.isArray(out)) return ['not an array']
  return out.flatMap((b: any) => {
    if (b.type === 'text') return isStr(b.text) ? [] : ['text']
    if (b.type === 'tool_call') {
      return isStr(b.id) && isStr(b.raw_name) && isStr(b.raw_arguments) && (b.name === null || isStr(b.name)) &&
        (b.arguments === null || typeof b.arguments === 'object') ? [] : ['tool_call']
    }
    return ['thought', 'unknown'].includes(b.type) ? [] : [`block ${b.type}`]
  })
}
/** JsonInferenceOutput. */
export function jsonOutput (v: unknown): string[] {
  const out = parse(v)
  return (out.raw === null || isStr(out.raw)) && (out.parsed === null || typeof out.parsed === 'object') ? [] : ['raw/parsed']
}
/** deserialize_optional_tool_info, full format: tool_params, dynamic_tools, dynamic_provider_tools, allowed_tools, tool_choice. */
export function toolInfo (r: Row): string[] {
  // An inference without tools: TensorZero's "" / [] / NULL columns, which it reads as no tool config.
  if (r.tool_params === '') return r.allowed_tools === null && r.tool_choice === null && r.dynamic_tools.length === 0 ? [] : ['tool columns of a tool-less row']
  const bad: string[] = []
  const legacy = parse(r.tool_params)
  if (!Array.isArray(legacy.tools_available) || !legacy.tools_available.every((x: any) => isStr(x.name) && isStr(x.description) &&
    typeof x.parameters === 'object' && typeof x.strict === 'boolean')) bad.push('tool_params.tools_available')
  if (!['auto', 'none', 'required'].includes(legacy.tool_choice) && typeof legacy.tool_choice !== 'object') bad.push('tool_params.tool_choice')
  if (!(legacy.parallel_tool_calls === null || typeof legacy.parallel_tool_calls === 'boolean')) bad.push('tool_params.parallel_tool_calls')
  for (const k of ['dynamic_tools', 'dynamic_provider_tools']) if (!Array.isArray(r[k]) || !r[k].every(isStr)) bad.push(k)
  const allowed = parse(r.allowed_tools)
  if (!Array.isArray(allowed.tools) || !['function_default', 'dynamic_allowed_tools', 'explicit'].includes(allowed.choice)) bad.push('allowed_tools')
  if (!['auto', 'none', 'required'].includes(r.tool_choice) && typeof parse(r.tool_choice) !== 'object') bad.push('tool_choice')
  if ('parallel_tool_calls' in r && !(r.parallel_tool_calls === null || typeof r.parallel_tool_calls === 'boolean')) bad.push('parallel_tool_calls')
  return bad
}
/** ClickHouseStoredInferenceWithDispreferredOutputs (tagged by `type`), as list_inferences reads it. */
export function storedInference (r: Row): string[] {
  const bad: string[] = []
  for (const k of ['function_name', 'variant_name']) if (!isStr(r[k])) bad.push(k)
  for (const k of ['episode_id', 'inference_id']) if (!UUID.test(r[k])) bad.push(k)
  if (!SECOND_TIME.test(r.timestamp)) bad.push('timestamp')
  bad.push(...storedInput(r.input))
  if (r.output !== null) bad.push(...(r.type === 'chat' ? chatOutput(r.output) : jsonOutput(r.output)))
  if ('dispreferred_outputs' in r) {
    for (const d of r.dispreferred_outputs) bad.push(...(r.type === 'chat' ? chatOutput(d) : jsonOutput(d)))
  }
  if (r.type === 'chat') bad.push(...toolInfo(r))
  else if (r.type === 'json') { if (typeof parse(r.output_schema) !== 'object') bad.push('output_schema') } else bad.push('type')
  if (typeof r.tags !== 'object' || !Object.values(r.tags).every(isStr)) bad.push('tags')
  if (!Array.isArray(parse(r.extra_body))) bad.push('extra_body')
  const params = parse(r.inference_params)
  if (typeof params.chat_completion !== 'object') bad.push('inference_params')
  for (const k of ['processing_time_ms', 'ttft_ms']) if (!(r[k] === null || uint(r[k]))) bad.push(k)
  if (!HASH.test(r.snapshot_hash)) bad.push('snapshot_hash')
  return bad
}
