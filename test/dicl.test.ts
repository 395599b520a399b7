// Dynamic in-context learning through a running sidecar and the real `openai` client: the input is embedded by a
// fake embedding server with known vectors, the nearest examples seeded into a real ClickHouse engine (chdb) are sent
// to the model in order, k is respected, and the rows are what TensorZero writes (its `variant/dicl.rs`: the
// embedding call's ModelInference row has the serialised input as one user message, no system, output `[]`).
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { v7 as uuidv7 } from 'uuid'
import { startChdbServer, startFaultProxy } from './helpers/chdb-server.ts'
import type { ChdbServer, FaultProxy } from './helpers/chdb-server.ts'
import { startCli } from './helpers/process.ts'
import type { ServingSidecar } from './helpers/process.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { fakeModel } from './helpers/toml.ts'
import { waitFor } from './helpers/wait.ts'
import { runMigrate } from '../src/store/migrate.ts'
import { DEFAULT_DICL_INSTRUCTIONS } from '../src/config/dicl.ts'
import { validateConfigFiles } from '../src/config/load.ts'
import { formatDiagnostic } from '../src/config/diagnostics.ts'

/** Inputs that mention a topic embed to that topic's axis; anything else to the third axis. */
const AXES: Array<[RegExp, number[]]> = [[/capital/, [1, 0, 0]], [/weather/, [0, 1, 0]]]

interface EmbedServer { url: string; inputs: string[]; close (): Promise<void> }

async function startEmbedServer (): Promise<EmbedServer> {
  const inputs: string[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString())
      const input = String(Array.isArray(body.input) ? body.input[0] : body.input)
      inputs.push(input)
      const vector = AXES.find(([re]) => re.test(input))?.[1] ?? [0, 0, 1]
      const text = JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: vector }], model: body.model, usage: { prompt_tokens: 4, total_tokens: 4 } })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    inputs,
    close: async () => { server.closeAllConnections(); await new Promise<void>(resolve => server.close(() => resolve())) }
  }
}

const storedInput = (question: string): string => JSON.stringify({ messages: [{ role: 'user', content: [{ type: 'text', text: question }] }] })

let ch: ChdbServer
let fault: FaultProxy
let fake: FakeOpenAI
let embed: EmbedServer
let sidecar: ServingSidecar
let client: OpenAI
let dir: string

t.before(async () => {
  ch = await startChdbServer()
  fault = await startFaultProxy(ch)
  fake = await startFakeOpenAI()
  embed = await startEmbedServer()
  await runMigrate({ url: ch.url })
  dir = await mkdtemp(path.join(tmpdir(), 'tz-dicl-'))
  await writeFile(path.join(dir, 'instructions.txt'), 'Answer like the examples.')
  const configFile = path.join(dir, 'tensorzero.toml')
  await writeFile(configFile, `
[gateway.observability.batch_writes]
flush_interval_ms = 50
max_rows = 100
${fakeModel(fake.url, 'chat_model', [['upstream', 'dicl-model']])}
${fakeModel(fake.url, 'fallback_model', [['upstream', 'fallback-model']])}

[embedding_models.embedder]
routing = ["local"]
[embedding_models.embedder.providers.local]
type = "openai"
model_name = "embed-model"
api_base = "${embed.url}/v1/"
api_key_location = "none"

[functions.qa]
type = "chat"
[functions.qa.variants.dicl]
type = "experimental_dynamic_in_context_learning"
embedding_model = "embedder"
model = "chat_model"
k = 2
temperature = 0.25

[functions.extract]
type = "json"
[functions.extract.variants.dicl]
type = "experimental_dynamic_in_context_learning"
embedding_model = "embedder"
model = "chat_model"
k = 1

[functions.custom]
type = "chat"
[functions.custom.variants.dicl]
type = "experimental_dynamic_in_context_learning"
embedding_model = "embedder"
model = "chat_model"
k = 5
max_distance = 0.5
system_instructions = "instructions.txt"
[functions.custom.variants.plain]
type = "chat_completion"
model = "fallback_model"
[functions.custom.experimentation]
type = "static"
candidate_variants = ["dicl"]
fallback_variants = ["plain"]
[functions.bounded]
type = "chat"
[functions.bounded.variants.dicl]
type = "experimental_dynamic_in_context_learning"
embedding_model = "embedder"
model = "chat_model"
k = 2
timeouts = { non_streaming = { total_ms = 700 }, streaming = { ttft_ms = 700 } }
`)
  // TENSORZERO_CLICKHOUSE_URL goes through the fault proxy, so a test can take ClickHouse away.
  sidecar = await startCli(['--config-file', configFile], { TENSORZERO_CLICKHOUSE_URL: fault.url })
  client = new OpenAI({ baseURL: `${sidecar.url}/v1`, apiKey: 'x', maxRetries: 0 })

  const rows: Array<[string, string, string, string, number[]]> = [
    ['qa', 'dicl', 'What is the capital of France?', 'Paris', [1, 0, 0]],
    ['qa', 'dicl', 'Which city is the capital of Italy?', 'Rome', [0.9, 0.1, 0]],
    ['qa', 'dicl', 'Is it raining in Oslo?', 'Yes', [0, 1, 0]],
    ['qa', 'dicl', 'Capital and weather of Peru?', 'Lima, mild', [0.7, 0.7, 0]],
    // Same embedding as the nearest, but another variant or function: never sent.
    ['qa', 'other', 'OTHER VARIANT capital', 'nope', [1, 0, 0]],
    ['elsewhere', 'dicl', 'OTHER FUNCTION capital', 'nope', [1, 0, 0]],
    ['custom', 'dicl', 'custom capital example', 'Bern', [1, 0, 0]],
    ['custom', 'dicl', 'custom far example', 'far', [0, 1, 0]]
  ]
  const values = rows.map(([fn, variant, question, answer, vector]) =>
    `('${uuidv7()}', '${fn}', '${variant}', '', '${storedInput(question).replace(/'/g, "\\'")}', '${JSON.stringify([{ type: 'text', text: answer }])}', [${vector.join(',')}])`)
  await ch.query(`INSERT INTO DynamicInContextLearningExample (id, function_name, variant_name, namespace, input, output, embedding) VALUES ${values.join(', ')}`)
  // A ClickHouse string literal: backslashes and quotes escaped.
  const jsonOutput = JSON.stringify({ raw: '{"city":"Paris"}', parsed: { city: 'Paris' } }).replace(/\\/g, '\\\\').replace(/'/g, "\\'")
  await ch.query(`INSERT INTO DynamicInContextLearningExample (id, function_name, variant_name, namespace, input, output, embedding)
    VALUES ('${uuidv7()}', 'extract', 'dicl', '', '${storedInput('capital of France as JSON')}', '${jsonOutput}', [1, 0, 0])`)
})

t.teardown(async () => {
  sidecar?.child.kill('SIGTERM')
  await sidecar?.exited
  await embed?.close()
  await fake?.close()
  await fault?.close()
  await ch?.close()
  await rm(dir, { recursive: true, force: true })
})

/** The text of each message the fake model received (system first), whatever shape the provider wrote it in. */
function sentMessages (body: any): Array<{ role: string; text: string }> {
  return body.messages.map((m: any) => ({
    role: m.role,
    text: typeof m.content === 'string' ? m.content : m.content.map((p: any) => p.text).join('')
  }))
}

t.test('DICL sends the k nearest examples of its function and variant, nearest first, then the input; rows as TensorZero writes them', async t => {
  const before = fake.requestsFor('dicl-model').length
  const question = 'What is the capital of Spain?'
  const res = await client.chat.completions.create({ model: 'tensorzero::function_name::qa', messages: [{ role: 'user', content: question }] })
  t.equal(res.choices[0].message.content, 'Hello from dicl-model')
  t.equal(res.model, 'tensorzero::function_name::qa::variant_name::dicl')
  const sent = fake.requestsFor('dicl-model').slice(before)
  t.equal(sent.length, 1)
  t.same(sentMessages(sent[0].body), [
    { role: 'system', text: DEFAULT_DICL_INSTRUCTIONS },
    { role: 'user', text: storedInput('What is the capital of France?') },
    { role: 'assistant', text: 'Paris' },
    { role: 'user', text: storedInput('Which city is the capital of Italy?') },
    { role: 'assistant', text: 'Rome' },
    { role: 'user', text: storedInput(question) }
  ], 'k = 2: the two nearest by cosine distance, in order, then the input serialised as TensorZero stores it')
  t.equal(sent[0].body.temperature, 0.25, 'the variant\'s sampling parameters apply')
  t.equal(embed.inputs.at(-1), storedInput(question), 'the embedded text is the serialised input')

  const models = await waitFor('ModelInference rows', async () => {
    const rows = await ch.query<any>(`SELECT * FROM ModelInference WHERE inference_id = '${res.id}' ORDER BY model_name`)
    return rows.length === 2 ? rows : undefined
  })
  const [chatRow, embedRow] = models
  t.match(chatRow, { model_name: 'chat_model', model_provider_name: 'upstream', function_name: 'qa', variant_name: 'dicl', system: DEFAULT_DICL_INSTRUCTIONS })
  t.equal(JSON.parse(chatRow.input_messages).length, 5, 'the chat call\'s row has the example turns and the input')
  t.match(embedRow, { model_name: 'embedder', model_provider_name: 'local', system: null, output: '[]', finish_reason: null, input_tokens: 4, function_name: 'qa', variant_name: 'dicl' })
  t.same(JSON.parse(embedRow.input_messages), [{ role: 'user', content: [{ type: 'text', text: storedInput(question) }] }])
  t.equal(JSON.parse(embedRow.raw_request).input, storedInput(question))
  const chat = await ch.query<any>(`SELECT variant_name, output FROM ChatInference WHERE id = '${res.id}'`)
  t.match(chat, [{ variant_name: 'dicl', output: /Hello from dicl-model/ }])
})

t.test('DICL streams like a chat_completion variant, and max_distance and system_instructions apply', async t => {
  const before = fake.requestsFor('dicl-model').length
  const stream = await client.chat.completions.create({ model: 'tensorzero::function_name::custom', messages: [{ role: 'user', content: 'capital of Chile?' }], stream: true })
  let text = ''
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
  t.equal(text, 'Hello from the fake upstream')
  const sent = fake.requestsFor('dicl-model').slice(before)
  t.same(sentMessages(sent[0].body), [
    { role: 'system', text: 'Answer like the examples.' },
    { role: 'user', text: storedInput('custom capital example') },
    { role: 'assistant', text: 'Bern' },
    { role: 'user', text: storedInput('capital of Chile?') }
  ], 'k = 5 but max_distance = 0.5 leaves the far example out')
})

t.test('a JSON function\'s examples: the assistant turn is the stored raw JSON text', async t => {
  const before = fake.requestsFor('dicl-model').length
  const res = await client.chat.completions.create({ model: 'tensorzero::function_name::extract', messages: [{ role: 'user', content: 'capital of Peru as JSON' }] })
  t.equal(res.choices[0].message.content, 'Hello from dicl-model', 'the model\'s raw text, as for any JSON function')
  t.same(sentMessages(fake.requestsFor('dicl-model').slice(before)[0].body).slice(1), [
    { role: 'user', text: storedInput('capital of France as JSON') },
    { role: 'assistant', text: '{"city":"Paris"}' },
    { role: 'user', text: storedInput('capital of Peru as JSON') }
  ])
})

t.test('no stored examples: the system instructions and the input\'s own messages, as TensorZero does', async t => {
  const before = fake.requestsFor('dicl-model').length
  const res = await client.chat.completions.create({
    model: 'tensorzero::function_name::custom',
    messages: [{ role: 'system', content: 'dropped, as TensorZero drops it' }, { role: 'user', content: 'tell me a joke' }, { role: 'assistant', content: 'why?' }, { role: 'user', content: 'go on' }]
  })
  t.equal(res.choices[0].message.content, 'Hello from dicl-model')
  t.same(sentMessages(fake.requestsFor('dicl-model').slice(before)[0].body), [
    { role: 'system', text: 'Answer like the examples.' },
    { role: 'user', text: 'tell me a joke' },
    { role: 'assistant', text: 'why?' },
    { role: 'user', text: 'go on' }
  ])
})

t.test('inference-level extra_body is refused for DICL as TensorZero refuses it: a 4xx naming the reason', async t => {
  const err = await client.chat.completions.create({
    model: 'tensorzero::function_name::qa', messages: [{ role: 'user', content: 'capital?' }],
    'tensorzero::extra_body': [{ pointer: '/x', value: 1 }]
  } as any).catch((e: unknown) => e as { status: number; message: string })
  t.equal((err as { status: number }).status, 400)
  t.match((err as { message: string }).message, /extra_body.*not yet supported for dynamic_in_content_learning/)
})

t.test('ClickHouse unreachable: the DICL variant fails (pinned: an error), another variant serves the function', async t => {
  await fault.setMode('error500')
  t.teardown(async () => { await fault.setMode('pass') })
  const before = fake.requestsFor('fallback-model').length
  const res = await client.chat.completions.create({ model: 'tensorzero::function_name::custom', messages: [{ role: 'user', content: 'capital?' }] })
  t.equal(res.choices[0].message.content, 'Hello from fallback-model')
  t.equal(res.model, 'tensorzero::function_name::custom::variant_name::plain')
  t.equal(fake.requestsFor('fallback-model').length, before + 1)
  const pinned = await client.chat.completions.create({
    model: 'tensorzero::function_name::qa', messages: [{ role: 'user', content: 'capital?' }], 'tensorzero::variant_name': 'dicl'
  } as any).catch((e: unknown) => e as { status: number; message: string })
  t.equal((pinned as { status: number }).status, 503)
  t.match((pinned as { message: string }).message, /DICL examples could not be read from ClickHouse/)
})

t.test('a DICL variant\'s timeouts bound the whole variant, the example lookup included (TensorZero times the variant as one)', async t => {
  await fault.setMode('hang')
  t.teardown(async () => { await fault.setMode('pass') })
  const before = fake.requestsFor('dicl-model').length
  for (const stream of [false, true]) {
    const failed = await client.chat.completions.create({
      model: 'tensorzero::function_name::bounded', messages: [{ role: 'user', content: 'capital?' }], stream
    } as any).then(async (r: any) => { if (stream) for await (const _ of r) { /* drain */ } return undefined }, (e: unknown) => e as { message: string })
    t.match(failed?.message, stream ? /variant `dicl` time to first token timed out after 700 ms/ : /variant `dicl` timed out after 700 ms/,
      `${stream ? 'streaming' : 'non-streaming'}: the variant's own limit fires while the lookup hangs, not the lookup's 5 s bound`)
  }
  t.equal(fake.requestsFor('dicl-model').length, before, 'the model is never called')
})

t.test('a DICL variant\'s config mistakes are file:line:col errors, as TensorZero rejects them', async t => {
  const file = path.join(dir, 'bad-dicl.toml')
  await writeFile(file, `
[functions.f]
type = "chat"
[functions.f.variants.d]
type = "experimental_dynamic_in_context_learning"
model = "dummy::x"
embedding_model = "nowhere"
k = -1
max_distance = -0.5
timeouts = { non_streaming = { total_ms = 100 } }
system_instructions = "missing.txt"
[functions.f.variants.e]
type = "experimental_dynamic_in_context_learning"
model = "dummy::x"
`)
  const result = await validateConfigFiles({ configFile: file, env: {} })
  const errors = result.diagnostics.filter(d => d.severity === 'error').map(d => formatDiagnostic(d))
  const at = (line: number, text: string): void => { t.ok(errors.some(e => e.startsWith(`${file}:${line}:`) && e.includes(text)), `line ${line}: ${text}`) }
  at(7, '`functions.f.variants.d.embedding_model` must be a valid embedding model name')
  at(8, '`functions.f.variants.d.k` must be ≥ 0, got -1')
  at(9, '`functions.f.variants.d.max_distance` must be ≥ 0, got -0.5')
  // `timeouts` belongs to every variant type in TensorZero (UninitializedVariantInfo), DICL included: no error.
  t.notOk(errors.some(e => e.startsWith(`${file}:10:`)), 'line 10: `timeouts` is accepted')
  at(11, 'text file not found')
  t.ok(errors.some(e => e.includes('`functions.f.variants.e` is missing the required key `embedding_model`')), 'embedding_model is required')
  t.ok(errors.some(e => e.includes('`functions.f.variants.e` is missing the required key `k`')), 'k is required')
  t.equal(errors.length, 6, `exactly these: ${errors.join('\n')}`)
})
