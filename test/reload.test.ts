// Hot reload of a real `tz-sidecar serve` process under a bounded load: a changed file and a SIGHUP swap the new config
// in for new requests while every request is answered (none dropped, one held upstream across the reload finishes on
// the old config's variant); a broken
// config keeps the old one and /status and /metrics say so; episode-sticky sampling stays sticky across the reload.
import t from 'tap'
import type { Test } from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { v7 as uuidv7 } from 'uuid'
import { startCli } from './helpers/process.ts'
import type { ServingSidecar } from './helpers/process.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'
import { waitFor } from './helpers/wait.ts'

let fake: FakeOpenAI
t.before(async () => { fake = await startFakeOpenAI() })
t.teardown(async () => { await fake.close() })

/**
 * The config before (`model_a`) and after (`model_b`) the reload: function `chat` serves that model, and function
 * `slow` changes too, from variant `before` (a model the fake holds until released) to variant `after`.
 */
function tensorzeroToml (chatModel: 'model_a' | 'model_b', extra = ''): string {
  return [
    fakeModel(fake.url, 'model_a', [['p', 'ok']]),
    fakeModel(fake.url, 'model_b', [['p', 'ok']]),
    fakeModel(fake.url, 'model_held', [['p', 'held-reload']]),
    fakeFunction('chat', [['v', chatModel]]),
    fakeFunction('sticky', [['one', 'model_a', 'weight = 0.5'], ['two', 'model_b', 'weight = 0.5']]),
    fakeFunction('slow', chatModel === 'model_a' ? [['before', 'model_held']] : [['after', 'model_b']]),
    extra
  ].join('\n')
}

function sidecarToml (routes: string[]): string {
  return ['service = "reload-test"', 'unmatched = "reject"', '[routes]', ...routes.map(r => `"${r}" = { function = "chat" }`), ''].join('\n')
}

async function setup (t: Test): Promise<{ dir: string; tz: string; sc: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-reload-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const tz = path.join(dir, 'tensorzero.toml')
  const sc = path.join(dir, 'sidecar.toml')
  await writeFile(tz, tensorzeroToml('model_a'))
  await writeFile(sc, sidecarToml(['gpt-x']))
  return { dir, tz, sc }
}

interface Load { stop: () => Promise<Array<{ status: number; model: string | null }>> }

/** Four clients sending requests back to back until stopped (at most 2000 requests or 120 s in all). */
function startLoad (url: string): Load {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 })
  const results: Array<{ status: number; model: string | null }> = []
  let stopped = false
  const until = Date.now() + 120_000
  const worker = async (): Promise<void> => {
    while (!stopped && results.length < 2000 && Date.now() < until) {
      try {
        const { response } = await client.chat.completions.create({ model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }] }).withResponse()
        results.push({ status: response.status, model: response.headers.get('x-tensorzero-model') })
      } catch (err) {
        results.push({ status: (err as { status?: number }).status ?? 0, model: null })
      }
    }
  }
  const workers = Promise.all([worker(), worker(), worker(), worker()])
  return { stop: async () => { stopped = true; await workers; return results } }
}

async function statusOf (url: string): Promise<any> {
  return await (await fetch(`${url}/status`)).json()
}

/** The variant `sticky` serves for each episode. */
async function stickyVariants (url: string, episodes: string[]): Promise<string[]> {
  const out: string[] = []
  for (const episode of episodes) {
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tensorzero::function_name::sticky', messages: [{ role: 'user', content: 'hi' }], 'tensorzero::episode_id': episode })
    })
    out.push(r.headers.get('x-tensorzero-variant') ?? `status ${r.status}`)
    await r.arrayBuffer()
  }
  return out
}

async function answers (url: string, model: string): Promise<Response> {
  return await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] })
  })
}

async function stop (s: ServingSidecar): Promise<number | null> {
  s.child.kill('SIGTERM')
  return (await s.exited).code
}

t.test('a changed file under load: swapped in for new requests, none dropped, one in flight across the reload finishes on the old variant, sticky stays sticky; a broken file keeps the old config', async t => {
  const { tz, sc } = await setup(t)
  const s = await startCli(['--config-file', tz, '--sidecar-config', sc], { TENSORZERO_CLICKHOUSE_URL: '' })
  t.teardown(() => { s.child.kill('SIGKILL') })
  const episodes = Array.from({ length: 12 }, () => uuidv7())
  const before = await stickyVariants(s.url, episodes)
  t.ok(before.every(v => v === 'one' || v === 'two'), `sticky served: ${before.join(',')}`)
  t.equal((await answers(s.url, 'gpt-new')).status, 404, 'not routed yet')

  const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 })
  let slowSettled = false
  const slow = client.chat.completions.create({ model: 'tensorzero::function_name::slow', messages: [{ role: 'user', content: 'hi' }] })
    .withResponse().finally(() => { slowSettled = true })
  await waitFor('the slow request to reach the upstream', async () => fake.heldFor('held-reload') === 1 ? true : undefined)
  const sent = fake.requestsFor('ok').length
  const load = startLoad(s.url)
  await waitFor('load to start', async () => fake.requestsFor('ok').length > sent + 20 ? true : undefined)
  // The per-service file first, then tensorzero.toml: each step is a valid config on its own.
  await writeFile(sc, sidecarToml(['gpt-x', 'gpt-new']))
  await writeFile(tz, tensorzeroToml('model_b'))
  await t.resolves(waitFor('the new route', async () => (await answers(s.url, 'gpt-new')).status === 200 ? true : undefined), 'the new route is served')
  await t.resolves(waitFor('the new model', async () => (await answers(s.url, 'gpt-x')).headers.get('x-tensorzero-model') === 'model_b' ? true : undefined), 'the new variant model is served')
  const fresh = await answers(s.url, 'tensorzero::function_name::slow')
  t.equal(fresh.headers.get('x-tensorzero-variant'), 'after', 'function `slow` now serves its new variant')
  t.equal(slowSettled, false, 'the slow request is still in flight after the new config took over')
  t.equal(fake.heldFor('held-reload'), 1, 'and still held by the upstream')
  fake.release('held-reload')
  const { data: slowAnswer, response: slowResponse } = await slow
  t.equal(slowResponse.status, 200, 'the slow request that started before the reload finished')
  t.equal(slowAnswer.model, 'tensorzero::function_name::slow::variant_name::before', 'on the old config\'s variant')
  t.equal(slowResponse.headers.get('x-tensorzero-model'), 'model_held', 'and its model')
  t.equal(slowAnswer.choices[0].message.content, 'Hello from held-reload')
  t.same(await stickyVariants(s.url, episodes), before, 'each episode keeps its variant (the variants did not change)')

  // A broken config: the old one keeps serving, every problem is reported with its position.
  await writeFile(tz, tensorzeroToml('model_b', fakeFunction('broken', [['v', 'nowhere']])))
  const failed = await waitFor('the failed reload', async () => {
    const st = await statusOf(s.url)
    return st.config.last_reload?.ok === false ? st : undefined
  })
  t.equal(failed.status, 'ready', 'still ready: the config in use is fine')
  t.match(failed.config.last_reload.errors.join('\n'), /tensorzero\.toml:\d+:\d+: .*nowhere/, 'file:line:col of the problem')
  t.equal((await answers(s.url, 'gpt-new')).status, 200, 'the last good config still serves')
  // The log line is written asynchronously (pino to a pipe): it may reach us a moment after /status says so.
  const logged = /"level":"error".*tensorzero\.toml:\d+:\d+: .*nowhere.*config reload failed/
  await t.resolves(waitFor('the failed reload logged', async () => logged.test(s.output()) ? true : undefined, 10_000),
    'the failure is logged with file:line:col')

  const results = await load.stop()
  t.ok(results.length > 20, `${results.length} requests under load`)
  t.same(results.filter(r => r.status !== 200), [], 'every request under load was answered 200')
  t.ok(results.some(r => r.model === 'model_a') && results.some(r => r.model === 'model_b'), 'served by the old, then the new config')
  const metrics = await (await fetch(`${s.url}/metrics`)).text()
  t.match(metrics, /tz_sidecar_config_reloads_total\{result="success",service="reload-test"\} [1-9]/)
  t.match(metrics, /tz_sidecar_config_reloads_total\{result="failure",service="reload-test"\} [1-9]/)
  t.match(metrics, /tz_sidecar_config_last_reload_success_timestamp_seconds\{service="reload-test"\} \d/)
  t.equal(await stop(s), 0, 'drains and exits 0')
})

t.test('SIGHUP reloads under load with file watching off; a change needing a restart is reported', async t => {
  const { tz, sc } = await setup(t)
  const s = await startCli(['--config-file', tz, '--sidecar-config', sc], { TENSORZERO_CLICKHOUSE_URL: '', SIDECAR_CONFIG_WATCH: 'off' })
  t.teardown(() => { s.child.kill('SIGKILL') })
  const sent = fake.requestsFor('ok').length
  const load = startLoad(s.url)
  await waitFor('load to start', async () => fake.requestsFor('ok').length > sent + 20 ? true : undefined)
  await writeFile(sc, sidecarToml(['gpt-x', 'gpt-new']).replace('reload-test', 'renamed'))
  s.child.kill('SIGHUP')
  const st = await waitFor('the SIGHUP reload', async () => {
    const st = await statusOf(s.url)
    return st.config.last_reload?.trigger === 'SIGHUP' ? st : undefined
  })
  t.equal(st.config.last_reload.ok, true)
  t.match(st.config.last_reload.restart_needed.join('\n'), /service `reload-test` → `renamed`/)
  t.equal((await answers(s.url, 'gpt-new')).status, 200, 'the new route is served')
  const results = await load.stop()
  t.same(results.filter(r => r.status !== 200), [], `all ${results.length} requests answered 200`)
  t.equal(await stop(s), 0)
})

t.test('a changed template include is reloaded: the provider then receives the new system text', async t => {
  const { dir, tz, sc } = await setup(t)
  await writeFile(path.join(dir, 'system.minijinja'), 'You are {% include "partial.minijinja" %}')
  await writeFile(path.join(dir, 'partial.minijinja'), 'brief.')
  await writeFile(tz, tensorzeroToml('model_a', '[gateway.template_filesystem_access]\nbase_path = "."\n')
    .replace('model = "model_a"\n', 'model = "model_a"\nsystem_template = "system.minijinja"\n'))
  const s = await startCli(['--config-file', tz, '--sidecar-config', sc], { TENSORZERO_CLICKHOUSE_URL: '' })
  t.teardown(() => { s.child.kill('SIGKILL') })
  const systemSent = async (): Promise<unknown> => {
    const r = await answers(s.url, 'gpt-x')
    t.equal(r.status, 200)
    return fake.requests.at(-1)?.body?.messages?.[0]?.content
  }
  t.equal(await systemSent(), 'You are brief.')
  await writeFile(path.join(dir, 'partial.minijinja'), 'thorough.')
  await t.resolves(waitFor('the new include', async () => await systemSent() === 'You are thorough.' ? true : undefined))
  t.equal(await stop(s), 0)
})
