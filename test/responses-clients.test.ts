// POST /v1/responses through the clients that call it by default, unchanged: the Vercel AI SDK's default OpenAI
// provider (generateText, streamText, a multi-step tool loop, generateObject) and LangChain's ChatOpenAI with
// `useResponsesApi` (invoke, stream, tools). The fake provider behind the sidecar speaks chat completions.
import t from 'tap'
import { createOpenAI } from '@ai-sdk/openai'
import { generateText, streamText, generateObject, tool, stepCountIs } from 'ai'
import { ChatOpenAI } from '@langchain/openai'
import { z } from 'zod'
import { startFakeOpenAI, scriptAnswer } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'
import type { InferenceRecord } from '../src/core/records.ts'

let fake: FakeOpenAI
let s: TestSidecar
const records: InferenceRecord[] = []

t.before(async () => {
  fake = await startFakeOpenAI()
  scriptAnswer('say-and-call', { content: 'Let me check.', toolCalls: [{ id: 'call_v', name: 'get_weather', arguments: '{"city":"Oslo"}' }] })
  const toml =
    fakeModel(fake.url, 'gpt', [['upstream', 'ok']]) +
    fakeModel(fake.url, 'agent_loop', [['upstream', 'until-result-say-and-call']]) +
    fakeModel(fake.url, 'jsonish', [['upstream', 'json-valid']]) +
    fakeModel(fake.url, 'cut', [['upstream', 'cut-2']]) +
    fakeFunction('agent', [['main', 'gpt']]) +
    fakeFunction('looper', [['main', 'agent_loop']]) +
    fakeFunction('structured', [['main', 'jsonish']]) +
    fakeFunction('breaks', [['main', 'cut']])
  const sidecarToml = `
service = "clients-test"
[routes]
"gpt-4o-mini" = "tensorzero::function_name::agent"
"gpt-4.1" = "tensorzero::function_name::looper"
"gpt-4o" = "tensorzero::function_name::structured"
"gpt-broken" = "tensorzero::function_name::breaks"
`
  s = await startTestSidecar({ toml, sidecarToml, options: { observer: { onInference: r => { records.push(r) } } } })
})

t.teardown(async () => {
  await s.close()
  await fake.close()
})

const weather = tool({
  description: 'Weather in a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ city, temp_c: 21 })
})

t.test('Vercel AI SDK default provider: generateText and streamText call /v1/responses and read the answer', async t => {
  const openai = createOpenAI({ baseURL: s.baseURL, apiKey: 'x' })
  const before = fake.requests.length
  const res = await generateText({ model: openai('gpt-4o-mini'), prompt: 'Hello?', system: 'Be brief.', maxRetries: 0 })
  t.equal(res.text, 'Hello from ok')
  t.equal(res.finishReason, 'stop')
  t.match(res.usage, { inputTokens: 7, outputTokens: 5, totalTokens: 12 })
  t.match(res.response.id, /^resp_[0-9a-f]{32}$/)
  t.same(fake.requests[before].body.messages, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello?' }])

  const streamed = streamText({ model: openai('gpt-4o-mini'), prompt: 'Hello?', maxRetries: 0 })
  let text = ''
  for await (const piece of streamed.textStream) text += piece
  t.equal(text, 'Hello from the fake upstream')
  t.equal(await streamed.finishReason, 'stop')
  t.match(await streamed.usage, { inputTokens: 7, outputTokens: 5 })
})

t.test('Vercel AI SDK streamText: a stream that breaks midway surfaces as an error, not as a short answer', async t => {
  const openai = createOpenAI({ baseURL: s.baseURL, apiKey: 'x' })
  const parts: any[] = []
  const streamed = streamText({ model: openai('gpt-broken'), prompt: 'Hello?', maxRetries: 0, onError: () => {} })
  for await (const part of streamed.fullStream) parts.push(part)
  t.ok(parts.some(p => p.type === 'text-delta'), 'the text before the break arrived')
  t.ok(parts.some(p => p.type === 'error'), 'then an error part')
  t.equal(await streamed.finishReason, 'error')
})

t.test('Vercel AI SDK tools: a two-step loop sends the tool result (and an item_reference to its text) back', async t => {
  const sent: any[] = []
  const recording: typeof fetch = async (url, init) => {
    if (typeof init?.body === 'string') sent.push(JSON.parse(init.body))
    return await fetch(url, init)
  }
  const openai = createOpenAI({ baseURL: s.baseURL, apiKey: 'x', fetch: recording })
  const before = fake.requests.length
  const res = await generateText({ model: openai('gpt-4.1'), prompt: 'Weather in Oslo?', tools: { get_weather: weather }, stopWhen: stepCountIs(3), maxRetries: 0 })
  t.equal(res.steps.length, 2, 'a tool step, then the answer')
  t.match(res.steps[0].toolCalls, [{ toolName: 'get_weather', input: { city: 'Oslo' } }])
  t.equal(res.text, 'The tool said: {"city":"Oslo","temp_c":21}')
  const second = fake.requests[before + 1].body.messages
  t.same(second.slice(-2), [
    { role: 'assistant', content: 'Let me check.', tool_calls: [{ id: 'call_v', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
    { role: 'tool', tool_call_id: 'call_v', content: '{"city":"Oslo","temp_c":21}' }
  ], 'the earlier text (sent as an item_reference) and the call, then the tool output')
  t.match(sent[1].input, [{ role: 'user' }, { type: 'item_reference', id: /^msg_/ }, { type: 'function_call', call_id: 'call_v' }, { type: 'function_call_output', call_id: 'call_v' }],
    'the SDK did send the text as an item_reference')

  const streamed = streamText({ model: openai('gpt-4.1'), prompt: 'Weather in Oslo?', tools: { get_weather: weather }, stopWhen: stepCountIs(3), maxRetries: 0 })
  let text = ''
  for await (const piece of streamed.textStream) text += piece
  t.equal(text, 'Let me check.The tool said: {"city":"Oslo","temp_c":21}')
  t.equal((await streamed.steps).length, 2)
  t.match((await streamed.steps)[0].toolCalls, [{ toolName: 'get_weather', input: { city: 'Oslo' } }], 'the streamed call was parsed')
})

t.test('Vercel AI SDK generateObject sends text.format json_schema and parses the object', async t => {
  const openai = createOpenAI({ baseURL: s.baseURL, apiKey: 'x' })
  const { object } = await generateObject({ model: openai('gpt-4o'), schema: z.object({ answer: z.string(), confidence: z.number() }), prompt: 'Capital of France?', maxRetries: 0 })
  t.same(object, { answer: 'Paris', confidence: 0.9 })
  t.match(fake.requests.at(-1)?.body.response_format, { type: 'json_schema', json_schema: { schema: { properties: { answer: { type: 'string' } } } } })
})

t.test('LangChain ChatOpenAI with useResponsesApi: invoke, stream and tool calls', async t => {
  const model = new ChatOpenAI({ model: 'gpt-4o-mini', useResponsesApi: true, apiKey: 'x', maxRetries: 0, configuration: { baseURL: s.baseURL } })
  const before = fake.requests.length
  const reply = await model.invoke('Hello?')
  t.equal(reply.text, 'Hello from ok')
  t.equal(fake.requests.length, before + 1, 'one upstream call')
  t.match(reply.response_metadata, { id: /^resp_/ })
  let streamed = ''
  for await (const chunk of await model.stream('Hello?')) streamed += chunk.text
  t.equal(streamed, 'Hello from the fake upstream')

  const looper = new ChatOpenAI({ model: 'gpt-4.1', useResponsesApi: true, apiKey: 'x', maxRetries: 0, configuration: { baseURL: s.baseURL } })
  const withTools = looper.bindTools([{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }])
  const call = await withTools.invoke('Weather in Oslo?')
  t.match(call.tool_calls, [{ name: 'get_weather', args: { city: 'Oslo' }, id: 'call_v' }])
  t.ok(records.some(r => r.functionName === 'looper'), 'recorded as the function the model maps to')
})
