// Native Anthropic (Messages API) and Google AI Studio Gemini adapters: requests built field by field, recorded
// responses and streams (tool input split across deltas, thinking, usage), error classification — each translated as
// TensorZero's anthropic / google_ai_studio_gemini providers do — then one end-to-end pass through a real sidecar whose
// model routes ["anthropic_fake", "gemini_fake"], driven with the `openai` client (fallback, streaming, tools, JSON).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import OpenAI from 'openai'
import type { ModelRequest, StreamDelta, ToolParams } from '../src/core/types.ts'
import type { ProviderConfig } from '../src/core/config.ts'
import type { ProviderAdapter, ProviderContext, SseEvent } from '../src/providers/adapter.ts'
import { encodeRequest } from '../src/providers/http/extra.ts'
import type { ProviderError } from '../src/core/errors.ts'
import { SseParser } from '../src/providers/http/sse.ts'
import { StreamCollector } from '../src/model/stream.ts'
import { getAdapter, providerType, supportedTypes } from '../src/providers/catalog.ts'
import { anthropicAdapter, defaultMaxTokens, messagesUrl, JSON_PREFILL } from '../src/providers/anthropic/index.ts'
import { geminiAdapter, stripUnsupportedSchemaKeys } from '../src/providers/gemini/index.ts'
import { startFakeAnthropic, type FakeAnthropic } from './helpers/fake-anthropic.ts'
import { startFakeGemini, type FakeGemini } from './helpers/fake-gemini.ts'
import { startTestSidecar, type TestSidecar } from './helpers/sidecar.ts'

/** Pattern for t.throws/t.rejects matching a ProviderError's class (and optionally more fields). */
const E = (errorClass: string, more: Record<string, unknown> = {}): Error => ({ errorClass, ...more }) as unknown as Error
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

const fixture = (provider: string, name: string): string =>
  readFileSync(fileURLToPath(new URL(`./fixtures/providers/${provider}/${name}`, import.meta.url)), 'utf8')
const A = (name: string): string => fixture('anthropic', name)
const G = (name: string): string => fixture('gemini', name)

function provider (over: Partial<ProviderConfig> = {}): ProviderConfig {
  return {
    name: 'p1',
    type: 'anthropic',
    modelName: 'claude-haiku-4-5',
    keyLocation: { kind: 'none' },
    timeouts: {},
    options: {},
    source: { file: 'tensorzero.toml', line: 1, col: 1 },
    ...over
  }
}
const actx = (over: Partial<ProviderConfig> = {}, extra: Partial<ProviderContext> = {}): ProviderContext =>
  ({ provider: provider(over), ...extra })
const gctx = (over: Partial<ProviderConfig> = {}, extra: Partial<ProviderContext> = {}): ProviderContext =>
  ({ provider: provider({ type: 'google_ai_studio_gemini', modelName: 'gemini-2.0-flash', ...over }), ...extra })
function request (over: Partial<ModelRequest> = {}): ModelRequest {
  return { messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }], params: {}, stream: false, ...over }
}
/** The request as the model walk sends it: built by the adapter, extra_body/extra_headers applied, serialised. */
const encoded = <S>(a: ProviderAdapter<S>, req: ModelRequest, c: ProviderContext): ReturnType<typeof encodeRequest> => encodeRequest(a.buildRequest(req, c), req, c)
const body = <S>(a: ProviderAdapter<S>, req: ModelRequest, c: ProviderContext): Record<string, any> => JSON.parse(encoded(a, req, c).body)
/** One event parsed on a fresh stream. */
const oneEvent = <S>(a: ProviderAdapter<S>, ev: SseEvent, c: ProviderContext): ReturnType<ProviderAdapter['parseStreamEvent']> =>
  a.parseStreamEvent(ev, a.newStreamState(request(), c), request(), c)

const weatherTool = {
  name: 'get_weather',
  description: 'Get the weather',
  parameters: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { city: { type: 'string' }, opts: { type: 'object', properties: {}, additionalProperties: false } }, required: ['city'], additionalProperties: false },
  strict: true
}
const timeTool = { name: 'get_time', description: 'Get the time', parameters: { type: 'object', properties: {} }, strict: false }
const tools = (over: Partial<ToolParams> = {}): ToolParams => ({ tools: [weatherTool, timeTool], toolChoice: 'auto', ...over })

/**
 * Run an SSE transcript through the real SSE parser (cut into `size`-byte pieces) and the adapter, with one state
 * object, one request and one context, into the inference layer's own StreamCollector. Stops at the adapter's end marker.
 */
function runStream<S> (a: ProviderAdapter<S>, transcript: string, c: ProviderContext, size = 7, req = request()): { deltas: StreamDelta[]; done: boolean; collector: StreamCollector } {
  const p = new SseParser()
  const state = a.newStreamState(req, c)
  const collector = new StreamCollector()
  const deltas: StreamDelta[] = []
  let done = false
  const handle = (evs: SseEvent[]): void => {
    for (const ev of evs) {
      if (done) return
      const d = a.parseStreamEvent(ev, state, req, c)
      if (d === null) { done = true; return }
      deltas.push(d)
      collector.add(d)
    }
  }
  const buf = Buffer.from(transcript)
  for (let i = 0; i < buf.length; i += size) handle(p.push(buf.subarray(i, i + size)))
  handle(p.end())
  return { deltas, done, collector }
}

// =============================================================================================================
// Anthropic
// =============================================================================================================
t.test('anthropic buildRequest: URL, headers, body fields in TensorZero form', async t => {
  const spec = encoded(anthropicAdapter, request({
    system: 'You are terse.',
    params: { temperature: 0.3, top_p: 0.9, max_tokens: 256, stop_sequences: ['\n\nHuman:'], seed: 7, presence_penalty: 0.1, frequency_penalty: 0.2, reasoning_effort: 'low' }
  }), actx({}, { apiKey: 'sk-ant-test' }))
  t.equal(spec.url, 'https://api.anthropic.com/v1/messages', 'default api_base is the full Messages endpoint (TensorZero posts to it as is)')
  t.equal(spec.method, 'POST')
  t.same(spec.headers, { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'sk-ant-test' }, 'x-api-key + anthropic-version 2023-06-01; no Authorization')
  t.equal(spec.body, JSON.stringify({
    model: 'claude-haiku-4-5',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    max_tokens: 256,
    stream: false,
    system: [{ type: 'text', text: 'You are terse.' }],
    temperature: 0.3,
    top_p: 0.9,
    stop_sequences: ['\n\nHuman:']
  }), 'exact body, TensorZero field order: system as a text block list; seed, penalties and reasoning_effort dropped (Anthropic has none)')
  t.same(anthropicAdapter.buildRequest(request(), actx()).headers, { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, 'api_key_location none: no x-api-key header')
  t.equal(messagesUrl('http://fake:1/v1/messages'), 'http://fake:1/v1/messages', 'api_base ending in /messages used verbatim')
  t.equal(messagesUrl('http://fake:1/v1/messages/'), 'http://fake:1/v1/messages', 'trailing slash after /messages dropped')
  t.equal(messagesUrl('https://gw.example/anthropic/v1/'), 'https://gw.example/anthropic/v1/messages', 'an OpenAI-style base gets `messages` appended')
  t.equal(body(anthropicAdapter, request({ stream: true, params: { max_tokens: 5 } }), actx()).stream, true, 'stream: true when streaming')
  const bare = body(anthropicAdapter, request({ system: '', params: { max_tokens: 5, stop_sequences: [] } }), actx())
  t.notOk('system' in bare || 'stop_sequences' in bare, 'empty system text and empty stop_sequences are not sent (Anthropic rejects empty text blocks)')
})

t.test('anthropic buildRequest: max_tokens default is the model\'s output limit, unknown models need one', async t => {
  t.equal(body(anthropicAdapter, request(), actx()).max_tokens, 64_000, 'claude-haiku-4-5 → 64000')
  t.equal(defaultMaxTokens('claude-3-haiku-20240307'), 4096)
  t.equal(defaultMaxTokens('claude-3-5-sonnet-latest'), 8192)
  t.equal(defaultMaxTokens('claude-3-7-sonnet-20250219'), 64_000)
  t.equal(defaultMaxTokens('claude-sonnet-4-20250514'), 64_000)
  t.equal(defaultMaxTokens('claude-sonnet-4-5'), 64_000)
  t.equal(defaultMaxTokens('claude-opus-4-1'), 32_000)
  t.equal(defaultMaxTokens('claude-opus-4-20250514'), 32_000)
  t.throws(() => anthropicAdapter.buildRequest(request(), actx({ modelName: 'claude-next' })),
    E('client', { message: /doesn't know the output token limit for `claude-next`.*set `max_tokens`/ }), 'unknown model without max_tokens: client error (the routing moves on)')
  t.equal(body(anthropicAdapter, request({ params: { max_tokens: 12 } }), actx({ modelName: 'claude-next' })).max_tokens, 12, 'explicit max_tokens wins')
})

t.test('anthropic buildRequest: messages, tool calls and results, images, [listening] turns', async t => {
  const b = body(anthropicAdapter, request({
    messages: [
      { role: 'assistant', content: [{ type: 'text', text: 'Hello! How can I help?' }] },
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }, { type: 'text', text: '' }] },
      { role: 'assistant', content: [{ type: 'text', text: '' }, { type: 'tool_call', id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', id: 'toolu_1', name: 'get_weather', result: '{"temp":21}' },
          { type: 'raw_text', value: 'And this?' },
          { type: 'image', url: 'data:image/png;base64,iVBORw0KGgo=' },
          { type: 'image', url: 'https://example.com/cat.jpg', detail: 'high' },
          { type: 'image', url: 'data:application/pdf;base64,JVBERi0x' }
        ]
      },
      { role: 'user', content: [] },
      { role: 'assistant', content: [{ type: 'text', text: 'It is' }] }
    ],
    params: { max_tokens: 100 }
  }), actx())
  t.same(b.messages, [
    { role: 'user', content: [{ type: 'text', text: '[listening]' }] },
    { role: 'assistant', content: [{ type: 'text', text: 'Hello! How can I help?' }] },
    { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
    {
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '{"temp":21}' }] },
        { type: 'text', text: 'And this?' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
        { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0x' } }
      ]
    },
    { role: 'assistant', content: [{ type: 'text', text: 'It is' }] },
    { role: 'user', content: [{ type: 'text', text: '[listening]' }] }
  ], '[listening] user turn before a leading assistant turn and after a trailing one; tool_use input parsed; tool_result as a text block; images base64/url; non-image data as a document; empty text and empty messages dropped; one wire message per message (no merging, as TensorZero)')
  t.throws(() => anthropicAdapter.buildRequest(request({ system: 'only a system prompt', messages: [], params: { max_tokens: 1 } }), actx()),
    E('client', { message: /requires at least one message/ }), 'no messages at all: client error, as TensorZero')
  t.throws(() => anthropicAdapter.buildRequest(request({ messages: [{ role: 'assistant', content: [{ type: 'tool_call', id: 'x', name: 'f', arguments: '{"a":' }] }], params: { max_tokens: 1 } }), actx()),
    E('client', { message: /tool call arguments as JSON/ }), 'unparsable tool call arguments: client error')
  t.throws(() => anthropicAdapter.buildRequest(request({ messages: [{ role: 'assistant', content: [{ type: 'tool_call', id: 'x', name: 'f', arguments: '[1]' }] }], params: { max_tokens: 1 } }), actx()),
    E('client', { message: /must be a JSON object/ }), 'non-object tool call arguments: client error')
})

t.test('anthropic buildRequest: tools and tool_choice', async t => {
  const b = body(anthropicAdapter, request({ toolParams: tools(), params: { max_tokens: 1 } }), actx())
  t.same(b.tools, [
    { name: 'get_weather', description: 'Get the weather', input_schema: weatherTool.parameters },
    { name: 'get_time', description: 'Get the time', input_schema: { type: 'object', properties: {} } }
  ], 'tools: name, description, input_schema as given (no strict without beta_structured_outputs)')
  t.same(b.tool_choice, { type: 'auto', disable_parallel_tool_use: false }, 'auto; disable_parallel_tool_use always sent')
  const choice = (tp: ToolParams): unknown => body(anthropicAdapter, request({ toolParams: tp, params: { max_tokens: 1 } }), actx()).tool_choice
  t.same(choice(tools({ toolChoice: 'required' })), { type: 'any', disable_parallel_tool_use: false }, 'required → any')
  t.same(choice(tools({ toolChoice: { specific: 'get_time' }, parallelToolCalls: false })), { type: 'tool', name: 'get_time', disable_parallel_tool_use: true }, 'specific → tool; parallel_tool_calls false → disable_parallel_tool_use true')
  t.same(choice(tools({ parallelToolCalls: true })), { type: 'auto', disable_parallel_tool_use: false }, 'parallel_tool_calls true')
  const none = body(anthropicAdapter, request({ toolParams: tools({ toolChoice: 'none' }), params: { max_tokens: 1 } }), actx())
  t.notOk('tools' in none || 'tool_choice' in none, 'none → no tools and no tool_choice (Anthropic has no "none")')
  const beta = encoded(anthropicAdapter, request({ toolParams: tools(), params: { max_tokens: 1 } }), actx({ options: { beta_structured_outputs: true } }))
  t.same(JSON.parse(beta.body).tools.map((x: any) => x.strict), [true, false], 'beta_structured_outputs: each tool carries its strict flag')
  t.equal(beta.headers['anthropic-beta'], 'structured-outputs-2025-11-13', 'beta_structured_outputs: anthropic-beta header')
})

t.test('anthropic json_mode: TensorZero\'s prefill, structured outputs, tool mode', async t => {
  const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] }
  const on = body(anthropicAdapter, request({ params: { json_mode: 'on', max_tokens: 50 }, outputSchema: schema }), actx())
  t.same(on.messages.at(-1), { role: 'assistant', content: [{ type: 'text', text: JSON_PREFILL }] }, 'json_mode on: assistant prefill "Here is the JSON requested:\\n{" appended last')
  t.notOk('output_format' in on, 'no output_format without beta_structured_outputs')
  const strict = body(anthropicAdapter, request({ params: { json_mode: 'strict', max_tokens: 50 }, outputSchema: schema }), actx())
  t.equal(strict.messages.at(-1).content[0].text, JSON_PREFILL, 'json_mode strict without beta: prefill too')
  const chat = body(anthropicAdapter, ({ ...request({ params: { json_mode: 'on', max_tokens: 50 } }), functionType: 'chat' }) as ModelRequest, actx())
  t.equal(chat.messages.length, 1, 'a chat function\'s json_mode (when the request says so) is not prefilled, as in TensorZero')
  const betaCtx = actx({ options: { beta_structured_outputs: true } })
  const betaStrictRequest = request({ params: { json_mode: 'strict', max_tokens: 50 }, outputSchema: schema })
  const betaStrict = body(anthropicAdapter, betaStrictRequest, betaCtx)
  t.same(betaStrict.output_format, { type: 'json_schema', schema }, 'beta strict: output_format json_schema')
  t.equal(betaStrict.messages.length, 1, 'beta strict: no prefill (Anthropic rejects prefill with output_format)')
  t.same(anthropicAdapter.parseResponse(A('messages_text.response.json'), betaStrictRequest, betaCtx).output, [{ type: 'text', text: 'The capital of Japan is Tokyo.' }], 'no `{` added when nothing was prefilled')
  const off = body(anthropicAdapter, request({ params: { max_tokens: 50 } }), actx())
  t.equal(off.messages.length, 1, 'json_mode off: no prefill')
  const toolMode = body(anthropicAdapter, request({
    params: { json_mode: 'tool', max_tokens: 50 },
    toolParams: { tools: [{ name: 'respond', description: 'Respond to the user using the output schema provided.', parameters: schema, strict: false }], toolChoice: { specific: 'respond' }, implicit: true }
  }), actx())
  t.same(toolMode.tool_choice, { type: 'tool', name: 'respond', disable_parallel_tool_use: false }, 'json_mode tool: the implicit respond tool is forced')
  t.equal(toolMode.messages.length, 1, 'json_mode tool: no prefill')

  const c = actx()
  const prefilled = request({ params: { json_mode: 'on', max_tokens: 50 } })
  t.same(anthropicAdapter.parseResponse(A('messages_json_prefill.response.json'), prefilled, c).output,
    [{ type: 'text', text: '{"answer": "Tokyo",\n  "confidence": 0.98\n}' }], 'prefilled answer: `{` + trimmed text (TensorZero prefill_json_response)')
  const s = runStream(anthropicAdapter, A('stream_text.sse'), c, 7, prefilled)
  t.equal(s.deltas[0].text, '{', 'stream: the first chunk (message_start) carries the prefilled `{`')
  t.same(s.collector.output(), [{ type: 'text', text: '{The capital of Japan is Tokyo.' }], 'stream: `{` then the streamed text')
})

t.test('anthropic buildRequest: extra_body and extra_headers', async t => {
  const spec = encoded(anthropicAdapter, request({
    system: 'Long shared prefix',
    params: { max_tokens: 10 },
    extraBody: [{ pointer: '/system/0/cache_control', value: { type: 'ephemeral' } }, { pointer: '/thinking', value: { type: 'enabled', budget_tokens: 1024 } }],
    extraHeaders: [{ name: 'anthropic-beta', value: 'interleaved-thinking-2025-05-14' }]
  }), actx({ extraHeaders: [{ name: 'X-Org', value: 'pmoves' }] }))
  const b = JSON.parse(spec.body)
  t.same(b.system, [{ type: 'text', text: 'Long shared prefix', cache_control: { type: 'ephemeral' } }], 'extra_body reaches into the system block list (why TensorZero sends a list)')
  t.same(b.thinking, { type: 'enabled', budget_tokens: 1024 }, 'extra_body adds top-level fields')
  t.equal(spec.headers['anthropic-beta'], 'interleaved-thinking-2025-05-14', 'request extra_headers')
  t.equal(spec.headers['x-org'], 'pmoves', 'provider extra_headers, lower-cased')
})

t.test('anthropic parseResponse: recorded answers', async t => {
  const text = anthropicAdapter.parseResponse(A('messages_text.response.json'), request(), actx())
  t.same(text.output, [{ type: 'text', text: 'The capital of Japan is Tokyo.' }])
  t.same(text.usage, { inputTokens: 21, outputTokens: 10, cacheReadInputTokens: 0, cacheWriteInputTokens: 0 }, 'input_tokens/output_tokens, and the cache fields as reported')
  // TensorZero's AnthropicUsage → Usage: input tokens are input + cache writes + cache reads (providers/anthropic.rs).
  const cachedBody = A('messages_text.response.json').replace('"cache_read_input_tokens": 0', '"cache_read_input_tokens": 4200').replace('"cache_creation_input_tokens": 0', '"cache_creation_input_tokens": 300')
  t.same(anthropicAdapter.parseResponse(cachedBody, request(), actx()).usage, { inputTokens: 4521, outputTokens: 10, cacheReadInputTokens: 4200, cacheWriteInputTokens: 300 }, 'cached input counts in input tokens, and apart')
  t.equal(text.finishReason, 'stop', 'end_turn → stop')
  t.equal(text.rawResponse, A('messages_text.response.json'), 'raw response kept verbatim')
  const tool = anthropicAdapter.parseResponse(A('messages_tool_use.response.json'), request(), actx())
  t.same(tool.output, [
    { type: 'text', text: "I'll check the weather in both cities." },
    { type: 'tool_call', id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"celsius"}' },
    { type: 'tool_call', id: 'toolu_01B7x1ZQ3kWdTcVJYh6s2mPq', name: 'get_weather', arguments: '{"location":"New York, NY","unit":"celsius"}' }
  ], 'tool_use blocks → tool calls with Anthropic ids and the input serialised as the arguments')
  t.equal(tool.finishReason, 'tool_call', 'tool_use → tool_call')
  t.same(tool.usage, { inputTokens: 472, outputTokens: 118, cacheReadInputTokens: 0, cacheWriteInputTokens: 0 })
  const thinking = anthropicAdapter.parseResponse(A('messages_thinking.response.json'), request(), actx())
  t.same(thinking.output, [
    { type: 'thought', text: 'The user asks for 27 * 453. 27 * 453 = 27 * 400 + 27 * 53 = 10800 + 1431 = 12231.' },
    { type: 'text', text: '27 × 453 = 12,231.' }
  ], 'thinking → thought; redacted_thinking (signature only) dropped')
  t.equal(anthropicAdapter.parseResponse(A('messages_max_tokens.response.json'), request(), actx()).finishReason, 'length', 'max_tokens → length')
  t.equal(anthropicAdapter.parseResponse(A('messages_stop_sequence.response.json'), request(), actx()).finishReason, 'stop_sequence', 'stop_sequence → stop_sequence')
  t.equal(anthropicAdapter.parseResponse('{"type":"message","content":[],"stop_reason":"refusal","usage":{"input_tokens":1,"output_tokens":0}}', request(), actx()).finishReason, 'unknown', 'other stop reasons → unknown (TensorZero)')
  t.throws(() => anthropicAdapter.parseResponse(A('error_529.json'), request(), actx()), E('server', { message: /overloaded_error: Overloaded/ }), 'an error object in a 200 body: server error')
  t.throws(() => anthropicAdapter.parseResponse('{"content": [oops', request(), actx()), E('bad_response'), 'malformed JSON: bad_response')
  t.throws(() => anthropicAdapter.parseResponse('{"type":"message"}', request(), actx()), E('bad_response', { message: /no content/ }), 'no content: bad_response')
})

t.test('anthropic stream: text, usage from message_start and message_delta, end at message_stop', async t => {
  const { deltas, done, collector } = runStream(anthropicAdapter, A('stream_text.sse'), actx(), 5)
  t.ok(done, 'message_stop ends the stream (null)')
  t.same(collector.output(), [{ type: 'text', text: 'The capital of Japan is Tokyo.' }])
  t.same(deltas[0], { usage: { inputTokens: 21, outputTokens: 1, cacheReadInputTokens: 0, cacheWriteInputTokens: 0 } }, 'message_start → usage (input tokens), first chunk')
  t.same(collector.usage, { inputTokens: 21, outputTokens: 10, cacheReadInputTokens: 0, cacheWriteInputTokens: 0 }, 'final usage: input from message_start, output from message_delta')
  t.equal(collector.finishReason, 'stop', 'message_delta stop_reason end_turn → stop')
  t.equal(deltas.length, 8, 'every event but message_stop (8 of 9) yields a delta (ping / block stop / empty start are empty), so raw_response keeps them')
})

t.test('anthropic stream: tool input JSON split across input_json_delta events', async t => {
  const { deltas, collector } = runStream(anthropicAdapter, A('stream_tool_use.sse'), actx(), 3)
  const calls = deltas.flatMap(d => d.toolCalls ?? [])
  t.same(calls.filter(c => c.id !== undefined), [
    { index: 0, id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather' },
    { index: 1, id: 'toolu_01Xc5Zt8Jm2Zb9hqg1WbKxYt', name: 'get_time' }
  ], 'id and name once per call (content_block_start), tool indexes 0,1 (not Anthropic block indexes 1,2)')
  t.notOk(calls.some(c => c.arguments === ''), 'the empty first partial_json yields no piece')
  const out = collector.output()
  t.same(out, [
    { type: 'text', text: "Okay, let's check the weather." },
    { type: 'tool_call', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', arguments: '{"location": "San Francisco, CA", "unit": "fahrenheit"}' },
    { type: 'tool_call', id: 'toolu_01Xc5Zt8Jm2Zb9hqg1WbKxYt', name: 'get_time', arguments: '{"tz": "America/Los_Angeles"}' }
  ], 'collected arguments are the concatenated pieces, valid JSON')
  t.same(collector.usage, { inputTokens: 472, outputTokens: 89 })
  t.equal(collector.finishReason, 'tool_call')
  const orphan = '{"type":"content_block_delta","index":4,"delta":{"type":"input_json_delta","partial_json":"{}"}}'
  t.throws(() => oneEvent(anthropicAdapter, { data: orphan }, actx()), E('bad_response', { message: /without current tool id/ }), 'input_json_delta without its tool_use start: bad_response')
})

t.test('anthropic stream: thinking, signature and message_delta input usage', async t => {
  const { collector } = runStream(anthropicAdapter, A('stream_thinking.sse'), actx(), 11)
  t.same(collector.output(), [
    { type: 'thought', text: '27 * 453 = 27 * 400 + 27 * 53 = 10800 + 1431 = 12231.' },
    { type: 'text', text: '27 × 453 = 12,231.' }
  ], 'thinking_delta → thought; signature_delta dropped')
  t.same(collector.usage, { inputTokens: 51, outputTokens: 204, cacheReadInputTokens: 0, cacheWriteInputTokens: 0 }, 'message_delta repeating input_tokens is fine (largest figure kept)')
})

t.test('anthropic stream: an error event throws a server error mid-stream', async t => {
  const c = actx()
  const state = anthropicAdapter.newStreamState(request(), c)
  const events = new SseParser().push(A('stream_error.sse'))
  const got: StreamDelta[] = []
  let err: ProviderError | undefined
  for (const ev of events) {
    try {
      const d = anthropicAdapter.parseStreamEvent(ev, state, request(), c)
      if (d !== null) got.push(d)
    } catch (e) { err = e as ProviderError; break }
  }
  t.equal(got.map(d => d.text ?? '').join(''), 'Hel', 'deltas before the error are yielded')
  t.match(err, { errorClass: 'server', message: 'anthropic: error in stream: overloaded_error: Overloaded' }, 'error event → ProviderError(server) naming the error type')
  t.throws(() => oneEvent(anthropicAdapter, { data: 'not json' }, c), E('bad_response'), 'malformed event: bad_response')
})

t.test('anthropic classifyError: recorded error bodies', async t => {
  const e429 = anthropicAdapter.classifyError(429, A('error_429.json'), { 'retry-after': '7' })
  t.match(e429, { errorClass: 'rate_limit', status: 429, retryAfterMs: 7000, message: /^anthropic: 429 Too Many Requests: rate_limit_error: This request would exceed/ }, '429 → rate_limit with Retry-After')
  t.match(anthropicAdapter.classifyError(529, A('error_529.json'), {}), { errorClass: 'server', status: 529, message: 'anthropic: 529 Overloaded: overloaded_error: Overloaded' }, '529 overloaded → server')
  t.match(anthropicAdapter.classifyError(401, A('error_401.json'), {}), { errorClass: 'credentials', message: /authentication_error: invalid x-api-key/ }, '401 → credentials')
  t.match(anthropicAdapter.classifyError(403, '{"type":"error","error":{"type":"permission_error","message":"no"}}', {}), { errorClass: 'credentials' }, '403 → credentials')
  t.match(anthropicAdapter.classifyError(400, A('error_400.json'), {}), { errorClass: 'client', message: /invalid_request_error: messages\.1\.content/ }, '400 → client with Anthropic\'s reason')
  t.match(anthropicAdapter.classifyError(500, A('error_500.json'), {}), { errorClass: 'server', rawResponse: A('error_500.json') }, '500 → server, raw body kept')
  t.match(anthropicAdapter.classifyError(502, '', {}), { errorClass: 'server', message: 'anthropic: 502 Bad Gateway: (empty body)' }, 'empty body')
  t.match(anthropicAdapter.classifyError(504, '<html>gateway timeout</html>', {}), { errorClass: 'timeout', message: /<html>/ }, '504 → timeout, non-JSON body excerpted')
})

// =============================================================================================================
// Gemini
// =============================================================================================================
t.test('gemini buildRequest: URL, key header, body fields', async t => {
  const spec = encoded(geminiAdapter, request({
    system: 'You are terse.',
    params: { temperature: 0.2, top_p: 0.8, max_tokens: 128, seed: 42, stop_sequences: ['END'], presence_penalty: 0.1, frequency_penalty: 0.3, reasoning_effort: 'low' }
  }), gctx({}, { apiKey: 'AIza-test' }))
  t.equal(spec.url, 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent', 'default base + models/{model}:generateContent')
  t.same(spec.headers, { 'content-type': 'application/json', 'x-goog-api-key': 'AIza-test' }, 'key in x-goog-api-key, never in the URL')
  t.equal(spec.body, JSON.stringify({
    contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
    generationConfig: { stopSequences: ['END'], temperature: 0.2, topP: 0.8, presencePenalty: 0.1, frequencyPenalty: 0.3, maxOutputTokens: 128, seed: 42 },
    systemInstruction: { parts: [{ text: 'You are terse.' }] }
  }), 'exact body: contents, generationConfig (camelCase), systemInstruction; reasoning_effort dropped')
  const stream = encoded(geminiAdapter, request({ stream: true }), gctx({ apiBase: 'http://fake:9/v1beta', modelName: 'models/gemini-2.5-pro' }))
  t.equal(stream.url, 'http://fake:9/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse', 'streaming URL with alt=sse; api_base honoured; a models/ prefix not doubled')
  t.same(JSON.parse(stream.body).generationConfig, {}, 'generationConfig always present (TensorZero sends it even empty)')
  t.notOk('stream' in JSON.parse(stream.body), 'no stream field: streaming is the URL')
  const bare = body(geminiAdapter, request({ system: '', params: { stop_sequences: [] } }), gctx())
  t.same(bare, { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }], generationConfig: {} }, 'empty system and stop_sequences not sent')
})

t.test('gemini buildRequest: contents, function calls and responses, images', async t => {
  const b = body(geminiAdapter, request({
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and London?' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_call', id: 'c1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
      { role: 'user', content: [{ type: 'tool_result', id: 'c1', name: 'get_weather', result: '{"temp":21}' }] },
      { role: 'user', content: [] },
      { role: 'user', content: [{ type: 'image', url: 'data:image/jpeg;base64,/9j/4AAQ' }, { type: 'image', url: 'https://example.com/cat.png?x=1' }, { type: 'image', url: 'https://example.com/noext' }] }
    ]
  }), gctx())
  t.same(b.contents, [
    { role: 'user', parts: [{ text: 'Weather in Paris and London?' }] },
    { role: 'model', parts: [{ text: 'Checking.' }, { functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
    { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { name: 'get_weather', content: '{"temp":21}' } } }] },
    { role: 'user', parts: [{ inlineData: { mimeType: 'image/jpeg', data: '/9j/4AAQ' } }, { fileData: { mimeType: 'image/png', fileUri: 'https://example.com/cat.png?x=1' } }, { fileData: { fileUri: 'https://example.com/noext' } }] }
  ], 'assistant → model; tool calls → functionCall with parsed args; results → functionResponse {name, content} (TensorZero\'s shape); empty messages dropped; data URLs inline, others fileData')
  t.throws(() => geminiAdapter.buildRequest(request({ messages: [{ role: 'user', content: [] }] }), gctx()), E('client', { message: /at least one message/ }), 'no contents: client error')
  t.throws(() => geminiAdapter.buildRequest(request({ messages: [{ role: 'assistant', content: [{ type: 'tool_call', id: 'x', name: 'f', arguments: '"s"' }] }] }), gctx()),
    E('client', { message: /must be a JSON object/ }), 'non-object tool arguments: client error')
})

t.test('gemini buildRequest: tools, functionCallingConfig, schema keys Gemini rejects', async t => {
  const b = body(geminiAdapter, request({ toolParams: tools() }), gctx())
  t.same(b.tools, [{
    functionDeclarations: [
      { name: 'get_weather', description: 'Get the weather', parameters: { type: 'object', properties: { city: { type: 'string' }, opts: { type: 'object', properties: {} } }, required: ['city'] } },
      { name: 'get_time', description: 'Get the time', parameters: { type: 'object', properties: {} } }
    ]
  }], 'one functionDeclarations list; $schema and additionalProperties removed at every level')
  const cfg = (tp: ToolParams): unknown => body(geminiAdapter, request({ toolParams: tp }), gctx()).toolConfig
  t.same(b.toolConfig, { functionCallingConfig: { mode: 'AUTO' } }, 'auto → AUTO')
  t.same(cfg(tools({ toolChoice: 'required' })), { functionCallingConfig: { mode: 'ANY' } }, 'required → ANY')
  t.same(cfg(tools({ toolChoice: 'none' })), { functionCallingConfig: { mode: 'NONE' } }, 'none → NONE (tools still declared)')
  t.same(cfg(tools({ toolChoice: { specific: 'get_time' } })), { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_time'] } }, 'specific → ANY limited to it')
  t.same(cfg(tools({ allowedTools: ['get_weather'] })), { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } }, 'auto with allowed_tools → ANY + allowedFunctionNames (TensorZero: AUTO rejects names)')
  t.same(cfg(tools({ toolChoice: 'required', allowedTools: ['get_weather'] })), { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } }, 'required with allowed_tools')
  t.notOk('tools' in body(geminiAdapter, request({ toolParams: { tools: [], toolChoice: 'auto' } }), gctx()), 'no tools → neither tools nor toolConfig')
  t.same(stripUnsupportedSchemaKeys({ anyOf: [{ additionalProperties: true, type: 'object' }], $schema: 'x' }), { anyOf: [{ type: 'object' }] }, 'stripping reaches into arrays')
})

t.test('gemini buildRequest: json_mode → responseMimeType / responseSchema', async t => {
  const schema = { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { answer: { type: 'string' } }, additionalProperties: false }
  const gen = (over: Partial<ModelRequest>): unknown => body(geminiAdapter, request(over), gctx()).generationConfig
  t.same(gen({ params: { json_mode: 'on' } }), { responseMimeType: 'application/json' }, 'on without schema: JSON mime type only')
  t.same(gen({ params: { json_mode: 'on' }, outputSchema: schema }), { responseMimeType: 'application/json', responseSchema: { type: 'object', properties: { answer: { type: 'string' } } } }, 'on with a schema: responseSchema too (as TensorZero), cleaned')
  t.same(gen({ params: { json_mode: 'strict' }, outputSchema: schema }), { responseMimeType: 'application/json', responseSchema: { type: 'object', properties: { answer: { type: 'string' } } } }, 'strict: same')
  t.same(gen({ params: { json_mode: 'off' }, outputSchema: schema }), {}, 'off: nothing')
  t.same(gen({ params: { json_mode: 'tool' }, outputSchema: schema }), {}, 'tool: nothing (the respond tool does the work)')
  const spec = encoded(geminiAdapter, request({ extraBody: [{ pointer: '/generationConfig/thinkingConfig', value: { thinkingBudget: 0 } }], extraHeaders: [{ name: 'X-Trace', value: '1' }] }), gctx())
  t.same(JSON.parse(spec.body).generationConfig, { thinkingConfig: { thinkingBudget: 0 } }, 'extra_body patches generationConfig')
  t.equal(spec.headers['x-trace'], '1', 'extra_headers')
})

t.test('gemini parseResponse: recorded answers', async t => {
  const text = geminiAdapter.parseResponse(G('generate_text.response.json'), request(), gctx())
  t.same(text.output, [{ type: 'text', text: 'The capital of Japan is Tokyo.\n' }])
  t.same(text.usage, { inputTokens: 9, outputTokens: 8 }, 'promptTokenCount / candidatesTokenCount')
  t.equal(text.finishReason, 'stop', 'STOP → stop')
  const tool = geminiAdapter.parseResponse(G('generate_tool_call.response.json'), request(), gctx())
  t.equal(tool.output.length, 2, 'two function calls, same name: two tool calls')
  for (const o of tool.output) t.match(o, { type: 'tool_call', name: 'get_weather', id: UUID_V7 }, 'generated UUIDv7 id (Gemini has none; TensorZero does the same)')
  t.same(tool.output.map(o => o.type === 'tool_call' && o.arguments), ['{"location":"Paris"}', '{"location":"London"}'], 'args serialised as the arguments')
  t.not(tool.output[0].type === 'tool_call' && tool.output[0].id, tool.output[1].type === 'tool_call' && tool.output[1].id, 'ids differ')
  t.equal(tool.finishReason, 'stop', 'function calls still finish with STOP → stop (as TensorZero)')
  const thinking = geminiAdapter.parseResponse(G('generate_thinking.response.json'), request(), gctx())
  t.same(thinking.output, [
    { type: 'thought', text: '**Computing the product**\n\n27 × 453: 27 × 400 = 10800 and 27 × 53 = 1431, total 12231.\n' },
    { type: 'text', text: '27 × 453 = 12,231.' }
  ], 'thought: true parts → thought; the thoughtSignature on a text part is dropped')
  t.same(thinking.usage, { inputTokens: 12, outputTokens: 11 }, 'thoughtsTokenCount not added to output tokens (TensorZero counts candidates only)')
  const safety = geminiAdapter.parseResponse(G('generate_safety.response.json'), request(), gctx())
  t.same(safety.output, [], 'blocked candidate has no content')
  t.equal(safety.finishReason, 'content_filter', 'SAFETY → content_filter')
  t.same(safety.usage, { inputTokens: 15 }, 'no candidatesTokenCount: output tokens left unset')
  t.throws(() => geminiAdapter.parseResponse(G('generate_blocked_prompt.response.json'), request(), gctx()),
    E('bad_response', { message: /no candidates \(prompt blocked: PROHIBITED_CONTENT\)/ }), 'blocked prompt (no candidates): fails like TensorZero, so routing moves on')
  const fin = (r: string): unknown => geminiAdapter.parseResponse(JSON.stringify({ candidates: [{ finishReason: r }], usageMetadata: {} }), request(), gctx()).finishReason
  t.same(['MAX_TOKENS', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'MALFORMED_FUNCTION_CALL', 'OTHER', 'FINISH_REASON_UNSPECIFIED', 'NEW_ONE'].map(fin),
    ['length', 'content_filter', 'content_filter', 'content_filter', 'content_filter', 'tool_call', 'unknown', 'unknown', 'unknown'], 'finish reason map')
  t.throws(() => geminiAdapter.parseResponse(G('error_503.json'), request(), gctx()), E('server', { message: /UNAVAILABLE: The model is overloaded/ }), 'error object in a 200 body: server')
  t.throws(() => geminiAdapter.parseResponse('[', request(), gctx()), E('bad_response'), 'malformed JSON')
})

t.test('gemini stream: CRLF events, empty text skipped, usage only with the finish reason', async t => {
  const raw = G('stream_text.crlf.sse')
  t.ok(raw.includes('\r\n\r\n'), 'fixture uses CRLF like the real API')
  const { deltas, done, collector } = runStream(geminiAdapter, raw, gctx(), 9)
  t.notOk(done, 'no end marker: the stream ends at EOF')
  t.equal(deltas.length, 4, 'one delta per event')
  t.same(deltas[2], {}, 'a spurious empty text part yields an empty delta')
  t.same(deltas.slice(0, 3).map(d => d.usage), [undefined, undefined, undefined], 'running usage in unfinished events ignored (TensorZero)')
  t.same(deltas[3], { text: ' Tokyo.\n', finishReason: 'stop', usage: { inputTokens: 9, outputTokens: 8 } }, 'last event: text, finish reason and usage')
  t.same(collector.output(), [{ type: 'text', text: 'The capital of Japan is Tokyo.\n' }])
  const max = runStream(geminiAdapter, G('stream_max_tokens.crlf.sse'), gctx())
  t.equal(max.collector.finishReason, 'length', 'MAX_TOKENS → length')
  t.equal(oneEvent(geminiAdapter, { data: '[DONE]' }, gctx()), null, 'a [DONE] added by a proxy ends the stream')
})

t.test('gemini stream: each function call part is a new tool call', async t => {
  const { deltas, collector } = runStream(geminiAdapter, G('stream_tool_call.crlf.sse'), gctx(), 13)
  const calls = deltas.flatMap(d => d.toolCalls ?? [])
  t.same(calls.map(c => c.index), [0, 1, 2], 'indexes 0,1,2 across events (two calls to the same function stay two calls)')
  for (const c of calls) t.match(c.id, UUID_V7, 'each call gets a UUIDv7 id in its single piece')
  t.same(collector.output(), [
    { type: 'text', text: 'Checking both cities.' },
    { type: 'tool_call', id: calls[0].id, name: 'get_weather', arguments: '{"location":"Paris"}' },
    { type: 'tool_call', id: calls[1].id, name: 'get_weather', arguments: '{"location":"London"}' },
    { type: 'tool_call', id: calls[2].id, name: 'get_time', arguments: '{"tz":"Europe/London"}' }
  ], 'complete calls with their arguments')
  t.same(collector.usage, { inputTokens: 64, outputTokens: 21 })
  const thinking = runStream(geminiAdapter, G('stream_thinking.crlf.sse'), gctx())
  t.same(thinking.collector.output(), [{ type: 'thought', text: '**Computing**\n27 × 453 …' }, { type: 'text', text: '27 × 453 = 12,231.' }], 'thought parts stream as thoughts')
})

t.test('gemini stream: an error event throws a server error', async t => {
  const events = new SseParser().push(G('stream_error.crlf.sse'))
  t.equal(events.length, 2)
  t.same(oneEvent(geminiAdapter, events[0], gctx()), { text: 'Hel' }, 'first event translated')
  t.throws(() => oneEvent(geminiAdapter, events[1], gctx()), E('server', { message: 'google_ai_studio_gemini: error in stream event: UNAVAILABLE: The model is overloaded. Please try again later.' }), 'error object → ProviderError(server)')
  t.throws(() => oneEvent(geminiAdapter, { data: '{"usageMetadata":{}}' }, gctx()), E('bad_response', { message: /no candidates/ }), 'an event without candidates fails like TensorZero')
})

t.test('gemini classifyError: recorded error bodies', async t => {
  t.match(geminiAdapter.classifyError(429, G('error_429.json'), {}), { errorClass: 'rate_limit', retryAfterMs: 23_000, message: /^google_ai_studio_gemini: 429 Too Many Requests: RESOURCE_EXHAUSTED: You exceeded your current quota/ }, '429 → rate_limit; RetryInfo retryDelay 23s → 23000 ms')
  t.match(geminiAdapter.classifyError(429, G('error_429.json'), { 'retry-after': '2' }), { retryAfterMs: 2000 }, 'a Retry-After header wins over RetryInfo')
  t.match(geminiAdapter.classifyError(400, G('error_400_api_key.json'), {}), { errorClass: 'credentials', status: 400, message: /INVALID_ARGUMENT: API key not valid/ }, '400 API_KEY_INVALID → credentials')
  t.match(geminiAdapter.classifyError(400, G('error_400.json'), {}), { errorClass: 'client', message: /contents is not specified/ }, 'other 400 → client')
  t.match(geminiAdapter.classifyError(403, G('error_403.json'), {}), { errorClass: 'credentials', message: /PERMISSION_DENIED/ }, '403 → credentials')
  t.match(geminiAdapter.classifyError(503, G('error_503.json'), {}), { errorClass: 'server', message: /503 Service Unavailable: UNAVAILABLE/ }, '503 → server')
  t.match(geminiAdapter.classifyError(500, 'oops', {}), { errorClass: 'server', message: /: oops$/ }, 'non-JSON body excerpted')
})

t.test('registry: both native types are served with TensorZero\'s defaults', async t => {
  const a = getAdapter('anthropic') as ProviderAdapter
  t.equal(a, anthropicAdapter)
  t.equal(providerType('anthropic')?.defaultApiKeyEnv, 'ANTHROPIC_API_KEY')
  t.equal(providerType('anthropic')?.defaultApiBase, 'https://api.anthropic.com/v1/messages')
  const g = getAdapter('google_ai_studio_gemini') as ProviderAdapter
  t.equal(g, geminiAdapter)
  t.equal(providerType('google_ai_studio_gemini')?.defaultApiKeyEnv, 'GOOGLE_AI_STUDIO_API_KEY')
  t.equal(providerType('google_ai_studio_gemini')?.defaultApiBase, 'https://generativelanguage.googleapis.com/v1beta/')
  t.ok(supportedTypes().includes('anthropic') && supportedTypes().includes('google_ai_studio_gemini'), 'listed as supported')
  t.equal(g.buildEmbeddingRequest, undefined, 'no Gemini embeddings (TensorZero\'s provider has none either)')
})

// =============================================================================================================
// End to end: openai client → sidecar → loopback Anthropic / Gemini fakes
// =============================================================================================================
t.test('end to end through the sidecar: anthropic then gemini', async t => {
  const fa: FakeAnthropic = await startFakeAnthropic()
  const fg: FakeGemini = await startFakeGemini()
  const providers = (name: string, claude: string, gemini: string): string => `
[models.${name}]
routing = ["anthropic_fake", "gemini_fake"]
[models.${name}.providers.anthropic_fake]
type = "anthropic"
model_name = "${claude}"
api_base = "${fa.url}/v1/messages"
api_key_location = "env::TEST_ANTHROPIC_KEY"
[models.${name}.providers.gemini_fake]
type = "google_ai_studio_gemini"
model_name = "${gemini}"
api_base = "${fg.url}/v1beta/"
api_key_location = "env::TEST_GEMINI_KEY"
`
  const toml = [
    providers('cloud', 'claude-ok', 'gemini-ok'),
    providers('cloud_fallback', 'claude-overloaded', 'gemini-ok'),
    providers('cloud_tool', 'claude-tool', 'gemini-tool'),
    providers('gemini_tool', 'claude-rate-limit', 'gemini-tool'),
    providers('midstream', 'claude-midstream-error', 'gemini-never'),
    providers('both_down', 'claude-overloaded', 'gemini-unavailable'),
    providers('json_model', 'claude-json', 'gemini-ok'),
    `
[functions.answer]
type = "json"
output_schema = "answer.json"
[functions.answer.variants.claude]
type = "chat_completion"
model = "json_model"
max_tokens = 200
`
  ].join('\n')
  const s: TestSidecar = await startTestSidecar({
    toml,
    files: { 'answer.json': JSON.stringify({ type: 'object', properties: { answer: { type: 'string' }, confidence: { type: 'number' } }, required: ['answer'] }) },
    env: { TEST_ANTHROPIC_KEY: 'sk-ant-fake', TEST_GEMINI_KEY: 'AIza-fake' }
  })
  const client = new OpenAI({ baseURL: s.baseURL, apiKey: 'unused', maxRetries: 0 })
  const user = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Say hello' }]
  t.teardown(async () => { await s.close(); await fa.close(); await fg.close() })

  await t.test('non-streaming: Anthropic answers; request and headers as the Messages API wants them', async t => {
    const { data, response } = await client.chat.completions.create({ model: 'tensorzero::model_name::cloud', messages: user, max_tokens: 64, temperature: 0.1 }).withResponse()
    t.equal(data.choices[0].message.content, 'Hello from claude-ok')
    t.equal(data.choices[0].finish_reason, 'stop')
    t.same(data.usage, { prompt_tokens: 13, completion_tokens: 7, total_tokens: 20, prompt_tokens_details: { cached_tokens: 0 }, tensorzero_provider_cache_write_input_tokens: 0, tensorzero_cost: null }, 'Anthropic usage reaches the client, cache counts too; no cost config: tensorzero_cost null')
    t.equal(response.headers.get('x-tensorzero-provider'), 'anthropic_fake')
    const sent = fa.requestsFor('claude-ok').at(-1)
    t.equal(sent?.path, '/v1/messages')
    t.equal(sent?.headers['x-api-key'], 'sk-ant-fake', 'key from api_key_location in x-api-key')
    t.equal(sent?.headers.authorization, undefined, 'the client\'s Authorization is not forwarded')
    t.same(sent?.body, { model: 'claude-ok', messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hello' }] }], max_tokens: 64, stream: false, system: [{ type: 'text', text: 'Be brief.' }], temperature: 0.1 }, 'the system message moved to the top-level system field')
  })

  await t.test('non-streaming fallback: Anthropic 529 overloaded → Gemini answers', async t => {
    const before = fa.requestsFor('claude-overloaded').length
    const { data, response } = await client.chat.completions.create({ model: 'tensorzero::model_name::cloud_fallback', messages: user, max_tokens: 64 }).withResponse()
    t.equal(data.choices[0].message.content, 'Hello from gemini-ok')
    t.equal(response.headers.get('x-tensorzero-provider'), 'gemini_fake', 'served by the second provider in routing')
    t.equal(fa.requestsFor('claude-overloaded').length, before + 1, 'Anthropic was tried first')
    const sent = fg.requestsFor('gemini-ok').at(-1)
    t.equal(sent?.method, 'generateContent')
    t.equal(sent?.headers['x-goog-api-key'], 'AIza-fake', 'Gemini key in x-goog-api-key')
    t.notMatch(sent?.path ?? '', /key=/, 'no key in the URL')
    t.same(sent?.body, { contents: [{ role: 'user', parts: [{ text: 'Say hello' }] }], generationConfig: { maxOutputTokens: 64 }, systemInstruction: { parts: [{ text: 'Be brief.' }] } })
  })

  await t.test('missing max_tokens for a model TensorZero does not know: Anthropic refused locally, Gemini answers', async t => {
    const before = fa.requestsFor('claude-ok').length
    const { response } = await client.chat.completions.create({ model: 'tensorzero::model_name::cloud', messages: user }).withResponse()
    t.equal(response.headers.get('x-tensorzero-provider'), 'gemini_fake')
    t.equal(fa.requestsFor('claude-ok').length, before, 'nothing was sent to Anthropic')
  })

  await t.test('streaming: Anthropic events become OpenAI chunks, usage summed in the final chunk', async t => {
    const stream = await client.chat.completions.create({ model: 'tensorzero::model_name::cloud', messages: user, max_tokens: 64, stream: true, stream_options: { include_usage: true } })
    let text = ''
    let finish: string | null = null
    let usage: unknown
    let first = true
    for await (const chunk of stream) {
      if (first) { t.equal(chunk.choices[0]?.delta.role, 'assistant', 'first chunk carries the role'); first = false }
      text += chunk.choices[0]?.delta.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
      if (chunk.usage != null) usage = chunk.usage
    }
    t.equal(text, 'Hello from claude-ok')
    t.equal(finish, 'stop')
    t.same(usage, { prompt_tokens: 13, completion_tokens: 7, total_tokens: 20, tensorzero_cost: null }, 'input from message_start, output from message_delta (not 1 + 7)')
    t.equal(fa.requestsFor('claude-ok').at(-1)?.body.stream, true)
  })

  await t.test('streaming fallback before the first chunk: Anthropic 529 → Gemini SSE', async t => {
    const stream = await client.chat.completions.create({ model: 'tensorzero::model_name::cloud_fallback', messages: user, max_tokens: 64, stream: true, stream_options: { include_usage: true } })
    let text = ''
    let usage: unknown
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? ''
      if (chunk.usage != null) usage = chunk.usage
    }
    t.equal(text, 'Hello from gemini-ok')
    t.same(usage, { prompt_tokens: 11, completion_tokens: 6, total_tokens: 17, tensorzero_cost: null }, 'Gemini usage from the finishing event')
    t.match(fg.requestsFor('gemini-ok').at(-1)?.path, /:streamGenerateContent\?alt=sse$/)
  })

  await t.test('streaming: an Anthropic error event after the first chunk is an in-stream error, no fallback', async t => {
    const stream = await client.chat.completions.create({ model: 'tensorzero::model_name::midstream', messages: user, max_tokens: 64, stream: true })
    let text = ''
    await t.rejects((async () => { for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '' })(), /overloaded_error: Overloaded/, 'the client sees the provider\'s error')
    t.equal(text, 'Hello', 'content before the error was delivered')
    t.equal(fg.requestsFor('gemini-never').length, 0, 'never falls back mid-stream')
  })

  await t.test('tools: Anthropic tool_use → OpenAI tool_calls, non-streaming and streaming', async t => {
    const toolsParam = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false } } }]
    const res = await client.chat.completions.create({ model: 'tensorzero::model_name::cloud_tool', messages: user, max_tokens: 64, tools: toolsParam, tool_choice: 'required' })
    const msg = res.choices[0].message
    t.equal(msg.content, 'Let me check.')
    t.same(msg.tool_calls?.map(c => c.type === 'function' ? [c.id, c.function.name, c.function.arguments] : []), [['toolu_fake_1', 'get_weather', '{"city":"Paris"}']])
    t.equal(res.choices[0].finish_reason, 'tool_calls', 'tool_use → tool_calls')
    const sent = fa.requestsFor('claude-tool').at(-1)?.body
    t.same(sent?.tool_choice, { type: 'any', disable_parallel_tool_use: false }, 'tool_choice required → any')
    t.same(sent?.tools?.[0]?.name, 'get_weather')

    const stream = await client.chat.completions.create({ model: 'tensorzero::model_name::cloud_tool', messages: user, max_tokens: 64, tools: toolsParam, stream: true })
    const calls = new Map<number, { id: string; name: string; args: string }>()
    let finish: string | null = null
    for await (const chunk of stream) {
      for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) {
        const c = calls.get(tc.index) ?? { id: '', name: '', args: '' }
        c.id += tc.id ?? ''
        c.name += tc.function?.name ?? ''
        c.args += tc.function?.arguments ?? ''
        calls.set(tc.index, c)
      }
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    t.same([...calls.entries()], [[0, { id: 'toolu_fake_1', name: 'get_weather', args: '{"city":"Paris"}' }]], 'the tool call at index 0, arguments reassembled from input_json_delta pieces')
    t.equal(finish, 'tool_calls')
  })

  await t.test('tools via Gemini after an Anthropic 429: generated call id, functionDeclarations sent', async t => {
    const toolsParam = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, additionalProperties: false } } }]
    const { data, response } = await client.chat.completions.create({ model: 'tensorzero::model_name::gemini_tool', messages: user, max_tokens: 64, tools: toolsParam }).withResponse()
    t.equal(response.headers.get('x-tensorzero-provider'), 'gemini_fake', '429 from Anthropic moved on')
    const call = data.choices[0].message.tool_calls?.[0]
    t.match(call, { id: UUID_V7, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } })
    const sent = fg.requestsFor('gemini-tool').at(-1)?.body
    t.same(sent?.tools, [{ functionDeclarations: [{ name: 'get_weather', description: '', parameters: { type: 'object', properties: { city: { type: 'string' } } } }] }], 'additionalProperties stripped')
    t.same(sent?.toolConfig, { functionCallingConfig: { mode: 'AUTO' } })
  })

  await t.test('every provider failing: 500 naming both providers\' errors', async t => {
    const err = await client.chat.completions.create({ model: 'tensorzero::model_name::both_down', messages: user, max_tokens: 64 }).catch((e: unknown) => e)
    t.match(err, { status: 500 })
    t.match((err as Error).message, /529 Overloaded: overloaded_error: Overloaded/)
    t.match((err as Error).message, /503 Service Unavailable: UNAVAILABLE/)
  })

  await t.test('JSON function: the prefill `{` is restored, non-streaming and streaming', async t => {
    const res = await client.chat.completions.create({ model: 'tensorzero::function_name::answer', messages: [{ role: 'user', content: 'Capital of France?' }] })
    t.equal(res.choices[0].message.content, '{"answer":"Paris","confidence":0.9}', 'client gets valid JSON')
    const sent = fa.requestsFor('claude-json').at(-1)?.body
    t.same(sent?.messages.at(-1), { role: 'assistant', content: [{ type: 'text', text: 'Here is the JSON requested:\n{' }] }, 'prefill sent as the last turn')
    const stream = await client.chat.completions.create({ model: 'tensorzero::function_name::answer', messages: [{ role: 'user', content: 'Capital of France?' }], stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
    t.equal(text, '{"answer":"Paris","confidence":0.9}', 'streamed JSON starts with the prefilled `{`')
  })
})
