// `input_wrappers.{user,system,assistant}` as TensorZero applies them: each is the role's legacy template without a
// schema, so plain text reaches it as `<role>_text`; template arguments for a wrapped role are the request's error
// (400); a wrapper beside the role's template or schema is a load error at the wrapper's key. Through the real `openai`
// client against a running sidecar whose fake upstream records what it received.
import t, { type Test } from 'tap'
import path from 'node:path'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import OpenAI from 'openai'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import { fakeFunction, fakeModel } from './helpers/toml.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { validateConfigFiles } from '../src/config/load.ts'
import { checkTemplates } from '../src/variant/templates/check.ts'
import { formatDiagnostic } from '../src/config/diagnostics.ts'

const WRAPPERS = {
  'system.minijinja': 'The system text was `{{ system_text }}`',
  'user.minijinja': 'outer template user text: `{{ user_text }}`',
  'assistant.minijinja': 'outer template assistant text: `{{ assistant_text }}`'
}

/** A best-of-N or mixture-of-N variant over `v` twice whose evaluator / fuser wraps one role. */
function judged (variant: string, type: string, judge: string, model: string, role: string): string {
  return `
[functions.wrapped.variants.${variant}]
type = "${type}"
weight = 0
candidates = ["v", "v"]
[functions.wrapped.variants.${variant}.${judge}]
model = "${model}"
input_wrappers.${role} = "${role}.minijinja"
`
}

function config (url: string): string {
  const wrappers = Object.keys(WRAPPERS).map(file => `input_wrappers.${file.split('.')[0]} = "${file}"`).join('\n')
  return fakeModel(url, 'm_ok', [['fake', 'ok']]) + fakeModel(url, 'm_judge', [['fake', 'judge']]) + fakeModel(url, 'm_fuser', [['fake', 'fuser']]) +
    fakeFunction('wrapped', [['v', 'm_ok', `weight = 1\n${wrappers}`]]) + judged('bon', 'experimental_best_of_n_sampling', 'evaluator', 'm_judge', 'user') +
    judged('mon', 'experimental_mixture_of_n', 'fuser', 'm_fuser', 'assistant')
}

let fake: FakeOpenAI
let s: TestSidecar
let client: OpenAI

t.before(async () => {
  fake = await startFakeOpenAI()
  s = await startTestSidecar({ toml: config(fake.url), files: WRAPPERS })
  client = new OpenAI({ baseURL: s.baseURL, apiKey: 'unused', maxRetries: 0 })
})
t.teardown(async () => {
  await s?.close()
  await fake?.close()
})

const create = async (body: Record<string, unknown>): Promise<OpenAI.Chat.Completions.ChatCompletion> =>
  await client.chat.completions.create(body as unknown as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming)

const last = (upstream: string): any => fake.requestsFor(upstream).at(-1)?.body

t.test('wrapped system, user and assistant text reach the model through their wrappers as system_text / user_text / assistant_text; raw_text and tool blocks are not wrapped', async t => {
  const res = await create({
    model: 'tensorzero::function_name::wrapped',
    'tensorzero::variant_name': 'v',
    messages: [
      { role: 'system', content: 'My system message' },
      { role: 'user', content: [{ type: 'text', text: 'First user message' }, { type: 'tensorzero::raw_text', value: 'raw, not wrapped' }] },
      { role: 'assistant', content: 'First assistant message' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'tool output' },
      { role: 'user', content: 'Second user message' }
    ]
  })
  t.equal(res.choices[0].message.content, 'Hello from ok')
  const messages = last('ok').messages
  t.same(messages[0], { role: 'system', content: 'The system text was `My system message`' })
  t.same(messages[1].content, [
    { type: 'text', text: 'outer template user text: `First user message`' },
    { type: 'text', text: 'raw, not wrapped' }
  ])
  t.same(messages[2], { role: 'assistant', content: 'outer template assistant text: `First assistant message`' })
  t.match(messages[3], { role: 'assistant', tool_calls: [{ id: 'call_1', function: { name: 'lookup', arguments: '{"q":"x"}' } }] }, 'tool calls pass unchanged')
  t.match(messages[4], { role: 'tool', tool_call_id: 'call_1', content: 'tool output' }, 'tool results pass unchanged')
  t.same(messages.at(-1), { role: 'user', content: 'outer template user text: `Second user message`' })

  await create({ model: 'tensorzero::function_name::wrapped', 'tensorzero::variant_name': 'v', messages: [{ role: 'user', content: 'hi' }] })
  t.equal(last('ok').messages[0].content, 'The system text was `none`', 'no system message: system_text is null, rendered as MiniJinja renders none')
})

t.test('the best-of-N evaluator and the mixture-of-N fuser apply their own input wrappers to the conversation they are shown', async t => {
  const cases = [
    { variant: 'bon', upstream: 'judge', wrapped: { role: 'user', content: 'outer template user text: `Asked`' }, plain: { role: 'assistant', content: 'Answered' } },
    { variant: 'mon', upstream: 'fuser', wrapped: { role: 'assistant', content: 'outer template assistant text: `Answered`' }, plain: { role: 'user', content: 'Asked' } }
  ]
  for (const { variant, upstream, wrapped, plain } of cases) {
    await create({
      model: 'tensorzero::function_name::wrapped',
      'tensorzero::variant_name': variant,
      messages: [{ role: 'user', content: 'Asked' }, { role: 'assistant', content: 'Answered' }, { role: 'user', content: 'Now' }]
    })
    const shown = last(upstream).messages
    t.ok(shown.some((m: any) => m.role === wrapped.role && m.content === wrapped.content), `${upstream}: its ${wrapped.role} wrapper applies`)
    t.ok(shown.some((m: any) => m.role === plain.role && m.content === plain.content), `${upstream}: no ${plain.role} wrapper, that text as is`)
  }
})

t.test('template arguments for a wrapped role are the request\'s mistake: 400 with TensorZero\'s messages, nothing sent upstream', async t => {
  const before = fake.requests.length
  const system = create({
    model: 'tensorzero::function_name::wrapped',
    'tensorzero::variant_name': 'v',
    messages: [{ role: 'system', content: [{ type: 'text', 'tensorzero::arguments': { a: 1 } }] }, { role: 'user', content: 'hi' }]
  })
  await t.rejects(system, {
    status: 400,
    message: /^400 System message content is a template but `input_wrappers.system` is set in the variant config \(variant `v` of function `wrapped`\)$/
  })
  const user = create({
    model: 'tensorzero::function_name::wrapped',
    'tensorzero::variant_name': 'v',
    messages: [{ role: 'user', content: [{ type: 'text', 'tensorzero::arguments': { topic: 'tea' } }] }]
  })
  await t.rejects(user, {
    status: 400,
    message: /^400 Request message content \{"topic":"tea"\} is not a string but `input_wrappers.user` is set in the variant config \(variant `v` of function `wrapped`\)$/
  })
  const assistant = create({
    model: 'tensorzero::function_name::wrapped',
    'tensorzero::variant_name': 'v',
    messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'tensorzero::template', name: 'assistant', arguments: { x: true } }] }]
  })
  await t.rejects(assistant, { status: 400, message: /Request message content \{"x":true\} is not a string but `input_wrappers.assistant` is set/ })
  t.equal(fake.requests.length, before, 'nothing reached the upstream')
})

async function validateWith (t: Test, variant: string, fnKeys = '', files: Record<string, string> = {}): Promise<{ file: string; lines: string[]; ok: boolean }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-wrappers-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  for (const [name, text] of Object.entries({ ...WRAPPERS, ...files })) await writeFile(path.join(dir, name), text)
  const file = path.join(dir, 'tensorzero.toml')
  await writeFile(file, `${fakeModel('http://127.0.0.1:9', 'm', [['fake', 'ok']])}
[functions.f]
type = "chat"
${fnKeys}
[functions.f.variants.v]
${variant}`)
  const result = await validateConfigFiles({ configFile: file, checkTemplates })
  return { file, lines: result.diagnostics.map(d => formatDiagnostic(d)), ok: result.config !== undefined }
}

t.test('load: an input wrapper beside the role\'s template, `templates.<role>.path` or schema is refused at the wrapper\'s file:line:col, as TensorZero refuses it', async t => {
  const template = await validateWith(t, 'type = "chat_completion"\nmodel = "m"\nuser_template = "user.minijinja"\ninput_wrappers.user = "user.minijinja"\n')
  t.notOk(template.ok)
  t.same(template.lines, [`${template.file}:18:16: functions.f.variants.v: Cannot provide both \`input_wrappers.user\` and \`user\` template`])

  const named = await validateWith(t, 'type = "chat_completion"\nmodel = "m"\ntemplates.system.path = "system.minijinja"\ninput_wrappers.system = "system.minijinja"\n')
  t.notOk(named.ok)
  t.same(named.lines, [`${named.file}:18:16: functions.f.variants.v: Cannot provide both \`input_wrappers.system\` and \`templates.system.path\``])

  const schema = await validateWith(t, 'type = "chat_completion"\nmodel = "m"\ninput_wrappers.user = "user.minijinja"\n',
    'user_schema = "user.json"\n', { 'user.json': '{"type":"object"}' })
  t.notOk(schema.ok)
  t.same(schema.lines, [`${schema.file}:18:16: functions.f.variants.v: Cannot provide both \`input_wrappers.user\` and \`user_schema\``])

  const fuser = await validateWith(t, 'type = "experimental_mixture_of_n"\ncandidates = []\n[functions.f.variants.v.fuser]\nmodel = "m"\n' +
    'assistant_template = "assistant.minijinja"\ninput_wrappers.assistant = "assistant.minijinja"\n')
  t.same(fuser.lines, [`${fuser.file}:20:16: functions.f.variants.v.fuser: Cannot provide both \`input_wrappers.assistant\` and \`assistant\` template`])

  const fine = await validateWith(t, 'type = "chat_completion"\nmodel = "m"\ninput_wrappers.user = "user.minijinja"\nsystem_template = "system.minijinja"\n')
  t.ok(fine.ok, 'a wrapper for one role beside another role\'s template loads')
  t.same(fine.lines, [])

  const broken = await validateWith(t, 'type = "chat_completion"\nmodel = "m"\ninput_wrappers.user = "bad.minijinja"\n', '', { 'bad.minijinja': '{{ user_text }' })
  t.notOk(broken.ok, 'a wrapper that does not compile fails the load')
  t.match(broken.lines, [/bad\.minijinja:1:\d+: .*\(template of `functions\.f\.variants\.v\.input_wrappers\.user`, .*tensorzero\.toml:17:16\)$/])
})
