// Failed attempts' raw answers with `tensorzero::include_raw_response` / `include_raw_response`, as TensorZero reports
// them, through the real `openai` client (and raw `fetch` for error bodies and `/inference`): entries without
// `model_inference_id` for providers that failed before one answered, for a variant's failed retries, for variants
// that failed before a fallback one answered, for failed best-of-N candidates; streams carry them in chunks of their
// own ahead of the deltas; when every attempt failed, the error body carries them; a mid-stream failure's event
// carries the provider's raw text. Also: a JSON function's raw-only chunks carry `content: ""`, the stored raw
// response of an Anthropic stream is only the events that made a chunk, and the Responses API refuses the raw flags.
import t from 'tap'
import OpenAI from 'openai'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { scriptAnswer, startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startFakeAnthropic } from './helpers/fake-anthropic.ts'
import type { FakeAnthropic } from './helpers/fake-anthropic.ts'
import { fakeAnthropicModel, fakeFunction, fakeJsonFunction, fakeModel } from './helpers/toml.ts'
import { sseData } from './helpers/sse.ts'
import { UUID_TEXT } from '../src/core/ids.ts'
import type { InferenceRecord } from '../src/core/records.ts'

scriptAnswer('fail-cand-a', { content: 'Answer A' })

let fake: FakeOpenAI
let fa: FakeAnthropic
let s: TestSidecar
let client: OpenAI
const records: InferenceRecord[] = []

// The fake's 500 body, as the failed provider's entry must carry it.
const ERROR_BODY = JSON.stringify({ error: { message: 'upstream exploded' } })
const FAILED = { provider_type: 'openai', api_type: 'chat_completions', data: ERROR_BODY }

t.before(async () => {
  fake = await startFakeOpenAI()
  fa = await startFakeAnthropic()
  const retries = (n: number): string => `retries = { num_retries = ${n}, max_delay_s = 0 }`
  s = await startTestSidecar({
    toml: `${fakeModel(fake.url, 'gpt', [['upstream', 'ok']])}
${fakeModel(fake.url, 'gpt_fallback', [['down', 'error-500'], ['up', 'ok']])}
${fakeModel(fake.url, 'all_down', [['first', 'error-500'], ['second', 'error-500']])}
${fakeModel(fake.url, 'flaky_once', [['up', 'fail-first-1']])}
${fakeModel(fake.url, 'flaky_twice', [['up', 'fail-first-2']])}
${fakeModel(fake.url, 'm_a', [['up', 'fail-cand-a']])}
${fakeAnthropicModel(fa.url, 'claude')}
${fakeAnthropicModel(fa.url, 'claude_cut', 'claude-midstream-error')}
${fakeFunction('retry_once', [['only', 'flaky_once', retries(1)]])}
${fakeFunction('retry_twice', [['only', 'flaky_twice', retries(2)]])}
${fakeFunction('fallback', [['bad', 'all_down'], ['good', 'gpt_fallback']])}
[functions.fallback.experimentation]
type = "static"
candidate_variants = ["bad"]
fallback_variants = ["good"]
${fakeFunction('doomed', [['one', 'all_down'], ['two', 'all_down']])}
${fakeFunction('pick', [['a', 'm_a'], ['down', 'all_down']])}
[functions.pick.variants.bon]
type = "experimental_best_of_n_sampling"
candidates = ["down", "a"]
evaluator = { model = "gpt" }
[functions.pick.variants.judge_down]
type = "experimental_best_of_n_sampling"
candidates = ["a", "a"]
evaluator = { model = "all_down" }
${fakeJsonFunction('extract', 'plain', 'gpt', 'output.json')}
`,
    files: { 'output.json': JSON.stringify({ type: 'object' }) },
    // Providers that fail every call would have their circuits opened (and be skipped, with no body to report).
    sidecarToml: 'service = "raw-failures"\n[health]\nenabled = false\n',
    env: { TEST_ANTHROPIC_KEY: 'sk-ant-fake' },
    options: { observer: { onInference: r => { records.push(r) } } }
  })
  client = new OpenAI({ baseURL: s.baseURL, apiKey: 'x', maxRetries: 0 })
})

t.teardown(async () => { await s.close(); await fake.close(); await fa.close() })

type Chunk = Record<string, any>
const messages = [{ role: 'user', content: 'Say hello' }]

const complete = async (body: Record<string, unknown>): Promise<any> =>
  await client.chat.completions.create({ messages, max_tokens: 50, 'tensorzero::include_raw_response': true, ...body } as any)

async function streamChunks (body: Record<string, unknown>): Promise<Chunk[]> {
  const chunks: Chunk[] = []
  const params = { messages, max_tokens: 50, stream: true, 'tensorzero::include_raw_response': true, ...body }
  for await (const chunk of await client.chat.completions.create(params as unknown as OpenAI.ChatCompletionCreateParamsStreaming)) chunks.push(chunk as unknown as Chunk)
  return chunks
}

async function post (path: string, body: Record<string, unknown>): Promise<{ status: number; text: string }> {
  const res = await fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, text: await res.text() }
}

const succeeded = (entry: Chunk): boolean => typeof entry.model_inference_id === 'string' && UUID_TEXT.test(entry.model_inference_id)

t.test('provider fallback, non-streaming: the failed provider\'s error body first (no model_inference_id), then the answer', async t => {
  const answer = await complete({ model: 'tensorzero::model_name::gpt_fallback' })
  const entries = answer.tensorzero_raw_response
  t.equal(entries.length, 2)
  t.same(entries[0], FAILED, 'the failed provider: its type, api type and raw body, and no model_inference_id')
  t.notOk('model_inference_id' in entries[0])
  t.ok(succeeded(entries[1]), 'then the provider that answered, with its model inference id')
  t.equal(JSON.parse(entries[1].data).choices[0].message.content, 'Hello from ok')
  const plain = await client.chat.completions.create({ model: 'tensorzero::model_name::gpt_fallback', messages } as any)
  t.notOk('tensorzero_raw_response' in plain, 'the flag off: no entries')
})

t.test('provider fallback, streaming: the failed provider in a tensorzero_raw_response chunk ahead of the raw chunks', async t => {
  const chunks = await streamChunks({ model: 'tensorzero::model_name::gpt_fallback' })
  t.same(chunks[0].tensorzero_raw_response, [FAILED])
  t.same(chunks[0].choices[0].delta, { role: 'assistant' }, 'a chunk of its own, with no content')
  t.notOk('tensorzero_raw_chunk' in chunks[0])
  t.ok(chunks.slice(1).some(c => c.tensorzero_raw_chunk !== undefined), 'the answering provider\'s raw chunks after it')
  t.ok(chunks.slice(1).every(c => c.tensorzero_raw_response === undefined), 'no other chunk carries entries')
  t.equal(chunks.map(c => c.choices[0]?.delta?.content ?? '').join(''), 'Hello from the fake upstream')
})

t.test('variant retries: each failed try\'s raw answer before the answering try\'s, streamed and not', async t => {
  const answer = await complete({ model: 'tensorzero::function_name::retry_once' })
  t.equal(answer.tensorzero_raw_response.length, 2)
  t.same(answer.tensorzero_raw_response[0], { provider_type: 'openai', api_type: 'chat_completions', data: JSON.stringify({ error: { message: 'failing call 1' } }) })
  t.ok(succeeded(answer.tensorzero_raw_response[1]))
  const chunks = await streamChunks({ model: 'tensorzero::function_name::retry_twice' })
  t.same(chunks[0].tensorzero_raw_response.map((e: Chunk) => JSON.parse(e.data).error.message), ['failing call 1', 'failing call 2'], 'both failed tries, in order')
  t.ok(chunks[0].tensorzero_raw_response.every((e: Chunk) => !('model_inference_id' in e)))
})

t.test('variant fallback: the failed variant\'s providers first, then the answering variant\'s own failed provider and answer', async t => {
  const answer = await complete({ model: 'tensorzero::function_name::fallback' })
  t.equal(answer.model, 'tensorzero::function_name::fallback::variant_name::good')
  const entries = answer.tensorzero_raw_response
  t.same(entries.slice(0, 3), [FAILED, FAILED, FAILED], 'two from the failed variant, one from the answering variant\'s walk')
  t.equal(entries.length, 4)
  t.ok(succeeded(entries[3]))

  const chunks = await streamChunks({ model: 'tensorzero::function_name::fallback' })
  t.same(chunks[0].tensorzero_raw_response, [FAILED, FAILED], 'first chunk: the failed variant\'s attempts')
  t.same(chunks[1].tensorzero_raw_response, [FAILED], 'second chunk: the streamed call\'s failed provider')
  t.same(chunks[0].choices[0].delta, { role: 'assistant' })
  t.same(chunks[1].choices[0].delta, {}, 'the role only once')
  t.ok(chunks.slice(2).every(c => c.tensorzero_raw_response === undefined))
})

t.test('best-of-N with a failed candidate or evaluator: their raw answers go with the chosen call', async t => {
  const answer = await complete({ model: 'tensorzero::function_name::pick::variant_name::bon' })
  const entries = answer.tensorzero_raw_response
  t.same(entries.slice(0, 2), [FAILED, FAILED], 'the failed candidate\'s two providers')
  t.equal(entries.length, 3, 'then the one answering candidate (a lone candidate: no evaluator call)')
  t.equal(JSON.parse(entries[2].data).choices[0].message.content, 'Answer A')

  const judged = await complete({ model: 'tensorzero::function_name::pick::variant_name::judge_down' })
  const after = judged.tensorzero_raw_response
  t.same(after.slice(0, 2), [FAILED, FAILED], 'the failed evaluator\'s providers, with the chosen call')
  t.equal(after.length, 4, 'then both candidates\' answers')
  t.ok(after.slice(2).every(succeeded))
})

t.test('every attempt failed: the error body carries the failed attempts (OpenAI routes and /inference), streamed and not', async t => {
  for (const stream of [false, true]) {
    const res = await post('/v1/chat/completions', { model: 'tensorzero::model_name::all_down', messages, stream, 'tensorzero::include_raw_response': true })
    t.equal(res.status, 500, `stream ${String(stream)}: all providers failed`)
    const body = JSON.parse(res.text)
    t.match(body.error.message, /All model providers failed/)
    t.same(body.tensorzero_raw_response, [FAILED, FAILED], `stream ${String(stream)}: both providers' bodies beside the error`)
  }
  const variants = await post('/v1/chat/completions', { model: 'tensorzero::function_name::doomed', messages, 'tensorzero::include_raw_response': true })
  t.equal(variants.status, 502)
  t.same(JSON.parse(variants.text).tensorzero_raw_response, [FAILED, FAILED, FAILED, FAILED], 'every variant\'s providers')
  const off = await post('/v1/chat/completions', { model: 'tensorzero::model_name::all_down', messages })
  t.notOk('tensorzero_raw_response' in JSON.parse(off.text), 'the flag off: the plain error')

  const native = await post('/inference', { model_name: 'all_down', input: { messages }, include_raw_response: true })
  t.equal(native.status, 500)
  const nativeBody = JSON.parse(native.text)
  t.type(nativeBody.error, 'string', 'TensorZero\'s native error shape')
  t.same(nativeBody.raw_response, [FAILED, FAILED])
  t.notOk('raw_response' in JSON.parse((await post('/inference', { model_name: 'all_down', input: { messages } })).text))
})

t.test('/inference: failed providers\' entries in raw_response, and in a first chunk on a stream', async t => {
  const res = await post('/inference', { model_name: 'gpt_fallback', input: { messages }, include_raw_response: true })
  t.equal(res.status, 200)
  const body = JSON.parse(res.text)
  t.same(body.raw_response[0], FAILED)
  t.ok(succeeded(body.raw_response[1]))
  const streamed = await post('/inference', { model_name: 'gpt_fallback', input: { messages }, include_raw_response: true, stream: true })
  const events = sseData(streamed.text)
  const first = JSON.parse(events[0])
  t.same(first.raw_response, [FAILED])
  t.same(first.content, [], 'no content in that chunk')
  t.ok(events.slice(1, -1).map(e => JSON.parse(e)).some(c => c.raw_chunk !== undefined))
})

t.test('a mid-stream provider failure: the error event carries the provider\'s raw text when raw responses were asked for', async t => {
  for (const asked of [true, false]) {
    const res = await post('/v1/chat/completions', { model: 'tensorzero::model_name::claude_cut', messages, max_tokens: 50, stream: true, 'tensorzero::include_raw_response': asked })
    const events = sseData(res.text).map(e => JSON.parse(e))
    const error = events.find(e => e.error !== undefined)
    t.match(error?.error?.message, /Overloaded/)
    if (asked) t.same(JSON.parse(error.tensorzero_raw_chunk), { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })
    else t.notOk('tensorzero_raw_chunk' in error, 'not asked: none')
  }
  const native = await post('/inference', { model_name: 'claude_cut', input: { messages }, params: { chat_completion: { max_tokens: 50 } }, stream: true, include_raw_response: true })
  const nativeError = sseData(native.text).filter(e => e !== '[DONE]' && e !== '').map(e => JSON.parse(e)).find(e => e.error !== undefined)
  t.match(nativeError?.raw_chunk, /overloaded_error/, '/inference: raw_chunk beside the error')
})

t.test('a JSON function\'s stream on the chat route: every chunk has a content string, "" where it has none', async t => {
  const chunks = await streamChunks({ model: 'tensorzero::function_name::extract', messages: [{ role: 'user', content: 'Give JSON' }] })
  const rawOnly = chunks.filter(c => c.tensorzero_raw_chunk !== undefined && c.choices[0].delta.content === '')
  t.ok(rawOnly.length > 0, 'the usage event\'s chunk has no text of its own')
  t.ok(chunks.every(c => typeof c.choices[0].delta.content === 'string'), 'content is always a string, as TensorZero\'s JSON chunks')
  const chat = await streamChunks({ model: 'tensorzero::model_name::gpt' })
  t.ok(chat.some(c => !('content' in c.choices[0].delta)), 'a chat function\'s content-less chunk has no content key')
})

t.test('the stored raw response of an Anthropic stream: the events that made a chunk, joined by newlines', async t => {
  records.length = 0
  await streamChunks({ model: 'tensorzero::model_name::claude', 'tensorzero::include_raw_response': false })
  const res = await fetch(`${fa.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-ok', messages, stream: true })
  })
  const sent = sseData(await res.text())
  const kept = sent.filter(d => !['ping', 'content_block_stop', 'message_stop'].includes(JSON.parse(d).type))
  t.ok(kept.length < sent.length, 'the fake sends events that make no chunk')
  t.equal(records.length, 1)
  t.equal(records[0].modelInferences[0].rawResponse, kept.join('\n'), 'no ping, content_block_stop or message_stop lines')
})

t.test('the Responses API refuses the raw flags (TensorZero has no Responses endpoint to follow)', async t => {
  for (const field of ['tensorzero::include_raw_usage', 'tensorzero::include_raw_response', 'tensorzero::include_original_response']) {
    const err = await client.responses.create({ model: 'tensorzero::model_name::gpt', input: 'Say hello', [field]: true } as any).then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof OpenAI.APIError && err.status === 400, `${field}: 400`)
    t.match((err as Error).message, new RegExp(`${field}.*not supported`))
  }
  const ok = await client.responses.create({ model: 'tensorzero::model_name::gpt', input: 'Say hello', 'tensorzero::include_raw_response': false } as any)
  t.equal(ok.output_text, 'Hello from ok', 'false is accepted')
})
