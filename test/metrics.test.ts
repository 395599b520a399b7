// Metrics, logs and spans in-process, on a Sidecar wired as `tz-sidecar serve` wires it: the exposition text of
// GET /metrics (names, labels, buckets, what each counter counts), the closed label sets (client-chosen names never
// become series), the spool source, feedback, the retry/fallback derivation, the logger's level and redaction, and
// spans staying no-ops (no `traceparent` to providers) while no OpenTelemetry SDK is registered.
import t from 'tap'
import { Writable } from 'node:stream'
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { SidecarMetrics, LATENCY_BUCKETS, sinkSpoolStats } from '../sidecar/ops/metrics.ts'
import type { SinkStatus } from '../src/store/writer.ts'
import type { AttemptRecord } from '../src/core/records.ts'
import { createLogger, requestLogListener } from '../sidecar/ops/logger.ts'
import { secretValues } from '../src/providers/secrets.ts'
import { RequestLog } from '../sidecar/ops/request-log.ts'
import { loadConfig } from '../src/config/load.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'

const PROVIDER_KEY = 'sk-metrics-test-key-a1b2c3'

function toml (fake: string): string {
  const provider = (model: string): string =>
    `{ type = "openai", model_name = "${model}", api_base = "${fake}/v1", api_key_location = "env::METRICS_TEST_KEY" }`
  return `
[models.fast]
routing = ["fake"]
providers.fake = ${provider('ok')}

[models.hang]
routing = ["stuck"]
providers.stuck = ${provider('hang')}

[models.down]
routing = ["broken"]
providers.broken = ${provider('error-500')}

[models.headers]
routing = ["echo"]
providers.echo = ${provider('headers')}

[functions.chat_fn]
type = "chat"
variants.main = { type = "chat_completion", model = "fast" }

[metrics.thumbs_up]
type = "boolean"
optimize = "max"
level = "inference"
`
}

const SIDECAR_TOML = (fake: string): string => `
service = "metrics-test"
unmatched = "passthrough"
passthrough_upstream = "${fake}"
[routes]
"gpt-4o-mini" = "tensorzero::function_name::chat_fn"
"claude-*" = { model = "fast" }
`

let fake: FakeOpenAI
let sidecar: TestSidecar
let metrics: SidecarMetrics
let client: OpenAI
const logLines: Array<Record<string, any>> = []

t.before(async () => {
  fake = await startFakeOpenAI()
  let log: ((l: RequestLog) => void) | undefined
  // The metrics need the loaded config, which the helper loads: bind them once it is there.
  sidecar = await startTestSidecar({
    toml: toml(fake.url),
    sidecarToml: SIDECAR_TOML(fake.url),
    // No OpenAI key: the shorthand `openai::…` models below must fail at once, never reach the network.
    env: { METRICS_TEST_KEY: PROVIDER_KEY, OPENAI_API_KEY: '' },
    options: {
      observer: {
        onAttempt: a => metrics.observer.onAttempt?.(a),
        onInference: r => metrics.observer.onInference?.(r),
        onFeedback: f => metrics.observer.onFeedback?.(f)
      },
      onRequest: l => { metrics.onRequest(l); log?.(l) },
      metrics: async () => await metrics.render()
    }
  })
  const config = sidecar.sidecar.gateway.config
  metrics = new SidecarMetrics(config, { service: config.sidecar.service })
  metrics.setInFlightSource(() => sidecar.sidecar.inFlightRequests)
  const destination = new Writable({ write (chunk, _enc, done) { logLines.push(JSON.parse(String(chunk))); done() } })
  const logger = createLogger({ service: 'metrics-test', level: 'info', destination, env: {}, secrets: secretValues(config, { METRICS_TEST_KEY: PROVIDER_KEY }) })
  log = requestLogListener(logger)
  client = new OpenAI({ baseURL: sidecar.baseURL, apiKey: 'x', maxRetries: 0 })
})

t.teardown(async () => {
  await sidecar?.close()
  await fake?.close()
})

const messages = [{ role: 'user' as const, content: 'hi' }]

async function scrape (): Promise<string> {
  const res = await fetch(`${sidecar.url}/metrics`)
  return await res.text()
}

/** Series (sample lines) of the sidecar's own metrics; process metrics are left out (GC kinds may appear at any time). */
function ownSeries (text: string): string[] {
  return text.split('\n').filter(l => /^(tensorzero_|tz_sidecar_)/.test(l)).map(l => l.slice(0, l.lastIndexOf(' ')))
}

function value (text: string, series: string): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(series + ' '))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

t.test('exposition: TensorZero and PMOVES names with config labels, buckets up to 300 s, tokens', async t => {
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages })
  await client.chat.completions.create({ model: 'claude-3-haiku', messages })
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } })
  for await (const _ of stream) { /* drain */ }
  const text = await scrape()
  t.equal(value(text, 'tensorzero_requests_total{endpoint="inference",function_name="chat_fn",service="metrics-test"}'), 2, 'TensorZero requests by function')
  t.equal(value(text, 'tensorzero_inferences_total{endpoint="inference",function_name="tensorzero::default",model_name="fast",service="metrics-test"}'), 1, 'a model route counts under tensorzero::default with model_name')
  t.equal(value(text, 'tensorzero_input_tokens_total{service="metrics-test"}'), 21, 'input tokens: 3 × 7')
  t.equal(value(text, 'tensorzero_output_tokens_total{service="metrics-test"}'), 15, 'output tokens: 3 × 5')
  t.equal(value(text, 'tensorzero_request_count{route="/v1/chat/completions",function="chat_fn",model="fast",service="metrics-test"}'), 2, 'PMOVES request count by model')
  t.equal(value(text, 'tensorzero_token_usage{route="/v1/chat/completions",function="chat_fn",model="fast",type="output",service="metrics-test"}'), 10, 'PMOVES token usage by model and type')
  t.match(text, /^# TYPE tensorzero_request_duration_seconds histogram$/m, 'request duration is a histogram')
  for (const le of LATENCY_BUCKETS) {
    t.match(text, new RegExp(`^tensorzero_request_duration_seconds_bucket\\{le="${le}",service="metrics-test",route="/v1/chat/completions",function="chat_fn",model="fast",status_class="2xx"\\} \\d+$`, 'm'), `bucket le=${le}`)
  }
  t.equal(LATENCY_BUCKETS[0], 0.005, 'buckets start at 5 ms')
  t.equal(LATENCY_BUCKETS.at(-1), 300, 'and reach 5 minutes')
  t.equal(value(text, 'tz_sidecar_time_to_first_token_seconds_count{service="metrics-test",function="chat_fn",variant="main",model="fast",provider="fake"}'), 1, 'the stream observed its time to first token')
  t.equal(value(text, 'tz_sidecar_inferences_total{function="chat_fn",variant="main",model="fast",provider="fake",stream="true",service="metrics-test"}'), 1, 'inferences by what served them')
  t.match(text, /^process_cpu_user_seconds_total\{service="metrics-test"\} /m, 'default process metrics, with the service label')
  t.notMatch(text, /tz_sidecar_spool_rows/, 'no spool metrics before a spool source is set')
})

t.test('in-flight gauge counts a request until it ends; a client that leaves is not an error', async t => {
  const controller = new AbortController()
  const hanging = client.chat.completions.create({ model: 'tensorzero::model_name::hang', messages }, { signal: controller.signal }).catch(err => err)
  // Wait until the sidecar has the request (the provider got it), then scrape: this scrape plus the hanging request.
  while (fake.requestsFor('hang').length === 0) await new Promise(resolve => setImmediate(resolve))
  t.equal(value(await scrape(), 'tz_sidecar_in_flight_requests{service="metrics-test"}'), 2, 'the hanging request and the scrape itself')
  controller.abort()
  await hanging
  while (sidecar.sidecar.inFlightRequests > 0) await new Promise(resolve => setImmediate(resolve))
  const text = await scrape()
  t.equal(value(text, 'tensorzero_request_count{route="/v1/chat/completions",function="tensorzero::default",model="hang",service="metrics-test"}'), 1, 'the request is counted')
  t.equal(value(text, 'tensorzero_error_count{route="/v1/chat/completions",function="tensorzero::default",model="hang",service="metrics-test"}'), undefined, 'but a client going away is not an error')
  t.equal(value(text, 'tz_sidecar_http_requests_total{route="/v1/chat/completions",method="POST",status_class="4xx",service="metrics-test"}'), 1, 'it ends as a 499')
})

t.test('client mistakes (typo in model, bad body) count in tensorzero_client_error_count, not in tensorzero_error_count; a provider failure is the other way round', async t => {
  const series = (name: string, labels: string): string => `${name}{route="/v1/chat/completions",${labels},service="metrics-test"}`
  const errors = (text: string): Array<number | undefined> => [
    value(text, series('tensorzero_client_error_count', 'function="none",model="none",status="404"')),
    value(text, series('tensorzero_client_error_count', 'function="chat_fn",model="none",status="400"')),
    value(text, series('tensorzero_error_count', 'function="none",model="none"')) ?? value(text, series('tensorzero_error_count', 'function="chat_fn",model="none"')),
    value(text, series('tensorzero_error_count', 'function="tensorzero::default",model="down"')),
    value(text, series('tensorzero_client_error_count', 'function="tensorzero::default",model="down",status="502"'))
  ]
  const typo = await client.chat.completions.create({ model: 'tensorzero::function_name::chat_fnn', messages }).then(() => undefined, (e: { status?: number }) => e.status)
  t.equal(typo, 404, 'a typo in `model` is a 404')
  const bad = await fetch(`${sidecar.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini' }) })
  t.equal(bad.status, 400, 'a body without messages is a 400')
  await bad.text()
  const failed = await client.chat.completions.create({ model: 'tensorzero::model_name::down', messages }).then(() => undefined, (e: { status?: number }) => e.status)
  t.ok(failed !== undefined && failed >= 500, `a provider failure is a 5xx (${String(failed)})`)
  const text = await scrape()
  t.same(errors(text), [1, 1, undefined, 1, undefined], 'the 404 and the 400 (its route resolved, to chat_fn) counted as client errors, the provider failure as an inference error')
  t.equal(value(text, series('tensorzero_request_count', 'function="none",model="none"')), 1, 'the typo is still a request')
  t.notMatch(text, /tz_sidecar_request_errors_total\{[^}]*error_class="client"/, 'nor are the mistakes in the error classes of failed inferences')
  t.match(text, /^# HELP tensorzero_client_error_count .*not failed inferences/m)
})

t.test('client-chosen names never become label values: a burst of random model names does not grow the series', async t => {
  const random = (): string => `rnd${randomBytes(6).toString('hex')}`
  const kinds = [
    (n: string) => n, // unmatched: passthrough to the upstream
    (n: string) => `tensorzero::model_name::openai::${n}`, // shorthand: a model built on the fly (no key: the provider fails)
    (n: string) => `tensorzero::function_name::${n}`, // unknown function: 404
    (n: string) => `claude-${n}` // glob route to a config model
  ]
  const send = async (model: string): Promise<void> => { await client.chat.completions.create({ model, messages }).catch(() => {}) }
  for (const kind of kinds) await send(kind(random())) // every kind once, so its (unknown/passthrough) series exist
  const before = ownSeries(await scrape())
  const names: string[] = []
  for (let i = 0; i < 20; i++) {
    for (const kind of kinds) { const n = random(); names.push(n); await send(kind(n)) }
  }
  const text = await scrape()
  t.same(ownSeries(text), before, `80 requests with random names added no series (${before.length} before and after)`)
  t.notOk(names.some(n => text.includes(n)), 'no random name appears in the exposition')
  t.match(text, /^tensorzero_request_count\{route="\/v1\/chat\/completions",function="none",model="passthrough",service="metrics-test"\} 21$/m, 'passthrough requests are counted under model="passthrough"')
  t.match(text, /^tz_sidecar_provider_attempts_total\{function="tensorzero::default",variant="unknown",model="unknown",provider="openai",outcome="credentials",service="metrics-test"\} 21$/m, 'a shorthand model the client invented is model="unknown"')
})

t.test('spool and ClickHouse shipping are read from the sink\'s status at each scrape', async t => {
  let status: SinkStatus = {
    clickhouse: 'unreachable', spoolDepthRows: 12, spoolBytes: 3400, spoolMaxBytes: 1e9, spoolSegments: 2, droppedRows: 1,
    shippedRows: 100, failedBatches: 3, rejectedRows: 2, damagedLines: 0
  }
  metrics.setSpoolSource(() => sinkSpoolStats(status))
  let text = await scrape()
  t.equal(value(text, 'tz_sidecar_spool_rows{service="metrics-test"}'), 12)
  t.equal(value(text, 'tz_sidecar_spool_bytes{service="metrics-test"}'), 3400)
  t.equal(value(text, 'tz_sidecar_clickhouse_state{state="unreachable",service="metrics-test"}'), 1, 'ClickHouse unreachable')
  t.equal(value(text, 'tz_sidecar_clickhouse_state{state="connected",service="metrics-test"}'), 0)
  t.equal(value(text, 'tz_sidecar_clickhouse_rows_shipped_total{service="metrics-test"}'), 100)
  t.equal(value(text, 'tz_sidecar_clickhouse_rows_failed_total{reason="rejected",service="metrics-test"}'), 2)
  t.equal(value(text, 'tz_sidecar_clickhouse_rows_failed_total{reason="dropped",service="metrics-test"}'), 1)
  t.equal(value(text, 'tz_sidecar_clickhouse_failed_batches_total{service="metrics-test"}'), 3)
  t.match(text, /^# TYPE tz_sidecar_clickhouse_rows_shipped_total counter$/m, 'shipped rows is a counter')
  status = { ...status, clickhouse: 'connected', spoolDepthRows: 0, spoolBytes: 0, shippedRows: 112 }
  text = await scrape()
  t.equal(value(text, 'tz_sidecar_spool_rows{service="metrics-test"}'), 0, 'the spool drained')
  t.equal(value(text, 'tz_sidecar_clickhouse_state{state="connected",service="metrics-test"}'), 1, 'ClickHouse back')
  t.equal(value(text, 'tz_sidecar_clickhouse_rows_shipped_total{service="metrics-test"}'), 112, 'the counter follows the writer\'s total')
})

t.test('feedback by metric; a metric name the config lacks is `unknown`', async t => {
  const feedback = (metricName: string): void => metrics.observer.onFeedback?.({ feedbackId: 'f', metricName, metricType: 'boolean', targetId: 't', targetType: 'inference', value: true, tags: {} })
  feedback('thumbs_up'); feedback('thumbs_up'); feedback('made_up_metric')
  const text = await scrape()
  t.equal(value(text, 'tz_sidecar_feedback_total{metric="thumbs_up",type="boolean",service="metrics-test"}'), 2)
  t.equal(value(text, 'tz_sidecar_feedback_total{metric="unknown",type="boolean",service="metrics-test"}'), 1)
  t.equal(value(text, 'tensorzero_requests_total{endpoint="feedback",metric_name="thumbs_up",service="metrics-test"}'), 2, 'TensorZero counts feedback requests by metric_name')
  t.notMatch(text, /made_up_metric/)
})

t.test('retries and fallbacks are counted from the kind each attempt of one request recorded', async t => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-sidecar-steps-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  await writeFile(path.join(dir, 'tensorzero.toml'), fakeModel(fake.url, 'm', [['p1', 'ok'], ['p2', 'ok']]) + fakeModel(fake.url, 'n', [['q', 'ok']]) +
    fakeFunction('f', [['v1', 'm'], ['v2', 'n']]))
  const config = await loadConfig({ configFile: path.join(dir, 'tensorzero.toml'), env: {} })
  const steps = new SidecarMetrics(config, { service: 'steps', processMetrics: false })
  const warnings: Array<Record<string, any>> = []
  const destination = new Writable({ write (chunk, _enc, done) { const l = JSON.parse(String(chunk)); if (l.level === 'warn') warnings.push(l); done() } })
  const listen = requestLogListener(createLogger({ service: 'steps', level: 'info', destination, env: {} }))
  const a = (variantName: string, modelName: string, providerName: string, outcome: AttemptRecord['outcome'], kind: AttemptRecord['kind']): AttemptRecord =>
    ({ functionName: 'f', variantName, modelName, providerName, providerType: 'openai', outcome, kind, durationMs: 1 })
  const finished = (attempts: AttemptRecord[]): void => {
    const log = new RequestLog('/v1/chat/completions', 'POST')
    for (const attempt of attempts) log.onAttempt(attempt)
    log.status = 200
    steps.onRequest(log)
    listen(log)
  }
  const counts = async (): Promise<Array<number | undefined>> => {
    const text = (await steps.render()).body
    return [
      value(text, 'tz_sidecar_fallbacks_total{kind="provider",function="f",from="m/p1",to="m/p2",service="steps"}'),
      value(text, 'tz_sidecar_retries_total{function="f",variant="v1",model="m",service="steps"}'),
      value(text, 'tz_sidecar_fallbacks_total{kind="variant",function="f",from="v1",to="v2",service="steps"}')
    ]
  }
  finished([
    a('v1', 'm', 'p1', 'server', 'first'),
    a('v1', 'm', 'p2', 'timeout', 'provider_fallback'), // p1 → p2: provider fallback
    a('v1', 'm', 'p1', 'rate_limit', 'retry'), // p2 → p1 again: the variant retries its routing
    a('v2', 'n', 'q', 'ok', 'variant_fallback') // → another variant: variant fallback
  ])
  t.same(await counts(), [1, 1, 1], 'one provider fallback (m/p1 → m/p2), one retry (v1 on m), one variant fallback (v1 → v2)')
  t.same(warnings.map(l => [l.kind, l.from.provider, l.to.provider]), [['provider', 'p1', 'p2'], ['retry', 'p2', 'p1'], ['variant', 'p1', 'q']], 'and one warning line each, in order')
  finished([a('v2', 'n', 'q', 'ok', 'first')])
  t.same(await counts(), [1, 1, 1], 'a first-time success took none')
  t.equal(warnings.length, 3, 'and logged no warning')
})

t.test('request log lines: fields, levels, no key', async t => {
  const ok = logLines.find(l => l.msg === 'request' && l.function === 'chat_fn' && l.ttft_ms === undefined)
  t.match(ok, { level: 'info', service: 'metrics-test', tier: String, environment: String, route: '/v1/chat/completions', status: 200, function: 'chat_fn', variant: 'main', model: 'fast', provider: 'fake', attempts: 1, tokens: { input: 7, output: 5 } })
  t.match(ok?.inference_id, /^[0-9a-f-]{36}$/, 'inference id for the ClickHouse row')
  t.notOk(logLines.some(l => l.route === '/metrics'), 'scrapes are below info')
  t.notOk(JSON.stringify(logLines).includes(PROVIDER_KEY), 'the provider key is nowhere in the lines')
})

t.test('logger: LOG_LEVEL honoured, keys redacted by name and by value, static Loki labels', async t => {
  const lines: string[] = []
  const destination = new Writable({ write (chunk, _enc, done) { lines.push(String(chunk)); done() } })
  const env = { SIDECAR_TIER: 'app', SIDECAR_ENVIRONMENT: 'staging', MY_TOKEN: 'tok-123456789', TENSORZERO_CLICKHOUSE_URL: 'http://u:chpass-99887766@ch:8123/db' }
  const logger = createLogger({ service: 'svc', level: 'WARN', destination, env, secrets: secretValues(undefined, env) })
  logger.info('dropped at warn')
  logger.warn({ headers: { authorization: 'Bearer abc', 'x-api-key': 'k' }, apiKey: 'xyz', note: 'tok-123456789 and chpass-99887766' }, 'kept')
  t.equal(lines.length, 1, 'info is dropped at LOG_LEVEL=WARN')
  const line = JSON.parse(lines[0])
  t.match(line, { level: 'warn', service: 'svc', tier: 'app', environment: 'staging', msg: 'kept' })
  t.same(line.headers, { authorization: '[redacted]', 'x-api-key': '[redacted]' }, 'Authorization and API key headers redacted')
  t.equal(line.apiKey, '[redacted]')
  t.equal(line.note, '[redacted] and [redacted]', 'secret values from the environment and the ClickHouse password are scrubbed wherever they appear')
})

t.test('without an OpenTelemetry SDK, spans are no-ops: providers get no traceparent', async t => {
  const answer = await client.chat.completions.create({ model: 'tensorzero::model_name::headers', messages }, {
    headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }
  })
  const upstream = JSON.parse(answer.choices[0].message.content ?? '{}') as Record<string, string>
  t.equal(upstream.traceparent, undefined, 'no traceparent sent upstream')
  t.equal(upstream.authorization, `Bearer ${PROVIDER_KEY}`, 'the provider gets its own key (and the test sees it)')
})
