// TensorZero's evaluation read queries (db/clickhouse/evaluation_queries.rs and workflow_evaluation_queries.rs,
// 7a6159a) against a database `tz-sidecar serve` created. Inference evaluations: datapoints made from sidecar
// inferences (as TensorZero's UI makes them), a run row as TensorZero's evaluations write it, then one inference per
// datapoint through the sidecar's native POST /inference with the tags TensorZero's evaluation runner sets
// (`internal: true`), and evaluator feedback through POST /feedback. Workflow evaluations: runs and episodes made through
// the sidecar's workflow-evaluation routes, sidecar inferences and episode feedback in those episodes.
import t from 'tap'
import { v7 as uuidv7 } from 'uuid'
import OpenAI from 'openai'
import { TENSORZERO_URL_SETTINGS, fixtureCoverage, startReadScenario } from './helpers/read-scenario.ts'
import { datapointsFromInferences } from './helpers/datapoints.ts'
import { chatOutput, jsonOutput, parse, storedInput, SECOND_TIME as DATE } from './helpers/tensorzero-rows.ts'
import { startFaultProxy } from './helpers/chdb-server.ts'
import { startCli } from './helpers/process.ts'
import { waitFor } from './helpers/wait.ts'

const s = await startReadScenario({ db: 'tz_reads_evaluations' })
t.teardown(s.close)
// Every fixture runs under the settings TensorZero's client puts on its URL (join_algorithm: production_clickhouse_client.rs).
const SETTINGS = { ...TENSORZERO_URL_SETTINGS, join_algorithm: 'auto' }
const read = async (file: string, params: Record<string, string> = {}, literals: Record<string, string> = {}): Promise<any[]> =>
  await s.read(file, params, SETTINGS, literals)

const chat = async (content: string, extra: object = {}): Promise<string> => (await s.client.chat.completions.create({
  model: 'tensorzero::function_name::agent', messages: [{ role: 'user', content }], ...extra
} as any)).id
const native = async (body: object): Promise<any> => {
  const res = await fetch(`${s.sidecar.url}/inference`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const json = await res.json()
  if (res.status !== 200) throw new Error(`POST /inference: ${res.status} ${JSON.stringify(json)}`)
  return json
}
const sources = [await chat('Reset my password'), await chat('Cancel my order')]
const jsonSource = (await s.client.chat.completions.create({
  model: 'tensorzero::function_name::extractor', messages: [{ role: 'user', content: 'Extract: 42' }]
})).id
await s.settled(`SELECT id FROM ChatInference WHERE id IN ['${sources[0]}', '${sources[1]}']`, 2)
await s.settled(`SELECT id FROM JsonInference WHERE id = '${jsonSource}'`)
const [snap] = await s.ch.query<{ hash: string }>('SELECT toString(hash) AS hash FROM ConfigSnapshot', { database: s.db })
const [dpA, dpB, dpJson] = await datapointsFromInferences(s, 'golden', [...sources, jsonSource])

/** insert_inference_evaluation_run's statement and parameters (a writer). */
async function insertEvaluationRun (run: { id: string; name: string; fn: string; type: string; variant: string; metrics: object[] }): Promise<void> {
  await s.ch.query(`INSERT INTO InferenceEvaluationRuns (run_id_uint, evaluation_name, function_name, function_type, dataset_name,
      variant_names, metrics, source, snapshot_hash, created_at, updated_at)
    VALUES (toUInt128({run_id:UUID}), {evaluation_name:String}, {function_name:String}, {function_type:String}, {dataset_name:String},
      {variant_names:Array(String)}, {metrics:String}, {source:String}, {snapshot_hash:Nullable(String)}, now64(3), now64(3))`, {
    database: s.db,
    params: {
      run_id: run.id, evaluation_name: run.name, function_name: run.fn, function_type: run.type, dataset_name: 'golden',
      variant_names: `['${run.variant}']`, metrics: JSON.stringify(run.metrics), source: 'dataset_name', snapshot_hash: '\\N'
    }
  })
}

/** One evaluation inference for a datapoint, tagged as crates/evaluations' inference step tags it. */
async function evaluate (runId: string, evaluation: string, fn: string, datapoint: string): Promise<any> {
  const [row] = await read(`dataset_queries/get_datapoint.sql`, { dataset_name: 'golden', limit: '1', offset: '0', subquery_limit: '1' }, { joined_ids: `'${datapoint}'` })
  return await native({
    function_name: fn,
    variant_name: 'main',
    input: JSON.parse(row.input),
    internal: true,
    tags: {
      'tensorzero::evaluation_run_id': runId,
      'tensorzero::datapoint_id': datapoint,
      'tensorzero::dataset_name': 'golden',
      'tensorzero::evaluation_name': evaluation
    }
  })
}

/** Evaluator feedback as crates/evaluations sends it (internal tags win over the caller's). */
async function evaluatorFeedback (runId: string, datapoint: string, inferenceId: string, metric: string, value: boolean | number, extra: Record<string, string> = {}): Promise<string> {
  return await s.feedback({
    metric_name: metric,
    value,
    inference_id: inferenceId,
    internal: true,
    tags: {
      ...extra,
      'tensorzero::evaluation_run_id': runId,
      'tensorzero::datapoint_id': datapoint,
      'tensorzero::evaluator_name': metric === 'helpful' ? 'exact_match' : 'judge',
      'tensorzero::evaluation_name': 'support-eval'
    }
  })
}

const METRICS = [
  { name: 'helpful', evaluator_name: 'exact_match', value_type: 'boolean', optimize: 'max' },
  { name: 'rating', evaluator_name: 'judge', value_type: 'float', optimize: 'max' }
]
const runChat = uuidv7()
await insertEvaluationRun({ id: runChat, name: 'support-eval', fn: 'agent', type: 'chat', variant: 'main', metrics: METRICS })
const runJson = uuidv7()
await insertEvaluationRun({ id: runJson, name: 'extract-eval', fn: 'extractor', type: 'json', variant: 'main', metrics: METRICS.slice(1) })

const evalA = await evaluate(runChat, 'support-eval', 'agent', dpA)
const evalB = await evaluate(runChat, 'support-eval', 'agent', dpB)
const evalJson = await evaluate(runJson, 'extract-eval', 'extractor', dpJson)
const judge = uuidv7()
const fbHelpfulA = await evaluatorFeedback(runChat, dpA, evalA.inference_id, 'helpful', true)
await evaluatorFeedback(runChat, dpB, evalB.inference_id, 'helpful', false)
const fbRatingA = await evaluatorFeedback(runChat, dpA, evalA.inference_id, 'rating', 4, { 'tensorzero::evaluator_inference_id': judge })
await evaluatorFeedback(runChat, dpB, evalB.inference_id, 'rating', 2)
await evaluatorFeedback(runJson, dpJson, evalJson.inference_id, 'rating', 5)
// A person's verdict in the UI: human_feedback + datapoint + evaluator inference tags (StaticEvaluationHumanFeedback).
const human = await evaluatorFeedback(runChat, dpA, evalA.inference_id, 'helpful', true, {
  'tensorzero::human_feedback': 'true', 'tensorzero::evaluator_inference_id': judge
})
// The same verdict on an inference this sidecar served outside an evaluation: its output is read back from ClickHouse.
const outsider = await evaluatorFeedback(runChat, dpB, sources[1], 'rating', 1, {
  'tensorzero::human_feedback': 'true', 'tensorzero::evaluator_inference_id': judge
})
await s.settled(`SELECT id FROM FloatMetricFeedback WHERE target_id = '${evalJson.inference_id}'`)
await s.settled(`SELECT id FROM FloatMetricFeedback WHERE id = '${outsider}'`)
// Its StaticEvaluationHumanFeedback row is queued once the output was read, after the reply: it can come later.
await s.settled(`SELECT feedback_id FROM StaticEvaluationHumanFeedback WHERE feedback_id = '${outsider}'`)
await s.settled(`SELECT id FROM BooleanMetricFeedback WHERE id = '${human}'`)
await s.settled(`SELECT inference_id FROM TagInference WHERE key = 'tensorzero::datapoint_id'`, 3)

const runIds = (...ids: string[]): string => `[${ids.map(id => `'${id}'`).join(',')}]`
const chatRun = { function_name: 'agent', evaluation_run_ids: runIds(runChat) }

t.test('coverage.json lists every fixture of evaluation_queries.rs and workflow_evaluation_queries.rs and explains every function without one', async tt => {
  for (const stem of ['evaluation_queries', 'workflow_evaluation_queries']) tt.same(await fixtureCoverage(stem), { notListed: [], notOnDisk: [], unexplained: [] }, stem)
})

t.test('evaluation runs: metadata, count, list, search and infos read the run rows', async tt => {
  const meta = await read('evaluation_queries/get_inference_evaluation_run_metadata.sql', { run_ids: runIds(runChat, runJson) })
  const chatMeta = meta.find(r => r.run_id === runChat) ?? {}
  tt.match(chatMeta, { evaluation_name: 'support-eval', function_name: 'agent', function_type: 'chat' })
  tt.same(JSON.parse(chatMeta.metrics), METRICS, 'metrics parse as InferenceEvaluationRunMetricMetadata[]')
  tt.same(await read('evaluation_queries/count_total_evaluation_runs.sql'), [{ count: 2 }])
  const listed = await read('evaluation_queries/list_evaluation_runs.sql', { limit: '10', offset: '0' })
  tt.match(listed, [
    { evaluation_run_id: runJson, evaluation_name: 'extract-eval', function_name: 'extractor', variant_name: 'main', dataset_name: 'golden', created_at: DATE, snapshot_hash: null },
    { evaluation_run_id: runChat, function_name: 'agent' }
  ], 'EvaluationRunInfoRow, newest run first')
  tt.match(await read('evaluation_queries/search_evaluation_runs--empty-query.sql', { limit: '10', offset: '0' }),
    [{ evaluation_run_id: runJson }, { evaluation_run_id: runChat, evaluation_name: 'support-eval', dataset_name: 'golden', variant_name: 'main' }])
  tt.match(await read('evaluation_queries/search_evaluation_runs--evaluation-function-query.sql',
    { evaluation_name: 'support-eval', function_name: 'agent', query: 'GOLD', limit: '10', offset: '0' }), [{ evaluation_run_id: runChat }])
  tt.same(await read('evaluation_queries/search_evaluation_runs--evaluation-function-query.sql',
    { evaluation_name: 'support-eval', function_name: 'extractor', query: 'gold', limit: '10', offset: '0' }), [])
  tt.match(await read('evaluation_queries/get_evaluation_run_infos.sql', chatRun), [{ evaluation_run_id: runChat, variant_name: 'main', created_at: DATE }])
})

t.test('run infos for a datapoint find the sidecar inference by its datapoint tag (chat and JSON tables)', async tt => {
  tt.match(await read('evaluation_queries/get_evaluation_run_infos_for_datapoint--chat.sql', { datapoint_id: dpA, function_name: 'agent' }),
    [{ evaluation_run_id: runChat, variant_name: 'main', created_at: DATE }])
  tt.match(await read('evaluation_queries/get_evaluation_run_infos_for_datapoint--json.sql', { datapoint_id: dpJson, function_name: 'extractor' }),
    [{ evaluation_run_id: runJson, variant_name: 'main' }])
})

t.test('count_datapoints_for_evaluation counts the datapoints the run\'s sidecar inferences are tagged with', async tt => {
  tt.same(await read('evaluation_queries/count_datapoints_for_evaluation.sql', chatRun), [{ count: 2 }])
  tt.same(await read('evaluation_queries/count_datapoints_for_evaluation.sql', { function_name: 'extractor', evaluation_run_ids: runIds(runChat) }), [{ count: 0 }])
})

t.test('usage statistics sum the sidecar\'s model inference tokens per run', async tt => {
  const [usage] = await read('evaluation_queries/get_evaluation_usage_statistics--chat.sql', chatRun)
  tt.match(usage, { evaluation_run_id: runChat, inference_count: 2 })
  tt.ok(Number(usage.total_input_tokens) > 0 && Number(usage.total_output_tokens) > 0, 'tokens of both inferences')
  tt.ok(usage.total_cost === null || typeof usage.total_cost === 'number', 'total_cost: Option<f64>')
  tt.type(usage.avg_processing_time_ms, 'number')
  tt.match(await read('evaluation_queries/get_evaluation_usage_statistics--json.sql', { function_name: 'extractor', evaluation_run_ids: runIds(runJson) }),
    [{ evaluation_run_id: runJson, inference_count: 1 }])
})

t.test('evaluation statistics average the evaluator feedback per metric (latest value per inference)', async tt => {
  // The ORDER BY belongs to the second SELECT of the UNION ALL, so rows come in no set order: TensorZero keys them by name.
  const stats = (await read('evaluation_queries/get_evaluation_statistics--chat.sql', { ...chatRun, metric_names: "['helpful','rating']" }))
    .sort((x, y) => x.metric_name.localeCompare(y.metric_name))
  tt.match(stats, [
    { evaluation_run_id: runChat, metric_name: 'helpful', metric_type: 'boolean', datapoint_count: 2, mean_metric: 0.5, stdev: null },
    { evaluation_run_id: runChat, metric_name: 'rating', metric_type: 'float', datapoint_count: 2, mean_metric: 3 }
  ])
  tt.ok(Math.abs(stats[1].stdev - Math.SQRT2) < 1e-6, 'sample stdev of 4 and 2')
  tt.match(await read('evaluation_queries/get_evaluation_statistics--json.sql', { function_name: 'extractor', evaluation_run_ids: runIds(runJson), metric_names: "['rating']" }),
    [{ metric_name: 'rating', datapoint_count: 1, mean_metric: 5 }])
})

t.test('evaluation results join datapoint, sidecar inference, usage and feedback rows as RawEvaluationResultRow', async tt => {
  const page = { ...chatRun, metric_names: "['helpful','rating']" }
  const rows = await read('evaluation_queries/get_evaluation_results--chat.sql', page, { limit: '10', offset: '0' })
  tt.equal(rows.length, 4, 'two datapoints × two metrics')
  const a = rows.filter(r => r.datapoint_id === dpA)
  tt.match(a, [{ metric_name: 'rating', metric_value: '4', feedback_id: fbRatingA, evaluator_inference_id: judge, is_human_feedback: false },
    { metric_name: 'helpful', metric_value: 'true' }], 'one row per metric (metric_name DESC), the evaluator inference id from its tag')
  // argMax over `timestamp` (whole seconds): two verdicts in one second tie, and TensorZero's query picks either.
  tt.ok([fbHelpfulA, human].includes(a[1].feedback_id), 'helpful: the evaluator\'s or the human verdict')
  tt.type(a[1].is_human_feedback, 'boolean')
  for (const row of rows) {
    tt.match(row, {
      inference_id: /^[0-9a-f-]{36}$/, episode_id: /^[0-9a-f-]{36}$/, evaluation_run_id: runChat, dataset_name: 'golden',
      variant_name: 'main', name: null, staled_at: null, processing_time_ms: Number
    })
    tt.ok(Number(row.input_tokens) > 0 && Number(row.output_tokens) > 0, 'the sidecar\'s model inference tokens')
    tt.same([storedInput(row.input), chatOutput(row.generated_output), chatOutput(row.reference_output)], [[], [], []],
      'input, generated_output and reference_output parse as StoredInput and chat output')
  }
  tt.same(a[0].inference_id, evalA.inference_id)
  const one = await read('evaluation_queries/get_evaluation_results--chat-datapoint-id.sql', { ...page, datapoint_id: dpB }, { limit: '10', offset: '0' })
  tt.same(one.map(r => [r.datapoint_id, r.metric_name, r.metric_value]), [[dpB, 'rating', '2'], [dpB, 'helpful', 'false']])
  const paged = await read('evaluation_queries/get_evaluation_results--chat.sql', page, { limit: '1', offset: '1' })
  tt.same([...new Set(paged.map(r => r.datapoint_id))], [[dpA, dpB].sort().reverse()[1]], 'pages by datapoint, newest first')
  const json = await read('evaluation_queries/get_evaluation_results--json.sql', { function_name: 'extractor', evaluation_run_ids: runIds(runJson), metric_names: "['rating']" }, { limit: '10', offset: '0' })
  tt.match(json, [{ datapoint_id: dpJson, inference_id: evalJson.inference_id, metric_name: 'rating', metric_value: '5' }])
  tt.same([jsonOutput(json[0].generated_output), jsonOutput(json[0].reference_output)], [[], []], 'generated and reference output parse as JsonInferenceOutput')
  tt.match(parse(json[0].generated_output), { parsed: { answer: String } })
})

t.test('human feedback is found by the output TensorZero serializes from the inference response', async tt => {
  // serialize_output_for_feedback, then escape_string_for_clickhouse_literal before binding (ClickHouse unescapes it).
  const output = JSON.stringify(evalA.content).replace(/\\/g, '\\\\').replace(/'/g, "\\'")
  tt.match(await read('evaluation_queries/get_inference_evaluation_human_feedback.sql', { metric_name: 'helpful', datapoint_id: dpA, output }),
    [{ value: 'true', evaluator_inference_id: judge }], 'a verdict on an evaluation inference (output kept in memory)')
  tt.same(await read('evaluation_queries/get_inference_evaluation_human_feedback.sql', { metric_name: 'helpful', datapoint_id: dpB, output }), [])
  const [stored] = await s.ch.query<{ output: string }>(`SELECT output FROM ChatInference WHERE id = '${sources[1]}'`, { database: s.db })
  tt.match(await read('evaluation_queries/get_inference_evaluation_human_feedback.sql', { metric_name: 'rating', datapoint_id: dpB, output: stored.output }),
    [{ value: '1', evaluator_inference_id: judge }], 'a verdict on another inference (output read back from ClickHouse)')
  tt.same(await s.ch.query(`SELECT count() AS n FROM StaticEvaluationHumanFeedback`, { database: s.db }), [{ n: '2' }], 'evaluator feedback without the human tag adds no row')
})

t.test('a person\'s verdict on a served inference: /feedback replies while the read of its output is held; the StaticEvaluationHumanFeedback row follows the read, and a failed read loses only that row', async tt => {
  // A second sidecar on the same database, its ClickHouse behind a proxy that can hold one read.
  const fault = await startFaultProxy({ origin: s.ch.origin, database: s.db })
  const served = await startCli(['--config-file', s.configFile], { TENSORZERO_CLICKHOUSE_URL: fault.url })
  tt.teardown(async () => { served.child.kill('SIGTERM'); await served.exited; await fault.close() })
  const client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: 'x', maxRetries: 0 })
  const ids: string[] = []
  for (const content of ['Where is my parcel?', 'Change my address']) {
    ids.push((await client.chat.completions.create({ model: 'tensorzero::function_name::agent', messages: [{ role: 'user', content }] })).id)
  }
  await s.settled(`SELECT id FROM ChatInference WHERE id IN ['${ids[0]}', '${ids[1]}']`, 2)
  const verdict = async (inferenceId: string): Promise<string> => ((await client.post('/feedback', {
    body: { metric_name: 'rating', value: 3, inference_id: inferenceId, internal: true, tags: { 'tensorzero::human_feedback': 'true', 'tensorzero::datapoint_id': dpB, 'tensorzero::evaluator_inference_id': judge } }
  })) as { feedback_id: string }).feedback_id
  // The target is in this sidecar's memory without its output, so the output is read by id from ClickHouse.
  const readOf = (id: string): RegExp => new RegExp(`InferenceById WHERE id_uint = toUInt128\\(toUUID\\('${id}'\\)\\)`)

  // Events in order. Were the reply to wait for the read, it could only come once the read's client gave up (its
  // request timeout), and the read would never be seen held with its client waiting after the 200.
  const events: string[] = []
  const held = fault.holdQueries(readOf(ids[0]))
  const answered = await verdict(ids[0])
  events.push('200')
  await waitFor('the read of the output, held with its client waiting', async () => held.waiting() === 1 ? true : undefined)
  events.push('read held')
  held.release()
  const [row] = await s.settled<{ output: string; value: string }>(`SELECT output, value FROM StaticEvaluationHumanFeedback WHERE feedback_id = '${answered}'`)
  events.push('row')
  tt.same(events, ['200', 'read held', 'row'], 'the 200 arrives while the read is still held; the row once it returns')
  const [stored] = await s.ch.query<{ output: string }>(`SELECT output FROM ChatInference WHERE id = '${ids[0]}'`, { database: s.db })
  tt.same(row, { output: stored.output, value: '3' }, 'once the read returns, the row is written, keyed by the stored output')
  await s.settled(`SELECT id FROM FloatMetricFeedback WHERE id = '${answered}'`)

  const failing = fault.holdQueries(readOf(ids[1]))
  const lost = await verdict(ids[1])
  await waitFor('the second read, held', async () => failing.waiting() === 1 ? true : undefined)
  failing.fail()
  await waitFor('the warning', async () => served.output().includes(`feedback ${lost}: its StaticEvaluationHumanFeedback row is not written`) ? true : undefined)
  await s.settled(`SELECT id FROM FloatMetricFeedback WHERE id = '${lost}'`)
  tt.same(await s.ch.query(`SELECT count() AS n FROM StaticEvaluationHumanFeedback WHERE feedback_id = '${lost}'`, { database: s.db }), [{ n: '0' }],
    'a failed read loses only that row: the feedback row is in')
})

// Workflow evaluations through the sidecar's own POST /workflow_evaluation_run and POST /workflow_evaluation_run/{run_id}/episode
// (TensorZero's routes, at the root as TensorZero serves them): the runs pin `agent` to `backup` and tag `owner`; the
// episode ids come back dated TensorZero's offset in the future, and the inferences in them name neither variant nor
// tags: the sidecar applies the run's.
const root = new OpenAI({ baseURL: s.sidecar.url, apiKey: 'x', maxRetries: 0 })
const createRun = async (project: string | null, name: string): Promise<string> => ((await root.post('/workflow_evaluation_run', {
  body: { variants: { agent: 'backup' }, tags: { owner: 'ops' }, display_name: name, ...(project === null ? {} : { project_name: project }) }
})) as { run_id: string }).run_id
const createEpisode = async (runId: string, taskName: string | null): Promise<string> => ((await root.post(`/workflow_evaluation_run/${runId}/episode`, {
  body: taskName === null ? {} : { task_name: taskName }
})) as { episode_id: string }).episode_id

const wfRun = await createRun('checkout', 'nightly-agent')
const wfOther = await createRun(null, 'ad-hoc')
const wfEpisodes = [await createEpisode(wfRun, 'refund'), await createEpisode(wfRun, 'refund'), await createEpisode(wfRun, null)]
for (const episodeId of wfEpisodes) {
  await native({ function_name: 'agent', episode_id: episodeId, input: { messages: [{ role: 'user', content: [{ type: 'text', text: 'Refund order 7' }] }] } })
}
await s.feedback({ metric_name: 'task_success', value: true, episode_id: wfEpisodes[0] })
await s.feedback({ metric_name: 'task_success', value: false, episode_id: wfEpisodes[1] })
await s.feedback({ metric_name: 'episode_score', value: 0.25, episode_id: wfEpisodes[0] })
await s.feedback({ metric_name: 'episode_score', value: 0.75, episode_id: wfEpisodes[1] })
const lastComment = await s.feedback({ metric_name: 'comment', value: 'slow start', episode_id: wfEpisodes[2] })
await s.settled(`SELECT id FROM CommentFeedback WHERE id = '${lastComment}'`)
await s.settled(`SELECT id FROM FloatMetricFeedbackByTargetId WHERE target_id = '${wfEpisodes[1]}'`)
const wf = { limit: '10', offset: '0' }

t.test('workflow projects and runs: list, count, search and get read the run rows', async tt => {
  tt.match(await read('workflow_evaluation_queries/list_workflow_evaluation_projects.sql', wf), [{ name: 'checkout', count: 1, last_updated: DATE }])
  tt.same(await read('workflow_evaluation_queries/count_workflow_evaluation_projects.sql'), [{ count: 1 }])
  tt.same(await read('workflow_evaluation_queries/count_workflow_evaluation_runs.sql'), [{ count: 2 }])
  const run = { name: 'nightly-agent', id: wfRun, variant_pins: { agent: 'backup' }, tags: { owner: 'ops' }, project_name: 'checkout', timestamp: DATE }
  tt.match((await read('workflow_evaluation_queries/search_workflow_evaluation_runs--no-filter.sql', wf)).map(r => r.id).sort(), [wfRun, wfOther].sort())
  tt.match(await read('workflow_evaluation_queries/search_workflow_evaluation_runs--project-search.sql', { ...wf, project_name: 'checkout', search_query: 'NIGHTLY' }), [run])
  tt.match(await read('workflow_evaluation_queries/list_workflow_evaluation_runs--no-filter.sql', wf), [{ id: wfOther, project_name: null, num_episodes: 0 }, { ...run, num_episodes: 3 }])
  tt.match(await read('workflow_evaluation_queries/list_workflow_evaluation_runs--run-id.sql', { ...wf, run_id: wfRun }), [{ ...run, num_episodes: 3 }])
  tt.match(await read('workflow_evaluation_queries/list_workflow_evaluation_runs--project.sql', { ...wf, project_name: 'checkout' }), [{ id: wfRun }])
  tt.match(await read('workflow_evaluation_queries/get_workflow_evaluation_runs.sql', { run_ids: runIds(wfRun, wfOther) }), [{ id: wfOther, name: 'ad-hoc' }, run])
  tt.match(await read('workflow_evaluation_queries/get_workflow_evaluation_runs--project.sql', { run_ids: runIds(wfRun, wfOther), project_name: 'checkout' }), [run])
})

t.test('workflow run statistics aggregate the sidecar\'s episode feedback', async tt => {
  const stats = await read('workflow_evaluation_queries/get_workflow_evaluation_run_statistics.sql', { run_id: wfRun })
  tt.match(stats.sort((x, y) => x.metric_name.localeCompare(y.metric_name)), [
    { metric_name: 'episode_score', count: 2, avg_metric: 0.5, is_boolean: false },
    { metric_name: 'task_success', count: 2, avg_metric: 0.5, is_boolean: true }
  ])
  tt.ok(Math.abs(stats[0].stdev - Math.sqrt(0.125)) < 1e-6, 'sample stdev of 0.25 and 0.75')
  tt.match(await read('workflow_evaluation_queries/get_workflow_evaluation_run_statistics--metric.sql', { run_id: wfRun, metric_name: 'task_success' }),
    [{ metric_name: 'task_success', count: 2 }])
})

t.test('workflow episodes carry their feedback (float, boolean, comment) grouped by task name', async tt => {
  const grouped = await read('workflow_evaluation_queries/list_workflow_evaluation_run_episodes_by_task_name.sql', wf, { run_ids_str: `'${wfRun}'` })
  tt.equal(grouped.length, 3)
  const first = grouped.find(r => r.episode_id === wfEpisodes[0]) ?? {}
  tt.match(first, { group_key: 'refund', task_name: 'refund', run_id: wfRun, timestamp: DATE, tags: { owner: 'ops', 'tensorzero::workflow_evaluation_run_id': wfRun } })
  tt.same([first.feedback_metric_names, first.feedback_values], [['episode_score', 'task_success'], ['0.25', 'true']])
  const untitled = grouped.find(r => r.episode_id === wfEpisodes[2])
  tt.match(untitled, { task_name: null, group_key: /^NULL_EPISODE_\d+$/, feedback_metric_names: ['comment'], feedback_values: ['slow start'] })
  tt.same(await read('workflow_evaluation_queries/count_workflow_evaluation_run_episodes_by_task_name.sql', {}, { run_ids_str: `'${wfRun}'` }), [{ count: 2 }])
  const episodes = await read('workflow_evaluation_queries/get_workflow_evaluation_run_episodes_with_feedback.sql', { ...wf, run_id: wfRun })
  // Ids made in one millisecond order at random (TensorZero's too): newest first means highest id first.
  tt.same(episodes.map(r => r.episode_id), [...wfEpisodes].sort().reverse(), 'newest episode first')
  const second = episodes.find(r => r.episode_id === wfEpisodes[1]) ?? {}
  tt.same(second.feedback_metric_names, ['episode_score', 'task_success'])
  tt.same(second.feedback_values, ['0.75', 'false'])
  tt.same(await read('workflow_evaluation_queries/count_workflow_evaluation_run_episodes.sql', { run_id: wfRun }), [{ count: 3 }])
})

t.test('the workflow run of an episode gives the variant pins and tags TensorZero applies to its inferences', async tt => {
  tt.same(await read('workflow_evaluation_queries/get_workflow_evaluation_run_by_episode_id.sql', { episode_id: wfEpisodes[0] }), [{
    variant_pins: { agent: 'backup' },
    tags: { owner: 'ops', 'tensorzero::dynamic_evaluation_run_id': wfRun, 'tensorzero::workflow_evaluation_run_id': wfRun }
  }])
  tt.match(await s.ch.query(`SELECT variant_name, tags FROM ChatInference WHERE episode_id = '${wfEpisodes[0]}'`, { database: s.db }),
    [{ variant_name: 'backup', tags: { owner: 'ops', 'tensorzero::workflow_evaluation_run_id': wfRun, 'tensorzero::variant_pinned': 'backup' } }],
    'the sidecar inference in that episode took the run\'s pin and tags')
  tt.same(await s.ch.query(`SELECT toString(snapshot_hash) AS hash FROM DynamicEvaluationRunEpisode WHERE run_id = '${wfRun}' LIMIT 1`, { database: s.db }),
    [{ hash: snap.hash }], 'rows carry the config snapshot hash, as TensorZero\'s do')
})
