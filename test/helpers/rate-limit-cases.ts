// The `[rate_limiting]` behaviour every store must give, checked through real `tz-sidecar serve` processes and the
// real `openai` client: run once against Valkey (redis-server) and once against Postgres.
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import type { Test } from 'tap'
import { startFakeOpenAI } from './fake-openai.ts'
import type { FakeOpenAI } from './fake-openai.ts'
import { startCli } from './process.ts'
import type { ServingSidecar } from './process.ts'
import { fakeFunction, fakeModel } from './toml.ts'
import type { TestStore } from './rate-limit-stores.ts'
import { waitFor } from './wait.ts'

/** Reads a bucket's stored balance, by TensorZero's key (without the store's prefix); undefined when absent. */
export type BalanceReader = (key: string) => Promise<number | undefined>

const RULES = `
[[rate_limiting.rules]]
model_inferences_per_minute = 5
scope = [{ tag_key = "case", tag_value = "shared" }]
priority = 0

[[rate_limiting.rules]]
tokens_per_hour = 1000
scope = [{ tag_key = "case", tag_value = "tokens" }]
priority = 0

[[rate_limiting.rules]]
model_inferences_per_hour = 2
scope = [{ tag_key = "user", tag_value = "tensorzero::each" }]
always = true

[[rate_limiting.rules]]
model_inferences_per_hour = 3
scope = [{ tag_key = "team", tag_value = "tensorzero::total" }]
always = true

[[rate_limiting.rules]]
model_inferences_per_hour = 3
scope = [{ tag_key = "tier", tag_value = "pro" }]
priority = 2

[[rate_limiting.rules]]
model_inferences_per_hour = 1
scope = [{ tag_key = "tier", tag_value = "tensorzero::each" }]
priority = 1

[[rate_limiting.rules]]
cost_per_hour = 5
scope = [{ tag_key = "case", tag_value = "cost" }]
priority = 0

[[rate_limiting.rules]]
model_inferences_per_minute = 10
model_inferences_per_day = 100
scope = [{ tag_key = "case", tag_value = "twice" }]
priority = 0
`

type Tags = Record<string, string>

interface Outcome { status: number; message: string }

async function ask (client: OpenAI, tags: Tags | undefined, opts: { model?: string; maxTokens?: number | null; stream?: boolean } = {}): Promise<Outcome> {
  const body: Record<string, unknown> = { model: opts.model ?? 'f', messages: [{ role: 'user', content: 'hello world!' }] }
  if (opts.maxTokens !== null) body.max_tokens = opts.maxTokens ?? 100
  if (tags !== undefined) body['tensorzero::tags'] = tags
  try {
    if (opts.stream === true) {
      const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } } as unknown as OpenAI.ChatCompletionCreateParamsStreaming)
      let text = ''
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? ''
      return { status: 200, message: text }
    }
    const r = await client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
    return { status: 200, message: r.choices[0].message.content ?? '' }
  } catch (err) {
    if (err instanceof OpenAI.APIError) return { status: err.status ?? 0, message: err.message }
    throw err
  }
}

const key = (resource: string, scope: object[]): string => JSON.stringify({ resource, scope_key: scope })

export async function rateLimitCases (t: Test, store: TestStore, balance: BalanceReader): Promise<void> {
  const fake: FakeOpenAI = await startFakeOpenAI()
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-rl-'))
  const file = path.join(dir, 'tensorzero.toml')
  const config = fakeModel(fake.url, 'm', [['p', 'ok']]) + fakeModel(fake.url, 'slow', [['p', 'slow-3000']]) +
    fakeModel(fake.url, 'priced', [['p', 'ok', 'cost = [{ pointer = "/usage/prompt_tokens", cost_per_unit = 0.01 }]']]) +
    fakeFunction('f', [['v', 'm']]) + fakeFunction('s', [['v', 'slow']]) + fakeFunction('c', [['v', 'priced']]) + RULES
  await writeFile(file, config)
  const sidecars: ServingSidecar[] = []
  const start = async (): Promise<ServingSidecar> => {
    // A generous store timeout: on a loaded machine the first round trips (new connections) can pass the 1 s default,
    // and the cases here are about counting, not about a slow store. A killed store still fails at once (refused).
    const s = await startCli(['--config-file', file], { ...store.env, LOG_LEVEL: 'info', SIDECAR_RATE_LIMIT_TIMEOUT_MS: '15000' })
    sidecars.push(s)
    return s
  }
  t.teardown(async () => {
    for (const s of sidecars) { s.child.kill('SIGKILL'); await s.exited }
    await fake.close()
  })
  const a = await start()
  const b = await start()
  const clientA = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: 'x', maxRetries: 0, timeout: 20_000 })
  const clientB = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'x', maxRetries: 0, timeout: 20_000 })

  await t.test('two sidecars share one per-minute limit: together they get exactly the limit, not twice it', async t => {
    const results = await Promise.all(Array.from({ length: 10 }, async (_, i) => await ask(i % 2 === 0 ? clientA : clientB, { case: 'shared' })))
    t.equal(results.filter(r => r.status === 200).length, 5, 'five of ten concurrent requests over two sidecars went through')
    const refused = results.filter(r => r.status === 429)
    t.equal(refused.length, 5, 'the other five were refused with 429')
    t.match(refused[0].message, 'TensorZero rate limit exceeded for `model_inference` resource.\nScope: tag_key="case", tag_value="shared"\nRequested: 1\nAvailable: 0')
    t.equal(fake.requestsFor('ok').length, 5, 'refused requests never reached the provider')
    t.equal(await balance(key('model_inference', [{ type: 'TagConcrete', key: 'case', value: 'shared' }])), 0, 'the bucket under TensorZero\'s key is empty')
  })

  await t.test('a token limit takes the estimate before the call and gives back the difference with the real usage', async t => {
    const tokens = key('token', [{ type: 'TagConcrete', key: 'case', value: 'tokens' }])
    const slow = ask(clientA, { case: 'tokens' }, { model: 's' })
    // "hello world!" is 12 bytes: 6 tokens, plus the whole max_tokens (100).
    await t.resolves(waitFor('the estimate taken while the call runs', async () => await balance(tokens) === 894 ? true : undefined, 20_000))
    t.equal((await slow).status, 200)
    // The fake reports 7 input + 5 output tokens: 106 - 12 = 94 come back.
    await t.resolves(waitFor('the surplus given back', async () => await balance(tokens) === 988 ? true : undefined, 20_000))
    t.equal((await ask(clientB, { case: 'tokens' }, { stream: true })).status, 200, 'a stream through the other sidecar')
    await t.resolves(waitFor('the stream\'s surplus given back once it ended', async () => await balance(tokens) === 976 ? true : undefined, 20_000))
    const missing = await ask(clientA, { case: 'tokens' }, { maxTokens: null })
    t.equal(missing.status, 400, 'a request under a token limit without max_tokens is the client\'s mistake')
    t.match(missing.message, 'Missing `max_tokens` for request subject to rate limiting rules.')
    const big = await ask(clientA, { case: 'tokens' }, { maxTokens: 2000 })
    t.equal(big.status, 429, 'an estimate over what is left is refused')
    t.match(big.message, /Requested: 2006\nAvailable: 976/)
  })

  await t.test('a cost limit takes default_cost ($1) first and settles with the priced answer ($0.07)', async t => {
    t.equal((await ask(clientA, { case: 'cost' }, { model: 'c' })).status, 200)
    const cost = key('cost', [{ type: 'TagConcrete', key: 'case', value: 'cost' }])
    await t.resolves(waitFor('the cost settled', async () => await balance(cost) === 4_930_000_000 ? true : undefined, 20_000),
      '$5 bucket in nano-dollars, less 7 prompt tokens at $0.01')
    t.equal((await ask(clientA, { case: 'cost' })).status, 200, 'an unpriced model keeps the $1 estimate')
    await t.resolves(waitFor('the unpriced estimate kept', async () => await balance(cost) === 3_930_000_000 ? true : undefined, 20_000))
  })

  await t.test('tensorzero::each gives every tag value its own bucket; tensorzero::total shares one across values', async t => {
    t.equal((await ask(clientA, { user: 'alice' })).status, 200)
    t.equal((await ask(clientB, { user: 'alice' })).status, 200)
    const third = await ask(clientA, { user: 'alice' })
    t.equal(third.status, 429, 'alice\'s own bucket (2) is empty')
    t.match(third.message, 'Scope: tag_key="user", tag_value="tensorzero::each" (matched: "alice")')
    t.equal((await ask(clientA, { user: 'bob' })).status, 200, 'bob has a bucket of his own')
    for (const team of ['a', 'b', 'c']) t.equal((await ask(team === 'b' ? clientB : clientA, { team })).status, 200, `team ${team} draws from the total`)
    const fourth = await ask(clientA, { team: 'd' })
    t.equal(fourth.status, 429, 'a fourth team finds the shared total (3) empty')
    t.match(fourth.message, 'Scope: tag_key="team", tag_value="tensorzero::total"')
    t.equal((await ask(clientA, undefined)).status, 200, 'a request without tags matches no rule')
    t.equal(await balance(key('model_inference', [{ type: 'TagTotal', key: 'team' }])), 0)
    t.equal(await balance(key('model_inference', [{ type: 'TagEach', key: 'user', value: 'bob' }])), 1)
  })

  await t.test('the highest matching priority overrides lower ones', async t => {
    for (let i = 0; i < 3; i++) t.equal((await ask(i === 1 ? clientB : clientA, { tier: 'pro' })).status, 200, 'pro: the priority-2 rule (3) alone applies')
    const over = await ask(clientA, { tier: 'pro' })
    t.equal(over.status, 429)
    t.match(over.message, 'Scope: tag_key="tier", tag_value="pro"')
    t.equal((await ask(clientA, { tier: 'free' })).status, 200, 'free: only the priority-1 rule (1) matches')
    t.equal((await ask(clientB, { tier: 'free' })).status, 429)
    t.equal(await balance(key('model_inference', [{ type: 'TagEach', key: 'tier', value: 'pro' }])), undefined, 'the overridden rule took nothing from pro requests')
    const metrics = await (await fetch(`${a.url}/metrics`)).text()
    t.match(metrics, /tz_sidecar_rate_limited_total\{rule="4",scope="tag_key=\\"tier\\", tag_value=\\"pro\\"",resource="model_inference",service="tz-sidecar"\} 1/)
  })

  await t.test('a rule that limits one resource twice fails the requests it applies to (one bucket key), as in TensorZero, without an outage', async t => {
    const r = await ask(clientA, { case: 'twice' })
    t.equal(r.status, 502)
    t.match(r.message, 'Duplicate keys are not allowed')
    const status = await (await fetch(`${a.url}/status`)).json() as { rate_limiting: { state: string } }
    t.equal(status.rate_limiting.state, 'reachable', 'the store is not taken for down')
  })

  await t.test('a reloaded config\'s new rule draws from the same store', async t => {
    t.equal((await ask(clientA, { late: 'x' })).status, 200, 'no rule for `late` yet')
    await writeFile(file, config + '\n[[rate_limiting.rules]]\nmodel_inferences_per_hour = 0\nscope = [{ tag_key = "late", tag_value = "tensorzero::each" }]\npriority = 0\n')
    a.child.kill('SIGHUP')
    await t.resolves(waitFor('the new rule enforced', async () => (await ask(clientA, { late: 'y' })).status === 429 ? true : undefined, 30_000))
  })

  await t.test('the store killed mid-run: requests under a limit are refused at once, one log line, /status says so, and it recovers', async t => {
    await store.kill()
    const first = await ask(clientA, { user: 'zed' })
    const second = await ask(clientA, { user: 'zed' })
    t.equal(first.status, 502, 'refused (fail closed), as the TensorZero gateway refuses it')
    t.match(first.message, /rate limiting store \((valkey|postgres)\) unavailable/)
    t.equal(second.status, 502)
    // Both answered well inside the client's own timeout: no request hangs on a dead store.
    t.equal((await ask(clientA, undefined)).status, 200, 'a request no rule applies to needs no store')
    const status = await (await fetch(`${a.url}/status`)).json() as { rate_limiting: { state: string; last_error?: string } }
    t.equal(status.rate_limiting.state, 'unreachable')
    t.type(status.rate_limiting.last_error, 'string')
    await t.resolves(waitFor('the outage logged', async () => a.output().includes('rate limiting store unreachable') ? true : undefined, 10_000))
    t.equal(a.output().split('rate limiting store unreachable').length - 1, 1, 'one log line for the outage, not one per request')
    t.match(await (await fetch(`${a.url}/metrics`)).text(), /tz_sidecar_rate_limit_store_outages_total\{backend="(valkey|postgres)",service="tz-sidecar"\} 1/)

    await store.restart()
    await t.resolves(waitFor('requests under a limit served again', async () => (await ask(clientA, { user: 'yan' })).status === 200 ? true : undefined, 30_000))
    await t.resolves(waitFor('the recovery logged', async () => a.output().includes('rate limiting store reachable again') ? true : undefined, 10_000))
  })
}
