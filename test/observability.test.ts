// The `tz-sidecar` process as operators see it, end to end: the real command (`sidecar/cli.ts serve`) runs against a
// fake OpenAI upstream with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a loopback OTLP/HTTP receiver, serves a little
// traffic from the real `openai` client (successes, streams, a provider fallback, a variant fallback, a retry,
// failures), is scraped by Debian's `prometheus`, then is stopped with SIGTERM. What it printed, what Prometheus
// answers to the PromQL of PMOVES's alerts and dashboards (seeds/003 §4.2/§4.4) and the spans it exported are checked.
// Nothing here is timed: waits are polls bounded by tap's timeout.
import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import OpenAI from 'openai'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import { freePort } from './helpers/process.ts'
import { startOtlpReceiver, type OtlpSpan } from './helpers/otlp.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'

const CLI = fileURLToPath(new URL('../sidecar/cli.ts', import.meta.url))

// Every credential value the test config and environment hold: none may appear in any output.
const SECRETS = {
  provider: 'sk-test-provider-key-3f9a7c21',
  leaky: 'sk-leaky-key-77aa11bb',
  sidecar: 'sidecar-client-key-5d2e90',
  clickhouse: 'ch-password-4e8f6a',
  dynamic: 'dyn-cred-value-9c1b44'
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** A provider that answers 401 quoting the Authorization header it got, as some OpenAI-compatible servers do. */
async function startAuthEcho (): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const body = JSON.stringify({ error: { message: `Incorrect API key provided: ${req.headers.authorization ?? ''}` } })
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(body)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: async () => { server.closeAllConnections(); await new Promise<void>(resolve => server.close(() => resolve())) }
  }
}

function toml (fake: string, echo: string): string {
  const provider = (model: string, key = 'env::FAKE_PROVIDER_KEY', base = fake): string =>
    `{ type = "openai", model_name = "${model}", api_base = "${base}/v1", api_key_location = "${key}" }`
  return `
[models.fast]
routing = ["fake"]
providers.fake = ${provider('ok')}

[models.flaky]
routing = ["broken", "backup"]
providers.broken = ${provider('error-500')}
providers.backup = ${provider('ok')}

[models.leaky]
routing = ["echo", "backup"]
providers.echo = ${provider('ok', 'env::LEAKY_KEY', echo)}
providers.backup = ${provider('ok')}

[models.retrying]
routing = ["once"]
providers.once = ${provider('fail-first-1')}

[models.down]
routing = ["dead"]
providers.dead = ${provider('error-500')}

[models.dyn]
routing = ["team"]
providers.team = ${provider('ok', 'dynamic::team_key')}

[embedding_models.embed]
routing = ["fake"]
providers.fake = ${provider('embed')}

[functions.chat_fn]
type = "chat"
variants.main = { type = "chat_completion", model = "fast" }

[functions.flaky_fn]
type = "chat"
variants.main = { type = "chat_completion", model = "flaky" }

[functions.leaky_fn]
type = "chat"
variants.main = { type = "chat_completion", model = "leaky" }

[functions.retry_fn]
type = "chat"
variants.main = { type = "chat_completion", model = "retrying", retries = { num_retries = 1, max_delay_s = 0.01 } }

[functions.switch_fn]
type = "chat"
variants.first = { type = "chat_completion", model = "down", weight = 1 }
variants.second = { type = "chat_completion", model = "fast" }

[functions.down_fn]
type = "chat"
variants.main = { type = "chat_completion", model = "down" }

[metrics.thumbs_up]
type = "boolean"
optimize = "max"
level = "inference"
`
}

const SIDECAR_TOML = `
service = "obs-test"
unmatched = "reject"
[routes]
"gpt-4o-mini" = "tensorzero::function_name::chat_fn"
`

interface Running { proc: ChildProcess; url: string; stdout: string[]; stderr: string[]; exited: Promise<number | null> }

async function startSidecarProcess (dir: string, env: NodeJS.ProcessEnv): Promise<Running> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--config-file', path.join(dir, 'tensorzero.toml'),
    '--sidecar-config', path.join(dir, 'sidecar.toml'), '--bind-address', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const stdout: string[] = []
  const stderr: string[] = []
  let buffered = ''
  let resolveUrl: (url: string) => void = () => {}
  let rejectUrl: (err: Error) => void = () => {}
  const listening = new Promise<string>((resolve, reject) => { resolveUrl = resolve; rejectUrl = reject })
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      stdout.push(line)
      if (line.includes('"tz-sidecar listening"')) resolveUrl(`http://${JSON.parse(line).address as string}`)
    }
  })
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr.push(chunk) })
  const exited = new Promise<number | null>(resolve => proc.once('exit', code => {
    if (buffered !== '') stdout.push(buffered)
    rejectUrl(new Error(`sidecar exited (${String(code)}): ${stderr.join('')}`))
    resolve(code)
  }))
  return { proc, url: await listening, stdout, stderr, exited }
}

function onPath (bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0
}

async function startPrometheus (dir: string, target: string): Promise<{ url: string; proc: ChildProcess; exited: Promise<unknown> } | undefined> {
  if (!onPath('prometheus')) return undefined
  const port = await freePort()
  const config = path.join(dir, 'prometheus.yml')
  await writeFile(config, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: tz-sidecar\n    static_configs:\n      - targets: ['${new URL(target).host}']\n`)
  const proc = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'prom-data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: 'ignore' })
  const exited = new Promise(resolve => proc.once('exit', resolve))
  const url = `http://127.0.0.1:${port}`
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then(r => r.ok, () => false)
    if (ready) return { url, proc, exited }
    if (proc.exitCode !== null) throw new Error('prometheus exited at start')
    await sleep(200)
  }
}

interface PromSample { metric: Record<string, string>; value: [number, string] }

async function promQuery (url: string, query: string): Promise<PromSample[]> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`)
  const body = await res.json() as { status: string; data: { result: PromSample[] } }
  if (body.status !== 'success') throw new Error(`query failed: ${query}`)
  return body.data.result
}

const messages = [{ role: 'user' as const, content: 'hi' }]

let dir: string
let fake: FakeOpenAI
let echo: Awaited<ReturnType<typeof startAuthEcho>>
let otlp: Awaited<ReturnType<typeof startOtlpReceiver>>
let sidecar: Running
let prometheus: Awaited<ReturnType<typeof startPrometheus>>
let client: OpenAI

t.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tz-obs-'))
  fake = await startFakeOpenAI()
  echo = await startAuthEcho()
  otlp = await startOtlpReceiver()
  await writeFile(path.join(dir, 'tensorzero.toml'), toml(fake.url, echo.url))
  await writeFile(path.join(dir, 'sidecar.toml'), SIDECAR_TOML)
  sidecar = await startSidecarProcess(dir, {
    PATH: process.env.PATH,
    LOG_LEVEL: 'debug',
    FAKE_PROVIDER_KEY: SECRETS.provider,
    LEAKY_KEY: SECRETS.leaky,
    SIDECAR_API_KEY: SECRETS.sidecar,
    TENSORZERO_CLICKHOUSE_URL: `http://tz:${SECRETS.clickhouse}@127.0.0.1:9/tensorzero`,
    SIDECAR_SPOOL_DIR: path.join(dir, 'spool'),
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    SIDECAR_ENVIRONMENT: 'test'
  })
  client = new OpenAI({ baseURL: `${sidecar.url}/v1`, apiKey: SECRETS.sidecar, maxRetries: 0 })
})

t.teardown(async () => {
  if (sidecar?.proc.exitCode === null) { sidecar.proc.kill('SIGKILL'); await sidecar.exited }
  if (prometheus !== undefined && prometheus.proc.exitCode === null) { prometheus.proc.kill('SIGTERM'); await prometheus.exited }
  await otlp?.close()
  await echo?.close()
  await fake?.close()
  await rm(dir, { recursive: true, force: true })
})

const TRACE_ID = randomBytes(16).toString('hex')
const PARENT_SPAN_ID = randomBytes(8).toString('hex')
let traced: { id: string; episode_id: string }
let streamedText = ''

/** Resolves when `call` fails with HTTP `status`; throws otherwise. */
async function failsWith (call: Promise<unknown>, status: number): Promise<void> {
  const err = await call.then(() => undefined, (e: unknown) => e) as { status?: number } | undefined
  if (err?.status !== status) throw new Error(`expected HTTP ${status}, got ${String(err?.status ?? 'success')}`)
}

/** One round of ordinary traffic: successes (one streamed) and a failure. */
async function round (): Promise<void> {
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages })
  await client.chat.completions.create({ model: 'tensorzero::model_name::fast', messages })
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true })
  for await (const chunk of stream) streamedText += chunk.choices[0]?.delta?.content ?? ''
  await failsWith(client.chat.completions.create({ model: 'tensorzero::function_name::down_fn', messages }), 502)
}

t.test('traffic: successes, streams, fallbacks, a retry and failures', async t => {
  // Continues the caller's trace, through the `/openai/v1` prefix (TensorZero's own path).
  const openaiPrefixed = new OpenAI({ baseURL: `${sidecar.url}/openai/v1`, apiKey: SECRETS.sidecar, maxRetries: 0 })
  const answer = await openaiPrefixed.chat.completions.create({ model: 'gpt-4o-mini', messages }, {
    headers: { traceparent: `00-${TRACE_ID}-${PARENT_SPAN_ID}-01` }
  }) as unknown as { id: string; episode_id: string }
  traced = answer
  await round()
  t.equal(streamedText, 'Hello from the fake upstream', 'the stream went through')
  await client.chat.completions.create({ model: 'tensorzero::function_name::flaky_fn', messages })
  await client.chat.completions.create({ model: 'tensorzero::function_name::leaky_fn', messages })
  await client.chat.completions.create({ model: 'tensorzero::function_name::switch_fn', messages })
  await client.chat.completions.create({ model: 'tensorzero::function_name::retry_fn', messages })
  await client.chat.completions.create({ model: 'tensorzero::model_name::dyn', messages, 'tensorzero::credentials': { team_key: SECRETS.dynamic } } as never)
  await client.embeddings.create({ model: 'tensorzero::embedding_model_name::embed', input: 'hello' })
  await failsWith(client.chat.completions.create({ model: 'made-up-model', messages }), 404)
  const stranger = new OpenAI({ baseURL: `${sidecar.url}/v1`, apiKey: 'not-the-sidecar-key', maxRetries: 0 })
  await failsWith(stranger.chat.completions.create({ model: 'gpt-4o-mini', messages }), 401)
  t.equal(fake.requestsFor('error-500').length, 3, 'the failing providers were tried (down, flaky, switch)')
})

const PROMETHEUS_MISSING = onPath('prometheus') ? false : 'Debian `prometheus` is not installed (apt-get install -y prometheus); the exposition is checked below and in metrics.test.ts'

t.test('Prometheus scrapes the sidecar; the PromQL of PMOVES alerts and dashboards returns series by model', { skip: PROMETHEUS_MISSING }, async t => {
  prometheus = await startPrometheus(dir, sidecar.url)
  if (prometheus === undefined) throw new Error('prometheus is not on PATH')
  const prom = prometheus.url
  const p95 = 'histogram_quantile(0.95, rate(tensorzero_request_duration_seconds_bucket[5m]))'
  const requestRate = 'rate(tensorzero_request_count[5m])'
  const errorRate = 'rate(tensorzero_error_count[5m]) / rate(tensorzero_request_count[5m])'
  // rate() needs two scrapes with traffic between them: send a round, look, until every query has its series.
  let results: Record<string, PromSample[]> = {}
  for (let i = 0; i < 60; i++) {
    await round()
    await sleep(500)
    results = { p95: await promQuery(prom, p95), rate: await promQuery(prom, requestRate), errors: await promQuery(prom, errorRate), up: await promQuery(prom, 'up{job="tz-sidecar"}') }
    const fastRate = results.rate.find(s => s.metric.model === 'fast' && s.metric.function === 'chat_fn')
    const downErrors = results.errors.find(s => s.metric.model === 'down')
    const fastP95 = results.p95.find(s => s.metric.model === 'fast' && s.metric.function === 'chat_fn' && s.metric.status_class === '2xx' && Number.isFinite(Number(s.value[1])))
    if (fastRate !== undefined && Number(fastRate.value[1]) > 0 && downErrors !== undefined && !Number.isNaN(Number(downErrors.value[1])) && fastP95 !== undefined) break
  }
  t.same(results.up.map(s => s.value[1]), ['1'], 'TensorZeroDown: up{job="tz-sidecar"} is 1')
  const p95Fast = results.p95.find(s => s.metric.model === 'fast' && s.metric.function === 'chat_fn' && s.metric.status_class === '2xx' && Number.isFinite(Number(s.value[1])))
  t.ok(p95Fast, 'p95 latency by model has a finite series for model="fast"')
  t.match(p95Fast?.metric, { service: 'obs-test', route: '/v1/chat/completions', function: 'chat_fn', model: 'fast', job: 'tz-sidecar' }, 'with config names as labels')
  t.ok(Number(p95Fast?.value[1]) < 300, 'p95 is inside the histogram (buckets reach 300 s)')
  const rate = results.rate.find(s => s.metric.model === 'fast' && s.metric.function === 'chat_fn')
  t.ok(Number(rate?.value[1]) > 0, 'request rate by model: model="fast" has a positive rate')
  t.ok(results.rate.some(s => s.metric.model === 'fast' && s.metric.function === 'tensorzero::default'), 'a model_name target is counted under tensorzero::default')
  const down = results.errors.find(s => s.metric.model === 'down' && s.metric.function === 'down_fn')
  t.equal(Number(down?.value[1]), 1, 'error rate: every request to model="down" failed (ratio 1)')
  const labels = new Set(results.rate.flatMap(s => Object.keys(s.metric)))
  t.same([...labels].sort(), ['function', 'instance', 'job', 'model', 'route', 'service'], 'request rate carries exactly these labels')
  const models = new Set(results.rate.map(s => s.metric.model))
  t.notOk(models.has('made-up-model'), 'a model name the client made up is never a label value')
})

let exposition = ''

t.test('metrics endpoint of the process: TensorZero names, fallbacks, retries, attempts by outcome', async t => {
  const text = await (await fetch(`${sidecar.url}/metrics`)).text()
  exposition = text
  for (const name of ['tensorzero_requests_total', 'tensorzero_inferences_total', 'tensorzero_input_tokens_total', 'tensorzero_output_tokens_total',
    'tensorzero_request_duration_seconds_bucket', 'tensorzero_request_count', 'tensorzero_token_usage', 'tensorzero_error_count',
    'tz_sidecar_time_to_first_token_seconds_bucket', 'tz_sidecar_in_flight_requests', 'tz_sidecar_provider_attempts_total',
    'tz_sidecar_fallbacks_total', 'tz_sidecar_retries_total', 'process_cpu_user_seconds_total']) {
    t.match(text, new RegExp(`^${name}[{ ]`, 'm'), `${name} is served`)
  }
  t.match(text, /^tz_sidecar_fallbacks_total\{kind="provider",function="flaky_fn",from="flaky\/broken",to="flaky\/backup",service="obs-test"\} 1$/m, 'provider fallback counted')
  t.match(text, /^tz_sidecar_fallbacks_total\{kind="variant",function="switch_fn",from="first",to="second",service="obs-test"\} 1$/m, 'variant fallback counted')
  t.match(text, /^tz_sidecar_retries_total\{function="retry_fn",variant="main",model="retrying",service="obs-test"\} 1$/m, 'retry counted')
  t.match(text, /^tz_sidecar_provider_attempts_total\{function="leaky_fn",variant="main",model="leaky",provider="echo",outcome="credentials",service="obs-test"\} 1$/m, 'a 401 attempt has outcome credentials')
  t.match(text, /^tensorzero_requests_total\{endpoint="embeddings",model_name="embed",service="obs-test"\} 1$/m, 'embeddings counted under TensorZero\'s names')
  t.match(text, /^tensorzero_client_error_count\{route="\/v1\/chat\/completions",function="none",model="none",status="404",service="obs-test"\} \d+$/m, 'the made-up model is a client error')
  t.match(text, /^tensorzero_client_error_count\{route="\/v1\/chat\/completions",function="none",model="none",status="401",service="obs-test"\} 1$/m, 'the wrong sidecar key is a client error')
  t.notMatch(text, /^tensorzero_error_count\{[^}]*model="none"/m, 'neither is a failed inference')
})

t.test('stopped with SIGTERM: spans exported, logs complete', async t => {
  sidecar.proc.kill('SIGTERM')
  t.equal(await sidecar.exited, 0, 'exits 0 after draining')
  t.equal(sidecar.stderr.join(''), '', 'nothing on stderr')
})

t.test('OTLP/HTTP receiver gets the span tree of a request, continuing the incoming traceparent', async t => {
  const spans = otlp.spans.filter(s => s.traceId === TRACE_ID)
  const byName = (name: string): OtlpSpan | undefined => spans.find(s => s.name === name)
  const server = byName('POST /openai/v1/chat/completions')
  const fn = byName('function_inference')
  const variant = byName('variant_inference')
  const model = byName('model_inference')
  const provider = byName('model_provider_inference')
  t.ok(server && fn && variant && model && provider, `all five spans arrived (got ${spans.map(s => s.name).join(', ')})`)
  t.equal(server?.parentSpanId, PARENT_SPAN_ID, 'the server span is a child of the caller\'s span')
  t.equal(server?.kind, 2, 'server span kind SERVER')
  t.equal(fn?.parentSpanId, server?.spanId, 'function_inference under the server span')
  t.equal(variant?.parentSpanId, fn?.spanId, 'variant_inference under function_inference')
  t.equal(model?.parentSpanId, variant?.spanId, 'model_inference under variant_inference')
  t.equal(provider?.parentSpanId, model?.spanId, 'model_provider_inference under model_inference')
  t.match(server?.attributes, { 'http.response.status_code': 200, inference_id: traced.id, episode_id: traced.episode_id, function_name: 'chat_fn' }, 'server span names the inference')
  t.match(fn?.attributes, { 'gen_ai.operation.name': 'chat', 'gen_ai.conversation.id': traced.episode_id, function_name: 'chat_fn', inference_id: traced.id }, 'episode id is gen_ai.conversation.id')
  t.match(variant?.attributes, { function_name: 'chat_fn', variant_name: 'main' })
  t.match(model?.attributes, { model_name: 'fast', 'gen_ai.operation.name': 'chat' })
  t.match(provider?.attributes, {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'ok',
    'gen_ai.usage.input_tokens': 7,
    'gen_ai.usage.output_tokens': 5,
    model_provider_name: 'fake'
  }, 'GenAI attributes on the provider span')
  const upstream = fake.requests.find(r => String(r.headers.traceparent ?? '').includes(TRACE_ID))
  t.equal(upstream?.headers.traceparent, `00-${TRACE_ID}-${provider?.spanId ?? ''}-01`, 'the provider got traceparent naming the provider span')

  const streamed = otlp.spans.filter(s => s.name === 'model_provider_inference' && s.attributes.stream === true && s.attributes['gen_ai.usage.output_tokens'] === 5)
  t.ok(streamed.length > 0, 'a streamed provider span ends with the usage of the whole stream')
  const failed = otlp.spans.find(s => s.name === 'model_provider_inference' && s.attributes.model_provider_name === 'dead')
  t.equal(failed?.status?.code, 2, 'a failed provider attempt is a span with status ERROR')
  t.equal(failed?.attributes['error.type'], 'server', 'and its error class')
})

t.test('logs: one JSON line per request with the fields Loki and operators use', async t => {
  const lines = sidecar.stdout.filter(l => l.trim() !== '').map(l => JSON.parse(l) as Record<string, any>)
  t.ok(lines.length > 10, 'every stdout line parses as JSON')
  for (const line of lines) {
    t.match(line, { time: String, level: String, service: 'obs-test', tier: 'app', environment: 'test', msg: String }, `static fields on "${String(line.msg)}"`)
  }
  t.ok(lines.some(l => l.msg === 'config loaded' && l.functions.includes('chat_fn')), 'a config line at start-up')
  t.ok(lines.some(l => l.msg === 'tz-sidecar listening'), 'a listening line')
  t.ok(lines.some(l => l.msg === 'tracing enabled'), 'a tracing line')

  const requestLines = lines.filter(l => l.msg === 'request')
  const tracedLine = requestLines.find(l => l.inference_id === traced.id)
  t.match(tracedLine, {
    level: 'info', route: '/v1/chat/completions', method: 'POST', status: 200, latency_ms: Number,
    inference_id: traced.id, episode_id: traced.episode_id, function: 'chat_fn', variant: 'main', model: 'fast', provider: 'fake',
    attempts: 1, tokens: { input: 7, output: 5 }, trace_id: TRACE_ID
  }, 'the request line links inference id, episode id and trace id')
  t.ok(requestLines.some(l => l.status === 200 && typeof l.ttft_ms === 'number' && l.function === 'chat_fn'), 'streams log their time to first token')
  t.match(requestLines.find(l => l.function === 'down_fn'), { level: 'error', status: 502, error_class: 'server', model: 'down', attempts: 1 }, 'a failed request: error level and class')
  t.match(requestLines.find(l => l.status === 404), { level: 'info', error_class: 'client' }, 'a client error stays at info')
  t.match(requestLines.find(l => l.function === 'flaky_fn'), { status: 200, provider: 'backup', attempts: 2 }, 'a request served after a fallback counts its attempts')
  t.ok(requestLines.some(l => l.route === '/metrics' && l.level === 'debug'), 'scrapes are logged at debug (LOG_LEVEL=debug honoured)')

  const warnings = lines.filter(l => l.level === 'warn')
  t.match(warnings.find(l => l.msg === 'provider fallback' && l.function === 'flaky_fn'), { from: { model: 'flaky', provider: 'broken' }, to: { provider: 'backup' }, error_class: 'server' }, 'provider fallback warning')
  t.match(warnings.find(l => l.msg === 'variant fallback'), { function: 'switch_fn', from: { variant: 'first' }, to: { variant: 'second' } }, 'variant fallback warning')
  t.match(warnings.find(l => l.msg === 'retry'), { function: 'retry_fn', from: { variant: 'main' } }, 'retry warning')
  const leak = warnings.find(l => l.msg === 'provider fallback' && l.function === 'leaky_fn')
  t.match(leak?.error, /Incorrect API key provided: Bearer \[redacted\]/, 'a provider error quoting the key is logged with the key redacted')
})

t.test('one service name: the sidecar file\'s `service` labels metrics, log lines and traces (service.name)', async t => {
  t.ok(otlp.serviceNames.length > 0, 'spans were exported')
  t.same([...new Set(otlp.serviceNames)], ['obs-test'], 'every exported resource has service.name = the sidecar\'s service')
  t.match(exposition, /^tensorzero_request_count\{[^}]*service="obs-test"\}/m, 'metrics carry service="obs-test"')
  const lines = sidecar.stdout.filter(l => l.trim() !== '').map(l => JSON.parse(l) as { service?: string })
  t.same([...new Set(lines.map(l => l.service))], ['obs-test'], 'every log line carries service "obs-test"')
})

t.test('no secret from the test config or environment appears in any output', async t => {
  const outputs: Record<string, string> = {
    stdout: sidecar.stdout.join('\n'),
    stderr: sidecar.stderr.join(''),
    metrics: exposition,
    otlp: otlp.raw.join('\n')
  }
  for (const [where, text] of Object.entries(outputs)) {
    for (const [name, secret] of Object.entries(SECRETS)) {
      t.notOk(text.includes(secret), `${name} secret absent from ${where}`)
    }
  }
  t.ok(otlp.raw.join('').includes('[redacted]'), 'the span of the leaky provider was exported with the key scrubbed')
})

t.test('OTEL_SERVICE_NAME overrides the traces\' service.name; metrics and logs keep the sidecar\'s service', async t => {
  const renamed = await startSidecarProcess(dir, {
    PATH: process.env.PATH,
    FAKE_PROVIDER_KEY: SECRETS.provider,
    LEAKY_KEY: SECRETS.leaky,
    SIDECAR_SPOOL_DIR: path.join(dir, 'spool-renamed'),
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    OTEL_SERVICE_NAME: 'obs-traces'
  })
  t.teardown(async () => { if (renamed.proc.exitCode === null) { renamed.proc.kill('SIGKILL'); await renamed.exited } })
  const before = otlp.serviceNames.length
  const renamedClient = new OpenAI({ baseURL: `${renamed.url}/v1`, apiKey: 'unused', maxRetries: 0 })
  await renamedClient.chat.completions.create({ model: 'gpt-4o-mini', messages })
  renamed.proc.kill('SIGTERM')
  t.equal(await renamed.exited, 0, 'drained and exported its spans')
  t.same([...new Set(otlp.serviceNames.slice(before))], ['obs-traces'], 'its spans carry service.name = OTEL_SERVICE_NAME')
  t.match(renamed.stdout.find(l => l.includes('"msg":"request"')), /"service":"obs-test"/, 'its log lines still say the sidecar\'s service')
})
