// Provider adapters: OpenAI-compatible request/response/stream/error translation against recorded fixtures,
// the per-type registry, the dummy provider's behaviours, and the incremental SSE parser.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { EmbeddingRequest, EmbeddingResponse, ModelRequest, ProviderResponse, StreamDelta, Message } from '../src/core/types.ts'
import type { ProviderConfig } from '../src/core/config.ts'
import type { ProviderAdapter, ProviderContext, SseEvent } from '../src/providers/adapter.ts'
import { ProviderError } from '../src/core/errors.ts'
import { SseParser } from '../src/providers/http/sse.ts'
import { createOpenAICompatibleAdapter } from '../src/providers/openai/index.ts'
import { joinUrl } from '../src/providers/http/url.ts'
import { parseRetryAfterMs } from '../src/providers/http/errors.ts'
import { applyPointer, applyExtraHeaders, encodeRequest } from '../src/providers/http/extra.ts'
import { parsedAnswer, openStream, RawStream } from '../src/providers/call.ts'
import { getAdapter, providerType, supportedTypes, unsupportedTypeMessage } from '../src/providers/catalog.ts'
import {
  dummyAdapter, dummyTransport, resetDummyState, DUMMY_INFER_RESPONSE_CONTENT, DUMMY_TOOL_ARGUMENTS, DUMMY_STREAM_ERROR_AFTER, wordChunks, dummyEmbedding
} from '../src/providers/dummy/index.ts'

/** Pattern for t.throws/t.rejects matching a ProviderError's class (and optionally more fields). */
const E = (errorClass: string, more: Record<string, unknown> = {}): Error => ({ errorClass, ...more }) as unknown as Error
const E400 = { status: 400 } as unknown as Error

const FIX = fileURLToPath(new URL('./fixtures/providers/openai/', import.meta.url))
const fixture = (name: string): string => readFileSync(FIX + name, 'utf8')

function provider (over: Partial<ProviderConfig> = {}): ProviderConfig {
  return {
    name: 'p1',
    type: 'openai',
    modelName: 'gpt-4o-mini',
    keyLocation: { kind: 'none' },
    timeouts: {},
    options: {},
    source: { file: 'tensorzero.toml', line: 1, col: 1 },
    ...over
  }
}
function ctx (over: Partial<ProviderConfig> = {}, extra: Partial<ProviderContext> = {}): ProviderContext {
  return { provider: provider(over), ...extra }
}
function request (over: Partial<ModelRequest> = {}): ModelRequest {
  return { messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }], params: {}, stream: false, ...over }
}
const openaiAdapter = getAdapter('openai') as ProviderAdapter
/** The request as the model walk sends it: built by the adapter, extra_body/extra_headers applied, serialised. */
const encoded = (a: ProviderAdapter, req: ModelRequest, c: ProviderContext = ctx()): ReturnType<typeof encodeRequest> => encodeRequest(a.buildRequest(req, c), req, c)
const body = (a: ProviderAdapter, req: ModelRequest, c: ProviderContext = ctx()): Record<string, any> => JSON.parse(encoded(a, req, c).body)
/** One event parsed on a fresh stream. */
const oneEvent = (a: ProviderAdapter, ev: SseEvent, c: ProviderContext): ReturnType<ProviderAdapter['parseStreamEvent']> =>
  a.parseStreamEvent(ev, a.newStreamState(request(), c), request(), c)

/** Run a transcript through the SSE parser (in the given pieces) and the adapter; collect deltas until [DONE]. */
function runStream (a: ProviderAdapter, pieces: Array<string | Buffer>): { deltas: StreamDelta[]; done: boolean } {
  const p = new SseParser()
  const deltas: StreamDelta[] = []
  let done = false
  const handle = (evs: SseEvent[]): void => {
    for (const ev of evs) {
      if (done) return
      const d = oneEvent(a, ev, ctx())
      if (d === null) done = true
      else deltas.push(d)
    }
  }
  for (const piece of pieces) handle(p.push(piece))
  handle(p.end())
  return { deltas, done }
}

/** Fold deltas the way the inference layer will: text, thought, tool calls by index, last usage, last finish reason. */
function fold (deltas: StreamDelta[]): { text: string; thought: string; tools: Array<{ id?: string; name: string; arguments: string }>; usage?: StreamDelta['usage']; finishReason?: string } {
  let text = ''
  let thought = ''
  const tools: Array<{ id?: string; name: string; arguments: string }> = []
  let usage: StreamDelta['usage']
  let finishReason: string | undefined
  for (const d of deltas) {
    if (d.text !== undefined) text += d.text
    if (d.thought !== undefined) thought += d.thought
    for (const tc of d.toolCalls ?? []) {
      const cur = tools[tc.index] ?? (tools[tc.index] = { name: '', arguments: '' })
      if (tc.id !== undefined) cur.id = tc.id
      if (tc.name !== undefined) cur.name += tc.name
      if (tc.arguments !== undefined) cur.arguments += tc.arguments
    }
    if (d.usage !== undefined) usage = d.usage
    if (d.finishReason !== undefined) finishReason = d.finishReason
  }
  return { text, thought, tools, usage, finishReason }
}

// ---------------------------------------------------------------------------------------------------------------
t.test('buildRequest: URL, headers and auth', async t => {
  t.equal(openaiAdapter.buildRequest(request(), ctx()).url, 'https://api.openai.com/v1/chat/completions', 'default api_base for type openai')
  t.equal(openaiAdapter.buildRequest(request(), ctx({ apiBase: 'http://ollama:11434/v1' })).url, 'http://ollama:11434/v1/chat/completions', 'api_base without trailing slash')
  t.equal(openaiAdapter.buildRequest(request(), ctx({ apiBase: 'http://vllm:8000/v1///' })).url, 'http://vllm:8000/v1/chat/completions', 'repeated trailing slashes collapse')
  t.equal(joinUrl('http://h/v1/', 'embeddings'), 'http://h/v1/embeddings', 'joinUrl keeps one slash')
  const noKey = encoded(openaiAdapter, request())
  t.same(noKey.headers, { 'content-type': 'application/json' }, 'no Authorization header when no key is given')
  t.equal(noKey.method, 'POST', 'POST')
  t.equal(typeof noKey.body, 'string', 'body stays text (stored verbatim as raw_request)')
  const withKey = openaiAdapter.buildRequest(request(), { provider: provider(), apiKey: 'sk-test' })
  t.equal(withKey.headers.authorization, 'Bearer sk-test', 'Bearer key when a key is given')
  const vllm = getAdapter('vllm') as ProviderAdapter
  t.throws(() => vllm.buildRequest(request(), ctx({ type: 'vllm' })), E('client', { message: /needs `api_base`/ }), 'vllm without api_base fails clearly')
})

t.test('buildRequest: messages', async t => {
  const req = request({
    system: 'You are terse.\nAnswer in French.',
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'What is the weather in Brooklyn?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me check.' },
          { type: 'tool_call', id: 'call_1', name: 'get_temperature', arguments: '{"location":"Brooklyn"}' },
          { type: 'tool_call', id: 'call_2', name: 'get_humidity', arguments: '{"location":"Brooklyn"}' }
        ]
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', id: 'call_1', name: 'get_temperature', result: '21' },
          { type: 'tool_result', id: 'call_2', name: 'get_humidity', result: '40%' },
          { type: 'text', text: 'And this picture?' },
          { type: 'image', url: 'https://example.com/a.png', detail: 'low' }
        ]
      },
      { role: 'assistant', content: [{ type: 'tool_call', id: 'call_3', name: 'noop', arguments: '{}' }] },
      { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }
    ]
  })
  const b = body(openaiAdapter, req)
  t.same(b.messages, [
    { role: 'system', content: 'You are terse.\nAnswer in French.' },
    { role: 'user', content: 'What is the weather in Brooklyn?' },
    {
      role: 'assistant',
      content: 'Let me check.',
      tool_calls: [
        { id: 'call_1', type: 'function', function: { name: 'get_temperature', arguments: '{"location":"Brooklyn"}' } },
        { id: 'call_2', type: 'function', function: { name: 'get_humidity', arguments: '{"location":"Brooklyn"}' } }
      ]
    },
    { role: 'tool', tool_call_id: 'call_1', content: '21' },
    { role: 'tool', tool_call_id: 'call_2', content: '40%' },
    { role: 'user', content: [{ type: 'text', text: 'And this picture?' }, { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } }] },
    { role: 'assistant', tool_calls: [{ id: 'call_3', type: 'function', function: { name: 'noop', arguments: '{}' } }] },
    { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }
  ], 'system first; single text → string; tool results → tool messages in order before the rest of the turn; images → image_url parts; tool-only assistant has no content')
  t.equal(b.model, 'gpt-4o-mini', 'model is provider.modelName')
  t.notOk('stream' in b, 'no stream flag when not streaming')
  t.notOk('system' in body(openaiAdapter, request()).messages[0] && false, 'no system message without system')
  t.equal(body(openaiAdapter, request()).messages[0].role, 'user', 'no system message when system is absent')
  t.throws(() => openaiAdapter.buildRequest(request({ messages: [{ role: 'assistant', content: [{ type: 'tool_result', id: 'a', name: 'b', result: 'c' }] }] }), ctx()),
    E('client'), 'tool_result in an assistant message is an error (as TensorZero)')
  t.throws(() => openaiAdapter.buildRequest(request({ messages: [{ role: 'user', content: [{ type: 'tool_call', id: 'a', name: 'b', arguments: '{}' }] }] }), ctx()),
    E('client'), 'tool_call in a user message is an error')
  t.same(body(openaiAdapter, request({ messages: [{ role: 'user', content: [{ type: 'template', name: 'user', arguments: { topic: 'x' } }] }] })).messages,
    [{ role: 'user', content: '{"topic":"x"}' }], 'an unrendered template block is sent as its JSON arguments')
  t.same(body(openaiAdapter, request({ messages: [{ role: 'user', content: [{ type: 'image', url: 'data:image/png;base64,AAAA' }] }] })).messages,
    [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }], 'a lone image is still an array of parts; no detail when unset')
  t.same(body(openaiAdapter, request({ messages: [{ role: 'assistant', content: [] }] })).messages, [], 'empty assistant message dropped')
  t.throws(() => openaiAdapter.buildRequest(request({ messages: [{ role: 'assistant', content: [{ type: 'image', url: 'x' }] }] }), ctx()),
    E('unsupported'), 'image in assistant message is unsupported')
})

t.test('buildRequest: sampling params and max tokens field per type', async t => {
  const params = { temperature: 0.2, max_tokens: 100, top_p: 0.9, seed: 7, presence_penalty: 0.1, frequency_penalty: 0.3, stop_sequences: ['END'], reasoning_effort: 'low' }
  const b = body(openaiAdapter, request({ params }))
  t.match(b, { temperature: 0.2, max_completion_tokens: 100, top_p: 0.9, seed: 7, presence_penalty: 0.1, frequency_penalty: 0.3, stop: ['END'], reasoning_effort: 'low' }, 'openai: params, max_completion_tokens')
  t.notOk('max_tokens' in b, 'openai: no max_tokens')
  const v = body(getAdapter('vllm') as ProviderAdapter, request({ params }), ctx({ type: 'vllm', apiBase: 'http://vllm:8000/v1' }))
  t.equal(v.max_tokens, 100, 'vllm: max_tokens')
  t.notOk('max_completion_tokens' in v, 'vllm: no max_completion_tokens')
  const m = body(getAdapter('mistral') as ProviderAdapter, request({ params }))
  t.equal(m.random_seed, 7, 'mistral: seed → random_seed')
  t.notOk('seed' in m, 'mistral: no seed')
  const empty = body(openaiAdapter, request({ params: { stop_sequences: [] } }))
  t.same(Object.keys(empty).sort(), ['messages', 'model'], 'unset params and empty stop are omitted')
})

t.test('buildRequest: streaming flags', async t => {
  const b = body(openaiAdapter, request({ stream: true }))
  t.equal(b.stream, true, 'stream: true')
  t.same(b.stream_options, { include_usage: true }, 'stream_options.include_usage so usage arrives at all')
  const noOpts = createOpenAICompatibleAdapter({ type: 'x', defaultApiBase: 'http://x/v1', quirks: { streamOptions: false } })
  t.notOk('stream_options' in body(noOpts, request({ stream: true })), 'quirk streamOptions:false omits stream_options')
})

t.test('buildRequest: tools and tool_choice', async t => {
  const tools = [{ name: 'get_temperature', description: 'Temp', parameters: { type: 'object', properties: { location: { type: 'string' } } }, strict: true }]
  const b = body(openaiAdapter, request({ toolParams: { tools, toolChoice: 'auto', parallelToolCalls: false } }))
  t.same(b.tools, [{ type: 'function', function: { name: 'get_temperature', description: 'Temp', parameters: tools[0].parameters, strict: true } }], 'tool definitions')
  t.equal(b.tool_choice, 'auto', 'tool_choice auto')
  t.equal(b.parallel_tool_calls, false, 'parallel_tool_calls passed when set')
  t.equal(body(openaiAdapter, request({ toolParams: { tools, toolChoice: 'none' } })).tool_choice, 'none', 'none')
  t.equal(body(openaiAdapter, request({ toolParams: { tools, toolChoice: 'required' } })).tool_choice, 'required', 'required')
  t.same(body(openaiAdapter, request({ toolParams: { tools, toolChoice: { specific: 'get_temperature' } } })).tool_choice,
    { type: 'function', function: { name: 'get_temperature' } }, 'specific tool')
  t.equal(body(getAdapter('mistral') as ProviderAdapter, request({ toolParams: { tools, toolChoice: 'required' } })).tool_choice, 'any', 'mistral: required → any')
  const none = body(openaiAdapter, request({ toolParams: { tools: [], toolChoice: 'auto', parallelToolCalls: true } }))
  t.notOk('tools' in none || 'tool_choice' in none || 'parallel_tool_calls' in none, 'no tools → no tool fields')
  t.notOk('parallel_tool_calls' in body(openaiAdapter, request({ toolParams: { tools, toolChoice: 'auto' } })), 'parallel_tool_calls omitted when unset')
})

t.test('buildRequest: json modes', async t => {
  const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false }
  t.same(body(openaiAdapter, request({ params: { json_mode: 'on' }, outputSchema: schema })).response_format, { type: 'json_object' }, 'on → json_object')
  t.same(body(openaiAdapter, request({ params: { json_mode: 'strict' }, outputSchema: schema })).response_format,
    { type: 'json_schema', json_schema: { name: 'response', strict: true, schema } }, 'strict + schema → json_schema')
  t.same(body(openaiAdapter, request({ params: { json_mode: 'strict' } })).response_format, { type: 'json_object' }, 'strict without schema → json_object')
  t.same(body(getAdapter('deepseek') as ProviderAdapter, request({ params: { json_mode: 'strict' }, outputSchema: schema })).response_format,
    { type: 'json_object' }, 'deepseek: strict downgrades to json_object')
  const sys = (over: Partial<ModelRequest>): unknown => body(openaiAdapter, request(over)).messages[0]
  t.same(sys({ params: { json_mode: 'on' } }), { role: 'system', content: 'Respond using JSON.' }, 'on without system → "Respond using JSON." system (OpenAI needs the word)')
  t.same(sys({ params: { json_mode: 'on' }, system: 'Be brief.' }), { role: 'system', content: 'Respond using JSON.\n\nBe brief.' }, 'on: instruction prefixed when nothing mentions JSON')
  t.same(sys({ params: { json_mode: 'on' }, system: 'Answer in Json.' }), { role: 'system', content: 'Answer in Json.' }, 'on: system mentioning JSON (any case) kept as is')
  t.same(sys({ params: { json_mode: 'on' }, system: 'Be brief.', messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'give me JSON' }] }] }),
    { role: 'system', content: 'Be brief.' }, 'on: a message mentioning JSON is enough')
  t.same(sys({ params: { json_mode: 'strict' }, outputSchema: schema }), { role: 'user', content: 'Hi' }, 'strict adds no instruction')
  t.notOk('response_format' in body(openaiAdapter, request({ params: { json_mode: 'off' }, outputSchema: schema })), 'off → nothing')
  t.notOk('response_format' in body(openaiAdapter, request({ params: { json_mode: 'tool' }, outputSchema: schema })), 'tool → nothing here (variant layer adds the tool)')
})

t.test('buildRequest: extra_body and extra_headers', async t => {
  const c = ctx({
    extraBody: [{ pointer: '/chat_template_kwargs/enable_thinking', value: false }, { pointer: '/temperature', value: 1 }],
    extraHeaders: [{ name: 'X-Provider', value: 'prov' }, { name: 'X-Gone', value: 'x' }]
  }, { variantName: 'v1', modelName: 'm1' })
  const req = request({
    params: { temperature: 0.5, top_p: 0.5, stop_sequences: ['END'] },
    extraBody: [
      { pointer: '/temperature', value: 0.7 }, // overrides provider-level
      { pointer: '/top_p', delete: true },
      { pointer: '/options/num~1ctx', value: 4096 }, // ~1 → '/'
      { pointer: '/skipped_variant', value: 1, variantName: 'other' },
      { pointer: '/kept_variant', value: 1, variantName: 'v1' },
      { pointer: '/skipped_provider', value: 1, modelName: 'm1', providerName: 'p2' },
      { pointer: '/skipped_model', value: 1, modelName: 'm2' },
      { pointer: '/kept_provider', value: 1, modelName: 'm1', providerName: 'p1' },
      { pointer: '/kept_model', value: 1, modelName: 'm1' },
      { pointer: '/stop/-', value: 'X' }
    ],
    extraHeaders: [{ name: 'X-Gone', delete: true }, { name: 'x-request', value: 'r' }, { name: 'x-skip', value: 's', variantName: 'nope' }]
  })
  const spec = encoded(openaiAdapter, req, c)
  const b = JSON.parse(spec.body)
  t.same(b.chat_template_kwargs, { enable_thinking: false }, 'provider-level extra_body creates nested objects')
  t.equal(b.temperature, 0.7, 'request-level patch wins over provider-level and the built value')
  t.notOk('top_p' in b, 'delete removes a field')
  t.same(b.options, { 'num/ctx': 4096 }, 'JSON pointer escapes decoded')
  t.notOk('skipped_variant' in b, 'variantName filter that does not match is skipped')
  t.equal(b.kept_variant, 1, 'matching variantName filter applies')
  t.notOk('skipped_provider' in b, 'model_name + provider_name filter for another provider of the model is skipped')
  t.notOk('skipped_model' in b, 'model_name filter for another model is skipped')
  t.equal(b.kept_provider, 1, 'model_name + provider_name filter for this provider applies')
  t.equal(b.kept_model, 1, 'model_name filter without provider_name applies to this model')
  t.same(b.stop, ['END', 'X'], '`-` appends to an array')
  t.equal(spec.headers['x-provider'], 'prov', 'provider-level header (lower-cased)')
  t.notOk('x-gone' in spec.headers, 'header delete')
  t.equal(spec.headers['x-request'], 'r', 'request-level header')
  t.notOk('x-skip' in spec.headers, 'filtered header skipped')
  t.throws(() => encoded(openaiAdapter, request({ extraBody: [{ pointer: 'temperature', value: 1 }] })), E400, 'pointer must start with / (a 400: the request is at fault)')
  t.throws(() => applyPointer({}, '/__proto__/x', { value: 1 }), E400, '__proto__ refused (a 400: the request is at fault)')
  t.throws(() => applyPointer({ a: 1 }, '/a/b', { value: 1 }), E400, 'cannot descend into a scalar (a 400: the request is at fault)')
  const o: Record<string, unknown> = { a: [1, 2, 3] }
  applyPointer(o, '/a/1', { delete: true })
  applyPointer(o, '/missing/deep', { delete: true })
  t.same(o, { a: [1, 3] }, 'array element delete; deleting a missing path is a no-op')
  applyPointer(o, '/a/0', { value: 9 })
  applyPointer(o, '/a/5', { delete: true })
  applyPointer(o, '/b/0/c', { value: 1 })
  t.same(o, { a: [9, 3], b: { 0: { c: 1 } } }, 'array index set; out-of-range delete ignored; missing parents are objects')
  t.throws(() => applyPointer(o, '/a/x', { value: 1 }), E400, 'non-numeric array index refused (a 400: the request is at fault)')
  const arr: Record<string, unknown> = { l: [{}] }
  applyPointer(arr, '/l/0/k', { value: 2 })
  applyPointer(arr, '/l/1/k', { value: 3 })
  t.same(arr, { l: [{ k: 2 }, { k: 3 }] }, 'descend through array elements, creating missing ones')
  const hs: Record<string, string> = {}
  applyExtraHeaders(hs, [{ name: 'X-A', value: 'a' }, { name: 'X-B' }], undefined, ctx())
  t.same(hs, { 'x-a': 'a' }, 'a header entry without value removes it')
})

// ---------------------------------------------------------------------------------------------------------------
t.test('parseResponse', async t => {
  const basic = openaiAdapter.parseResponse(fixture('chat_basic.response.json'), request(), ctx())
  t.same(basic.output, [{ type: 'text', text: 'Hello! How can I assist you today?' }], 'text content → text block')
  t.same(basic.usage, { inputTokens: 19, outputTokens: 10, cacheReadInputTokens: 0 }, 'usage prompt/completion tokens, and prompt_tokens_details.cached_tokens')
  t.equal(basic.finishReason, 'stop', 'stop')
  t.equal(basic.rawResponse, fixture('chat_basic.response.json'), 'raw response kept verbatim')
  const tools = openaiAdapter.parseResponse(fixture('chat_tool_calls.response.json'), request(), ctx())
  t.same(tools.output, [
    { type: 'tool_call', id: 'call_Rj8v1DqG7xQ2', name: 'get_temperature', arguments: '{"location":"Brooklyn","units":"celsius"}' },
    { type: 'tool_call', id: 'call_Zp3nT9wK0aLm', name: 'get_humidity', arguments: '{"location":"Brooklyn"}' }
  ], 'tool_calls → tool_call blocks; null content → no text block')
  t.equal(tools.finishReason, 'tool_call', 'tool_calls → tool_call')
  const vllm = openaiAdapter.parseResponse(fixture('chat_reasoning_vllm.response.json'), request(), ctx())
  t.same(vllm.output, [{ type: 'thought', text: 'The user asks for 2+2. That is 4.' }, { type: 'text', text: '4' }], 'vLLM reasoning_content → thought block first')
  t.equal(vllm.finishReason, 'length', 'length')
  const ollama = openaiAdapter.parseResponse(fixture('chat_reasoning_ollama.response.json'), request(), ctx())
  t.same(ollama.output[0], { type: 'thought', text: 'The capital of France is Paris.' }, 'Ollama `reasoning` → thought block')
  const cf = openaiAdapter.parseResponse(fixture('chat_content_filter.response.json'), request(), ctx())
  t.equal(cf.finishReason, 'content_filter', 'content_filter')
  t.same(cf.usage, {}, 'missing usage → empty usage')
  t.same(cf.output, [], 'empty content → no text block')
  const mk = (fr: unknown): string | undefined => openaiAdapter.parseResponse(JSON.stringify({ choices: [{ message: { content: 'x' }, finish_reason: fr }] }), request(), ctx()).finishReason
  t.equal(mk('function_call'), 'tool_call', 'function_call → tool_call')
  t.equal(mk('eos'), 'unknown', 'anything else → unknown')
  t.equal(mk(null), undefined, 'null → no finish reason')
  const obj = openaiAdapter.parseResponse(JSON.stringify({ choices: [{ message: { tool_calls: [{ function: { name: 'f', arguments: { a: 1 } } }] } }] }), request(), ctx())
  t.same(obj.output, [{ type: 'tool_call', id: 'call_0', name: 'f', arguments: '{"a":1}' }], 'object arguments stringified; missing id gets a positional id')
  t.throws(() => openaiAdapter.parseResponse('not json', request(), ctx()), E('bad_response'), 'malformed body → bad_response')
  t.throws(() => openaiAdapter.parseResponse('{"choices":[]}', request(), ctx()), E('bad_response'), 'no choices → bad_response')
  t.throws(() => openaiAdapter.parseResponse('[1]', request(), ctx()), E('bad_response'), 'non-object → bad_response')
  t.throws(() => openaiAdapter.parseResponse('{"choices":[{"index":0}]}', request(), ctx()), E('bad_response'), 'choice without message → bad_response')
  t.throws(() => openaiAdapter.parseResponse('{"error":{"message":"upstream overloaded","code":502}}', request(), ctx()),
    E('server', { message: /upstream overloaded/ }), '200 with an error object (OpenRouter) → server')
})

// ---------------------------------------------------------------------------------------------------------------
t.test('parseStreamEvent over recorded transcripts', async t => {
  const text = runStream(openaiAdapter, [fixture('chat_stream_text.sse')])
  t.ok(text.done, '[DONE] → null ends the stream')
  t.same(fold(text.deltas), { text: 'Hello! Où êtes-vous? 👋', thought: '', tools: [], usage: { inputTokens: 19, outputTokens: 7, cacheReadInputTokens: 0 }, finishReason: 'stop' },
    'text deltas, finish reason, usage from the usage-only final chunk')
  t.same(text.deltas[0], {}, 'role-only first chunk → empty delta')

  const tools = runStream(openaiAdapter, [fixture('chat_stream_tool_calls.sse')])
  t.same(fold(tools.deltas).tools, [
    { id: 'call_Rj8v1DqG7xQ2', name: 'get_temperature', arguments: '{"location": "Brooklyn"}' },
    { id: 'call_Zp3nT9wK0aLm', name: 'get_humidity', arguments: '{"location": "Brooklyn"}' }
  ], 'parallel tool calls reassembled from fragments keyed by index')
  t.same(tools.deltas[1], { toolCalls: [{ index: 0, arguments: '{"lo' }] }, 'a fragment carries only index + arguments')
  t.same(tools.deltas[0], { toolCalls: [{ index: 0, id: 'call_Rj8v1DqG7xQ2', name: 'get_temperature' }] }, 'first piece: id and name, empty arguments dropped')
  t.equal(fold(tools.deltas).finishReason, 'tool_call', 'finish tool_calls → tool_call')
  t.same(fold(tools.deltas).usage, { inputTokens: 82, outputTokens: 47 }, 'usage')

  const vllm = runStream(openaiAdapter, [fixture('chat_stream_reasoning_vllm.crlf.sse')])
  t.ok(vllm.done, 'CRLF transcript ends at [DONE]')
  t.match(fold(vllm.deltas), { text: '4', thought: 'Two plus two is four.', usage: { inputTokens: 14, outputTokens: 9 }, finishReason: 'stop' }, 'vLLM reasoning_content deltas → thought')

  const ollama = runStream(openaiAdapter, [fixture('chat_stream_ollama.sse')])
  t.same(fold(ollama.deltas), {
    text: '', thought: 'Paris is the capital.', tools: [{ id: 'call_b7v2x1qz', name: 'get_temperature', arguments: '{"location":"Paris"}' }],
    usage: { inputTokens: 120, outputTokens: 40 }, finishReason: 'tool_call'
  }, 'Ollama: `reasoning` deltas, whole tool call in one chunk')

  t.throws(() => runStream(openaiAdapter, [fixture('chat_stream_error.sse')]),
    E('server', { message: /CUDA out of memory/ }), 'an {"error":…} chunk mid-stream → ProviderError server with the provider message')
  t.throws(() => oneEvent(openaiAdapter, { data: '{"choices":[{"delta":' }, ctx()), E('bad_response'), 'malformed JSON → bad_response')
  t.throws(() => oneEvent(openaiAdapter, { data: '"x"' }, ctx()), E('bad_response'), 'non-object chunk → bad_response')
  t.throws(() => oneEvent(openaiAdapter, { event: 'error', data: '{"message":"boom"}' }, ctx()), E('server', { message: /boom/ }), 'named error event → server')
  t.throws(() => oneEvent(openaiAdapter, { event: 'error', data: 'overloaded' }, ctx()), E('server', { message: /overloaded/ }), 'named error event with a text body → server')
  t.equal(oneEvent(openaiAdapter, { data: ' [DONE] ' }, ctx()), null, '[DONE] with stray spaces')
  t.same(oneEvent(openaiAdapter, { data: '{"choices":[{"delta":{"content":"a"}}],"x_groq":{"usage":{"prompt_tokens":3,"completion_tokens":4}}}' }, ctx()),
    { text: 'a', usage: { inputTokens: 3, outputTokens: 4 } }, 'Groq x_groq.usage')
  t.same(oneEvent(openaiAdapter, { data: '{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{}"}}]}}]}' }, ctx()),
    { toolCalls: [{ index: 0, arguments: '{}' }] }, 'tool call piece without index uses its position')
})

// ---------------------------------------------------------------------------------------------------------------
t.test('classifyError', async t => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  const e429 = openaiAdapter.classifyError(429, fixture('error_429_openai.json'), { 'retry-after': '20' })
  t.equal(e429.errorClass, 'rate_limit', '429 → rate_limit')
  t.equal(e429.retryAfterMs, 20000, 'retry-after seconds')
  t.equal(e429.status, 429, 'status kept')
  t.match(e429.message, /^openai: 429 Too Many Requests: Rate limit reached for gpt-4o-mini/, 'message names status and provider reason')
  t.equal(e429.rawResponse, fixture('error_429_openai.json'), 'raw body kept')
  t.equal(parseRetryAfterMs({ 'retry-after-ms': '148', 'retry-after': '1' }), 148, 'retry-after-ms wins')
  t.equal(parseRetryAfterMs({ 'Retry-After': 'Thu, 01 Jan 2026 00:00:05 GMT' }, now), 5000, 'HTTP date (any header case)')
  t.equal(parseRetryAfterMs({ 'retry-after': 'Wed, 31 Dec 2025 00:00:00 GMT' }, now), 0, 'past date → 0')
  t.equal(parseRetryAfterMs({ 'retry-after': ['2', '3'] }), 2000, 'array header → first')
  t.equal(parseRetryAfterMs({ 'retry-after': 'soon' }), undefined, 'garbage → undefined')
  t.equal(parseRetryAfterMs({ 'retry-after': '-1' }), undefined, 'negative → undefined')
  t.equal(parseRetryAfterMs({}), undefined, 'absent → undefined')
  t.equal(openaiAdapter.classifyError(401, fixture('error_401_openai.json'), {}).errorClass, 'credentials', '401 → credentials')
  t.equal(openaiAdapter.classifyError(403, '', {}).errorClass, 'credentials', '403 → credentials')
  t.equal(openaiAdapter.classifyError(408, '', {}).errorClass, 'timeout', '408 → timeout')
  t.equal(openaiAdapter.classifyError(504, '', {}).errorClass, 'timeout', '504 → timeout')
  t.equal(openaiAdapter.classifyError(500, '', {}).errorClass, 'server', '500 → server')
  t.equal(openaiAdapter.classifyError(503, '', { 'retry-after': '3' }).retryAfterMs, 3000, 'retry-after parsed on 503 too')
  const v = (getAdapter('vllm') as ProviderAdapter).classifyError(400, fixture('error_400_vllm.json'), {})
  t.equal(v.errorClass, 'client', '400 → client')
  t.match(v.message, /^vllm: 400 Bad Request: This model's maximum context length is 8192 tokens/, 'vLLM top-level `message`, prefixed with the type')
  const html = openaiAdapter.classifyError(502, '<html>' + 'x'.repeat(2000) + '</html>', {})
  t.ok(html.message.length < 560, 'non-JSON body excerpt is capped at 500 chars')
  t.match(html.message, /^openai: 502 Bad Gateway: <html>x+…$/, 'excerpt of the body')
  t.match(openaiAdapter.classifyError(500, '  ', {}).message, /\(empty body\)/, 'empty body said so')
  t.match(openaiAdapter.classifyError(422, '{"detail":"bad field"}', {}).message, /bad field/, '`detail` used')
  t.match(openaiAdapter.classifyError(599, '{"error":"plain"}', {}).message, /^openai: 599 Error: plain/, 'string error; unknown status text')
})

// ---------------------------------------------------------------------------------------------------------------
t.test('embeddings', async t => {
  const embeddingCtx = { provider: provider({ modelName: 'text-embedding-3-small' }), apiKey: 'k' }
  const spec = encodeRequest(openaiAdapter.buildEmbeddingRequest!({ input: ['a', 'b'], dimensions: 256, encodingFormat: 'float' }, embeddingCtx), undefined, embeddingCtx)
  t.equal(spec.url, 'https://api.openai.com/v1/embeddings', 'embeddings URL')
  t.same(JSON.parse(spec.body), { model: 'text-embedding-3-small', input: ['a', 'b'], dimensions: 256, encoding_format: 'float' }, 'body')
  t.equal(spec.headers.authorization, 'Bearer k', 'auth')
  t.same(openaiAdapter.buildEmbeddingRequest!({ input: 'a' }, ctx()).body, { model: 'gpt-4o-mini', input: 'a' }, 'optional fields omitted')
  const r = openaiAdapter.parseEmbeddingResponse!(fixture('embeddings.response.json'), ctx())
  t.same(r.embeddings, [[-0.0069, 0.0153, -0.0107], [0.5, -0.25, 0.125]], 'ordered by index')
  t.same(r.usage, { inputTokens: 8 }, 'usage')
  const f = new Float32Array([0.5, -2])
  const b64 = Buffer.from(f.buffer).toString('base64')
  t.same(openaiAdapter.parseEmbeddingResponse!(JSON.stringify({ data: [{ index: 0, embedding: b64 }] }), ctx()).embeddings, [[0.5, -2]], 'base64 float32 decoded')
  t.throws(() => openaiAdapter.parseEmbeddingResponse!('{"data":[]}', ctx()), E('bad_response'), 'no data → bad_response')
  t.throws(() => openaiAdapter.parseEmbeddingResponse!('{"data":[{"index":0}]}', ctx()), E('bad_response'), 'item without embedding → bad_response')
  t.throws(() => openaiAdapter.parseEmbeddingResponse!('{"error":{"message":"nope"}}', ctx()), E('server'), 'error object → server')
  t.throws(() => openaiAdapter.parseEmbeddingResponse!('nope', ctx()), E('bad_response'), 'malformed → bad_response')
})

// ---------------------------------------------------------------------------------------------------------------
t.test('registry', async t => {
  const expect: Record<string, [string | undefined, string | undefined]> = {
    openai: ['https://api.openai.com/v1/', 'OPENAI_API_KEY'],
    openrouter: ['https://openrouter.ai/api/v1/', 'OPENROUTER_API_KEY'],
    together: ['https://api.together.xyz/v1/', 'TOGETHER_API_KEY'],
    groq: ['https://api.groq.com/openai/v1/', 'GROQ_API_KEY'],
    mistral: ['https://api.mistral.ai/v1/', 'MISTRAL_API_KEY'],
    xai: ['https://api.x.ai/v1/', 'XAI_API_KEY'],
    deepseek: ['https://api.deepseek.com/v1/', 'DEEPSEEK_API_KEY'],
    fireworks: ['https://api.fireworks.ai/inference/v1/', 'FIREWORKS_API_KEY'],
    hyperbolic: ['https://api.hyperbolic.xyz/v1/', 'HYPERBOLIC_API_KEY'],
    vllm: [undefined, undefined],
    sglang: [undefined, undefined],
    tgi: [undefined, undefined]
  }
  for (const [type, [base, env]] of Object.entries(expect)) {
    const facts = providerType(type)
    t.ok(facts?.adapter !== undefined && facts.transport === undefined, `${type} is served over HTTP`)
    t.equal(facts?.type, type, `${type}: type`)
    t.equal(facts?.defaultApiBase, base, `${type}: default api_base`)
    t.equal(facts?.defaultApiKeyEnv, env, `${type}: default key env var`)
  }
  const nativeOrLocal = ['anthropic', 'google_ai_studio_gemini', 'dummy']
  t.equal(supportedTypes().filter(type => !nativeOrLocal.includes(type)).length, Object.keys(expect).length, 'every OpenAI-compatible type is pinned above')
  t.equal(providerType('dummy')?.transport, dummyTransport, 'dummy is served in-process')
  // anthropic and google_ai_studio_gemini have native adapters: pinned in test/providers-native.test.ts.
  t.equal(getAdapter('gcp_vertex_gemini'), undefined, 'gcp_vertex_gemini not implemented yet')
  t.equal(unsupportedTypeMessage('gcp_vertex_gemini'), 'provider type `gcp_vertex_gemini` is not supported by this sidecar yet', 'clear message for known-but-unsupported types')
  t.match(unsupportedTypeMessage('ollama'), /^unknown provider type `ollama` \(supported: .*openai/, 'unknown types named as unknown')
  t.same(supportedTypes(), [...supportedTypes()].sort(), 'supportedTypes sorted')
  const url = (type: string): string => (getAdapter(type) as ProviderAdapter).buildRequest(request(), ctx({ type })).url
  t.equal(url('groq'), 'https://api.groq.com/openai/v1/chat/completions', 'groq URL from default base')
  t.match((getAdapter('groq') as ProviderAdapter).classifyError(500, '', {}).message, /^groq: /, 'errors prefixed with the type')
})

// ---------------------------------------------------------------------------------------------------------------
const dummyCtx = (modelName: string, name = 'dummy'): ProviderContext => ({ provider: provider({ type: 'dummy', name, modelName }) })
const signal = (): AbortSignal => new AbortController().signal
// The dummy provider as the model walk calls it: the OpenAI translator, answered by the in-process transport.
async function dummyInfer (req: ModelRequest, c: ProviderContext, s: AbortSignal): Promise<ProviderResponse & { rawRequest: string }> {
  const spec = encodeRequest(dummyAdapter.buildRequest(req, c), req, c)
  return { ...await parsedAnswer(dummyAdapter, dummyTransport, spec, s, body => dummyAdapter.parseResponse(body, req, c)), rawRequest: spec.body }
}
function dummyStream (req: ModelRequest, c: ProviderContext, s: AbortSignal): { rawRequest: string; deltas: AsyncIterable<StreamDelta> } {
  const spec = encodeRequest(dummyAdapter.buildRequest(req, c), req, c)
  const deltas = async function * (): AsyncGenerator<StreamDelta> {
    const it = await openStream(dummyAdapter, dummyTransport, spec, req, c, s, new RawStream())
    for (let r = await it.next(); r.done !== true; r = await it.next()) yield r.value
  }
  return { rawRequest: spec.body, deltas: deltas() }
}
async function dummyEmbed (req: EmbeddingRequest, c: ProviderContext, s: AbortSignal): Promise<EmbeddingResponse> {
  const spec = encodeRequest(dummyAdapter.buildEmbeddingRequest!(req, c), undefined, c)
  return await parsedAnswer(dummyAdapter, dummyTransport, spec, s, body => dummyAdapter.parseEmbeddingResponse!(body, c))
}
async function collect (req: ModelRequest, c: ProviderContext, s = signal()): Promise<StreamDelta[]> {
  const out: StreamDelta[] = []
  for await (const d of dummyStream(req, c, s).deltas) out.push(d)
  return out
}

t.test('dummy provider', async t => {
  resetDummyState()
  const good = await dummyInfer(request(), dummyCtx('good'), signal())
  t.same(good.output, [{ type: 'text', text: DUMMY_INFER_RESPONSE_CONTENT }], 'good: TensorZero dummy text')
  t.same(good.usage, { inputTokens: 10, outputTokens: 1 }, 'good: usage 10 in / 1 per output block (as TensorZero)')
  t.equal(good.finishReason, 'stop', 'good: stop')
  t.equal(JSON.parse(good.rawResponse).choices[0].message.content, DUMMY_INFER_RESPONSE_CONTENT, 'rawResponse is the canned body, carrying the text')
  t.match(JSON.parse(good.rawRequest), { model: 'good', messages: [{ role: 'user' }] }, 'rawRequest is JSON of the request')
  t.same((await dummyInfer(request(), dummyCtx('json'), signal())).output, [{ type: 'text', text: '{"answer":"Hello"}' }], 'json')
  const tool = await dummyInfer(request(), dummyCtx('tool'), signal())
  t.same(tool.output, [{ type: 'tool_call', id: '0', name: 'get_temperature', arguments: DUMMY_TOOL_ARGUMENTS }], 'tool: get_temperature call')
  t.equal(tool.finishReason, 'tool_call', 'tool: finish tool_call')
  t.same(JSON.parse(DUMMY_TOOL_ARGUMENTS), { location: 'Brooklyn', units: 'celsius' }, 'tool arguments')
  const msgs: Message[] = [
    { role: 'user', content: [{ type: 'text', text: 'first' }] },
    { role: 'assistant', content: [{ type: 'text', text: 'reply' }] },
    { role: 'user', content: [{ type: 'image', url: 'x' }, { type: 'text', text: 'last words' }] }
  ]
  t.same((await dummyInfer(request({ messages: msgs }), dummyCtx('echo'), signal())).output, [{ type: 'text', text: 'last words' }], 'echo: last user message text')
  t.same((await dummyInfer(request({ messages: [] }), dummyCtx('echo'), signal())).output, [], 'echo with no user text → an empty answer, which the OpenAI translator keeps no block for')
  t.same((await dummyInfer(request(), dummyCtx('reasoner'), signal())).output[0], { type: 'thought', text: 'hmmm' }, 'reasoner: thought first')
  await t.rejects(dummyInfer(request(), dummyCtx('error'), signal()), E('server'), 'error → server')
  await t.rejects(dummyInfer(request(), dummyCtx('rate_limit'), signal()), E('rate_limit'), 'rate_limit → rate_limit')
  await t.rejects(dummyInfer(request(), dummyCtx('timeout'), signal()), E('timeout'), 'timeout → timeout')

  // flaky: fails every second call, counted per provider instance
  const results: boolean[] = []
  for (let i = 0; i < 4; i++) results.push(await dummyInfer(request(), dummyCtx('flaky', 'pA'), signal()).then(() => true, () => false))
  t.same(results, [true, false, true, false], 'flaky alternates ok/fail')
  t.equal(await dummyInfer(request(), dummyCtx('flaky', 'pB'), signal()).then(() => true, () => false), true, 'another provider has its own counter')
  await t.rejects(dummyInfer(request(), dummyCtx('flaky', 'pB'), signal()), E('server', { message: /failed on call number 2/ }), 'flaky failure message')
  await dummyInfer(request(), dummyCtx('flaky_rate_limit', 'pC'), signal())
  await t.rejects(dummyInfer(request(), dummyCtx('flaky_rate_limit', 'pC'), signal()), E('rate_limit'), 'flaky_rate_limit fails as rate_limit')
  resetDummyState()
  t.equal(await dummyInfer(request(), dummyCtx('flaky', 'pA'), signal()).then(() => true, () => false), true, 'resetDummyState restarts counters')

  // slow: abort rejects promptly with the signal's reason
  const ac = new AbortController()
  const started = Date.now()
  const p = dummyInfer(request(), dummyCtx('slow'), ac.signal)
  setTimeout(() => ac.abort(new Error('deadline')), 20)
  await t.rejects(p, { message: 'deadline' }, 'slow: abort rejects with the signal reason')
  t.ok(Date.now() - started < 1000, 'slow: abort is prompt (not 5 s)')
  const pre = new AbortController()
  pre.abort()
  await t.rejects(dummyInfer(request(), dummyCtx('slow'), pre.signal), { name: 'AbortError' }, 'already-aborted signal rejects at once')
  const ac2 = new AbortController()
  const sp = collect(request({ stream: true }), dummyCtx('slow'), ac2.signal)
  setTimeout(() => ac2.abort(new Error('gone')), 20)
  await t.rejects(sp, { message: 'gone' }, 'slow stream: abort rejects promptly')
})

t.test('dummy provider streaming', async t => {
  resetDummyState()
  const req = request({ stream: true })
  const s = dummyStream(req, dummyCtx('good'), signal())
  t.match(JSON.parse(s.rawRequest), { model: 'good', stream: true }, 'stream rawRequest')
  const deltas: StreamDelta[] = []
  for await (const d of s.deltas) deltas.push(d)
  const words = wordChunks(DUMMY_INFER_RESPONSE_CONTENT)
  t.equal(deltas.length, words.length + 1, 'one delta per word plus a final delta')
  t.same(deltas.slice(0, -1).map(d => d.text), words, 'word chunks')
  t.equal(words.join(''), DUMMY_INFER_RESPONSE_CONTENT, 'chunks concatenate to the text')
  t.same(deltas[deltas.length - 1], { finishReason: 'stop', usage: { inputTokens: 10, outputTokens: words.length } }, 'final delta: finish reason + usage (one token per chunk)')
  t.same(wordChunks('a  b'), ['a', '  b'], 'wordChunks keeps runs of spaces')

  const tool = fold(await collect(req, dummyCtx('tool')))
  t.same(tool.tools, [{ id: '0', name: 'get_temperature', arguments: DUMMY_TOOL_ARGUMENTS }], 'tool stream: fragments reassemble to the tool call')
  t.equal(tool.finishReason, 'tool_call', 'tool stream: finish tool_call')
  t.equal(fold(await collect(req, dummyCtx('reasoner'))).thought, 'hmmm', 'reasoner stream: thought delta')

  const got: StreamDelta[] = []
  await t.rejects((async () => { for await (const d of dummyStream(req, dummyCtx('stream_error'), signal()).deltas) got.push(d) })(),
    E('server'), 'stream_error: the stream fails…')
  t.equal(got.length, DUMMY_STREAM_ERROR_AFTER, '…after 3 chunks')
  t.equal(DUMMY_STREAM_ERROR_AFTER, 3, 'three')
  await t.rejects(collect(req, dummyCtx('error')), E('server'), 'error: stream fails before the first chunk')
  await collect(req, dummyCtx('flaky', 'sf'))
  await t.rejects(collect(req, dummyCtx('flaky', 'sf')), E('server'), 'flaky streams alternate too')
  const ac = new AbortController()
  const partial: StreamDelta[] = []
  await t.rejects((async () => {
    for await (const d of dummyStream(req, dummyCtx('good'), ac.signal).deltas) { partial.push(d); if (partial.length === 2) ac.abort(new Error('client gone')) }
  })(), { message: 'client gone' }, 'abort mid-stream rejects with the reason')
  t.equal(partial.length, 2, 'no chunk after abort')
})

t.test('dummy embeddings', async t => {
  const r = await dummyEmbed({ input: ['a', 'b'] }, dummyCtx('embed'), signal())
  t.equal(r.embeddings.length, 2, 'one vector per input')
  t.equal(r.embeddings[0].length, 8, '8 floats')
  t.same(r.embeddings[0], dummyEmbedding('a'), 'deterministic per input')
  t.notSame(r.embeddings[0], r.embeddings[1], 'different inputs differ')
  t.ok(r.embeddings[0].every(x => x >= -1 && x < 1), 'values in [-1, 1)')
  t.same(r.usage, { inputTokens: 10, outputTokens: 0 }, 'usage as TensorZero')
  t.same((await dummyEmbed({ input: 'a', dimensions: 3 }, dummyCtx('embed'), signal())).embeddings, [dummyEmbedding('a').slice(0, 3)], 'single input; dimensions truncate')
  await t.rejects(dummyEmbed({ input: 'a' }, dummyCtx('error'), signal()), E('server'), 'error model fails')
  const ac = new AbortController()
  const p = dummyEmbed({ input: 'a' }, dummyCtx('slow'), ac.signal)
  ac.abort(new Error('stop'))
  await t.rejects(p, { message: 'stop' }, 'slow embedding aborts')
})

// ---------------------------------------------------------------------------------------------------------------
t.test('SSE parser', async t => {
  const p = new SseParser()
  t.same(p.push('data: a\n\n'), [{ data: 'a' }], 'one event')
  t.same(p.push('data: x\ndata: y\n\n'), [{ data: 'x\ny' }], 'multi-line data joined with \\n')
  t.same(p.push(': comment\n\n'), [], 'comment only → no event')
  t.same(p.push('event: ping\ndata: {}\n\n'), [{ event: 'ping', data: '{}' }], 'named event')
  t.same(p.push('data: after\n\n'), [{ data: 'after' }], 'event name does not leak to the next event')
  t.same(p.push('data:nospace\n\n'), [{ data: 'nospace' }], 'no space after colon')
  t.same(p.push('data:  two\n\n'), [{ data: ' two' }], 'only one leading space stripped')
  t.same(p.push('data\n\n'), [{ data: '' }], 'field without colon → empty value')
  t.same(p.push('id: 7\nretry: 10\nfoo: bar\n\n'), [], 'id/retry/unknown fields without data → no event')
  t.equal(p.lastEventId, '7', 'id remembered')
  t.same(p.push('data: a\r\n\r\ndata: b\r\rdata: c\n\n'), [{ data: 'a' }, { data: 'b' }, { data: 'c' }], 'CRLF, CR and LF line endings')
  t.same(p.push('data: split'), [], 'partial line waits')
  t.same(p.push(' line\n'), [], 'line complete, event not yet')
  t.same(p.push('\n'), [{ data: 'split line' }], 'blank line dispatches')
  t.same(p.push('data: cr\r'), [], 'CR at chunk end')
  t.same(p.push('\n\r\n'), [{ data: 'cr' }], 'CRLF split across chunks counts as one line break')
  t.same(p.push('data: tail'), [], 'unterminated')
  t.same(p.end(), [{ data: 'tail' }], 'end() flushes an unterminated last event')

  const bom = new SseParser()
  t.same(bom.push(Buffer.from('\uFEFFdata: bom\n\n')), [{ data: 'bom' }], 'BOM stripped (Buffer)')
  const bomStr = new SseParser()
  t.same(bomStr.push('\uFEFFdata: bom\n\n'), [{ data: 'bom' }], 'BOM stripped (string)')
  const utf = new SseParser()
  const bytes = Buffer.from('data: 👋é\n\n')
  t.same([...utf.push(bytes.subarray(0, 8)), ...utf.push(bytes.subarray(8))], [{ data: '👋é' }], 'multi-byte character split across chunks')
  t.same(new SseParser().end(), [], 'end on empty stream')

  // Every split point of a real transcript gives the same events as the whole transcript.
  const transcript = Buffer.from(fixture('chat_stream_tool_calls.sse'))
  const whole = new SseParser()
  const expected = [...whole.push(transcript), ...whole.end()]
  t.equal(expected.length, 10, 'transcript has 10 events')
  let mismatches = 0
  for (let i = 0; i <= transcript.length; i++) {
    const sp = new SseParser()
    const got = [...sp.push(transcript.subarray(0, i)), ...sp.push(transcript.subarray(i)), ...sp.end()]
    if (JSON.stringify(got) !== JSON.stringify(expected)) mismatches++
  }
  t.equal(mismatches, 0, 'split at every byte offset → same events')
  const crlf = Buffer.from(fixture('chat_stream_reasoning_vllm.crlf.sse'))
  const cw = new SseParser()
  const cexp = [...cw.push(crlf), ...cw.end()]
  let cm = 0
  for (let i = 0; i <= crlf.length; i++) {
    const sp = new SseParser()
    const got = [...sp.push(crlf.subarray(0, i).toString('latin1') === '' ? '' : crlf.subarray(0, i)), ...sp.push(crlf.subarray(i)), ...sp.end()]
    if (JSON.stringify(got) !== JSON.stringify(cexp)) cm++
  }
  t.equal(cm, 0, 'CRLF transcript split at every byte offset → same events')
  const oneByte = new SseParser()
  const obEvents: SseEvent[] = []
  for (let i = 0; i < transcript.length; i++) obEvents.push(...oneByte.push(transcript.subarray(i, i + 1)))
  obEvents.push(...oneByte.end())
  t.same(obEvents, expected, 'one byte at a time → same events')
})

t.test('ProviderError shape', async t => {
  const e = new ProviderError('m', 'server', { status: 500 })
  t.ok(e instanceof Error, 'is an Error')
  t.equal(e.name, 'ProviderError', 'name')
})
