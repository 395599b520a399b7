// Health-aware routing (issue 14): a model provider that keeps failing is skipped for a cool-down, probed by ONE
// request, and closed again by the probe's success. Pinned three ways: the circuit's rules on a test clock, a real
// in-process sidecar against a loopback upstream that dies and recovers, and a real `tz-sidecar` process's log lines.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { ProviderHealth, verdictOf } from '../src/model/health.ts'
import type { CircuitEvent } from '../src/model/health.ts'
import { DEFAULT_HEALTH } from '../src/config/sidecar-config.ts'
import { loadConfig } from '../src/config/load.ts'
import { ConfigError } from '../src/config/diagnostics.ts'
import { GatewayError, ProviderError } from '../src/core/errors.ts'
import { TimeoutError } from '../src/core/deadline.ts'
import type { HealthConfig, ProviderConfig } from '../src/core/config.ts'
import type { AttemptRecord, InferenceObserver } from '../src/core/records.ts'
import { SidecarMetrics } from '../sidecar/ops/metrics.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { startCli } from './helpers/process.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'

// ---------- the circuit's rules, on a clock the test moves ----------

const provider = (name: string): ProviderConfig => ({ name, type: 'openai', modelName: name, keyLocation: { kind: 'none' }, options: {}, timeouts: {}, source: { file: 'x', line: 1, col: 1 } })

function healthAt (settings: Partial<HealthConfig>): { health: ProviderHealth; events: CircuitEvent[]; clock: { ms: number } } {
  const clock = { ms: 1_000_000 }
  const events: CircuitEvent[] = []
  const health = new ProviderHealth({ ...DEFAULT_HEALTH, ...settings }, { now: () => clock.ms, onChange: e => { events.push(e) } })
  return { health, events, clock }
}

t.test('N consecutive failures open a circuit; one probe after the cool-down; success closes, failure doubles the cool-down up to its cap', async t => {
  const { health, events, clock } = healthAt({ consecutiveFailures: 3, cooldownMs: 1000, maxCooldownMs: 3000 })
  const p = provider('dead')
  for (let i = 0; i < 2; i++) { t.equal(health.admit(p), 'pass'); health.settle('m', p, 'pass', 'failure') }
  health.settle('m', p, 'pass', 'success')
  for (let i = 0; i < 2; i++) health.settle('m', p, 'pass', 'failure')
  t.equal(health.admit(p), 'pass', 'a success in between resets the count')
  health.settle('m', p, 'pass', 'failure')
  t.equal(health.admit(p), 'skip', 'the third failure in a row opens it')
  t.match(health.skipMessage(p), /^skipped: circuit open \(3 consecutive failures\); next probe in 1 s$/)
  clock.ms += 999
  t.equal(health.admit(p), 'skip', 'still cooling down')
  clock.ms += 1
  t.equal(health.admit(p), 'probe', 'the cool-down is over: one probe')
  t.equal(health.admit(p), 'skip', 'while the probe is out, everyone else skips')
  t.match(health.skipMessage(p), /a probe is in flight/)
  health.settle('m', p, 'probe', 'failure')
  clock.ms += 1999
  t.equal(health.admit(p), 'skip', 'a failed probe reopens it for twice the cool-down')
  clock.ms += 1
  t.equal(health.admit(p), 'probe')
  health.settle('m', p, 'probe', 'failure')
  clock.ms += 3000
  t.equal(health.admit(p), 'probe', 'the cool-down is capped at max_cooldown_ms (not 4 s)')
  health.settle('m', p, 'probe', 'neutral')
  t.equal(health.admit(p), 'probe', 'a probe that proved nothing (client left) hands the probe to the next request')
  health.settle('m', p, 'probe', 'success')
  t.equal(health.admit(p), 'pass', 'a successful probe closes it')
  t.same(events.map(e => e.to), ['open', 'half_open', 'open', 'half_open', 'open', 'half_open', 'closed'])
  t.same(events.filter(e => e.to === 'open').map(e => e.cooldownMs), [1000, 2000, 3000])
  t.match(events[0], { modelName: 'm', providerName: 'dead', from: 'closed', reason: '3 consecutive failures' })
  health.settle('m', p, 'pass', 'failure'); health.settle('m', p, 'pass', 'failure')
  t.equal(health.admit(p), 'pass', 'closed again, the count starts over')
})

t.test('an error rate over the window opens a circuit once enough calls were made; old calls leave the window', async t => {
  const { health, clock } = healthAt({ consecutiveFailures: 100, errorRate: 0.5, minRequests: 6, windowMs: 10_000 })
  const p = provider('flaky')
  for (let i = 0; i < 5; i++) health.settle('m', p, 'pass', i % 2 === 0 ? 'failure' : 'success')
  t.equal(health.admit(p), 'pass', '3 of 5 failed, but 5 calls are below min_requests')
  clock.ms += 11_000
  health.settle('m', p, 'pass', 'success')
  t.equal(health.admit(p), 'pass', 'the earlier calls left the window: 0 of 1 failed')
  for (let i = 0; i < 5; i++) health.settle('m', p, 'pass', i % 2 === 0 ? 'failure' : 'success')
  t.equal(health.admit(p), 'skip', '3 of 6 calls in the window failed: ≥ 50 %')
  t.match(health.skipMessage(p), /3 of 6 calls failed in the last 10 s/)
  t.equal(health.admit(provider('other')), 'pass', 'circuits are per provider entry')
})

t.test('only the provider\'s own failures count: client mistakes and cancellations do not', async t => {
  const live = new AbortController().signal
  t.equal(verdictOf(new ProviderError('bad things', 'client', { status: 400 }), live), 'neutral', '4xx')
  t.equal(verdictOf(new ProviderError('no key', 'credentials', { status: 401 }), live), 'neutral', 'a missing or wrong key is a config matter')
  t.equal(verdictOf(new GatewayError(400, 'bad pointer'), live), 'neutral', 'the request could not be encoded')
  t.equal(verdictOf(new ProviderError('slow down', 'rate_limit', { status: 429 }), live), 'failure', '429 counts')
  t.equal(verdictOf(new ProviderError('boom', 'server', { status: 503 }), live), 'failure')
  t.equal(verdictOf(new TypeError('fetch failed'), live), 'failure', 'the transport failed')
  t.equal(verdictOf(new TimeoutError('provider `p`', 10), live), 'failure')
  const left = new AbortController()
  left.abort(new GatewayError(499, 'client closed the connection'))
  t.equal(verdictOf(new Error('aborted'), left.signal), 'neutral', 'the client left')
  const timedOut = new AbortController()
  timedOut.abort(new TimeoutError('variant `v`', 10))
  t.equal(verdictOf(new Error('aborted'), timedOut.signal), 'failure', 'an outer timeout fired while the provider had not answered')
})

// ---------- the per-service file ----------

async function loadWithHealth (health: string): Promise<{ config?: Awaited<ReturnType<typeof loadConfig>>; error?: ConfigError; file: string; dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-circuit-config-'))
  await writeFile(path.join(dir, 'tensorzero.toml'), fakeModel('http://127.0.0.1:9', 'm', [['p', 'ok']]))
  const file = path.join(dir, 'sidecar.toml')
  await writeFile(file, `service = "s"\n${health}`)
  try {
    return { config: await loadConfig({ configFile: path.join(dir, 'tensorzero.toml'), sidecarConfig: file, env: {} }), file, dir }
  } catch (err) {
    if (err instanceof ConfigError) return { error: err, file, dir }
    throw err
  }
}

t.test('[health] is read from the per-service file, on by default, and every bad value is reported at file:line:col', async t => {
  const none = await loadWithHealth('')
  t.same(none.config?.sidecar.health, DEFAULT_HEALTH, 'no [health]: the defaults, enabled')
  t.same(DEFAULT_HEALTH, { enabled: true, consecutiveFailures: 5, errorRate: 0.8, windowMs: 60_000, minRequests: 20, cooldownMs: 30_000, maxCooldownMs: 300_000 })
  const some = await loadWithHealth('[health]\nenabled = false\nconsecutive_failures = 2\ncooldown_ms = 500\n')
  t.match(some.config?.sidecar.health, { enabled: false, consecutiveFailures: 2, cooldownMs: 500, maxCooldownMs: 300_000, errorRate: 0.8 })
  const bad = await loadWithHealth('[health]\nenabled = "yes"\nconsecutive_failures = 0\nerror_rate = 1.5\nwindow_ms = -1\ncooldown_ms = 1000\nmax_cooldown_ms = 10\ncolour = 1\n')
  t.type(bad.error, ConfigError)
  const lines = bad.error?.message.split('\n') ?? []
  const at = (line: number, text: string): void => {
    t.ok(lines.some(l => l.startsWith(`${bad.file}:${line}:`) && l.includes(text)), `line ${line}: ${text}`, { lines })
  }
  at(3, '`health.enabled` must be a boolean')
  at(4, '`health.consecutive_failures` must be ≥ 1, got 0')
  at(5, '`health.error_rate` is a fraction of calls: it must be at most 1, got 1.5')
  at(6, '`health.window_ms` must be greater than 0')
  at(8, '`health.max_cooldown_ms` (10) must be at least `health.cooldown_ms` (1000)')
  at(9, 'unknown key `colour` in `health`')
  t.equal(lines.length, 6, 'exactly these errors')
  for (const r of [none, some, bad]) await rm(r.dir, { recursive: true, force: true })
})

// ---------- a real sidecar against an upstream that dies and recovers ----------

interface Upstream {
  url: string
  /** Calls received per `model` (the provider's model_name). */
  calls: Map<string, number>
  /** How a `model` answers now: `ok`, `fail` (503), `bad-request` (400) or `hold` (kept until `release`). */
  modes: Map<string, 'ok' | 'fail' | 'bad-request' | 'hold'>
  held: number
  release (mode: 'ok' | 'fail'): void
  close (): Promise<void>
}

async function startUpstream (): Promise<Upstream> {
  const calls = new Map<string, number>()
  const modes: Upstream['modes'] = new Map()
  const held: Array<(mode: 'ok' | 'fail') => void> = []
  const reply = (res: http.ServerResponse, model: string, mode: 'ok' | 'fail' | 'bad-request'): void => {
    const status = mode === 'ok' ? 200 : mode === 'fail' ? 503 : 400
    const body = mode === 'ok'
      ? { id: 'c', object: 'chat.completion', created: 1, model, choices: [{ index: 0, message: { role: 'assistant', content: `hi from ${model}` }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1 } }
      : { error: { message: mode === 'fail' ? 'upstream is down' : 'bad request' } }
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  const server = http.createServer((req, res) => {
    let text = ''
    req.on('data', c => { text += c })
    req.on('end', () => {
      const model = String(JSON.parse(text).model)
      calls.set(model, (calls.get(model) ?? 0) + 1)
      const mode = modes.get(model) ?? 'ok'
      if (mode === 'hold') held.push(m => { reply(res, model, m) })
      else reply(res, model, mode)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    modes,
    get held () { return held.length },
    release (mode) { for (const answer of held.splice(0)) answer(mode) },
    close: async () => { server.closeAllConnections(); await new Promise<void>(resolve => server.close(() => resolve())) }
  }
}

let upstream: Upstream
t.before(async () => { upstream = await startUpstream() })
t.teardown(async () => { await upstream.close() })

const calls = (model: string): number => upstream.calls.get(model) ?? 0

async function chat (s: TestSidecar, model: string, target: 'model_name' | 'function_name' = 'model_name'): Promise<{ status: number; body: any; provider: string | null }> {
  const res = await fetch(`${s.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: `tensorzero::${target}::${model}`, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(30_000)
  })
  return { status: res.status, body: await res.json(), provider: res.headers.get('x-tensorzero-provider') }
}

async function until (what: string, condition: () => boolean): Promise<void> {
  const limit = Date.now() + 20_000
  while (!condition()) {
    if (Date.now() > limit) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** A sidecar on `models` with `health` as its [health] table; its metrics, provider attempts and circuit events as the process would have them. */
async function sidecarWith (models: string, health: string): Promise<{ s: TestSidecar; metrics: SidecarMetrics; events: CircuitEvent[]; attempts: AttemptRecord[] }> {
  let metrics: SidecarMetrics | undefined
  const events: CircuitEvent[] = []
  const attempts: AttemptRecord[] = []
  const forward: InferenceObserver = {
    onAttempt: a => { attempts.push(a); metrics?.observer.onAttempt?.(a) },
    onCircuit: e => { events.push(e); metrics?.observer.onCircuit?.(e) }
  }
  const s = await startTestSidecar({ toml: models, sidecarToml: `service = "circuit"\n${health}`, options: { observer: forward } })
  metrics = new SidecarMetrics(s.sidecar.gateway.config, { service: 'circuit', processMetrics: false })
  return { s, metrics, events, attempts }
}

t.test('a dead first provider opens; while open it costs no upstream call and the backup serves; all open fails fast', async t => {
  upstream.modes.set('dead-a', 'fail')
  const models = fakeModel(upstream.url, 'chain', [['dead', 'dead-a'], ['backup', 'backup-a']]) + fakeModel(upstream.url, 'solo', [['only', 'dead-a']])
  const { s, metrics } = await sidecarWith(models, '[health]\nconsecutive_failures = 3\ncooldown_ms = 60000\n')
  t.teardown(async () => { await s.close() })
  for (let i = 0; i < 3; i++) {
    const r = await chat(s, 'chain')
    t.equal(r.provider, 'backup', `request ${i + 1}: the backup serves after the dead provider failed`)
  }
  t.equal(calls('dead-a'), 3, 'three failed calls')
  for (let i = 0; i < 5; i++) t.equal((await chat(s, 'chain')).provider, 'backup')
  t.equal(calls('dead-a'), 3, 'while open, the dead provider gets no call at all')
  t.equal(calls('backup-a'), 8)

  for (let i = 0; i < 3; i++) await chat(s, 'solo')
  const before = calls('dead-a')
  const failed = await chat(s, 'solo')
  t.equal(calls('dead-a'), before, 'a model whose only provider is open makes no call')
  t.equal(failed.status, 500, 'the usual all-providers-failed status (TensorZero: 500 unless rate limited)')
  t.match(failed.body, { error: { message: /^All model providers failed to infer with errors: only: skipped: circuit open \(3 consecutive failures\); next probe in \d+ s$/ } })

  const text = (await metrics.render()).body
  t.match(text, /tz_sidecar_circuit_open\{[^}]*model="chain",provider="dead"[^}]*\} 1/, 'gauge: the open circuit')
  t.match(text, /tz_sidecar_circuit_transitions_total\{[^}]*model="solo",provider="only",to="open"[^}]*\} 1/, 'counter: the state change')
  t.match(text, /tz_sidecar_provider_attempts_total\{[^}]*model="chain",provider="dead",outcome="circuit_open"[^}]*\} 5/, 'each skip is an attempt of outcome circuit_open')
})

/** The value of the counter `name` on the series carrying every one of `labels` (summed), 0 when there is none. */
async function counter (metrics: SidecarMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  return (await metrics.render()).body.split('\n')
    .filter(l => l.startsWith(`${name}{`) && wanted.every(w => l.includes(w)))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
}

t.test('variant retries: a walk whose every provider was skipped by an open circuit is not retried; a real failure is', async t => {
  upstream.modes.set('dead-e', 'fail')
  const retries = 'retries = { num_retries = 3, max_delay_s = 0.01 }'
  const models = fakeModel(upstream.url, 'dead', [['only', 'dead-e']]) + fakeModel(upstream.url, 'spare', [['spare', 'spare-e']]) +
    fakeFunction('retrying', [['main', 'dead', retries]]) +
    fakeFunction('falling', [['first', 'dead', retries], ['second', 'spare']]) + `
[functions.falling.experimentation]
type = "static"
candidate_variants = ["first"]
fallback_variants = ["second"]
`
  const { s, metrics, attempts: recorded } = await sidecarWith(models, '[health]\nconsecutive_failures = 4\ncooldown_ms = 60000\n')
  t.teardown(async () => { await s.close() })
  const attempts = async (fn: string, outcome: string): Promise<number> =>
    await counter(metrics, 'tz_sidecar_provider_attempts_total', { function: fn, provider: 'only', outcome })
  const retried = (fn: string): number => recorded.filter(a => a.functionName === fn && a.kind === 'retry').length

  // A provider that fails for real: the first try and all three retries call it; the fourth failure opens its circuit.
  const real = await chat(s, 'retrying', 'function_name')
  t.ok(real.status >= 500, 'the variant failed')
  t.equal(calls('dead-e'), 4, 'a real failure is retried: one call plus three retries')
  t.equal(await attempts('retrying', '5xx'), 4)
  t.equal(retried('retrying'), 3, 'three retry attempts recorded')

  // Now every provider of the model is open: one skip, no retry, no call.
  const skipped = await chat(s, 'retrying', 'function_name')
  t.equal(skipped.status, real.status, 'the same failure status')
  t.match(skipped.body, { error: { message: /only: skipped: circuit open \(4 consecutive failures\)/ } })
  t.equal(calls('dead-e'), 4, 'the open provider got no call')
  t.equal(await attempts('retrying', 'circuit_open'), 1, 'one walk, one skip: the retries were not taken')
  t.equal(retried('retrying'), 3, 'no retry counted')

  // The function's variant fallback proceeds as usual, at once.
  const fellBack = await chat(s, 'falling', 'function_name')
  t.equal(fellBack.status, 200)
  t.equal(fellBack.provider, 'spare', 'the fallback variant serves')
  t.equal(calls('dead-e'), 4, 'still no call to the open provider')
  t.equal(await attempts('falling', 'circuit_open'), 1, 'the first variant skipped once and was not retried')
  t.equal(retried('falling'), 0, 'no retry attempt recorded')
})

t.test('half-open: exactly one probe while others skip; a failed probe reopens, a successful one closes', async t => {
  upstream.modes.set('dead-b', 'fail')
  const models = fakeModel(upstream.url, 'chain', [['dead', 'dead-b'], ['backup', 'backup-b']])
  const { s, events } = await sidecarWith(models, '[health]\nconsecutive_failures = 2\ncooldown_ms = 50\nmax_cooldown_ms = 100\n')
  t.teardown(async () => { await s.close() })
  for (let i = 0; i < 2; i++) await chat(s, 'chain')
  t.equal(calls('dead-b'), 2)

  // Once the cool-down is over, the next request probes; the upstream holds it, so every other request meets the probe in flight.
  upstream.modes.set('dead-b', 'hold')
  await new Promise(resolve => setTimeout(resolve, 150))
  const probe = chat(s, 'chain')
  await until('the probe to reach the upstream', () => upstream.held === 1)
  const others = await Promise.all(Array.from({ length: 8 }, async () => await chat(s, 'chain')))
  t.ok(others.every(r => r.provider === 'backup'), 'the others are served by the backup')
  t.equal(calls('dead-b'), 3, 'exactly one probe reached the dead provider')
  upstream.release('fail')
  t.equal((await probe).provider, 'backup', 'the failed probe falls back like any failure')

  t.same(events.map(e => e.to), ['open', 'half_open', 'open'], 'the failed probe reopened the circuit')
  t.equal(events[2].cooldownMs, 100, 'with a doubled cool-down')

  upstream.modes.set('dead-b', 'ok')
  await new Promise(resolve => setTimeout(resolve, 250))
  t.equal((await chat(s, 'chain')).provider, 'dead', 'the recovered provider answers the next probe')
  t.equal((await chat(s, 'chain')).provider, 'dead', 'closed: traffic is back')
  t.same(events.map(e => e.to), ['open', 'half_open', 'open', 'half_open', 'closed'])
})

t.test('client mistakes do not open a circuit; `enabled = false` never skips', async t => {
  upstream.modes.set('picky', 'bad-request')
  upstream.modes.set('dead-c', 'fail')
  const models = fakeModel(upstream.url, 'picky', [['p', 'picky']]) + fakeModel(upstream.url, 'chain', [['dead', 'dead-c'], ['backup', 'backup-c']])
  const { s: on } = await sidecarWith(models, '[health]\nconsecutive_failures = 2\n')
  t.teardown(async () => { await on.close() })
  // The provider's 400 is answered as TensorZero does (all providers failed: 500); it says nothing about its health.
  for (let i = 0; i < 4; i++) t.match((await chat(on, 'picky')).body, { error: { message: /p: .*bad request/ } })
  t.equal(calls('picky'), 4, 'every request still reached the provider: its 4xx is the request\'s fault')

  const { s: off } = await sidecarWith(models, '[health]\nenabled = false\nconsecutive_failures = 2\n')
  t.teardown(async () => { await off.close() })
  for (let i = 0; i < 5; i++) await chat(off, 'chain')
  t.equal(calls('dead-c'), 5, 'disabled: the dead provider is called every time')
})

t.test('a real tz-sidecar process logs each state change', async t => {
  upstream.modes.set('dead-d', 'fail')
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-circuit-cli-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  await writeFile(path.join(dir, 'tensorzero.toml'), fakeModel(upstream.url, 'chain', [['dead', 'dead-d'], ['backup', 'backup-d']]))
  await writeFile(path.join(dir, 'sidecar.toml'), 'service = "circuit"\n[health]\nconsecutive_failures = 2\ncooldown_ms = 60000\n')
  const proc = await startCli(['--config-file', path.join(dir, 'tensorzero.toml'), '--sidecar-config', path.join(dir, 'sidecar.toml')])
  t.teardown(async () => { proc.child.kill('SIGKILL'); await proc.exited })
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${proc.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tensorzero::model_name::chain', messages: [{ role: 'user', content: 'hi' }] }),
      signal: AbortSignal.timeout(30_000)
    })
    t.equal(res.headers.get('x-tensorzero-provider'), 'backup')
    await res.arrayBuffer()
  }
  t.equal(calls('dead-d'), 2, 'the third request skipped the dead provider')
  await until('the circuit log line', () => proc.output().includes('circuit open: provider skipped'))
  const line = JSON.parse(proc.output().split('\n').find(l => l.includes('circuit open: provider skipped')) as string)
  t.match(line, { level: 'warn', model: 'chain', provider: 'dead', from: 'closed', to: 'open', reason: '2 consecutive failures', cooldown_ms: 60000 })
})
