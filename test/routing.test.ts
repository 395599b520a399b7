// Routing and fallback with TensorZero's semantics (TENSORZERO.md §4): variant sampling, retries, provider order,
// timeouts, and the rule that a stream never falls back after its first chunk. Driven through the real `openai`
// client against an in-process sidecar whose providers are a loopback fake OpenAI server.
import t from 'tap'
import { createHash } from 'node:crypto'
import OpenAI from 'openai'
import { v7 as uuidv7 } from 'uuid'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'
import type { FakeProvider } from './helpers/toml.ts'
import { episodeDraw, samplingPlan, variantOrder } from '../src/function/experimentation.ts'
import { retryDelayMs } from '../src/core/backoff.ts'
import type { FunctionConfig, VariantConfig } from '../src/core/config.ts'

let fake: FakeOpenAI
t.before(async () => { fake = await startFakeOpenAI() })
t.teardown(async () => { await fake.close() })

const chain = (name: string, providers: FakeProvider[]): string => fakeModel(fake.url, name, providers)
const provider = (name: string, behaviour: string): string => chain(name, [['p', behaviour]])

async function withSidecar (toml: string, fn: (client: OpenAI, s: TestSidecar) => Promise<void>, sidecarToml?: string): Promise<void> {
  const s = await startTestSidecar({ toml, sidecarToml })
  try {
    await fn(new OpenAI({ baseURL: s.baseURL, apiKey: 'client-secret', maxRetries: 0 }), s)
  } finally {
    await s.close()
  }
}

const user = [{ role: 'user' as const, content: 'hi' }]

// ---------- sampling, as pure functions ----------

function fnWith (variants: Array<Partial<VariantConfig> & { name: string }>, experimentation: FunctionConfig['experimentation'] = { type: 'uniform' }): FunctionConfig {
  const map = new Map<string, VariantConfig>()
  for (const v of variants) map.set(v.name, { type: 'chat_completion', templates: {}, params: {}, retries: { numRetries: 0, maxDelayS: 10 }, timeouts: {}, raw: {}, source: { file: 'x', line: 1, col: 1 }, ...v })
  return { name: 'f', type: 'chat', variants: map, sortedVariantNames: [...map.keys()].sort(), experimentation, schemas: {}, tools: [], toolChoice: 'auto', source: { file: 'x', line: 1, col: 1 } }
}

t.test('the episode draw is SHA-256(function name ‖ episode id bytes), first 4 bytes big-endian over 2^32', async t => {
  const episode = '0192e8b0-7c1a-7d3e-9f00-123456789abc'
  const expected = createHash('sha256').update(Buffer.concat([Buffer.from('my_function'), Buffer.from(episode.replaceAll('-', ''), 'hex')])).digest().readUInt32BE(0) / 2 ** 32
  t.equal(episodeDraw('my_function', episode), expected)
  t.not(episodeDraw('other_function', episode), expected, 'the function name is part of the draw')
})

t.test('uniform sampling walks variants in sorted-name order without replacement, re-using one draw', async t => {
  const fn = fnWith([{ name: 'c' }, { name: 'a' }, { name: 'b' }])
  t.same([...variantOrder(samplingPlan(fn), 0)], ['a', 'b', 'c'], 'u=0 always takes the first remaining')
  // u=0.5: floor(0.5×3)=1 → b; remaining [a,c]: floor(0.5×2)=1 → c; then a
  t.same([...variantOrder(samplingPlan(fn), 0.5)], ['b', 'c', 'a'])
  t.same([...variantOrder(samplingPlan(fn), 0.99)], ['c', 'b', 'a'])
})

t.test('a uniform function splits many episodes evenly across its variants', async t => {
  const fn = fnWith([{ name: 'a' }, { name: 'b' }, { name: 'c' }])
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 }
  const n = 6000
  for (let i = 0; i < n; i++) counts[variantOrder(samplingPlan(fn), episodeDraw('f', uuidv7())).next().value as string]++
  for (const name of ['a', 'b', 'c']) {
    t.ok(Math.abs(counts[name] / n - 1 / 3) < 0.04, `${name} gets about a third (${counts[name]}/${n})`)
  }
})

t.test('static experimentation: weighted candidates, then fallback_variants in list order', async t => {
  const fn = fnWith([{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'z' }],
    { type: 'static', candidates: new Map([['b', 3], ['a', 1]]), fallbacks: ['z', 'c'] })
  // sorted candidates [a(1), b(3)], total 4: u=0.2 → 0.8 < 1 → a; then b; then fallbacks z, c
  t.same([...variantOrder(samplingPlan(fn), 0.2)], ['a', 'b', 'z', 'c'])
  t.same([...variantOrder(samplingPlan(fn), 0.5)], ['b', 'a', 'z', 'c'])
  const zeroWeights = fnWith([{ name: 'a' }, { name: 'b' }], { type: 'static', candidates: new Map([['a', 0]]), fallbacks: ['b'] })
  t.same([...variantOrder(samplingPlan(zeroWeights), 0.3)], ['b'], 'no candidate with weight > 0: the fallback list alone')
})

t.test('legacy weights: weight > 0 is a candidate, omitted is fallback only, 0 only when pinned', async t => {
  const fn = fnWith([{ name: 'heavy', weight: 0.9 }, { name: 'light', weight: 0.1 }, { name: 'backup' }, { name: 'off', weight: 0 }], { type: 'legacy_weights' })
  const order = [...variantOrder(samplingPlan(fn), 0.05)]
  t.same(order, ['heavy', 'light', 'backup'], 'weighted pair first, then the unweighted fallback; weight 0 never sampled')
})

t.test('retry delays start at 1 s, double, are jittered over the upper half and capped at max_delay_s', async t => {
  const r = { numRetries: 5, maxDelayS: 3 }
  t.equal(retryDelayMs(0, r, () => 0), 500)
  t.equal(retryDelayMs(0, r, () => 1), 1000)
  t.equal(retryDelayMs(1, r, () => 1), 2000)
  t.equal(retryDelayMs(4, r, () => 1), 3000, 'capped')
})

// ---------- through the sidecar ----------

t.test('the same episode always lands on the same variant; the response names it', async t => {
  const toml = provider('m_a', 'ok') + provider('m_b', 'ok') + provider('m_c', 'ok') +
    fakeFunction('f', [['a', 'm_a'], ['b', 'm_b'], ['c', 'm_c']])
  await withSidecar(toml, async client => {
    const seen = new Set<string>()
    for (let e = 0; e < 12; e++) {
      const episode = uuidv7()
      const expected = [...variantOrder({ candidates: ['a', 'b', 'c'].map(name => ({ name, weight: 1 })), fallbacks: [] }, episodeDraw('f', episode))][0]
      for (let i = 0; i < 3; i++) {
        const res = await client.chat.completions.create({ model: 'tensorzero::function_name::f', messages: user, 'tensorzero::episode_id': episode } as any)
        t.equal(res.model, `tensorzero::function_name::f::variant_name::${expected}`)
        seen.add(expected)
      }
    }
    t.ok(seen.size >= 2, 'different episodes reach different variants')
  })
})

t.test('providers are tried strictly in routing order; the first success answers', async t => {
  const toml = chain('chain', [['refused', 'refused'], ['broken', 'error-500'], ['limited', 'rate-limit'], ['good', 'ok'], ['never', 'never-called']])
  await withSidecar(toml, async client => {
    const before = fake.requests.length
    const { data, response } = await client.chat.completions.create({ model: 'tensorzero::model_name::chain', messages: user }).withResponse()
    t.equal(data.choices[0].message.content, 'Hello from ok')
    t.equal(response.headers.get('x-tensorzero-provider'), 'good')
    t.equal(data.model, 'tensorzero::model_name::chain')
    const models = fake.requests.slice(before).map(r => r.body.model)
    t.same(models, ['error-500', 'rate-limit', 'ok'], 'each reachable provider was called once, in order, and none after the success')
  })
})

t.test('all providers failing is a 500 listing each one; 429 when the last was rate limited', async t => {
  const toml = chain('down', [['a', 'rate-limit'], ['b', 'error-500']]) + chain('limited', [['a', 'error-500'], ['b', 'rate-limit']])
  await withSidecar(toml, async client => {
    const err = await client.chat.completions.create({ model: 'tensorzero::model_name::down', messages: user }).catch(e => e)
    t.equal(err.status, 500)
    t.match(err.message, /All model providers failed/)
    t.match(err.message, /a: .*429/)
    t.match(err.message, /b: .*500/)
    const limited = await client.chat.completions.create({ model: 'tensorzero::model_name::limited', messages: user }).catch(e => e)
    t.equal(limited.status, 429, 'the last provider was rate limited')
  })
})

t.test('variant retries walk the whole routing list again; variant fallback comes after retries; all failing is a 502', async t => {
  const toml = provider('flaky', 'fail-first-1') + provider('dead', 'error-500') + provider('spare', 'ok') +
    fakeFunction('retrying', [['only', 'flaky', 'retries = { num_retries = 1, max_delay_s = 0.05 }']]) +
    fakeFunction('falling', [['first', 'dead', 'retries = { num_retries = 2, max_delay_s = 0.01 }'], ['second', 'spare']]) + `
[functions.falling.experimentation]
type = "static"
candidate_variants = ["first"]
fallback_variants = ["second"]
` + fakeFunction('hopeless', [['x', 'dead'], ['y', 'dead']])
  await withSidecar(toml, async client => {
    const retried = await client.chat.completions.create({ model: 'tensorzero::function_name::retrying', messages: user })
    t.equal(retried.choices[0].message.content, 'Hello from fail-first-1', 'the retry succeeded')
    t.equal(fake.requestsFor('fail-first-1').length, 2, 'one failure, one retry')

    const deadBefore = fake.requestsFor('error-500').length
    const fellBack = await client.chat.completions.create({ model: 'tensorzero::function_name::falling', messages: user })
    t.equal(fellBack.model, 'tensorzero::function_name::falling::variant_name::second')
    t.equal(fake.requestsFor('error-500').length - deadBefore, 3, 'first variant: one call plus two retries before falling back')

    const err = await client.chat.completions.create({ model: 'tensorzero::function_name::hopeless', messages: user }).catch(e => e)
    t.equal(err.status, 502)
    t.match(err.message, /All variants failed with errors: (x|y): .*\n(x|y): /)
  })
})

t.test('a pinned variant is used alone, with no fallback', async t => {
  const toml = provider('dead', 'error-500') + provider('fine', 'ok') + fakeFunction('f', [['broken', 'dead'], ['working', 'fine']])
  await withSidecar(toml, async client => {
    const err = await client.chat.completions.create({ model: 'tensorzero::function_name::f', messages: user, 'tensorzero::variant_name': 'broken' } as any).catch(e => e)
    t.equal(err.status, 500, 'the variant\'s own error, not a 502 after falling back')
    const viaName = await client.chat.completions.create({ model: 'tensorzero::function_name::f::variant_name::working', messages: user })
    t.equal(viaName.model, 'tensorzero::function_name::f::variant_name::working')
    const unknown = await client.chat.completions.create({ model: 'tensorzero::function_name::f', messages: user, 'tensorzero::variant_name': 'nope' } as any).catch(e => e)
    t.equal(unknown.status, 404)
  })
})

t.test('timeouts: a provider total_ms moves on to the next provider; a variant limit gives 408 when pinned', async t => {
  const toml = chain('hanging_first', [['hang', 'hang', 'timeouts = { non_streaming = { total_ms = 150 }, streaming = { ttft_ms = 150 } }'], ['ok', 'ok']]) +
    provider('slow', 'slow-3000') + fakeFunction('f', [['v', 'slow', 'timeouts = { non_streaming = { total_ms = 150 }, streaming = { ttft_ms = 150 } }']])
  await withSidecar(toml, async client => {
    const res = await client.chat.completions.create({ model: 'tensorzero::model_name::hanging_first', messages: user }).withResponse()
    t.equal(res.response.headers.get('x-tensorzero-provider'), 'ok', 'non-streaming: fell back after the timeout')
    const stream = await client.chat.completions.create({ model: 'tensorzero::model_name::hanging_first', messages: user, stream: true })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
    t.equal(text, 'Hello from the fake upstream', 'streaming: ttft timeout fell back too')

    const err = await client.chat.completions.create({ model: 'tensorzero::function_name::f::variant_name::v', messages: user }).catch(e => e)
    t.equal(err.status, 408)
    t.match(err.message, /variant `v` timed out after 150 ms/)
  })
})

t.test('a stream never falls back after its first chunk: the failure arrives in-stream', async t => {
  const toml = chain('cutting', [['cut', 'cut-2'], ['spare', 'spare-never']]) + chain('late', [['cut', 'error-500'], ['spare', 'ok']])
  await withSidecar(toml, async client => {
    const stream = await client.chat.completions.create({ model: 'tensorzero::model_name::cutting', messages: user, stream: true })
    let text = ''
    const err = await (async () => { for await (const c of stream) text += c.choices[0]?.delta?.content ?? '' })().catch(e => e)
    t.equal(text, 'Hello from', 'the two chunks before the cut reached the client')
    t.ok(err instanceof Error, 'the client saw an error event')
    t.equal(fake.requestsFor('spare-never').length, 0, 'the second provider was never called')

    const ok = await client.chat.completions.create({ model: 'tensorzero::model_name::late', messages: user, stream: true })
    let text2 = ''
    for await (const c of ok) text2 += c.choices[0]?.delta?.content ?? ''
    t.equal(text2, 'Hello from the fake upstream', 'a failure before the first chunk still falls back')
  })
})
