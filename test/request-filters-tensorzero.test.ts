// Two request semantics pinned to TensorZero 2026.4's source, through the real `openai` client (and `fetch` on the
// native `/inference`) against a running sidecar, the fake upstream recording what it was sent:
// - `tensorzero::extra_body` / `tensorzero::extra_headers` entries (crates/tensorzero-inference-types/src/extra_body.rs,
//   extra_headers.rs; applied in crates/tensorzero-core/src/providers/helpers.rs `inject_extra_request_data`, checked in
//   inference/types/extra_stuff.rs `validate_inference_filters`): filtered by variant, by model (+ provider), or not at all;
//   the legacy `model_provider_name` body entry read as an unconditional one, a legacy header entry refused.
// - `allowed_tools` (crates/tensorzero-core/src/tool/config.rs `ToolCallConfig::new`, `strict_tools_available`;
//   providers/openai/mod.rs `prepare_allowed_tools_constraint`; tool/storage.rs for the row).
import t from 'tap'
import OpenAI from 'openai'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI, RecordedRequest } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import type { InferenceRecord } from '../src/core/records.ts'
import { inferenceRows } from '../src/store/rows.ts'

let fake: FakeOpenAI
let s: TestSidecar
let client: OpenAI
const records: InferenceRecord[] = []
const user = [{ role: 'user' as const, content: 'hi' }]

function provider (model: string, name: string, upstream: string, url: string, type = 'openai'): string {
  return `[models.${model}.providers.${name}]\ntype = "${type}"\nmodel_name = "${upstream}"\napi_base = "${url}/v1/"\napi_key_location = "none"\n`
}

function toml (url: string): string {
  return `
[models.gpt]
routing = ["first", "second"]
${provider('gpt', 'first', 'error-500', url)}
${provider('gpt', 'second', 'x1-second', url)}
[models.other]
routing = ["only"]
${provider('other', 'only', 'x1-other', url)}extra_body = [{ pointer = "/who", value = "provider" }]
extra_headers = [{ name = "x-who", value = "provider" }]
[models.vllm_model]
routing = ["local"]
${provider('vllm_model', 'local', 'x1-vllm', url, 'vllm')}

[functions.agent]
type = "chat"
[functions.agent.variants.main]
type = "chat_completion"
model = "gpt"
[functions.agent.variants.alt]
type = "chat_completion"
model = "other"
weight = 0
extra_body = [{ pointer = "/who", value = "variant" }, { pointer = "/variant_only", value = true }]
extra_headers = [{ name = "x-who", value = "variant" }, { name = "x-variant-only", value = "yes" }]

[tools.get_weather]
description = "Weather by city"
parameters = "weather.json"
[tools.lookup]
description = "Looks a word up"
parameters = "lookup.json"
[tools.unlisted]
description = "A tool no function lists"
parameters = "lookup.json"

[functions.helper]
type = "chat"
tools = ["get_weather", "lookup"]
[functions.helper.variants.main]
type = "chat_completion"
model = "other"
[functions.helper.variants.local]
type = "chat_completion"
model = "vllm_model"
weight = 0
`
}

const weatherSchema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }
const lookupSchema = { type: 'object', properties: { word: { type: 'string' } }, required: ['word'], additionalProperties: false }

t.before(async () => {
  fake = await startFakeOpenAI()
  s = await startTestSidecar({
    toml: toml(fake.url),
    files: { 'weather.json': JSON.stringify(weatherSchema), 'lookup.json': JSON.stringify(lookupSchema) },
    options: { observer: { onInference: rec => { records.push(rec) } } }
  })
  client = new OpenAI({ baseURL: s.baseURL, apiKey: 'k', maxRetries: 0 })
})

t.teardown(async () => {
  await s.close()
  await fake.close()
})

/** What each upstream model received during `run`. */
async function sentDuring (run: () => Promise<unknown>): Promise<(upstream: string) => RecordedRequest[]> {
  const before = fake.requests.length
  await run()
  const during = fake.requests.slice(before)
  return upstream => during.filter(r => r.body?.model === upstream)
}

async function refusal (body: Record<string, unknown>): Promise<{ status: number; message: string }> {
  try {
    await client.chat.completions.create(body as never)
    return { status: 200, message: '' }
  } catch (err) {
    const e = err as { status: number; error?: { message?: string } }
    return { status: e.status, message: e.error?.message ?? '' }
  }
}

function storedRow (rec: InferenceRecord): Record<string, any> {
  return inferenceRows(rec, { service: 'x1', config: s.sidecar.gateway.config.tensorzero })[0].row
}

t.test('extra_body and extra_headers entries reach only the variant, model or provider they name; unfiltered ones every call', async t => {
  const extraBody = [
    { pointer: '/always', value: 1 },
    { variant_name: 'main', pointer: '/variant_main', value: 2 },
    { variant_name: 'alt', pointer: '/variant_alt', value: 3 },
    { model_name: 'gpt', pointer: '/model_gpt', value: 4 },
    { model_name: 'gpt', provider_name: 'first', pointer: '/provider_first', value: 5 },
    { model_name: 'gpt', provider_name: 'second', pointer: '/provider_second', value: 6 },
    { model_name: 'other', pointer: '/model_other', value: 7 },
    { model_name: 'gpt', provider_name: 'second', pointer: '/temperature', delete: true }
  ]
  const extraHeaders = [
    { name: 'x-always', value: 'a' },
    { model_name: 'gpt', provider_name: 'first', name: 'x-first', value: 'f' },
    { model_name: 'gpt', provider_name: 'second', name: 'x-second', value: 's' },
    { variant_name: 'alt', name: 'x-alt', value: 'v' },
    { model_name: 'other', name: 'x-other', value: 'o' }
  ]
  const sent = await sentDuring(async () => await client.chat.completions.create({
    model: 'tensorzero::function_name::agent', 'tensorzero::variant_name': 'main', messages: user, temperature: 0.5,
    'tensorzero::extra_body': extraBody, 'tensorzero::extra_headers': extraHeaders
  } as never))
  const first = sent('error-500')
  const second = sent('x1-second')
  t.ok(first.length >= 1, 'the first provider was tried (and failed)')
  t.equal(second.length, 1, 'the fallback provider answered')
  const f = first[0]
  t.match(f.body, { always: 1, variant_main: 2, model_gpt: 4, provider_first: 5, temperature: 0.5 }, 'the first provider: its own entries and the shared ones')
  for (const key of ['variant_alt', 'provider_second', 'model_other']) t.notOk(key in f.body, `the first provider does not get \`${key}\``)
  t.match(f.headers, { 'x-always': 'a', 'x-first': 'f' })
  t.notOk('x-second' in f.headers, 'a header for the other provider of the model is not sent')
  const b = second[0].body
  t.match(b, { always: 1, variant_main: 2, model_gpt: 4, provider_second: 6 }, 'the fallback provider: its own entries and the shared ones')
  for (const key of ['variant_alt', 'provider_first', 'model_other', 'temperature']) t.notOk(key in b, `the fallback provider does not get \`${key}\``)
  t.match(second[0].headers, { 'x-always': 'a', 'x-second': 's' })
  for (const name of ['x-first', 'x-alt', 'x-other']) t.notOk(name in second[0].headers, `header \`${name}\` is not sent to the fallback provider`)

  const rec = records.at(-1) as InferenceRecord
  t.same(JSON.parse(storedRow(rec).extra_body), [
    { pointer: '/always', value: 1 },
    { variant_name: 'main', pointer: '/variant_main', value: 2 },
    { variant_name: 'alt', pointer: '/variant_alt', value: 3 },
    { model_name: 'gpt', provider_name: null, pointer: '/model_gpt', value: 4 },
    { model_name: 'gpt', provider_name: 'first', pointer: '/provider_first', value: 5 },
    { model_name: 'gpt', provider_name: 'second', pointer: '/provider_second', value: 6 },
    { model_name: 'other', provider_name: null, pointer: '/model_other', value: 7 },
    { model_name: 'gpt', provider_name: 'second', pointer: '/temperature', delete: true }
  ], 'ChatInference.extra_body keeps every entry in TensorZero\'s serialised shapes (field order too)')
  t.equal(storedRow(rec).extra_body, JSON.stringify(JSON.parse(storedRow(rec).extra_body)), 'stored as compact JSON')
  t.equal(Object.keys(JSON.parse(storedRow(rec).extra_body)[3]).join(','), 'model_name,provider_name,pointer,value')
})

t.test('a model-filtered entry applies to a model target and a `provider::model` shorthand by its full name', async t => {
  const sent = await sentDuring(async () => await client.chat.completions.create({
    model: 'tensorzero::model_name::other', messages: user,
    'tensorzero::extra_body': [{ model_name: 'other', provider_name: 'only', pointer: '/mine', value: true }, { model_name: 'gpt', pointer: '/not_mine', value: true }]
  } as never))
  const [req] = sent('x1-other')
  t.equal(req.body.mine, true)
  t.notOk('not_mine' in req.body)

  const before = records.length
  await client.chat.completions.create({
    model: 'tensorzero::model_name::dummy::good', messages: user,
    'tensorzero::extra_body': [
      { model_name: 'dummy::good', provider_name: 'dummy', pointer: '/short_provider', value: 1 },
      { model_name: 'dummy::good', pointer: '/short_model', value: 2 },
      { model_name: 'dummy::alternate', pointer: '/other_shorthand', value: 3 }
    ]
  } as never)
  const raw = JSON.parse(records[before].modelInferences[0].rawRequest)
  t.match(raw, { short_provider: 1, short_model: 2 }, 'a shorthand model is named as written; its provider after its type')
  t.notOk('other_shorthand' in raw, 'an entry for another shorthand model is not applied')
})

t.test('filters that name no variant, model or provider are refused before any call, with TensorZero\'s messages', async t => {
  const before = fake.requests.length
  const cases: Array<[string, Record<string, unknown>, number, RegExp]> = [
    ['an unknown variant', { 'tensorzero::extra_body': [{ variant_name: 'nope', pointer: '/a', value: 1 }] }, 404, /^Unknown variant: nope$/],
    ['an unknown model', { 'tensorzero::extra_body': [{ model_name: 'nope', pointer: '/a', value: 1 }] }, 400,
      /^Invalid inference target: Invalid model provider filter: model `nope` does not exist\.$/],
    ['an unknown provider of a model', { 'tensorzero::extra_headers': [{ model_name: 'gpt', provider_name: 'third', name: 'x-a', value: '1' }] }, 400,
      /^Invalid inference target: Invalid model provider filter: provider `third` not found in model `gpt`\.$/]
  ]
  for (const [what, extra, status, message] of cases) {
    const r = await refusal({ model: 'tensorzero::function_name::agent', messages: user, ...extra })
    t.equal(r.status, status, what)
    t.match(r.message, message, what)
  }
  t.equal(fake.requests.length, before, 'no provider was called')
  const onModel = await sentDuring(async () => await client.chat.completions.create({
    model: 'tensorzero::model_name::other', messages: user, 'tensorzero::extra_body': [{ variant_name: 'nope', pointer: '/v', value: 1 }]
  } as never))
  t.notOk('v' in onModel('x1-other')[0].body, 'a model target has no function: its variant filters are not checked, and match nothing')
})

t.test('legacy `model_provider_name`: a body entry applies unconditionally and is stored so; a header entry is refused', async t => {
  const before = records.length
  const sent = await sentDuring(async () => await client.chat.completions.create({
    model: 'tensorzero::function_name::agent', 'tensorzero::variant_name': 'main', messages: user,
    'tensorzero::extra_body': [
      { model_provider_name: 'tensorzero::model_name::other::provider_name::only', pointer: '/legacy', value: 'x' },
      { model_provider_name: 'whatever', pointer: '/stop', delete: true }
    ],
    stop: ['END']
  } as never))
  const b = sent('x1-second')[0].body
  t.equal(b.legacy, 'x', 'the legacy filter is dropped: the entry reaches a provider it did not name')
  t.notOk('stop' in b, 'a legacy delete entry applies too')
  t.same(JSON.parse(storedRow(records[before]).extra_body), [{ pointer: '/legacy', value: 'x' }, { pointer: '/stop', delete: true }],
    'stored as TensorZero re-reads it: unconditional entries')

  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ 'tensorzero::extra_headers': [{ model_provider_name: 'first', name: 'x-a', value: '1' }] },
      /^tensorzero::extra_headers\[0\]: data did not match any variant of untagged enum ExtraHeader \(.*`model_provider_name` is no longer accepted/],
    [{ 'tensorzero::extra_body': [{ model_provider_name: 'first', value: 1 }] },
      /^tensorzero::extra_body: legacy `extra_body` entry with `model_provider_name` is missing `pointer`$/],
    [{ 'tensorzero::extra_body': [{ model_provider_name: 'first', pointer: '/a' }] },
      /^tensorzero::extra_body: legacy `extra_body` entry with `model_provider_name` has neither `value` nor `delete: true`$/]
  ]
  for (const [extra, message] of cases) {
    const r = await refusal({ model: 'tensorzero::function_name::agent', messages: user, ...extra })
    t.equal(r.status, 400)
    t.match(r.message, message)
  }
})

t.test('entries outside TensorZero\'s shapes are refused (unknown keys, both filters, provider without model, value with delete)', async t => {
  const bad: Array<Record<string, unknown>> = [
    { pointer: '/a', value: 1, provider_name: 'first' },
    { pointer: '/a', value: 1, variant_name: 'main', model_name: 'gpt' },
    { pointer: '/a', value: 1, delete: true },
    { pointer: '/a', delete: false },
    { pointer: '/a', value: 1, extra: true },
    { pointer: '/a' }
  ]
  for (const entry of bad) {
    const r = await refusal({ model: 'tensorzero::function_name::agent', messages: user, 'tensorzero::extra_body': [entry] })
    t.equal(r.status, 400, JSON.stringify(entry))
    t.match(r.message, /^tensorzero::extra_body: data did not match any variant of untagged enum ExtraBody/, JSON.stringify(entry))
  }
  const header = await refusal({ model: 'tensorzero::function_name::agent', messages: user, 'tensorzero::extra_headers': [{ name: 'x-a', value: 3 }] })
  t.equal(header.status, 400)
  t.match(header.message, /^tensorzero::extra_headers\[0\]: data did not match any variant of untagged enum ExtraHeader/)
})

t.test('precedence as TensorZero applies it: the variant\'s config entries, then the provider\'s, then the request\'s', async t => {
  const call = async (extra: Record<string, unknown>): Promise<RecordedRequest> => (await sentDuring(async () => await client.chat.completions.create({
    model: 'tensorzero::function_name::agent', 'tensorzero::variant_name': 'alt', messages: user, ...extra
  } as never)))('x1-other')[0]
  const configOnly = await call({})
  t.match(configOnly.body, { who: 'provider', variant_only: true }, 'the provider\'s entry overrides the variant\'s; the variant\'s own still applies')
  t.match(configOnly.headers, { 'x-who': 'provider', 'x-variant-only': 'yes' })
  const withRequest = await call({
    'tensorzero::extra_body': [{ variant_name: 'alt', pointer: '/who', value: 'request' }],
    'tensorzero::extra_headers': [{ model_name: 'other', name: 'x-who', value: 'request' }]
  })
  t.equal(withRequest.body.who, 'request', 'a request entry overrides both')
  t.equal(withRequest.headers['x-who'], 'request')
})

t.test('native /inference: extra_body / extra_headers filters by model and provider, and its error paths name `extra_body`', async t => {
  const post = async (body: Record<string, unknown>): Promise<{ status: number; json: any }> => {
    const res = await fetch(`${s.url}/inference`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, json: await res.json() }
  }
  const sent = await sentDuring(async () => {
    const r = await post({
      function_name: 'agent', variant_name: 'main', input: { messages: [{ role: 'user', content: 'hi' }] },
      extra_body: [{ model_name: 'gpt', provider_name: 'second', pointer: '/native', value: 1 }, { model_name: 'gpt', provider_name: 'first', pointer: '/no', value: 1 }],
      extra_headers: [{ model_name: 'gpt', provider_name: 'second', name: 'x-native', value: 'y' }]
    })
    t.equal(r.status, 200, JSON.stringify(r.json))
  })
  const [req] = sent('x1-second')
  t.equal(req.body.native, 1)
  t.notOk('no' in req.body)
  t.equal(req.headers['x-native'], 'y')
  const bad = await post({ function_name: 'agent', input: { messages: [] }, extra_body: [{ pointer: '/a', value: 1, model_name: 1 }] })
  t.equal(bad.status, 400)
  t.match(bad.json.error, /^extra_body: data did not match any variant of untagged enum ExtraBody/)
})

t.test('allowed_tools may add a [tools.X] the function does not list, and narrows the request\'s own tools too', async t => {
  const calculator = { type: 'function' as const, function: { name: 'calculator', description: 'Adds', parameters: { type: 'object', properties: {} } } }
  const timer = { type: 'function' as const, function: { name: 'timer', description: 'Times', parameters: { type: 'object', properties: {} } } }
  const allowed = (names: string[]): unknown => ({ type: 'allowed_tools', allowed_tools: { mode: 'required', tools: names.map(name => ({ type: 'function', function: { name } })) } })
  const names = (body: any): string[] => body.tools.map((x: any) => x.function.name)

  // A provider without OpenAI's allowed_tools choice (vllm) is offered exactly the allowed tools.
  const before = records.length
  const strict = await sentDuring(async () => await client.chat.completions.create({
    model: 'tensorzero::function_name::helper', 'tensorzero::variant_name': 'local', messages: user,
    tools: [calculator, timer], tool_choice: allowed(['lookup', 'unlisted', 'timer'])
  } as never))
  const v = strict('x1-vllm')[0].body
  t.same(names(v), ['lookup', 'unlisted', 'timer'], 'function tool kept, config-only tool added, dynamic tool narrowed')
  t.equal(v.tool_choice, 'required')
  const row = storedRow(records[before])
  t.same(JSON.parse(row.allowed_tools), { tools: ['lookup', 'unlisted', 'timer'], choice: 'explicit' })
  t.same(JSON.parse(row.tool_params).tools_available.map((x: any) => x.name), ['get_weather', 'lookup', 'unlisted', 'calculator', 'timer'],
    'tools_available: the function\'s tools, the config tool allowed_tools added, every request tool')
  t.same(row.dynamic_tools.map((x: string) => JSON.parse(x).name), ['calculator', 'timer'], 'dynamic_tools: every request tool')

  // An `openai` provider gets every available tool, narrowed by OpenAI's allowed_tools choice (TensorZero's openai.rs).
  const wide = await sentDuring(async () => await client.chat.completions.create({
    model: 'tensorzero::function_name::helper', 'tensorzero::variant_name': 'main', messages: user,
    tools: [calculator], tool_choice: allowed(['unlisted', 'calculator'])
  } as never))
  const o = wide('x1-other')[0].body
  t.same(names(o), ['get_weather', 'lookup', 'unlisted', 'calculator'])
  t.same(o.tool_choice, { type: 'allowed_tools', allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'unlisted' } }, { type: 'function', function: { name: 'calculator' } }] } })

  // Without allowed_tools: the function's tools and the request's, and no config-only tool.
  const plain = await sentDuring(async () => await client.chat.completions.create({
    model: 'tensorzero::function_name::helper', 'tensorzero::variant_name': 'main', messages: user, tools: [calculator]
  } as never))
  t.same(names(plain('x1-other')[0].body), ['get_weather', 'lookup', 'calculator'])
  t.equal(plain('x1-other')[0].body.tool_choice, 'auto')
})

t.test('allowed_tools naming a tool that is neither in [tools] nor in the request is TensorZero\'s 400 `Tool not found`', async t => {
  const before = fake.requests.length
  const r = await refusal({
    model: 'tensorzero::function_name::helper', messages: user,
    tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [{ type: 'function', function: { name: 'teleport' } }] } }
  })
  t.equal(r.status, 400)
  t.match(r.message, /^Tool not found: teleport/)
  t.equal(fake.requests.length, before, 'no provider was called')
})
