// TensorZero's evaluations through a running sidecar on chdb, as TensorZero 7a6159a defines and serves them
// (evaluations/mod.rs, config/mod.rs, endpoints/feedback, endpoints/workflow_evaluation_run.rs): the evaluators of
// `[evaluations.*]` and `[functions.*.evaluators]` define metrics that take the evaluation runner's feedback with
// TensorZero's checks; workflow evaluation runs and episodes pin variants and tag the inferences made in them.
import t from 'tap'
import path from 'node:path'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import OpenAI from 'openai'
import { v7 as uuidv7 } from 'uuid'
import { startReadScenario } from './helpers/read-scenario.ts'
import { startCli } from './helpers/process.ts'
import { waitFor } from './helpers/wait.ts'
import { validateConfigFiles } from '../src/config/load.ts'
import { formatDiagnostic } from '../src/config/diagnostics.ts'

const s = await startReadScenario({ db: 'tz_evaluations' })
t.teardown(s.close)
// TensorZero serves the workflow routes at the root, not under /v1.
const root = new OpenAI({ baseURL: s.sidecar.url, apiKey: 'x', maxRetries: 0 })

const EXACT = 'tensorzero::evaluation_name::support-eval::evaluator_name::exact'
const JUDGE = 'tensorzero::evaluation_name::support-eval::evaluator_name::judge'
const POLITE = 'tensorzero::function_name::agent::evaluator_name::polite'

/** The status and message of a refused call (fails the test when the call succeeds). */
async function refusal (call: Promise<unknown>): Promise<{ status: number | undefined; message: string }> {
  try {
    await call
  } catch (err) {
    if (err instanceof OpenAI.APIError) return { status: err.status, message: String((err.error as { message?: string } | undefined)?.message) }
    throw err
  }
  throw new Error('the call was accepted')
}

const native = async (body: object): Promise<any> => {
  const res = await fetch(`${s.sidecar.url}/inference`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const json = await res.json()
  if (res.status !== 200) throw new Error(`POST /inference: ${res.status} ${JSON.stringify(json)}`)
  return json
}
const input = { messages: [{ role: 'user', content: [{ type: 'text', text: 'Where is my order?' }] }] }

t.test('evaluator feedback from TensorZero\'s evaluation runner is accepted and lands in TensorZero\'s feedback tables', async tt => {
  const { inference_id: inferenceId } = await native({ function_name: 'agent', input })
  const tags = { 'tensorzero::evaluation_run_id': uuidv7(), 'tensorzero::evaluation_name': 'support-eval' }
  const exact = await s.feedback({ metric_name: EXACT, value: true, inference_id: inferenceId, internal: true, tags })
  const judge = await s.feedback({ metric_name: JUDGE, value: 0.25, inference_id: inferenceId, internal: true, tags })
  const polite = await s.feedback({ metric_name: POLITE, value: false, inference_id: inferenceId, internal: true, tags })
  tt.match(await s.settled(`SELECT metric_name, value, toString(target_id) AS target FROM BooleanMetricFeedback WHERE id IN ['${exact}', '${polite}'] ORDER BY metric_name`, 2), [
    { metric_name: EXACT, value: true, target: inferenceId },
    { metric_name: POLITE, value: false, target: inferenceId }
  ], 'exact match and the function\'s regex evaluator: boolean rows')
  tt.match(await s.settled(`SELECT metric_name, value, tags FROM FloatMetricFeedback WHERE id = '${judge}'`), [
    { metric_name: JUDGE, value: 0.25, tags: { 'tensorzero::evaluation_name': 'support-eval', 'tensorzero::internal': 'true' } }
  ], 'the LLM judge\'s float verdict')
})

t.test('evaluator metrics refuse a wrong value type and a wrong level with TensorZero\'s messages', async tt => {
  const { inference_id: inferenceId, episode_id: episodeId } = await native({ function_name: 'agent', input })
  tt.same(await refusal(s.feedback({ metric_name: EXACT, value: 1, inference_id: inferenceId })),
    { status: 400, message: `Feedback value for metric \`${EXACT}\` must be a boolean` })
  tt.same(await refusal(s.feedback({ metric_name: JUDGE, value: true, inference_id: inferenceId })),
    { status: 400, message: `Feedback value for metric \`${JUDGE}\` must be a number` })
  tt.same(await refusal(s.feedback({ metric_name: JUDGE, value: 0.5, episode_id: episodeId })),
    { status: 400, message: 'Correct ID was not provided for feedback level "inference".' }, 'evaluator metrics are inference-level')
  const unknown = 'tensorzero::evaluation_name::support-eval::evaluator_name::nope'
  tt.same(await refusal(s.feedback({ metric_name: unknown, value: true, inference_id: inferenceId })), { status: 404, message: `Unknown metric: ${unknown}` })
})

const run = async (body: object): Promise<string> => ((await root.post('/workflow_evaluation_run', { body })) as { run_id: string }).run_id
const episode = async (runId: string, body: object = {}): Promise<string> =>
  ((await root.post(`/workflow_evaluation_run/${runId}/episode`, { body })) as { episode_id: string }).episode_id
/** The ms a UUIDv7 carries. */
const idMs = (id: string): number => parseInt(id.slice(0, 8) + id.slice(9, 13), 16)

t.test('a workflow run pins its variants and tags every inference of its episodes (native and chat completions)', async tt => {
  const runId = await run({ variants: { agent: 'backup' }, tags: { team: 'ops', shared: 'run' }, project_name: 'support', display_name: 'pins' })
  const episodeId = await episode(runId, { task_name: 'refund', tags: { shared: 'episode' } })
  // TensorZero dates them 10^10 s ahead (generate_workflow_evaluation_run_episode_id).
  tt.ok(idMs(episodeId) - Date.now() > 9_999_000_000_000, 'the episode id is dated TensorZero\'s offset in the future')
  const plain = await native({ function_name: 'agent', episode_id: episodeId, input, tags: { shared: 'request' } })
  tt.equal(plain.variant_name, 'backup', 'the run\'s pin')
  const pinned = await native({ function_name: 'agent', variant_name: 'main', episode_id: episodeId, input })
  tt.equal(pinned.variant_name, 'main', 'a variant the request names wins over the run\'s pin')
  const { data, response } = await s.client.chat.completions.create({
    model: 'tensorzero::function_name::agent', messages: [{ role: 'user', content: 'hi' }], 'tensorzero::episode_id': episodeId
  } as any).withResponse()
  tt.equal(response.headers.get('x-tensorzero-variant'), 'backup', 'chat completions take the pin too')
  tt.equal(response.headers.get('x-tensorzero-episode-id'), episodeId)
  const rows = await s.settled<{ id: string; variant_name: string; tags: Record<string, string> }>(
    `SELECT toString(id) AS id, variant_name, tags FROM ChatInference WHERE episode_id = '${episodeId}'`, 3)
  const byId = new Map(rows.map(r => [r.id, r]))
  tt.match(byId.get(plain.inference_id), {
    variant_name: 'backup',
    tags: { team: 'ops', shared: 'request', 'tensorzero::workflow_evaluation_run_id': runId, 'tensorzero::dynamic_evaluation_run_id': runId, 'tensorzero::variant_pinned': 'backup' }
  }, 'run and episode tags, the request\'s own winning')
  tt.match(byId.get(data.id), { variant_name: 'backup', tags: { shared: 'episode', team: 'ops' } })
  tt.match(await s.settled(`SELECT toString(run_id) AS run_id, datapoint_name, variant_pins, tags FROM DynamicEvaluationRunEpisode
    WHERE episode_id_uint = toUInt128(toUUID('${episodeId}'))`), [{
    run_id: runId, datapoint_name: 'refund', variant_pins: { agent: 'backup' },
    tags: { team: 'ops', shared: 'episode', 'tensorzero::workflow_evaluation_run_id': runId, 'tensorzero::dynamic_evaluation_run_id': runId }
  }], 'the episode row, as TensorZero\'s INSERT … SELECT writes it')
  tt.match(await s.settled(`SELECT project_name, run_display_name, variant_pins FROM DynamicEvaluationRun WHERE run_id_uint = toUInt128(toUUID('${runId}'))`),
    [{ project_name: 'support', run_display_name: 'pins', variant_pins: { agent: 'backup' } }])
  // Feedback on the episode: its id is old enough at once (TensorZero counts its age without the offset).
  const fb = await s.feedback({ metric_name: 'task_success', value: true, episode_id: episodeId })
  tt.match(await s.settled(`SELECT toString(target_id) AS target FROM BooleanMetricFeedback WHERE id = '${fb}'`), [{ target: episodeId }])
})

t.test('runs and episodes a TensorZero gateway wrote to the same ClickHouse are read from it', async tt => {
  const runId = uuidv7()
  const episodeId = uuidv7({ msecs: Date.now() + 10_000_000_000_000 })
  // insert_workflow_evaluation_run and insert_workflow_evaluation_run_episode, as TensorZero runs them.
  await s.ch.query(`INSERT INTO DynamicEvaluationRun (run_id_uint, variant_pins, tags, project_name, run_display_name, snapshot_hash)
    VALUES (toUInt128({run_id:UUID}), {variant_pins:Map(String, String)}, {tags:Map(String, String)}, NULL, NULL, NULL)`,
  { database: s.db, params: { run_id: runId, variant_pins: "{'agent':'backup'}", tags: "{'origin':'gateway'}" } })
  await s.ch.query(`INSERT INTO DynamicEvaluationRunEpisode (run_id, episode_id_uint, variant_pins, datapoint_name, tags, snapshot_hash)
    SELECT {run_id:UUID}, toUInt128({episode_id:UUID}), variant_pins, NULL, mapUpdate(tags, {tags:Map(String, String)}), NULL
    FROM DynamicEvaluationRun WHERE run_id_uint = toUInt128({run_id:UUID})`,
  { database: s.db, params: { run_id: runId, episode_id: episodeId, tags: `{'tensorzero::workflow_evaluation_run_id':'${runId}'}` } })
  const answer = await native({ function_name: 'agent', episode_id: episodeId, input })
  tt.equal(answer.variant_name, 'backup', 'the pin of an episode this process never saw')
  const [row] = await s.settled<{ tags: Record<string, string> }>(`SELECT tags FROM ChatInference WHERE id = '${answer.inference_id as string}'`)
  tt.match(row.tags, { origin: 'gateway', 'tensorzero::workflow_evaluation_run_id': runId })
  const ours = await episode(runId, { task_name: 'from-sidecar' })
  tt.match(await s.settled(`SELECT variant_pins, tags FROM DynamicEvaluationRunEpisode WHERE episode_id_uint = toUInt128(toUUID('${ours}'))`),
    [{ variant_pins: { agent: 'backup' }, tags: { origin: 'gateway', 'tensorzero::workflow_evaluation_run_id': runId } }],
    'an episode of a run read from ClickHouse')
})

t.test('workflow evaluation mistakes are 4xx with TensorZero\'s messages', async tt => {
  tt.same(await refusal(run({ variants: { nowhere: 'main' } })), { status: 404, message: 'Unknown function: nowhere' })
  tt.same(await refusal(run({ variants: { agent: 'gone' } })), { status: 400, message: 'Variant gone for function agent not found.' })
  tt.same(await refusal(run({ variants: {}, tags: { 'tensorzero::x': '1' } })), { status: 400, message: "Tag name cannot start with 'tensorzero::': tensorzero::x" })
  tt.match(await run({ variants: {}, tags: { 'tensorzero::x': '1' }, internal: true }), /^[0-9a-f-]{36}$/, 'internal runs may carry tensorzero:: tags')
  tt.match(await refusal(run({ tags: {} })), { status: 400, message: /missing field `variants`/ })
  tt.match(await refusal(run({ variants: { agent: 3 } })), { status: 400, message: /variants\.agent/ })
  const runId = await run({ variants: {} })
  tt.same(await refusal(episode(runId, { tags: { 'tensorzero::y': '1' } })), { status: 400, message: "Tag name cannot start with 'tensorzero::': tensorzero::y" })
  const missing = uuidv7()
  tt.same(await refusal(episode(missing)), { status: 404, message: `Workflow evaluation run not found: ${missing}` })
  tt.match(await refusal(episode('not-a-uuid')), { status: 400, message: /run_id/ })
  const stray = uuidv7({ msecs: Date.now() + 10_000_000_000_000 })
  tt.same(await refusal(s.client.chat.completions.create({ model: 'tensorzero::function_name::agent', messages: [{ role: 'user', content: 'x' }], 'tensorzero::episode_id': stray } as any)),
    { status: 400, message: `Workflow evaluation run not found for episode id: ${stray}` }, 'a future-dated episode id no run issued')
  const future = uuidv7({ msecs: Date.now() + 86_400_000 })
  tt.match(await refusal(s.client.chat.completions.create({ model: 'tensorzero::function_name::agent', messages: [{ role: 'user', content: 'x' }], 'tensorzero::episode_id': future } as any)),
    { status: 400, message: /Timestamp is in the future/ }, 'an id dated tomorrow is still refused')
})

t.test('without ClickHouse a run, its episode and their inference work in one process; the rows wait in the spool', async tt => {
  const spool = await mkdtemp(path.join(tmpdir(), 'tz-eval-spool-'))
  const alone = await startCli(['--config-file', s.configFile], { TENSORZERO_CLICKHOUSE_URL: '', SIDECAR_SPOOL_DIR: spool })
  tt.teardown(async () => { alone.child.kill('SIGTERM'); await alone.exited; await rm(spool, { recursive: true, force: true }) })
  const client = new OpenAI({ baseURL: alone.url, apiKey: 'x', maxRetries: 0 })
  const { run_id: runId } = await client.post('/workflow_evaluation_run', { body: { variants: { agent: 'backup' } } }) as { run_id: string }
  const { episode_id: episodeId } = await client.post(`/workflow_evaluation_run/${runId}/episode`, { body: {} }) as { episode_id: string }
  const { response } = await new OpenAI({ baseURL: `${alone.url}/v1`, apiKey: 'x', maxRetries: 0 }).chat.completions.create({
    model: 'tensorzero::function_name::agent', messages: [{ role: 'user', content: 'hi' }], 'tensorzero::episode_id': episodeId
  } as any).withResponse()
  tt.equal(response.headers.get('x-tensorzero-variant'), 'backup')
  const spooled = await waitFor('workflow rows in the spool', async () => {
    const files = await readdir(spool, { recursive: true })
    let text = ''
    for (const f of files) text += await readFile(path.join(spool, f), 'utf8').catch(() => '')
    return text.includes('"DynamicEvaluationRunEpisode"') && text.includes('"DynamicEvaluationRun"') ? text : undefined
  })
  tt.match(spooled, new RegExp(`"run_id":"${runId}"`), 'the episode row names its run')
})

t.test('config: evaluators define TensorZero\'s metrics, and their mistakes are errors at their line', async tt => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-eval-config-'))
  tt.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const validate = async (toml: string): Promise<{ lines: string[]; metrics?: Map<string, unknown> }> => {
    const file = path.join(dir, 'tensorzero.toml')
    await writeFile(file, toml)
    const result = await validateConfigFiles({ configFile: file, env: {} })
    return { lines: result.diagnostics.map(d => formatDiagnostic(d).slice(file.length + 1)), metrics: result.config?.tensorzero.metrics }
  }
  const fn = '[functions.f]\ntype = "chat"\n[functions.f.variants.v]\ntype = "chat_completion"\nmodel = "dummy::good"\n'
  // TensorZero reads `typescript_file` at load: it must exist.
  await writeFile(path.join(dir, 'score.ts'), 'export default function score (): number { return 1 }\n')
  const ok = await validate(`${fn}[functions.f.evaluators.uses_tool]
type = "tool_use"
behavior = "any"
[functions.f.evaluators.score]
type = "typescript"
typescript_file = "score.ts"
output_type = "float"
optimize = "min"
[evaluations.e]
type = "static"
function_name = "f"
[evaluations.e.evaluators.judge]
type = "llm_judge"
output_type = "boolean"
optimize = "max"
variants = {}
`)
  tt.same(ok.lines, [])
  tt.match(ok.metrics?.get('tensorzero::function_name::f::evaluator_name::uses_tool'), { type: 'boolean', optimize: 'max', level: 'inference' })
  tt.match(ok.metrics?.get('tensorzero::function_name::f::evaluator_name::score'), { type: 'float', optimize: 'min', level: 'inference' })
  tt.match(ok.metrics?.get('tensorzero::evaluation_name::e::evaluator_name::judge'), { type: 'boolean', optimize: 'max', level: 'inference' })
  const bad = await validate(`${fn}[evaluations.e]
type = "inference"
function_name = "missing"
[evaluations.g]
type = "inference"
function_name = "f"
[evaluations.g.evaluators."a::b"]
type = "exact_match"
[evaluations.g.evaluators.judge]
type = "llm_judge"
output_type = "text"
optimize = "max"
[evaluations.g.evaluators.tools]
type = "tool_use"
behavior = "any_of"
tools = []
[evaluations.g.evaluators.pattern]
type = "regex"
`)
  tt.same(bad.lines, [
    '8:1: Function `missing` not found (referenced in `[evaluations.e]`)',
    '12:27: Evaluator names cannot contain "::" (referenced in `[evaluations.g]`)',
    '16:1: `evaluations.g.evaluators.judge.output_type` must be one of "float", "boolean", got "text"',
    '18:27: Evaluator `tools` in `[evaluations.g]`: `tools` must be a non-empty list when behavior is `any_of`',
    '22:27: Evaluator `pattern` in `[evaluations.g]`: at least one of `must_match` or `must_not_match` must be specified'
  ])
})
