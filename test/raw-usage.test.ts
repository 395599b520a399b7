// `tensorzero::include_raw_usage` / `tensorzero::include_raw_response` on the OpenAI-compatible chat route, through the
// real `openai` client: TensorZero's RawUsageEntry / RawResponseEntry shapes, one entry per model call; streams carry
// each raw usage entry on the chunk of the provider event that reported it (with `usage`, which raw usage implies); a
// bad combination is a 400.
import t from 'tap'
import OpenAI from 'openai'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startFakeAnthropic } from './helpers/fake-anthropic.ts'
import type { FakeAnthropic } from './helpers/fake-anthropic.ts'
import { fakeAnthropicModel, fakeModel } from './helpers/toml.ts'
import { UUID_TEXT } from '../src/core/ids.ts'

let fake: FakeOpenAI
let fa: FakeAnthropic
let s: TestSidecar
let client: OpenAI

t.before(async () => {
  fake = await startFakeOpenAI()
  fa = await startFakeAnthropic()
  s = await startTestSidecar({
    toml: `${fakeModel(fake.url, 'gpt', [['upstream', 'ok']])}${fakeAnthropicModel(fa.url, 'claude')}`,
    env: { TEST_ANTHROPIC_KEY: 'sk-ant-fake' }
  })
  client = new OpenAI({ baseURL: s.baseURL, apiKey: 'x', maxRetries: 0 })
})

t.teardown(async () => { await s.close(); await fake.close(); await fa.close() })

type Body = Record<string, unknown>
const create = async (body: Body): Promise<any> => await client.chat.completions.create({ messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 50, ...body } as any)

t.test('non-streaming: tensorzero_raw_usage and tensorzero_raw_response entries for the model call', async t => {
  const answer = await create({ model: 'tensorzero::model_name::gpt', 'tensorzero::include_raw_usage': true, 'tensorzero::include_raw_response': true })
  t.equal(answer.tensorzero_raw_usage.length, 1)
  const usage = answer.tensorzero_raw_usage[0]
  t.match(usage.model_inference_id, UUID_TEXT, 'the model inference id')
  t.equal(usage.provider_type, 'openai')
  t.equal(usage.api_type, 'chat_completions')
  t.same(usage.data, { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 }, "the provider's own usage object")
  t.equal(answer.tensorzero_raw_response.length, 1)
  const raw = answer.tensorzero_raw_response[0]
  t.equal(raw.model_inference_id, usage.model_inference_id)
  t.equal(raw.provider_type, 'openai')
  t.equal(raw.api_type, 'chat_completions')
  t.equal(typeof raw.data, 'string', 'data is the raw body as text')
  t.equal(JSON.parse(raw.data).choices[0].message.content, 'Hello from ok')

  const claude = await create({ model: 'tensorzero::model_name::claude', 'tensorzero::include_raw_usage': true })
  t.equal(claude.tensorzero_raw_usage[0].provider_type, 'anthropic')
  t.type(claude.tensorzero_raw_usage[0].data.input_tokens, 'number', "Anthropic's usage object as it sent it")
  t.notOk('tensorzero_raw_response' in claude, 'only what was asked for')

  const plain = await create({ model: 'tensorzero::model_name::gpt' })
  t.notOk('tensorzero_raw_usage' in plain, 'absent unless asked for')
  t.notOk('tensorzero_raw_response' in plain)
})

// These assertions once pinned every entry in the closing chunk; TensorZero puts each entry on the chunk of the provider
// event that carried that usage (Anthropic: message_start and message_delta, so two), and none on the closing chunk.
t.test('streaming: raw usage rides on the chunk of the provider event that carried usage, with usage (implied by include_raw_usage)', async t => {
  const expected: Record<string, unknown[]> = {
    gpt: [{ prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 }],
    claude: [{ input_tokens: 13, output_tokens: 1 }, { output_tokens: 7 }]
  }
  for (const model of ['gpt', 'claude']) {
    const chunks: any[] = []
    const body = { model: `tensorzero::model_name::${model}`, messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 50, stream: true, 'tensorzero::include_raw_usage': true }
    for await (const chunk of await client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsStreaming)) chunks.push(chunk)
    const last = chunks[chunks.length - 1]
    t.ok(last.usage !== null && last.usage !== undefined, `${model}: usage is sent without stream_options`)
    t.notOk('tensorzero_raw_usage' in last, `${model}: the closing chunk carries no raw usage`)
    const carrying = chunks.filter(c => c.tensorzero_raw_usage !== undefined)
    t.same(carrying.map(c => c.tensorzero_raw_usage.length), expected[model].map(() => 1), `${model}: one entry on each usage chunk`)
    const entries = carrying.map(c => c.tensorzero_raw_usage[0])
    t.same(entries.map(e => e.data), expected[model], `${model}: each event's own usage object, in order`)
    t.ok(entries.every(e => e.provider_type === (model === 'gpt' ? 'openai' : 'anthropic') && e.api_type === 'chat_completions'))
    t.equal(new Set(entries.map(e => e.model_inference_id)).size, 1, `${model}: all of one model call`)
    t.match(entries[0].model_inference_id, UUID_TEXT)
    t.ok(carrying.every(c => c.usage === null && c.choices[0].finish_reason === null), `${model}: usage and finish reason stay in the closing chunk`)
  }
  const plain: any[] = []
  const off = { model: 'tensorzero::model_name::gpt', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 50, stream: true, stream_options: { include_usage: true } }
  for await (const chunk of await client.chat.completions.create(off as unknown as OpenAI.ChatCompletionCreateParamsStreaming)) plain.push(chunk)
  t.ok(plain.every(c => !('tensorzero_raw_usage' in c)), 'absent unless asked for')
})

t.test('a bad combination of raw flags is a 400', async t => {
  const cases: Array<[Body, RegExp]> = [
    [{ stream: true, stream_options: { include_usage: false }, 'tensorzero::include_raw_usage': true }, /requires `stream_options.include_usage`/],
    [{ 'tensorzero::include_raw_usage': 'yes' }, /include_raw_usage/]
  ]
  for (const [body, message] of cases) {
    const err = await create({ model: 'tensorzero::model_name::gpt', ...body }).then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof OpenAI.APIError && err.status === 400, `${JSON.stringify(body)}: 400`)
    t.match((err as Error).message, message)
  }
})
