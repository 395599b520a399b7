// TensorZero's native POST /inference through the `tz-sidecar` process, with plain `fetch` (TensorZero's HTTP API is
// the contract its clients speak), compared field by field with what TensorZero's gateway answers for the same dummy
// models; rows in a real ClickHouse engine (chdb); the route's metrics. And GET /v1/models/{id} through the openai client.
import t from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { v7 as uuidv7 } from 'uuid'
import { startChdbServer } from './helpers/chdb-server.ts'
import type { ChdbServer } from './helpers/chdb-server.ts'
import { startCli } from './helpers/process.ts'
import type { ServingSidecar } from './helpers/process.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { fakeModel } from './helpers/toml.ts'
import { waitFor } from './helpers/wait.ts'
import { DUMMY_INFER_RESPONSE_CONTENT, DUMMY_TOOL_ARGUMENTS, wordChunks } from '../src/providers/dummy/index.ts'

let ch: ChdbServer
let fake: FakeOpenAI
let dir: string
let s: ServingSidecar

const TOML = (fakeUrl: string): string => `
[gateway.observability.batch_writes]
flush_interval_ms = 50
max_rows = 100
${fakeModel(fakeUrl, 'fake_gpt', [['upstream', 'ok']])}
${fakeModel(fakeUrl, 'keyed_gpt', [['keyed', 'headers', 'api_key_location = "dynamic::team_key"']])}
${fakeModel(fakeUrl, 'weather_gpt', [['upstream', 'tool-weather']])}

[functions.basic_test]
type = "chat"
system_schema = "system_schema.json"
[functions.basic_test.variants.test]
type = "chat_completion"
model = "dummy::good"
system_template = "system.minijinja"
[functions.basic_test.variants.alt]
type = "chat_completion"
model = "dummy::alternate"
system_template = "system.minijinja"
weight = 0

[functions.plain]
type = "chat"
[functions.plain.variants.upstream]
type = "chat_completion"
model = "fake_gpt"
[functions.plain.variants.keyed]
type = "chat_completion"
model = "keyed_gpt"
weight = 0
[functions.plain.variants.broken]
type = "chat_completion"
model = "dummy::stream_error"
weight = 0

[functions.weather_helper]
type = "chat"
tools = ["get_temperature"]
[functions.weather_helper.variants.variant]
type = "chat_completion"
model = "dummy::tool"
[functions.weather_helper.variants.upstream]
type = "chat_completion"
model = "weather_gpt"
weight = 0

[tools.get_temperature]
description = "Get the current temperature in a given location"
parameters = "get_temperature.json"

[functions.extract]
type = "json"
output_schema = "output_schema.json"
[functions.extract.variants.v]
type = "chat_completion"
model = "dummy::json"
`

const FILES: Record<string, string> = {
  'system_schema.json': JSON.stringify({ type: 'object', properties: { assistant_name: { type: 'string' } }, required: ['assistant_name'], additionalProperties: false }),
  'system.minijinja': 'You are a helpful and friendly assistant named {{ assistant_name }}',
  'get_temperature.json': JSON.stringify({ type: 'object', properties: { location: { type: 'string' }, units: { type: 'string', enum: ['fahrenheit', 'celsius'] } }, required: ['location'], additionalProperties: false }),
  'output_schema.json': JSON.stringify({ type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] })
}

t.before(async () => {
  ch = await startChdbServer()
  fake = await startFakeOpenAI()
  dir = await mkdtemp(path.join(tmpdir(), 'tz-native-'))
  await writeFile(path.join(dir, 'tensorzero.toml'), TOML(fake.url))
  for (const [name, text] of Object.entries(FILES)) await writeFile(path.join(dir, name), text)
  await writeFile(path.join(dir, 'sidecar.toml'), 'service = "native-test"\n[routes]\n"acme/gpt-4o::mini" = "tensorzero::function_name::plain"\n')
  s = await startCli(['--config-file', path.join(dir, 'tensorzero.toml'), '--sidecar-config', path.join(dir, 'sidecar.toml')], { TENSORZERO_CLICKHOUSE_URL: ch.url })
  // The sidecar creates the tables once it reaches ClickHouse; rows are looked for only after that.
  await waitFor('the sidecar\'s tables', async () => {
    const [row] = await ch.query<{ n: string | number }>("SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name IN ('ChatInference', 'JsonInference', 'ModelInference')")
    return Number(row?.n) === 3 ? true : undefined
  })
})

t.teardown(async () => {
  s?.child.kill('SIGTERM')
  await s?.exited
  await fake.close()
  await ch.close()
  await rm(dir, { recursive: true, force: true })
})

async function infer (body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${s.url}/inference`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })
  return { status: res.status, body: await res.json(), headers: res.headers }
}

/** The `data:` payloads of an SSE answer, `[DONE]` included. */
async function streamEvents (body: unknown): Promise<{ status: number; events: string[]; contentType: string | null }> {
  const res = await fetch(`${s.url}/inference`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body as object, stream: true }) })
  const text = await res.text()
  const events = text.split('\n\n').filter(e => e.startsWith('data: ')).map(e => e.slice('data: '.length))
  return { status: res.status, events, contentType: res.headers.get('content-type') }
}

async function rowsWhere (table: string, where: string, count = 1): Promise<any[]> {
  return await waitFor(`${table} rows where ${where}`, async () => {
    const rows = await ch.query<any>(`SELECT * FROM ${table} WHERE ${where}`)
    return rows.length >= count ? rows : undefined
  })
}

const hello = { role: 'user', content: 'Hello, world!' }
const basicInput = { system: { assistant_name: 'AskJeeves' }, messages: [hello] }

t.test('a chat function answers with TensorZero\'s ChatInferenceResponse, and its rows are those a chat request writes', async t => {
  const episode = uuidv7()
  const r = await infer({ function_name: 'basic_test', episode_id: episode, input: basicInput, tags: { task: 'native' }, params: { chat_completion: { temperature: 0.25, max_tokens: 200, seed: 420 } } })
  t.equal(r.status, 200, JSON.stringify(r.body))
  t.same(Object.keys(r.body), ['inference_id', 'episode_id', 'variant_name', 'content', 'usage', 'finish_reason'], 'the fields TensorZero sends, in its order')
  t.match(r.body.inference_id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/)
  t.equal(r.body.episode_id, episode)
  t.equal(r.body.variant_name, 'test', 'the weight-0 variant is never sampled')
  t.same(r.body.content, [{ type: 'text', text: DUMMY_INFER_RESPONSE_CONTENT }])
  t.same(r.body.usage, { input_tokens: 10, output_tokens: 1, cost: null })
  t.equal(r.body.finish_reason, 'stop')
  t.equal(r.headers.get('x-tensorzero-inference-id'), r.body.inference_id)

  const [row] = await rowsWhere('ChatInference', `id = '${r.body.inference_id}'`)
  t.equal(row.function_name, 'basic_test')
  t.equal(row.variant_name, 'test')
  t.equal(row.episode_id, episode)
  t.same(JSON.parse(row.input), { system: { assistant_name: 'AskJeeves' }, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello, world!' }] }] }, 'input stored as TensorZero stores it')
  t.same(JSON.parse(row.output), [{ type: 'text', text: DUMMY_INFER_RESPONSE_CONTENT }])
  t.same(JSON.parse(row.inference_params), { chat_completion: { temperature: 0.25, max_tokens: 200, seed: 420 } })
  t.same(row.tags, { task: 'native', service: 'native-test' })
  const [model] = await rowsWhere('ModelInference', `inference_id = '${r.body.inference_id}'`)
  t.equal(model.system, 'You are a helpful and friendly assistant named AskJeeves', 'the system template rendered from the system object')
  t.equal(model.model_name, 'dummy::good')
})

t.test('a stream is TensorZero\'s chunks: text deltas with id "0", then a closing chunk with usage and finish reason, then [DONE]', async t => {
  const r = await streamEvents({ function_name: 'basic_test', input: basicInput })
  t.equal(r.status, 200)
  t.match(r.contentType, /^text\/event-stream/)
  t.equal(r.events.at(-1), '[DONE]')
  const chunks = r.events.slice(0, -1).map(e => JSON.parse(e))
  const words = wordChunks(DUMMY_INFER_RESPONSE_CONTENT)
  t.equal(chunks.length, words.length + 1)
  const id = chunks[0].inference_id
  chunks.slice(0, -1).forEach((c, i) => {
    t.same(c, { inference_id: id, episode_id: chunks[0].episode_id, variant_name: 'test', content: [{ type: 'text', id: '0', text: words[i] }] })
  })
  t.same(chunks.at(-1), { inference_id: id, episode_id: chunks[0].episode_id, variant_name: 'test', content: [], usage: { input_tokens: 10, output_tokens: words.length, cost: null }, finish_reason: 'stop' })
  const [row] = await rowsWhere('ChatInference', `id = '${id}'`)
  t.same(JSON.parse(row.output), [{ type: 'text', text: DUMMY_INFER_RESPONSE_CONTENT }])
  t.ok(row.ttft_ms !== null, 'a stream records its time to first token')
})

t.test('a failure after the first chunk is an in-stream {"error": "…"} event, then [DONE]', async t => {
  const r = await streamEvents({ function_name: 'plain', variant_name: 'broken', input: { messages: [hello] } })
  t.equal(r.status, 200)
  t.equal(r.events.at(-1), '[DONE]', 'the stream still ends with [DONE], as TensorZero\'s does')
  const last = JSON.parse(r.events.at(-2) as string)
  t.same(Object.keys(last), ['error'])
  t.match(last.error, /stream of model 'stream_error' failed/)
})

t.test('a JSON function answers {raw, parsed} against the request\'s output_schema, and stores that schema', async t => {
  const fits = { type: 'object', properties: { answer: { type: 'string', minLength: 2 } }, required: ['answer'] }
  const r = await infer({ function_name: 'extract', input: { messages: [hello] }, output_schema: fits })
  t.equal(r.status, 200, JSON.stringify(r.body))
  t.same(Object.keys(r.body), ['inference_id', 'episode_id', 'variant_name', 'output', 'usage', 'finish_reason'])
  t.same(r.body.output, { raw: '{"answer":"Hello"}', parsed: { answer: 'Hello' } })
  const [row] = await rowsWhere('JsonInference', `id = '${r.body.inference_id}'`)
  t.same(JSON.parse(row.output_schema), fits)
  t.same(JSON.parse(row.output), { raw: '{"answer":"Hello"}', parsed: { answer: 'Hello' } })

  const misfit = await infer({ function_name: 'extract', input: { messages: [hello] }, output_schema: { type: 'object', properties: { answer: { type: 'number' } } } })
  t.same(misfit.body.output, { raw: '{"answer":"Hello"}', parsed: null }, 'raw text kept, parsed null when the schema is not met')

  const streamed = await streamEvents({ function_name: 'extract', input: { messages: [hello] } })
  const chunks = streamed.events.slice(0, -1).map(e => JSON.parse(e))
  t.equal(chunks.slice(0, -1).map(c => c.raw).join(''), '{"answer":"Hello"}', 'JSON chunks carry `raw` deltas')
  t.same(Object.keys(chunks.at(-1)), ['inference_id', 'episode_id', 'variant_name', 'raw', 'usage', 'finish_reason'])
  t.equal(chunks.at(-1).raw, '')
})

t.test('model_name with a provider::model shorthand runs through tensorzero::default, the variant named after the model', async t => {
  const r = await infer({ model_name: 'dummy::good', input: { system: 'Be brief.', messages: [hello] } })
  t.equal(r.status, 200, JSON.stringify(r.body))
  t.equal(r.body.variant_name, 'dummy::good')
  t.same(r.body.content, [{ type: 'text', text: DUMMY_INFER_RESPONSE_CONTENT }])
  const [row] = await rowsWhere('ChatInference', `id = '${r.body.inference_id}'`)
  t.equal(row.function_name, 'tensorzero::default')
  t.equal(row.variant_name, 'dummy::good')
})

t.test('tool calls come back as TensorZero\'s blocks, validated against the offered tools; additional_tools and tool_choice reach the provider', async t => {
  const r = await infer({ function_name: 'weather_helper', input: { messages: [{ role: 'user', content: 'Weather in Brooklyn?' }] } })
  t.equal(r.status, 200, JSON.stringify(r.body))
  t.same(r.body.content, [{ type: 'tool_call', id: '0', raw_name: 'get_temperature', raw_arguments: DUMMY_TOOL_ARGUMENTS, name: 'get_temperature', arguments: JSON.parse(DUMMY_TOOL_ARGUMENTS) }])
  t.equal(r.body.finish_reason, 'tool_call')

  const streamed = await streamEvents({ function_name: 'weather_helper', input: { messages: [hello] } })
  const chunks = streamed.events.slice(0, -1).map(e => JSON.parse(e))
  const calls = chunks.flatMap(c => c.content).filter((b: any) => b.type === 'tool_call')
  t.same(calls[0], { type: 'tool_call', id: '0', raw_name: 'get_temperature', raw_arguments: '{"location"' })
  t.ok(calls.slice(1).every((b: any) => b.id === '0' && b.raw_name === ''), 'later pieces repeat the id and carry no name')
  t.equal(calls.map((b: any) => b.raw_arguments).join(''), DUMMY_TOOL_ARGUMENTS)

  const weather = {
    name: 'get_weather', description: 'Weather by city', strict: false,
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }
  }
  const before = fake.requestsFor('tool-weather').length
  const dyn = await infer({
    function_name: 'weather_helper', variant_name: 'upstream', input: { messages: [hello] },
    additional_tools: [weather], tool_choice: { specific: 'get_weather' }, parallel_tool_calls: false, allowed_tools: []
  })
  t.equal(dyn.status, 200, JSON.stringify(dyn.body))
  const sent = fake.requestsFor('tool-weather')[before].body
  // allowed_tools [] allows no tool; an `openai` provider gets every available tool and an empty allowed list (the
  // named tool_choice becomes its `auto` mode), as TensorZero sends it.
  t.same(sent.tools.map((x: any) => x.function.name), ['get_temperature', 'get_weather'], 'every available tool is sent')
  t.same(sent.tool_choice, { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } })
  t.equal(sent.parallel_tool_calls, false)
  t.same(dyn.body.content, [{ type: 'tool_call', id: 'call_1', raw_name: 'get_weather', raw_arguments: '{"city":"Paris"}', name: 'get_weather', arguments: { city: 'Paris' } }])
  const [row] = await rowsWhere('ChatInference', `id = '${dyn.body.inference_id}'`)
  t.equal(row.dynamic_tools.length, 1, 'the additional tool is stored as a dynamic tool')
})

t.test('dryrun answers like any inference and writes no row', async t => {
  const dry = await infer({ function_name: 'basic_test', input: basicInput, dryrun: true })
  t.equal(dry.status, 200)
  const after = await infer({ function_name: 'basic_test', input: basicInput })
  await rowsWhere('ChatInference', `id = '${after.body.inference_id}'`)
  t.same(await ch.query(`SELECT id FROM ChatInference WHERE id = '${dry.body.inference_id}'`), [], 'no ChatInference row')
  t.same(await ch.query(`SELECT id FROM ModelInference WHERE inference_id = '${dry.body.inference_id}'`), [], 'no ModelInference row')
})

t.test('a pinned variant runs alone, weight 0 or not', async t => {
  const r = await infer({ function_name: 'basic_test', variant_name: 'alt', input: basicInput })
  t.equal(r.status, 200)
  t.equal(r.body.variant_name, 'alt')
  t.match(r.body.content[0].text, /gentle rain/)
})

t.test('credentials, extra_body, extra_headers and include_original_response reach the provider and come back as TensorZero does', async t => {
  const r = await infer({
    function_name: 'plain', variant_name: 'keyed', input: { messages: [hello] }, credentials: { team_key: 'sk-team' },
    extra_body: [{ pointer: '/logit_bias', value: { 50256: -100 } }], extra_headers: [{ name: 'x-team', value: 'blue' }],
    include_original_response: true, cache_options: { enabled: 'on', max_age_s: 10 }
  })
  t.equal(r.status, 200, JSON.stringify(r.body))
  const sent = fake.requestsFor('headers').at(-1)
  t.equal(sent?.headers.authorization, 'Bearer sk-team', 'the dynamic credential is the key')
  t.equal(sent?.headers['x-team'], 'blue')
  t.same(sent?.body.logit_bias, { 50256: -100 })
  t.equal(typeof r.body.original_response, 'string')
  t.equal(JSON.parse(r.body.original_response).object, 'chat.completion', 'the provider\'s own answer')
  t.same(Object.keys(r.body).slice(-2), ['original_response', 'finish_reason'])
})

t.test('include_raw_usage / include_raw_response: TensorZero\'s raw_usage and raw_response entries, one per model call', async t => {
  const r = await infer({ function_name: 'basic_test', input: basicInput, include_raw_usage: true, include_raw_response: true })
  t.equal(r.status, 200, JSON.stringify(r.body))
  t.equal(r.body.raw_usage.length, 1)
  t.match(r.body.raw_usage[0], { provider_type: String, api_type: 'chat_completions', model_inference_id: String })
  t.equal(r.body.raw_response.length, 1)
  t.equal(typeof r.body.raw_response[0].data, 'string', 'the provider\'s answer as it was')
  const plain = await infer({ function_name: 'basic_test', input: basicInput })
  t.notOk('raw_usage' in plain.body, 'absent unless asked for')
  const stream = await streamEvents({ function_name: 'basic_test', input: basicInput, include_raw_usage: true })
  // This once pinned raw_usage in the closing chunk; TensorZero puts it on the provider chunk that reported usage.
  const streamed = stream.events.slice(0, -1).map(e => JSON.parse(e))
  t.notOk('raw_usage' in streamed[streamed.length - 1], 'not in the closing chunk')
  const carrying = streamed.filter(c => c.raw_usage !== undefined)
  t.equal(carrying.length, 1, 'one provider chunk reported usage')
  t.match(carrying[0].raw_usage, [{ provider_type: String, api_type: 'chat_completions', model_inference_id: String, data: { prompt_tokens: 10 } }])
  const raw = await streamEvents({ function_name: 'basic_test', input: basicInput, include_raw_response: true })
  const chunks = raw.events.slice(0, -1).map(e => JSON.parse(e))
  t.ok(chunks.slice(0, -1).every(c => typeof c.raw_chunk === 'string'), 'a stream with include_raw_response carries each provider chunk\'s raw text')
  t.notOk('raw_chunk' in chunks[chunks.length - 1], 'but not the closing chunk')
})

t.test('errors are TensorZero\'s: its status and a {"error": "…"} body', async t => {
  const cases: Array<[string, unknown, number, string | RegExp]> = [
    ['unknown function', { function_name: 'nope', input: { messages: [] } }, 404, 'Unknown function: nope'],
    ['both targets', { function_name: 'basic_test', model_name: 'dummy::good', input: { messages: [] } }, 400, 'Invalid inference target: Only one of `function_name` or `model_name` can be provided'],
    ['no target', { input: { messages: [] } }, 400, 'Invalid inference target: Either `function_name` or `model_name` must be provided'],
    ['variant with a model', { model_name: 'dummy::good', variant_name: 'x', input: { messages: [] } }, 400, 'Invalid inference target: `variant_name` cannot be provided when using `model_name`'],
    ['unknown model', { model_name: 'no_such_model', input: { messages: [] } }, 400, 'Invalid inference target: Invalid model name: Model name \'no_such_model\' not found in model table'],
    ['unknown variant', { function_name: 'basic_test', variant_name: 'ghost', input: basicInput }, 404, 'Unknown variant: ghost'],
    ['unknown field', { function_name: 'basic_test', input: basicInput, temperature: 1 }, 400, /^unknown field `temperature`, expected one of `function_name`/],
    ['bad role', { function_name: 'plain', input: { messages: [{ role: 'system', content: 'x' }] } }, 400, /^input\.messages\[0\]\.role: unknown variant `system`/],
    ['bad block', { function_name: 'plain', input: { messages: [{ role: 'user', content: [{ type: 'text', value: 'x' }] }] } }, 400, /Unknown key `value` in text content/],
    ['missing input', { function_name: 'plain' }, 400, 'missing field `input`'],
    ['missing input, unknown function', { function_name: 'nope' }, 400, 'missing field `input`'],
    ['reserved tag', { function_name: 'plain', input: { messages: [hello] }, tags: { 'tensorzero::x': 'y' } }, 400, 'Tag name cannot start with \'tensorzero::\': tensorzero::x'],
    ['schema mismatch', { function_name: 'basic_test', input: { system: { name: 1 }, messages: [hello] } }, 400, /system/],
    ['bad episode', { function_name: 'plain', episode_id: 'not-a-uuid', input: { messages: [hello] } }, 400, /Episode ID/],
    ['bad cache mode', { function_name: 'plain', input: { messages: [hello] }, cache_options: { enabled: 'sometimes' } }, 400, /cache_options\.enabled/]
  ]
  for (const [what, body, status, message] of cases) {
    const r = await infer(body)
    t.equal(r.status, status, `${what}: status`)
    t.same(Object.keys(r.body), ['error'], `${what}: one \`error\` field`)
    t.equal(typeof r.body.error, 'string', `${what}: a string, not OpenAI's object`)
    if (typeof message === 'string') t.equal(r.body.error, message, what)
    else t.match(r.body.error, message, what)
  }
  const badJson = await infer('{"function_name": ', {})
  t.equal(badJson.status, 400, 'a body that is not JSON, sent without a content type')
  t.match(badJson.body.error, /Invalid JSON/)
  const plainText = await infer({ function_name: 'basic_test', input: basicInput }, { 'content-type': 'text/plain' })
  t.equal(plainText.status, 200, 'TensorZero reads the body as JSON whatever the content type says')
})

t.test('models.retrieve answers for exactly the names /v1/models lists, ids with `/` and `::` included', async t => {
  for (const baseURL of [`${s.url}/v1`, `${s.url}/openai/v1`]) {
    const client = new OpenAI({ baseURL, apiKey: 'x', maxRetries: 0 })
    const listed = (await client.models.list()).data.map(m => m.id)
    t.ok(listed.includes('acme/gpt-4o::mini') && listed.includes('tensorzero::function_name::plain'))
    for (const id of listed) {
      const m = await client.models.retrieve(id)
      t.same({ ...m }, { id, object: 'model', created: 0, owned_by: 'native-test' }, `${id} under ${baseURL}`)
    }
    const missing = await client.models.retrieve('gpt-5-nonexistent').catch((e: unknown) => e)
    t.ok(missing instanceof OpenAI.NotFoundError, 'an unknown id is a 404')
    t.equal((missing as InstanceType<typeof OpenAI.NotFoundError>).code, 'model_not_found')
    t.match((missing as Error).message, /gpt-5-nonexistent/)
    const shorthand = await client.models.retrieve('dummy::good').catch((e: unknown) => e)
    t.ok(shorthand instanceof OpenAI.NotFoundError, 'a shorthand /v1/models does not list is not retrieved either')
  }
})

t.test('the routes are metered: TensorZero\'s `inference` endpoint counters, request and error counts, HTTP requests by template', async t => {
  const text = await (await fetch(`${s.url}/metrics`)).text()
  t.match(text, /tensorzero_requests_total\{endpoint="inference",function_name="basic_test",service="native-test"\} [1-9]/)
  t.match(text, /tensorzero_inferences_total\{endpoint="inference",function_name="tensorzero::default",model_name="dummy::good",service="native-test"\} 1\n/)
  t.match(text, /tensorzero_request_count\{route="\/inference",function="basic_test",model="dummy::good"[^}]*\} [1-9]/)
  t.match(text, /tensorzero_error_count\{route="\/inference",function="plain",model="dummy::stream_error"[^}]*\} 1\n/, 'the stream that failed mid-way')
  t.match(text, /tz_sidecar_http_requests_total\{route="\/inference",method="POST",status_class="4xx"[^}]*\} [1-9]/)
  t.match(text, /tz_sidecar_http_requests_total\{route="\/v1\/models\/\{id\}",method="GET",status_class="2xx"[^}]*\} [1-9]/)
  t.match(text, /tz_sidecar_http_requests_total\{route="\/v1\/models\/\{id\}",method="GET",status_class="4xx"[^}]*\} 4\n/)
})

t.test('native input blocks reach the provider: raw_text, base64 and URL files, tool calls and results; thoughts are not sent', async t => {
  const png = Buffer.from('89504e470d0a1a0a', 'hex').toString('base64')
  const before = fake.requestsFor('ok').length
  const r = await infer({
    function_name: 'plain',
    input: {
      system: 'Be brief.',
      messages: [
        { role: 'user', content: [{ type: 'raw_text', value: 'raw words' }, { type: 'file', file_type: 'base64', mime_type: 'image/png', data: png }, { type: 'image', url: 'https://example.com/cat.png', detail: 'low' }] },
        { role: 'assistant', content: [{ type: 'thought', text: 'let me think' }, { type: 'tool_call', id: 'c1', name: 'lookup', arguments: '{"q":"x"}' }] },
        { role: 'user', content: [{ type: 'tool_result', id: 'c1', name: 'lookup', result: 'found' }] }
      ]
    }
  })
  t.equal(r.status, 200, JSON.stringify(r.body))
  const sent = fake.requestsFor('ok')[before].body
  t.same(sent.messages[0], { role: 'system', content: 'Be brief.' })
  t.match(sent.messages[1].content, [{ type: 'text', text: 'raw words' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }, { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'low' } }])
  t.match(sent.messages[2], { role: 'assistant', tool_calls: [{ id: 'c1', function: { name: 'lookup', arguments: '{"q":"x"}' } }] })
  t.notMatch(JSON.stringify(sent.messages[2]), /let me think/, 'the thought is not sent')
  t.match(sent.messages[3], { role: 'tool', tool_call_id: 'c1', content: 'found' })
  const [row] = await rowsWhere('ChatInference', `id = '${r.body.inference_id}'`)
  const stored = JSON.parse(row.input)
  t.same(stored.messages[0].content[0], { type: 'raw_text', value: 'raw words' })
  t.equal(stored.messages[0].content[1].type, 'file')
})

t.test('thoughts come back as thought blocks, and as thought chunks in a stream', async t => {
  const r = await infer({ model_name: 'dummy::reasoner', input: { messages: [hello] } })
  t.same(r.body.content, [{ type: 'thought', text: 'hmmm' }, { type: 'text', text: DUMMY_INFER_RESPONSE_CONTENT }])
  const streamed = await streamEvents({ model_name: 'dummy::reasoner', input: { messages: [hello] } })
  const first = JSON.parse(streamed.events[0])
  t.same(first.content, [{ type: 'thought', id: '0', text: 'hmmm', signature: null, summary_id: null, summary_text: null }])
})

t.test('what the server refuses before the route runs is in TensorZero\'s error shape too (401, 413)', async t => {
  const guarded = await startCli(['--config-file', path.join(dir, 'tensorzero.toml')], { SIDECAR_API_KEY: 'k-1', SIDECAR_BODY_LIMIT_BYTES: '1024' })
  try {
    const post = async (headers: Record<string, string>, body: string): Promise<{ status: number; body: any }> => {
      const res = await fetch(`${guarded.url}/inference`, { method: 'POST', headers, body })
      return { status: res.status, body: await res.json() }
    }
    const body = JSON.stringify({ model_name: 'dummy::good', input: { messages: [hello] } })
    const denied = await post({}, body)
    t.equal(denied.status, 401)
    t.match(denied.body, { error: /API key/ })
    const big = await post({ authorization: 'Bearer k-1' }, JSON.stringify({ model_name: 'dummy::good', input: { messages: [{ role: 'user', content: 'x'.repeat(4096) }] } }))
    t.equal(big.status, 413)
    t.equal(typeof big.body.error, 'string')
    const ok = await post({ authorization: 'Bearer k-1' }, body)
    t.equal(ok.status, 200)
  } finally {
    guarded.child.kill('SIGTERM')
    await guarded.exited
  }
})
