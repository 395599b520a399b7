// The inference-time variant types through the real `openai` client against a `tz-sidecar` process writing to a real
// ClickHouse engine (chdb): best-of-N sampling, mixture-of-N and chain-of-thought, with fake upstreams that answer
// differently per model so each test can tell which candidate won. Expected behaviour and rows follow TensorZero's
// tensorzero-core variant/best_of_n_sampling.rs, mixture_of_n.rs and chain_of_thought.rs (and their unit tests, e.g.
// `test_select_best_candidate`, `test_fuse_candidates`, `test_parse_thinking_output`, minijinja_util.rs
// `test_hardcoded_best_of_n_evaluator_system` / `..._candidates`, `test_hardcoded_mixture_of_n_fuser_*`).
import t from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { startChdbServer } from './helpers/chdb-server.ts'
import type { ChdbServer } from './helpers/chdb-server.ts'
import { startCli } from './helpers/process.ts'
import type { ServingSidecar } from './helpers/process.ts'
import { startFakeOpenAI, scriptAnswer } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { fakeModel } from './helpers/toml.ts'
import { waitFor } from './helpers/wait.ts'
import { startOtlpReceiver } from './helpers/otlp.ts'
import { validateConfigFiles } from '../src/config/load.ts'
import { checkTemplates } from '../src/variant/templates/check.ts'
import { formatDiagnostic } from '../src/config/diagnostics.ts'

const OUTPUT_SCHEMA = {
  type: 'object',
  properties: { answer: { type: 'string' }, confidence: { type: 'number' } },
  required: ['answer', 'confidence'],
  additionalProperties: false
}

scriptAnswer('cand-a', { content: 'Answer A' })
scriptAnswer('cand-b', { content: 'Answer B' })
scriptAnswer('eval-pick-1', { content: '{"thinking":"B is more precise","answer_choice":1}' })
scriptAnswer('eval-out-of-range', { content: '{"thinking":"none fits","answer_choice":7}' })
scriptAnswer('fuser-ok', { content: 'Fused: A and B' })
scriptAnswer('cot-json', { content: '{"thinking":"Paris is the capital of France","response":{"answer":"Paris","confidence":0.9}}' })
scriptAnswer('json-a', { content: '{"answer":"Lyon","confidence":0.2}' })

const toml = (fake: string): string => `
[gateway.observability.batch_writes]
flush_interval_ms = 50
max_rows = 100
${fakeModel(fake, 'm_a', [['up', 'cand-a']])}
${fakeModel(fake, 'm_b', [['up', 'cand-b']])}
${fakeModel(fake, 'm_slow', [['up', 'slow-20000']])}
${fakeModel(fake, 'm_eval', [['up', 'eval-pick-1']])}
${fakeModel(fake, 'm_eval_wild', [['up', 'eval-out-of-range']])}
${fakeModel(fake, 'm_broken', [['up', 'error-500']])}
${fakeModel(fake, 'm_fuser', [['up', 'fuser-ok']])}
${fakeModel(fake, 'm_cot', [['up', 'cot-json']])}
${fakeModel(fake, 'm_json_a', [['up', 'json-a']])}
${fakeModel(fake, 'm_hang', [['up', 'hang']])}

[functions.pick]
type = "chat"
[functions.pick.variants.a]
type = "chat_completion"
model = "m_a"
temperature = 0.3
[functions.pick.variants.b]
type = "chat_completion"
model = "m_b"
temperature = 0.7
[functions.pick.variants.slow]
type = "chat_completion"
model = "m_slow"
timeouts = { non_streaming = { total_ms = 400 }, streaming = { ttft_ms = 400 } }

[functions.pick.variants.bon]
type = "experimental_best_of_n_sampling"
candidates = ["a", "b"]
[functions.pick.variants.bon.evaluator]
model = "m_eval"
temperature = 0.1
[functions.pick.variants.bon_broken_evaluator]
type = "experimental_best_of_n_sampling"
candidates = ["a", "b"]
evaluator = { model = "m_broken" }
[functions.pick.variants.bon_wild_evaluator]
type = "experimental_best_of_n_sampling"
candidates = ["a", "b"]
evaluator = { model = "m_eval_wild" }
[functions.pick.variants.bon_slow_candidate]
type = "experimental_best_of_n_sampling"
candidates = ["a", "slow", "b"]
evaluator = { model = "m_eval" }
[functions.pick.variants.bon_one_left]
type = "experimental_best_of_n_sampling"
candidates = ["slow", "b"]
evaluator = { model = "m_eval" }

[functions.pick.variants.bon_none_left]
type = "experimental_best_of_n_sampling"
candidates = ["slow", "slow"]
evaluator = { model = "m_eval" }

[functions.pick.variants.hanging]
type = "chat_completion"
model = "m_hang"
[functions.pick.variants.bon_hanging]
type = "experimental_best_of_n_sampling"
candidates = ["hanging", "hanging", "a"]
evaluator = { model = "m_eval" }

[functions.pick.variants.mon]
type = "experimental_mixture_of_n"
candidates = ["a", "b"]
fuser = { model = "m_fuser" }
[functions.pick.variants.mon_broken_fuser]
type = "experimental_mixture_of_n"
candidates = ["a", "b"]
fuser = { model = "m_broken" }

[functions.extract]
type = "json"
output_schema = "output.json"
[functions.extract.variants.cot]
type = "experimental_chain_of_thought"
model = "m_cot"
json_mode = "strict"
[functions.extract.variants.plain]
type = "chat_completion"
model = "m_json_a"
json_mode = "strict"
[functions.extract.variants.bon_json]
type = "experimental_best_of_n_sampling"
candidates = ["plain", "cot"]
evaluator = { model = "m_eval" }
`

let ch: ChdbServer
let fake: FakeOpenAI
let dir: string
let sidecar: ServingSidecar
let client: OpenAI
let otlp: Awaited<ReturnType<typeof startOtlpReceiver>>

t.before(async () => {
  ch = await startChdbServer()
  fake = await startFakeOpenAI()
  dir = await mkdtemp(path.join(tmpdir(), 'tz-inference-time-'))
  await writeFile(path.join(dir, 'tensorzero.toml'), toml(fake.url))
  await writeFile(path.join(dir, 'output.json'), JSON.stringify(OUTPUT_SCHEMA))
  otlp = await startOtlpReceiver()
  sidecar = await startCli(['--config-file', path.join(dir, 'tensorzero.toml')],
    { TENSORZERO_CLICKHOUSE_URL: ch.url, OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_BSP_SCHEDULE_DELAY: '100' })
  client = new OpenAI({ baseURL: `${sidecar.url}/v1`, apiKey: 'x', maxRetries: 0 })
})

t.teardown(async () => {
  sidecar?.child.kill('SIGTERM')
  await sidecar?.exited
  await fake.close()
  await otlp?.close()
  await ch.close()
  await rm(dir, { recursive: true, force: true })
})

const question = [{ role: 'system' as const, content: 'You answer geography questions.' }, { role: 'user' as const, content: 'Which city?' }]

async function ask (variant: string, extra: Record<string, unknown> = {}, fn = 'pick', signal?: AbortSignal): Promise<any> {
  return await client.chat.completions.create({ model: `tensorzero::function_name::${fn}`, messages: question, 'tensorzero::variant_name': variant, ...extra } as any, { signal })
}

async function rowsOf (table: string, where: string, n: number): Promise<any[]> {
  return await waitFor(`${n} ${table} rows`, async () => {
    const rows = await ch.query<any>(`SELECT * FROM ${table} WHERE ${where}`)
    return rows.length === n ? rows : undefined
  })
}

const lastBody = (model: string): any => fake.requestsFor(model).at(-1)?.body

t.test('best-of-N answers with the candidate the evaluator chose, after showing it every candidate as TensorZero prompts it', async t => {
  const res = await ask('bon')
  t.equal(res.choices[0].message.content, 'Answer B', 'the evaluator answered answer_choice 1: the second candidate')
  t.equal(res.model, 'tensorzero::function_name::pick::variant_name::bon')
  const evaluator = lastBody('eval-pick-1')
  // minijinja_util.rs test_hardcoded_best_of_n_evaluator_system / _candidates: the exact texts.
  t.equal(evaluator.messages[0].role, 'system')
  t.equal(evaluator.messages[0].content, 'You are an assistant tasked with re-ranking candidate answers to the following problem:\n------\n' +
    'You answer geography questions.\n------\nThe messages below are the conversation history between the user and the assistant along with a final' +
    ' message giving a set of candidate responses.\nPlease evaluate the following candidate responses and provide your reasoning along with the' +
    ' index of the best candidate in the following JSON format:\n{\n    "thinking": "your reasoning here",\n    "answer_choice": int  // Range: 0 to 1\n}\n' +
    'In the "thinking" block:\nFirst, you should analyze each response itself against the conversation history and determine if it is a good' +
    ' response or not.\nThen you should think out loud about which is best and most faithful to instructions.\nIn the "answer_choice" block: you' +
    ' should output the index of the best response.')
  t.same(evaluator.messages[1], { role: 'user', content: 'Which city?' })
  t.equal(evaluator.messages[2].content, 'Here are the candidate answers (with the index and a row of ------ separating):\n' +
    '0: [{"type":"text","text":"Answer A"}]\n------\n1: [{"type":"text","text":"Answer B"}]\n------\n' +
    'Please evaluate these candidates and provide the index of the best one.')
  t.equal(evaluator.temperature, 0.1, "the evaluator's own sampling parameters")
  t.equal(evaluator.response_format?.type, 'json_schema', 'json_mode strict by default, with the evaluator output schema')
  t.same(evaluator.response_format.json_schema.schema.required, ['thinking', 'answer_choice'])
  t.equal(lastBody('cand-a').stream, undefined, 'candidates run non-streaming')

  // Rows: the ChatInference row is the chosen candidate's (its inference params), under the best-of-N variant; every
  // model call (both candidates, the evaluator) is a ModelInference row of the one inference (best_of_n_sampling.rs
  // select_best_candidate: the chosen result's model inferences, then the others', then the evaluator's).
  const [row] = await rowsOf('ChatInference', `id = '${res.id}'`, 1)
  t.equal(row.function_name, 'pick')
  t.equal(row.variant_name, 'bon')
  t.same(JSON.parse(row.output), [{ type: 'text', text: 'Answer B' }])
  t.same(JSON.parse(row.inference_params), { chat_completion: { temperature: 0.7 } }, "the chosen candidate's own parameters")
  t.ok(row.processing_time_ms !== null)
  t.equal(row.ttft_ms, null)
  const models = await rowsOf('ModelInference', `inference_id = '${res.id}'`, 3)
  t.same(models.map(m => m.model_name).sort(), ['m_a', 'm_b', 'm_eval'])
  t.ok(models.every(m => m.function_name === 'pick' && m.variant_name === 'bon' && m.model_provider_name === 'up'), 'all under the best-of-N variant')
  const evalRow = models.find(m => m.model_name === 'm_eval')
  t.match(evalRow.system, /^You are an assistant tasked with re-ranking/)
  t.match(JSON.parse(evalRow.output)[0].text, /"answer_choice":1/)
  t.equal(JSON.parse(evalRow.input_messages).length, 2, 'the conversation and the candidates message')
  t.equal(res.usage.prompt_tokens, 33, 'usage sums every model call (11 each)')
})

t.test('best-of-N whose evaluator fails (HTTP 500) or answers out of range still answers with one of the candidates', async t => {
  const seen = new Set<string>()
  for (let i = 0; i < 8; i++) {
    for (const variant of ['bon_broken_evaluator', 'bon_wild_evaluator']) {
      const res = await ask(variant)
      t.ok(['Answer A', 'Answer B'].includes(res.choices[0].message.content), `${variant}: a candidate's answer`)
      seen.add(res.choices[0].message.content)
    }
  }
  // Called at first; once its provider's circuit opens it is skipped, which fails the evaluator all the same.
  t.ok(fake.requestsFor('error-500').length >= 1, 'the broken evaluator was called')
  const res = await ask('bon_wild_evaluator')
  const models = await rowsOf('ModelInference', `inference_id = '${res.id}'`, 3)
  t.ok(models.some(m => m.model_name === 'm_eval_wild'), 'an evaluator that answered is stored even when its choice was unusable')
  const broken = await ask('bon_broken_evaluator')
  const brokenModels = await rowsOf('ModelInference', `inference_id = '${broken.id}'`, 2)
  t.same(brokenModels.map(m => m.model_name).sort(), ['m_a', 'm_b'], 'a failed evaluator call leaves no row')
  // TensorZero logs the evaluator's failure as a warning; so does the sidecar (one JSON line each).
  const warned = sidecar.output().split('\n').filter(l => l.includes('"level":"warn"') && l.includes('the evaluator of variant `bon_broken_evaluator` failed'))
  t.ok(warned.length >= 1, 'the evaluator\'s failure is a warning in the log')
  t.comment(`answers seen: ${[...seen].join(', ')}`)
})

t.test('best-of-N skips a candidate that times out; with one candidate left the evaluator is not asked', async t => {
  const before = fake.requestsFor('eval-pick-1').length
  const res = await ask('bon_slow_candidate')
  t.equal(res.choices[0].message.content, 'Answer B', 'index 1 of the two candidates that answered')
  t.match(lastBody('eval-pick-1').messages.at(-1).content, /^Here are the candidate answers[^]*0: \[\{"type":"text","text":"Answer A"\}\][^]*1: \[\{"type":"text","text":"Answer B"\}\][^]*$/)
  t.notMatch(lastBody('eval-pick-1').messages.at(-1).content, /slow/, 'the timed-out candidate is not shown')
  t.equal(fake.requestsFor('eval-pick-1').length, before + 1)
  const one = await ask('bon_one_left')
  t.equal(one.choices[0].message.content, 'Answer B')
  t.equal(fake.requestsFor('eval-pick-1').length, before + 1, 'no evaluator call for a single candidate')
  const models = await rowsOf('ModelInference', `inference_id = '${one.id}'`, 1)
  t.equal(models[0].model_name, 'm_b')
  const none = await fetch(`${sidecar.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tensorzero::function_name::pick', messages: question, 'tensorzero::variant_name': 'bon_none_left' })
  })
  t.equal(none.status, 502, 'no candidate answering: TensorZero\'s AllCandidatesFailed')
  t.match((await none.json()).error.message, /^All candidates failed with errors: candidates\[0\] \(slow\): variant `slow` timed out after 400 ms\ncandidates\[1\] \(slow\)/)
})

t.test('TensorZero\'s native /inference: best-of-N answers with the chosen content and the evaluator\'s raw answer as original_response', async t => {
  const post = async (body: object): Promise<any> => await (await fetch(`${sidecar.url}/inference`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body)
  })).json()
  const input = { system: 'You answer geography questions.', messages: [{ role: 'user', content: 'Which city?' }] }
  const chosen = await post({ function_name: 'pick', variant_name: 'bon', input, include_original_response: true })
  t.equal(chosen.variant_name, 'bon')
  t.same(chosen.content, [{ type: 'text', text: 'Answer B' }])
  t.match(JSON.parse(chosen.original_response).choices[0].message.content, /"answer_choice":1/, "best_of_n_sampling.rs: the evaluator's response")
  const random = await post({ function_name: 'pick', variant_name: 'bon_broken_evaluator', input, include_original_response: true })
  t.equal(random.original_response, undefined, 'none when the evaluator failed')
})

t.test('a client that goes away cancels every candidate still running', async t => {
  const controller = new AbortController()
  const pending = ask('bon_hanging', {}, 'pick', controller.signal).catch((err: Error) => err)
  await waitFor('both hanging candidates called', async () => fake.requestsFor('hang').length >= 2 ? true : undefined)
  controller.abort()
  t.type(await pending, Error, 'the client sees its own abort')
  await t.resolves(waitFor('both upstream calls dropped', async () => fake.abandonedFor('hang') >= 2 ? true : undefined), 'the sidecar closed both calls')
})

t.test('streaming best-of-N streams the chosen answer once selected (TensorZero fakes the stream from it)', async t => {
  const stream = await client.chat.completions.create({ model: 'tensorzero::function_name::pick', messages: question, stream: true,
    stream_options: { include_usage: true }, 'tensorzero::variant_name': 'bon' } as any) as any
  let text = ''
  let id = ''
  let finish: string | null = null
  let usage: any
  let role: string | undefined
  for await (const chunk of stream) {
    id = chunk.id
    role ??= chunk.choices[0]?.delta?.role
    text += chunk.choices[0]?.delta?.content ?? ''
    finish = chunk.choices[0]?.finish_reason ?? finish
    usage = chunk.usage ?? usage
  }
  t.equal(text, 'Answer B')
  t.equal(role, 'assistant')
  t.equal(finish, 'stop')
  t.equal(usage.prompt_tokens, 11, "the chosen answer's own usage, as TensorZero's faked chunk carries")
  t.equal(lastBody('cand-b').stream, undefined, 'candidates were not streamed')
  const [row] = await rowsOf('ChatInference', `id = '${id}'`, 1)
  t.equal(row.variant_name, 'bon')
  t.ok(row.ttft_ms !== null, 'a stream has a time to first chunk')
  await rowsOf('ModelInference', `inference_id = '${id}'`, 3)
})

t.test('mixture-of-N sends every candidate to the fuser and answers with the fused text; streaming streams the fuser', async t => {
  const res = await ask('mon')
  t.equal(res.choices[0].message.content, 'Fused: A and B')
  const fuser = lastBody('fuser-ok')
  // minijinja_util.rs test_hardcoded_mixture_of_n_fuser_system / _candidates.
  t.match(fuser.messages[0].content, /^You have been provided with a set of responses from various models to the following problem:\n------\nYou answer geography questions\.\n------\nYour task is to synthesize these responses/)
  t.equal(fuser.messages.at(-1).content, 'Here are the candidate answers (with the index and a row of ------ separating):\n' +
    '0:\n[{"type":"text","text":"Answer A"}]\n------\n1:\n[{"type":"text","text":"Answer B"}]\n------')
  const [row] = await rowsOf('ChatInference', `id = '${res.id}'`, 1)
  t.equal(row.variant_name, 'mon')
  t.same(JSON.parse(row.output), [{ type: 'text', text: 'Fused: A and B' }])
  t.same(JSON.parse(row.inference_params), { chat_completion: {} }, 'TensorZero fuses with default inference params')
  const models = await rowsOf('ModelInference', `inference_id = '${res.id}'`, 3)
  t.same(models.map(m => m.model_name).sort(), ['m_a', 'm_b', 'm_fuser'])

  const stream = await client.chat.completions.create({ model: 'tensorzero::function_name::pick', messages: question, stream: true,
    'tensorzero::variant_name': 'mon' } as any) as any
  let text = ''
  let chunks = 0
  let id = ''
  for await (const chunk of stream) { text += chunk.choices[0]?.delta?.content ?? ''; chunks++; id = chunk.id }
  t.equal(text, 'Fused: A and B')
  t.ok(chunks > 2, 'the fuser\'s own chunks are forwarded')
  t.equal(lastBody('fuser-ok').stream, true, 'the fuser streams')
  await rowsOf('ModelInference', `inference_id = '${id}'`, 3)
})

t.test('mixture-of-N whose fuser fails answers with one of the candidates, as TensorZero does', async t => {
  for (let i = 0; i < 4; i++) {
    const res = await ask('mon_broken_fuser')
    t.ok(['Answer A', 'Answer B'].includes(res.choices[0].message.content))
  }
  const res = await ask('mon_broken_fuser')
  const [row] = await rowsOf('ChatInference', `id = '${res.id}'`, 1)
  t.ok(['{"chat_completion":{"temperature":0.3}}', '{"chat_completion":{"temperature":0.7}}'].includes(row.inference_params), "the picked candidate's params")
  await rowsOf('ModelInference', `inference_id = '${res.id}'`, 2)
})

t.test('chain-of-thought on a JSON function returns the output without the thinking, and stores the thinking apart', async t => {
  const res = await ask('cot', {}, 'extract')
  t.same(JSON.parse(res.choices[0].message.content), { answer: 'Paris', confidence: 0.9 })
  t.notMatch(res.choices[0].message.content, /thinking/)
  const sent = lastBody('cot-json')
  const schema = sent.response_format.json_schema.schema
  t.same(schema.required, ['thinking', 'response'], 'the model is asked for thinking and response')
  t.same(schema.properties.response, OUTPUT_SCHEMA, "the function's schema inside")
  // chain_of_thought.rs test_parse_thinking_output: parsed/raw become the response; the thinking goes to auxiliary content.
  const [row] = await rowsOf('JsonInference', `id = '${res.id}'`, 1)
  t.equal(row.variant_name, 'cot')
  t.same(JSON.parse(row.output), { raw: '{"answer":"Paris","confidence":0.9}', parsed: { answer: 'Paris', confidence: 0.9 } })
  t.same(JSON.parse(row.auxiliary_content), [{ type: 'thought', text: 'Paris is the capital of France' }])
  t.same(JSON.parse(row.output_schema), OUTPUT_SCHEMA, "the function's own output schema, not the wrapped one")
  const [model] = await rowsOf('ModelInference', `inference_id = '${res.id}'`, 1)
  t.match(model.output, /Paris is the capital of France/, 'the model call row keeps what the model said')

  const streamed = await fetch(`${sidecar.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tensorzero::function_name::extract', messages: question, stream: true, 'tensorzero::variant_name': 'cot' })
  })
  t.equal(streamed.status, 500, 'streaming is not supported by chain-of-thought (TensorZero: 500)')
  t.match((await streamed.json()).error.message, /Unsupported variant for streaming inference of type chain_of_thought/)
})

t.test('best-of-N on a JSON function shows the evaluator each candidate\'s raw JSON and answers with the chosen one', async t => {
  const res = await ask('bon_json', {}, 'extract')
  t.same(JSON.parse(res.choices[0].message.content), { answer: 'Paris', confidence: 0.9 }, 'candidate 1: the chain-of-thought answer, without its thinking')
  t.equal(lastBody('eval-pick-1').messages.at(-1).content, 'Here are the candidate answers (with the index and a row of ------ separating):\n' +
    '0: {"answer":"Lyon","confidence":0.2}\n------\n1: {"answer":"Paris","confidence":0.9}\n------\nPlease evaluate these candidates and provide the index of the best one.')
  const [row] = await rowsOf('JsonInference', `id = '${res.id}'`, 1)
  t.equal(row.variant_name, 'bon_json')
  t.same(JSON.parse(row.output), { raw: '{"answer":"Paris","confidence":0.9}', parsed: { answer: 'Paris', confidence: 0.9 } })
  t.same(JSON.parse(row.output_schema), OUTPUT_SCHEMA)
  await rowsOf('ModelInference', `inference_id = '${res.id}'`, 3)
})

t.test('metrics label each candidate\'s calls with its variant, and the evaluator\'s with the best-of-N variant', async t => {
  const text = await (await fetch(`${sidecar.url}/metrics`)).text()
  const attempts = text.split('\n').filter(l => l.startsWith('tz_sidecar_provider_attempts_total{'))
  const has = (variant: string, model: string, outcome: string): boolean =>
    attempts.some(l => l.includes(`variant="${variant}"`) && l.includes(`model="${model}"`) && l.includes(`outcome="${outcome}"`) && l.includes('function="pick"'))
  t.ok(has('a', 'm_a', 'ok') && has('b', 'm_b', 'ok'), 'candidates')
  t.ok(has('bon', 'm_eval', 'ok'), 'the selection step')
  t.ok(has('slow', 'm_slow', 'timeout'), 'the candidate that timed out')
  t.ok(has('mon', 'm_fuser', 'ok'), 'the fuser')
  t.ok(has('bon_broken_evaluator', 'm_broken', '5xx'), 'the evaluator that failed')
})

t.test('traces: the best-of-N variant span holds each candidate\'s span and the evaluation step, with the choice', async t => {
  const res = await ask('bon')
  const spans = await waitFor('the best-of-N spans', async () => {
    const inference = otlp.spans.find(s => s.name === 'function_inference' && s.attributes.inference_id === res.id)
    const trace = otlp.spans.filter(s => s.traceId === inference?.traceId)
    return trace.some(s => s.name === 'best_of_n_evaluation') && trace.filter(s => s.name === 'model_inference').length === 3 ? trace : undefined
  })
  const bon = spans.find(s => s.name === 'variant_inference' && s.attributes.variant_name === 'bon' && s.attributes['tensorzero.variant_type'] !== undefined)
  t.match(bon?.attributes, { 'tensorzero.variant_type': 'experimental_best_of_n_sampling', 'tensorzero.candidate_index': 1, 'tensorzero.selected_by': 'evaluator' })
  const children = spans.filter(s => s.parentSpanId === bon?.spanId)
  t.same(children.filter(s => s.name === 'variant_inference').map(s => s.attributes.variant_name).sort(), ['a', 'b'], 'one span per candidate')
  const evaluation = children.find(s => s.name === 'best_of_n_evaluation')
  t.match(evaluation?.attributes, { variant_name: 'bon', candidates: 2 })
  t.ok(spans.some(s => s.parentSpanId === evaluation?.spanId && s.name === 'variant_inference'), "the evaluator's model call under it")
})

t.test('config: the keys TensorZero accepts, and its errors at file:line:col', async t => {
  const cdir = await mkdtemp(path.join(tmpdir(), 'tz-itv-config-'))
  t.teardown(async () => { await rm(cdir, { recursive: true, force: true }) })
  const file = path.join(cdir, 'tensorzero.toml')
  await writeFile(file, `[functions.f]
type = "chat"
[functions.f.variants.a]
type = "chat_completion"
model = "dummy::good"
[functions.f.variants.bon]
type = "experimental_best_of_n_sampling"
candidates = ["a", "ghost"]
evaluator = { model = "dummy::good", timeouts = { non_streaming = { total_ms = 5 } } }
[functions.f.variants.mon]
type = "experimental_mixture_of_n"
candidates = ["a"]
[functions.f.variants.loop]
type = "experimental_mixture_of_n"
candidates = ["loop"]
fuser = { model = "dummy::good", weight = 1 }
[functions.f.variants.cot]
type = "experimental_chain_of_thought"
model = "dummy::good"
`)
  const bad = await validateConfigFiles({ configFile: file, checkTemplates })
  t.equal(bad.config, undefined)
  const lines = bad.diagnostics.filter(d => d.severity === 'error').map(d => formatDiagnostic(d))
  t.match(lines.join('\n'), new RegExp(`${file}:8:20: candidate \`ghost\` of variant \`bon\` is not a variant of function \`f\``))
  t.match(lines.join('\n'), new RegExp(`${file}:9:38: unknown key \`timeouts\` in \`functions.f.variants.bon.evaluator\``))
  t.match(lines.join('\n'), new RegExp(`${file}:10:23: \`functions.f.variants.mon\` is missing the required key \`fuser\``))
  t.match(lines.join('\n'), new RegExp(`${file}:15:1: variant \`loop\` of function \`f\` runs itself through its candidates`))
  t.match(lines.join('\n'), new RegExp(`${file}:18:1: variant \`cot\` of function \`f\` has type "experimental_chain_of_thought", which only JSON functions`))
  t.equal(lines.length, 5, lines.join('\n'))

  await writeFile(file, `[functions.f]
type = "chat"
[functions.f.variants.a]
type = "chat_completion"
model = "dummy::good"
[functions.f.variants.bon]
type = "experimental_best_of_n_sampling"
timeout_s = 1.5
candidates = ["a", "a"]
evaluator = { model = "dummy::good", system_template = "eval.minijinja", json_mode = "tool", retries = { num_retries = 1 } }
`)
  await writeFile(path.join(cdir, 'eval.minijinja'), 'Judge {{ system_text }}')
  const good = await validateConfigFiles({ configFile: file, checkTemplates })
  t.ok(good.config !== undefined, good.diagnostics.map(d => formatDiagnostic(d)).join('\n'))
  const fn = good.config!.tensorzero.functions.get('f')!
  const bon = fn.variants.get('bon')!
  t.match(bon, { candidates: ['a', 'a'] })
  t.match(bon.judge, { model: 'dummy::good', params: { json_mode: 'tool' }, retries: { numRetries: 1 } })
  t.same(fn.variants.get('a')!.timeouts, { nonStreamingTotalMs: 1500, streamingTtftMs: 1500 }, 'timeout_s applies to each candidate')
  t.ok(good.diagnostics.some(d => d.severity === 'warning' && /timeout_s.*deprecated/.test(d.message)))
})
