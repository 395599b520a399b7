// Request rules of TensorZero's OpenAI-compatible endpoint, and the row fields they decide, as its source has them
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
    fakeModel(fake.url, 'gpt_cached', [['upstream', 'cached-5']]) +
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

async function statusOf (body: Record<string, unknown>, via = client): Promise<{ status: number; message: string }> {
  try {
    await via.chat.completions.create(body as never)
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
    'tensorzero::namespace': 'team_a',
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
  t.match(fn.message, 'Unknown function: nope')
  const variant = await statusOf({ model: 'tensorzero::function_name::agent', messages: user, 'tensorzero::variant_name': 'nope' })
  t.same(variant, { status: 404, message: '404 Unknown variant: nope' }, 'an unknown pinned variant')
  const pinnedModel = await statusOf({ model: 'tensorzero::model_name::gpt', messages: user, 'tensorzero::variant_name': 'x' })
  t.equal(pinnedModel.status, 400, 'a variant pin on a model target')
  t.match(pinnedModel.message, '`variant_name` cannot be provided when using `model_name`')
  for (const prefix of ['function_name', 'model_name']) {
    const empty = await statusOf({ model: `tensorzero::${prefix}::`, messages: user })
    t.equal(empty.status, 400, `an empty ${prefix}`)
    t.match(empty.message, `${prefix} (passed in model field after "tensorzero::${prefix}::") cannot be empty`)
  }
})

t.test('a client\'s own `service` tag is stored as sent; the sidecar\'s name fills in only when absent', async t => {
  records.length = 0
  await client.chat.completions.create({ model: 'agent', messages: user, 'tensorzero::tags': { service: 'billing' } } as never)
  await client.chat.completions.create({ model: 'agent', messages: user })
  t.equal(records.length, 2)
  t.equal(tagsOf(records[0]).service, 'billing', 'the client\'s tag wins')
  t.equal(tagsOf(records[1]).service, 'rules-test', 'the service name otherwise')
})

const tagsOf = (rec: InferenceRecord): Record<string, string> => inferenceRows(rec, { service: 'rules-test' })[0].row.tags as Record<string, string>

t.test('a pinned variant is tagged tensorzero::variant_pinned on its row; a sampled one is not', async t => {
  records.length = 0
  const pinned = await client.chat.completions.create({ model: 'agent', messages: user, 'tensorzero::variant_name': 'backup' } as never)
  t.equal(pinned.model, 'tensorzero::function_name::agent::variant_name::backup')
  await client.chat.completions.create({ model: 'agent', messages: user })
  t.equal(records.length, 2)
  t.equal(tagsOf(records[0])['tensorzero::variant_pinned'], 'backup', 'the pinned variant\'s name')
  t.notOk('tensorzero::variant_pinned' in tagsOf(records[1]), 'no tag when the variant was sampled')
})

t.test('tensorzero::namespace is stored as the tag tensorzero::namespace; an empty or reserved one is a 400', async t => {
  records.length = 0
  await client.chat.completions.create({ model: 'agent', messages: user, 'tensorzero::namespace': 'team_a' } as never)
  t.equal(tagsOf(records[0])['tensorzero::namespace'], 'team_a')
  const empty = await statusOf({ model: 'agent', messages: user, 'tensorzero::namespace': '' })
  t.same(empty, { status: 400, message: '400 Namespace identifier cannot be empty' })
  const reserved = await statusOf({ model: 'agent', messages: user, 'tensorzero::namespace': 'tensorzero::x' })
  t.same(reserved, { status: 400, message: '400 Namespace cannot start with `tensorzero::`: tensorzero::x' })
  const notText = await statusOf({ model: 'agent', messages: user, 'tensorzero::namespace': 5 })
  t.equal(notText.status, 400)
})

t.test('tensorzero:: fields TensorZero serves and the sidecar cannot are a 400 naming them, not silently ignored', async t => {
  const tools = await statusOf({ model: 'agent', messages: user, 'tensorzero::provider_tools': [{ type: 'web_search' }] })
  t.same(tools, { status: 400, message: '400 `tensorzero::provider_tools` (tools run by the provider) are not supported by tz-sidecar' })
  const dynamic = await statusOf({ model: 'agent', messages: user, 'tensorzero::internal_dynamic_variant_config': { type: 'chat_completion', model: 'gpt' } })
  t.same(dynamic, { status: 400, message: '400 `tensorzero::internal_dynamic_variant_config` is not supported by tz-sidecar' })
  t.equal((await statusOf({ model: 'agent', messages: user, 'tensorzero::provider_tools': [] })).status, 200, 'an empty list asks for nothing')
})

t.test('a reserved tag name is a 400 that starts with TensorZero\'s message', async t => {
  const r = await statusOf({ model: 'agent', messages: user, 'tensorzero::tags': { 'tensorzero::x': 'y' } })
  t.equal(r.status, 400)
  t.match(r.message, /^400 Tag name cannot start with 'tensorzero::': tensorzero::x\b/, 'TensorZero\'s message first')
})

t.test('"All variants failed": each variant\'s error on its own line, after TensorZero\'s prefix (502)', async t => {
  const dead = await startTestSidecar({ toml: fakeModel(fake.url, 'gone', [['upstream', 'error-500']]) + fakeFunction('doomed', [['one', 'gone'], ['two', 'gone']]) })
  t.teardown(async () => { await dead.close() })
  const r = await statusOf({ model: 'tensorzero::function_name::doomed', messages: user }, new OpenAI({ baseURL: dead.baseURL, apiKey: 'k', maxRetries: 0 }))
  t.equal(r.status, 502)
  const lines = r.message.replace(/^502 All variants failed with errors: /, '').split('\n')
  t.equal(lines.length, 2, 'one line per variant')
  t.same(lines.map(l => l.split(':')[0]).sort(), ['one', 'two'])
  t.ok(lines.every(l => l.includes('All model providers failed to infer with errors: upstream: ')), 'each line carries that variant\'s provider errors')
})

t.test('the ModelInference row carries the provider\'s cache-read token count, NULL when the provider reports none', async t => {
  records.length = 0
  await client.chat.completions.create({ model: 'tensorzero::model_name::gpt_cached', messages: user })
  await client.chat.completions.create({ model: 'tensorzero::model_name::gpt', messages: user })
  const modelRow = (rec: InferenceRecord): Record<string, unknown> =>
    (inferenceRows(rec, { service: 'rules-test' }).find(r => r.table === 'ModelInference') as { row: Record<string, unknown> }).row
  t.match(modelRow(records[0]), { provider_cache_read_input_tokens: 5, provider_cache_write_input_tokens: null, input_tokens: 7 })
  t.match(modelRow(records[1]), { provider_cache_read_input_tokens: null, provider_cache_write_input_tokens: null })
})
