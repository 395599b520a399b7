// TensorZero's dataset read queries (db/clickhouse/dataset_queries.rs and the filter builder
// query_builder/datapoint_queries.rs, 7a6159a) against a database `tz-sidecar serve` created. The sidecar writes no
// datapoints; TensorZero's UI makes them from stored inferences, so this test does the same with inferences the
// `openai` client made through the sidecar, then reads them back with every query those files build.
import t from 'tap'
import type { Test } from 'tap'
import { v7 as uuidv7 } from 'uuid'
import { TENSORZERO_URL_SETTINGS, fixtureCoverage, startReadScenario } from './helpers/read-scenario.ts'
import { datapointsFromInferences } from './helpers/datapoints.ts'
import { SECOND_TIME, UUID, chatOutput, jsonOutput, parse, storedInput, toolInfo } from './helpers/tensorzero-rows.ts'

const s = await startReadScenario({ db: 'tz_reads_datasets' })
t.teardown(s.close)
// Every fixture runs under the settings TensorZero's client puts on its URL (join_algorithm: production_clickhouse_client.rs).
const SETTINGS = { ...TENSORZERO_URL_SETTINGS, join_algorithm: 'auto' }
const read = async (file: string, params: Record<string, string> = {}, literals: Record<string, string> = {}): Promise<any[]> =>
  await s.read(file, params, SETTINGS, literals)

const episode = uuidv7()
const chatFirst = (await s.client.chat.completions.create({
  model: 'tensorzero::function_name::agent',
  messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Where is my parcel?' }],
  'tensorzero::episode_id': episode,
  'tensorzero::tags': { team: 'blue', tier: 'gold' }
} as any)).id
let chatSecond = ''
for await (const chunk of await s.client.chat.completions.create({
  model: 'tensorzero::function_name::agent',
  messages: [{ role: 'user', content: 'And the invoice?' }],
  stream: true,
  'tensorzero::episode_id': episode,
  'tensorzero::tags': { team: 'red' }
} as any) as any) chatSecond = chunk.id
const extraction = (await s.client.chat.completions.create({
  model: 'tensorzero::function_name::extractor',
  messages: [{ role: 'user', content: 'Extract the answer: it is 42' }],
  'tensorzero::tags': { team: 'blue' }
} as any)).id
await s.settled(`SELECT id FROM ChatInference WHERE id IN ['${chatFirst}', '${chatSecond}']`, 2)
await s.settled(`SELECT id FROM JsonInference WHERE id = '${extraction}'`)
const [snap] = await s.ch.query<{ hash: string }>('SELECT toString(hash) AS hash FROM ConfigSnapshot', { database: s.db })

const [dpFirst, dpSecond, dpJson] = await datapointsFromInferences(s, 'support', [chatFirst, chatSecond, extraction])
const [dpOther] = await datapointsFromInferences(s, 'archive', [chatFirst])
const byId = (rows: any[], id: string): any => rows.find(r => r.id === id)

/** Checks a row the way serde reads it into StoredDatapoint (tag `type`, JSON-in-String input/output). */
function checkDatapoint (tt: Test, row: any, want: { type: 'chat' | 'json'; id: string; source: string; dataset: string; function: string }): void {
  tt.match(row, {
    type: want.type, id: want.id, dataset_name: want.dataset, function_name: want.function, source_inference_id: want.source,
    is_custom: false, is_deleted: false, staled_at: null, name: null, auxiliary: '', updated_at: SECOND_TIME, episode_id: UUID, tags: Object
  }, `${want.type} datapoint ${want.id}: StoredDatapoint's scalar fields`)
  tt.same(storedInput(row.input), [], 'input parses as StoredInput')
  if (want.type === 'chat') {
    tt.same(chatOutput(row.output), [], 'output parses as ContentBlockChatOutput[]')
    tt.match(parse(row.output), [{ type: 'text', text: String }])
    // deserialize_optional_tool_info: the agent's tool in the full format (allowed_tools, tool_choice set).
    tt.same(toolInfo(row), [], 'tool columns parse as ToolCallConfigDatabaseInsert')
    tt.match(parse(row.allowed_tools), { tools: ['get_weather'], choice: 'function_default' })
    tt.match(parse(row.tool_params), { tools_available: [{ name: 'get_weather' }], tool_choice: 'auto' })
    tt.equal(row.output_schema, '')
  } else {
    tt.same(jsonOutput(row.output), [], 'output parses as JsonInferenceOutput')
    tt.match(parse(row.output), { raw: String, parsed: { answer: String } })
    tt.match(parse(row.output_schema), { type: 'object', required: ['answer'] }, 'output_schema parses as the function schema')
    tt.same([row.tool_params, row.dynamic_tools, row.dynamic_provider_tools, row.parallel_tool_calls, row.tool_choice, row.allowed_tools],
      ['', [], [], null, null, null], 'the JSON side of the union: no tool columns')
  }
}

const page = { limit: '20', offset: '0', subquery_limit: '20' }

t.test('coverage.json lists every fixture of dataset_queries.rs and datapoint_queries.rs and explains every function without one', async tt => {
  for (const stem of ['dataset_queries', 'datapoint_queries']) tt.same(await fixtureCoverage(stem), { notListed: [], notOnDisk: [], unexplained: [] }, stem)
})

t.test('the datapoints copy the sidecar inferences as TensorZero stores them', async tt => {
  const [stored] = await s.ch.query<any>(`SELECT input, output, tags, toString(snapshot_hash) AS h FROM ChatInferenceDatapoint WHERE id = '${dpFirst}'`, { database: s.db })
  tt.match(stored, { tags: { team: 'blue', tier: 'gold' }, h: snap.hash })
  tt.match(JSON.parse(stored.input), { system: 'Be brief.', messages: [{ role: 'user', content: [{ type: 'text', text: 'Where is my parcel?' }] }] })
})

t.test('get_dataset_metadata: one row per dataset, counts and last update', async tt => {
  const all = await read('dataset_queries/get_dataset_metadata.sql')
  tt.match(all, [{ dataset_name: 'archive', count: 1 }, { dataset_name: 'support', count: 3 }], 'datasets, newest first')
  for (const row of all) tt.match(row.last_updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
  const agentOnly = await read('dataset_queries/get_dataset_metadata--function-limit-offset.sql', { function_name: 'extractor', limit: '10', offset: '0' })
  tt.match(agentOnly, [{ dataset_name: 'support', count: 1 }], 'function filter reaches the JSON table')
  tt.equal(agentOnly.length, 1)
  tt.same(await read('dataset_queries/get_dataset_metadata--function-limit-offset.sql', { function_name: 'agent', limit: '10', offset: '2' }), [], 'offset pages past the end')
})

t.test('count_datapoints_for_dataset: chat and JSON tables, with and without the function filter', async tt => {
  tt.same(await read('dataset_queries/count_datapoints_for_dataset.sql', { dataset_name: 'support' }), [{ count: '3' }])
  tt.same(await read('dataset_queries/count_datapoints_for_dataset--function.sql', { dataset_name: 'support', function_name: 'agent' }), [{ count: '2' }])
})

t.test('get_datapoints by dataset returns every datapoint with StoredDatapoint fields', async tt => {
  const rows = await read('dataset_queries/get_datapoints--dataset.sql', { ...page, dataset_name: 'support' })
  tt.equal(rows.length, 3)
  checkDatapoint(tt, byId(rows, dpFirst), { type: 'chat', id: dpFirst, source: chatFirst, dataset: 'support', function: 'agent' })
  checkDatapoint(tt, byId(rows, dpSecond), { type: 'chat', id: dpSecond, source: chatSecond, dataset: 'support', function: 'agent' })
  checkDatapoint(tt, byId(rows, dpJson), { type: 'json', id: dpJson, source: extraction, dataset: 'support', function: 'extractor' })
  tt.same(byId(rows, dpFirst).episode_id, episode)
})

t.test('get_datapoint finds one datapoint by dataset and id, and no other dataset\'s', async tt => {
  const one = await read('dataset_queries/get_datapoint.sql', { dataset_name: 'support', limit: '1', offset: '0', subquery_limit: '1' }, { joined_ids: `'${dpJson}'` })
  tt.equal(one.length, 1)
  checkDatapoint(tt, one[0], { type: 'json', id: dpJson, source: extraction, dataset: 'support', function: 'extractor' })
  tt.same(await read('dataset_queries/get_datapoint.sql', { dataset_name: 'support', limit: '1', offset: '0', subquery_limit: '1' }, { joined_ids: `'${dpOther}'` }), [])
})

t.test('search with relevance order finds the datapoint whose input or output holds the text', async tt => {
  const rows = await read('dataset_queries/get_datapoints--function-search-order-by-relevance.sql',
    { ...page, dataset_name: 'support', function_name: 'agent' }, { search: 'parcel' })
  tt.same(rows.map(r => r.id), [dpFirst])
  tt.match(rows[0], { input_term_frequency: '1', total_term_frequency: '1' }, 'term frequency columns')
  checkDatapoint(tt, rows[0], { type: 'chat', id: dpFirst, source: chatFirst, dataset: 'support', function: 'agent' })
})

t.test('a datapoint deleted the way TensorZero deletes (a staled copy) leaves the lists, and allow_stale finds it', async tt => {
  // delete_datapoints' own statement (a writer): insert a copy with staled_at set.
  await s.ch.query(`WITH existing_chat_datapoints AS (
      SELECT * FROM ChatInferenceDatapoint FINAL
      WHERE dataset_name = {dataset_name:String} AND id IN ['${dpOther}'] AND staled_at IS NULL)
    INSERT INTO ChatInferenceDatapoint SELECT * REPLACE (now64() AS updated_at, now64() AS staled_at) FROM existing_chat_datapoints`,
  { database: s.db, params: { dataset_name: 'archive' } })
  tt.same(await read('dataset_queries/get_datapoints--dataset.sql', { ...page, dataset_name: 'archive' }), [], 'gone from the dataset')
  tt.same(await read('dataset_queries/count_datapoints_for_dataset.sql', { dataset_name: 'archive' }), [{ count: '0' }])
  const stale = await read('dataset_queries/get_datapoints--ids-allow-stale.sql', page, { joined_ids: `'${dpOther}','${dpFirst}'` })
  tt.same(stale.map(r => r.id).sort(), [dpFirst, dpOther].sort())
  tt.match(byId(stale, dpOther), { staled_at: /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/, dataset_name: 'archive' }, 'staled_at is set')
})

t.test('clone_datapoints: the clone TensorZero writes is found by its verify query', async tt => {
  const clone = uuidv7()
  const mappings = `[('${dpFirst}', '${clone}')]`
  // clone_datapoints' chat statement (a writer), then its SELECT.
  await s.ch.query(`INSERT INTO ChatInferenceDatapoint
    WITH source AS (
      SELECT ChatInferenceDatapoint.*, mapping.new_id FROM ChatInferenceDatapoint FINAL
      INNER JOIN (SELECT tupleElement(pair, 1) as old_id, tupleElement(pair, 2) as new_id
        FROM (SELECT arrayJoin({mappings: Array(Tuple(UUID, UUID))}) as pair)) AS mapping ON ChatInferenceDatapoint.id = mapping.old_id
      WHERE ChatInferenceDatapoint.staled_at IS NULL)
    SELECT * EXCEPT(new_id) REPLACE(new_id AS id, {target_dataset_name: String} AS dataset_name, now64() AS updated_at) FROM source`,
  { database: s.db, params: { mappings, target_dataset_name: 'cloned' } })
  tt.same(await read('dataset_queries/clone_datapoints--verify.sql', { new_ids: `['${clone}','${uuidv7()}']` }), [{ id: clone }])
  const [copy] = await read('dataset_queries/get_datapoints--dataset.sql', { ...page, dataset_name: 'cloned' })
  checkDatapoint(tt, copy, { type: 'chat', id: clone, source: chatFirst, dataset: 'cloned', function: 'agent' })
})

t.test('datapoint filters (tag, time, and/or/not, empty) select the rows TensorZero means', async tt => {
  const run = async (file: string, params: Record<string, string>): Promise<string[]> =>
    (await read(`datapoint_queries/${file}`, { ...page, dataset_name: 'support', ...params })).map(r => r.id).sort()
  tt.same(await run('to_clickhouse_sql--tag.sql', { p0: 'team', p1: 'blue' }), [dpFirst, dpJson].sort(), 'tag =')
  tt.same(await run('to_clickhouse_sql--tag.sql', { p0: 'tier', p1: 'gold' }), [dpFirst], 'a tag only one inference has')
  tt.same(await run('to_clickhouse_sql--time.sql', { p0: '2020-01-01 00:00:00 UTC' }), [dpFirst, dpSecond, dpJson].sort(), 'updated after 2020')
  tt.same(await run('to_clickhouse_sql--time.sql', { p0: '2999-01-01 00:00:00 UTC' }), [], 'updated after 2999')
  // team = blue AND (team != red OR updated < 2999) AND NOT (tier = gold)
  tt.same(await run('to_clickhouse_sql--and-or-not.sql', {
    p0: 'team', p1: 'blue', p2: 'team', p3: 'red', p4: '2999-01-01 00:00:00 UTC', p5: 'tier', p6: 'gold'
  }), [dpJson], 'nested filter')
  tt.same(await run('to_clickhouse_sql--and-or-not.sql', {
    p0: 'team', p1: 'red', p2: 'team', p3: 'red', p4: '2000-01-01 00:00:00 UTC', p5: 'tier', p6: 'gold'
  }), [], '!= needs the tag to exist and differ')
  tt.same(await run('to_clickhouse_sql--empty-and-or.sql', {}), [dpFirst, dpSecond, dpJson].sort(), 'empty And is TRUE, empty Or is FALSE')
})
