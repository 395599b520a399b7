// Experiment namespaces as TensorZero serves them (crates/tensorzero-core/src/experimentation/mod.rs
// `get_for_namespace`, endpoints/namespace.rs, config/namespace.rs, db/clickhouse/feedback.rs): a request's namespace
// picks its experiment, namespaced models serve only their namespace, and the loader refuses a config where another
// experiment reaches a namespaced variant. Pinned through the real `openai` client and the native /inference route.
import t from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { v7 as uuidv7 } from 'uuid'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'
import { startChdbServer } from './helpers/chdb-server.ts'
import type { ChdbServer } from './helpers/chdb-server.ts'
import { startCli } from './helpers/process.ts'
import type { ServingSidecar } from './helpers/process.ts'
import { waitFor } from './helpers/wait.ts'
import { runMigrate } from '../src/store/migrate.ts'
import { validateConfigFiles } from '../src/config/load.ts'
import { formatDiagnostic } from '../src/config/diagnostics.ts'
import type { InferenceRecord } from '../src/core/records.ts'
import { inferenceRows } from '../src/store/rows.ts'

let fake: FakeOpenAI
let s: TestSidecar
let client: OpenAI
const records: InferenceRecord[] = []
const user = [{ role: 'user' as const, content: 'hi' }]
const NONE_MESSAGE = 'Namespaced models can only be used with a matching namespace.'

t.before(async () => {
  fake = await startFakeOpenAI()
  const toml = fakeModel(fake.url, 'base_model', [['upstream', 'base']]) +
    fakeModel(fake.url, 'acme_model', [['upstream', 'acme-ft']]).replace('[models.acme_model]\n', '[models.acme_model]\nnamespace = "acme"\n') +
    fakeModel(fake.url, 'broken_acme', [['upstream', 'error-500']]).replace('[models.broken_acme]\n', '[models.broken_acme]\nnamespace = "acme"\n') +
    fakeModel(fake.url, 'shared', [['upstream', 'shared']]) +
    fakeFunction('draft', [['default_a', 'base_model'], ['acme_a', 'acme_model'], ['acme_b', 'shared', 'namespace = "acme"'], ['globex_only', 'shared']]) + `
[functions.draft.variants.acme_best]
type = "experimental_best_of_n_sampling"
candidates = ["acme_a"]
evaluator = { model = "base_model" }
[functions.draft.experimentation]
type = "static"
candidate_variants = ["default_a"]
[functions.draft.experimentation.namespaces.acme]
type = "static"
candidate_variants = ["acme_a"]
fallback_variants = ["acme_b"]
[functions.draft.experimentation.namespaces.globex]
type = "static"
candidate_variants = ["globex_only"]
` + fakeFunction('fb', [['plain', 'base_model'], ['broken', 'broken_acme'], ['rescue', 'shared']]) + `
[functions.fb.experimentation]
type = "static"
candidate_variants = ["plain"]
[functions.fb.experimentation.namespaces.acme]
type = "static"
candidate_variants = ["broken"]
fallback_variants = ["rescue"]
`
  s = await startTestSidecar({ toml, options: { observer: { onInference: rec => { records.push(rec) } } } })
  client = new OpenAI({ baseURL: s.baseURL, apiKey: 'k', maxRetries: 0 })
})

t.teardown(async () => {
  await s.close()
  await fake.close()
})

/** Which variant served, and what the upstream model said (which model it was). */
async function served (body: Record<string, unknown>): Promise<{ variant: string; text: string }> {
  const res = await client.chat.completions.create({ messages: user, 'tensorzero::episode_id': uuidv7(), ...body } as never) as OpenAI.ChatCompletion
  return { variant: res.model.replace(/^.*::variant_name::/, ''), text: res.choices[0].message.content ?? '' }
}

async function refusal (body: Record<string, unknown>): Promise<{ status: number; message: string }> {
  try {
    await client.chat.completions.create({ messages: user, ...body } as never)
    return { status: 200, message: '' }
  } catch (err) {
    const e = err as { status: number; message: string }
    return { status: e.status, message: e.message }
  }
}

t.test('a request samples its namespace\'s experiment; no namespace, or one without an experiment, samples the base one', async t => {
  const model = 'tensorzero::function_name::draft'
  for (let i = 0; i < 6; i++) {
    t.same(await served({ model }), { variant: 'default_a', text: 'Hello from base' }, 'no namespace: the base experiment')
    t.same(await served({ model, 'tensorzero::namespace': 'acme' }), { variant: 'acme_a', text: 'Hello from acme-ft' }, 'acme: its own experiment, its own model')
    t.same(await served({ model, 'tensorzero::namespace': 'globex' }), { variant: 'globex_only', text: 'Hello from shared' })
    t.same(await served({ model, 'tensorzero::namespace': 'initech' }), { variant: 'default_a', text: 'Hello from base' }, 'an unknown namespace is no error: the base experiment')
  }
  const before = fake.requestsFor('acme-ft').length
  const stream = await client.chat.completions.create({ model, messages: user, stream: true, 'tensorzero::namespace': 'acme' } as never) as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>
  let streamedModel = ''
  for await (const chunk of stream) streamedModel = chunk.model
  t.equal(streamedModel, 'tensorzero::function_name::draft::variant_name::acme_a', 'a stream samples the namespace\'s experiment too')
  t.equal(fake.requestsFor('acme-ft').length, before + 1, 'and calls its model')
  const response = await client.responses.create({ model, input: 'hi', 'tensorzero::namespace': 'acme' } as never) as OpenAI.Responses.Response
  t.equal(response.output_text, 'Hello from acme-ft', 'the Responses API takes tensorzero::namespace too')
})

t.test('the native /inference route takes `namespace` and samples the same way', async t => {
  const post = async (body: object): Promise<{ status: number; json: any }> => {
    const res = await fetch(`${s.url}/inference`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, json: await res.json() }
  }
  const input = { messages: [{ role: 'user', content: 'hi' }] }
  const acme = await post({ function_name: 'draft', namespace: 'acme', input })
  t.equal(acme.status, 200)
  t.equal(acme.json.variant_name, 'acme_a')
  t.equal((await post({ function_name: 'draft', input })).json.variant_name, 'default_a')
  const model = await post({ model_name: 'acme_model', input })
  t.equal(model.status, 400, 'a namespaced model without the namespace: 400')
  t.equal(model.json.error, `Model \`acme_model\` has namespace \`acme\`, but the request namespace is \`None\`. ${NONE_MESSAGE}`)
  t.equal((await post({ model_name: 'acme_model', namespace: 'acme', input })).status, 200)
})

t.test('a namespace\'s fallbacks are its own experiment\'s: a failed namespaced candidate falls back to `rescue`, not the base variant', async t => {
  t.same(await served({ model: 'tensorzero::function_name::fb', 'tensorzero::namespace': 'acme' }), { variant: 'rescue', text: 'Hello from shared' })
  t.same(await served({ model: 'tensorzero::function_name::fb' }), { variant: 'plain', text: 'Hello from base' })
})

t.test('a namespaced model serves only its namespace: `tensorzero::model_name::M` and pinned variants are a 400 with TensorZero\'s message', async t => {
  const direct = 'tensorzero::model_name::acme_model'
  const none = await refusal({ model: direct })
  t.equal(none.status, 400)
  t.match(none.message, `Model \`acme_model\` has namespace \`acme\`, but the request namespace is \`None\`. ${NONE_MESSAGE}`)
  const other = await refusal({ model: direct, 'tensorzero::namespace': 'globex' })
  t.equal(other.status, 400)
  t.match(other.message, 'but the request namespace is `globex`.')
  t.same(await served({ model: direct, 'tensorzero::namespace': 'acme' }), { variant: direct, text: 'Hello from acme-ft' }, 'its own namespace: served')

  const pinned = await refusal({ model: 'tensorzero::function_name::draft', 'tensorzero::variant_name': 'acme_a' })
  t.equal(pinned.status, 400)
  t.match(pinned.message, `Variant \`acme_a\` uses model \`acme_model\` which has namespace \`acme\`, but the request namespace is \`None\`. ${NONE_MESSAGE}`)
  const viaCandidate = await refusal({ model: 'tensorzero::function_name::draft', 'tensorzero::variant_name': 'acme_best', 'tensorzero::namespace': 'globex' })
  t.equal(viaCandidate.status, 400, 'a best-of-N whose candidate calls the namespaced model is checked through its candidates')
  t.match(viaCandidate.message, 'Variant `acme_best` uses model `acme_model` which has namespace `acme`, but the request namespace is `globex`.')
  t.same(await served({ model: 'tensorzero::function_name::draft', 'tensorzero::variant_name': 'acme_a', 'tensorzero::namespace': 'acme' }),
    { variant: 'acme_a', text: 'Hello from acme-ft' })
  // TensorZero checks a pinned variant's models, not the variant's own namespace.
  t.same(await served({ model: 'tensorzero::function_name::draft', 'tensorzero::variant_name': 'acme_b' }), { variant: 'acme_b', text: 'Hello from shared' },
    'a namespaced variant on an unnamespaced model, pinned, serves any request (as in TensorZero)')
})

t.test('a namespaced inference is stored with the variant its namespace sampled and the tag tensorzero::namespace', async t => {
  const before = records.length
  const res = await client.chat.completions.create({ model: 'tensorzero::function_name::draft', messages: user, 'tensorzero::namespace': 'acme', 'tensorzero::tags': { team: 'x' } } as never) as OpenAI.ChatCompletion
  const record = records.slice(before).find(r => r.inferenceId === res.id) as InferenceRecord
  t.ok(record)
  t.equal(record.variantName, 'acme_a')
  t.same(record.tags, { team: 'x', 'tensorzero::namespace': 'acme' })
  const row = inferenceRows(record, { service: 'ns-test' }).find(r => r.table === 'ChatInference')?.row
  t.match(row, { id: res.id, function_name: 'draft', variant_name: 'acme_a' })
  t.same(row?.tags, { service: 'ns-test', team: 'x', 'tensorzero::namespace': 'acme' }, 'the namespace is a tag of the ChatInference row (TensorZero stores nothing else for it)')
})

t.test('`tensorzero::embedding_model_name::…` as a chat model is a 400 with TensorZero\'s message, known or not', async t => {
  for (const model of ['tensorzero::embedding_model_name::nope', 'tensorzero::embedding_model_name::base_model']) {
    const r = await refusal({ model })
    t.equal(r.status, 400, model)
    t.match(r.message, '`model` field must start with `tensorzero::function_name::` or `tensorzero::model_name::`. For example,')
  }
})

async function validate (t: { teardown: (fn: () => Promise<void>) => void }, toml: string): Promise<{ ok: boolean; lines: string[] }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-ns-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'tensorzero.toml')
  await writeFile(file, toml)
  const result = await validateConfigFiles({ configFile: file, env: {} })
  return { ok: result.config !== undefined, lines: result.diagnostics.map(d => formatDiagnostic(d).slice(file.length + 1)) }
}

t.test('validate refuses a config where another namespace\'s experiment reaches a namespaced variant or model (TensorZero refuses to start)', async t => {
  const toml = (globex: string): string => `[models.scoped]
routing = ["d"]
namespace = "acme"
providers.d = { type = "dummy", model_name = "good" }
[functions.f]
type = "chat"
[functions.f.variants.base]
type = "chat_completion"
model = "dummy::good"
[functions.f.variants.own]
type = "chat_completion"
model = "dummy::good"
namespace = "acme"
[functions.f.variants.on_scoped]
type = "chat_completion"
model = "scoped"
[functions.f.experimentation]
type = "static"
candidate_variants = ["base"]
[functions.f.experimentation.namespaces.acme]
type = "static"
candidate_variants = ["own", "on_scoped"]
[functions.f.experimentation.namespaces.globex]
${globex}
`
  const ok = await validate(t, toml('type = "static"\ncandidate_variants = ["base"]'))
  t.ok(ok.ok, ok.lines.join('\n'))
  t.same(ok.lines, [])
  const reached = await validate(t, toml('type = "static"\ncandidate_variants = ["base", "own"]\nfallback_variants = ["on_scoped"]'))
  t.notOk(reached.ok)
  t.same(reached.lines, [
    '10:23: Variant `own` of function `f` has namespace `acme`, but is reachable from namespace `globex` experimentation config. Namespaced variants must only be reachable from a matching namespace experimentation config.',
    '14:23: Variant `on_scoped` of function `f` uses model `scoped` which has namespace `acme`, but the variant is reachable from namespace `globex` experimentation config. Namespaced model variants must only be reachable from a matching namespace experimentation config.'
  ])
  const uniform = await validate(t, toml('type = "uniform"'))
  t.equal(uniform.lines.filter(l => l.includes('namespace `globex`')).length, 2, 'a namespace experiment naming no variants reaches them all')
  const nested = await validate(t, toml('type = "static"\ncandidate_variants = ["base"]\nnamespaces = {}'))
  t.match(nested.lines, [/^26:1: unknown key `namespaces` in `functions.f.experimentation.namespaces.globex`/], 'a namespace\'s experiment has no namespaces of its own')
  const typo = await validate(t, toml('type = "static"\ncandidate_variants = ["ghost"]'))
  t.notOk(typo.ok)
  t.ok(typo.lines.some(l => /^25:\d+: experimentation of function `f` names variant `ghost`, which does not exist/.test(l)), 'a namespace\'s experiment is checked like the base one')
})

/** `n` inferences of `variant` (tagged with `namespace` when given), a fraction `rate` with `solved = true` feedback. */
async function seedFeedback (ch: ChdbServer, variant: string, n: number, rate: number, namespace?: string): Promise<void> {
  const seed = JSON.stringify({ seed: `${variant}-${namespace ?? ''}` })
  const tags = namespace === undefined ? 'map()' : `map('tensorzero::namespace', '${namespace}')`
  await ch.query(`INSERT INTO ChatInference (id, function_name, variant_name, episode_id, input, output, tool_params, inference_params, tags)
    SELECT generateUUIDv7(number), 'ab', '${variant}', generateUUIDv7(number + 1000000), '${seed}', '[]', '', '{}', ${tags} FROM numbers(${n})`)
  await ch.query(`INSERT INTO BooleanMetricFeedback (id, target_id, metric_name, value)
    SELECT generateUUIDv7(n), id, 'solved', n < ${Math.round(n * rate)}
    FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM ChatInference WHERE input = '${seed}')`)
}

t.test('an adaptive namespace experiment reads only its namespace\'s feedback: the base one and the namespace\'s pick different winners', async t => {
  const ch = await startChdbServer()
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-ns-adaptive-'))
  let sidecar: ServingSidecar | undefined
  t.teardown(async () => {
    sidecar?.child.kill('SIGTERM'); await sidecar?.exited
    await ch.close()
    await rm(dir, { recursive: true, force: true })
  })
  await runMigrate({ url: ch.url })
  // Everyone's feedback says `good` solves 80%, `bad` 20%; acme's own inferences say the opposite.
  await seedFeedback(ch, 'good', 400, 0.8)
  await seedFeedback(ch, 'bad', 400, 0.2)
  await seedFeedback(ch, 'good', 100, 0.1, 'acme')
  await seedFeedback(ch, 'bad', 100, 0.9, 'acme')
  const configFile = path.join(dir, 'tensorzero.toml')
  await writeFile(configFile, `
${fakeModel(fake.url, 'good_model', [['upstream', 'good']])}
${fakeModel(fake.url, 'bad_model', [['upstream', 'bad']])}
${fakeFunction('ab', [['good', 'good_model'], ['bad', 'bad_model']])}
[functions.ab.experimentation]
type = "adaptive"
metric = "solved"
candidate_variants = ["bad", "good"]
update_period_s = 1
[functions.ab.experimentation.namespaces.acme]
type = "adaptive"
metric = "solved"
candidate_variants = ["bad", "good"]
update_period_s = 1
[metrics.solved]
type = "boolean"
optimize = "max"
level = "inference"
`)
  sidecar = await startCli(['--config-file', configFile], { TENSORZERO_CLICKHOUSE_URL: ch.url })
  const cli = new OpenAI({ baseURL: `${sidecar.url}/v1`, apiKey: 'x', maxRetries: 0 })
  const variant = async (namespace?: string): Promise<string> => {
    const res = await cli.chat.completions.create({
      model: 'tensorzero::function_name::ab', messages: user, 'tensorzero::episode_id': uuidv7(), ...(namespace === undefined ? {} : { 'tensorzero::namespace': namespace })
    } as never) as OpenAI.ChatCompletion
    return res.model.replace('tensorzero::function_name::ab::variant_name::', '')
  }
  const settled = async (namespace: string | undefined, winner: string): Promise<void> => {
    let streak = 0
    await t.resolves(waitFor(`${namespace ?? 'base'} to settle on ${winner}`, async () => {
      streak = (await variant(namespace)) === winner ? streak + 1 : 0
      return streak >= 10 ? true : undefined
    }), `${namespace ?? 'the base experiment'}: new episodes go to \`${winner}\``)
  }
  await settled(undefined, 'good')
  await settled('acme', 'bad')
  const counts: Record<string, number> = {}
  for (let i = 0; i < 20; i++) {
    const key = `${await variant()}/${await variant('acme')}/${await variant('initech')}`
    counts[key] = (counts[key] ?? 0) + 1
  }
  t.same(counts, { 'good/bad/good': 20 }, 'base, acme and an unknown namespace (the base experiment) each keep their winner')
})
