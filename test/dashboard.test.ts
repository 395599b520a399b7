// The provisioned Grafana dashboard (compose/grafana/dashboards/tz-sidecar.json) against a real sidecar: a sidecar wired
// as `tz-sidecar serve` wires it serves traffic from the real `openai` client (successes, a stream, a provider
// fallback that opens a circuit, a retry, a provider failure, a typo in `model`, feedback), then its /metrics is
// scraped. Every metric name each Prometheus query reads must be exported with samples, and every label the query
// filters or groups by must be on those samples; Loki queries may only use the labels Alloy sets. The dashboard must
// cover what operators asked for: requests and errors by service, function, variant and provider, latency and time to
// first token percentiles, fallbacks and retries, tokens, spool and ClickHouse shipping, feedback, client errors.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { parse as parseYaml } from 'yaml'
import { ROOT } from './helpers/process.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import { fakeFunction, fakeModel } from './helpers/toml.ts'
import { labelsUsed, metricNames, sampleLabels } from './helpers/promql.ts'
import { createSidecar } from '../sidecar/start.ts'

const GRAFANA = path.join(ROOT, 'compose/grafana')
const dashboard = JSON.parse(readFileSync(path.join(GRAFANA, 'dashboards/tz-sidecar.json'), 'utf8'))
const datasources = parseYaml(readFileSync(path.join(GRAFANA, 'provisioning/datasources/datasources.yml'), 'utf8')).datasources as Array<{ uid: string; type: string }>

interface Query { panel: string; type: string; expr: string }

/** Every query of every panel (rows nest panels) with the type of its datasource. */
function queries (): Query[] {
  const out: Query[] = []
  const visit = (panels: any[]): void => {
    for (const p of panels) {
      for (const target of p.targets ?? []) {
        const uid = target.datasource?.uid ?? p.datasource?.uid
        out.push({ panel: p.title, type: datasources.find(d => d.uid === uid)?.type ?? `unknown datasource ${String(uid)}`, expr: target.expr })
      }
      visit(p.panels ?? [])
    }
  }
  visit(dashboard.panels)
  return out
}

/** Grafana variables and range macros stand for label values and durations: replace them by plain ones. */
const concrete = (expr: string): string => expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\w+/g, '.*')

let scrape = ''

t.before(async () => {
  const fake = await startFakeOpenAI()
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-dashboard-'))
  t.teardown(async () => { await fake.close(); await rm(dir, { recursive: true, force: true }) })
  await writeFile(path.join(dir, 'tensorzero.toml'), [
    fakeModel(fake.url, 'fast', [['fake', 'ok']]),
    fakeModel(fake.url, 'flaky', [['broken', 'error-500'], ['backup', 'ok']]),
    fakeModel(fake.url, 'retrying', [['once', 'fail-first-1']]),
    fakeModel(fake.url, 'down', [['dead', 'error-500']]),
    fakeFunction('chat_fn', [['main', 'fast']]),
    fakeFunction('flaky_fn', [['main', 'flaky']]),
    fakeFunction('retry_fn', [['main', 'retrying', 'retries = { num_retries = 1, max_delay_s = 0.01 }']]),
    '\n[metrics.helpful]\ntype = "boolean"\noptimize = "max"\nlevel = "inference"\n'
  ].join(''))
  // Two failures in a row open a provider's circuit (flaky_fn is sent twice), so the circuit panel has a series too.
  await writeFile(path.join(dir, 'sidecar.toml'), 'service = "dash-test"\nunmatched = "reject"\n[routes]\n"gpt-4o-mini" = "tensorzero::function_name::chat_fn"\n[health]\nconsecutive_failures = 2\n')
  const sidecar = await createSidecar({
    configFile: path.join(dir, 'tensorzero.toml'),
    sidecarConfig: path.join(dir, 'sidecar.toml'),
    // A spool and no ClickHouse (rows wait, the shipping state is `disabled`), no traces, no log lines in the TAP stream.
    env: { ...process.env, SIDECAR_SPOOL_DIR: path.join(dir, 'spool'), TENSORZERO_CLICKHOUSE_URL: '', OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '', LOG_LEVEL: 'silent' }
  })
  t.teardown(async () => { await sidecar.shutdown(1000) })
  const { port } = await sidecar.listen(0, '127.0.0.1')
  const base = `http://127.0.0.1:${port}`
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 })
  const messages = [{ role: 'user' as const, content: 'hi' }]
  const answer = await client.chat.completions.create({ model: 'gpt-4o-mini', messages })
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } })
  for await (const _ of stream) { /* drain */ }
  await client.chat.completions.create({ model: 'tensorzero::function_name::flaky_fn', messages })
  await client.chat.completions.create({ model: 'tensorzero::function_name::flaky_fn', messages })
  await client.chat.completions.create({ model: 'tensorzero::function_name::retry_fn', messages })
  await client.chat.completions.create({ model: 'tensorzero::model_name::down', messages }).catch(() => {})
  await client.chat.completions.create({ model: 'gpt-4o-mini-typo', messages }).catch(() => {})
  const feedback = await fetch(`${base}/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metric_name: 'helpful', inference_id: answer.id, value: true }) })
  await feedback.text()
  if (feedback.status !== 200) throw new Error(`feedback answered ${feedback.status}`)
  scrape = await (await fetch(`${base}/metrics`)).text()
})

t.test('the dashboard is provisioned from the folder compose mounts, on datasources that exist', async t => {
  const provider = parseYaml(readFileSync(path.join(GRAFANA, 'provisioning/dashboards/dashboards.yml'), 'utf8')).providers[0]
  const compose = parseYaml(readFileSync(path.join(ROOT, 'compose/docker-compose.yml'), 'utf8'), { merge: true })
  const grafana = compose.services['tz-grafana']
  t.ok(grafana.volumes.includes(`./grafana/dashboards:${String(provider.options.path)}:ro`), `the JSON folder is mounted at ${String(provider.options.path)}`)
  t.equal(grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, `${String(provider.options.path)}/tz-sidecar.json`, 'and it is the home dashboard')
  t.equal(dashboard.uid, 'tz-sidecar')
  for (const q of queries()) t.not(q.type.startsWith('unknown'), true, `${q.panel}: ${q.type}`)
})

t.test('every Prometheus query reads metrics a running sidecar exports, by labels its samples carry', async t => {
  const samples = sampleLabels(scrape)
  // `up` is Prometheus's own, with the target labels prometheus.yml sets.
  samples.set('up', new Set(['job', 'instance', 'service', 'tier', 'environment']))
  const prom = queries().filter(q => q.type === 'prometheus')
  t.ok(prom.length >= 25, `${prom.length} Prometheus queries`)
  for (const q of prom) {
    const expr = concrete(q.expr)
    const used = labelsUsed(expr)
    t.ok(used.size > 0, `${q.panel}: reads a metric`)
    for (const [name, labels] of used) {
      const carried = samples.get(name)
      t.ok(carried, `${q.panel}: ${name} is exported with samples`)
      for (const label of labels) t.ok(carried?.has(label), `${q.panel}: ${name} carries \`${label}\``)
    }
  }
})

t.test('Loki queries use only the labels Alloy gives a stream', async t => {
  const alloy = readFileSync(path.join(ROOT, 'compose/alloy/config.alloy'), 'utf8')
  const streamLabels = new Set([...alloy.matchAll(/target_label\s*=\s*"(\w+)"/g)].map(m => m[1]))
  for (const m of alloy.matchAll(/values\s*=\s*\{\s*(\w+)\s*=/g)) streamLabels.add(m[1])
  t.same([...streamLabels].sort(), ['container', 'environment', 'level', 'service', 'tier'])
  const loki = queries().filter(q => q.type === 'loki')
  t.ok(loki.length > 0, 'a logs panel')
  for (const q of loki) {
    const selector = /^\{([^}]*)\}/.exec(q.expr)?.[1] ?? ''
    for (const l of selector.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) t.ok(streamLabels.has(l[1]), `${q.panel}: \`${l[1]}\` is a stream label`)
  }
})

t.test('the dashboard covers requests, errors, latency, routing, tokens, spool, ClickHouse and feedback', async t => {
  const read = new Set(queries().filter(q => q.type === 'prometheus').flatMap(q => metricNames(concrete(q.expr))))
  for (const name of [
    'tensorzero_request_count', 'tensorzero_error_count', 'tensorzero_client_error_count', 'tz_sidecar_request_errors_total',
    'tz_sidecar_inferences_total', 'tz_sidecar_provider_attempts_total', 'tensorzero_request_duration_seconds_bucket',
    'tz_sidecar_time_to_first_token_seconds_bucket', 'tz_sidecar_fallbacks_total', 'tz_sidecar_retries_total', 'tensorzero_token_usage',
    'tz_sidecar_spool_rows', 'tz_sidecar_spool_bytes', 'tz_sidecar_clickhouse_state', 'tz_sidecar_clickhouse_rows_shipped_total',
    'tz_sidecar_clickhouse_rows_failed_total', 'tz_sidecar_feedback_total'
  ]) t.ok(read.has(name), `${name} is on the dashboard`)
  const exprs = queries().map(q => q.expr).join('\n')
  for (const q of ['0.5', '0.95', '0.99']) t.match(exprs, new RegExp(`histogram_quantile\\(${q}, [^\\n]*tz_sidecar_time_to_first_token_seconds_bucket`), `time to first token p${Number(q) * 100}`)
  for (const label of ['service', 'function', 'variant', 'provider']) t.match(exprs, new RegExp(`by \\([^)]*\\b${label}\\b`), `something is broken down by ${label}`)
  const variables = dashboard.templating.list.map((v: { name: string }) => v.name)
  t.same(variables, ['service', 'function'], 'filterable by service and function')
})
