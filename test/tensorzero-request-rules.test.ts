// Request rules of TensorZero's OpenAI-compatible endpoint, as its source has them
// (crates/tensorzero-core/src/endpoints/openai_compatible/types/chat_completions.rs, utils/uuid.rs,
// crates/tensorzero-error/src/lib.rs), each pinned through the real `openai` client against a running sidecar.
import t from 'tap'
import OpenAI from 'openai'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'
import type { InferenceRecord } from '../src/core/records.ts'
import { inferenceRows } from '../src/store/rows.ts'

let fake: FakeOpenAI
let s: TestSidecar
let client: OpenAI
const records: InferenceRecord[] = []
const user = [{ role: 'user' as const, content: 'hi' }]

t.before(async () => {
  fake = await startFakeOpenAI()
  const toml = fakeModel(fake.url, 'gpt', [['upstream', 'ok']]) +
    fakeFunction('agent', [['main', 'gpt'], ['backup', 'gpt']])
  s = await startTestSidecar({
    toml,
    sidecarToml: 'service = "rules-test"\n',
    options: { observer: { onInference: rec => { records.push(rec) } } }
  })
  client = new OpenAI({ baseURL: s.baseURL, apiKey: 'k', maxRetries: 0 })
})

t.teardown(async () => {
  await s.close()
  await fake.close()
})

async function statusOf (body: Record<string, unknown>): Promise<{ status: number; message: string }> {
  try {
    await client.chat.completions.create(body as never)
    return { status: 200, message: '' }
  } catch (err) {
    const e = err as { status: number; message: string }
    return { status: e.status, message: e.message }
  }
}

t.test('tensorzero::deny_unknown_fields rejects exactly the fields TensorZero does not declare', async t => {
  for (const field of ['user', 'metadata', 'store']) {
    const r = await statusOf({ model: 'agent', messages: user, [field]: field === 'store' ? true : (field === 'user' ? 'u1' : { a: 'b' }), 'tensorzero::deny_unknown_fields': true })
    t.equal(r.status, 400, `${field} is unknown to TensorZero: 400`)
    t.match(r.message, `\`tensorzero::deny_unknown_fields\` is set to true, but found unknown fields in the request: [${field}]`)
  }
  const sorted = await statusOf({ model: 'agent', messages: user, zeta: 1, alpha: 2, 'tensorzero::deny_unknown_fields': true })
  t.match(sorted.message, 'found unknown fields in the request: [alpha, zeta]', 'the unknown names are listed sorted')

  const valid = await statusOf({
    model: 'agent',
    messages: user,
    'tensorzero::deny_unknown_fields': true,
    'tensorzero::provider_tools': [],
    'tensorzero::include_raw_response': false,
    'tensorzero::include_raw_usage': false,
    verbosity: 'low'
  })
  t.equal(valid.status, 200, 'fields TensorZero declares are not unknown')

  const tolerated = await statusOf({ model: 'agent', messages: user, user: 'u1', metadata: { a: 'b' } })
  t.equal(tolerated.status, 200, 'without the flag, unknown fields are ignored')
})

t.test('with both max_tokens and max_completion_tokens, the smaller is sent', async t => {
  for (const [maxTokens, maxCompletionTokens] of [[50, 100], [100, 40]]) {
    const before = fake.requests.length
    await client.chat.completions.create({ model: 'agent', messages: user, max_tokens: maxTokens, max_completion_tokens: maxCompletionTokens })
    const sent = fake.requests.slice(before).at(-1)?.body
    t.equal(sent?.max_completion_tokens ?? sent?.max_tokens, Math.min(maxTokens, maxCompletionTokens), `${maxTokens} and ${maxCompletionTokens}`)
  }
})

t.test('an episode id older than TensorZero\'s floor (2020-01-23) is a 400', async t => {
  // A UUIDv7 whose timestamp is 2019-01-01.
  const ms = Date.UTC(2019, 0, 1).toString(16).padStart(12, '0')
  const early = `${ms.slice(0, 8)}-${ms.slice(8, 12)}-7000-8000-000000000000`
  const r = await statusOf({ model: 'agent', messages: user, 'tensorzero::episode_id': early })
  t.equal(r.status, 400)
  t.match(r.message, 'Invalid Episode ID: Timestamp is too early')
})

t.test('an unknown tensorzero::model_name is a bad target (400), an unknown function a 404', async t => {
  const model = await statusOf({ model: 'tensorzero::model_name::nope', messages: user })
  t.equal(model.status, 400)
  t.match(model.message, "Invalid model name: Model name 'nope' not found in model table")
  const fn = await statusOf({ model: 'tensorzero::function_name::nope', messages: user })
  t.equal(fn.status, 404)
})

t.test('a client\'s own `service` tag is stored as sent; the sidecar\'s name fills in only when absent', async t => {
  records.length = 0
  await client.chat.completions.create({ model: 'agent', messages: user, 'tensorzero::tags': { service: 'billing' } } as never)
  await client.chat.completions.create({ model: 'agent', messages: user })
  t.equal(records.length, 2)
  const tagsOf = (rec: InferenceRecord): Record<string, string> => inferenceRows(rec, { service: 'rules-test' })[0].row.tags as Record<string, string>
  t.equal(tagsOf(records[0]).service, 'billing', 'the client\'s tag wins')
  t.equal(tagsOf(records[1]).service, 'rules-test', 'the service name otherwise')
})
