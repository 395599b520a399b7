// TensorZero's inference cache through the real `openai` client against a running `tz-sidecar` and a real ClickHouse
// engine (chdb): `tensorzero::cache_options` modes, `max_age_s`, dry runs, bad values, streams replayed from the
// cache, the `cached` rows; a ClickHouse that hangs or fails is a miss. Also the bound of one lookup on its own, and
// `response_time_ms` of every provider type.
import t from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import OpenAI from 'openai'
import { startChdbServer, startFaultProxy } from './helpers/chdb-server.ts'
import type { ChdbServer } from './helpers/chdb-server.ts'
import { startCli } from './helpers/process.ts'
import type { ServingSidecar } from './helpers/process.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startFakeAnthropic } from './helpers/fake-anthropic.ts'
import { startFakeGemini } from './helpers/fake-gemini.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'
import { waitFor } from './helpers/wait.ts'
import { inferFromCache, writingInfer } from '../src/model/cache.ts'
import type { CachedAnswer, CacheKey } from '../src/core/cache.ts'
import { effectiveCacheOptions, cacheKeyOf } from '../src/core/cache.ts'
import type { ModelConfig, ProviderConfig } from '../src/core/config.ts'
import type { ModelRequest } from '../src/core/types.ts'
import { walk, type Leg } from '../src/model/route.ts'
import type { RateLimiter } from '../src/model/rate-limits.ts'
import { deadline } from '../src/core/deadline.ts'

let ch: ChdbServer
let fake: FakeOpenAI
let dir: string
let args: string[]
let sidecar: ServingSidecar
let client: OpenAI

t.before(async () => {
  ch = await startChdbServer()
  fake = await startFakeOpenAI()
  dir = await mkdtemp(path.join(tmpdir(), 'tz-cache-'))
  await writeFile(path.join(dir, 'tensorzero.toml'), `
[gateway.observability.batch_writes]
flush_interval_ms = 50
max_rows = 100
${fakeModel(fake.url, 'gpt', [['upstream', 'ok']])}
${fakeModel(fake.url, 'embedder', [['upstream', 'text-embedding-3-small']], 'embedding_models')}
${fakeFunction('agent', [['main', 'gpt']])}
`)
  await writeFile(path.join(dir, 'sidecar.toml'), 'service = "cache-test"\n[routes]\n"gpt-4o-mini" = "tensorzero::function_name::agent"\n')
  args = ['--config-file', path.join(dir, 'tensorzero.toml'), '--sidecar-config', path.join(dir, 'sidecar.toml')]
  // Generous here: these tests are about what the cache answers, not about how fast chdb is on a busy machine.
  sidecar = await startCli(args, { TENSORZERO_CLICKHOUSE_URL: ch.url, SIDECAR_CACHE_LOOKUP_TIMEOUT_MS: '10000' })
  client = new OpenAI({ baseURL: `${sidecar.url}/v1`, apiKey: 'x', maxRetries: 0 })
  // The schema is created before the first insert: one request, then its tables exist.
  await ask('warm-up')
  await waitFor('the cache table', async () => (await ch.query(`EXISTS TABLE ModelInferenceCache`).then(r => Object.values(r[0] ?? {})[0]) === 1) ? true : undefined)
})

t.teardown(async () => {
  sidecar.child.kill('SIGTERM')
  await sidecar.exited
  await fake.close()
  await ch.close()
  await rm(dir, { recursive: true, force: true })
})

type CacheBody = Record<string, unknown>

async function ask (prompt: string, cacheOptions?: unknown, extra: CacheBody = {}): Promise<OpenAI.ChatCompletion> {
  const body: CacheBody = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }], ...extra }
  if (cacheOptions !== undefined) body['tensorzero::cache_options'] = cacheOptions
  return await client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
}

const callsWith = (prompt: string): number => fake.requests.filter(r => JSON.stringify(r.body?.messages ?? []).includes(prompt)).length

async function entries (prompt: string): Promise<number> {
  const rows = await ch.query<{ n: string }>(`SELECT count() AS n FROM ModelInferenceCache WHERE position(raw_request, '${prompt}') > 0`)
  return Number(rows[0].n)
}

const entryWritten = async (prompt: string, count = 1): Promise<void> => {
  await waitFor(`${count} cache entries for ${prompt}`, async () => (await entries(prompt)) >= count ? true : undefined)
}

interface ModelRow { cached: boolean; input_tokens: number | null; output_tokens: number | null; response_time_ms: number; cost: string | number | null; raw_response: string }

async function modelRow (inferenceId: string): Promise<ModelRow> {
  return await waitFor(`ModelInference row of ${inferenceId}`, async () => {
    const rows = await ch.query<ModelRow>(`SELECT cached, input_tokens, output_tokens, response_time_ms, cost, raw_response FROM ModelInference WHERE inference_id = '${inferenceId}'`)
    return rows[0]
  })
}

const nonce = (label: string): string => `${label}-${randomUUID()}`

t.test('enabled = "on": a repeated request is served from ModelInferenceCache; the provider sees one call', async t => {
  const p = nonce('on')
  const first = await ask(p, { enabled: 'on' })
  await entryWritten(p)
  const second = await ask(p, { enabled: 'on' })
  t.equal(callsWith(p), 1, 'one provider call for two requests')
  t.equal(second.choices[0].message.content, first.choices[0].message.content, 'the cached answer is the first one')
  t.equal(second.choices[0].finish_reason, 'stop')
  t.not(second.id, first.id, 'a cached answer is a new inference')
  t.equal(first.usage?.prompt_tokens, 7)
  t.equal(second.usage?.prompt_tokens, 0, "a cached answer's usage is zero, as TensorZero reports it")
  t.equal(second.usage?.completion_tokens, 0)
  const fresh = await modelRow(first.id)
  const cached = await modelRow(second.id)
  t.equal(fresh.cached, false)
  t.ok(fresh.response_time_ms > 0, 'a provider call takes time')
  t.equal(cached.cached, true, 'ModelInference.cached is true for the hit')
  t.equal(cached.input_tokens, 7, 'the row keeps the stored token counts')
  t.equal(cached.output_tokens, 5)
  t.equal(cached.response_time_ms, 0, 'no provider call: no latency')
  t.equal(Number(cached.cost), 0, 'no cost for a cached answer')
  t.equal(cached.raw_response, fresh.raw_response, "the stored raw response is the provider's")
  const third = await ask(p, { enabled: 'on' }, { 'tensorzero::include_raw_usage': true, 'tensorzero::include_raw_response': true }) as unknown as Record<string, unknown>
  t.same([third.tensorzero_raw_usage, third.tensorzero_raw_response], [[], []], 'a cached answer made no provider call: no raw entries')
  t.equal(callsWith(p), 1)
})

t.test('embeddings are cached as TensorZero caches them: the repeated input is answered from ModelInferenceCache', async t => {
  const input = `embed me ${randomUUID()}`
  const embed = async (): Promise<OpenAI.CreateEmbeddingResponse> => await client.embeddings.create(
    { model: 'tensorzero::embedding_model_name::embedder', input, 'tensorzero::cache_options': { enabled: 'on' } } as unknown as OpenAI.EmbeddingCreateParams)
  const calls = (): number => fake.requests.filter(r => r.path.endsWith('/embeddings') && JSON.stringify(r.body?.input) === JSON.stringify(input)).length
  const first = await embed()
  t.equal(calls(), 1)
  t.ok(first.usage.prompt_tokens > 0, 'a fresh call reports its usage')
  await waitFor('the embedding entry', async () => (await entries(input)) > 0 ? true : undefined)
  const second = await embed()
  t.equal(calls(), 1, 'the provider was not called again')
  t.same(second.data[0].embedding, first.data[0].embedding, 'the same vector')
  t.equal(second.usage.prompt_tokens, 0, 'a cached answer costs no tokens')
  const off = await client.embeddings.create({ model: 'tensorzero::embedding_model_name::embedder', input } as OpenAI.EmbeddingCreateParams)
  t.equal(calls(), 2, 'without cache_options (off) the provider is called')
  t.same(off.data[0].embedding, first.data[0].embedding)
  const bad = await client.embeddings.create({ model: 'tensorzero::embedding_model_name::embedder', input, 'tensorzero::cache_options': { enabled: 'sometimes' } } as unknown as OpenAI.EmbeddingCreateParams).catch((e: unknown) => e)
  t.ok(bad instanceof OpenAI.BadRequestError, 'a bad value is a 400')
})

t.test('a stream is cached as its chunks and replayed on a hit', async t => {
  const p = nonce('stream')
  const collect = async (): Promise<{ text: string; usage?: OpenAI.CompletionUsage; id: string; finish?: string | null }> => {
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: p }], stream: true, stream_options: { include_usage: true }, 'tensorzero::cache_options': { enabled: 'on' } }
    let text = ''
    let usage: OpenAI.CompletionUsage | undefined
    let id = ''
    let finish: string | null | undefined
    for await (const chunk of await client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsStreaming)) {
      id = chunk.id
      text += chunk.choices[0]?.delta?.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
      if (chunk.usage != null) usage = chunk.usage
    }
    return { text, usage, id, finish }
  }
  const first = await collect()
  await entryWritten(p)
  const second = await collect()
  t.equal(first.text, 'Hello from the fake upstream')
  t.equal(second.text, first.text, 'the replayed chunks carry the same text')
  t.equal(second.finish, 'stop')
  t.equal(callsWith(p), 1, 'one provider call for two streams')
  t.equal(second.usage?.prompt_tokens, 0, "a replayed stream's usage is zero")
  t.equal((await modelRow(second.id)).cached, true)
  t.equal((await modelRow(first.id)).cached, false)
})

t.test('a stream replayed from the cache carries no raw chunks (no provider call), and none were stored', async t => {
  const p = nonce('raw-stream')
  const collect = async (): Promise<Array<Record<string, unknown>>> => {
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: p }], stream: true, 'tensorzero::cache_options': { enabled: 'on' }, 'tensorzero::include_raw_response': true }
    const chunks: Array<Record<string, unknown>> = []
    for await (const chunk of await client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsStreaming)) chunks.push(chunk as unknown as Record<string, unknown>)
    return chunks
  }
  const first = await collect()
  await entryWritten(p)
  const second = await collect()
  t.equal(callsWith(p), 1, 'the second stream is a hit')
  t.ok(first.filter(c => typeof c.tensorzero_raw_chunk === 'string').length > 0, 'the fresh stream carries the provider\'s raw chunks')
  t.ok(second.every(c => !('tensorzero_raw_chunk' in c)), 'the replayed stream carries none')
  const rows = await ch.query<{ output: string }>(`SELECT output FROM ModelInferenceCache WHERE position(raw_request, '${p}') > 0`)
  t.notOk(rows[0].output.includes('"raw"'), 'the stored chunks hold no raw text')
})

t.test('read_only reads but never writes; write_only writes but never reads; off does neither', async t => {
  const r = nonce('read-only')
  const miss = await ask(r, { enabled: 'read_only' })
  await modelRow(miss.id)
  t.equal(await entries(r), 0, 'read_only wrote nothing')
  await ask(r, { enabled: 'on' })
  await entryWritten(r)
  await ask(r, { enabled: 'read_only' })
  t.equal(callsWith(r), 2, 'read_only served the entry `on` wrote')

  const w = nonce('write-only')
  await ask(w, { enabled: 'write_only' })
  await entryWritten(w)
  await ask(w, { enabled: 'write_only' })
  t.equal(callsWith(w), 2, 'write_only never reads')
  // Its second entry is the same row again: the table's insert deduplication may keep one, which serves the same.
  await entryWritten(w)

  const o = nonce('off')
  await ask(o, { enabled: 'off' })
  await ask(o)
  const last = await ask(o, {})
  await modelRow(last.id)
  t.equal(callsWith(o), 3, 'off (and no enabled, which means off) never reads')
  t.equal(await entries(o), 0, 'and never writes')
})

t.test('max_age_s: an entry older than it is a miss', async t => {
  const p = nonce('age')
  await ask(p, { enabled: 'on' })
  await entryWritten(p)
  // The entry's timestamp has whole seconds: after 2.5 s it is more than 1 s old.
  await new Promise(resolve => setTimeout(resolve, 2500))
  await ask(p, { enabled: 'read_only', max_age_s: 1 })
  t.equal(callsWith(p), 2, 'too old for max_age_s = 1')
  await ask(p, { enabled: 'read_only', max_age_s: 3600 })
  t.equal(callsWith(p), 2, 'young enough for max_age_s = 3600')
})

t.test('dry run: `on` only reads and `write_only` does nothing', async t => {
  t.same(effectiveCacheOptions({ enabled: 'on', maxAgeS: 5 }, true), { enabled: 'read_only', maxAgeS: 5 })
  t.same(effectiveCacheOptions({ enabled: 'write_only' }, true), { enabled: 'off' })
  t.same(effectiveCacheOptions({ enabled: 'read_only' }, true), { enabled: 'read_only' })
  t.same(effectiveCacheOptions({ enabled: 'on' }, false), { enabled: 'on' })
  const p = nonce('dryrun')
  await ask(p, { enabled: 'on' }, { 'tensorzero::dryrun': true })
  await ask(p, { enabled: 'write_only' }, { 'tensorzero::dryrun': true })
  // A later request's rows ship after whatever the dry runs queued: once they are in, nothing more can arrive.
  const marker = await ask(nonce('dryrun-marker'))
  await modelRow(marker.id)
  t.equal(await entries(p), 0, 'a dry run writes no cache entry')
  await ask(p, { enabled: 'on' })
  await entryWritten(p)
  await ask(p, { enabled: 'on' }, { 'tensorzero::dryrun': true })
  t.equal(callsWith(p), 3, 'a dry run with `on` is served from the cache')
})

t.test('a bad tensorzero::cache_options is a 400 naming the field, on chat and on /v1/responses', async t => {
  const cases: Array<[unknown, RegExp]> = [
    [{ enabled: 'sometimes' }, /cache_options\.enabled/],
    [{ enabled: true }, /cache_options\.enabled/],
    [{ enabled: 'on', max_age_s: -1 }, /cache_options\.max_age_s/],
    [{ enabled: 'on', max_age_s: 1.5 }, /cache_options\.max_age_s/],
    ['on', /tensorzero::cache_options/]
  ]
  for (const [value, message] of cases) {
    const err = await ask(nonce('bad'), value).then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof OpenAI.APIError && err.status === 400, `${JSON.stringify(value)}: 400`)
    t.match((err as Error).message, message)
  }
  const err = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi', 'tensorzero::cache_options': { enabled: 'always' } } as unknown as OpenAI.Responses.ResponseCreateParamsNonStreaming)
    .then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof OpenAI.APIError && err.status === 400, '/v1/responses: 400')
})

t.test('ClickHouse hanging or failing: the lookup is a miss and the request is answered by the provider', async t => {
  const fault = await startFaultProxy(ch)
  const slow = await startCli(args, { TENSORZERO_CLICKHOUSE_URL: fault.url, SIDECAR_CACHE_LOOKUP_TIMEOUT_MS: '50' })
  t.teardown(async () => { slow.child.kill('SIGTERM'); await slow.exited; await fault.close() })
  const c = new OpenAI({ baseURL: `${slow.url}/v1`, apiKey: 'x', maxRetries: 0 })
  const p = nonce('slow-ch')
  const send = async (): Promise<OpenAI.ChatCompletion> => await c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: p }], 'tensorzero::cache_options': { enabled: 'on' } } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
  await send()
  await entryWritten(p)
  for (const mode of ['hang', 'error500'] as const) {
    await fault.setMode(mode)
    const before = fault.hits[mode]
    const answer = await send()
    t.equal(answer.choices[0].message.content, 'Hello from ok', `${mode}: answered`)
    t.ok(fault.hits[mode] > before, `${mode}: the lookup did reach the faulty ClickHouse`)
  }
  t.equal(callsWith(p), 3, 'both were misses: the provider answered')
  await fault.setMode('pass')
})

t.test('a lookup that never settles gives up after lookupTimeoutMs (a miss); the fresh answer is then written', async t => {
  const model = { name: 'm' } as unknown as ModelConfig
  const provider = { name: 'p', type: 'openai' } as unknown as ProviderConfig
  const req: ModelRequest = { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], params: {}, stream: false }
  const written: Array<{ key: CacheKey; answer: CachedAnswer }> = []
  let signalled: AbortSignal | undefined
  const store = {
    lookup: async (_key: CacheKey, _age: number | undefined, signal: AbortSignal) => { signalled = signal; return await new Promise<undefined>(() => {}) },
    write: (key: CacheKey, answer: CachedAnswer) => { written.push({ key, answer }) }
  }
  const ctx = { cache: { store, options: { enabled: 'on' as const }, lookupTimeoutMs: 20 } }
  t.equal(await inferFromCache(model, provider, req, ctx, new AbortController().signal), undefined, 'the lookup gave up: a miss')
  t.equal(signalled?.aborted, true, 'the lookup was told to stop')
  const attempt = writingInfer(async () => ({
    response: { output: [{ type: 'text' as const, text: 'fresh' }], usage: { inputTokens: 3, outputTokens: 2 }, rawResponse: '{}' },
    record: { id: 'x', modelName: 'm', providerName: 'p', providerType: 'openai', rawRequest: '{"q":1}', rawResponse: '{}', inputTokens: 3, outputTokens: 2, responseTimeMs: 4, request: req, output: [{ type: 'text' as const, text: 'fresh' }], cached: false }
  }))
  const result = await attempt(model, provider, req, ctx, new AbortController().signal, 0)
  t.equal(result.record.cached, false)
  t.equal(written.length, 1, 'the fresh answer was written')
  t.same(written[0].key, cacheKeyOf('m', 'p', req), 'under the key of model, provider and request')
  t.equal(written[0].answer.output, JSON.stringify([{ type: 'text', text: 'fresh' }]))
  t.not(cacheKeyOf('m', 'p', req).long, cacheKeyOf('m', 'q', req).long, 'another provider, another key')
  t.not(cacheKeyOf('m', 'p', req).long, cacheKeyOf('m', 'p', { ...req, stream: true }).long, 'a stream has its own entry')
})

t.test('response_time_ms > 0 for every provider type (dummy, openai, anthropic, gemini), streamed or not', async t => {
  const fa = await startFakeAnthropic()
  const fg = await startFakeGemini()
  const d = await mkdtemp(path.join(tmpdir(), 'tz-cache-rt-'))
  t.teardown(async () => { await fa.close(); await fg.close(); await rm(d, { recursive: true, force: true }) })
  const model = (name: string, provider: string): string => `\n[models.${name}]\nrouting = ["p"]\n[models.${name}.providers.p]\n${provider}\n`
  await writeFile(path.join(d, 'tensorzero.toml'), `
[gateway.observability.batch_writes]
flush_interval_ms = 50
${model('dummy_m', 'type = "dummy"\nmodel_name = "test"')}
${model('openai_m', `type = "openai"\nmodel_name = "ok"\napi_base = "${fake.url}/v1/"\napi_key_location = "none"`)}
${model('anthropic_m', `type = "anthropic"\nmodel_name = "claude-ok"\napi_base = "${fa.url}/v1/messages"\napi_key_location = "env::TEST_ANTHROPIC_KEY"`)}
${model('gemini_m', `type = "google_ai_studio_gemini"\nmodel_name = "gemini-ok"\napi_base = "${fg.url}/v1beta/"\napi_key_location = "env::TEST_GEMINI_KEY"`)}
`)
  const s = await startCli(['--config-file', path.join(d, 'tensorzero.toml')], { TENSORZERO_CLICKHOUSE_URL: ch.url, TEST_ANTHROPIC_KEY: 'k', TEST_GEMINI_KEY: 'k' })
  t.teardown(async () => { s.child.kill('SIGTERM'); await s.exited })
  const c = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'x', maxRetries: 0 })
  // The in-process dummy answers in well under a millisecond once warm: several calls, so some are that fast.
  for (const name of ['dummy_m', 'dummy_m', 'dummy_m', 'openai_m', 'anthropic_m', 'gemini_m']) {
    for (const stream of [false, true]) {
      let id: string
      // Anthropic needs max_tokens from the request or the config.
      const body = { model: `tensorzero::model_name::${name}`, messages: [{ role: 'user' as const, content: 'Say hello' }], max_tokens: 50 }
      if (stream) {
        id = ''
        for await (const chunk of await c.chat.completions.create({ ...body, stream: true })) id = chunk.id
      } else {
        id = (await c.chat.completions.create(body)).id
      }
      const row = await modelRow(id)
      t.ok(row.response_time_ms > 0, `${name}${stream ? ' streamed' : ''}: response_time_ms ${row.response_time_ms} > 0`)
    }
  }
})

t.test('a cache hit is answered before rate-limit tickets are taken (TensorZero borrows inside the provider call)', async t => {
  let borrows = 0
  let attempts = 0
  const rateLimiter = { borrow: async () => { borrows++; return { settle () {} } } } as unknown as RateLimiter
  const provider = { name: 'p', type: 'openai' } as unknown as ProviderConfig
  const model = { name: 'm', routing: ['p'], providers: new Map([['p', provider]]) } as unknown as ModelConfig
  const leg = (hit: string | undefined): Leg<string, string> => ({
    modelLimit: (_m, signal) => deadline(signal, undefined, 'model'),
    fromCache: async () => hit,
    attempt: async () => { attempts++; return 'fresh' },
    adopt: () => false,
    limits: { tokenEstimate: () => 1, release: () => {} }
  })
  const ctx = { transport: undefined as never, env: {}, signal: new AbortController().signal, rateLimiter }
  t.equal(await walk(leg('cached'), model, 'q', ctx), 'cached')
  t.same([borrows, attempts], [0, 0], 'a hit takes no tickets and calls no provider')
  t.equal(await walk(leg(undefined), model, 'q', ctx), 'fresh')
  t.same([borrows, attempts], [1, 1], 'a miss takes tickets, then calls the provider')
})
