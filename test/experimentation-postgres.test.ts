// Adaptive experiments keep episode → variant in Postgres's `variant_by_episode`, as the TensorZero gateway does
// (Debian's postgresql, real `tz-sidecar serve` processes, the real `openai` client). The two sidecars here run
// experiments whose states disagree (one's winner is `a`, the other's `b`), as two gateways whose states were
// computed at different times do: only the shared table keeps an episode on one variant across them.
import t from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import pg from 'pg'
import { v7 as uuidv7 } from 'uuid'
import { postgresMissing, startPostgres } from './helpers/rate-limit-stores.ts'
import { runCli, startCli } from './helpers/process.ts'
import type { ServingSidecar } from './helpers/process.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import { fakeFunction, fakeModel } from './helpers/toml.ts'
import { waitFor } from './helpers/wait.ts'
import { AdaptiveExperiments } from '../src/function/experimentation/adaptive.ts'
import type { FunctionConfig, TensorZeroConfig, TrackAndStopSettings } from '../src/core/config.ts'
import { GatewayError } from '../src/core/errors.ts'

/** An adaptive function `ab` whose one candidate (`winner`) is the winner from the start, `c` its fallback, and a plain function. */
const config = (fakeUrl: string, winner: string): string => `
${fakeModel(fakeUrl, 'm', [['p', 'ok']])}
${fakeFunction('ab', [['a', 'm'], ['b', 'm'], ['c', 'm']])}
[functions.ab.experimentation]
type = "adaptive"
metric = "solved"
candidate_variants = ["${winner}"]
fallback_variants = ["c"]
${fakeFunction('plain', [['only', 'm']])}
[metrics.solved]
type = "boolean"
optimize = "max"
level = "inference"
`

interface Outcome { status: number; variant?: string; message?: string }

async function ask (client: OpenAI, episode: string, opts: { fn?: string; stream?: boolean } = {}): Promise<Outcome> {
  const fn = opts.fn ?? 'ab'
  const body = { model: `tensorzero::function_name::${fn}`, messages: [{ role: 'user' as const, content: 'hi' }], 'tensorzero::episode_id': episode }
  const variantOf = (model: string): string => model.replace(`tensorzero::function_name::${fn}::variant_name::`, '')
  try {
    if (opts.stream === true) {
      const stream = await client.chat.completions.create({ ...body, stream: true } as unknown as OpenAI.ChatCompletionCreateParamsStreaming)
      let model = ''
      for await (const chunk of stream) model = chunk.model
      return { status: 200, variant: variantOf(model) }
    }
    const res = await client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
    return { status: 200, variant: variantOf(res.model) }
  } catch (err) {
    if (err instanceof OpenAI.APIError) return { status: err.status ?? 0, message: err.message }
    throw err
  }
}

t.test('a failed episode lookup fails the request before any variant runs, and only ends the order after one has failed', async t => {
  const settings: TrackAndStopSettings = {
    type: 'track_and_stop', metric: 'm', optimize: 'max', candidates: ['a', 'b'], fallbacks: ['c'], minSamplesPerVariant: 10,
    delta: 0.05, epsilon: 0, updatePeriodMs: 60_000, minProb: 0, maxSamplesPerVariant: 10_000
  }
  const fn = { name: 'f', sortedVariantNames: ['a', 'b', 'c'], experimentation: settings } as unknown as FunctionConfig
  const config = { functions: new Map([['f', fn]]) } as unknown as TensorZeroConfig
  let calls = 0
  let failFrom = 1
  // The one fake here stands for Postgres failing on the n-th lookup; everything else is the production sampler.
  const experiments = new AdaptiveExperiments(config, {
    episodes: { checkAndSet: async (_fn, _episode, candidate) => { if (++calls >= failFrom) throw new GatewayError(500, 'Postgres query failed: down'); return candidate } }
  })
  t.teardown(() => { experiments.close() })
  const walk = async (): Promise<string[]> => { const seen: string[] = []; for await (const name of experiments.order(fn, undefined, uuidv7(), 0)) seen.push(name); return seen }
  await t.rejects(walk(), { status: 500, message: 'Postgres query failed: down' }, 'the first lookup failing is the request\'s error')
  calls = 0
  failFrom = 2
  t.same(await walk(), ['a'], 'a lookup failing after a variant was tried ends the order: the caller reports the failed variants (502)')
  calls = 0
  failFrom = Infinity
  t.same(await walk(), ['a', 'b', 'c'], 'with every lookup answering, candidates then the fallback')
})

const missing = postgresMissing()
if (missing !== undefined) {
  t.test('adaptive experiments on Postgres', { skip: missing }, () => {})
} else {
  const store = await startPostgres()
  const fake = await startFakeOpenAI()
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-adaptive-pg-'))
  const pool = new pg.Pool({ connectionString: store.url, max: 2 })
  pool.on('error', () => {})
  const sidecars: ServingSidecar[] = []
  t.teardown(async () => {
    for (const s of sidecars) { s.child.kill('SIGKILL'); await s.exited }
    await pool.end(); await fake.close(); await store.close()
    await rm(dir, { recursive: true, force: true })
  })
  const fileA = path.join(dir, 'a.toml')
  const fileB = path.join(dir, 'b.toml')
  await writeFile(fileA, config(fake.url, 'a'))
  await writeFile(fileB, config(fake.url, 'b'))
  const env = { ...store.env, TENSORZERO_CLICKHOUSE_URL: '', TENSORZERO_VALKEY_URL: '', SIDECAR_POSTGRES_TIMEOUT_MS: '15000' }
  const start = async (file: string, more: NodeJS.ProcessEnv = {}): Promise<ServingSidecar> => {
    const s = await startCli(['--config-file', file], { ...env, ...more })
    sidecars.push(s)
    return s
  }
  // Started together on a database without the table: one creates it, the other finds it.
  const [a, b] = await Promise.all([start(fileA), start(fileB)])
  const clientA = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: 'x', maxRetries: 0, timeout: 30_000 })
  const clientB = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'x', maxRetries: 0, timeout: 30_000 })
  const stored = async (episode: string): Promise<string | undefined> =>
    (await pool.query<{ variant_name: string }>("SELECT variant_name FROM variant_by_episode WHERE function_name = 'ab' AND episode_id = $1", [episode])).rows[0]?.variant_name

  await t.test('the sidecars create TensorZero\'s variant_by_episode table where it is missing', async t => {
    const { rows } = await pool.query<{ column_name: string; data_type: string; is_nullable: string }>(
      "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'variant_by_episode' ORDER BY ordinal_position")
    t.same(rows, [
      { column_name: 'function_name', data_type: 'text', is_nullable: 'NO' },
      { column_name: 'episode_id', data_type: 'uuid', is_nullable: 'NO' },
      { column_name: 'variant_name', data_type: 'text', is_nullable: 'NO' }
    ])
    const key = await pool.query<{ column_name: string }>(`SELECT a.attname AS column_name FROM pg_index i
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
      WHERE i.indrelid = 'variant_by_episode'::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`)
    t.same(key.rows.map(r => r.column_name), ['function_name', 'episode_id'], 'keyed by (function_name, episode_id)')
  })

  await t.test('one episode stays on one variant across two sidecars whose experiments disagree, and the row is in variant_by_episode', async t => {
    const firstA = Array.from({ length: 6 }, () => uuidv7())
    const firstB = Array.from({ length: 6 }, () => uuidv7())
    for (const e of firstA) t.same(await ask(clientA, e), { status: 200, variant: 'a' }, 'sidecar A\'s winner for a new episode')
    for (const e of firstB) t.same(await ask(clientB, e, { stream: true }), { status: 200, variant: 'b' }, 'sidecar B\'s winner for a new episode (streamed)')
    for (const e of firstA) {
      t.same(await ask(clientB, e), { status: 200, variant: 'a' }, 'B serves an episode A started with A\'s variant')
      t.same(await ask(clientB, e, { stream: true }), { status: 200, variant: 'a' })
      t.equal(await stored(e), 'a')
    }
    for (const e of firstB) {
      t.same(await ask(clientA, e), { status: 200, variant: 'b' }, 'A serves an episode B started with B\'s variant')
      t.equal(await stored(e), 'b')
    }
    // Concurrent first requests of one episode through both sidecars: one insert wins, both serve its variant.
    for (let i = 0; i < 5; i++) {
      const e = uuidv7()
      const [x, y] = await Promise.all([ask(clientA, e), ask(clientB, e)])
      t.equal(x.variant, y.variant, `a race on one episode ends on one variant (${String(x.variant)})`)
      t.equal(await stored(e), x.variant)
    }
    const other = uuidv7()
    t.same(await ask(clientA, other, { fn: 'plain' }), { status: 200, variant: 'only' })
    t.equal((await pool.query("SELECT 1 FROM variant_by_episode WHERE function_name = 'plain'")).rows.length, 0, 'functions without an adaptive experiment write no rows')
  })

  await t.test('a row a TensorZero gateway wrote first is honoured; a variant the config lacks falls back to the first fallback', async t => {
    const e = uuidv7()
    await pool.query("INSERT INTO variant_by_episode (function_name, episode_id, variant_name) VALUES ('ab', $1, 'b')", [e])
    t.same(await ask(clientA, e), { status: 200, variant: 'b' }, 'A, whose winner is `a`, serves the stored `b`')
    const gone = uuidv7()
    await pool.query("INSERT INTO variant_by_episode (function_name, episode_id, variant_name) VALUES ('ab', $1, 'retired')", [gone])
    t.same(await ask(clientA, gone), { status: 200, variant: 'c' }, 'a stored variant that is not active: the fallback')
    t.equal(await stored(gone), 'retired', 'the stored row is left as it was')
  })

  await t.test('Postgres down at request time: adaptive requests fail with TensorZero\'s 500, others are served, and it recovers', async t => {
    await store.kill()
    const down = await ask(clientA, uuidv7())
    t.equal(down.status, 500, 'the episode\'s variant cannot be checked: 500, as in TensorZero')
    t.match(down.message, /^500 Postgres query failed: /, 'TensorZero\'s message for a failed query')
    t.equal((await ask(clientB, uuidv7(), { stream: true })).status, 500, 'a stream fails before its first chunk, with a plain HTTP error')
    t.same(await ask(clientA, uuidv7(), { fn: 'plain' }), { status: 200, variant: 'only' }, 'a function without an adaptive experiment needs no Postgres')
    await store.restart()
    const e = uuidv7()
    await t.resolves(waitFor('Postgres back', async () => (await ask(clientB, e)).status === 200 ? true : undefined, 60_000))
    t.same(await ask(clientA, e), { status: 200, variant: 'b' }, 'stickiness is back across both sidecars')
  })

  await t.test('the table dropped while serving (a wiped database) is created again on the next miss', async t => {
    await pool.query('DROP TABLE variant_by_episode')
    const e = uuidv7()
    await t.resolves(waitFor('the table re-created', async () => (await ask(clientA, e)).status === 200 ? true : undefined, 60_000))
    t.equal(await stored(e), 'a')
  })

  await t.test('at start: Postgres set but unreachable refuses to start, as TensorZero; no Postgres serves from memory with a warning', async t => {
    const refused = await runCli(['serve', '--config-file', fileA, '--bind-address', '127.0.0.1:0'],
      { ...env, TENSORZERO_POSTGRES_URL: 'postgres://postgres@127.0.0.1:1/postgres' })
    t.equal(refused.code, 1, 'serve exits 1')
    t.match(refused.stderr, /a\.toml:\d+:\d+: Track-and-Stop experimentation is configured for function `ab` but Postgres is unhealthy: Error connecting to Postgres: .+\. Track-and-Stop requires a healthy Postgres connection for episode-to-variant consistency\./)
    const memory = await start(fileA, { TENSORZERO_POSTGRES_URL: '' })
    t.match(memory.output(), /adaptive experimentation of function `ab`: TENSORZERO_POSTGRES_URL is not set/, 'one warning names the function')
    const client = new OpenAI({ baseURL: `${memory.url}/v1`, apiKey: 'x', maxRetries: 0, timeout: 30_000 })
    const e = uuidv7()
    await pool.query("INSERT INTO variant_by_episode (function_name, episode_id, variant_name) VALUES ('ab', $1, 'b')", [e])
    t.same(await ask(client, e), { status: 200, variant: 'a' }, 'without a Postgres URL the table is not read: this process\'s memory decides')
    t.same(await ask(client, e), { status: 200, variant: 'a' })
  })
}
