// The deployment config next to PMOVES: config/pmoves (TensorZero config + one sidecar file per service) and the
// Prometheus alerts in compose/ (the compose files themselves: deploy-compose.test.ts). What this pins down: `tz-sidecar validate` accepts every pairing and
// the config carries no key TensorZero would reject; each service's model names resolve to the target its file names
// (no route shadowed by an earlier glob) and realistic names land where PMOVES expects; every function is local first
// (Ollama, then Anthropic, then Gemini) and the orchestrator's template renders as TensorZero renders it; every metric
// an alert uses is one a sidecar's /metrics really exports (as `tz-sidecar serve` wires it); promtool accepts the
// Prometheus files and the alerts fire on the series a sidecar exports, and not on client mistakes.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { parse as parseYaml } from 'yaml'
import { runCli, ROOT } from './helpers/process.ts'
import { exportedNames, metricNames } from './helpers/promql.ts'
import { loadConfig } from '../src/config/load.ts'
import { parseTargetString } from '../src/config/sidecar-config.ts'
import { TargetResolver } from '../src/function/resolve.ts'
import type { Resolution } from '../src/function/resolve.ts'
import type { LoadedConfig, ModelConfig, RouteTarget } from '../src/core/config.ts'
import { GatewayError } from '../src/core/errors.ts'
import { createSidecar } from '../sidecar/start.ts'
import { compileTemplateFile } from '../src/variant/templates/engine.ts'

const TZ_GLOB = 'config/pmoves/tensorzero/*.toml'
const SIDECARS_DIR = path.join(ROOT, 'config/pmoves/sidecars')
const COMPOSE_DIR = path.join(ROOT, 'compose')
const OLLAMA_BASE = 'http://pmoves-ollama:11434/v1/'
/** Cloud keys set, so that a clean run has nothing to warn about. */
const CLOUD_KEYS = { ANTHROPIC_API_KEY: 'test-anthropic', GOOGLE_AI_STUDIO_API_KEY: 'test-gemini', OPENROUTER_API_KEY: 'test-openrouter', OPENAI_API_KEY: 'test-openai' }
const NO_CLOUD_KEYS = { ANTHROPIC_API_KEY: '', GOOGLE_AI_STUDIO_API_KEY: '', OPENROUTER_API_KEY: '', OPENAI_API_KEY: '' }

const sidecarFiles = readdirSync(SIDECARS_DIR).filter(f => f.endsWith('.toml')).sort()
const rel = (f: string): string => path.join('config/pmoves/sidecars', f)

const readYaml = (file: string): any => parseYaml(readFileSync(path.join(COMPOSE_DIR, file), 'utf8'), { merge: true })
const prometheusConfig = readYaml('prometheus/prometheus.yml')
const alertRules = readYaml('prometheus/alerts.yml')

async function load (file: string, env: NodeJS.ProcessEnv = CLOUD_KEYS): Promise<LoadedConfig> {
  return await loadConfig({ configFile: TZ_GLOB, sidecarConfig: rel(file), cwd: ROOT, env: { ...process.env, ...env } })
}

t.test('the layout has one sidecar file per PMOVES service', async t => {
  t.same(sidecarFiles, ['agent-zero.toml', 'archon.toml', 'flute-gateway.toml', 'hi-rag.toml', 'pmoves-yt.toml'])
})

t.test('`tz-sidecar validate` accepts the PMOVES config with each sidecar file; unset cloud keys are only warnings', async t => {
  const runs = await Promise.all(sidecarFiles.map(async file => [file, await runCli(['validate', '--config-file', TZ_GLOB, '--sidecar-config', rel(file)], NO_CLOUD_KEYS)] as const))
  for (const [file, r] of runs) {
    t.equal(r.code, 0, `${file}: exit 0`, { stderr: r.stderr })
    t.match(r.stdout, /^config is valid: 8 functions, 9 models, 3 embedding models, 7 metrics, \d+ routes/, file)
    const lines = r.stderr.trim().split('\n').filter(l => l !== '')
    t.ok(lines.length > 0, 'the unset keys are reported')
    for (const line of lines) t.match(line, /^config\/pmoves\/tensorzero\/models\.toml:\d+:\d+: warning: API key for provider `\w+` of model `\w+`: environment variable (ANTHROPIC|GOOGLE_AI_STUDIO|OPENROUTER|OPENAI)_API_KEY is not set/, file)
  }
})

t.test('with the cloud keys set there is nothing to warn about: no key TensorZero would reject, no unserved variant type', async t => {
  // Without a sidecar file: what the TensorZero gateway itself reads.
  const runs = [['validate', '--config-file', TZ_GLOB], ...sidecarFiles.map(f => ['validate', '--config-file', TZ_GLOB, '--sidecar-config', rel(f)])]
  const results = await Promise.all(runs.map(async args => [args, await runCli(args, CLOUD_KEYS)] as const))
  for (const [args, r] of results) {
    t.equal(r.code, 0, args.join(' '))
    t.equal(r.stderr, '', args.join(' '))
  }
})

/** A route's value as the file writes it, parsed independently of the loader. */
function targetOf (value: unknown): RouteTarget {
  if (typeof value === 'string') {
    const target = parseTargetString(value)
    if (target === undefined) throw new Error(`not a target: ${value}`)
    return target
  }
  const v = value as Record<string, string>
  if (v.function !== undefined) return v.variant === undefined ? { kind: 'function', functionName: v.function } : { kind: 'function', functionName: v.function, variantName: v.variant }
  if (v.model !== undefined) return { kind: 'model', modelName: v.model }
  return { kind: 'embedding_model', modelName: v.embedding_model }
}

/** The names a resolution carries (it also carries the config objects they name). */
function namesOf (resolution: Resolution): RouteTarget | { kind: 'passthrough' } {
  switch (resolution.kind) {
    case 'function':
      return resolution.variantName === undefined
        ? { kind: 'function', functionName: resolution.functionName }
        : { kind: 'function', functionName: resolution.functionName, variantName: resolution.variantName }
    case 'model':
    case 'embedding_model':
      return { kind: resolution.kind, modelName: resolution.modelName }
    default:
      return resolution
  }
}

function resolveOrStatus (resolver: TargetResolver, model: string): RouteTarget | { kind: 'passthrough' } | number {
  try {
    return namesOf(resolver.resolve(model))
  } catch (err) {
    if (err instanceof GatewayError) return err.status
    throw err
  }
}

t.test('every [routes] entry resolves to the target it names: no route is shadowed by an earlier glob', async t => {
  for (const file of sidecarFiles) {
    const raw = parseToml(readFileSync(path.join(SIDECARS_DIR, file), 'utf8')) as { routes: Record<string, unknown> }
    const resolver = new TargetResolver(await load(file))
    t.ok(Object.keys(raw.routes).length > 0, `${file} has routes`)
    for (const [name, value] of Object.entries(raw.routes)) {
      // A glob key, taken literally, matches itself: it must not be caught by another route first.
      t.same(namesOf(resolver.resolve(name)), targetOf(value), `${file}: "${name}"`)
    }
  }
})

const fn = (functionName: string, variantName?: string): RouteTarget => variantName === undefined ? { kind: 'function', functionName } : { kind: 'function', functionName, variantName }
const model = (modelName: string): RouteTarget => ({ kind: 'model', modelName })
const embed = (modelName: string): RouteTarget => ({ kind: 'embedding_model', modelName })

/** What each PMOVES service sends, and where it must land (a number: the status of the refusal). */
const EXPECTED: Record<string, Array<[string, RouteTarget | { kind: 'passthrough' } | number]>> = {
  'agent-zero.toml': [
    ['gpt-4o', fn('agent_zero')],
    ['qwen2.5:14b', fn('agent_zero')],
    ['gpt-4-turbo', fn('agent_zero')],
    ['gpt-4o-mini', fn('agent_zero_utility')],
    ['qwen3:8b', fn('agent_zero_utility')],
    ['claude-sonnet-4-5-20250929', model('claude_sonnet')],
    ['gemini-2.5-pro', model('gemini_flash')],
    ['text-embedding-3-small', embed('nomic_embed_local')],
    ['orchestrator', fn('orchestrator')],
    ['tensorzero::model_name::local_first_chat', model('local_first_chat')],
    ['llama3.1:8b', { kind: 'passthrough' }]
  ],
  'archon.toml': [
    ['gpt-4o', fn('archon')],
    ['gpt-4.1-nano', fn('archon')],
    ['qwen2.5:14b', fn('archon', 'local_qwen2_5_14b')],
    ['qwen3:8b', fn('archon', 'local_qwen3_8b')],
    ['claude-3-7-sonnet-latest', model('claude_sonnet')],
    ['text-embedding-3-large', embed('qwen3_embed_local')],
    ['llama3.1:8b', 404]
  ],
  'hi-rag.toml': [
    ['gpt-4o-mini', fn('hirag_query')],
    ['text-embedding-3-small', embed('nomic_embed_local')],
    ['nomic-embed-text:latest', embed('nomic_embed_local')],
    ['qwen3-embedding:8b', embed('qwen3_embed_local')],
    ['embeddinggemma:300m', embed('gemma_embed_local')],
    ['gemma_embed_local', embed('gemma_embed_local')],
    ['tensorzero::embedding_model_name::gemma_embed_local', embed('gemma_embed_local')],
    ['text-embedding-ada-002', 404]
  ],
  'pmoves-yt.toml': [
    ['gpt-4o-mini', fn('pmoves_yt_summary')],
    ['pmoves-yt-metadata', fn('pmoves_yt_metadata')],
    ['pmoves_yt_metadata', fn('pmoves_yt_metadata')],
    ['whisper-1', model('whisper_small_local')],
    ['whisper-medium', model('whisper_medium_local')],
    ['whisper-large', 404]
  ],
  'flute-gateway.toml': [
    ['gpt-4o-mini', fn('flute_voice')],
    ['qwen3:8b', fn('flute_voice')],
    ['claude-haiku-4-5', model('claude_sonnet')],
    ['tts-1', model('tts_kokoro')],
    ['kokoro', model('tts_kokoro')],
    ['tts-2', 404]
  ]
}

t.test('the model names each PMOVES service sends land on its local-first function, Claude/Gemini names on those models, embeddings on a local embedding model', async t => {
  t.same(Object.keys(EXPECTED).sort(), sidecarFiles, 'every sidecar file is covered')
  for (const file of sidecarFiles) {
    const resolver = new TargetResolver(await load(file))
    for (const [name, expected] of EXPECTED[file]) t.same(resolveOrStatus(resolver, name), expected, `${file}: "${name}"`)
  }
})

const isOllama = (m: ModelConfig | undefined, i = 0): boolean => {
  const p = m?.providers.get(m.routing[i])
  return p !== undefined && p.type === 'openai' && p.apiBase === OLLAMA_BASE && p.keyLocation.kind === 'none'
}
const firstType = (m: ModelConfig | undefined): string | undefined => m?.providers.get(m.routing[0])?.type

t.test('local first: every function samples Ollama variants, then falls back to Anthropic, then Gemini; embeddings stay on Ollama', async t => {
  const { tensorzero: tz } = await load(sidecarFiles[0])
  t.equal(tz.functions.size, 8)
  for (const [name, f] of tz.functions) {
    const exp = f.experimentation
    if (exp.type !== 'static') { t.fail(`${name}: experimentation must be static, is ${exp.type}`); continue }
    t.ok(exp.candidates.size > 0, `${name} has candidates`)
    for (const candidate of exp.candidates.keys()) {
      t.ok(isOllama(tz.models.get(f.variants.get(candidate)?.model ?? '')), `${name}: candidate ${candidate} runs on Ollama`)
    }
    t.same(exp.fallbacks.map(v => firstType(tz.models.get(f.variants.get(v)?.model ?? ''))), ['anthropic', 'google_ai_studio_gemini'], `${name}: fallbacks`)
    t.same([...f.variants.keys()].sort(), [...exp.candidates.keys(), ...exp.fallbacks].sort(), `${name}: every variant is a candidate or a fallback`)
    for (const v of f.variants.values()) t.equal(v.type, 'chat_completion', `${name}.${v.name} is served by the sidecar`)
  }
  for (const name of ['local_first_chat', 'local_first_large']) {
    const m = tz.models.get(name)
    t.ok(isOllama(m), `${name} starts on Ollama`)
    t.same(m?.routing.map(p => m.providers.get(p)?.type), ['openai', 'anthropic', 'google_ai_studio_gemini'], `${name} routing`)
  }
  for (const [name, m] of tz.embeddingModels) {
    t.same(m.routing.map((_, i) => isOllama(m, i)), m.routing.map(() => true), `embedding model ${name}: Ollama only (one vector space)`)
  }
  const orchestrator = tz.functions.get('orchestrator')
  t.same(orchestrator?.tools, ['web_search', 'hirag_query', 'file_read'])
  t.ok(orchestrator?.schemas.system?.path.endsWith('functions/orchestrator/system_schema.json'))
  for (const v of orchestrator?.variants.values() ?? []) t.ok(v.templates.system?.path.endsWith('functions/orchestrator/system.minijinja'), `orchestrator.${v.name} renders the system template`)
  // Rendered as TensorZero renders it (strict undefined): with only the required argument, and with all of them.
  const { compiled, problems } = compileTemplateFile(path.join(ROOT, 'config/pmoves/tensorzero/functions/orchestrator/system.minijinja'))
  t.same(problems, [])
  t.match(compiled?.render({ agent_name: 'Archon' }), /^You are Archon,[\s\S]*you cannot call tools\.[\s\S]*answer in English\.$/)
  t.match(compiled?.render({ agent_name: 'Agent Zero', task_kind: 'research', tools_enabled: true, knowledge_namespaces: ['pmoves', 'yt'], memory: 'Short answers.', language: 'German' }),
    /Current task kind: research\.[\s\S]*- hirag_query: .*\(namespaces: pmoves, yt\);[\s\S]*Short answers\.[\s\S]*answer in German\.$/)
  t.same([...tz.metrics.keys()].sort(), ['answer_rating', 'comment', 'demonstration', 'retrieval_relevance', 'task_success', 'tool_call_success', 'user_satisfaction'])
  t.equal(tz.metrics.get('task_success')?.level, 'episode', 'task_success is per episode (the sdk-patch example sends it without an id)')
})

t.test('audio: the Whisper and TTS models try the GPU orchestrator first, then OpenAI (with an OpenAI voice for speech)', async t => {
  const { tensorzero: tz } = await load('pmoves-yt.toml')
  for (const name of ['whisper_small_local', 'whisper_medium_local', 'tts_kokoro']) {
    const m = tz.models.get(name)
    t.same(m?.routing, ['gpu_orchestrator', 'openai'], `${name} routing`)
    t.match(m?.providers.get('gpu_orchestrator')?.apiBase, /^http:\/\/pmoves-gpu-orchestrator:8200\//, `${name}: the orchestrator first`)
    t.same(m?.providers.get('openai')?.keyLocation, { kind: 'env', name: 'OPENAI_API_KEY' }, `${name}: OpenAI with its key`)
  }
  t.same(tz.models.get('tts_kokoro')?.providers.get('openai')?.extraBody, [{ pointer: '/voice', value: 'alloy' }])
})

// ---- metrics and alerts --------------------------------------------------------------------------------------------

const rules: Array<{ alert: string; expr: string }> = alertRules.groups.flatMap((g: any) => g.rules)

t.test('the alert rules are the PMOVES ones (TensorZeroDown, HighErrorRate, HighLatency p95 > 30 s) and the extractor reads them', async t => {
  const byName = new Map(rules.map(r => [r.alert, r.expr]))
  for (const name of ['TensorZeroDown', 'HighErrorRate', 'HighLatency']) t.ok(byName.has(name), name)
  t.match(byName.get('HighLatency'), /histogram_quantile\(0\.95,[\s\S]*tensorzero_request_duration_seconds_bucket[\s\S]*\)\s*>\s*30\s*$/)
  t.match(byName.get('HighErrorRate'), /tensorzero_error_count[\s\S]*\/[\s\S]*tensorzero_request_count[\s\S]*>\s*0\.05/)
  t.same(metricNames(byName.get('HighLatency') ?? ''), ['tensorzero_request_duration_seconds_bucket'])
  t.same(metricNames(byName.get('HighErrorRate') ?? ''), ['tensorzero_error_count', 'tensorzero_request_count'])
  t.same(metricNames(byName.get('TensorZeroDown') ?? ''), ['up'])
  // TensorZeroDown watches jobs that exist.
  const jobs: string[] = prometheusConfig.scrape_configs.map((s: any) => s.job_name)
  const jobRegex = /job=~"([^"]+)"/.exec(byName.get('TensorZeroDown') ?? '')?.[1] ?? ''
  for (const job of jobRegex.split('|')) t.ok(jobs.includes(job), `job ${job} is scraped`)
})

t.test('every metric an alert reads is exported by a sidecar wired as `tz-sidecar serve` wires it', async t => {
  const spool = await mkdtemp(path.join(tmpdir(), 'tz-deploy-spool-'))
  t.teardown(async () => { await rm(spool, { recursive: true, force: true }) })
  const sidecar = await createSidecar({
    configFile: path.join(ROOT, TZ_GLOB),
    sidecarConfig: path.join(SIDECARS_DIR, 'agent-zero.toml'),
    // No ClickHouse (rows stay in the spool), no traces, no log lines in the TAP stream.
    env: { ...process.env, ...CLOUD_KEYS, SIDECAR_SPOOL_DIR: spool, TENSORZERO_CLICKHOUSE_URL: '', OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '', LOG_LEVEL: 'silent' }
  })
  t.teardown(async () => { await sidecar.shutdown(1000) })
  const { port } = await sidecar.listen(0, '127.0.0.1')
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  t.equal(res.status, 200)
  const text = await res.text()
  const exported = exportedNames(text)
  t.match(text, /\{service="agent-zero"[,}]/, 'series carry the service label the alerts group by')

  // `up` is written by Prometheus itself for every target.
  const fromPrometheus = new Set(['up'])
  const used = new Set<string>()
  for (const rule of rules) {
    for (const name of metricNames(rule.expr)) {
      used.add(name)
      t.ok(exported.has(name) || fromPrometheus.has(name), `${rule.alert}: ${name} is exported`)
    }
  }
  t.ok(used.has('tensorzero_request_duration_seconds_bucket') && used.has('tz_sidecar_spool_bytes'), 'alerts were read')
})

// ---- promtool ------------------------------------------------------------------------------------------------------

const PROMTOOL_MISSING = spawnSync('sh', ['-c', 'command -v promtool']).status === 0
  ? false
  : 'promtool is not installed (Debian: apt-get install -y prometheus); the files were still parsed and checked above'

t.test('promtool accepts the Prometheus config and the alert rules', { skip: PROMTOOL_MISSING }, async t => {
  const config = spawnSync('promtool', ['check', 'config', path.join(COMPOSE_DIR, 'prometheus/prometheus.yml')], { encoding: 'utf8' })
  t.equal(config.status, 0, config.stdout + config.stderr)
  const rulesCheck = spawnSync('promtool', ['check', 'rules', path.join(COMPOSE_DIR, 'prometheus/alerts.yml')], { encoding: 'utf8' })
  t.equal(rulesCheck.status, 0, rulesCheck.stdout + rulesCheck.stderr)
  t.match(rulesCheck.stdout, /SUCCESS: \d+ rules found/)
})

t.test('the alerts fire on the series a sidecar exports (promtool test rules)', { skip: PROMTOOL_MISSING }, async t => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-deploy-rules-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const labels = 'service="archon",route="/v1/chat/completions",function="archon",model="qwen2_5_14b"'
  // archon: 10 requests a minute, one in ten failing, every one taking 45 s (over the 30 s p95 threshold).
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 45, 60]
  const series = [
    { series: `up{job="tz-sidecar",instance="archon-sidecar:3031",tier="app"}`, values: '0x20' },
    { series: `tensorzero_request_count{${labels}}`, values: '0+10x30' },
    { series: `tensorzero_error_count{${labels}}`, values: '0+1x30' },
    ...buckets.map(le => ({ series: `tensorzero_request_duration_seconds_bucket{${labels},status_class="2xx",le="${le}"}`, values: le >= 45 ? '0+10x30' : '0x30' })),
    { series: `tensorzero_request_duration_seconds_bucket{${labels},status_class="2xx",le="+Inf"}`, values: '0+10x30' }
  ]
  // A healthy neighbour: 1 error in 100 requests, 2 s each; and a sidecar whose ClickHouse has been away for 15 min.
  const healthy = 'service="hi-rag",route="/v1/chat/completions",function="hirag_query",model="qwen3_8b"'
  series.push(
    { series: `tensorzero_request_count{${healthy}}`, values: '0+100x30' },
    { series: `tensorzero_error_count{${healthy}}`, values: '0+1x30' },
    ...[...buckets.map(String), '+Inf'].map(le => ({ series: `tensorzero_request_duration_seconds_bucket{${healthy},status_class="2xx",le="${le}"}`, values: le === '+Inf' || Number(le) >= 2.5 ? '0+100x30' : '0x30' })),
    { series: 'tz_sidecar_clickhouse_state{service="hi-rag",state="unreachable"}', values: '1x30' }
  )
  // A client with a typo in `model`: 9 requests in 10 refused (404), none failed at a provider. Its sidecar's target
  // is seen for 10 minutes and then gone (the container stopped: Docker discovery drops it, `up` ends).
  const typo = 'service="pmoves-yt",route="/v1/chat/completions",function="none",model="none"'
  series.push(
    { series: `tensorzero_request_count{${typo}}`, values: '0+10x30' },
    { series: `tensorzero_error_count{${typo}}`, values: '0x30' },
    { series: `tensorzero_client_error_count{${typo},status="404"}`, values: '0+9x30' },
    { series: 'up{job="tz-sidecar",instance="pmoves-yt-sidecar:3031",service="pmoves-yt"}', values: '1x10 _x20' }
  )
  const alertsAt = (alertname: string, eval_time: string, exp_labels: Record<string, string>[]): unknown => ({ eval_time, alertname, exp_alerts: exp_labels.map(l => ({ exp_labels: l })) })
  const test = {
    rule_files: [] as string[],
    evaluation_interval: '1m',
    tests: [{
      interval: '1m',
      input_series: series,
      alert_rule_test: [
        alertsAt('TensorZeroDown', '30s', []),
        alertsAt('TensorZeroDown', '5m', [{ severity: 'critical', job: 'tz-sidecar', instance: 'archon-sidecar:3031', tier: 'app' }]),
        alertsAt('HighErrorRate', '4m', []),
        alertsAt('HighErrorRate', '15m', [{ severity: 'warning', service: 'archon' }]), // not pmoves-yt: its 404s are client errors
        alertsAt('HighLatency', '8m', []),
        alertsAt('HighLatency', '20m', [{ severity: 'warning', service: 'archon' }]),
        alertsAt('SidecarGone', '12m', []),
        alertsAt('SidecarGone', '24m', [{ severity: 'critical', service: 'pmoves-yt', instance: 'pmoves-yt-sidecar:3031' }]),
        alertsAt('SidecarClickHouseUnreachable', '5m', []),
        alertsAt('SidecarClickHouseUnreachable', '15m', [{ severity: 'warning', service: 'hi-rag', state: 'unreachable' }])
      ]
    }]
  }
  // promtool compares annotations too: test a copy of the rules without them, so expressions, `for` and labels are pinned.
  const bare = { groups: alertRules.groups.map((g: any) => ({ ...g, rules: g.rules.map(({ annotations, ...rule }: any) => rule) })) }
  await writeFile(path.join(dir, 'alerts.yml'), JSON.stringify(bare)) // JSON is YAML
  test.rule_files = [path.join(dir, 'alerts.yml')]
  const file = path.join(dir, 'alerts.test.yml')
  await writeFile(file, JSON.stringify(test))
  const r = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stdout + r.stderr)
})
