// `[rate_limiting]` in tensorzero.toml: every rule shape TensorZero accepts, resolved; what it rejects, an error at
// file:line:col; what it ignores, a warning. And `validate` / `serve` when no store is configured.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { validateConfigFiles } from '../src/config/load.ts'
import { formatDiagnostic } from '../src/config/diagnostics.ts'
import type { ConfigDiagnostic, RateLimitingConfig } from '../src/core/config.ts'
import { runCli } from './helpers/process.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'tz-rl-config-'))
let n = 0
const BASE = '[functions.f]\ntype = "chat"\n[functions.f.variants.v]\ntype = "chat_completion"\nmodel = "dummy::good"\n'
const STORE = { TENSORZERO_VALKEY_URL: 'redis://127.0.0.1:1' }

async function load (toml: string, env: NodeJS.ProcessEnv = STORE): Promise<{ file: string; config?: RateLimitingConfig; diags: ConfigDiagnostic[]; lines: string[] }> {
  const file = path.join(dir, `c${n++}.toml`)
  writeFileSync(file, BASE + toml)
  const r = await validateConfigFiles({ configFile: file, env })
  return { file, config: r.config?.tensorzero.rateLimiting, diags: r.diagnostics, lines: r.diagnostics.map(d => formatDiagnostic(d, dir)) }
}

/** Line of `text` in the file, 1-based (BASE is 5 lines). */
const lineOf = (file: string, toml: string, text: string): string => `${path.basename(file)}:${(BASE + toml).split('\n').findIndex(l => l.includes(text)) + 1}:`

t.test('every accepted shape resolves: shorthand amounts, buckets, cost in nano-dollars, scopes sorted, priority and always', async t => {
  const toml = `
[rate_limiting]
default_cost = 0.25
backend = "valkey"

[[rate_limiting.rules]]
model_inferences_per_minute = 10
tokens_per_day = { capacity = 5000, refill_rate = 100 }
cost_per_month = 1.5
always = true

[[rate_limiting.rules]]
tokens_per_hour = 7
scope = [{ tag_key = "user", tag_value = "tensorzero::each" }, { tag_key = "app", tag_value = "tensorzero::total" }, { tag_key = "app", tag_value = "web" }]
priority = 3

[[rate_limiting.rules]]
model_inferences_per_second = 0
scope = [{ api_key_public_id = "tensorzero::each" }]
always = false
priority = 0
`
  const { config, diags } = await load(toml)
  t.same(diags.filter(d => d.severity === 'error'), [])
  t.ok(config)
  const c = config as RateLimitingConfig
  t.equal(c.enabled, true)
  t.equal(c.backend, 'valkey')
  t.equal(c.defaultNanoCost, 250_000_000)
  t.same(c.rules[0].limits, [
    { resource: 'model_inference', interval: 'minute', capacity: 10, refillRate: 10 },
    { resource: 'token', interval: 'day', capacity: 5000, refillRate: 100 },
    { resource: 'cost', interval: 'month', capacity: 1_500_000_000, refillRate: 1_500_000_000 }
  ])
  t.equal(c.rules[0].priority, 'always')
  t.same(c.rules[0].scopes, [])
  t.equal(c.rules[1].priority, 3)
  t.same(c.rules[1].scopes, [
    { kind: 'tag', tagKey: 'app', tagValue: { kind: 'concrete', value: 'web' } },
    { kind: 'tag', tagKey: 'app', tagValue: { kind: 'total' } },
    { kind: 'tag', tagKey: 'user', tagValue: { kind: 'each' } }
  ], 'sorted as TensorZero sorts them (their order is part of every bucket key)')
  t.equal(c.rules[2].priority, 0, '`always = false` with a priority is that priority')
  t.ok(diags.some(d => d.severity === 'warning' && d.message.includes('api_key_public_id')), 'API key scopes load but are said never to apply here')
})

t.test('what TensorZero rejects is an error at its key', async t => {
  const cases: Array<[toml: string, at: string, message: string]> = [
    ['tokens_per_fortnight = 5\npriority = 0', 'tokens_per_fortnight', 'unknown rate limit interval `fortnight`'],
    ['requests_per_minute = 5\npriority = 0', 'requests_per_minute', 'unknown rate limit resource `requests`'],
    ['tokens_per_minute = -1\npriority = 0', 'tokens_per_minute', 'Rate limit value must either be a nonnegative integer'],
    ['tokens_per_minute = 1.5\npriority = 0', 'tokens_per_minute', 'nonnegative integer'],
    ['tokens_per_minute = { capacity = 5 }\npriority = 0', 'tokens_per_minute', 'nonnegative integer'],
    ['tokens_per_minute = { capacity = 5, refill_rate = 1, burst = 2 }\npriority = 0', 'tokens_per_minute', 'nonnegative integer'],
    ['cost_per_day = -0.5\npriority = 0', 'cost_per_day', 'Cost rate limit value must either be a nonnegative number'],
    ['tokens_per_minute = 5', '[[rate_limiting.rules]]', 'the `priority` field is required when `always` is not true'],
    ['tokens_per_minute = 5\nalways = false', '[[rate_limiting.rules]]', 'the `priority` field is required'],
    ['tokens_per_minute = 5\nalways = true\npriority = 1', 'always = true', 'cannot specify both `always` and `priority` fields'],
    ['tokens_per_minute = 5\npriority = -1', 'priority = -1', 'must be a non-negative integer'],
    ['tokens_per_minute = 5\npriority = 0\nscope = [{ tag_key = "u", tag_value = "tensorzero::all" }]', 'scope', 'may not start with "tensorzero::"'],
    ['tokens_per_minute = 5\npriority = 0\nscope = [{ api_key_public_id = "short" }]', 'scope', 'must be 12 characters long'],
    ['tokens_per_minute = 5\npriority = 0\nscope = [{ model = "x" }]', 'scope', 'data did not match any known scope structure'],
    ['tokens_per_minute = 5\npriority = 0\nscope = [{ tag_key = "u", tag_value = "a" }, { tag_key = "u", tag_value = "a" }]', 'scope', 'duplicate scopes are not allowed in the same rule'],
    ['tokens_per_minute = 5\npriority = 0\nscope = [{ tag_key = "u" }]', 'scope', 'is missing the required key `tag_value`']
  ]
  for (const [rule, at, message] of cases) {
    const toml = `\n[[rate_limiting.rules]]\n${rule}\n`
    const { file, config, lines } = await load(toml)
    t.equal(config, undefined, `rejected: ${rule.replaceAll('\n', '; ')}`)
    t.ok(lines.some(l => l.startsWith(lineOf(file, toml, at)) && l.includes(message)), `${message} at the line of \`${at}\``, { lines })
  }
  const dup = '\n[[rate_limiting.rules]]\ntokens_per_minute = 5\npriority = 0\n\n[[rate_limiting.rules]]\nmodel_inferences_per_hour = 5\npriority = 1\n'
  const { lines } = await load(dup)
  t.ok(lines.some(l => l.includes('`rate_limiting.rules[1]` has the same scope as `rate_limiting.rules[0]`')), 'two rules over the same scopes are refused', { lines })
  const badCost = await load('\n[rate_limiting]\ndefault_cost = -1\n')
  t.ok(badCost.lines.some(l => l.includes('`default_cost` must be a finite non-negative number')), { lines: badCost.lines })
  const badBackend = await load('\n[rate_limiting]\nbackend = "memcached"\n')
  t.ok(badBackend.lines.some(l => l.includes('`rate_limiting.backend` must be one of "auto", "valkey", "postgres"')), { lines: badBackend.lines })
})

t.test('what TensorZero accepts but cannot work is a warning, not an error', async t => {
  const twice = await load('\n[[rate_limiting.rules]]\ntokens_per_minute = 5\ntokens_per_day = 50\npriority = 0\n')
  t.ok(twice.config, 'loads')
  t.ok(twice.diags.some(d => d.severity === 'warning' && d.message.includes('limits `token` twice')), 'two intervals of one resource in a rule share a bucket key')
  const off = await load('\n[rate_limiting]\nenabled = false\n[[rate_limiting.rules]]\ntokens_per_minute = 5\npriority = 0\n', {})
  t.ok(off.diags.some(d => d.severity === 'warning' && d.message.includes('are not enforced')))
  t.notOk(off.diags.some(d => d.message.includes('cannot be enforced')), 'disabled rules need no store')
})

t.test('no store configured: `validate` warns, `serve` refuses to start as the TensorZero gateway does', async t => {
  const file = path.join(dir, 'nostore.toml')
  writeFileSync(file, BASE + '\n[[rate_limiting.rules]]\nmodel_inferences_per_minute = 5\nalways = true\n')
  const env = { TENSORZERO_VALKEY_URL: '', TENSORZERO_POSTGRES_URL: '' }
  const validate = await runCli(['validate', '--config-file', file], env)
  t.equal(validate.code, 0, 'the config itself is valid')
  t.match(validate.stderr, /nostore\.toml:\d+:\d+: warning: rate limits are configured but cannot be enforced: neither TENSORZERO_VALKEY_URL nor TENSORZERO_POSTGRES_URL is set/)
  const serve = await runCli(['serve', '--config-file', file, '--bind-address', '127.0.0.1:0'], env)
  t.equal(serve.code, 1, 'serve exits 1')
  t.match(serve.stderr, /nostore\.toml:\d+:\d+: rate limits are configured but cannot be enforced: no backend is available/)
  const forced = path.join(dir, 'forced.toml')
  writeFileSync(forced, BASE + '\n[rate_limiting]\nbackend = "postgres"\n[[rate_limiting.rules]]\nmodel_inferences_per_minute = 5\nalways = true\n')
  const wrong = await runCli(['serve', '--config-file', forced, '--bind-address', '127.0.0.1:0'], { ...env, TENSORZERO_VALKEY_URL: 'redis://127.0.0.1:1' })
  t.equal(wrong.code, 1, '`backend = "postgres"` without TENSORZERO_POSTGRES_URL does not fall back to Valkey')
  t.match(wrong.stderr, /Rate limiting is configured to use Postgres, but Postgres is not available/)
})
