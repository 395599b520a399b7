// TensorZero functions in full, through the real `openai` client against a running sidecar and a fake upstream that
// records the exact request bodies: MiniJinja templates (loop, conditional, include, legacy `*_text` wrapping, named
// templates), schemas (400 `JSON Schema validation failed`), JSON functions (json_mode off/on/strict/tool; valid,
// invalid and non-JSON answers, streamed and not), tools (config and dynamic, tool_choice, allowed_tools, parallel,
// invalid, streamed in pieces), a multi-turn tool round trip, a PMOVES-like orchestrator end to end, config
// validation of templates, and variant types the sidecar does not serve.
import t from 'tap'
import path from 'node:path'
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import OpenAI from 'openai'
import { v7 as uuidv7 } from 'uuid'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import type { InferenceRecord } from '../src/core/records.ts'
import { inferenceRows } from '../src/store/rows.ts'
import { validateConfigFiles } from '../src/config/load.ts'
import { checkTemplates } from '../src/variant/templates/check.ts'
import { TemplateRenderer } from '../src/variant/templates/prepare.ts'
import { formatDiagnostic } from '../src/config/diagnostics.ts'

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'functions')
const fix = (p: string): string => JSON.stringify(path.join(FIX, p))
const readJson = async (p: string): Promise<any> => JSON.parse(await (await import('node:fs/promises')).readFile(path.join(FIX, p), 'utf8'))

let fake: FakeOpenAI
let s: TestSidecar
let client: OpenAI
const records: InferenceRecord[] = []

function model (name: string, upstream: string, url: string): string {
  return `
[models.${name}]
routing = ["fake"]
[models.${name}.providers.fake]
type = "openai"
model_name = "${upstream}"
api_base = "${url}/v1"
api_key_location = "none"
`
}

const ORCHESTRATOR_TOOLS = ['web_search', 'hirag_query', 'file_read', 'get_weather']

function config (url: string): string {
  return [
    model('m_ok', 'ok', url),
    model('m_tool', 'tool-weather', url),
    model('m_parallel', 'tool-parallel', url),
    model('m_invalid', 'tool-invalid', url),
    model('m_json_valid', 'json-valid', url),
    model('m_json_invalid', 'json-invalid', url),
    model('m_json_broken', 'json-broken', url),
    model('m_respond', 'tool-respond', url),
    `
# The orchestrator's system template includes "partials/rules.minijinja": included names resolve here, as in TensorZero.
[gateway.template_filesystem_access]
base_path = ${fix('templates/orchestrator')}

[tools.web_search]
description = "Search the web"
parameters = ${fix('tools/web_search.json')}

[tools.hirag_query]
description = "Query the Hi-RAG knowledge base"
parameters = ${fix('tools/hirag_query.json')}

[tools.file_read]
description = "Read file contents"
parameters = ${fix('tools/file_read.json')}

[tools.get_weather]
description = "Current weather for a city"
parameters = ${fix('tools/get_weather.json')}
strict = true

[functions.orchestrator]
type = "chat"
system_schema = ${fix('schemas/orchestrator_system.json')}
tools = ["web_search", "hirag_query", "file_read", "get_weather"]
tool_choice = "auto"
parallel_tool_calls = true
[functions.orchestrator.variants.local]
type = "chat_completion"
model = "m_ok"
system_template = ${fix('templates/orchestrator/system.minijinja')}
temperature = 0.2
[functions.orchestrator.variants.weather]
type = "chat_completion"
model = "m_tool"
system_template = ${fix('templates/orchestrator/system.minijinja')}
[functions.orchestrator.variants.parallel]
type = "chat_completion"
model = "m_parallel"
system_template = ${fix('templates/orchestrator/system.minijinja')}
[functions.orchestrator.variants.invalid]
type = "chat_completion"
model = "m_invalid"
system_template = ${fix('templates/orchestrator/system.minijinja')}

[functions.planner]
type = "chat"
user_schema = ${fix('schemas/planner_user.json')}
[functions.planner.variants.main]
type = "chat_completion"
model = "m_ok"
system_template = ${fix('templates/planner/system.minijinja')}
user_template = ${fix('templates/planner/user.minijinja')}

[functions.wrapped]
type = "chat"
[functions.wrapped.variants.main]
type = "chat_completion"
model = "m_ok"
system_template = ${fix('templates/wrapped/system.minijinja')}
user_template = ${fix('templates/wrapped/user.minijinja')}
assistant_template = ${fix('templates/wrapped/assistant.minijinja')}

[functions.named]
type = "chat"
schemas.summary.path = ${fix('schemas/summary.json')}
[functions.named.variants.main]
type = "chat_completion"
model = "m_ok"
templates.summary.path = ${fix('templates/named/summary.minijinja')}
templates.user.path = ${fix('templates/named/user.minijinja')}

[functions.extract]
type = "json"
output_schema = ${fix('schemas/answer.json')}
[functions.extract.variants.on]
type = "chat_completion"
model = "m_json_valid"
json_mode = "on"
[functions.extract.variants.strict]
type = "chat_completion"
model = "m_json_valid"
json_mode = "strict"
[functions.extract.variants.off]
type = "chat_completion"
model = "m_json_valid"
json_mode = "off"
[functions.extract.variants.tool]
type = "chat_completion"
model = "m_respond"
json_mode = "tool"
[functions.extract.variants.invalid]
type = "chat_completion"
model = "m_json_invalid"
json_mode = "on"
[functions.extract.variants.broken]
type = "chat_completion"
model = "m_json_broken"
json_mode = "on"

[functions.mixed]
type = "chat"
[functions.mixed.variants.bon]
type = "experimental_best_of_n_sampling"
candidates = ["cc"]
evaluator = { model = "m_ok" }
[functions.mixed.variants.cc]
type = "chat_completion"
model = "m_ok"
`
  ].join('\n')
}

t.before(async () => {
  fake = await startFakeOpenAI()
  const sidecarToml = `
service = "agent-zero"
[routes]
"gpt-4o-mini" = { function = "orchestrator", variant = "weather" }
"gpt-4o" = { function = "orchestrator", variant = "local" }
`
  s = await startTestSidecar({
    toml: config(fake.url),
    sidecarToml,
    options: { observer: { onInference: r => { records.push(r) } } }
  })
  client = new OpenAI({ baseURL: s.baseURL, apiKey: 'unused', maxRetries: 0 })
})

t.teardown(async () => {
  await s.close()
  await fake.close()
})

// ------------------------------------------------------------------ helpers

const create = async (body: Record<string, unknown>): Promise<any> => await client.chat.completions.create(body as any)

async function post (body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, json: await res.json() }
}

/** The body the fake upstream received last for `upstream` (its model_name). */
function sent (upstream: string): any {
  const all = fake.requestsFor(upstream)
  return all[all.length - 1]?.body
}

async function recordFor (id: string): Promise<InferenceRecord> {
  for (let i = 0; i < 100; i++) {
    const r = records.find(x => x.inferenceId === id)
    if (r !== undefined) return r
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  throw new Error(`no inference record for ${id}`)
}

/** The ChatInference/JsonInference row as the ClickHouse writer would store it. */
function storedRow (r: InferenceRecord): any {
  return inferenceRows(r, { service: 'test', config: s.sidecar.gateway.config.tensorzero })[0]
}

async function collect (stream: AsyncIterable<any>): Promise<{ chunks: any[]; content: string; toolCalls: Map<number, { id?: string; name: string; arguments: string; pieces: number }>; finish?: string; id?: string }> {
  const chunks: any[] = []
  let content = ''
  const toolCalls = new Map<number, { id?: string; name: string; arguments: string; pieces: number }>()
  let finish: string | undefined
  for await (const chunk of stream) {
    chunks.push(chunk)
    const choice = chunk.choices[0]
    if (choice === undefined) continue
    if (typeof choice.delta.content === 'string') content += choice.delta.content
    for (const tc of choice.delta.tool_calls ?? []) {
      const call = toolCalls.get(tc.index) ?? { name: '', arguments: '', pieces: 0 }
      if (tc.id !== undefined) call.id = tc.id
      if (tc.function?.name !== undefined) call.name += tc.function.name
      if (tc.function?.arguments !== undefined) { call.arguments += tc.function.arguments; call.pieces++ }
      toolCalls.set(tc.index, call)
    }
    if (choice.finish_reason !== null) finish = choice.finish_reason
  }
  return { chunks, content, toolCalls, finish, id: chunks[0]?.id }
}

const AGENT_TOOLS = [
  { name: 'web_search', description: 'Search the web' },
  { name: 'hirag_query', description: 'Query Hi-RAG' }
]
const ORCHESTRATOR_SYSTEM = 'You are Agent Zero, the PMOVES orchestrator.\nRules: be thorough; answer in ENGLISH.\n\n' +
  'Available tools:\n\n1. web_search: Search the web\n\n2. hirag_query: Query Hi-RAG\n\n'

// ------------------------------------------------------------------ templates

t.test('system arguments render through the include, loop and conditional; the upstream gets that text byte for byte', async t => {
  const res = await create({
    model: 'tensorzero::function_name::orchestrator',
    'tensorzero::variant_name': 'local',
    messages: [
      { role: 'system', content: [{ type: 'text', 'tensorzero::arguments': { assistant_name: 'Agent Zero', tone: 'thorough', tools: AGENT_TOOLS } }] },
      { role: 'user', content: 'What is the weather in Paris?' }
    ]
  })
  t.equal(res.choices[0].message.content, 'Hello from ok')
  const body = sent('ok')
  t.same(body.messages, [
    { role: 'system', content: ORCHESTRATOR_SYSTEM },
    { role: 'user', content: 'What is the weather in Paris?' }
  ], 'rendered system text, then the user text untouched')
  t.equal(body.temperature, 0.2, 'variant parameters still apply')
  const record = await recordFor(res.id)
  t.same(record.input.system, { assistant_name: 'Agent Zero', tone: 'thorough', tools: AGENT_TOOLS }, 'stored input keeps the arguments, as TensorZero stores them')
  t.equal(record.modelInferences[0].request.system, ORCHESTRATOR_SYSTEM, 'ModelInference.system is the rendered text')
})

t.test('the else branch and default filters render; arguments also come as a tensorzero::template block or a bare object', async t => {
  const expected = 'You are Ada, the PMOVES orchestrator.\nRules: be concise; answer in FRENCH.\n\nNo tools are available.\n'
  const forms = [
    [{ type: 'tensorzero::template', name: 'system', arguments: { assistant_name: 'Ada', language: 'french', tools: [] } }],
    [{ assistant_name: 'Ada', language: 'french', tools: [] }],
    { assistant_name: 'Ada', language: 'french', tools: [] }
  ]
  for (const content of forms) {
    await create({ model: 'tensorzero::function_name::orchestrator', 'tensorzero::variant_name': 'local', messages: [{ role: 'system', content }, { role: 'user', content: 'hi' }] })
    t.equal(sent('ok').messages[0].content, expected, `system content ${JSON.stringify(content).slice(0, 40)}…`)
  }
})

t.test('a user_template with a user_schema renders arguments (conditional with `is defined`, join); a legacy system_template wraps text as system_text', async t => {
  const res = await create({
    model: 'tensorzero::function_name::planner',
    messages: [
      { role: 'system', content: 'the release team' },
      { role: 'user', content: [{ type: 'text', 'tensorzero::arguments': { task: 'Ship v2', context: ['CI green', 'docs done'] } }] },
      { role: 'assistant', content: 'On it.' },
      { role: 'user', content: [{ type: 'tensorzero::template', name: 'user', arguments: { task: 'Write notes' } }] }
    ]
  })
  t.equal(res.choices[0].message.content, 'Hello from ok')
  t.same(sent('ok').messages, [
    { role: 'system', content: 'You plan work for the release team.' },
    { role: 'user', content: 'Task: Ship v2\nContext: CI green, docs done' },
    { role: 'assistant', content: 'On it.' },
    { role: 'user', content: 'Task: Write notes' }
  ])
  const record = await recordFor(res.id)
  t.same(record.input.messages[0].content, [{ type: 'template', name: 'user', arguments: { task: 'Ship v2', context: ['CI green', 'docs done'] } }],
    '`tensorzero::arguments` is stored as a template block named after the role')
})

t.test('legacy templates without schemas wrap text as {system,user,assistant}_text; raw_text is never wrapped; a missing system renders as none', async t => {
  await create({
    model: 'tensorzero::function_name::wrapped',
    messages: [
      { role: 'system', content: 'Be brief' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
      { role: 'user', content: [{ type: 'text', text: 'wrapped' }, { type: 'tensorzero::raw_text', value: 'not wrapped' }] }
    ]
  })
  t.same(sent('ok').messages, [
    { role: 'system', content: 'System: Be brief' },
    { role: 'user', content: 'User says: hi' },
    { role: 'assistant', content: 'Assistant said: hello' },
    { role: 'user', content: [{ type: 'text', text: 'User says: wrapped' }, { type: 'text', text: 'not wrapped' }] }
  ])
  await create({ model: 'tensorzero::function_name::wrapped', messages: [{ role: 'user', content: 'x' }] })
  t.equal(sent('ok').messages[0].content, 'System: none', 'system_text is null, which MiniJinja renders as `none` (as TensorZero does)')
})

t.test('legacy templates without schemas refuse template arguments, clearly', async t => {
  const before = fake.requests.length
  const res = await post({ model: 'tensorzero::function_name::wrapped', messages: [{ role: 'user', content: [{ type: 'text', 'tensorzero::arguments': { a: 1 } }] }] })
  t.equal(res.status, 400, 'the variant fails (TensorZero fails it in the variant too), no variant is left, and every failure was the request\'s: a 400 (issue 14 item 10), not a 502')
  t.match(res.json.error.message, /main: user message content is template arguments, but function `wrapped` has no `user_schema`/)
  const pinned = await post({ model: 'tensorzero::function_name::wrapped', 'tensorzero::variant_name': 'main', messages: [{ role: 'system', content: [{ type: 'text', 'tensorzero::arguments': { a: 1 } }] }] })
  t.equal(pinned.status, 400, 'a pinned variant reports its own error')
  t.match(pinned.json.error.message, /no `system_schema`: its `system_template` \(variant `main`\) takes the system text, as `system_text`/)
  t.equal(fake.requests.length, before, 'nothing reached the upstream')
})

t.test('named templates (templates.NAME.path, schemas.NAME.path) render tensorzero::template blocks; new-style templates leave text alone', async t => {
  await create({
    model: 'tensorzero::function_name::named',
    messages: [{
      role: 'user',
      content: [
        { type: 'tensorzero::template', name: 'summary', arguments: { items: ['alpha', 'beta'] } },
        { type: 'text', text: 'plain text stays' },
        { type: 'tensorzero::template', name: 'user', arguments: { name: 'Bo' } }
      ]
    }]
  })
  t.same(sent('ok').messages, [{
    role: 'user',
    content: [
      { type: 'text', text: 'Summarize 2 items: [alpha] [beta]' },
      { type: 'text', text: 'plain text stays' },
      { type: 'text', text: 'Hello Bo' }
    ]
  }])
  const missing = await post({ model: 'tensorzero::function_name::named', 'tensorzero::variant_name': 'main', messages: [{ role: 'user', content: [{ type: 'tensorzero::template', name: 'nope', arguments: {} }] }] })
  t.equal(missing.status, 400)
  t.match(missing.json.error.message, /Template `nope` not found: variant `main` of function `named` has no `templates.nope.path`/)
  const render = await post({ model: 'tensorzero::function_name::named', 'tensorzero::variant_name': 'main', messages: [{ role: 'user', content: [{ type: 'tensorzero::template', name: 'user', arguments: { nom: 'x' } }] }] })
  t.equal(render.status, 400, 'a variable the arguments lack is an error (strict undefined, as TensorZero)')
  t.match(render.json.error.message, /Could not render template .*named\/user\.minijinja: undefined value/)
})

// ------------------------------------------------------------------ schemas

t.test('arguments that fail a schema are a 400 `JSON Schema validation failed` with ajv path and message, before any upstream call', async t => {
  const before = fake.requests.length
  const cases: Array<[string, unknown, RegExp]> = [
    ['orchestrator', [{ role: 'system', content: [{ type: 'text', 'tensorzero::arguments': { tone: 'x' } }] }, { role: 'user', content: 'hi' }],
      /^JSON Schema validation failed for the system message: \(root\): must have required property 'assistant_name'$/],
    ['orchestrator', [{ role: 'system', content: [{ type: 'text', 'tensorzero::arguments': { assistant_name: 'A', colour: 'red', tools: [{ name: 1 }] } }] }],
      /^JSON Schema validation failed for the system message: \(root\): must NOT have additional properties \(`colour`\); \/tools\/0: must have required property 'description'; \/tools\/0\/name: must be string$/],
    ['orchestrator', [{ role: 'system', content: 'plain text where the schema wants an object' }],
      /^JSON Schema validation failed for the system message: \(root\): must be object$/],
    ['planner', [{ role: 'user', content: [{ type: 'text', 'tensorzero::arguments': { task: 5 } }] }],
      /^JSON Schema validation failed for input message 0 \(user, template `user`\): \/task: must be string$/],
    ['planner', [{ role: 'user', content: 'text where the user schema wants an object' }],
      /^JSON Schema validation failed for input message 0 \(user text\): \(root\): must be object$/],
    ['named', [{ role: 'user', content: [{ type: 'tensorzero::template', name: 'summary', arguments: { items: [] } }] }],
      /^JSON Schema validation failed for input message 0 \(user, template `summary`\): \/items: must NOT have fewer than 1 items$/]
  ]
  for (const [fn, messages, message] of cases) {
    const res = await post({ model: `tensorzero::function_name::${fn}`, messages })
    t.equal(res.status, 400, `${fn}: 400`)
    t.match(res.json.error.message, message)
  }
  t.equal(fake.requests.length, before, 'no upstream request was made')
})

// ------------------------------------------------------------------ JSON functions

t.test('JSON function, json_mode on/strict/off: content is the raw text; the stored output is {raw, parsed}', async t => {
  const answer = await readJson('schemas/answer.json')
  const raw = '{"answer":"Paris","confidence":0.9}'
  const messages = [{ role: 'user', content: 'Capital of France?' }]
  const expectFormat: Record<string, unknown> = {
    on: { type: 'json_object' },
    strict: { type: 'json_schema', json_schema: { name: 'response', strict: true, schema: answer } },
    off: undefined
  }
  for (const variant of ['on', 'strict', 'off']) {
    const res = await create({ model: 'tensorzero::function_name::extract', 'tensorzero::variant_name': variant, messages })
    t.equal(res.choices[0].message.content, raw, `${variant}: content is the raw text`)
    t.equal(res.choices[0].message.tool_calls, undefined)
    t.same(sent('json-valid').response_format, expectFormat[variant], `${variant}: response_format sent upstream`)
    t.equal(sent('json-valid').tools, undefined, `${variant}: no tools`)
    const record = await recordFor(res.id)
    t.same(record.jsonOutput, { raw, parsed: { answer: 'Paris', confidence: 0.9 } })
    const row = storedRow(record)
    t.equal(row.table, 'JsonInference')
    t.equal(row.row.output, JSON.stringify({ raw, parsed: { answer: 'Paris', confidence: 0.9 } }))
    t.equal(row.row.output_schema, JSON.stringify(answer))
  }
})

t.test('JSON function, json_mode tool: the implicit `respond` tool is forced; its arguments come back as content', async t => {
  const answer = await readJson('schemas/answer.json')
  const res = await create({ model: 'tensorzero::function_name::extract', 'tensorzero::variant_name': 'tool', messages: [{ role: 'user', content: 'Capital?' }] })
  const body = sent('tool-respond')
  t.same(body.tools, [{ type: 'function', function: { name: 'respond', description: 'Respond to the user using the output schema provided.', parameters: answer, strict: false } }])
  t.same(body.tool_choice, { type: 'function', function: { name: 'respond' } })
  t.equal(body.response_format, undefined)
  t.equal(body.parallel_tool_calls, undefined)
  t.equal(res.choices[0].message.content, '{"answer":"Lyon","confidence":0.5}')
  t.equal(res.choices[0].message.tool_calls, undefined, 'the client sees an answer, not a tool call')
  t.equal(res.choices[0].finish_reason, 'stop')
  const record = await recordFor(res.id)
  t.same(record.jsonOutput, { raw: '{"answer":"Lyon","confidence":0.5}', parsed: { answer: 'Lyon', confidence: 0.5 } })
  t.equal(record.modelInferences[0].output[0].type, 'tool_call', 'ModelInference keeps what the model really sent')
})

t.test('JSON function: an answer that fails the schema, or is not JSON, still comes back raw; parsed is null', async t => {
  for (const [variant, raw] of [['invalid', '{"answer":42}'], ['broken', 'Sure! The answer is Paris.']]) {
    const res = await create({ model: 'tensorzero::function_name::extract', 'tensorzero::variant_name': variant, messages: [{ role: 'user', content: 'q' }] })
    t.equal(res.choices[0].message.content, raw, `${variant}: content is the raw text`)
    const record = await recordFor(res.id)
    t.same(record.jsonOutput, { raw, parsed: null }, `${variant}: parsed is null`)
    t.equal(storedRow(record).row.output, JSON.stringify({ raw, parsed: null }))
  }
})

t.test('JSON function: response_format.json_schema is a dynamic output schema, used for the provider and for validation', async t => {
  const schema = { type: 'object', required: ['city'], properties: { city: { type: 'string' } } }
  const res = await create({
    model: 'tensorzero::function_name::extract',
    'tensorzero::variant_name': 'strict',
    messages: [{ role: 'user', content: 'q' }],
    response_format: { type: 'json_schema', json_schema: { name: 'city', schema } }
  })
  t.same(sent('json-valid').response_format, { type: 'json_schema', json_schema: { name: 'response', strict: true, schema } })
  const record = await recordFor(res.id)
  t.same(record.jsonOutput, { raw: '{"answer":"Paris","confidence":0.9}', parsed: null }, 'valid JSON that misses `city`: parsed null')
  t.same(record.outputSchema, schema)
})

t.test('JSON function streaming: content pieces add up to the raw text, tool mode included; stored {raw, parsed}', async t => {
  const cases: Array<[string, string, unknown]> = [
    ['on', '{"answer":"Paris","confidence":0.9}', { answer: 'Paris', confidence: 0.9 }],
    ['tool', '{"answer":"Lyon","confidence":0.5}', { answer: 'Lyon', confidence: 0.5 }],
    ['invalid', '{"answer":42}', null],
    ['broken', 'Sure! The answer is Paris.', null]
  ]
  for (const [variant, raw, parsed] of cases) {
    const stream = await create({ model: 'tensorzero::function_name::extract', 'tensorzero::variant_name': variant, messages: [{ role: 'user', content: 'q' }], stream: true })
    const got = await collect(stream)
    t.equal(got.content, raw, `${variant}: streamed content`)
    t.ok(got.chunks.filter(c => c.choices[0]?.delta?.content).length > 1, `${variant}: in several pieces`)
    t.equal(got.toolCalls.size, 0, `${variant}: no tool call deltas`)
    t.equal(got.finish, 'stop')
    const record = await recordFor(got.id as string)
    t.same(record.jsonOutput, { raw, parsed }, `${variant}: stored output`)
    t.equal(record.stream, true)
  }
})

// ------------------------------------------------------------------ tools

t.test('config tools reach the provider with description, parameters and strict; tool_choice and parallel_tool_calls from the function', async t => {
  await create({ model: 'tensorzero::function_name::orchestrator', 'tensorzero::variant_name': 'local', messages: [{ role: 'system', content: [{ assistant_name: 'A' }] }, { role: 'user', content: 'hi' }] })
  const body = sent('ok')
  const params = await Promise.all(ORCHESTRATOR_TOOLS.map(async n => await readJson(`tools/${n}.json`)))
  t.same(body.tools, [
    { type: 'function', function: { name: 'web_search', description: 'Search the web', parameters: params[0], strict: false } },
    { type: 'function', function: { name: 'hirag_query', description: 'Query the Hi-RAG knowledge base', parameters: params[1], strict: false } },
    { type: 'function', function: { name: 'file_read', description: 'Read file contents', parameters: params[2], strict: false } },
    { type: 'function', function: { name: 'get_weather', description: 'Current weather for a city', parameters: params[3], strict: true } }
  ])
  t.equal(body.tool_choice, 'auto')
  t.equal(body.parallel_tool_calls, true)
})

t.test('request tool_choice, parallel_tool_calls, dynamic tools and allowed_tools', async t => {
  const sys = { role: 'system', content: [{ assistant_name: 'A' }] }
  const calculator = { type: 'function', function: { name: 'calculator', description: 'Adds', parameters: { type: 'object', properties: { a: { type: 'number' } } } } }
  await create({
    model: 'tensorzero::function_name::orchestrator',
    'tensorzero::variant_name': 'local',
    messages: [sys, { role: 'user', content: 'hi' }],
    tools: [calculator],
    tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'get_weather' } }] } },
    parallel_tool_calls: false
  })
  const body = sent('ok')
  // An `openai` provider gets every available tool and OpenAI's allowed_tools choice narrowing them, as from TensorZero.
  t.same(body.tools.map((x: any) => x.function.name), [...ORCHESTRATOR_TOOLS, 'calculator'], 'every available tool is sent to an openai provider')
  t.same(body.tools[4], { type: 'function', function: { name: 'calculator', description: 'Adds', parameters: calculator.function.parameters, strict: false } })
  t.same(body.tool_choice, { type: 'allowed_tools', allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'get_weather' } }] } },
    'allowed_tools and its mode become OpenAI\'s allowed_tools choice')
  t.equal(body.parallel_tool_calls, false, 'the request overrides the function')
  const id = fake.requests.length
  await create({ model: 'tensorzero::function_name::orchestrator', 'tensorzero::variant_name': 'local', messages: [sys, { role: 'user', content: 'hi' }], tool_choice: { type: 'function', function: { name: 'file_read' } } })
  t.same(sent('ok').tool_choice, { type: 'function', function: { name: 'file_read' } })
  t.equal(fake.requests.length, id + 1)

  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ tool_choice: { type: 'function', function: { name: 'teleport' } } }, /tool_choice names tool `teleport`, which is not among the tools offered/],
    [{ tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [{ type: 'function', function: { name: 'teleport' } }] } } }, /Tool not found: teleport/],
    [{ tools: [{ type: 'function', function: { name: 'web_search', parameters: {} } }] }, /Duplicate tool name: `web_search`/]
  ]
  for (const [extra, message] of bad) {
    const res = await post({ model: 'tensorzero::function_name::orchestrator', messages: [sys, { role: 'user', content: 'hi' }], ...extra })
    t.equal(res.status, 400)
    t.match(res.json.error.message, message)
  }
})

t.test('tool calls come back with raw name and arguments; stored output has parsed name/arguments, null when invalid', async t => {
  const sys = { role: 'system', content: [{ assistant_name: 'A' }] }
  const one = await create({ model: 'tensorzero::function_name::orchestrator', 'tensorzero::variant_name': 'weather', messages: [sys, { role: 'user', content: 'weather?' }] })
  t.same(one.choices[0].message.tool_calls, [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }])
  t.equal(one.choices[0].finish_reason, 'tool_calls')
  t.same(JSON.parse(storedRow(await recordFor(one.id)).row.output), [
    { type: 'tool_call', id: 'call_1', raw_name: 'get_weather', raw_arguments: '{"city":"Paris"}', name: 'get_weather', arguments: { city: 'Paris' } }
  ])

  const par = await create({ model: 'tensorzero::function_name::orchestrator', 'tensorzero::variant_name': 'parallel', messages: [sys, { role: 'user', content: 'both' }] })
  t.same(par.choices[0].message.tool_calls, [
    { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
    { id: 'call_b', type: 'function', function: { name: 'web_search', arguments: '{"query":"weather in Rome"}' } }
  ], 'parallel calls, in order')

  const bad = await create({ model: 'tensorzero::function_name::orchestrator', 'tensorzero::variant_name': 'invalid', messages: [sys, { role: 'user', content: 'x' }] })
  t.same(bad.choices[0].message.tool_calls.map((c: any) => [c.function.name, c.function.arguments]), [
    ['get_weather', '{"city":5}'], ['teleport', '{"to":"Mars"}'], ['get_weather', '{"city": "Pa']
  ], 'the client gets exactly what the model sent')
  t.same(JSON.parse(storedRow(await recordFor(bad.id)).row.output), [
    { type: 'tool_call', id: 'call_x', raw_name: 'get_weather', raw_arguments: '{"city":5}', name: 'get_weather', arguments: null },
    { type: 'tool_call', id: 'call_y', raw_name: 'teleport', raw_arguments: '{"to":"Mars"}', name: null, arguments: null },
    { type: 'tool_call', id: 'call_z', raw_name: 'get_weather', raw_arguments: '{"city": "Pa', name: 'get_weather', arguments: null }
  ], 'schema failure, unknown tool and broken JSON: parsed parts null, raw parts kept')
})

t.test('streamed tool calls arrive in pieces (head with id and name, then argument pieces) and reassemble; stored like non-streaming', async t => {
  const sys = { role: 'system', content: [{ assistant_name: 'A' }] }
  const got = await collect(await create({ model: 'tensorzero::function_name::orchestrator', 'tensorzero::variant_name': 'parallel', messages: [sys, { role: 'user', content: 'both' }], stream: true }))
  t.same([...got.toolCalls.entries()].map(([i, c]) => [i, c.id, c.name, c.arguments]), [
    [0, 'call_a', 'get_weather', '{"city":"Paris"}'],
    [1, 'call_b', 'web_search', '{"query":"weather in Rome"}']
  ])
  t.ok([...got.toolCalls.values()].every(c => c.pieces >= 3), 'arguments came in several pieces')
  t.equal(got.finish, 'tool_calls')
  t.same(JSON.parse(storedRow(await recordFor(got.id as string)).row.output).map((b: any) => [b.name, b.arguments]), [
    ['get_weather', { city: 'Paris' }], ['web_search', { query: 'weather in Rome' }]
  ])

  const bad = await collect(await create({ model: 'tensorzero::function_name::orchestrator', 'tensorzero::variant_name': 'invalid', messages: [sys, { role: 'user', content: 'x' }], stream: true }))
  t.equal(bad.toolCalls.get(2)?.arguments, '{"city": "Pa')
  t.same(JSON.parse(storedRow(await recordFor(bad.id as string)).row.output).map((b: any) => [b.raw_name, b.name, b.arguments]), [
    ['get_weather', 'get_weather', null], ['teleport', null, null], ['get_weather', 'get_weather', null]
  ])
})

t.test('multi-turn tool use round-trips: assistant tool_calls and tool results reach the provider in OpenAI form', async t => {
  const res = await create({
    model: 'tensorzero::function_name::orchestrator',
    'tensorzero::variant_name': 'local',
    messages: [
      { role: 'system', content: [{ type: 'text', 'tensorzero::arguments': { assistant_name: 'Agent Zero', tools: [] } }] },
      { role: 'user', content: 'Weather in Paris and news about Rome?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_b', type: 'function', function: { name: 'web_search', arguments: '{"query":"Rome"}' } }
        ]
      },
      { role: 'tool', tool_call_id: 'call_a', content: '18°C, sunny' },
      { role: 'tool', tool_call_id: 'call_b', content: 'Rome: nothing new' },
      { role: 'user', content: 'Summarize.' }
    ]
  })
  t.same(sent('ok').messages, [
    { role: 'system', content: 'You are Agent Zero, the PMOVES orchestrator.\nRules: be concise; answer in ENGLISH.\n\nNo tools are available.\n' },
    { role: 'user', content: 'Weather in Paris and news about Rome?' },
    {
      role: 'assistant',
      tool_calls: [
        { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        { id: 'call_b', type: 'function', function: { name: 'web_search', arguments: '{"query":"Rome"}' } }
      ]
    },
    { role: 'tool', tool_call_id: 'call_a', content: '18°C, sunny' },
    { role: 'tool', tool_call_id: 'call_b', content: 'Rome: nothing new' },
    { role: 'user', content: 'Summarize.' }
  ])
  const record = await recordFor(res.id)
  t.same(record.input.messages[2], {
    role: 'user',
    content: [
      { type: 'tool_result', id: 'call_a', name: 'get_weather', result: '18°C, sunny' },
      { type: 'tool_result', id: 'call_b', name: 'web_search', result: 'Rome: nothing new' }
    ]
  }, 'consecutive tool messages are one user turn of tool results, named from the assistant\'s calls')
})

// ------------------------------------------------------------------ PMOVES orchestrator end to end

t.test('PMOVES-like orchestrator end to end: an unchanged OpenAI client, plain model names routed to the function, a full tool loop in one episode', async t => {
  const episode = uuidv7()
  const system = { role: 'system' as const, content: [{ type: 'text', 'tensorzero::arguments': { assistant_name: 'Agent Zero', tone: 'thorough', tools: AGENT_TOOLS } }] }
  const user = { role: 'user' as const, content: 'What is the weather in Paris?' }
  // Turn 1: `gpt-4o-mini` is routed to the orchestrator's `weather` variant, which calls a tool.
  const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [system, user] as any, 'tensorzero::episode_id': episode } as any).withResponse()
  t.equal(first.response.headers.get('x-tensorzero-function'), 'orchestrator')
  t.equal(first.data.model, 'tensorzero::function_name::orchestrator::variant_name::weather')
  t.equal((first.data as any).episode_id, episode)
  const call = first.data.choices[0].message.tool_calls?.[0] as any
  t.equal(call?.function.name, 'get_weather')
  t.same(sent('tool-weather').messages, [{ role: 'system', content: ORCHESTRATOR_SYSTEM }, user])
  t.same(sent('tool-weather').tools.map((x: any) => x.function.name), ORCHESTRATOR_TOOLS)

  // The service runs the tool and sends the result back; `gpt-4o` is routed to the `local` variant.
  const result = JSON.stringify({ city: JSON.parse(call.function.arguments).city, temperature_c: 18 })
  const second = await client.chat.completions.create({
    model: 'gpt-4o',
    messages: [system, user, first.data.choices[0].message, { role: 'tool', tool_call_id: call.id, content: result }] as any,
    'tensorzero::episode_id': episode
  } as any)
  t.equal(second.choices[0].message.content, 'Hello from ok')
  t.equal((second as any).episode_id, episode, 'same episode')
  t.same(sent('ok').messages.slice(1), [
    user,
    { role: 'assistant', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: result }
  ])
  const r1 = await recordFor(first.data.id)
  const r2 = await recordFor(second.id)
  t.equal(r1.episodeId, r2.episodeId)
  t.same(JSON.parse(storedRow(r1).row.tool_params).tools_available.map((x: any) => x.name), ORCHESTRATOR_TOOLS)

  // The same through a stream.
  const streamed = await collect(await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [system, user] as any, stream: true } as any) as any)
  t.same([...streamed.toolCalls.values()].map(c => [c.id, c.name, c.arguments]), [['call_1', 'get_weather', '{"city":"Paris"}']])
  t.equal(streamed.finish, 'tool_calls')
})

// ------------------------------------------------------------------ inference-time variant types

t.test('a best-of-N variant is served: pinned, it answers through its one candidate (no evaluator call); unpinned, either variant answers', async t => {
  for (let i = 0; i < 6; i++) {
    const res = await create({ model: 'tensorzero::function_name::mixed', messages: [{ role: 'user', content: 'hi' }], 'tensorzero::episode_id': uuidv7() })
    t.match(res.model, /^tensorzero::function_name::mixed::variant_name::(bon|cc)$/)
  }
  const pinned = await post({ model: 'tensorzero::function_name::mixed', 'tensorzero::variant_name': 'bon', messages: [{ role: 'user', content: 'hi' }] })
  t.equal(pinned.status, 200)
  t.equal(pinned.json.model, 'tensorzero::function_name::mixed::variant_name::bon')
  t.equal(pinned.json.choices[0].message.content, 'Hello from ok')
})

// ------------------------------------------------------------------ config validation

t.test('validate: a template that does not parse is an error at its file and line; a missing include is a warning, as TensorZero starts with it', async t => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-functions-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'tensorzero.toml')
  await writeFile(file, `
[gateway.template_filesystem_access]
base_path = ${fix('templates/broken')}
[functions.f]
type = "chat"
[functions.f.variants.v]
type = "chat_completion"
model = "dummy::good"
system_template = ${fix('templates/broken/syntax.minijinja')}
user_template = ${fix('templates/broken/missing-include.minijinja')}
`)
  const result = await validateConfigFiles({ configFile: file, checkTemplates })
  t.equal(result.config, undefined, 'the config is rejected for the syntax error')
  const lines = result.diagnostics.map(d => formatDiagnostic(d))
  t.match(lines, [
    new RegExp(`^${path.join(FIX, 'templates/broken/missing-include.minijinja')}:2:1: warning: template includes "partials/nowhere.minijinja", which was not found at ${path.join(FIX, 'templates/broken/partials/nowhere.minijinja')} .*so rendering it fails \\(template of \`functions.f.variants.v.user_template\`, ${file}:10:`),
    new RegExp(`^${path.join(FIX, 'templates/broken/syntax.minijinja')}:3:1: template syntax error: unexpected \`}\`, expected end of variable block \\(template of \`functions.f.variants.v.system_template\`, ${file}:9:`)
  ])
  t.equal(lines.length, 2)
})

t.test('includes resolve against [gateway.template_filesystem_access] base_path (relative to its TOML file), never the template\'s own folder', async t => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-functions-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  await mkdir(path.join(dir, 'prompts', 'shared'), { recursive: true })
  await mkdir(path.join(dir, 'functions', 'f', 'shared'), { recursive: true })
  await writeFile(path.join(dir, 'prompts', 'shared', 'rules.minijinja'), 'from the base path')
  await writeFile(path.join(dir, 'functions', 'f', 'shared', 'rules.minijinja'), 'from the template folder')
  await writeFile(path.join(dir, 'functions', 'f', 'system.minijinja'), 'Rules: {% include "shared/rules.minijinja" %}')
  const variant = `
[functions.f]
type = "chat"
[functions.f.variants.v]
type = "chat_completion"
model = "dummy::good"
system_template = "functions/f/system.minijinja"
`
  const withBase = path.join(dir, 'with-base.toml')
  await writeFile(withBase, `[gateway.template_filesystem_access]\nbase_path = "prompts"\n${variant}`)
  const ok = await validateConfigFiles({ configFile: withBase, checkTemplates })
  t.ok(ok.config, 'loads')
  t.same(ok.diagnostics.map(d => formatDiagnostic(d)), [])
  const tz = ok.config!.tensorzero
  const fn = tz.functions.get('f')!
  const rendered = new TemplateRenderer(tz).render(fn, fn.variants.get('v')!, { messages: [] })
  t.equal(rendered.system, 'Rules: from the base path')

  const without = path.join(dir, 'without-base.toml')
  await writeFile(without, variant)
  const warned = await validateConfigFiles({ configFile: without, checkTemplates })
  t.ok(warned.config, 'TensorZero starts on it, so the sidecar loads it too')
  t.match(warned.diagnostics.map(d => formatDiagnostic(d)), [/warning: template includes "shared\/rules.minijinja", but `\[gateway.template_filesystem_access\] base_path` is not set/])
})

t.test('validate: a function schema with no template of that name in a variant is a config error, as in TensorZero', async t => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-functions-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'tensorzero.toml')
  await writeFile(file, `
[functions.f]
type = "chat"
system_schema = ${fix('schemas/orchestrator_system.json')}
schemas.summary.path = ${fix('schemas/summary.json')}
[functions.f.variants.v]
type = "chat_completion"
model = "dummy::good"
`)
  const result = await validateConfigFiles({ configFile: file })
  t.equal(result.config, undefined)
  t.same(result.diagnostics.map(d => d.message).sort(), [
    'variant `v` of function `f` has no `system_template`, but the function has `system_schema`',
    'variant `v` of function `f` has no `templates.summary`, but the function has `schemas.summary`'
  ])
})
