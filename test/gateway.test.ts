// The sidecar's HTTP surface as a client sees it: response shapes field by field, the streaming chunk sequence,
// model resolution, headers, credentials, error shapes and status codes, pass-through (HTTP and WebSocket), embeddings.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import OpenAI from 'openai'
import { WebSocketServer, WebSocket } from 'ws'
import { v7 as uuidv7 } from 'uuid'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'

let fake: FakeOpenAI
let s: TestSidecar
let client: OpenAI
const PROVIDER_KEY = 'sk-provider-secret-123'

t.before(async () => {
  fake = await startFakeOpenAI()
  const toml =
    fakeModel(fake.url, 'gpt', [['upstream', 'ok', 'api_key_location = "env::TEST_PROVIDER_KEY"']]) +
    fakeModel(fake.url, 'keyless', [['local', 'headers']]) +
    fakeModel(fake.url, 'tooling', [['upstream', 'tool']]) +
    fakeModel(fake.url, 'dyn', [['upstream', 'headers', 'api_key_location = "dynamic::customer_key"']]) +
    fakeModel(fake.url, 'embed', [['upstream', 'text-embedding-3-small']], 'embedding_models') + `
[models.needs_key]
routing = ["cloud", "local"]
[models.needs_key.providers.cloud]
type = "openai"
model_name = "ok"
api_base = "${fake.url}/v1/"
api_key_location = "env::TZ_TEST_UNSET_KEY"
[models.needs_key.providers.local]
type = "dummy"
model_name = "good"
` + fakeFunction('agent', [['main', 'gpt', 'temperature = 0.3\nmax_tokens = 100']]) +
    fakeFunction('echoer', [['v', 'keyless']]) +
    fakeFunction('extract', [['v', 'dummy::json']], 'json')
  const sidecarToml = `
service = "test-service"
unmatched = "passthrough"
passthrough_upstream = "${fake.url}"
[routes]
"gpt-4o-mini" = "tensorzero::function_name::agent"
"gpt-4o" = { function = "agent", variant = "main" }
"claude-*" = { model = "gpt" }
"claude-special" = { model = "keyless" }
"text-embedding-3-small" = { embedding_model = "embed" }
`
  s = await startTestSidecar({ toml, sidecarToml, env: { TEST_PROVIDER_KEY: PROVIDER_KEY } })
  client = new OpenAI({ baseURL: s.baseURL, apiKey: 'client-secret-xyz', maxRetries: 0 })
})

t.teardown(async () => {
  await s.close()
  await fake.close()
})

const user = [{ role: 'user' as const, content: 'Hello?' }]
const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

async function post (path: string, body: string | object, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string; headers: Headers }> {
  const res = await fetch(s.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })
  const text = await res.text()
  let json: any
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: res.status, json, text, headers: res.headers }
}

t.test('a non-streaming answer has TensorZero\'s shape, field by field, and the x-tensorzero-* headers', async t => {
  const { data, response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user }).withResponse()
  t.match(data.id, UUID7, 'id is the inference id, a UUIDv7')
  t.match((data as any).episode_id, UUID7, 'episode_id is added')
  t.equal(data.object, 'chat.completion')
  t.equal(data.model, 'tensorzero::function_name::agent::variant_name::main')
  t.equal(data.choices.length, 1, 'exactly one choice')
  t.same(data.choices[0], { index: 0, finish_reason: 'stop', message: { content: 'Hello from ok', role: 'assistant' } })
  t.same(data.usage, { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12, tensorzero_cost: null }, 'usage; tensorzero_cost always present, null without a cost config (TensorZero)')
  t.type(data.created, 'number')
  t.equal(response.headers.get('x-tensorzero-inference-id'), data.id)
  t.equal(response.headers.get('x-tensorzero-episode-id'), (data as any).episode_id)
  t.equal(response.headers.get('x-tensorzero-function'), 'agent')
  t.equal(response.headers.get('x-tensorzero-variant'), 'main')
  t.equal(response.headers.get('x-tensorzero-model'), 'gpt')
  t.equal(response.headers.get('x-tensorzero-provider'), 'upstream')
  const sent = fake.requests.at(-1)?.body
  t.equal(sent.temperature, 0.3, 'variant defaults reach the provider')
  t.equal(sent.model, 'ok', 'the provider gets its own model_name')
})

t.test('request params override variant defaults; tensorzero::params overrides top-level params', async t => {
  await client.chat.completions.create({ model: 'gpt-4o', messages: user, temperature: 0.9, 'tensorzero::params': { chat_completion: { temperature: 0.1 } } } as any)
  t.equal(fake.requests.at(-1)?.body.temperature, 0.1)
  await client.chat.completions.create({ model: 'gpt-4o', messages: user, temperature: 0.9, seed: 7 })
  t.equal(fake.requests.at(-1)?.body.temperature, 0.9)
  t.equal(fake.requests.at(-1)?.body.seed, 7)
})

t.test('the episode id comes from the body field or the x-tensorzero-episode-id header and is validated', async t => {
  const episode = uuidv7()
  const viaBody = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, 'tensorzero::episode_id': episode } as any)
  t.equal((viaBody as any).episode_id, episode)
  const viaHeader = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user }, { headers: { 'x-tensorzero-episode-id': episode } })
  t.equal((viaHeader as any).episode_id, episode)
  const bad = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: user, 'tensorzero::episode_id': 'not-a-uuid' })
  t.equal(bad.status, 400)
  t.match(bad.json.error.message, /Invalid Episode ID/)
  const v4 = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: user, 'tensorzero::episode_id': '9b2f7c1e-3d4a-4b5c-8d6e-7f8091a2b3c4' })
  t.equal(v4.status, 400, 'a UUIDv4 is not an episode id')
  // Dated 2039: in the future, yet before TensorZero's workflow-evaluation offset (ids past it name workflow episodes).
  const future = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: user, 'tensorzero::episode_id': '01ffffff-ffff-7fff-bfff-ffffffffffff' })
  t.equal(future.status, 400)
  t.match(future.json.error.message, /future/)
})

t.test('a stream: role first, same id/episode/model on every chunk, one final chunk with finish_reason and usage, then [DONE]', async t => {
  const res = await fetch(`${s.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: user, stream: true, stream_options: { include_usage: true } })
  })
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /text\/event-stream/)
  const text = await res.text()
  t.notMatch(text, /^event:/m, 'no named SSE events')
  const events = text.split('\n\n').filter(Boolean).map(e => e.replace(/^data: /, ''))
  t.equal(events.at(-1), '[DONE]')
  const chunks = events.slice(0, -1).map(e => JSON.parse(e))
  t.equal(chunks[0].choices[0].delta.role, 'assistant')
  const ids = new Set(chunks.map(c => `${c.id}|${c.episode_id}|${c.model}`))
  t.equal(ids.size, 1, 'one id, episode and model across all chunks')
  t.equal(chunks[0].model, 'tensorzero::function_name::agent::variant_name::main')
  t.equal(chunks.map(c => c.choices[0].delta.content ?? '').join(''), 'Hello from the fake upstream')
  for (const c of chunks.slice(0, -1)) {
    t.equal(c.choices[0].finish_reason, null, 'only the last chunk finishes')
    t.equal(c.usage, null, 'provider usage is stripped from content chunks')
  }
  const last = chunks.at(-1)
  t.equal(last.choices[0].finish_reason, 'stop')
  t.same(last.usage, { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12, tensorzero_cost: null })
  t.equal(res.headers.get('x-tensorzero-inference-id'), chunks[0].id)
})

t.test('without stream_options.include_usage the final chunk carries no usage; the openai client reads the stream', async t => {
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, stream: true })
  const chunks = []
  for await (const c of stream) chunks.push(c)
  t.equal(chunks.at(-1)?.choices[0].finish_reason, 'stop')
  t.notOk(chunks.some(c => c.usage), 'no usage anywhere')
})

t.test('tool calls come back in OpenAI shape with finish_reason tool_calls; request tools reach the provider', async t => {
  const tools = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }]
  const res = await client.chat.completions.create({ model: 'tensorzero::model_name::tooling', messages: user, tools, tool_choice: 'auto' })
  t.equal(res.choices[0].finish_reason, 'tool_calls')
  t.same(res.choices[0].message.tool_calls, [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }])
  const sent = fake.requests.at(-1)?.body
  t.equal(sent.tools[0].function.name, 'get_weather')
  t.equal(sent.tool_choice, 'auto')

  // a second turn with the tool result round-trips as OpenAI messages
  await client.chat.completions.create({
    model: 'tensorzero::model_name::tooling',
    tools,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'developer', content: 'Use tools.' },
      ...user,
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' }
    ]
  })
  const turn = fake.requests.at(-1)?.body.messages
  t.same(turn[0], { role: 'system', content: 'Be brief.\nUse tools.' }, 'system and developer messages are joined with a newline')
  t.equal(turn.at(-1).role, 'tool')
  t.equal(turn.at(-1).tool_call_id, 'call_1')
  t.equal(turn.at(-1).content, 'sunny')
})

t.test('model resolution: tensorzero:: prefixes, exact routes before globs, config names, shorthands, then the unmatched policy', async t => {
  const model = async (name: string): Promise<string> => (await client.chat.completions.create({ model: name, messages: user }).withResponse()).response.headers.get('x-tensorzero-model') ?? ''
  t.equal(await model('claude-3-haiku'), 'gpt', 'a glob route')
  t.equal(await model('claude-special'), 'keyless', 'an exact route wins over a glob listed before it')
  t.equal(await model('agent'), 'gpt', 'a function name from the config')
  t.equal(await model('keyless'), 'keyless', 'a model name from the config')
  t.equal(await model('dummy::echo'), 'dummy::echo', 'a provider::model shorthand')
  const echo = await client.chat.completions.create({ model: 'tensorzero::model_name::dummy::echo', messages: [{ role: 'user', content: 'say this' }] })
  t.equal(echo.choices[0].message.content, 'say this')
  t.equal(echo.model, 'tensorzero::model_name::dummy::echo')

  const unknownFn = await post('/v1/chat/completions', { model: 'tensorzero::function_name::nope', messages: user })
  t.equal(unknownFn.status, 404)
  t.same(unknownFn.json, { error: { message: 'Unknown function: nope', type: 'not_found_error' } })
  const unknownVariant = await post('/v1/chat/completions', { model: 'tensorzero::function_name::agent::variant_name::nope', messages: user })
  t.equal(unknownVariant.status, 404)
  const badPrefix = await post('/v1/chat/completions', { model: 'tensorzero::what::x', messages: user })
  t.equal(badPrefix.status, 400)
})

t.test('unmatched models pass through unchanged to passthrough_upstream, minus the client\'s Authorization', async t => {
  const res = await client.chat.completions.create({ model: 'headers', messages: user })
  const received = JSON.parse(res.choices[0].message.content ?? '{}')
  t.equal(res.id, 'chatcmpl-fake', 'the upstream\'s own answer, untouched')
  t.notOk(received.authorization, 'the client key did not reach the upstream')
  const other = await fetch(`${s.baseURL}/files`, { method: 'GET', headers: { authorization: 'Bearer client-secret-xyz' } })
  t.equal(other.status, 200, 'non-intercepted /v1 routes are forwarded')
  t.equal(fake.requests.at(-1)?.path, '/v1/files')
  t.notOk(fake.requests.at(-1)?.headers.authorization)
})

t.test('models.retrieve with unmatched = "passthrough": listed names answer here, any other name is the upstream\'s', async t => {
  const listed = await client.models.retrieve('gpt-4o-mini')
  t.same({ ...listed }, { id: 'gpt-4o-mini', object: 'model', created: 0, owned_by: 'test-service' })
  const before = fake.requests.length
  await client.models.retrieve('llama3:8b').catch(() => undefined)
  t.equal(fake.requests.length, before + 1, 'the upstream was asked')
  t.equal(fake.requests.at(-1)?.path, '/v1/models/llama3:8b', 'the path as the client sent it')
})

t.test('tensorzero:: body fields never reach a pass-through upstream; other fields arrive unchanged', async t => {
  const episode = uuidv7()
  await client.chat.completions.create({ model: 'headers', messages: user, temperature: 0.2, 'tensorzero::episode_id': episode, 'tensorzero::tags': { a: 'b' } } as any)
  const sent = fake.requests.at(-1)?.body
  t.equal(sent.model, 'headers')
  t.equal(sent.temperature, 0.2)
  t.notOk(Object.keys(sent).some(k => k.startsWith('tensorzero::')), 'unmatched chat model: stripped')
  const res = await fetch(`${s.baseURL}/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-x', input: 'hi', 'tensorzero::episode_id': episode }) })
  t.equal(res.status, 200)
  const forwarded = fake.requests.at(-1)
  t.equal(forwarded?.path, '/v1/responses')
  t.same(forwarded?.body, { model: 'gpt-x', input: 'hi' }, 'a non-intercepted JSON route: stripped, the rest as sent')
  t.equal(Number(forwarded?.headers['content-length']), JSON.stringify({ model: 'gpt-x', input: 'hi' }).length, 'with its new length')
})

t.test('the client\'s Authorization never reaches a provider; the provider key comes from its key location', async t => {
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user })
  t.equal(fake.requests.at(-1)?.headers.authorization, `Bearer ${PROVIDER_KEY}`)
  const res = await client.chat.completions.create({ model: 'tensorzero::function_name::echoer', messages: user })
  const received = JSON.parse(res.choices[0].message.content ?? '{}')
  t.notOk(received.authorization, 'api_key_location = "none": no Authorization at all')
  const dyn = await client.chat.completions.create({ model: 'tensorzero::model_name::dyn', messages: user, 'tensorzero::credentials': { customer_key: 'sk-dynamic' } } as any)
  t.equal(JSON.parse(dyn.choices[0].message.content ?? '{}').authorization, 'Bearer sk-dynamic', 'dynamic:: keys come from tensorzero::credentials')
})

t.test('a missing credential fails only that provider, with a message naming the variable', async t => {
  const { response } = await client.chat.completions.create({ model: 'tensorzero::model_name::needs_key', messages: user }).withResponse()
  t.equal(response.headers.get('x-tensorzero-provider'), 'local', 'fell back past the provider without its key')
  const dyn = await post('/v1/chat/completions', { model: 'tensorzero::model_name::dyn', messages: user })
  t.equal(dyn.status, 500)
  t.match(dyn.json.error.message, /customer_key/)
})

t.test('bad requests are OpenAI-shaped 4xx errors, never a crash or a hung socket', async t => {
  const cases: Array<[string, string | object, number, RegExp]> = [
    ['invalid JSON', '{"model": "gpt-4o-mini", "messages": [', 400, /Invalid JSON/],
    ['a body that is not an object', '[1,2]', 400, /JSON object/],
    ['missing model', { messages: user }, 400, /model/],
    ['messages not an array', { model: 'gpt-4o-mini', messages: 'hi' }, 400, /messages/],
    ['n > 1', { model: 'gpt-4o-mini', messages: user, n: 2 }, 400, /`n` must be 1/],
    ['wrong type for temperature', { model: 'gpt-4o-mini', messages: user, temperature: 'hot' }, 400, /temperature/],
    ['a reserved tag', { model: 'gpt-4o-mini', messages: user, 'tensorzero::tags': { 'tensorzero::x': 'y' } }, 400, /reserved/],
    ['a variant pin with a model target', { model: 'tensorzero::model_name::gpt', messages: user, 'tensorzero::variant_name': 'x' }, 400, /variant/],
    ['unknown fields when denied', { model: 'gpt-4o-mini', messages: user, foo: 1, 'tensorzero::deny_unknown_fields': true }, 400, /foo/],
    ['an unknown role', { model: 'gpt-4o-mini', messages: [{ role: 'robot', content: 'x' }] }, 400, /role/],
    ['an embedding model on chat', { model: 'text-embedding-3-small', messages: user }, 400, /embedding model/]
  ]
  for (const [what, body, status, message] of cases) {
    const res = await post('/v1/chat/completions', body)
    t.equal(res.status, status, what)
    t.match(res.json?.error?.message, message, what)
  }
  const notFound = await fetch(`${s.url}/nope`)
  t.equal(notFound.status, 404)
  t.match((await notFound.json()).error.message, /Route not found/)
})

t.test('a body over the limit is refused with 413 and the connection closed', async t => {
  const small = await startTestSidecar({ toml: '[functions.f]\ntype = "chat"\n[functions.f.variants.v]\ntype = "chat_completion"\nmodel = "dummy::good"\n', options: { bodyLimit: 1000 } })
  try {
    const res = await fetch(`${small.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'f', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }) })
    t.equal(res.status, 413)
    t.match((await res.json()).error.message, /limit of 1000 bytes/)
    const ok = await fetch(`${small.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'f', messages: user }) })
    t.equal(ok.status, 200, 'the server still answers afterwards')
  } finally {
    await small.close()
  }
})

t.test('embeddings route through an embedding model and answer in OpenAI shape', async t => {
  const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['ab', 'abcd'] })
  t.equal(res.object, 'list')
  t.same(res.data.map(d => d.embedding), [[2, 0.5, -0.25], [4, 0.5, -0.25]])
  t.same(res.data.map(d => d.index), [0, 1])
  t.equal(res.model, 'tensorzero::embedding_model_name::embed')
  t.same(res.usage, { prompt_tokens: 6, total_tokens: 6 })
  t.equal(fake.requests.at(-1)?.body.model, 'text-embedding-3-small')
  const b64 = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'abc', encoding_format: 'base64' })
  const raw = b64.data[0].embedding as unknown as string
  t.type(raw, 'string', 'asked for base64 explicitly: the SDK hands over the string')
  t.same(Array.from(new Float32Array(Uint8Array.from(Buffer.from(raw, 'base64')).buffer)), [3, 0.5, -0.25], 'little-endian float32s')
})

t.test('/v1/models lists what this sidecar serves; /health is liveness; /status is readiness', async t => {
  const models = await client.models.list()
  const ids = models.data.map(m => m.id)
  for (const id of ['gpt-4o-mini', 'agent', 'tensorzero::function_name::agent', 'tensorzero::model_name::gpt', 'tensorzero::embedding_model_name::embed']) {
    t.ok(ids.includes(id), `lists ${id}`)
  }
  t.same(await (await fetch(`${s.url}/health`)).json(), { status: 'ok' })
  const status = await fetch(`${s.url}/status`)
  t.equal(status.status, 200)
  const body = await status.json()
  t.equal(body.status, 'ready')
  t.equal(body.service, 'test-service')
  t.equal(body.config.functions, 3)
})

t.test('the same routes answer under /openai/v1', async t => {
  const c = new OpenAI({ baseURL: `${s.url}/openai/v1`, apiKey: 'x', maxRetries: 0 })
  const res = await c.chat.completions.create({ model: 'gpt-4o-mini', messages: user })
  t.equal(res.choices[0].message.content, 'Hello from ok')
})

t.test('with SIDECAR_API_KEY set, clients must send it; health stays open', async t => {
  const locked = await startTestSidecar({ toml: '[functions.f]\ntype = "chat"\n[functions.f.variants.v]\ntype = "chat_completion"\nmodel = "dummy::good"\n', options: { apiKey: 'door-key' } })
  try {
    const wrong = await new OpenAI({ baseURL: locked.baseURL, apiKey: 'wrong', maxRetries: 0 }).chat.completions.create({ model: 'f', messages: user }).catch(e => e)
    t.equal(wrong.status, 401)
    const right = await new OpenAI({ baseURL: locked.baseURL, apiKey: 'door-key', maxRetries: 0 }).chat.completions.create({ model: 'f', messages: user })
    t.equal(right.choices.length, 1)
    t.equal((await fetch(`${locked.url}/health`)).status, 200)
  } finally {
    await locked.close()
  }
})

t.test('unmatched = "reject" answers 404 naming the nearest known names; no upstream at all is a 404 for /v1 routes', async t => {
  const strict = await startTestSidecar({
    toml: '[functions.summarize]\ntype = "chat"\n[functions.summarize.variants.v]\ntype = "chat_completion"\nmodel = "dummy::good"\n',
    sidecarToml: 'service = "x"\nunmatched = "reject"\n[routes]\n"gpt-4o-mini" = "tensorzero::function_name::summarize"\n'
  })
  try {
    const res = await fetch(`${strict.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mni', messages: user }) })
    t.equal(res.status, 404)
    t.match((await res.json()).error.message, /Nearest known names: `gpt-4o-mini`/)
    const files = await fetch(`${strict.baseURL}/files`)
    t.equal(files.status, 404)
    t.match((await files.json()).error.message, /passthrough_upstream/)
  } finally {
    await strict.close()
  }
})

t.test('passthrough_api_key_location gives the pass-through upstream its own key instead of the client\'s', async t => {
  const keyed = await startTestSidecar({
    toml: '[functions.f]\ntype = "chat"\n[functions.f.variants.v]\ntype = "chat_completion"\nmodel = "dummy::good"\n',
    sidecarToml: `service = "k"\nunmatched = "passthrough"\npassthrough_upstream = "${fake.url}"\npassthrough_api_key_location = "env::TZ_TEST_UPSTREAM_KEY"\n`,
    env: { TZ_TEST_UPSTREAM_KEY: 'sk-upstream' }
  })
  try {
    const c = new OpenAI({ baseURL: keyed.baseURL, apiKey: 'client-secret-xyz', maxRetries: 0 })
    const res = await c.chat.completions.create({ model: 'headers', messages: user })
    t.equal(JSON.parse(res.choices[0].message.content ?? '{}').authorization, 'Bearer sk-upstream')
  } finally {
    await keyed.close()
  }
})

t.test('WebSocket upgrades under /v1 pass through to the upstream', async t => {
  const upstream = http.createServer()
  const wss = new WebSocketServer({ server: upstream })
  const seenPaths: string[] = []
  wss.on('connection', (socket, req) => {
    seenPaths.push(req.url ?? '')
    socket.on('message', data => socket.send(`echo:${data.toString()}`))
  })
  await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve))
  const port = (upstream.address() as AddressInfo).port
  const proxied = await startTestSidecar({
    toml: '[functions.f]\ntype = "chat"\n[functions.f.variants.v]\ntype = "chat_completion"\nmodel = "dummy::good"\n',
    sidecarToml: `service = "ws"\nunmatched = "passthrough"\npassthrough_upstream = "http://127.0.0.1:${port}"\n`
  })
  try {
    const ws = new WebSocket(`${proxied.url.replace('http', 'ws')}/v1/realtime?model=x`)
    const reply = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send('ping'))
      ws.on('message', data => resolve(data.toString()))
      ws.on('error', reject)
    })
    t.equal(reply, 'echo:ping')
    t.equal(seenPaths[0], '/v1/realtime?model=x')
    ws.close()
  } finally {
    await proxied.close()
    wss.close()
    upstream.closeAllConnections()
    await new Promise<void>(resolve => upstream.close(() => resolve()))
  }
})
