// POST /v1/responses through the real `openai` client: the Response object field by field, the streamed event
// sequence (raw and through `responses.stream()`), function tools round trip, `text.format` json_schema, reasoning,
// `previous_response_id` and `item_reference` rebuilt from memory, the errors OpenAI names, rows and metrics.
import t from 'tap'
import OpenAI from 'openai'
import { startFakeOpenAI, scriptAnswer } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'
import { inferenceIdOfResponse } from '../src/endpoints/openai/responses-ids.ts'
import type { InferenceRecord } from '../src/core/records.ts'
import { SidecarMetrics } from '../sidecar/ops/metrics.ts'
import OpenAIv5 from 'openai-v5'
import OpenAIv6 from 'openai-v6'

let fake: FakeOpenAI
let s: TestSidecar
let client: OpenAI
let metrics: SidecarMetrics
const records: InferenceRecord[] = []

const WEATHER_TOOL = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true
}

t.before(async () => {
  fake = await startFakeOpenAI()
  scriptAnswer('said-and-called', { content: 'Let me look.', toolCalls: [{ id: 'call_w', name: 'get_weather', arguments: '{"city":"Oslo"}' }] })
  const toml =
    fakeModel(fake.url, 'gpt', [['upstream', 'ok']]) +
    fakeModel(fake.url, 'weather', [['upstream', 'tool-weather']]) +
    fakeModel(fake.url, 'mixed', [['upstream', 'said-and-called']]) +
    fakeModel(fake.url, 'jsonish', [['upstream', 'json-valid']]) +
    fakeModel(fake.url, 'cut', [['upstream', 'cut-2']]) +
    fakeFunction('agent', [['main', 'gpt']]) +
    fakeFunction('tooler', [['main', 'weather']]) +
    fakeFunction('both', [['main', 'mixed']]) +
    fakeFunction('structured', [['main', 'jsonish']]) +
    fakeFunction('breaks', [['main', 'cut']])
  const sidecarToml = `
service = "responses-test"
[routes]
"gpt-4o-mini" = "tensorzero::function_name::agent"
"weather-bot" = "tensorzero::function_name::tooler"
"said-and-called" = "tensorzero::function_name::both"
"structured" = "tensorzero::function_name::structured"
"breaks" = "tensorzero::function_name::breaks"
"thinker" = { model = "dummy::reasoner" }
`
  s = await startTestSidecar({
    toml,
    sidecarToml,
    options: {
      observer: { onInference: r => { records.push(r); metrics.observer.onInference?.(r) }, onAttempt: a => metrics.observer.onAttempt?.(a) },
      onRequest: l => { metrics.onRequest(l) },
      metrics: async () => await metrics.render()
    }
  })
  const config = s.sidecar.gateway.config
  metrics = new SidecarMetrics(config, { service: config.sidecar.service })
  client = new OpenAI({ baseURL: s.baseURL, apiKey: 'x', maxRetries: 0 })
})

t.teardown(async () => {
  await s.close()
  await fake.close()
})

const RESP_ID = /^resp_[0-9a-f]{32}$/
const dashed = (respId: string): string | undefined => inferenceIdOfResponse(respId)
/** The chat messages the fake provider received in its last request. */
const lastUpstreamMessages = (): any[] => fake.requests.at(-1)?.body.messages

t.test('a plain responses.create answers a Response object, field by field, from the function the model maps to', async t => {
  const { data, response } = await client.responses.create({ model: 'gpt-4o-mini', input: 'Hello?', instructions: 'Be brief.', metadata: { team: 'search' } }).withResponse()
  t.match(data.id, RESP_ID, 'the id is resp_ + the inference id without dashes')
  t.equal(dashed(data.id), response.headers.get('x-tensorzero-inference-id'), 'and maps back to the inference id')
  t.equal(data.object, 'response')
  t.equal(data.status, 'completed')
  t.equal(data.model, 'tensorzero::function_name::agent::variant_name::main')
  t.type(data.created_at, 'number')
  t.equal(data.instructions, 'Be brief.')
  t.same(data.metadata, { team: 'search' })
  t.equal(data.output.length, 1)
  const item: any = data.output[0]
  t.match(item, { type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Hello from ok', annotations: [] }] })
  t.match(item.id, /^msg_[0-9a-f]{32}_0$/)
  t.equal(data.output_text, 'Hello from ok', 'the SDK derives output_text')
  t.same(data.usage, { input_tokens: 7, input_tokens_details: { cached_tokens: 0 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 12 })
  t.same(lastUpstreamMessages(), [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello?' }], 'instructions became the system message')
  const rec = records.find(r => r.inferenceId === dashed(data.id))
  t.ok(rec, 'the inference was recorded as a chat call is')
  t.equal(rec?.functionName, 'agent')
  t.same(rec?.tags, { team: 'search' }, 'metadata became the inference tags')

  const prefixed = new OpenAI({ baseURL: `${s.url}/openai/v1`, apiKey: 'x', maxRetries: 0 })
  t.equal((await prefixed.responses.create({ model: 'gpt-4o-mini', input: 'Hi' })).output_text, 'Hello from ok', 'also under /openai/v1')
})

t.test('stream: true sends the event sequence OpenAI sends, each with a rising sequence_number', async t => {
  const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'Hello?', stream: true })
  const events: any[] = []
  for await (const e of stream) events.push(e)
  const types = events.map(e => e.type)
  t.same(types, [
    'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
    ...Array(5).fill('response.output_text.delta'),
    'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed'
  ])
  t.same(events.map(e => e.sequence_number), events.map((_e, i) => i), 'sequence numbers count from 0')
  t.equal(events[0].response.status, 'in_progress')
  t.same(events[0].response.output, [])
  t.equal(events.slice(4, 9).map(e => e.delta).join(''), 'Hello from the fake upstream')
  t.equal(events[9].text, 'Hello from the fake upstream')
  const done = events.at(-1).response
  t.equal(done.status, 'completed')
  t.equal(done.id, events[0].response.id, 'one response id throughout')
  t.same(done.output[0].content[0].text, 'Hello from the fake upstream')
  t.same(done.usage.total_tokens, 12)
})

t.test('responses.stream() accumulates the deltas into the final response', async t => {
  const deltas: string[] = []
  const stream = client.responses.stream({ model: 'gpt-4o-mini', input: 'Hello?' })
  stream.on('response.output_text.delta', e => { deltas.push(e.delta) })
  const final = await stream.finalResponse()
  t.equal(final.output_text, 'Hello from the fake upstream')
  t.equal(deltas.join(''), 'Hello from the fake upstream')
  t.equal(final.status, 'completed')
})

t.test('responses.stream() checks and accumulates reasoning, text and function calls in one response', async t => {
  const reasoned = await client.responses.stream({ model: 'thinker', input: 'Think.' }).finalResponse()
  t.match(reasoned.output, [{ type: 'reasoning', summary: [{ type: 'summary_text', text: 'hmmm' }] }, { type: 'message', status: 'completed' }])
  const args: string[] = []
  const stream = client.responses.stream({ model: 'said-and-called', input: 'Oslo?', tools: [WEATHER_TOOL] })
  stream.on('response.function_call_arguments.delta', e => { args.push(e.snapshot) })
  const final = await stream.finalResponse()
  t.match(final.output, [
    { type: 'message', content: [{ type: 'output_text', text: 'Let me look.' }] },
    { type: 'function_call', call_id: 'call_w', name: 'get_weather', arguments: '{"city":"Oslo"}' }
  ])
  t.equal(args.at(-1), '{"city":"Oslo"}', 'the SDK\'s argument snapshot grew to the whole arguments')
})

t.test('a function tool round trip: function_call out, function_call_output back, as chat tool messages upstream', async t => {
  const first = await client.responses.create({ model: 'weather-bot', input: 'Weather in Paris?', tools: [WEATHER_TOOL], tool_choice: 'auto', parallel_tool_calls: false })
  const offered = fake.requests.at(-1)?.body
  t.same(offered.tools, [{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: WEATHER_TOOL.parameters, strict: true } }], 'the tool reached the provider')
  t.equal(offered.parallel_tool_calls, false)
  const call: any = first.output[0]
  t.match(call, { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' })
  t.match(call.id, /^fc_[0-9a-f]{32}_0$/)
  t.equal(first.parallel_tool_calls, false)

  const second = await client.responses.create({
    model: 'gpt-4o-mini',
    tools: [WEATHER_TOOL],
    input: [
      { role: 'user', content: 'Weather in Paris?' },
      { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
      { type: 'function_call_output', call_id: call.call_id, output: '{"temp_c":21}' }
    ]
  })
  t.equal(second.output_text, 'Hello from ok')
  t.same(lastUpstreamMessages(), [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: '{"temp_c":21}' }
  ], 'user, assistant tool call, tool result')
})

t.test('a streamed function call sends its arguments as function_call_arguments deltas', async t => {
  const events: any[] = []
  for await (const e of await client.responses.create({ model: 'weather-bot', input: 'Weather?', tools: [WEATHER_TOOL], stream: true })) events.push(e)
  const added = events.find(e => e.type === 'response.output_item.added')
  t.match(added.item, { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '', status: 'in_progress' })
  const deltas = events.filter(e => e.type === 'response.function_call_arguments.delta')
  t.ok(deltas.length > 1, 'several argument deltas')
  t.ok(deltas.every(d => d.item_id === added.item.id && d.output_index === 0))
  t.equal(deltas.map(d => d.delta).join(''), '{"city":"Paris"}')
  t.match(events.find(e => e.type === 'response.function_call_arguments.done'), { arguments: '{"city":"Paris"}', name: 'get_weather' })
  t.match(events.at(-1).response.output, [{ type: 'function_call', arguments: '{"city":"Paris"}', status: 'completed' }])
})

t.test('text.format json_schema asks the provider for structured output and answers its JSON', async t => {
  const schema = { type: 'object', properties: { answer: { type: 'string' }, confidence: { type: 'number' } }, required: ['answer', 'confidence'], additionalProperties: false }
  const res = await client.responses.create({ model: 'structured', input: 'Capital of France?', text: { format: { type: 'json_schema', name: 'answer', schema, strict: true } } })
  t.same(JSON.parse(res.output_text), { answer: 'Paris', confidence: 0.9 })
  t.match(res.text, { format: { type: 'json_schema', name: 'answer', schema } }, 'the format is echoed')
  t.match(fake.requests.at(-1)?.body.response_format, { type: 'json_schema' }, 'the provider was asked for JSON')
  const parsed = await client.responses.parse({ model: 'structured', input: 'Capital?', text: { format: { type: 'json_schema', name: 'answer', schema, strict: true } } })
  t.same(parsed.output_parsed, { answer: 'Paris', confidence: 0.9 }, 'responses.parse reads it')
})

t.test('reasoning the provider returns becomes a reasoning item, streamed as summary text', async t => {
  const res = await client.responses.create({ model: 'thinker', input: 'Think.' })
  t.match(res.output[0], { type: 'reasoning', summary: [{ type: 'summary_text', text: 'hmmm' }] })
  t.match((res.output[0] as any).id, /^rs_[0-9a-f]{32}_0$/)
  t.equal(res.output[1].type, 'message')
  const events: any[] = []
  for await (const e of await client.responses.create({ model: 'thinker', input: 'Think.', stream: true })) events.push(e)
  t.match(events.find(e => e.type === 'response.reasoning_summary_text.delta'), { delta: 'hmmm', summary_index: 0, output_index: 0 })
  t.match(events.at(-1).response.output, [{ type: 'reasoning', summary: [{ text: 'hmmm' }] }, { type: 'message' }])
})

t.test('previous_response_id continues the conversation from memory; item_reference names an earlier output item', async t => {
  const first = await client.responses.create({ model: 'gpt-4o-mini', input: 'My name is Ada.', instructions: 'Be kind.' })
  const second = await client.responses.create({ model: 'gpt-4o-mini', input: 'What is my name?', previous_response_id: first.id })
  t.equal(second.previous_response_id, first.id)
  t.same(lastUpstreamMessages(), [
    { role: 'system', content: 'Be kind.' },
    { role: 'user', content: 'My name is Ada.' },
    { role: 'assistant', content: 'Hello from ok' },
    { role: 'user', content: 'What is my name?' }
  ], 'the earlier exchange comes first; without new instructions the earlier system stays')
  const third = await client.responses.create({ model: 'gpt-4o-mini', input: 'And now?', previous_response_id: second.id, instructions: 'Be terse.' })
  t.same(lastUpstreamMessages().map((m: any) => m.content), ['Be terse.', 'My name is Ada.', 'Hello from ok', 'What is my name?', 'Hello from ok', 'And now?'],
    'a chain of three; the new instructions replace the old ones')
  t.ok(third.id !== second.id)
  const episodes = [first, second, third].map(r => records.find(rec => rec.inferenceId === dashed(r.id))?.episodeId)
  t.ok(episodes[0] !== undefined && episodes.every(e => e === episodes[0]), 'the continued conversation stays in the first response\'s episode')

  // A streamed response is remembered once it completed.
  let streamedId = ''
  for await (const e of await client.responses.create({ model: 'said-and-called', input: 'Oslo?', tools: [WEATHER_TOOL], stream: true })) {
    if (e.type === 'response.completed') streamedId = e.response.id
  }
  await client.responses.create({
    model: 'gpt-4o-mini',
    tools: [WEATHER_TOOL],
    previous_response_id: streamedId,
    input: [{ type: 'function_call_output', call_id: 'call_w', output: 'sunny' }]
  })
  t.same(lastUpstreamMessages().slice(1), [
    { role: 'assistant', content: 'Let me look.', tool_calls: [{ id: 'call_w', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
    { role: 'tool', tool_call_id: 'call_w', content: 'sunny' }
  ], 'the streamed text and tool call, then the tool output')

  const refs = await client.responses.create({ model: 'said-and-called', input: 'Oslo?', tools: [WEATHER_TOOL] })
  await client.responses.create({
    model: 'gpt-4o-mini',
    input: [{ role: 'user', content: 'Oslo?' }, { type: 'item_reference', id: refs.output[0].id as string }, { type: 'item_reference', id: refs.output[1].id as string },
      { type: 'function_call_output', call_id: 'call_w', output: 'rain' }]
  })
  t.same(lastUpstreamMessages().slice(1, 2), [
    { role: 'assistant', content: 'Let me look.', tool_calls: [{ id: 'call_w', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] }
  ], 'item references are replaced by the items they name')
})

t.test('errors OpenAI names: an unknown previous response, built-in tools, unserved fields, bad input; all 400', async t => {
  const unknown = 'resp_0190aaaabbbb7ccc8ddd000000000000'
  const err: any = await client.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: unknown }).catch(e => e)
  t.equal(err.status, 400)
  t.equal(err.code, 'previous_response_not_found')
  t.equal(err.param, 'previous_response_id')
  t.match(err.message, unknown, 'the message names the id')
  const garbled: any = await client.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: 'not-an-id' }).catch(e => e)
  t.equal(garbled.status, 400)
  t.equal(garbled.code, 'previous_response_not_found')

  for (const tool of [{ type: 'web_search' }, { type: 'file_search', vector_store_ids: ['vs_1'] }, { type: 'code_interpreter', container: { type: 'auto' } }, { type: 'mcp', server_label: 'x', server_url: 'http://127.0.0.1:1' }]) {
    const e: any = await client.responses.create({ model: 'gpt-4o-mini', input: 'x', tools: [tool as any] }).catch(e => e)
    t.equal(e.status, 400, `${tool.type} is a 400`)
    t.match(e.message, `\`${tool.type}\``, 'naming the tool type')
  }
  const bg: any = await client.responses.create({ model: 'gpt-4o-mini', input: 'x', background: true }).catch(e => e)
  t.equal(bg.status, 400)
  t.match(bg.message, /background/)
  const badItem: any = await client.responses.create({ model: 'gpt-4o-mini', input: [{ type: 'computer_call_output', call_id: 'c', output: {} } as any] }).catch(e => e)
  t.equal(badItem.status, 400)
  t.match(badItem.message, /computer_call_output/)
  const noRef: any = await client.responses.create({ model: 'gpt-4o-mini', input: [{ type: 'item_reference', id: 'msg_nope' }] }).catch(e => e)
  t.equal(noRef.status, 400)
  t.match(noRef.message, /msg_nope/)
  const badFormat: any = await client.responses.create({ model: 'gpt-4o-mini', input: 'x', text: { format: { type: 'json_schema', name: 'a' } as any } }).catch(e => e)
  t.equal(badFormat.status, 400)
  const unknownModel: any = await client.responses.create({ model: 'no-such-model', input: 'x' }).catch(e => e)
  t.equal(unknownModel.status, 404, 'an unknown model is a 404 as on chat')
})

t.test('a stream that breaks after it started ends with an error event (the SDK throws it) and response.failed', async t => {
  const events: any[] = []
  const thrown: any = await (async () => {
    for await (const e of await client.responses.create({ model: 'breaks', input: 'x', stream: true })) events.push(e)
  })().catch(e => e)
  t.ok(thrown instanceof OpenAI.APIError, 'the openai SDK throws the in-stream error')
  t.equal(thrown.code, 'server_error')
  t.ok(events.some(e => e.type === 'response.output_text.delta'), 'the text sent before the break came first')
  const raw = await fetch(`${s.baseURL}/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'breaks', input: 'x', stream: true }) })
  const types = [...(await raw.text()).matchAll(/^event: (\S+)$/gm)].map(m => m[1])
  t.same(types.slice(-2), ['error', 'response.failed'], 'then the failed response, for clients that read lifecycle events')
})

t.test('responses are counted under their own route, as TensorZero inference requests', async t => {
  const text = await (await fetch(`${s.url}/metrics`)).text()
  t.match(text, /^tensorzero_request_count\{route="\/v1\/responses",function="agent",model="gpt",service="responses-test"\} \d+$/m)
  t.match(text, /^tensorzero_requests_total\{endpoint="inference",function_name="agent",service="responses-test"\} \d+$/m)
})

t.test('the openai SDK v5 and v6 read responses and their streams too', async t => {
  const clients: Array<[string, Pick<OpenAI, 'responses'>]> = [
    ['v5', new OpenAIv5({ baseURL: s.baseURL, apiKey: 'x', maxRetries: 0 }) as unknown as OpenAI],
    ['v6', new OpenAIv6({ baseURL: s.baseURL, apiKey: 'x', maxRetries: 0 }) as unknown as OpenAI]
  ]
  for (const [name, c] of clients) {
    t.equal((await c.responses.create({ model: 'gpt-4o-mini', input: 'Hi' })).output_text, 'Hello from ok', `${name} create`)
    const final = await c.responses.stream({ model: 'gpt-4o-mini', input: 'Hi' }).finalResponse()
    // v5's finalResponse() has no `output_text` convenience field: read the item.
    t.match(final.output, [{ type: 'message', content: [{ type: 'output_text', text: 'Hello from the fake upstream' }] }], `${name} stream`)
  }
})

t.test('every malformed Responses body is a 400 naming the field, never a 5xx', async t => {
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ input: 5 }, /`input`/],
    [{ input: [null] }, /`input\[0\]`/],
    [{ input: [{ role: 'user', content: 5 }] }, /`input\[0\]\.content`/],
    [{ input: [{ role: 'tool', content: 'x' }] }, /`input\[0\]\.role`/],
    [{ input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }, /input_file/],
    [{ input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'f' }] }] }, /image_url/],
    [{ input: [{ type: 'function_call', name: 'f', arguments: '{}' }] }, /call_id/],
    [{ input: [{ type: 'function_call_output', call_id: 'c', output: 5 }] }, /`input\[0\]\.output`/],
    [{ input: [] }, /empty/],
    [{ input: 'x', instructions: 5 }, /`instructions`/],
    [{ input: 'x', previous_response_id: 5 }, /`previous_response_id`/],
    [{ input: 'x', tools: 'x' }, /`tools`/],
    [{ input: 'x', tools: [{ type: 'function' }] }, /`tools\[0\]\.name`/],
    [{ input: 'x', tool_choice: { type: 'function' } }, /`tool_choice`/],
    [{ input: 'x', tool_choice: { type: 'web_search_preview' } }, /web_search_preview/],
    [{ input: 'x', text: { format: 3 } }, /`text\.format`/],
    [{ input: 'x', text: { format: { type: 'yaml' } } }, /`text\.format\.type`/],
    [{ input: 'x', metadata: { a: 1 } }, /`metadata\.a`/],
    [{ input: 'x', max_output_tokens: 0 }, /`max_output_tokens`/],
    [{ input: 'x', temperature: 'hot' }, /`temperature`/],
    [{ input: 'x', reasoning: 'x' }, /`reasoning`/],
    [{ input: 'x', stream: 'yes' }, /`stream`/],
    [{ input: 'x', conversation: 'conv_1' }, /conversation/],
    [{ input: 'x', 'tensorzero::episode_id': 'nope' }, /Episode ID/]
  ]
  for (const [body, message] of bad) {
    const e: any = await client.responses.create({ model: 'gpt-4o-mini', ...body } as any).catch(err => err)
    t.equal(e.status, 400, JSON.stringify(body))
    t.match(e.message, message)
  }
})
