// Config loader: tensorzero.toml (+ globs of several files) and the per-service sidecar file.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { clearCredentialCache, resolveApiKey } from '../src/providers/credentials.ts'
import { ConfigError, formatDiagnostic } from '../src/config/diagnostics.ts'
import { loadConfig, validateConfigFiles } from '../src/config/load.ts'
import { DEFAULT_KEY_ENV, KNOWN_PROVIDER_TYPES } from '../src/providers/catalog.ts'
import { compileGlob, parseTargetString } from '../src/config/sidecar-config.ts'
import { buildPositionIndex } from '../src/config/toml-positions.ts'
import type { ConfigDiagnostic } from '../src/core/config.ts'

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'config')
const fx = (...p: string[]): string => path.join(FIX, ...p)
/** Every credential the valid fixture names, so tests that are not about credentials see no warnings. */
const FULL_ENV = { ANTHROPIC_API_KEY: 'a', MY_OPENAI_KEY: 'b', OPENAI_API_KEY: 'c' }

/** Asserts one diagnostic exists at exactly file:line:col whose message contains `text`. */
function expectDiag (
  t: Test, diags: ConfigDiagnostic[], file: string, line: number, col: number, text: string,
  severity: 'error' | 'warning' = 'error',
): void {
  const found = diags.find((d) => d.file === file && d.line === line && d.col === col && d.severity === severity && d.message.includes(text))
  t.ok(found, `${severity} at ${path.basename(file)}:${line}:${col} containing "${text}"`, {
    diagnostics: diags.map((d) => formatDiagnostic(d, FIX)),
  })
}

t.test('a full valid config parses into the expected structures', async (t) => {
  const cfg = await loadConfig({ configFile: fx('valid', 'tensorzero.toml'), env: FULL_ENV })
  const tz = cfg.tensorzero
  t.same(tz.files, [fx('valid', 'tensorzero.toml')])
  t.same(cfg.warnings.map((w) => w.message).filter((m) => m.includes('API key')), [], 'all credentials present: no key warnings')

  t.test('gateway: given values and TensorZero defaults; unknown gateway keys load', async (t) => {
    t.same(tz.gateway, { observabilityEnabled: true, batchWrites: { flushIntervalMs: 250, maxRows: 1000 } })
  })

  t.test('models: routing, providers, timeouts at both levels, key locations', async (t) => {
    const m = tz.models.get('local_chat')!
    t.same(m.routing, ['ollama', 'anthropic'])
    t.same(m.timeouts, { nonStreamingTotalMs: 30000 })
    t.equal(m.shorthand, false)
    const ollama = m.providers.get('ollama')!
    t.match(ollama, { type: 'openai', modelName: 'qwen2.5:14b', apiBase: 'http://pmoves-ollama:11434/v1', keyLocation: { kind: 'none' } })
    t.same(ollama.timeouts, { nonStreamingTotalMs: 5000, streamingTtftMs: 1000, streamingTotalMs: 60000 })
    t.same(m.providers.get('anthropic')!.keyLocation, { kind: 'env', name: 'ANTHROPIC_API_KEY' }, 'omitted location → type default')
    const gpt = tz.models.get('gpt-4o')!.providers.get('openai')!
    t.same(gpt.keyLocation, { kind: 'env', name: 'MY_OPENAI_KEY' })
    t.same(gpt.extraHeaders, [{ name: 'X-Team', value: 'ai' }])
    const az = tz.models.get('azure_gpt')!.providers.get('az')!
    t.equal(az.modelName, 'gpt4o-prod', 'azure names its model by deployment_id')
    t.same(az.options, { deployment_id: 'gpt4o-prod', endpoint: 'https://x.openai.azure.com' }, 'type-specific keys kept in options')
    t.same(az.keyLocation, { kind: 'dynamic', name: 'azure_key' })
    t.match(tz.embeddingModels.get('gemma_embed_local'), { routing: ['ollama'], shorthand: false })
  })

  t.test('shorthand models used by variants are synthesized, named after the type', async (t) => {
    const s = tz.models.get('openai::gpt-4o-mini')!
    t.equal(s.shorthand, true)
    t.same(s.routing, ['openai'])
    t.match(s.providers.get('openai'), { name: 'openai', type: 'openai', modelName: 'gpt-4o-mini', keyLocation: { kind: 'env', name: 'OPENAI_API_KEY' } })
    t.match(tz.models.get('dummy::good')!.providers.get('dummy'), { type: 'dummy', modelName: 'good', keyLocation: { kind: 'none' } })
    t.ok(tz.models.has('dummy::json'))
  })

  t.test('functions, variants, retries, templates and schemas (paths relative to the declaring file)', async (t) => {
    const f = tz.functions.get('agent_zero')!
    t.equal(f.type, 'chat')
    t.same(f.sortedVariantNames, ['bon', 'hosted_openai', 'local'])
    t.same(f.tools, ['get_weather'])
    t.same(f.toolChoice, { specific: 'get_weather' })
    t.equal(f.parallelToolCalls, false)
    t.equal(f.schemas.system!.path, fx('schemas', 'system.json'))
    t.same(f.schemas.system!.schema.required, ['name'])
    const local = f.variants.get('local')!
    t.match(local, { type: 'chat_completion', model: 'local_chat', params: { temperature: 0.2, max_tokens: 512, seed: 42,
      stop_sequences: ['</end>'] } })
    t.same(local.retries, { numRetries: 2, maxDelayS: 5 })
    t.same(local.timeouts, { streamingTtftMs: 3000 })
    t.same(local.extraBody, [{ pointer: '/think', value: false }, { pointer: '/logprobs', delete: true }])
    t.equal(local.templates.system!.path, fx('templates', 'system.minijinja'))
    t.equal(f.variants.get('hosted_openai')!.templates.system!.path, fx('templates', 'system.minijinja'), '`templates.system.path` form')
    t.same(f.variants.get('hosted_openai')!.retries, { numRetries: 0, maxDelayS: 10 }, 'retry defaults')
    const bon = f.variants.get('bon')!
    t.match(bon, { type: 'experimental_best_of_n_sampling', candidates: ['local', 'hosted_openai'] })
    t.match(bon.judge, { name: 'bon', model: 'local_chat', templates: { system: { path: fx('templates', 'system.minijinja') } } }, 'the evaluator, a chat_completion config of its own')
    t.notOk(cfg.warnings.some((w) => w.message.includes('does not serve')), 'every variant type of this config is served')

    const extract = tz.functions.get('extract')!
    t.equal(extract.type, 'json')
    t.equal(extract.outputSchema!.path, fx('schemas', 'output.json'))
    t.equal(extract.variants.get('a')!.params.json_mode, 'strict')
    t.same(tz.functions.get('plain')!.outputSchema!.schema, {}, 'json function without output_schema accepts anything')
  })

  t.test('experimentation kinds', async (t) => {
    t.same(tz.functions.get('agent_zero')!.experimentation, {
      type: 'static', candidates: new Map([['local', 3], ['hosted_openai', 1]]), fallbacks: ['hosted_openai', 'local'],
    }, 'static with a weight table')
    t.same(tz.functions.get('listed')!.experimentation, {
      type: 'static', candidates: new Map([['x', 1], ['y', 1]]), fallbacks: [],
    }, 'static with a list → equal weights')
    t.same(tz.functions.get('extract')!.experimentation, { type: 'legacy_weights' }, 'variant weights → legacy')
    t.same(tz.functions.get('plain')!.experimentation, { type: 'uniform' }, 'nothing → uniform')
    const ex = tz.functions.get('extract')!.variants
    t.equal(ex.get('a')!.weight, 0.7)
    t.equal(ex.get('b')!.weight, 0)
    t.equal(ex.get('c')!.weight, undefined)
  })

  t.test('metrics and tools, with the reserved metrics added', async (t) => {
    t.match(tz.metrics.get('task_success'), { type: 'boolean', optimize: 'max', level: 'inference' })
    t.match(tz.metrics.get('latency'), { type: 'float', optimize: 'min', level: 'episode' })
    t.match(tz.metrics.get('comment'), { type: 'comment' })
    t.match(tz.metrics.get('demonstration'), { type: 'demonstration', level: 'inference' })
    const tool = tz.tools.get('get_weather')!
    t.match(tool, { wireName: 'get_weather', description: 'Get the weather for a city', strict: true })
    t.equal(tool.parameters.path, fx('schemas', 'weather.json'))
  })

  t.test('sidecar defaults without a per-service file', async (t) => {
    t.same(cfg.sidecar, {
      service: 'tz-sidecar', unmatched: 'reject', exactRoutes: new Map(), globRoutes: [],
      health: { enabled: true, consecutiveFailures: 5, errorRate: 0.8, windowMs: 60_000, minRequests: 20, cooldownMs: 30_000, maxCooldownMs: 300_000 }
    })
    const withEnv = await loadConfig({ configFile: fx('valid', 'tensorzero.toml'), env: { ...FULL_ENV, SIDECAR_SERVICE: 'archon' } })
    t.equal(withEnv.sidecar.service, 'archon', 'SIDECAR_SERVICE names the service')
  })
})

t.test('a missing credential is a warning positioned at its key, never an error', async (t) => {
  const cfg = await loadConfig({ configFile: fx('valid', 'tensorzero.toml'), env: {} })
  const file = fx('valid', 'tensorzero.toml')
  expectDiag(t, cfg.warnings, file, 26, 62, 'environment variable MY_OPENAI_KEY is not set', 'warning')
  expectDiag(t, cfg.warnings, file, 20, 30, 'environment variable ANTHROPIC_API_KEY is not set (the default', 'warning')
  expectDiag(t, cfg.warnings, file, 57, 1, 'OPENAI_API_KEY', 'warning')
  t.notOk(cfg.warnings.some((w) => w.message.includes('azure_key')), 'dynamic:: keys are only known at request time')

  const dir = t.testdir({
    'key.txt': 'sk',
    'tz.toml': [
      '[models.m]',
      'routing = ["a", "b", "c", "d"]',
      'providers.a = { type = "openai", model_name = "x", api_key_location = "path::/nonexistent/key" }',
      'providers.b = { type = "openai", model_name = "x", api_key_location = "path_from_env::KEY_FILE" }',
      'providers.c = { type = "openai", model_name = "x", api_key_location = "path_from_env::GOOD_FILE" }',
      'providers.d = { type = "openai", model_name = "x", api_key_location = "path_from_env::BAD_FILE" }',
    ].join('\n'),
  })
  const env = { GOOD_FILE: path.join(dir, 'key.txt'), BAD_FILE: path.join(dir, 'none.txt') }
  const paths = await loadConfig({ configFile: path.join(dir, 'tz.toml'), env })
  t.same(paths.warnings.map((w) => [w.line, w.col, w.severity]), [[3, 52, 'warning'], [4, 52, 'warning'], [6, 52, 'warning']])
  t.match(paths.warnings.map((w) => w.message), [/file \/nonexistent\/key does not exist/, /environment variable KEY_FILE/, /none\.txt \(from BAD_FILE\)/])
})

t.test('a glob of several files is merged; paths resolve against the file that declares them', async (t) => {
  const cfg = await loadConfig({ configFile: path.join(FIX, 'multi', '**', '*.toml'), env: {} })
  t.same(cfg.tensorzero.files, [fx('multi', 'a', 'base.toml'), fx('multi', 'b', 'extra.toml')])
  t.same(cfg.tensorzero.functions.get('f')!.sortedVariantNames, ['one', 'two'], 'one function split over two files')
  t.equal(cfg.tensorzero.functions.get('g')!.outputSchema!.path, fx('multi', 'b', 'schemas', 'out.json'))
  const rel = await loadConfig({ configFile: 'multi/?/*.toml', cwd: FIX, env: {} })
  t.equal(rel.tensorzero.files.length, 2, '`?` and a relative glob with cwd')
})

t.test('in merged files, a problem is reported in the file that wrote the key', async (t) => {
  const dir = t.testdir({
    'a.toml': '[models.m]\nrouting = ["d"]\nproviders.d = { type = "dummy", model_name = "good" }\n[functions.f]\ntype = "chat"\n',
    'b.toml': '\n[functions.f.variants.v]\ntype = "chat_completion"\nmodel = "m"\nmax_tokens = 0\n',
  })
  const r = await validateConfigFiles({ configFile: path.join(dir, '*.toml') })
  t.same(r.diagnostics.map((d) => [path.basename(d.file), d.line, d.col]), [['b.toml', 5, 1]])
  t.match(r.diagnostics[0].message, '`functions.f.variants.v.max_tokens` must be greater than 0')
})

t.test('a key defined in two files is an error naming both positions', async (t) => {
  const r = await validateConfigFiles({ configFile: fx('dup', '*.toml'), env: {} })
  t.equal(r.config, undefined)
  expectDiag(t, r.diagnostics, fx('dup', 'two.toml'), 3, 1, `\`models.m.routing\` is defined in several files; first at ${fx('dup', 'one.toml')}:2:1`)
})

t.test('no matching file is an error', async (t) => {
  await t.rejects(loadConfig({ configFile: fx('nothing', '*.toml') }), ConfigError)
  const r = await validateConfigFiles({ configFile: fx('nothing.toml') })
  t.match(r.diagnostics, [{ severity: 'error', message: /no config file matches/ }])
})

t.test('a bad config reports all its problems with exact positions', async (t) => {
  const file = fx('bad', 'several.toml')
  const err = await loadConfig({ configFile: file, env: {} }).catch((e: unknown) => e)
  t.type(err, ConfigError)
  const diags = (err as ConfigError).diagnostics
  const errors = diags.filter((d) => d.severity === 'error')
  expectDiag(t, diags, file, 2, 17, 'names `missing`, which is not a provider of model `m` (providers: a)')
  expectDiag(t, diags, file, 5, 1, 'unknown provider type "ollama"')
  t.ok(errors.find((d) => d.line === 5)!.message.includes(KNOWN_PROVIDER_TYPES.join(', ')), 'lists the known types')
  expectDiag(t, diags, file, 10, 52, 'unknown key `colour` in `models.n.providers.p`')
  expectDiag(t, diags, file, 10, 68, 'invalid api_key_location "vault::k"')
  expectDiag(t, diags, file, 11, 11, 'missing the required key `api_base`')
  expectDiag(t, diags, file, 11, 11, 'provider `q` of model `n` is not listed in `routing`')
  expectDiag(t, diags, file, 15, 10, 'uses tool `nope`, which is not defined in [tools]')
  expectDiag(t, diags, file, 20, 1, '`functions.f.variants.v.temperature` must be a number, got a string')
  expectDiag(t, diags, file, 21, 1, '`functions.f.variants.v.weight` must be ≥ 0, got -1')
  expectDiag(t, diags, file, 24, 1, 'unknown variant type "best_of_n"')
  expectDiag(t, diags, file, 28, 28, 'names variant `ghost`, which does not exist')
  expectDiag(t, diags, file, 30, 10, 'metric name `comment` is reserved')
  expectDiag(t, diags, file, 37, 1, 'invalid JSON in schema file')
  t.equal(errors.length, 13, 'exactly these errors, nothing cascades')
  t.notOk(diags.some((d) => d.line === 10 && d.message.includes('OPENAI_API_KEY')), 'no credential warning for a broken location')
  t.match((err as ConfigError).message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:17: `), 'message is file:line:col lines')
  t.equal((err as ConfigError).message.split('\n').length, 13, 'one line per error, warnings left out')
})

t.test('more semantic errors: templates, schemas, timeouts, tool_choice, weights with experimentation', async (t) => {
  const file = fx('bad', 'more.toml')
  const r = await validateConfigFiles({ configFile: file, env: {} })
  const d = r.diagnostics
  expectDiag(t, d, file, 2, 17, 'lists provider `d` twice')
  expectDiag(t, d, file, 3, 85, 'total_ms` must be greater than 0, got -5')
  expectDiag(t, d, file, 7, 1, 'invalid JSON Schema in')
  t.notOk(d.some(x => x.line === 9), 'tool_choice naming a tool the function lacks loads: as in TensorZero, a request\'s dynamic tools may supply it')
  expectDiag(t, d, file, 14, 1, 'sets `weight`, but the function has an [experimentation] section')
  expectDiag(t, d, file, 15, 1, `template file not found: ${fx('templates', 'missing.minijinja')}`)
  expectDiag(t, d, file, 16, 13, 'num_retries` must be an integer, got 1.5')
  expectDiag(t, d, file, 17, 1, 'json_mode` must be one of "off", "on", "strict", "tool", got "loose"')
  // track_and_stop is served now, and TensorZero requires the metric it optimises.
  expectDiag(t, d, file, 19, 14, '`functions.f.experimentation` is missing the required key `metric`')
  expectDiag(t, d, file, 26, 23, 'variant `x` of function `g` has no `user_template`, but the function has `user_schema`')
  expectDiag(t, d, file, 28, 1, 'provider type "vllm" cannot be used as a shorthand')
})

t.test('edge cases: reserved names, per-type model keys, extra_body shape, duplicate schema forms', async (t) => {
  const file = fx('bad', 'edge.toml')
  const d = (await validateConfigFiles({ configFile: file, env: {} })).diagnostics
  expectDiag(t, d, file, 1, 9, 'model name `tensorzero::mine` uses the reserved prefix')
  expectDiag(t, d, file, 2, 1, 'must name at least one provider')
  expectDiag(t, d, file, 9, 11, '(type "aws_bedrock") is missing the required key `model_id`')
  expectDiag(t, d, file, 10, 79, 'key `deployment_id` in `models.types.providers.o` is not known for provider type "openai"', 'warning')
  expectDiag(t, d, file, 10, 116, 'must be a JSON Pointer starting with "/", got "a"')
  expectDiag(t, d, file, 10, 144, 'needs exactly one of `value` or `delete = true`')
  expectDiag(t, d, file, 15, 9, '`functions.f.schemas.system` and `functions.f.system_schema` both define the system schema')
  expectDiag(t, d, file, 16, 1, 'must be "auto", "none", "required" or { specific = "TOOL" }, got "sometimes"')
  expectDiag(t, d, file, 25, 1, 'lists `a` twice')
  expectDiag(t, d, file, 24, 1, 'Experimentation type `uniform` is deprecated. Use `static` instead.', 'warning')
  expectDiag(t, d, file, 27, 10, 'metric name `tensorzero::m` uses the reserved prefix')
  t.equal(d.length, 11, 'nothing else (tgi without model_name, vertex with endpoint_id are fine)')

  const dir = t.testdir({
    'tz.toml': [
      '[models.m]',
      'routing = ["tgi", "vertex"]',
      'providers.tgi = { type = "tgi", api_base = "http://tgi:8080" }',
      'providers.vertex = { type = "gcp_vertex_gemini", endpoint_id = "123", location = "us-central1", project_id = "p" }',
      '[functions.f]',
      'type = "chat"',
      '[functions.f.variants.a]',
      'type = "chat_completion"',
      'model = "m"',
      '[functions.f.variants.b]',
      'type = "chat_completion"',
      'model = "m"',
      '[functions.f.experimentation]',
      'type = "uniform"',
      'fallback_variants = ["b"]',
    ].join('\n'),
  })
  const cfg = await loadConfig({ configFile: path.join(dir, 'tz.toml'), env: {} })
  const m = cfg.tensorzero.models.get('m')!
  t.match(m.providers.get('tgi'), { modelName: '', apiBase: 'http://tgi:8080', keyLocation: { kind: 'none' } })
  t.match(m.providers.get('vertex'), { modelName: '123', keyLocation: { kind: 'none' },
    options: { endpoint_id: '123', location: 'us-central1', project_id: 'p' } })
  t.same(cfg.tensorzero.functions.get('f')!.experimentation, { type: 'static', candidates: new Map([['a', 1]]), fallbacks: ['b'] },
    'uniform with fallbacks: every other variant is an equal-weight candidate')
  t.match(cfg.warnings, [{ severity: 'warning', message: 'Experimentation type `uniform` is deprecated. Use `static` instead.' }], 'only TensorZero\'s deprecation warning')
  t.equal(cfg.warnings.length, 1)
})

t.test('TOML syntax errors carry smol-toml\'s position; forbidden keys are refused', async (t) => {
  const syntax = await validateConfigFiles({ configFile: fx('bad', 'syntax.toml') })
  t.same(syntax.diagnostics.map((d) => [d.line, d.col, d.severity]), [[3, 1, 'error']])
  t.match(syntax.diagnostics[0].message, /^TOML syntax error: expected comma or end of structure$/)
  const proto = await validateConfigFiles({ configFile: fx('bad', 'proto.toml') })
  expectDiag(t, proto.diagnostics, fx('bad', 'proto.toml'), 4, 1, 'key `__proto__` is not allowed')
})

t.test('unknown sections and gateway keys load; unknown top-level names warn', async (t) => {
  const dir = t.testdir({
    'tz.toml': '[gateway]\nexport.otlp.traces.enabled = true\n[rate_limiting]\nenabled = false\n[postgres]\nx = 1\n[modles.x]\nrouting = []\n',
  })
  const r = await validateConfigFiles({ configFile: path.join(dir, 'tz.toml') })
  t.ok(r.config, 'loads')
  t.same(r.diagnostics.map((d) => [d.line, d.col, d.severity]), [[7, 2, 'warning']])
})

t.test('gateway keys the sidecar does not keep are still checked as TensorZero checks them', async (t) => {
  const dir = t.testdir({
    'tz.toml': '[gateway]\nbind_address = "everywhere"\ndebug = "yes"\nobservability.batch_writes = { enabled = 1 }\n',
  })
  const file = path.join(dir, 'tz.toml')
  const r = await validateConfigFiles({ configFile: file })
  t.equal(r.config, undefined)
  expectDiag(t, r.diagnostics, file, 2, 1, '`gateway.bind_address` must be HOST:PORT, got "everywhere"')
  expectDiag(t, r.diagnostics, file, 3, 1, '`gateway.debug`')
  expectDiag(t, r.diagnostics, file, 4, 32, '`gateway.observability.batch_writes.enabled` must be a boolean')
  t.equal(r.diagnostics.length, 3)
})

t.test('sidecar routes: strings, tables, globs and shorthand targets', async (t) => {
  const cfg = await loadConfig({ configFile: fx('valid', 'tensorzero.toml'), sidecarConfig: fx('sidecar', 'good.toml'), env: FULL_ENV })
  const s = cfg.sidecar
  t.equal(s.file, fx('sidecar', 'good.toml'))
  t.equal(s.service, 'agent-zero')
  t.equal(s.unmatched, 'passthrough')
  t.equal(s.passthroughUpstream, 'http://pmoves-ollama:11434')
  t.same(s.exactRoutes.get('gpt-4o-mini'), { kind: 'function', functionName: 'agent_zero' })
  t.same(s.exactRoutes.get('gpt-4o'), { kind: 'function', functionName: 'agent_zero', variantName: 'hosted_openai' })
  t.same(s.exactRoutes.get('pinned'), { kind: 'function', functionName: 'agent_zero', variantName: 'local' })
  t.same(s.exactRoutes.get('text-embedding-3-small'), { kind: 'embedding_model', modelName: 'gemma_embed_local' })
  t.same(s.globRoutes.map((g) => g.pattern), ['claude-*', '*-mini.v1'], 'globs in file order')
  t.ok(s.globRoutes[0].glob.test('claude-3-opus'))
  t.notOk(s.globRoutes[0].glob.test('xclaude-3'), 'anchored')
  t.ok(s.globRoutes[1].glob.test('gpt-4o-mini.v1'))
  t.notOk(s.globRoutes[1].glob.test('gpt-4o-minixv1'), '. is literal')
  t.equal(cfg.tensorzero.models.get('anthropic::claude-haiku-4-5')?.shorthand, true, 'shorthand model target synthesized')
  t.equal(cfg.tensorzero.embeddingModels.get('openai::text-embedding-3-large')?.shorthand, true, 'shorthand embedding target synthesized')
  t.same(cfg.warnings.filter((w) => w.file === fx('sidecar', 'good.toml')), [], 'credentials present: no warnings for shorthand targets')
})

t.test('sidecar route validation errors point at the route key', async (t) => {
  const file = fx('sidecar', 'bad.toml')
  const r = await validateConfigFiles({ configFile: fx('valid', 'tensorzero.toml'), sidecarConfig: file, env: FULL_ENV })
  const d = r.diagnostics
  t.equal(r.config, undefined)
  expectDiag(t, d, file, 1, 1, '`unmatched = "passthrough"` needs `passthrough_upstream`')
  expectDiag(t, d, file, 2, 1, 'unknown key `colour` at top level')
  expectDiag(t, d, file, 5, 1, 'route "a": function `nope` is not defined')
  expectDiag(t, d, file, 6, 1, 'function `agent_zero` has no variant `ghost` (variants: bon, hosted_openai, local)')
  expectDiag(t, d, file, 7, 1, '"ollama" is not a known provider type')
  expectDiag(t, d, file, 8, 1, 'needs exactly one of `function`, `model`, `embedding_model` (got function, model)')
  expectDiag(t, d, file, 9, 1, 'route "e": "gpt-4o" is not a target')
  expectDiag(t, d, file, 10, 1, 'model `local_chat` is not defined in [embedding_models]')
  expectDiag(t, d, file, 11, 1, '`routes.g` must be a string or a table, got a number')
  expectDiag(t, d, file, 12, 1, 'can never match', 'warning')
  t.equal(d.filter((x) => x.severity === 'error').length, 9)
})

t.test('route target strings and globs', async (t) => {
  t.same(parseTargetString('tensorzero::function_name::f'), { kind: 'function', functionName: 'f' })
  t.same(parseTargetString('tensorzero::function_name::f::variant_name::v'), { kind: 'function', functionName: 'f', variantName: 'v' })
  t.same(parseTargetString('tensorzero::model_name::openai::gpt-4o'), { kind: 'model', modelName: 'openai::gpt-4o' })
  t.same(parseTargetString('tensorzero::embedding_model_name::e'), { kind: 'embedding_model', modelName: 'e' })
  t.equal(parseTargetString('tensorzero::function_name::'), undefined)
  t.equal(parseTargetString('gpt-4o'), undefined)
  t.ok(compileGlob('a*b*').test('aXXbYY'))
  t.ok(compileGlob('(x)+*').test('(x)+anything'), 'regex characters are literal')
  t.notOk(compileGlob('(x)+*').test('xx'))
  t.notOk(compileGlob('a*b*c').test('ac'), 'pieces may not overlap')
  t.ok(compileGlob('a*a').test('aa') && !compileGlob('a*a').test('a'), 'prefix and suffix are distinct characters')
  t.ok(compileGlob('*-x-*-y').test('claude--x--y') && !compileGlob('*-x-*-y').test('claude--y--x'), 'middle pieces in order')
  t.ok(compileGlob('**').test('') && compileGlob('ab').test('ab') && !compileGlob('ab').test('abc'), 'no star: exact')
})

t.test('position index: headers, dotted and quoted keys, inline tables, arrays', async (t) => {
  const idx = buildPositionIndex([
    '[models."gpt-4o.x"]', // 1
    'routing = [ "a",', // 2
    '  "b" ]  # comment', // 3
    'providers.a = { type = "openai", extra = { "k.v" = 1 } }', // 4
    's = """multi', // 5
    'line"""', // 6
    '[[functions.f.variants.v.extra_body]]', // 7
    'pointer = "/a"', // 8
    '[[functions.f.variants.v.extra_body]]', // 9
    "'lit' = 'x'", // 10
  ].join('\n'))
  t.same(idx.get(['models', 'gpt-4o.x']), { line: 1, col: 9 })
  t.same(idx.get(['models', 'gpt-4o.x', 'routing', '1']), { line: 3, col: 3 })
  t.same(idx.get(['models', 'gpt-4o.x', 'providers', 'a']), { line: 4, col: 11 })
  t.same(idx.get(['models', 'gpt-4o.x', 'providers', 'a', 'type']), { line: 4, col: 17 })
  t.same(idx.get(['models', 'gpt-4o.x', 'providers', 'a', 'extra', 'k.v']), { line: 4, col: 44 })
  t.same(idx.get(['models', 'gpt-4o.x', 's']), { line: 5, col: 1 })
  t.same(idx.get(['functions', 'f', 'variants', 'v', 'extra_body', '0', 'pointer']), { line: 8, col: 1 })
  t.same(idx.get(['functions', 'f', 'variants', 'v', 'extra_body', '1', 'lit']), { line: 10, col: 1 })
  t.same(idx.find(['models', 'gpt-4o.x', 'timeouts', 'x']), { line: 1, col: 9 }, 'missing key → enclosing table')
  t.same(idx.find(['nowhere']), { line: 1, col: 1 })

  const escapes = buildPositionIndex([
    '[t]\r', // 1 (CRLF line ends)
    '"a\\u0041\\"b" = 1979-05-27 07:32:00 # date with a space\r', // 2
    "m = '''it's", // 3
    "'''", // 4
    'n = """x\\', // 5
    '  y""" ; z = 1', // 6: `; z` is not TOML, but the scanner must not loop on it
    'last = [ [1, 2], { q = true } ]', // 7
  ].join('\n'))
  t.same(escapes.get(['t', 'aA"b']), { line: 2, col: 1 }, 'escapes in quoted keys decoded')
  t.same(escapes.get(['t', 'm']), { line: 3, col: 1 })
  t.same(escapes.get(['t', 'n']), { line: 5, col: 1 })
  t.same(escapes.get(['t', 'last', '0', '1']), { line: 7, col: 14 })
  t.same(escapes.get(['t', 'last', '1', 'q']), { line: 7, col: 20 })
})

t.test('resolveApiKey', async (t) => {
  t.same(resolveApiKey({ kind: 'none' }, undefined, {}), { ok: true })
  t.same(resolveApiKey({ kind: 'env', name: 'K' }, undefined, { K: 'sk-1' }), { ok: true, key: 'sk-1' })
  t.same(resolveApiKey({ kind: 'env', name: 'OPENAI_API_KEY' }, undefined, {}),
    { ok: false, message: 'API key missing: environment variable OPENAI_API_KEY is not set' })
  t.same(resolveApiKey({ kind: 'dynamic', name: 'mine' }, { mine: 'sk-d' }, {}), { ok: true, key: 'sk-d' })
  t.match(resolveApiKey({ kind: 'dynamic', name: 'mine' }, undefined, {}), { ok: false, message: /dynamic credential mine/ })

  const dir = t.testdir({ 'key.txt': 'sk-file\n' })
  const keyFile = path.join(dir, 'key.txt')
  t.same(resolveApiKey({ kind: 'path', path: keyFile }, undefined, {}), { ok: true, key: 'sk-file' }, 'trailing newline trimmed')
  writeFileSync(keyFile, 'sk-changed')
  t.same(resolveApiKey({ kind: 'path', path: keyFile }, undefined, {}), { ok: true, key: 'sk-file' }, 'read once, then cached')
  clearCredentialCache()
  t.same(resolveApiKey({ kind: 'path', path: keyFile }, undefined, {}), { ok: true, key: 'sk-changed' })
  t.match(resolveApiKey({ kind: 'path', path: path.join(dir, 'none') }, undefined, {}), { ok: false, message: /cannot read file .*none \(ENOENT\)/ })
  t.same(resolveApiKey({ kind: 'path_from_env', name: 'KF' }, undefined, { KF: keyFile }), { ok: true, key: 'sk-changed' })
  t.match(resolveApiKey({ kind: 'path_from_env', name: 'KF' }, undefined, {}), { ok: false, message: /environment variable KF/ })
})

t.test('DEFAULT_KEY_ENV: defaults for hosted types, none for self-hosted and dummy', async (t) => {
  t.equal(DEFAULT_KEY_ENV.openai, 'OPENAI_API_KEY')
  t.equal(DEFAULT_KEY_ENV.google_ai_studio_gemini, 'GOOGLE_AI_STUDIO_API_KEY')
  t.equal(DEFAULT_KEY_ENV.azure, 'AZURE_OPENAI_API_KEY')
  for (const type of ['vllm', 'sglang', 'tgi', 'dummy']) t.equal(DEFAULT_KEY_ENV[type], undefined, type)
})
