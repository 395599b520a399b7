// A provider's `cost` config prices each of its answers as TensorZero does (crates/tensorzero-core/src/cost.rs): the
// numbers at the configured JSON pointers of the raw answer times their rates; for streams the largest value any
// chunk carries. The price is the ModelInference row's `cost` and the client's `usage.tensorzero_cost`.
import t from 'tap'
import path from 'node:path'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import OpenAI from 'openai'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import type { InferenceRecord } from '../src/core/records.ts'
import { inferenceRows } from '../src/store/rows.ts'
import { costOfAnswer, costOfStream } from '../src/model/cost.ts'
import { RawStream } from '../src/providers/call.ts'
import { validateConfigFiles } from '../src/config/load.ts'
import { formatDiagnostic } from '../src/config/diagnostics.ts'
import type { CostEntry } from '../src/core/config.ts'

const entry = (pointer: string, perUnit: number, required = false): CostEntry => ({ pointerNonStreaming: pointer, pointerStreaming: pointer, perUnit, required })

t.test('an answer is priced from its raw JSON: every entry, rates per unit, nine decimals', async t => {
  const raw = JSON.stringify({ usage: { prompt_tokens: 1000, completion_tokens: 200, cached: '50' } })
  t.equal(costOfAnswer(raw, [entry('/usage/prompt_tokens', 2.5e-6), entry('/usage/completion_tokens', 1e-5)]), 0.0045)
  t.equal(costOfAnswer(raw, [entry('/usage/cached', -1e-6)]), undefined, 'a negative total is no cost (a broken config)')
  t.equal(costOfAnswer(raw, [entry('/usage/cached', 1e-6)]), 0.00005, 'numeric strings count')
  t.equal(costOfAnswer(raw, [entry('/usage/missing', 1, false), entry('/usage/prompt_tokens', 1e-6)]), 0.001, 'an optional field may be missing')
  t.equal(costOfAnswer(raw, [entry('/usage/missing', 1, true)]), undefined, 'a required field missing: no cost')
  t.equal(costOfAnswer(JSON.stringify({ usage: { prompt_tokens: 'many' } }), [entry('/usage/prompt_tokens', 1)]), undefined, 'not a number: no cost')
  t.equal(costOfAnswer('not json', [entry('/usage/prompt_tokens', 1)]), undefined)
})

t.test('a stream is priced from its chunks: per entry the largest value seen; split pointers pick the streaming one', async t => {
  const chunks = [JSON.stringify({ usage: { output_tokens: 1 } }), 'not json', JSON.stringify({ usage: { output_tokens: 40, input_tokens: 10 } })]
  const split: CostEntry = { pointerNonStreaming: '/nope', pointerStreaming: '/usage/output_tokens', perUnit: 0.001, required: true }
  t.equal(costOfStream(chunks, [split, entry('/usage/input_tokens', 0.01)]), 0.14)
  t.equal(costOfStream(chunks, [entry('/usage/absent', 1, true)]), undefined)
})

t.test('a stream longer than the stored raw response is still priced from its last events (usage comes last)', async t => {
  const raw = new RawStream()
  const piece = JSON.stringify({ choices: [{ delta: { content: 'x'.repeat(1000) } }] })
  for (let i = 0; i < 3000; i++) raw.add(piece)
  raw.add(JSON.stringify({ choices: [], usage: { prompt_tokens: 10, completion_tokens: 3000 } }))
  t.ok(raw.kept.join('\n').length < 1.1 * 1024 * 1024, 'what is stored stays bounded')
  t.match(raw.kept.at(-1), /^\[raw_response truncated/)
  t.ok(raw.tail.length <= 8, 'a few last events only')
  t.equal(costOfStream(raw.events(), [entry('/usage/completion_tokens', 1e-6, true)]), 0.003)
})

t.test('config: `cost` entries are checked as TensorZero checks them', async t => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-cost-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'tensorzero.toml')
  await writeFile(file, `[models.m]
routing = ["p"]
[models.m.providers.p]
type = "dummy"
model_name = "good"
cost = [
  { pointer = "/usage/a", cost_per_million = 1, cost_per_unit = 2 },
  { pointer_streaming = "/usage/a", cost_per_unit = 1 },
  { pointer = "usage/a", cost_per_unit = 1 },
  { pointer = "/usage/a", cost_per_unit = 1, colour = "red" },
]
[embedding_models.e]
routing = ["p"]
[embedding_models.e.providers.p]
type = "dummy"
model_name = "embed"
cost = [{ pointer_nonstreaming = "/usage/a", pointer_streaming = "/usage/b", cost_per_unit = 1 }]
`)
  const r = await validateConfigFiles({ configFile: file, env: {} })
  t.equal(r.config, undefined)
  const lines = r.diagnostics.map(d => formatDiagnostic(d).slice(file.length + 1))
  t.match(lines, [
    /^7:3: `models.m.providers.p.cost.0` must specify exactly one of `cost_per_million` or `cost_per_unit`/,
    /^8:3: `models.m.providers.p.cost.1`: specify either `pointer` alone, or both `pointer_nonstreaming` and `pointer_streaming`/,
    /^9:5: invalid JSON pointer `usage\/a`/,
    /^10:46: unknown key `colour`/,
    /^17:9: `embedding_models.e.providers.p.cost.0` is missing the required key `pointer`/,
    /^17:11: unknown key `pointer_nonstreaming`/,
    /^17:46: unknown key `pointer_streaming`/
  ])
  t.equal(lines.length, 7)
})

let fake: FakeOpenAI
let s: TestSidecar
let client: OpenAI
const records: InferenceRecord[] = []

t.before(async () => {
  fake = await startFakeOpenAI()
  const provider = (name: string, cost: string): string => `
[models.${name}]
routing = ["p"]
[models.${name}.providers.p]
type = "openai"
model_name = "ok"
api_base = "${fake.url}/v1"
api_key_location = "none"
cost = ${cost}
`
  s = await startTestSidecar({
    toml: provider('priced', '[{ pointer = "/usage/prompt_tokens", cost_per_million = 2.5, required = true }, { pointer = "/usage/completion_tokens", cost_per_million = 10, required = true }]') +
      provider('unpriceable', '[{ pointer = "/usage/reasoning_tokens", cost_per_unit = 1, required = true }]'),
    options: { observer: { onInference: rec => { records.push(rec) } } }
  })
  client = new OpenAI({ baseURL: s.baseURL, apiKey: 'k', maxRetries: 0 })
})

t.teardown(async () => {
  await s.close()
  await fake.close()
})

const messages = [{ role: 'user' as const, content: 'hi' }]
// The fake answers 7 prompt and 5 completion tokens: 7 × 2.5e-6 + 5 × 1e-5.
const PRICE = 0.0000675

t.test('through the real client: usage.tensorzero_cost and the ModelInference row\'s cost, streamed or not', async t => {
  records.length = 0
  const done = await client.chat.completions.create({ model: 'tensorzero::model_name::priced', messages })
  t.equal((done.usage as unknown as { tensorzero_cost: number }).tensorzero_cost, PRICE)
  const stream = await client.chat.completions.create({ model: 'tensorzero::model_name::priced', messages, stream: true, stream_options: { include_usage: true } })
  let usage: unknown
  for await (const chunk of stream) if (chunk.usage) usage = chunk.usage
  t.equal((usage as { tensorzero_cost: number }).tensorzero_cost, PRICE, 'streamed: from the usage chunk')
  t.equal(records.length, 2)
  for (const rec of records) {
    const row = inferenceRows(rec, { service: 'cost-test' }).find(r => r.table === 'ModelInference')?.row
    t.equal(row?.cost, PRICE, `the ${rec.stream ? 'stream\'s' : 'answer\'s'} ModelInference row`)
  }
})

t.test('a required field the answer lacks: the call still succeeds, with no cost (null), as in TensorZero', async t => {
  records.length = 0
  const done = await client.chat.completions.create({ model: 'tensorzero::model_name::unpriceable', messages })
  t.equal(done.choices[0].message.content !== null, true)
  t.equal((done.usage as unknown as { tensorzero_cost: number | null }).tensorzero_cost, null)
  t.equal(inferenceRows(records[0], { service: 'cost-test' }).find(r => r.table === 'ModelInference')?.row.cost, null)
})
