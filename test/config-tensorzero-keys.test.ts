// Keys of the current TensorZero config, as its serde structs accept or refuse them (crates/tensorzero-core/src/config/
// gateway.rs, model.rs, embeddings.rs, providers/mistral.rs; tensorzero-inference-types credentials.rs): a green
// `validate` means the TensorZero gateway starts on that config too, and what TensorZero accepts loads here.
import t from 'tap'
import path from 'node:path'
import { mkdir, mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import OpenAI from 'openai'
import { validateConfigFiles } from '../src/config/load.ts'
import { formatDiagnostic } from '../src/config/diagnostics.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import { runCli } from './helpers/process.ts'
import { configSnapshot } from '../src/store/config-snapshot.ts'
import { storedConfigToml } from '../src/store/stored-config.ts'

/** `files`: other files beside tensorzero.toml (schemas, templates), by name. */
async function validate (t: { teardown: (fn: () => Promise<void>) => void }, toml: string, files: Record<string, string> = {}): Promise<{ ok: boolean; lines: string[]; config: Awaited<ReturnType<typeof validateConfigFiles>>['config'] }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-keys-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'tensorzero.toml')
  await writeFile(file, toml)
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true })
    await writeFile(path.join(dir, name), text)
  }
  const result = await validateConfigFiles({ configFile: file, env: {} })
  return { ok: result.config !== undefined, lines: result.diagnostics.map(d => formatDiagnostic(d).slice(file.length + 1)), config: result.config }
}

t.test('[gateway]: a key TensorZero does not know is an error at its line (the gateway would refuse to start)', async t => {
  const r = await validate(t, '[gateway]\nbind_adress = "0.0.0.0:3000"\n[gateway.observability]\nenabled = false\nasync_write = true\n')
  t.notOk(r.ok)
  t.same(r.lines, ['2:1: unknown key `bind_adress` in `gateway`', '5:1: unknown key `async_write` in `gateway.observability`'])
  const known = await validate(t, `[gateway]
bind_address = "0.0.0.0:3000"
debug = true
base_path = "/custom"
unstable_error_json = true
disable_pseudonymous_usage_analytics = true
global_outbound_http_timeout_ms = 900000
fetch_and_encode_input_files_before_inference = false
[gateway.observability]
enabled = true
async_writes = false
batch_writes = { enabled = true, flush_interval_ms = 200, max_rows = 500 }
[gateway.export.otlp.traces]
enabled = false
[gateway.auth]
enabled = false
[gateway.metrics]
tensorzero_inference_latency_overhead_seconds_buckets = [0.001, 0.1]
[gateway.cache]
enabled = false
`)
  t.ok(known.ok, 'every key TensorZero accepts loads')
  t.same(known.lines, [])
})

t.test('template_filesystem_access: `enabled` is deprecated (a warning), `base_path` is kept relative to its file', async t => {
  const r = await validate(t, '[gateway.template_filesystem_access]\nenabled = true\nbase_path = "prompts"\n', { 'prompts/system.minijinja': 'hi' })
  t.ok(r.ok)
  t.match(r.lines, [/^2:1: warning: `template_filesystem_access.enabled` is deprecated/])
  t.match(r.config?.tensorzero.gateway.templateBasePath, /tz-keys-[^/]+\/prompts$/)
})

t.test('embedding models take `timeout_ms` (model and provider); their removed `timeouts` table is refused', async t => {
  const ok = await validate(t, `[embedding_models.e]
routing = ["d"]
timeout_ms = 1500
[embedding_models.e.providers.d]
type = "dummy"
model_name = "embed"
timeout_ms = 700
`)
  t.ok(ok.ok)
  t.same(ok.config?.tensorzero.embeddingModels.get('e')?.timeouts, { nonStreamingTotalMs: 1500 })
  t.same(ok.config?.tensorzero.embeddingModels.get('e')?.providers.get('d')?.timeouts, { nonStreamingTotalMs: 700 })
  const removed = await validate(t, `[embedding_models.e]
routing = ["d"]
timeouts = { non_streaming = { total_ms = 1500 } }
[embedding_models.e.providers.d]
type = "dummy"
model_name = "embed"
timeouts = { non_streaming = { total_ms = 700 } }
`)
  t.notOk(removed.ok)
  t.same(removed.lines, ['3:1: unknown key `timeouts` in `embedding_models.e`', '7:1: unknown key `timeouts` in `embedding_models.e.providers.d`'])
})

t.test('a model\'s `namespace` loads (it is served), `skip_relay` loads with a warning saying the sidecar does nothing with it', async t => {
  const r = await validate(t, '[models.m]\nrouting = ["d"]\nnamespace = "team_a"\nskip_relay = true\nproviders.d = { type = "dummy", model_name = "good" }\n')
  t.ok(r.ok)
  t.match(r.lines, [/^4:1: warning: `models.m.skip_relay` is not used by tz-sidecar/])
  t.equal(r.config?.tensorzero.models.get('m')?.namespace, 'team_a')
})

t.test('a variant\'s `namespace` loads on every variant type, a DICL variant takes `timeouts`; a bad namespace is an error at its line', async t => {
  const r = await validate(t, `[embedding_models.e]
routing = ["d"]
providers.d = { type = "dummy", model_name = "good" }
[functions.f]
type = "chat"
[functions.f.variants.plain]
type = "chat_completion"
model = "dummy::good"
namespace = "team_a"
[functions.f.variants.best]
type = "experimental_best_of_n_sampling"
candidates = ["plain"]
namespace = "team_a"
evaluator = { model = "dummy::good" }
[functions.f.variants.examples]
type = "experimental_dynamic_in_context_learning"
model = "dummy::good"
embedding_model = "e"
k = 2
namespace = "team_a"
timeouts = { non_streaming = { total_ms = 1500 } }
[functions.f.variants.base]
type = "chat_completion"
model = "dummy::good"
[functions.f.experimentation]
type = "static"
candidate_variants = ["base"]
[functions.f.experimentation.namespaces.team_a]
type = "static"
candidate_variants = ["plain", "best", "examples"]
`)
  t.ok(r.ok, r.lines.join('\n'))
  t.same(r.lines.filter(l => l.includes('namespace')), [], 'namespaces are served: no warning')
  const variants = r.config?.tensorzero.functions.get('f')?.variants
  t.same(['plain', 'best', 'examples', 'base'].map(v => variants?.get(v)?.namespace), ['team_a', 'team_a', 'team_a', undefined])
  t.same(r.config?.tensorzero.functions.get('f')?.variants.get('examples')?.timeouts, { nonStreamingTotalMs: 1500 }, 'the DICL variant\'s timeouts are read')

  const bad = await validate(t, '[models.m]\nrouting = ["d"]\nnamespace = ""\nproviders.d = { type = "dummy", model_name = "good" }\n' +
    '[functions.f]\ntype = "chat"\n[functions.f.variants.v]\ntype = "chat_completion"\nmodel = "m"\nnamespace = "tensorzero::mine"\n')
  t.notOk(bad.ok)
  t.same(bad.lines, [
    '3:1: `models.m.namespace`: Namespace identifier cannot be empty',
    '10:1: `functions.f.variants.v.namespace`: Namespace cannot start with `tensorzero::`: tensorzero::mine'
  ])
})

t.test('a namespaced variant, or a variant on a namespaced model, that the base experiment can reach is an error (TensorZero refuses to start)', async t => {
  const toml = (experimentation: string): string => `[models.scoped]
routing = ["d"]
namespace = "team_a"
providers.d = { type = "dummy", model_name = "good" }
[functions.f]
type = "chat"
[functions.f.variants.base]
type = "chat_completion"
model = "dummy::good"
[functions.f.variants.own]
type = "chat_completion"
model = "dummy::good"
namespace = "team_a"
[functions.f.variants.on_scoped]
type = "chat_completion"
model = "scoped"
${experimentation}`
  const reached = await validate(t, toml(''))
  t.notOk(reached.ok, 'no [experimentation]: every variant is reachable')
  t.same(reached.lines.filter(l => !l.includes('warning')), [
    '10:23: Variant `own` of function `f` has namespace `team_a`, but is reachable from the base experimentation config. Namespaced variants must only be reachable from a matching namespace experimentation config.',
    '14:23: Variant `on_scoped` of function `f` uses model `scoped` which has namespace `team_a`, but the variant is reachable from the base experimentation config. Namespaced model variants must only be reachable from a matching namespace experimentation config.'
  ])
  const scoped = await validate(t, toml(`[functions.f.experimentation]
type = "static"
candidate_variants = ["base"]
[functions.f.experimentation.namespaces.team_a]
type = "static"
candidate_variants = ["own", "on_scoped"]
`))
  t.ok(scoped.ok, `only the namespace's experiment reaches them: it loads (${scoped.lines.join('; ')})`)
  const fallback = await validate(t, toml('[functions.f.experimentation]\ntype = "static"\ncandidate_variants = ["base"]\nfallback_variants = ["own"]\n'))
  t.match(fallback.lines.filter(l => !l.includes('warning')), [/^10:23: Variant `own` of function `f` has namespace `team_a`, but is reachable/], 'a fallback is reachable too')
})

t.test('a JSON function\'s variant without `json_mode` loads with a warning that TensorZero\'s gateway refuses it (best-of-N aside)', async t => {
  const r = await validate(t, `[functions.j]
type = "json"
output_schema = "out.json"
[functions.j.variants.bare]
type = "chat_completion"
model = "dummy::json"
[functions.j.variants.set]
type = "chat_completion"
model = "dummy::json"
json_mode = "strict"
[functions.j.variants.best]
type = "experimental_best_of_n_sampling"
candidates = ["set"]
evaluator = { model = "dummy::json" }
[functions.j.variants.mix]
type = "experimental_mixture_of_n"
candidates = ["set"]
fuser = { model = "dummy::json" }
`, { 'out.json': '{"type":"object"}' })
  t.ok(r.ok, 'it loads: the sidecar serves these with json_mode "on"')
  t.same(r.lines.filter(l => l.includes('json_mode')).map(l => l.replace(/^\d+:\d+: /, '')), [
    'warning: `json_mode` must be specified for `[functions.j.variants.bare]` (parent function `j` is a JSON function): TensorZero\'s gateway refuses to start without it; tz-sidecar uses "on"',
    'warning: `json_mode` must be specified for `[functions.j.variants.mix.fuser]` (parent function `j` is a JSON function): TensorZero\'s gateway refuses to start without it; tz-sidecar uses "on"'
  ])
})

t.test('function `evaluators` load silently and define their metric; tool_choice naming a tool the function lacks loads (checked per request)', async t => {
  const r = await validate(t, `[functions.f]
type = "chat"
tool_choice = { specific = "lookup" }
[functions.f.variants.v]
type = "chat_completion"
model = "dummy::good"
[functions.f.evaluators.exact]
type = "exact_match"
`)
  t.ok(r.ok)
  t.same(r.lines, [])
  t.match(r.config?.tensorzero.metrics.get('tensorzero::function_name::f::evaluator_name::exact'), { type: 'boolean', optimize: 'max', level: 'inference' })
})

t.test('api_key_location = { default, fallback }: broken halves are errors at their line', async t => {
  const r = await validate(t, '[models.m]\nrouting = ["p"]\n[models.m.providers.p]\ntype = "openai"\nmodel_name = "x"\napi_key_location = { default = "vault::a", colour = "red" }\n')
  t.notOk(r.ok)
  t.match(r.lines.join('\n'), /unknown key `colour`/)
  t.match(r.lines.join('\n'), /invalid api_key_location "vault::a"/)
  t.match(r.lines.join('\n'), /missing the required key `fallback`|`.*fallback` is required|fallback/)
})

let fake: FakeOpenAI
t.before(async () => { fake = await startFakeOpenAI() })
t.teardown(async () => { await fake.close() })

t.test('api_key_location fallback: the default (a dynamic credential) when the request gives it, else the fallback', async t => {
  const s = await startTestSidecar({
    toml: `[models.m]
routing = ["p"]
[models.m.providers.p]
type = "openai"
model_name = "headers"
api_base = "${fake.url}/v1"
api_key_location = { default = "dynamic::customer_key", fallback = "env::TZ_KEYS_TEST_FALLBACK" }
`,
    env: { TZ_KEYS_TEST_FALLBACK: 'sk-fallback-0123456789' }
  })
  t.teardown(async () => { await s.close() })
  const client = new OpenAI({ baseURL: s.baseURL, apiKey: 'k', maxRetries: 0 })
  const messages = [{ role: 'user' as const, content: 'hi' }]
  await client.chat.completions.create({ model: 'tensorzero::model_name::m', messages, 'tensorzero::credentials': { customer_key: 'sk-customer-9876543210' } } as never)
  t.equal(fake.requests.at(-1)?.headers.authorization, 'Bearer sk-customer-9876543210', 'the dynamic credential')
  await client.chat.completions.create({ model: 'tensorzero::model_name::m', messages })
  t.equal(fake.requests.at(-1)?.headers.authorization, 'Bearer sk-fallback-0123456789', 'no credential given: the fallback')
})

t.test('mistral `prompt_mode` is sent to Mistral as the body field of that name', async t => {
  const s = await startTestSidecar({
    toml: `[models.magistral]
routing = ["mistral"]
[models.magistral.providers.mistral]
type = "mistral"
model_name = "ok"
api_base = "${fake.url}/v1"
api_key_location = "none"
prompt_mode = "reasoning"
`
  })
  t.teardown(async () => { await s.close() })
  const client = new OpenAI({ baseURL: s.baseURL, apiKey: 'k', maxRetries: 0 })
  await client.chat.completions.create({ model: 'tensorzero::model_name::magistral', messages: [{ role: 'user', content: 'hi' }] })
  t.equal(fake.requests.at(-1)?.body.prompt_mode, 'reasoning')
})

t.test('[gateway.auth]: `enabled` is required once the table is there; `enabled = true` warns that TensorZero API keys are not checked', async t => {
  const cacheOnly = await validate(t, '[gateway.auth.cache]\nenabled = true\nttl_ms = 60_000\n')
  t.notOk(cacheOnly.ok, 'a lone [gateway.auth.cache] fails, as it fails the TensorZero gateway (AuthConfig.enabled has no default)')
  t.same(cacheOnly.lines, ['1:10: `gateway.auth` is missing the required key `enabled`'])
  const unknown = await validate(t, '[gateway.auth]\nenabled = false\n[gateway.auth.cache]\nttl = 5\n')
  t.same(unknown.lines, ['4:1: unknown key `ttl` in `gateway.auth.cache`'])
  const enabled = await validate(t, '[gateway]\nauth.enabled = true\nauth.cache = { enabled = true, ttl_ms = 60_000 }\n')
  t.ok(enabled.ok, 'loads: the sidecar serves with its own SIDECAR_API_KEY instead')
  t.same(enabled.lines, ['2:6: warning: `gateway.auth.enabled`: tz-sidecar does not check TensorZero API keys, and SIDECAR_API_KEY is unset: requests are served without authentication'])
})

t.test('provider keys TensorZero reads on their types load: content_type_overrides, AWS credentials, Vertex Anthropic provider_tools, batch_cost', async t => {
  const r = await validate(t, `[models.m]
routing = ["vertex", "bedrock", "sagemaker", "claude"]
[models.m.providers.vertex]
type = "openai"
model_name = "google/gemini-2.0-flash"
api_key_location = "none"
batch_cost = [{ pointer = "/usage/prompt_tokens", cost_per_million = 1.5, required = true }]
[models.m.providers.vertex.content_type_overrides]
"application/pdf" = "image_url"
"audio/wav" = "input_audio"
[models.m.providers.bedrock]
type = "aws_bedrock"
model_id = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
region = "us-east-1"
api_key = "env::AWS_BEARER_TOKEN_BEDROCK"
[models.m.providers.sagemaker]
type = "aws_sagemaker"
endpoint_name = "e"
model_name = "m"
hosted_provider = "openai"
access_key_id = "env::AWS_ACCESS_KEY_ID"
secret_access_key = "env::AWS_SECRET_ACCESS_KEY"
session_token = "env::AWS_SESSION_TOKEN"
[models.m.providers.claude]
type = "gcp_vertex_anthropic"
model_id = "claude-haiku-4-5@20251001"
location = "us-central1"
project_id = "p"
provider_tools = [{ type = "web_search_20250305", name = "web_search" }]
`)
  t.ok(r.ok, 'loads')
  t.same(r.lines, ['8:28: warning: `models.m.providers.vertex.content_type_overrides` is not used by tz-sidecar: it sends image inputs as `image_url` blocks and accepts no other file inputs'],
    'the only remark: overrides the sidecar does not act on')
})

t.test('a content_type_overrides value TensorZero has no block type for is an error; a credential key on the wrong type stays one', async t => {
  const bad = await validate(t, '[models.m]\nrouting = ["o"]\n[models.m.providers.o]\ntype = "openai"\nmodel_name = "x"\napi_key_location = "none"\ncontent_type_overrides = { "application/pdf" = "pdf" }\n')
  t.notOk(bad.ok)
  t.same(bad.lines, ['7:28: `models.m.providers.o.content_type_overrides."application/pdf"` must be one of "image_url", "file", "input_audio", got "pdf"'])
  const key = await validate(t, '[models.m]\nrouting = ["o"]\n[models.m.providers.o]\ntype = "openai"\nmodel_name = "x"\napi_key_location = "none"\napi_key = "sk-123"\n')
  t.notOk(key.ok, '`api_key` on an openai provider: TensorZero refuses it, and ignoring a secret would hide the mistake')
  t.same(key.lines, ['7:1: unknown key `api_key` in `models.m.providers.o`'])
})

t.test('static and static_weights experimentation need `candidate_variants` (TensorZero gives it no default); uniform does not', async t => {
  const fn = '[functions.f]\ntype = "chat"\n[functions.f.variants.a]\ntype = "chat_completion"\nmodel = "dummy::good"\n[functions.f.variants.b]\ntype = "chat_completion"\nmodel = "dummy::good"\n[functions.f.experimentation]\n'
  const fallbackOnly = await validate(t, fn + 'type = "static"\nfallback_variants = ["b"]\n')
  t.same(fallbackOnly.lines, ['9:14: `functions.f.experimentation` is missing the required key `candidate_variants`'])
  const weightsFallbackOnly = await validate(t, fn + 'type = "static_weights"\nfallback_variants = ["b"]\n')
  t.same(weightsFallbackOnly.lines, ['9:14: `functions.f.experimentation` is missing the required key `candidate_variants`',
    '10:1: warning: Experimentation type `static_weights` is deprecated. Use `static` instead.'])
  const uniform = await validate(t, fn + 'type = "uniform"\nfallback_variants = ["b"]\n')
  t.ok(uniform.ok, 'uniform without candidates samples every variant that is not a fallback, as TensorZero does')
})

t.test('the legacy static_weights takes only a weight table, and the legacy types load with TensorZero\'s deprecation warnings', async t => {
  const fn = '[functions.f]\ntype = "chat"\n[functions.f.variants.a]\ntype = "chat_completion"\nmodel = "dummy::good"\n[functions.f.experimentation]\n'
  const listed = await validate(t, fn + 'type = "static_weights"\ncandidate_variants = ["a"]\n')
  t.same(listed.lines, ['7:1: warning: Experimentation type `static_weights` is deprecated. Use `static` instead.',
    '8:1: `functions.f.experimentation.candidate_variants` of `static_weights` experimentation must be a table of variant weights'])
  const weights = await validate(t, fn + 'type = "static_weights"\ncandidate_variants = { a = 1 }\n')
  const uniform = await validate(t, fn + 'type = "uniform"\n')
  t.ok(weights.ok && uniform.ok)
  t.match(weights.lines, [/^7:1: warning: Experimentation type `static_weights` is deprecated. Use `static` instead.$/])
  t.match(uniform.lines, [/^7:1: warning: Experimentation type `uniform` is deprecated. Use `static` instead.$/])
})

t.test('[gateway] relay, metrics, cache and export: keys and values TensorZero refuses are errors, although the sidecar acts on none of them', async t => {
  const bad = await validate(t, `[gateway.relay]
gateway_uri = "http://relay:3000"
[gateway.metrics]
tensorzero_inference_latency_overhead_seconds_buckets = [0.1, 0.01]
[gateway.cache]
backend = "redis"
valkey = { ttl = 60 }
[gateway.export.otlp.traces]
enabled = true
format = "zipkin"
`)
  t.same(bad.lines, [
    '2:1: unknown key `gateway_uri` in `gateway.relay`',
    '4:1: `gateway.metrics.tensorzero_inference_latency_overhead_seconds_buckets` must be strictly ascending, but [1] (0.01) <= [0] (0.1)',
    '6:1: `gateway.cache.backend` must be one of "auto", "clickhouse", "valkey", got "redis"',
    '7:12: unknown key `ttl` in `gateway.cache.valkey`',
    '10:1: `gateway.export.otlp.traces.format` must be one of "opentelemetry", "openinference", got "zipkin"',
  ])
  const good = await validate(t, `[gateway.relay]
gateway_url = "http://relay:3000"
api_key_location = { default = "dynamic::relay_api_key", fallback = "env::TENSORZERO_RELAY_API_KEY" }
[gateway.cache]
enabled = true
backend = "valkey"
valkey.ttl_s = 86400
[gateway.export.otlp.traces]
enabled = true
format = "openinference"
include_content = false
extra_headers = { "x-team" = "ml" }
`)
  t.same(good.lines, [], 'what TensorZero accepts loads, silently')
})

// Each key TensorZero reads as a file (or folder) at load, written next to a file that is there: the missing one is a
// config error at its key, as the TensorZero gateway refuses to start on it.
const FN = '[functions.f]\ntype = "chat"\n[functions.f.variants.v]\ntype = "chat_completion"\nmodel = "dummy::good"\n'
const FILE_KEYS: Record<string, (name: string) => string> = {
  'functions.f.evaluators.score.typescript_file': name => `${FN}[functions.f.evaluators.score]
type = "typescript"
output_type = "float"
optimize = "max"
typescript_file = "${name}"
`,
  'evaluations.e.evaluators.judge.variants.jv.system_instructions': name => `${FN}[evaluations.e]
type = "inference"
function_name = "f"
[evaluations.e.evaluators.judge]
type = "llm_judge"
output_type = "boolean"
optimize = "max"
[evaluations.e.evaluators.judge.variants.jv]
type = "chat_completion"
model = "dummy::good"
system_instructions = "${name}"
`,
  'functions.f.evaluators.judge.variants.best.evaluator.templates.grade.path': name => `${FN}[functions.f.evaluators.judge]
type = "llm_judge"
output_type = "float"
optimize = "max"
[functions.f.evaluators.judge.variants.best]
type = "experimental_best_of_n_sampling"
evaluator = { model = "dummy::good", system_instructions = "present.txt", templates.grade.path = "${name}" }
`,
  'functions.f.variants.v.input_wrappers.user': name => `${FN}input_wrappers.user = "${name}"\n`,
  'gateway.template_filesystem_access.base_path': name => `${FN}[gateway.template_filesystem_access]\nbase_path = "${name}"\n`
}

t.test('validate reads every file TensorZero reads at load (typescript_file, judge variants, input_wrappers, base_path): a missing one is an error at its key', async t => {
  for (const [key, toml] of Object.entries(FILE_KEYS)) {
    const folder = key.endsWith('base_path')
    const present = await validate(t, toml(folder ? 'prompts' : 'present.txt'), folder ? { 'prompts/a.minijinja': 'a' } : { 'present.txt': 'text' })
    t.same(present.lines, [], `${key}: present, it loads`)
    // What validate passes, the start's config snapshot can read (it opens every one of these keys again).
    const snapshot = await configSnapshot(present.config!.tensorzero)
    t.match(snapshot.config, folder ? /__tensorzero_remapped_path = ".*prompts"/ : /__data = "text"/, `${key}: in the snapshot`)
    const missing = await validate(t, toml('gone.txt'), folder ? {} : { 'present.txt': 'text' })
    t.notOk(missing.ok, `${key}: missing, validate fails`)
    const line = toml('gone.txt').split('\n').findIndex(l => l.includes('gone.txt')) + 1
    t.match(missing.lines, [new RegExp(`^${line}:\\d+: (text file|folder) not found: .*gone\\.txt \\(from \`${key.replace(/\./g, '\\.')}\` = "gone\\.txt"\\)$`)], `${key}: at its line`)
  }
  const file = await validate(t, FILE_KEYS['gateway.template_filesystem_access.base_path']('present.txt'), { 'present.txt': 'text' })
  t.match(file.lines, [/^7:1: not a folder: .*present\.txt/], 'base_path naming a file is refused too')
  const wrapper = await validate(t, `${FN}input_wrappers.tool = "present.txt"\n`, { 'present.txt': 'text' })
  t.same(wrapper.lines, ['6:16: unknown key `tool` in `functions.f.variants.v.input_wrappers`'], 'input_wrappers takes only the three roles')
})

t.test('a file removed between load and snapshot: the snapshot error names the key and the config file, not a bare ENOENT', async t => {
  const r = await validate(t, FILE_KEYS['functions.f.variants.v.input_wrappers.user']('present.txt'), { 'present.txt': 'text' })
  const configFile = r.config!.tensorzero.files[0]
  await rm(path.join(path.dirname(configFile), 'present.txt'))
  await t.rejects(storedConfigToml(r.config!.tensorzero.files),
    { message: `${configFile}: \`functions.f.variants.v.input_wrappers.user\` names a file that can no longer be read: ENOENT: no such file or directory, realpath '${path.join(path.dirname(configFile), 'present.txt')}'` })
})

t.test('serve on a config naming a missing typescript_file exits 1 with the file:line:col line, before listening', async t => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-keys-serve-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'tensorzero.toml')
  await writeFile(file, FILE_KEYS['functions.f.evaluators.score.typescript_file']('score.ts'))
  const r = await runCli(['serve', '--config-file', file, '--bind-address', '127.0.0.1:0'], { TENSORZERO_CLICKHOUSE_URL: '' })
  t.equal(r.code, 1)
  t.match(r.stdout + r.stderr, `${file}:10:1: text file not found: ${path.join(dir, 'score.ts')} (from \`functions.f.evaluators.score.typescript_file\` = "score.ts")`)
  t.notMatch(r.stdout + r.stderr, /ENOENT|listening/)
})
