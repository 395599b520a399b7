// ClickHouse schema, rows and feedback against a real ClickHouse engine (chdb 26.x behind a loopback HTTP front),
// driven through the production @clickhouse/client code.
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { v7 as uuidv7 } from 'uuid'
import { createHash } from 'node:crypto'
import { startChdbServer } from './helpers/chdb-server.ts'
import type { ChdbServer } from './helpers/chdb-server.ts'
import { runMigrate } from '../src/store/migrate.ts'
import { createClickHouseSink } from '../src/store/writer.ts'
import { makeClient, parseClickHouseUrl } from '../src/store/client.ts'
import { inferenceRows } from '../src/store/rows.ts'
import { handleFeedback } from '../src/feedback/handle.ts'
import type { FeedbackDeps } from '../src/feedback/handle.ts'
import { RecentTargets } from '../src/feedback/known-targets.ts'
import { chatToolRecord, chatStreamRecord, jsonRecord, modelNameRecord, testConfig, EXTRACT_SCHEMA, WEATHER_TOOL, CLOCK_TOOL, WEATHER_PARAMS } from './fixtures/clickhouse/records.ts'

/** What TensorZero's migrations leave: 68 tables and views, 2 detached views, the uint_to_uuid function, TensorZeroMigration. */
const TENSORZERO_OBJECTS = 72

let ch: ChdbServer
const dirs: string[] = []
async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tz-spool-'))
  dirs.push(d)
  return d
}

t.before(async () => { ch = await startChdbServer() })
t.teardown(async () => {
  await ch?.close()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

t.test('the chdb front honours the insert settings TensorZero relies on', async t => {
  await ch.query('CREATE TABLE strict_probe (id UUID, name String, n Nullable(UInt32)) ENGINE = MergeTree ORDER BY id')
  const client = makeClient(parseClickHouseUrl(ch.url))
  t.teardown(() => client.close())
  const settings = { input_format_skip_unknown_fields: 0, input_format_null_as_default: 0 } as const
  await client.insert({ table: 'strict_probe', values: [{ id: uuidv7(), name: 'ok', n: null }], format: 'JSONEachRow', clickhouse_settings: settings })
  await t.rejects(client.insert({ table: 'strict_probe', values: [{ id: uuidv7(), name: 'x', extra: 1 }], format: 'JSONEachRow', clickhouse_settings: settings }),
    /Unknown field found while parsing JSONEachRow format: extra/, 'an unknown key is an error')
  await t.rejects(client.insert({ table: 'strict_probe', values: [{ id: uuidv7(), name: null }], format: 'JSONEachRow', clickhouse_settings: settings }),
    /Cannot parse JSON String value here: null/, 'a null in a non-Nullable column is an error')
  t.same(await ch.query('SELECT name FROM strict_probe'), [{ name: 'ok' }])
})

t.test('migrate creates the schema, is idempotent, and leaves a TensorZero-managed database alone', async t => {
  const first = await runMigrate({ url: ch.url })
  t.equal(first.managedBy, 'sidecar')
  // The sidecar's own tables and views among the rest of TensorZero's schema (compared object by object with
  // TensorZero's migrations in clickhouse-tensorzero-schema.test.ts).
  const sidecarObjects = [
    'BooleanMetricFeedback', 'BooleanMetricFeedbackByVariant', 'BooleanMetricFeedbackByVariantStatisticsView', 'BooleanMetricFeedbackByVariantView',
    'ChatInference', 'ChatInferenceByEpisodeIdView', 'ChatInferenceByIdView', 'CommentFeedback',
    'DemonstrationFeedback', 'DynamicInContextLearningExample', 'FeedbackByVariantStatistics', 'FloatMetricFeedback',
    'FloatMetricFeedbackByVariant', 'FloatMetricFeedbackByVariantStatisticsView', 'FloatMetricFeedbackByVariantView',
    'InferenceByEpisodeId', 'InferenceById', 'JsonInference',
    'JsonInferenceByEpisodeIdView', 'JsonInferenceByIdView', 'ModelCallsFlat', 'ModelInference'
  ]
  t.same(first.created.filter(n => sidecarObjects.includes(n)).sort(), sidecarObjects)
  t.equal(first.created.length, TENSORZERO_OBJECTS + 1, 'all of TensorZero\'s objects and the flat view')
  const tables = await ch.query<{ name: string; engine: string; sorting_key: string }>(
    "SELECT name, engine, sorting_key FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree' AND name IN ('" + sidecarObjects.join("', '") + "') ORDER BY name")
  t.same(tables, [
    { name: 'BooleanMetricFeedback', engine: 'MergeTree', sorting_key: 'metric_name, target_id' },
    { name: 'BooleanMetricFeedbackByVariant', engine: 'MergeTree', sorting_key: 'function_name, metric_name, variant_name, id_uint' },
    { name: 'ChatInference', engine: 'MergeTree', sorting_key: 'function_name, variant_name, episode_id' },
    { name: 'CommentFeedback', engine: 'MergeTree', sorting_key: 'target_id' },
    { name: 'DemonstrationFeedback', engine: 'MergeTree', sorting_key: 'inference_id' },
    { name: 'DynamicInContextLearningExample', engine: 'MergeTree', sorting_key: 'function_name, variant_name, namespace' },
    { name: 'FeedbackByVariantStatistics', engine: 'AggregatingMergeTree', sorting_key: 'function_name, metric_name, variant_name, minute' },
    { name: 'FloatMetricFeedback', engine: 'MergeTree', sorting_key: 'metric_name, target_id' },
    { name: 'FloatMetricFeedbackByVariant', engine: 'MergeTree', sorting_key: 'function_name, metric_name, variant_name, id_uint' },
    { name: 'InferenceByEpisodeId', engine: 'ReplacingMergeTree', sorting_key: 'episode_id_uint, id_uint' },
    { name: 'InferenceById', engine: 'ReplacingMergeTree', sorting_key: 'id_uint' },
    { name: 'JsonInference', engine: 'MergeTree', sorting_key: 'function_name, variant_name, episode_id' },
    { name: 'ModelInference', engine: 'MergeTree', sorting_key: 'inference_id' }
  ])
  const cols = await ch.query<{ name: string; type: string; default_kind: string; default_expression: string }>(
    "SELECT name, type, default_kind, default_expression FROM system.columns WHERE database = currentDatabase() AND table = 'ModelInference' ORDER BY position")
  t.same(cols.map(c => c.name), ['id', 'inference_id', 'raw_request', 'raw_response', 'model_name', 'model_provider_name', 'input_tokens',
    'output_tokens', 'response_time_ms', 'ttft_ms', 'timestamp', 'system', 'input_messages', 'output', 'cached', 'finish_reason', 'snapshot_hash',
    'cost', 'provider_cache_read_input_tokens', 'provider_cache_write_input_tokens', 'function_name', 'variant_name'])
  t.match(cols.find(c => c.name === 'timestamp'), { type: 'DateTime', default_kind: 'MATERIALIZED', default_expression: 'UUIDv7ToDateTime(id)' })
  t.equal(cols.find(c => c.name === 'finish_reason')?.type, "Nullable(Enum8('stop' = 1, 'length' = 2, 'tool_call' = 3, 'content_filter' = 4, 'unknown' = 5, 'stop_sequence' = 6))")
  t.equal(cols.find(c => c.name === 'cost')?.type, 'Nullable(Decimal(18, 9))')

  const again = await runMigrate({ url: ch.url })
  t.same(again.created, [], 'second run creates nothing')
  t.equal(again.existing.length, first.created.length)

  // A database a TensorZero gateway migrated: TensorZeroMigration present, its own (older) ChatInference.
  await ch.query('CREATE DATABASE IF NOT EXISTS tz_gateway', { database: 'default' })
  await ch.query('CREATE TABLE TensorZeroMigration (migration_id UInt32, migration_name String) ENGINE = MergeTree ORDER BY migration_id', { database: 'tz_gateway' })
  await ch.query('CREATE TABLE ChatInference (id UUID, function_name String) ENGINE = MergeTree ORDER BY id', { database: 'tz_gateway' })
  const before = await ch.query("SELECT name, create_table_query FROM system.tables WHERE database = 'tz_gateway' ORDER BY name")
  const managed = await runMigrate({ url: ch.url.replace(/\/tensorzero$/, '/tz_gateway') })
  t.equal(managed.managedBy, 'tensorzero')
  t.same(managed.created, [])
  t.same(await ch.query("SELECT name, create_table_query FROM system.tables WHERE database = 'tz_gateway' ORDER BY name"), before, 'nothing created or altered')
  t.match(managed.skipped, [{ name: 'ModelCallsFlat', reason: /ModelInference/ }], 'the flat view needs the gateway\'s inference tables')

  // A gateway-managed database with the full schema gets the sidecar's flat view, and its tables stay as they are.
  await ch.query('CREATE DATABASE IF NOT EXISTS tz_full', { database: 'default' })
  await runMigrate({ url: ch.url.replace(/\/tensorzero$/, '/tz_full') })
  await ch.query('DROP VIEW ModelCallsFlat', { database: 'tz_full' })
  await ch.query('DROP TABLE TensorZeroMigration', { database: 'tz_full' })
  await ch.query('CREATE TABLE TensorZeroMigration (migration_id UInt32, migration_name String) ENGINE = MergeTree ORDER BY migration_id', { database: 'tz_full' })
  const gatewayTables = await ch.query("SELECT name, create_table_query FROM system.tables WHERE database = 'tz_full' ORDER BY name")
  const full = await runMigrate({ url: ch.url.replace(/\/tensorzero$/, '/tz_full') })
  t.equal(full.managedBy, 'tensorzero')
  t.same(full.created, ['ModelCallsFlat'], 'only the flat view is added')
  const after = await ch.query<{ name: string }>("SELECT name, create_table_query FROM system.tables WHERE database = 'tz_full' AND name != 'ModelCallsFlat' ORDER BY name")
  t.same(after, gatewayTables, 'the gateway\'s tables are untouched')

  // A fresh database named in the URL is created only when asked (`--create-database`): a typo must not make one.
  await t.rejects(runMigrate({ url: ch.url.replace(/\/tensorzero$/, '/tz_fresh') }), /database `tz_fresh` does not exist.*pass --create-database/)
  const fresh = await runMigrate({ url: ch.url.replace(/\/tensorzero$/, '/tz_fresh'), createDatabase: true })
  t.equal(fresh.created.length, TENSORZERO_OBJECTS, 'everything but the server-wide uint_to_uuid function, made once')
})

t.test('rows of chat (stream and not), JSON and model-name inferences land column by column; views fill', async t => {
  const spoolDir = await tempDir()
  const config = testConfig()
  const sink = createClickHouseSink({ url: ch.url, spoolDir, service: 'agent-zero', config, flushIntervalMs: 20 })
  t.teardown(() => sink.close())
  const chat = chatToolRecord()
  const stream = chatStreamRecord()
  const json = jsonRecord()
  const model = modelNameRecord({ episodeId: chat.episodeId })
  for (const r of [chat, stream, json, model]) sink.observer.onInference?.(r)
  await sink.flush()

  const rows = await ch.query<Record<string, unknown>>(`SELECT *, toString(timestamp) AS ts FROM ChatInference WHERE id IN ('${chat.inferenceId}', '${stream.inferenceId}', '${model.inferenceId}') ORDER BY id`)
  t.equal(rows.length, 3)
  const c = rows.find(r => r.id === chat.inferenceId) as Record<string, unknown>
  t.match(c, {
    function_name: 'agent_zero',
    variant_name: 'local_llama',
    episode_id: chat.episodeId,
    processing_time_ms: 830,
    tags: { user_id: 'u-1', service: 'agent-zero' },
    ttft_ms: null,
    parallel_tool_calls: true,
    tool_choice: 'auto',
    snapshot_hash: null
  })
  t.same(JSON.parse(c.input as string), {
    system: 'You are Agent Zero.',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Weather in Paris?' },
          { type: 'file', source_url: null, mime_type: 'image/png', storage_path: { kind: { type: 'disabled' }, path: `observability/files/${createHash('sha256').update(Buffer.from('iVBORw0KGgo=', 'base64')).digest('hex')}.png` }, detail: 'low' }
        ]
      },
      { role: 'assistant', content: [{ type: 'tool_call', id: 'call_0', name: 'get_time', arguments: '{"tz":"Europe/Paris"}' }] },
      { role: 'user', content: [{ type: 'tool_result', name: 'get_time', result: '14:00', id: 'call_0' }] }
    ]
  }, 'input in TensorZero StoredInput shape')
  t.same(JSON.parse(c.output as string), [
    { type: 'text', text: 'Let me check.' },
    { type: 'tool_call', id: 'call_1', raw_name: 'get_weather', raw_arguments: '{"location":"Paris","units":"celsius"}', name: 'get_weather', arguments: { location: 'Paris', units: 'celsius' } }
  ], 'tool call parsed and validated against the tool schema')
  t.same(JSON.parse(c.tool_params as string), {
    tools_available: [
      { description: WEATHER_TOOL.description, parameters: WEATHER_PARAMS, name: 'get_weather', strict: false },
      { description: CLOCK_TOOL.description, parameters: CLOCK_TOOL.parameters, name: 'get_time', strict: true }
    ],
    tool_choice: 'auto',
    parallel_tool_calls: true
  })
  t.same((c.dynamic_tools as string[]).map(s => JSON.parse(s)), [{ type: 'function', description: CLOCK_TOOL.description, parameters: CLOCK_TOOL.parameters, name: 'get_time', strict: true }], 'only the request tool is dynamic')
  t.same(c.dynamic_provider_tools, [])
  t.same(JSON.parse(c.allowed_tools as string), { tools: ['weather', 'get_time'], choice: 'function_default' }, 'the function\'s tools and the dynamic one (TensorZero\'s ToolCallConfig::new)')
  t.equal(c.inference_params, '{"chat_completion":{"temperature":0.2,"max_tokens":256}}')
  t.equal(c.extra_body, '[{"pointer":"/think","value":false}]')
  t.equal(c.ts, await ch.query<{ t: string }>(`SELECT toString(toDateTime(UUIDv7ToDateTime(toUUID('${chat.inferenceId}')))) AS t`).then(r => r[0].t), 'timestamp materialized from the id')

  const s = rows.find(r => r.id === stream.inferenceId) as Record<string, unknown>
  t.match(s, { variant_name: 'hosted_openai', ttft_ms: 240, processing_time_ms: 1500, tool_params: '', allowed_tools: null, tool_choice: null, parallel_tool_calls: null, tags: { service: 'agent-zero' }, extra_body: '[]' })
  t.same(s.dynamic_tools, [])
  t.same(JSON.parse(s.input as string), { messages: [{ role: 'user', content: [{ type: 'template', name: 'user', arguments: { name: 'Ada' } }] }] })
  t.equal(s.inference_params, '{"chat_completion":{"seed":7,"top_p":0.9}}')

  const m = rows.find(r => r.id === model.inferenceId) as Record<string, unknown>
  t.match(m, { function_name: 'tensorzero::default', variant_name: 'openai::gpt-4o-mini', output: '[{"type":"text","text":"4"}]', inference_params: '{"chat_completion":{}}' })

  const [j] = await ch.query<Record<string, unknown>>(`SELECT * FROM JsonInference WHERE id = '${json.inferenceId}'`)
  t.match(j, { function_name: 'extract_person', variant_name: 'baseline', processing_time_ms: 410, ttft_ms: null, auxiliary_content: '[]', tags: { pipeline: 'hirag', service: 'agent-zero' } })
  t.same(JSON.parse(j.output as string), { raw: '{"name":"Ada","age":36}', parsed: { name: 'Ada', age: 36 } })
  t.same(JSON.parse(j.output_schema as string), EXTRACT_SCHEMA)
  t.same(JSON.parse(j.input as string), { system: { instructions: 'be terse' }, messages: [{ role: 'user', content: [{ type: 'text', text: 'Ada Lovelace, 36' }] }] })
  t.equal(j.inference_params, '{"chat_completion":{"json_mode":"strict"}}')

  const mis = await ch.query<Record<string, unknown>>(`SELECT * FROM ModelInference WHERE inference_id IN ('${chat.inferenceId}', '${stream.inferenceId}', '${json.inferenceId}', '${model.inferenceId}')`)
  t.equal(mis.length, 4)
  const mc = mis.find(r => r.inference_id === chat.inferenceId) as Record<string, unknown>
  t.match(mc, {
    id: chat.modelInferences[0].id,
    raw_request: chat.modelInferences[0].rawRequest,
    raw_response: chat.modelInferences[0].rawResponse,
    model_name: 'llama_local',
    model_provider_name: 'ollama',
    input_tokens: 42,
    output_tokens: 7,
    response_time_ms: 812,
    ttft_ms: null,
    system: 'You are Agent Zero.',
    cached: false,
    finish_reason: 'tool_call',
    cost: null,
    provider_cache_read_input_tokens: null,
    function_name: 'agent_zero',
    variant_name: 'local_llama'
  })
  t.same(JSON.parse(mc.input_messages as string)[2], { role: 'user', content: [{ type: 'tool_result', name: 'get_time', result: '14:00', id: 'call_0' }] })
  t.same(JSON.parse(mc.output as string)[1], { type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"location":"Paris","units":"celsius"}' })
  const ms = mis.find(r => r.inference_id === stream.inferenceId) as Record<string, unknown>
  t.match(ms, { ttft_ms: 231, response_time_ms: 1490, input_tokens: 12, output_tokens: null, system: null, model_name: 'gpt_4o_mini', finish_reason: 'stop' }, 'streamed: ttft kept, 0 tokens stored as NULL')
  t.match(mis.find(r => r.inference_id === model.inferenceId), { finish_reason: 'length', function_name: 'tensorzero::default', variant_name: 'openai::gpt-4o-mini' })

  const byId = await ch.query<Record<string, unknown>>(`SELECT uint_id, function_name, variant_name, toString(episode_id) AS episode_id, toString(function_type) AS function_type
    FROM (SELECT toString(id_uint) AS uint_id, * FROM InferenceById) WHERE uint_id IN (SELECT toString(toUInt128(toUUID(x))) FROM (SELECT arrayJoin(['${chat.inferenceId}', '${stream.inferenceId}', '${json.inferenceId}', '${model.inferenceId}']) AS x)) ORDER BY function_type, function_name`)
  t.same(byId.map(r => [r.function_name, r.function_type]), [['agent_zero', 'chat'], ['agent_zero', 'chat'], ['tensorzero::default', 'chat'], ['extract_person', 'json']], 'InferenceById filled by the views')
  const byEpisode = await ch.query(`SELECT count() AS n FROM InferenceByEpisodeId WHERE episode_id_uint = toUInt128(toUUID('${chat.episodeId}'))`)
  t.same(byEpisode, [{ n: '2' }], 'both inferences of the episode indexed')

  const flat = await ch.query<Record<string, unknown>>(`SELECT service, function_name, variant_name, model_name, model_provider_name, input_tokens, output_tokens, response_time_ms, ttft_ms
    FROM ModelCallsFlat WHERE inference_id = '${stream.inferenceId}'`)
  t.same(flat, [{ service: 'agent-zero', function_name: 'agent_zero', variant_name: 'hosted_openai', model_name: 'gpt_4o_mini', model_provider_name: 'openai', input_tokens: 12, output_tokens: null, response_time_ms: 1490, ttft_ms: 231 }])
  const perModel = await ch.query("SELECT model_name, count() AS requests FROM ModelCallsFlat WHERE timestamp > now() - INTERVAL 1 HOUR AND service = 'agent-zero' GROUP BY model_name ORDER BY model_name")
  t.same(perModel, [{ model_name: 'gemini_flash', requests: '1' }, { model_name: 'gpt_4o_mini', requests: '1' }, { model_name: 'llama_local', requests: '1' }, { model_name: 'openai::gpt-4o-mini', requests: '1' }], 'the README query works')

  const st = sink.status()
  t.match(st, { clickhouse: 'connected', spoolDepthRows: 0, droppedRows: 0, shippedRows: 8, rejectedRows: 0 })
})

t.test('row builders: an invalid tool call keeps raw values and nulls', async t => {
  const rec = chatToolRecord({ output: [{ type: 'tool_call', id: 'c', name: 'get_weather', arguments: '{"units":"kelvin"}' }, { type: 'tool_call', id: 'd', name: 'launch_rockets', arguments: 'not json' }] })
  const [row] = inferenceRows(rec, { service: 's', config: testConfig() })
  t.same(JSON.parse(row.row.output as string), [
    { type: 'tool_call', id: 'c', raw_name: 'get_weather', raw_arguments: '{"units":"kelvin"}', name: 'get_weather', arguments: null },
    { type: 'tool_call', id: 'd', raw_name: 'launch_rockets', raw_arguments: 'not json', name: null, arguments: null }
  ])
})

t.test('feedback: each kind stored, or rejected with TensorZero\'s message', async t => {
  const spoolDir = await tempDir()
  const config = testConfig()
  const sink = createClickHouseSink({ url: ch.url, spoolDir, service: 'agent-zero', config, flushIntervalMs: 20 })
  t.teardown(() => sink.close())
  const chat = chatToolRecord()
  const json = jsonRecord()
  // What the gateway wires: the ids this process issued, the store's reads, feedback rows through the observer.
  const recent = new RecentTargets()
  for (const r of [chat, json]) { recent.remember(r); sink.observer.onInference?.(r) }
  const deps: FeedbackDeps = {
    config,
    knownTargets: recent,
    lookupInClickHouse: sink.reads,
    enqueue: r => sink.observer.onFeedback?.(r),
    timing: { cooldownMs: 300, minWaitMs: 100, pollMs: 50 }
  }
  const ok = async (body: unknown): Promise<string> => {
    const r = await handleFeedback(body, deps)
    t.equal(r.status, 200, JSON.stringify(r.body))
    return (r.body as { feedback_id: string }).feedback_id
  }
  const err = async (body: unknown, status: number, message: string | RegExp): Promise<void> => {
    const r = await handleFeedback(body, deps)
    t.equal(r.status, status, `status for ${JSON.stringify(body).slice(0, 80)}`)
    if (typeof message === 'string') t.equal((r.body as { error: { message: string } }).error.message, message)
    else t.match((r.body as { error: { message: string } }).error.message, message)
  }

  const boolId = await ok({ metric_name: 'task_success', inference_id: chat.inferenceId, value: true, tags: { reviewer: 'ann' } })
  const floatId = await ok({ metric_name: 'user_rating', episode_id: chat.episodeId, value: 4.5 })
  const commentId = await ok({ metric_name: 'comment', episode_id: json.episodeId, value: 'nice' })
  const commentInfId = await ok({ metric_name: 'comment', inference_id: json.inferenceId, value: 'precise' })
  const demoChatId = await ok({ metric_name: 'demonstration', inference_id: chat.inferenceId, value: [{ type: 'text', text: 'It is sunny.' }, { type: 'tool_call', id: 't1', name: 'get_weather', arguments: { location: 'Paris' } }] })
  const demoJsonId = await ok({ metric_name: 'demonstration', inference_id: json.inferenceId, value: { name: 'Grace', age: 85 } })
  const dry = await ok({ metric_name: 'task_success', inference_id: chat.inferenceId, value: false, dryrun: true })

  await err({ metric_name: 'nope', inference_id: chat.inferenceId, value: true }, 404, 'Unknown metric: nope')
  await err({ metric_name: 'task_success', episode_id: chat.episodeId, value: true }, 400, 'Correct ID was not provided for feedback level "inference".')
  await err({ metric_name: 'user_rating', inference_id: chat.inferenceId, value: 3 }, 400, 'Correct ID was not provided for feedback level "episode".')
  await err({ metric_name: 'task_success', inference_id: chat.inferenceId, episode_id: chat.episodeId, value: true }, 400, 'Both episode_id and inference_id cannot be provided')
  await err({ metric_name: 'comment', value: 'x' }, 400, 'Exactly one of inference_id or episode_id must be provided')
  await err({ metric_name: 'task_success', inference_id: chat.inferenceId, value: 1 }, 400, 'Feedback value for metric `task_success` must be a boolean')
  await err({ metric_name: 'user_rating', episode_id: chat.episodeId, value: 'high' }, 400, 'Feedback value for metric `user_rating` must be a number')
  await err({ metric_name: 'comment', inference_id: chat.inferenceId, value: 5 }, 400, 'Feedback value for a comment must be a string')
  await err({ metric_name: 'task_success', inference_id: chat.inferenceId, value: true, tags: { 'tensorzero::x': 'y' } }, 400, "Tag name cannot start with 'tensorzero::': tensorzero::x")
  await err({ metric_name: 'task_success', inference_id: chat.inferenceId, value: true, extra: 1 }, 400, /unknown field `extra`/)
  await err({ inference_id: chat.inferenceId, value: true }, 400, /missing field `metric_name`/)
  await err({ metric_name: 'demonstration', inference_id: json.inferenceId, value: { name: 'Grace' } }, 400, /^Demonstration does not fit function output schema: /)
  await err({ metric_name: 'demonstration', inference_id: chat.inferenceId, value: 42 }, 400, 'Demonstration must be a string or an array of content blocks')
  await err({ metric_name: 'demonstration', inference_id: chat.inferenceId, value: [{ type: 'tool_call', id: 't', name: 'nuke', arguments: {} }] }, 400, 'Demonstration contains invalid tool name')
  await err({ metric_name: 'demonstration', inference_id: chat.inferenceId, value: [{ type: 'tool_call', id: 't', name: 'get_weather', arguments: { units: 'kelvin' } }] }, 400, 'Demonstration contains invalid tool call arguments')
  await err({ metric_name: 'demonstration', inference_id: chat.inferenceId, value: [{ type: 'image' }] }, 400, /^Invalid demonstration content block: /)

  const unknownId = uuidv7()
  const started = Date.now()
  await err({ metric_name: 'task_success', inference_id: unknownId, value: true }, 400, `Inference ID: ${unknownId} does not exist`)
  t.ok(Date.now() - started >= 250, 'polled ClickHouse until the id was old enough')
  const unknownEpisode = uuidv7()
  await err({ metric_name: 'user_rating', episode_id: unknownEpisode, value: 1 }, 400, `Episode ID: ${unknownEpisode} does not exist`)

  await sink.flush()
  // An inference another sidecar wrote is found in ClickHouse (InferenceById), not in this sink's memory.
  const other = createClickHouseSink({ url: ch.url, spoolDir: await tempDir(), service: 'archon', config, flushIntervalMs: 20 })
  t.teardown(() => other.close())
  const viaCh = await handleFeedback({ metric_name: 'demonstration', inference_id: json.inferenceId, value: { name: 'Linus', age: 54 } },
    { ...deps, knownTargets: new RecentTargets(), lookupInClickHouse: other.reads, enqueue: r => other.observer.onFeedback?.(r) })
  t.equal(viaCh.status, 200, 'json demonstration validated against the schema read back from ClickHouse')
  const viaChBad = await handleFeedback({ metric_name: 'demonstration', inference_id: chat.inferenceId, value: [{ type: 'tool_call', id: 't', name: 'get_weather', arguments: { units: 'kelvin' } }] },
    { ...deps, knownTargets: new RecentTargets(), lookupInClickHouse: other.reads, enqueue: r => other.observer.onFeedback?.(r) })
  t.equal((viaChBad.body as { error: { message: string } }).error?.message, 'Demonstration contains invalid tool call arguments', 'chat tools read back from ClickHouse')
  const viaEp = await handleFeedback({ metric_name: 'user_rating', episode_id: json.episodeId, value: 2 },
    { ...deps, knownTargets: new RecentTargets(), lookupInClickHouse: other.reads, enqueue: r => other.observer.onFeedback?.(r) })
  t.equal(viaEp.status, 200, 'episode found in InferenceByEpisodeId')
  await other.flush()

  t.same(await ch.query(`SELECT toString(target_id) AS target_id, metric_name, value, tags FROM BooleanMetricFeedback WHERE id = '${boolId}'`),
    [{ target_id: chat.inferenceId, metric_name: 'task_success', value: true, tags: { reviewer: 'ann' } }])
  t.same(await ch.query(`SELECT count() AS n FROM BooleanMetricFeedback WHERE id = '${dry}'`), [{ n: '0' }], 'dryrun wrote nothing')
  t.same(await ch.query(`SELECT toString(target_id) AS target_id, value FROM FloatMetricFeedback WHERE id = '${floatId}'`), [{ target_id: chat.episodeId, value: 4.5 }])
  t.same((await ch.query<{ id: string }>(`SELECT id, toString(target_type) AS target_type, value FROM CommentFeedback WHERE id IN ('${commentId}', '${commentInfId}')`)).sort((a, b) => a.id < b.id ? -1 : 1),
    [{ id: commentId, target_type: 'episode', value: 'nice' }, { id: commentInfId, target_type: 'inference', value: 'precise' }])
  const demos = await ch.query<{ id: string; inference_id: string; value: string }>(`SELECT id, inference_id, value FROM DemonstrationFeedback WHERE id IN ('${demoChatId}', '${demoJsonId}')`)
  t.same(JSON.parse(demos.find(d => d.id === demoChatId)?.value ?? 'null'), [
    { type: 'text', text: 'It is sunny.' },
    { type: 'tool_call', id: 't1', raw_name: 'get_weather', raw_arguments: '{"location":"Paris"}', name: 'get_weather', arguments: { location: 'Paris' } }
  ])
  t.same(JSON.parse(demos.find(d => d.id === demoJsonId)?.value ?? 'null'), { raw: '{"name":"Grace","age":85}', parsed: { name: 'Grace', age: 85 } })
  t.same(await ch.query(`SELECT count() AS n FROM FloatMetricFeedback WHERE target_id = '${json.episodeId}'`), [{ n: '1' }], 'feedback via the second sidecar stored')
})
