// TensorZero's read queries for inference and episode pages (inference_queries.rs, query_builder/mod.rs,
// model_inferences.rs, resolve_uuid.rs, episode_queries.rs at 7a6159a; fixtures in
// test/fixtures/clickhouse/tensorzero-read-queries/<file stem>/) run against a database `tz-sidecar serve` created and
// filled for the `openai` client, TensorZero's native POST /inference and POST /feedback. Each row is checked against
// the struct TensorZero parses it into: field present, JSON type serde expects, JSON-in-String columns parsed.
import t from 'tap'
import type { Test } from 'tap'
import { readFile, readdir } from 'node:fs/promises'
import { v7 as uuidv7 } from 'uuid'
import { READ_QUERIES, readQueryText, startReadScenario } from './helpers/read-scenario.ts'
import { scriptAnswer } from './helpers/fake-openai.ts'
import { HASH, SECOND_TIME, UUID, isStr, jsonOutput, parse, storedInference, toolInfo, uint } from './helpers/tensorzero-rows.ts'
import type { Row } from './helpers/tensorzero-rows.ts'

const MILLI_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/
const DIRS = ['inference_queries', 'query_builder', 'model_inferences', 'resolve_uuid', 'episode_queries']
const TENSORZERO_SETTINGS = "output_format_json_quote_64bit_integers = 1, join_algorithm = 'auto'"
// The two ids the `ids` fixtures carry in their SQL (TensorZero writes ids into the query text, not as parameters).
const FIXTURE_IDS = ['00000000-0000-7000-8000-00000000000a', '00000000-0000-7000-8000-00000000000b']

const s = await startReadScenario()
t.teardown(s.close)

// ---- Data, written the way a user writes it ----
const ep1 = uuidv7()
const ep2 = uuidv7()
const before = new Date(Date.now() - 60_000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')
const c1 = (await s.client.chat.completions.create({
  model: 'tensorzero::function_name::agent',
  messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is the weather in Paris?' }],
  temperature: 0.5, 'tensorzero::episode_id': ep1, 'tensorzero::tags': { team: 'blue' }
} as any)).id
let c2 = ''
const streamed = await s.client.chat.completions.create({
  model: 'tensorzero::function_name::agent', messages: [{ role: 'user', content: 'Tell me something.' }], stream: true,
  'tensorzero::episode_id': ep1, 'tensorzero::variant_name': 'backup', 'tensorzero::tags': { team: 'red' }
} as any) as unknown as AsyncIterable<{ id: string }>
for await (const chunk of streamed) c2 = chunk.id
scriptAnswer('ok', { toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] })
const c3 = (await s.client.chat.completions.create({
  model: 'tensorzero::function_name::agent', messages: [{ role: 'user', content: 'Weather in Lyon, please.' }],
  'tensorzero::episode_id': ep1
} as any)).id
scriptAnswer('ok', { content: 'Hello from ok' })
const j1 = (await s.client.chat.completions.create({
  model: 'tensorzero::function_name::extractor', messages: [{ role: 'user', content: 'Where is the Eiffel tower?' }],
  'tensorzero::episode_id': ep2, 'tensorzero::tags': { team: 'blue' }
} as any)).id
const native = await fetch(`${s.sidecar.url}/inference`, {
  method: 'POST', headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ function_name: 'extractor', episode_id: ep2, input: { messages: [{ role: 'user', content: 'Which city is the capital of France?' }] } })
})
const j2 = ((await native.json()) as { inference_id: string }).inference_id
await s.client.embeddings.create({ model: 'tensorzero::embedding_model_name::embedder', input: 'hello' })
const fb = {
  rating: await s.feedback({ metric_name: 'rating', value: 4, inference_id: c1 }),
  lowRating: await s.feedback({ metric_name: 'rating', value: 2, inference_id: c3 }),
  helpful: await s.feedback({ metric_name: 'helpful', value: true, inference_id: c2 }),
  success: await s.feedback({ metric_name: 'task_success', value: true, episode_id: ep1 }),
  score: await s.feedback({ metric_name: 'episode_score', value: 0.3, episode_id: ep2 }),
  demo: await s.feedback({ metric_name: 'demonstration', value: 'Sunny and 20 degrees.', inference_id: c1 }),
  comment: await s.feedback({ metric_name: 'comment', value: 'Good answer', inference_id: j1 })
}
for (const [table, n] of [['ChatInference', 3], ['JsonInference', 2], ['ModelInference', 5], ['FloatMetricFeedback', 3],
  ['BooleanMetricFeedback', 2], ['DemonstrationFeedback', 1], ['CommentFeedback', 1]] as const) await s.settled(`SELECT id FROM ${table}`, n)
const [mi1] = await s.settled<{ id: string }>(`SELECT id FROM ModelInference WHERE inference_id = '${c1}'`)
// Datapoints as TensorZero makes them from a stored inference (the sidecar never writes these tables).
const dpChat = uuidv7()
const dpJson = uuidv7()
await s.ch.query(`INSERT INTO ChatInferenceDatapoint (dataset_name, function_name, id, episode_id, input, output, tool_params, tags, auxiliary,
  source_inference_id, is_custom, dynamic_tools, dynamic_provider_tools, allowed_tools, tool_choice, parallel_tool_calls, snapshot_hash)
  SELECT 'golden', function_name, '${dpChat}', episode_id, input, output, tool_params, tags, '', id, false, dynamic_tools,
  dynamic_provider_tools, allowed_tools, tool_choice, parallel_tool_calls, snapshot_hash FROM ChatInference WHERE id = '${c1}'`, { database: s.db })
await s.ch.query(`INSERT INTO JsonInferenceDatapoint (dataset_name, function_name, id, episode_id, input, output, output_schema, tags,
  auxiliary, source_inference_id, is_custom, snapshot_hash)
  SELECT 'golden', function_name, '${dpJson}', episode_id, input, output, output_schema, tags, '', id, false, snapshot_hash
  FROM JsonInference WHERE id = '${j1}'`, { database: s.db })

// ---- Running fixtures ----
const ran = new Set<string>()
async function read (file: string, params: Record<string, string> = {}, ids?: string[]): Promise<Row[]> {
  ran.add(file)
  let text = await readQueryText(file)
  if (ids !== undefined) FIXTURE_IDS.forEach((id, i) => { text = text.replaceAll(id, ids[i]) })
  // The settings TensorZero's client puts on every query's URL (chdb's front does not apply URL settings to reads).
  text += /\bSETTINGS\s+\w+\s*=\s*\w+\s*$/i.test(text) ? ', ' : '\nSETTINGS '
  return await s.ch.query<Row>(text + TENSORZERO_SETTINGS, { database: s.db, params })
}
const idsOf = (rows: Row[], key = 'inference_id'): string[] => rows.map(r => r[key])
const listed = async (t: Test, file: string, params: Record<string, string>, ids?: string[]): Promise<Row[]> => {
  const rows = await read(file, params, ids)
  t.same(rows.flatMap(storedInference), [], `${file}: every row parses as TensorZero's stored inference`)
  return rows
}
const L = 'inference_queries/list_inferences--'

t.test('list_inferences: each function type, both tables, ids, variant and episode filters', async t => {
  t.same(idsOf(await listed(t, `${L}chat-function.sql`, { p0: 'agent', p1: '20' })), [c3, c2, c1], 'a chat function: newest first')
  t.same(idsOf(await listed(t, `${L}json-function.sql`, { p0: 'extractor', p1: '20' })), [j2, j1], 'a json function')
  const all = await listed(t, `${L}all-functions.sql`, { p0: '20', p1: '20' })
  t.same(idsOf(all), [j2, j1, c3, c2, c1], 'no function: chat and json rows in one id order')
  const byId = new Map(all.map(r => [r.inference_id, r]))
  const row = (id: string): Row => byId.get(id) ?? {}
  t.match(row(c1), { type: 'chat', function_name: 'agent', variant_name: 'main', episode_id: ep1, tags: { team: 'blue' } })
  t.same(parse(row(c1).input), { system: 'Be brief.', messages: [{ role: 'user', content: [{ type: 'text', text: 'What is the weather in Paris?' }] }] })
  t.same(parse(row(c1).inference_params), { chat_completion: { temperature: 0.5 } })
  t.match(row(c2), { variant_name: 'backup', tags: { team: 'red' } }, 'the streamed, pinned inference')
  t.match(parse(row(c3).output), [{ type: 'tool_call', name: 'get_weather', arguments: { city: 'Paris' }, raw_name: 'get_weather' }])
  t.match(row(j1), { type: 'json', function_name: 'extractor', episode_id: ep2, tool_params: '', allowed_tools: null })
  t.match(parse(row(j1).output), { parsed: { answer: 'Paris' } })
  t.match(parse(row(j2).output_schema), { required: ['answer'] }, 'native /inference rows too')
  t.same(idsOf(await listed(t, `${L}ids.sql`, { p0: '20', p1: '20' }, [c1, j1])), [j1, c1], 'ids over both tables')
  t.same(idsOf(await listed(t, `${L}ids-function.sql`, { p0: 'agent', p1: '20' }, [c1, j1])), [c1], 'ids within one function')
  t.same(idsOf(await listed(t, `${L}variant-episode.sql`, { p0: 'agent', p1: 'main', p2: ep1, p3: '20' })), [c3, c1])
})

t.test('list_inferences: before/after cursors, offsets, output sources and search', async t => {
  t.same(idsOf(await listed(t, `${L}before.sql`, { p0: 'agent', p1: c3, p2: '20' })), [c2, c1], 'before a cursor')
  t.same(idsOf(await listed(t, `${L}after.sql`, { p0: 'agent', p1: c1, p2: '20' })), [c2, c3], 'after a cursor: ascending (TensorZero reverses)')
  t.same(idsOf(await listed(t, `${L}all-functions-before-timestamp.sql`, { p0: j1, p1: j1, p2: '20', p3: '20' })).sort(), [c1, c2, c3].sort(),
    'before a cursor over both tables, by timestamp (equal seconds tie)')
  t.same(idsOf(await listed(t, `${L}all-functions-after.sql`, { p0: c3, p1: c3, p2: '20', p3: '20' })), [j1, j2])
  t.same(idsOf(await listed(t, `${L}offset.sql`, { p0: 'agent', p1: '1', p2: '1' })), [c2], 'limit 1 offset 1')
  t.same(idsOf(await listed(t, `${L}all-functions-offset.sql`, { p0: '2', p1: '1', p2: '1' })), [j1])
  const none = await listed(t, `${L}output-none.sql`, { p0: 'extractor', p1: '20' })
  t.same(none.map(r => r.output), [null, null], 'InferenceOutputSource::None reads no output')
  const demo = await listed(t, `${L}output-demonstration.sql`, { p0: 'agent', p1: '20' })
  t.same(idsOf(demo), [c1], 'only the demonstrated inference')
  t.same(parse(demo[0].output), [{ type: 'text', text: 'Sunny and 20 degrees.' }], 'the demonstration is the output')
  t.same(parse(demo[0].dispreferred_outputs[0]), [{ type: 'text', text: 'Hello from ok' }], 'the inference output is dispreferred')
  t.same(idsOf(await listed(t, `${L}all-functions-output-demonstration.sql`, { p0: '20', p1: '20' })), [c1])
  const found = await listed(t, `${L}search.sql`, { p0: 'agent', p1: 'weather', p2: '20' })
  t.same(idsOf(found), [c3, c1], 'case-insensitive search in input and output, most hits first')
  t.match(found, [{ input_term_frequency: 1, output_term_frequency: 2, total_term_frequency: 3 }, { input_term_frequency: 1, output_term_frequency: 0 }],
    'the tool call names get_weather twice (name, raw_name)')
  const paris = await listed(t, `${L}all-functions-search.sql`, { p0: 'Paris', p1: 'Paris', p2: '20', p3: '20' })
  t.same(idsOf(paris).sort(), [c1, c3, j1, j2].sort(), 'search over both tables (json outputs say Paris)')
  t.equal(paris[0].inference_id, j2, 'most term hits first')
})

t.test('inference filters: metrics at both levels, demonstrations, tags, time, and/or/not; ordering', async t => {
  const B = 'query_builder/'
  const f = async (file: string, params: Record<string, string>): Promise<string[]> => idsOf(await listed(t, B + file, params))
  t.same(await f('to_clickhouse_sql--float-metric.sql', { p0: 'agent', p1: 'rating', p2: '3.5', p3: '20' }), [c1], 'rating > 3.5')
  t.same(await f('to_clickhouse_sql--float-metric-episode.sql', { p0: 'extractor', p1: 'episode_score', p2: '0.5', p3: '20' }), [j2, j1], 'episode score on json inferences')
  t.same(await f('to_clickhouse_sql--boolean-metric.sql', { p0: 'agent', p1: 'helpful', p2: '1', p3: '20' }), [c2])
  t.same(await f('to_clickhouse_sql--boolean-metric-episode.sql', { p0: 'agent', p1: 'task_success', p2: '1', p3: '20' }), [c3, c2, c1], 'an episode metric applies to all its inferences')
  t.same(await f('to_clickhouse_sql--demonstration.sql', { p0: 'agent', p1: '20' }), [c1])
  t.same(await f('to_clickhouse_sql--no-demonstration.sql', { p0: 'agent', p1: '20' }), [c3, c2])
  t.same(await f('to_clickhouse_sql--tag.sql', { p0: 'agent', p1: 'team', p2: 'blue', p3: '20' }), [c1])
  t.same(await f('to_clickhouse_sql--tag-not-equal.sql', { p0: 'agent', p1: 'team', p2: 'blue', p3: '20' }), [c2], 'a row without the tag does not match !=')
  t.same(await f('to_clickhouse_sql--time.sql', { p0: 'agent', p1: before, p2: '20' }), [c3, c2, c1], `timestamp >= "${before}"`)
  t.same(await f('to_clickhouse_sql--and-or-not.sql', { p0: 'agent', p1: 'team', p2: 'red', p3: 'rating', p4: '4', p5: 'helpful', p6: '0', p7: '20' }), [c2],
    '(team = red OR rating >= 4) AND NOT helpful = false: NOT of a missing metric is false, so unrated c1 drops out')
  t.same(await f('to_clickhouse_sql--empty-and-or.sql', { p0: 'agent', p1: '20' }), [c3, c2, c1], 'empty AND is TRUE')
  t.same(await f('to_clickhouse_sql--all-functions.sql', { p0: 'team', p1: 'blue', p2: 'task_success', p3: '1', p4: 'team', p5: 'blue', p6: 'task_success', p7: '1', p8: '20', p9: '20' }), [c1])
  t.same(await f('generate_order_by_sql--timestamp.sql', { p0: 'agent', p1: '20' }).then(ids => ids.length), 3)
  t.same(await f('generate_order_by_sql--after-timestamp.sql', { p0: 'agent', p1: c1, p2: '20' }).then(ids => ids.sort()), [c2, c3].sort())
  t.same(await f('generate_order_by_sql--metric.sql', { p0: 'agent', p1: 'rating', p2: '20' }), [c1, c3, c2], 'by rating, unrated last')
  t.same(await f('generate_order_by_sql--metric-shared-join.sql', { p0: 'agent', p1: 'helpful', p2: '1', p3: '20' }), [c2])
  t.same(await f('generate_order_by_sql--episode-metric.sql', { p0: 'extractor', p1: 'episode_score', p2: '20' }), [j2, j1])
})

t.test('count_inferences, metadata, tool params, output schema, feedback targets, per-variant counts', async t => {
  const Q = 'inference_queries/'
  const count = async (file: string, params: Record<string, string>): Promise<number> => Number(Object.values((await read(Q + file, params))[0])[0])
  t.equal(await count('count_inferences--function.sql', { p0: 'agent', p1: 'main', p2: ep1 }), 2)
  t.equal(await count('count_inferences--all-functions.sql', {}), 5)
  t.equal(await count('count_inferences--filter-search.sql', { p0: 'agent', p1: 'rating', p2: '3', p3: 'weather' }), 1)
  t.equal(await count('count_inferences--all-functions-filter.sql', { p0: 'team', p1: 'blue', p2: 'Paris', p3: 'team', p4: 'blue', p5: 'Paris' }), 2)
  // InferenceMetadata: id, function_name, variant_name, episode_id, function_type, optional snapshot_hash.
  const meta = await read(`${Q}list_inference_metadata.sql`, { limit: '20' })
  t.same(idsOf(meta, 'id'), [j2, j1, c3, c2, c1])
  t.ok(meta.every(r => UUID.test(r.episode_id) && ['chat', 'json'].includes(r.function_type) && HASH.test(r.snapshot_hash)), 'metadata fields')
  t.same(idsOf(await read(`${Q}list_inference_metadata--before-filters.sql`, { cursor_id: c3, function_name: 'agent', variant_name: 'main', episode_id: ep1, limit: '20' }), 'id'), [c1])
  t.same(idsOf(await read(`${Q}list_inference_metadata--after.sql`, { cursor_id: c3, limit: '20' }), 'id'), [j1, j2])
  const tools = await read(`${Q}get_chat_inference_tool_params.sql`, { function_name: 'agent', inference_id: c3 })
  t.same(tools.flatMap(toolInfo), [], 'tool params parse as ToolCallConfigDatabaseInsert')
  t.match(parse(tools[0].tool_params), { tools_available: [{ name: 'get_weather' }], tool_choice: 'auto' })
  const schema = await read(`${Q}get_json_inference_output_schema.sql`, { function_name: 'extractor', inference_id: j1 })
  t.match(parse(schema[0].output_schema), { type: 'object', required: ['answer'] })
  const out = await read(`${Q}get_serialized_inference_output_for_feedback--chat.sql`, { inference_id: c1, episode_id: ep1, function_name: 'agent', variant_name: 'main' })
  t.same(parse(out[0].output), [{ type: 'text', text: 'Hello from ok' }], 'the output a demonstration is checked against')
  const jout = await read(`${Q}get_serialized_inference_output_for_feedback--json.sql`, { inference_id: j1, episode_id: ep2, function_name: 'extractor', variant_name: 'main' })
  t.same(jsonOutput(jout[0].output), [])
  const variant = await read(`${Q}count_inferences_by_variant--chat-variant.sql`, { function_name: 'agent', variant_name: 'main' })
  t.match(variant, [{ variant_name: 'main', last_used_at: MILLI_TIME }])
  t.equal(Number(variant[0].inference_count), 2)
  t.match(await read(`${Q}count_inferences_by_variant--json.sql`, { function_name: 'extractor' }), [{ variant_name: 'main', last_used_at: MILLI_TIME }])
  const fbCount = async (file: string, params: Record<string, string>): Promise<number> => (await read(Q + file, params))[0].count
  t.equal(await fbCount('count_inferences_with_feedback--boolean.sql', { function_name: 'agent', metric_name: 'helpful' }), 1)
  t.equal(await fbCount('count_inferences_with_feedback--boolean-episode-curated-max.sql', { function_name: 'agent', metric_name: 'task_success' }), 3)
  t.equal(await fbCount('count_inferences_with_feedback--boolean-curated-min.sql', { function_name: 'agent', metric_name: 'helpful' }), 0)
  t.equal(await fbCount('count_inferences_with_feedback--float-curated-max.sql', { function_name: 'agent', metric_name: 'rating', threshold: '3' }), 1)
  t.equal(await fbCount('count_inferences_with_feedback--json-float-episode-curated-min.sql', { function_name: 'extractor', metric_name: 'episode_score', threshold: '0.5' }), 2)
  t.same(await read(`${Q}get_function_throughput_by_variant--cumulative.sql`, { function_name: 'agent' }),
    [{ period_start: '1970-01-01T00:00:00.000Z', variant_name: 'main', count: 2 }, { period_start: '1970-01-01T00:00:00.000Z', variant_name: 'backup', count: 1 }])
  const weekly = await read(`${Q}get_function_throughput_by_variant--week.sql`, { function_name: 'agent', time_window: 'week', time_delta_secs: String(7 * 86400 * 11) })
  t.match(weekly, [{ period_start: MILLI_TIME, variant_name: 'main', count: 2 }, { variant_name: 'backup', count: 1 }])
  const functions = (await read(`${Q}list_functions_with_inference_count.sql`)).sort((a, b) => a.function_name.localeCompare(b.function_name))
  t.match(functions, [{ function_name: 'agent', inference_count: 3, last_inference_timestamp: MILLI_TIME },
    { function_name: 'extractor', inference_count: 2, last_inference_timestamp: MILLI_TIME }], 'both tables, newest first (equal seconds may tie)')
})

t.test('model inferences of chat, streamed, tool-call and json inferences parse as StoredModelInference', async t => {
  const FINISH = ['stop', 'stop_sequence', 'length', 'tool_call', 'content_filter', 'unknown']
  for (const id of [c1, c2, c3, j1, j2]) {
    const rows = await read('12-model-inferences-by-inference-id.sql', { inference_id: id })
    t.equal(rows.length, 1, 'one model inference per inference')
    const r = rows[0]
    const bad: string[] = []
    for (const k of ['id', 'inference_id']) if (!UUID.test(r[k])) bad.push(k)
    for (const k of ['raw_request', 'raw_response']) if (!isStr(r[k])) bad.push(k)
    if (!(r.system === null || isStr(r.system))) bad.push('system')
    const messages = parse(r.input_messages)
    if (!messages.every((m: any) => ['user', 'assistant'].includes(m.role) && Array.isArray(m.content))) bad.push('input_messages')
    const blocks = parse(r.output)
    if (!blocks.every((b: any) => (b.type === 'text' && isStr(b.text)) || (b.type === 'tool_call' && isStr(b.id) && isStr(b.name) && isStr(b.arguments)))) bad.push('output')
    for (const k of ['input_tokens', 'output_tokens', 'response_time_ms', 'ttft_ms', 'provider_cache_read_input_tokens', 'provider_cache_write_input_tokens']) {
      if (!(r[k] === null || uint(r[k]))) bad.push(k)
    }
    if (typeof r.cached !== 'boolean' || !FINISH.includes(r.finish_reason) || !SECOND_TIME.test(r.timestamp)) bad.push('cached/finish_reason/timestamp')
    t.same(bad, [], `model inference of ${id}`)
  }
  const [tool] = await read('12-model-inferences-by-inference-id.sql', { inference_id: c3 })
  t.match(tool, { finish_reason: 'tool_call', function_name: 'agent', variant_name: 'main' })
  t.same(parse(tool.output), [{ type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }], 'model-level tool calls keep arguments as text')
  t.match(await read('12-model-inferences-by-inference-id.sql', { inference_id: c1 }), [{ system: 'Be brief.' }])
})

t.test('model inference statistics: usage, latency, cache and variant time series', async t => {
  const M = 'model_inferences/'
  t.same(Object.values((await read(`${M}count_distinct_models_used.sql`))[0]), [2], 'gpt and json_gpt (embeddings are not model inferences)')
  for (const w of ['minute', 'hour', 'day', 'week', 'month', 'cumulative']) {
    const rows = await read(`${M}get_model_usage_timeseries--${w}.sql`)
    t.match(rows, [{ period_start: SECOND_TIME, model_name: 'gpt', count: 3, cost: null, count_with_cost: 0 }, { model_name: 'json_gpt', count: 2 }], `model usage per ${w}`)
    t.ok(rows.every(r => uint(r.input_tokens) && uint(r.output_tokens)), 'token sums')
  }
  for (const w of ['minute', 'hour', 'day', 'week', 'month']) {
    const rows = await read(`${M}get_model_latency_quantiles--${w}.sql`)
    t.match(rows, [{ model_name: 'gpt', count: 3 }, { model_name: 'json_gpt', count: 2 }], `latency quantiles over a ${w}`)
    t.ok(rows.every(r => r.response_time_ms_quantiles.length === 70 && r.ttft_ms_quantiles.length === 70), '70 quantiles each')
  }
  t.match(await read(`${M}get_cache_statistics_timeseries--cumulative.sql`), [{ model_name: 'gpt', model_provider_name: 'upstream', count: 3 }, { model_name: 'json_gpt' }])
  t.match(await read(`${M}get_cache_statistics_timeseries--hour-model-provider.sql`, { model_name: 'gpt', provider_name: 'upstream' }),
    [{ period_start: SECOND_TIME, model_name: 'gpt', model_provider_name: 'upstream', count: 3 }])
  for (const w of ['cumulative', 'day']) {
    const rows = await read(`${M}get_variant_usage_timeseries--${w}.sql`, { function_name: 'agent' })
    t.match(rows, [{ variant_name: 'backup', count: 1 }, { variant_name: 'main', count: 2 }], `variant usage, ${w}`)
    t.ok(rows.every(r => r.processing_time_ms_quantiles.length === 70), 'processing-time quantiles')
  }
})

t.test('resolve_uuid: each kind of id resolves to its table, datapoints made from sidecar inferences included', async t => {
  const R = 'resolve_uuid/'
  t.same(await read(`${R}query_inference.sql`, { id: c2 }), [{ function_name: 'agent', function_type: 'chat', variant_name: 'backup', episode_id: ep1 }])
  t.match(await read(`${R}query_model_inference.sql`, { id: mi1.id }), [{ inference_id: c1, model_name: 'gpt', model_provider_name: 'upstream' }])
  t.equal((await read(`${R}query_episode.sql`, { id: ep1 })).length, 1)
  t.equal((await read(`${R}query_episode.sql`, { id: c1 })).length, 0, 'an inference id is not an episode')
  for (const [table, id] of [['BooleanMetricFeedback', fb.helpful], ['FloatMetricFeedback', fb.rating], ['CommentFeedback', fb.comment], ['DemonstrationFeedback', fb.demo]]) {
    t.equal((await read(`${R}query_exists--${table}.sql`, { id })).length, 1, `${table} finds its feedback`)
  }
  t.same(await read(`${R}query_datapoint--ChatInferenceDatapoint.sql`, { id: dpChat }), [{ dataset_name: 'golden', function_name: 'agent' }])
  t.same(await read(`${R}query_datapoint--JsonInferenceDatapoint.sql`, { id: dpJson }), [{ dataset_name: 'golden', function_name: 'extractor' }])
})

t.test('query_episode_table: cursors, a function, tag and metric filters', async t => {
  const E = 'episode_queries/'
  const episode = (r: Row): boolean => UUID.test(r.episode_id) && uint(r.count) && SECOND_TIME.test(r.start_time) && SECOND_TIME.test(r.end_time) && UUID.test(r.last_inference_id)
  const rows = async (file: string, params: Record<string, string>): Promise<Row[]> => {
    const got = await read(E + file, params)
    t.ok(got.every(episode), `${file}: rows parse as EpisodeByIdRow`)
    return got
  }
  t.match(await rows('query_episode_table--before.sql', { p0: ep2 }), [{ episode_id: ep1, last_inference_id: c3 }])
  const [first] = await rows('query_episode_table--before.sql', { p0: ep2 })
  t.equal(first.count, '3', 'a UInt64 count comes quoted, as TensorZero asks (deserialize_u64 reads it)')
  t.match(await rows('query_episode_table--after.sql', { p0: ep1 }), [{ episode_id: ep2, last_inference_id: j2 }])
  t.same(idsOf(await rows('query_episode_table--function-name.sql', { p0: 'extractor' }), 'episode_id'), [ep2])
  t.same(idsOf(await rows('query_episode_table--filter-tag.sql', { p0: 'agent', p1: 'team', p2: 'blue', p3: 'agent', p4: 'team', p5: 'blue' }), 'episode_id'), [ep1])
  const older = uuidv7({ msecs: Date.now() - 3_600_000 })
  t.same(idsOf(await rows('query_episode_table--filter-metric-after.sql', { p0: older, p1: 'task_success', p2: '1', p3: 'task_success', p4: '1' }), 'episode_id'), [ep1])
})

t.test('tool columns as TensorZero stores them: dynamic tools join allowed_tools; a request\'s allowed_tools is explicit', async t => {
  // Written last: the counts and lists above are over the rows written at the top.
  const dynamic = (await s.client.chat.completions.create({
    model: 'tensorzero::function_name::agent', messages: [{ role: 'user', content: 'Look it up.' }],
    tools: [{ type: 'function', function: { name: 'lookup', description: 'Look up', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }],
    tool_choice: { type: 'function', function: { name: 'lookup' } }, parallel_tool_calls: true
  } as any)).id
  const res = await fetch(`${s.sidecar.url}/inference`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      function_name: 'agent', input: { messages: [{ role: 'user', content: 'Only the extra tool.' }] }, allowed_tools: [],
      additional_tools: [{ name: 'extra', description: 'Extra', parameters: { type: 'object' } }]
    })
  })
  const explicit = ((await res.json()) as { inference_id: string }).inference_id
  await s.settled(`SELECT id FROM ChatInference WHERE id IN ('${dynamic}', '${explicit}')`, 2)
  const tools = async (id: string): Promise<Row> => {
    const rows = await read('inference_queries/get_chat_inference_tool_params.sql', { function_name: 'agent', inference_id: id })
    t.same(rows.flatMap(toolInfo), [], 'parses as ToolCallConfigDatabaseInsert')
    return rows[0]
  }
  const d = await tools(dynamic)
  t.same(parse(d.allowed_tools), { tools: ['get_weather', 'lookup'], choice: 'function_default' }, 'no allowed_tools: the function\'s tools and the dynamic ones')
  t.same(d.dynamic_tools.map(parse), [{ type: 'function', description: 'Look up', parameters: { type: 'object', properties: { q: { type: 'string' } } }, name: 'lookup', strict: false }])
  t.equal(d.tool_choice, '{"specific":"lookup"}', 'a specific tool choice is stored as JSON')
  const e = await tools(explicit)
  t.same(parse(e.allowed_tools), { tools: [], choice: 'explicit' }, 'the request\'s allowed_tools, as an explicit list')
  t.same(parse(e.tool_params).tools_available.map((x: Row) => x.name), ['get_weather', 'extra'], 'tools_available keeps every function tool')
  const both = await listed(t, `${L}ids-function.sql`, { p0: 'agent', p1: '20' }, [dynamic, explicit])
  t.same(both.map(r => [r.inference_id, r.parallel_tool_calls]), [[explicit, null], [dynamic, true]], 'parallel_tool_calls (get_chat_inference_tool_params does not read it)')
})

t.test('rows of a model-name inference and of a JSON answer that fails its schema parse as TensorZero\'s', async t => {
  const plain = (await s.client.chat.completions.create({ model: 'tensorzero::model_name::gpt', messages: [{ role: 'user', content: 'Hi' }] })).id
  scriptAnswer('json-valid', { content: 'Sure! It is in Paris.' })
  const broken = (await s.client.chat.completions.create({ model: 'tensorzero::function_name::extractor', messages: [{ role: 'user', content: 'Where?' }] })).id
  scriptAnswer('json-valid', { content: '{"answer":"Paris","confidence":0.9}' })
  await s.settled(`SELECT id FROM ChatInference WHERE id = '${plain}'`)
  await s.settled(`SELECT id FROM JsonInference WHERE id = '${broken}'`)
  const rows = await listed(t, `${L}ids.sql`, { p0: '20', p1: '20' }, [plain, broken])
  t.match(rows, [{ inference_id: broken, type: 'json' }, { inference_id: plain, type: 'chat', function_name: 'tensorzero::default', variant_name: 'gpt', tool_params: '' }])
  t.same(parse(rows[0].output), { raw: 'Sure! It is in Paris.', parsed: null }, 'an answer that is not JSON: raw kept, parsed null')
})

t.test('an agent loop\'s input (tool calls, tool results, an image, raw text) is stored as TensorZero\'s StoredInput', async t => {
  const loop = (await s.client.chat.completions.create({
    model: 'tensorzero::function_name::agent',
    messages: [
      { role: 'developer', content: 'Answer in French.' },
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
      { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_9', content: '20C' }
    ]
  } as any)).id
  const res = await fetch(`${s.sidecar.url}/inference`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ function_name: 'agent', input: { system: 'Sys', messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'raw_text', value: 'raw!' }] }] } })
  })
  const raw = ((await res.json()) as { inference_id: string }).inference_id
  await s.settled(`SELECT id FROM ChatInference WHERE id IN ('${loop}', '${raw}')`, 2)
  const rows = await listed(t, `${L}ids-function.sql`, { p0: 'agent', p1: '20' }, [loop, raw])
  t.same(parse(rows[1].input).messages.slice(1), [
    { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_call', id: 'call_9', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
    { role: 'user', content: [{ type: 'tool_result', name: 'get_weather', result: '20C', id: 'call_9' }] }
  ], 'the tool call and its result')
  t.match(parse(rows[1].input), { system: 'Answer in French.', messages: [{ content: [{ type: 'text' }, { type: 'file', mime_type: 'image/png', storage_path: { kind: { type: 'disabled' } } }] }] })
  t.same(parse(rows[0].input), { system: 'Sys', messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'raw_text', value: 'raw!' }] }] })
})

t.test('a demonstration on a JSON inference reads back as a JsonInferenceOutput, the inference output dispreferred', async t => {
  const demo = await s.feedback({ metric_name: 'demonstration', value: { answer: 'Paris, France' }, inference_id: j2 })
  await s.settled(`SELECT id FROM DemonstrationFeedback WHERE id = '${demo}'`)
  const rows = await listed(t, `${L}all-functions-output-demonstration.sql`, { p0: '20', p1: '20' })
  t.same(idsOf(rows), [j2, c1])
  t.same(parse(rows[0].output), { raw: '{"answer":"Paris, France"}', parsed: { answer: 'Paris, France' } })
  t.match(parse(rows[0].dispreferred_outputs[0]), { parsed: { answer: 'Paris', confidence: 0.9 } })
})

t.test('every fixture of these files ran, and coverage.json accounts for every function', async t => {
  for (const dir of DIRS) {
    const sql = (await readdir(new URL(`${dir}/`, READ_QUERIES))).filter(f => f.endsWith('.sql')).map(f => `${dir}/${f}`)
    t.same(sql.filter(f => !ran.has(f)), [], `${dir}: no fixture left unrun`)
    const coverage = JSON.parse(await readFile(new URL(`${dir}/coverage.json`, READ_QUERIES), 'utf8')) as { functions: Record<string, { fixtures?: string[]; reason?: string }> }
    const named = Object.values(coverage.functions).flatMap(f => f.fixtures ?? [])
    t.same(sql.map(f => f.slice(dir.length + 1)).filter(f => !named.includes(f)), [], `${dir}: every fixture is named in coverage.json`)
    t.same(Object.entries(coverage.functions).filter(([, f]) => (f.fixtures ?? []).length === 0 && (f.reason ?? '') === '').map(([n]) => n), [],
      `${dir}: a function without fixtures says why`)
  }
})
