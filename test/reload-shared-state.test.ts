// Adaptive experiments and rate limits across hot reloads of a real `tz-sidecar serve` (the real `openai` client,
// Debian's postgresql): without Postgres an episode keeps its variant through a reload; with TENSORZERO_POSTGRES_URL
// set, a reload that brings the first adaptive experiment or the first rate limit rule uses Postgres from then on,
// and one whose Postgres is down is refused (the config in use keeps serving), as TensorZero refuses to start.
import t from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import pg from 'pg'
import { v7 as uuidv7 } from 'uuid'
import { postgresMissing, startPostgres, startValkey, valkeyMissing } from './helpers/rate-limit-stores.ts'
import { startCli } from './helpers/process.ts'
import type { ServingSidecar } from './helpers/process.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import { fakeFunction, fakeModel } from './helpers/toml.ts'
import { waitFor } from './helpers/wait.ts'

const fake = await startFakeOpenAI()
const dir = await mkdtemp(path.join(tmpdir(), 'tz-reload-shared-'))
const sidecars: ServingSidecar[] = []
t.teardown(async () => {
  for (const s of sidecars) { s.child.kill('SIGKILL'); await s.exited }
  await fake.close()
  await rm(dir, { recursive: true, force: true })
})

/** Function `plain`, and with `winner` an adaptive function `ab` whose one candidate is the winner from the start. */
function config (opts: { winner?: 'a' | 'b'; rule?: boolean } = {}): string {
  return [
    fakeModel(fake.url, 'm', [['p', 'ok']]),
    fakeFunction('plain', [['only', 'm']]),
    opts.winner === undefined
      ? ''
      : `${fakeFunction('ab', [['a', 'm'], ['b', 'm'], ['c', 'm']])}
[functions.ab.experimentation]
type = "adaptive"
metric = "solved"
candidate_variants = ["${opts.winner}"]
fallback_variants = ["c"]
[metrics.solved]
type = "boolean"
optimize = "max"
level = "inference"
`,
    opts.rule === true ? '[[rate_limiting.rules]]\nmodel_inferences_per_hour = 2\nscope = [{ tag_key = "case", tag_value = "limited" }]\nalways = true\n' : ''
  ].join('\n')
}

const env = { TENSORZERO_CLICKHOUSE_URL: '', TENSORZERO_VALKEY_URL: '', TENSORZERO_POSTGRES_URL: '', SIDECAR_CONFIG_WATCH: 'off', SIDECAR_POSTGRES_TIMEOUT_MS: '15000' }

async function serve (file: string, more: NodeJS.ProcessEnv = {}): Promise<{ s: ServingSidecar; client: OpenAI }> {
  const s = await startCli(['--config-file', file], { ...env, ...more })
  sidecars.push(s)
  return { s, client: new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'x', maxRetries: 0, timeout: 30_000 }) }
}

async function status (s: ServingSidecar): Promise<any> {
  return await (await fetch(`${s.url}/status`)).json()
}

/** SIGHUP, then the reload's outcome from /status (the n-th reload of this process). */
async function reload (s: ServingSidecar, n: number): Promise<{ ok: boolean; errors: string[]; restart_needed: string[] }> {
  s.child.kill('SIGHUP')
  const st = await waitFor(`reload ${n}`, async () => {
    const st = await status(s)
    return st.config.last_reload !== undefined && st.config.last_reload.at !== undefined && reloads.get(s) !== st.config.last_reload.at ? st : undefined
  }, 60_000)
  reloads.set(s, st.config.last_reload.at)
  return st.config.last_reload
}
const reloads = new Map<ServingSidecar, string>()

/** The variant (or the error status) an episode's request of `fn` gets; `tags` go as `tensorzero::tags`. */
async function variantOf (client: OpenAI, episode: string, fn = 'ab', tags?: Record<string, string>): Promise<string> {
  const body = {
    model: `tensorzero::function_name::${fn}`,
    messages: [{ role: 'user' as const, content: 'hi' }],
    'tensorzero::episode_id': episode,
    ...(tags === undefined ? {} : { 'tensorzero::tags': tags })
  }
  try {
    const res = await client.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
    return res.model.replace(`tensorzero::function_name::${fn}::variant_name::`, '')
  } catch (err) {
    if (err instanceof OpenAI.APIError) return `status ${String(err.status)}`
    throw err
  }
}

t.test('without Postgres, an episode keeps its variant across a reload that changes the winner; new episodes get the new one', async t => {
  const file = path.join(dir, 'memory.toml')
  await writeFile(file, config({ winner: 'a' }))
  const { s, client } = await serve(file)
  const episodes = Array.from({ length: 5 }, () => uuidv7())
  for (const e of episodes) t.equal(await variantOf(client, e), 'a', 'the first config\'s winner')
  await writeFile(file, config({ winner: 'b' }))
  const outcome = await reload(s, 1)
  t.same({ ok: outcome.ok, errors: outcome.errors }, { ok: true, errors: [] })
  t.equal(await variantOf(client, uuidv7()), 'b', 'a new episode gets the reloaded config\'s winner')
  for (const e of episodes) t.equal(await variantOf(client, e), 'a', 'an episode started before the reload stays on its variant')
  t.match(s.output(), /adaptive experimentation of function `ab`: TENSORZERO_POSTGRES_URL is not set, so this process keeps episode → variant in its own memory, across config reloads/)
})

t.test('without Postgres, a reload that brings the first adaptive function warns that its episodes stay in memory', async t => {
  const file = path.join(dir, 'memory-added.toml')
  await writeFile(file, config())
  const { s, client } = await serve(file)
  t.notMatch(s.output(), /TENSORZERO_POSTGRES_URL is not set/)
  await writeFile(file, config({ winner: 'b' }))
  t.equal((await reload(s, 1)).ok, true)
  await t.resolves(waitFor('the warning', async () => /adaptive experimentation of function `ab`: TENSORZERO_POSTGRES_URL is not set/.test(s.output()) ? true : undefined, 10_000))
  const e = uuidv7()
  t.equal(await variantOf(client, e), 'b')
  t.equal(await variantOf(client, e), 'b')
})

const missing = postgresMissing()
if (missing !== undefined) {
  t.test('reloads with Postgres', { skip: missing }, () => {})
} else {
  const store = await startPostgres()
  const pool = new pg.Pool({ connectionString: store.url, max: 2 })
  pool.on('error', () => {})
  t.teardown(async () => { await pool.end(); await store.close() })
  const stored = async (episode: string): Promise<string | undefined> =>
    (await pool.query<{ variant_name: string }>("SELECT variant_name FROM variant_by_episode WHERE function_name = 'ab' AND episode_id = $1", [episode]).catch(() => ({ rows: [] as Array<{ variant_name: string }> }))).rows[0]?.variant_name

  t.test('with TENSORZERO_POSTGRES_URL set, a reload that brings the first adaptive function keeps episodes in variant_by_episode; with Postgres down it is refused', async t => {
    const file = path.join(dir, 'pg-adaptive.toml')
    await writeFile(file, config())
    const { s, client } = await serve(file, store.env)
    t.equal(await variantOf(client, uuidv7(), 'plain'), 'only')

    // Postgres down: the reload that needs it is refused with TensorZero's start message, the config in use serves.
    await store.kill()
    await writeFile(file, config({ winner: 'a' }))
    const refused = await reload(s, 1)
    t.equal(refused.ok, false, 'refused')
    t.match(refused.errors.join('\n'), /pg-adaptive\.toml:\d+:\d+: Track-and-Stop experimentation is configured for function `ab` but Postgres is unhealthy: Error connecting to Postgres: .+Track-and-Stop requires a healthy Postgres connection/)
    t.equal(await variantOf(client, uuidv7()), 'status 404', 'the old config, without `ab`, still serves')
    t.equal(await variantOf(client, uuidv7(), 'plain'), 'only')

    await store.restart()
    const accepted = await reload(s, 2)
    t.same({ ok: accepted.ok, errors: accepted.errors, restart_needed: accepted.restart_needed }, { ok: true, errors: [], restart_needed: [] }, 'Postgres back: the same config is taken')
    const episodes = Array.from({ length: 4 }, () => uuidv7())
    for (const e of episodes) {
      t.equal(await variantOf(client, e), 'a')
      t.equal(await stored(e), 'a', 'the episode\'s variant is in variant_by_episode')
    }
    // A row another gateway wrote first decides, which only the shared table can do.
    const other = uuidv7()
    await pool.query("INSERT INTO variant_by_episode (function_name, episode_id, variant_name) VALUES ('ab', $1, 'b')", [other])
    t.equal(await variantOf(client, other), 'b')
    t.notMatch(s.output(), /TENSORZERO_POSTGRES_URL is not set/, 'no in-memory warning')
  })

  t.test('with TENSORZERO_POSTGRES_URL set, a reload that brings the first rate limit rule enforces it on Postgres, and /status shows it', async t => {
    const file = path.join(dir, 'pg-rules.toml')
    await writeFile(file, config())
    const { s, client } = await serve(file, store.env)
    t.equal((await status(s)).rate_limiting, undefined, 'no rules, no rate limiting in /status')
    await writeFile(file, config({ rule: true }))
    const outcome = await reload(s, 1)
    t.same({ ok: outcome.ok, restart_needed: outcome.restart_needed }, { ok: true, restart_needed: [] }, 'taken at once, no restart needed')
    const tags = { case: 'limited' }
    t.equal(await variantOf(client, uuidv7(), 'plain', tags), 'only')
    t.equal(await variantOf(client, uuidv7(), 'plain', tags), 'only')
    t.equal(await variantOf(client, uuidv7(), 'plain', tags), 'status 429', 'the third call in the hour is over the limit')
    t.equal(await variantOf(client, uuidv7(), 'plain'), 'only', 'requests no rule applies to are served')
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM resource_bucket')
    t.ok(Number(rows[0].n) > 0, 'the bucket is in Postgres')
    t.match((await status(s)).rate_limiting, { backend: 'postgres' })
  })

  t.test('a reload that names another rate limiting backend than the store opened first keeps that store and says a restart is needed', { skip: valkeyMissing() }, async t => {
    const valkey = await startValkey()
    t.teardown(async () => { await valkey.close() })
    const file = path.join(dir, 'backend.toml')
    await writeFile(file, config({ rule: true }))
    const { s, client } = await serve(file, { ...store.env, ...valkey.env })
    t.match((await status(s)).rate_limiting, { backend: 'valkey' }, 'both URLs set: Valkey, as TensorZero chooses')
    await writeFile(file, config({ rule: true }).replace('[[rate_limiting.rules]]', '[rate_limiting]\nbackend = "postgres"\n\n[[rate_limiting.rules]]'))
    const outcome = await reload(s, 1)
    t.equal(outcome.ok, true)
    t.match(outcome.restart_needed.join('\n'), /\[rate_limiting\] backend postgres: the rules are enforced on the valkey store opened first/)
    t.match((await status(s)).rate_limiting, { backend: 'valkey' }, '/status names the store in use')
    const tags = { case: 'limited' }
    t.equal(await variantOf(client, uuidv7(), 'plain', tags), 'only')
    t.equal(await variantOf(client, uuidv7(), 'plain', tags), 'only')
    t.equal(await variantOf(client, uuidv7(), 'plain', tags), 'status 429', 'still enforced, on Valkey')
  })
}
