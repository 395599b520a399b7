// `[rate_limiting]`: `enabled`, `backend`, `default_cost` and `[[rate_limiting.rules]]`, each rule a set of limits
// written `RESOURCE_per_INTERVAL = N` (or `{ capacity, refill_rate }`), `scope = [...]` and `priority = N` or
// `always = true`. What TensorZero rejects is an error here; what it accepts and ignores is a warning.
import { isTable } from './toml-files.ts'
import { describeType, TableReader, type LoadContext } from './reader.ts'
import { RATE_LIMIT_INTERVALS, NANO_DOLLARS_PER_DOLLAR } from '../core/rate-limiting.ts'
import type { RateLimit, RateLimitingConfig, RateLimitInterval, RateLimitResource, RateLimitRule, RateLimitScope } from '../core/config.ts'
import { RESERVED_PREFIX } from '../core/names.ts'

const RESOURCES: Record<string, RateLimitResource> = { model_inferences: 'model_inference', tokens: 'token', cost: 'cost' }
/** TensorZero's API key public ids are this long. */
const PUBLIC_ID_LENGTH = 12
const EACH = 'tensorzero::each'
const TOTAL = 'tensorzero::total'

export function readRateLimiting (r: TableReader | undefined, ctx: LoadContext): RateLimitingConfig | undefined {
  if (r === undefined) return undefined
  r.checkKeys(['rules', 'enabled', 'backend', 'default_cost'], () => 'warn', 'is not a rate limiting setting TensorZero knows')
  let defaultNanoCost = NANO_DOLLARS_PER_DOLLAR
  const cost = r.number('default_cost')
  if (cost !== undefined) {
    if (!Number.isFinite(cost) || cost < 0) r.error('default_cost', `\`default_cost\` must be a finite non-negative number, got ${cost}`)
    else defaultNanoCost = nanoCost(cost)
  }
  const config: RateLimitingConfig = {
    rules: readRules(r, ctx),
    enabled: r.boolean('enabled') ?? true,
    backend: r.oneOf('backend', ['auto', 'valkey', 'postgres'] as const) ?? 'auto',
    defaultNanoCost,
    source: r.at()
  }
  if (!config.enabled && config.rules.length > 0) {
    r.warning('enabled', '`rate_limiting.enabled` is `false` but rate limiting rules are defined: they are not enforced')
  }
  warnUnenforced(r, config, ctx.env)
  return config
}

/** `validate` runs where the store may not be configured; `serve` refuses to start then (as the TensorZero gateway does). */
function warnUnenforced (r: TableReader, config: RateLimitingConfig, env: NodeJS.ProcessEnv): void {
  if (!config.enabled || config.rules.length === 0) return
  const valkey = (env.TENSORZERO_VALKEY_URL ?? '') !== ''
  const postgres = (env.TENSORZERO_POSTGRES_URL ?? '') !== ''
  const missing = config.backend === 'valkey' ? (valkey ? undefined : 'TENSORZERO_VALKEY_URL is')
    : config.backend === 'postgres' ? (postgres ? undefined : 'TENSORZERO_POSTGRES_URL is')
      : valkey || postgres ? undefined : 'neither TENSORZERO_VALKEY_URL nor TENSORZERO_POSTGRES_URL is'
  if (missing !== undefined) {
    r.warning(undefined, `rate limits are configured but cannot be enforced: ${missing} set; \`tz-sidecar serve\` (like the TensorZero gateway) refuses to start without it`)
  }
  for (const rule of config.rules) {
    if (rule.scopes.some(s => s.kind === 'api_key_public_id')) {
      r.ctx.diags.warning(rule.source, 'rules scoped by `api_key_public_id` never apply in tz-sidecar: its clients carry no TensorZero API key')
    }
  }
}

function readRules (r: TableReader, ctx: LoadContext): RateLimitRule[] {
  const list = r.get('rules')
  if (list === undefined) return []
  if (!Array.isArray(list)) { r.wrongType('rules', 'an array of tables (`[[rate_limiting.rules]]`)'); return [] }
  const rules: RateLimitRule[] = []
  const seen = new Map<string, number>()
  list.forEach((item, i) => {
    const path = [...r.path, 'rules', String(i)]
    if (!isTable(item)) { ctx.diags.error(ctx.toml.at(path), `\`rate_limiting.rules[${i}]\` must be a table, got ${describeType(item)}`); return }
    const rule = readRule(new TableReader(ctx, item, path), i)
    if (rule === undefined) return
    // TensorZero refuses two rules over the same scopes: their buckets would be one.
    const first = seen.get(rule.label)
    if (first !== undefined) {
      ctx.diags.error(rule.source, `\`rate_limiting.rules[${i}]\` has the same scope as \`rate_limiting.rules[${first}]\` (${rule.label}); merge their limits into one rule`)
      return
    }
    seen.set(rule.label, i)
    rules.push(rule)
  })
  return rules
}

function readRule (r: TableReader, index: number): RateLimitRule | undefined {
  const where = `\`rate_limiting.rules[${index}]\``
  const limits: RateLimit[] = []
  let ok = true
  for (const key of Object.keys(r.table)) {
    if (!key.includes('_per_')) continue
    const limit = readLimit(r, key)
    if (limit === undefined) ok = false
    else limits.push(limit)
  }
  r.checkKeys(['scope', 'priority', 'always'], key => key.includes('_per_') ? 'ok' : 'warn', 'is not a rate limiting rule setting TensorZero knows')
  const resources = new Set<string>()
  for (const l of limits) {
    // The bucket key is the resource and the scope: two intervals of one resource in a rule share a key, and the
    // store refuses a call that names a key twice, so every request the rule applies to fails (as in TensorZero).
    if (resources.has(l.resource)) r.warning(undefined, `${where} limits \`${l.resource}\` twice: TensorZero keeps one bucket per resource and scope, so requests this rule applies to fail; split it into rules of different scopes`)
    resources.add(l.resource)
  }
  const priority = readPriority(r, where)
  const scopes = readScopes(r, where)
  if (!ok || priority === undefined || scopes === undefined) return undefined
  return { limits, scopes, priority, label: scopeLabel(scopes), source: r.at() }
}

function readLimit (r: TableReader, key: string): RateLimit | undefined {
  const cut = key.indexOf('_per_')
  const resource = RESOURCES[key.slice(0, cut)]
  const interval = key.slice(cut + '_per_'.length)
  if (resource === undefined) { r.error(key, `unknown rate limit resource \`${key.slice(0, cut)}\` in \`${key}\`; expected model_inferences, tokens or cost`); return undefined }
  if (!(RATE_LIMIT_INTERVALS as readonly string[]).includes(interval)) {
    r.error(key, `unknown rate limit interval \`${interval}\` in \`${key}\`; expected one of ${RATE_LIMIT_INTERVALS.join(', ')}`)
    return undefined
  }
  const value = r.get(key)
  const cost = resource === 'cost'
  const valid = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && (cost || Number.isInteger(v))
  const shape = cost
    ? 'Cost rate limit value must either be a nonnegative number or { capacity = .., refill_rate = .. } where both are nonnegative numbers'
    : 'Rate limit value must either be a nonnegative integer or { capacity = .., refill_rate = .. } where both are nonnegative integers'
  let capacity: unknown = value
  let refill: unknown = value
  if (isTable(value)) {
    const extra = Object.keys(value).filter(k => k !== 'capacity' && k !== 'refill_rate')
    capacity = value.capacity
    refill = value.refill_rate
    if (extra.length > 0) capacity = undefined
  }
  if (!valid(capacity) || !valid(refill) || (!cost && (capacity > Number.MAX_SAFE_INTEGER || refill > Number.MAX_SAFE_INTEGER))) {
    r.error(key, `\`${r.name(key)}\`: ${shape}`)
    return undefined
  }
  return {
    resource,
    interval: interval as RateLimitInterval,
    capacity: cost ? nanoCost(capacity) : capacity,
    refillRate: cost ? nanoCost(refill) : refill
  }
}

function readPriority (r: TableReader, where: string): number | 'always' | undefined {
  const always = r.boolean('always')
  const priority = r.get('priority')
  if (priority !== undefined && (typeof priority !== 'number' || !Number.isSafeInteger(priority) || priority < 0)) {
    r.error('priority', `\`${r.name('priority')}\` must be a non-negative integer, got ${typeof priority === 'number' ? priority : describeType(priority)}`)
    return undefined
  }
  if (always === true && priority !== undefined) { r.error('always', `${where}: cannot specify both \`always\` and \`priority\` fields`); return undefined }
  if (always === true) return 'always'
  if (priority === undefined) {
    if (r.has('always') && always === undefined) return undefined
    r.error(undefined, `${where}: the \`priority\` field is required when \`always\` is not true`)
    return undefined
  }
  return priority
}

function readScopes (r: TableReader, where: string): RateLimitScope[] | undefined {
  const list = r.get('scope')
  if (list === undefined) return []
  if (!Array.isArray(list)) { r.wrongType('scope', 'an array of scope tables'); return undefined }
  const scopes: RateLimitScope[] = []
  let ok = true
  list.forEach((item, i) => {
    const at = r.ctx.toml.at([...r.path, 'scope', String(i)])
    const scope = isTable(item) ? readScope(new TableReader(r.ctx, item, [...r.path, 'scope', String(i)])) : undefined
    if (!isTable(item)) r.ctx.diags.error(at, `\`${r.name('scope')}[${i}]\`: data did not match any known scope structure (expected { tag_key, tag_value } or { api_key_public_id })`)
    if (scope === undefined) { ok = false; return }
    scopes.push(scope)
  })
  if (!ok) return undefined
  const labels = scopes.map(s => scopeLabel([s]))
  if (new Set(labels).size !== labels.length) { r.error('scope', `${where}: duplicate scopes are not allowed in the same rule`); return undefined }
  return scopes.sort(compareScopes)
}

function readScope (r: TableReader): RateLimitScope | undefined {
  if (r.has('tag_key')) {
    const tagKey = r.string('tag_key')
    const value = r.string('tag_value', true)
    if (tagKey === undefined || value === undefined) return undefined
    if (value === EACH) return { kind: 'tag', tagKey, tagValue: { kind: 'each' } }
    if (value === TOTAL) return { kind: 'tag', tagKey, tagValue: { kind: 'total' } }
    if (value.startsWith(RESERVED_PREFIX)) {
      r.error('tag_value', 'Tag values in rate limiting scopes besides tensorzero::each and tensorzero::total may not start with "tensorzero::".')
      return undefined
    }
    return { kind: 'tag', tagKey, tagValue: { kind: 'concrete', value } }
  }
  if (r.has('api_key_public_id')) {
    const id = r.string('api_key_public_id')
    if (id === undefined) return undefined
    if (id === EACH) return { kind: 'api_key_public_id', value: { kind: 'each' } }
    if (id.startsWith(RESERVED_PREFIX)) {
      r.error('api_key_public_id', 'API key public ID values in rate limiting scopes besides tensorzero::each may not start with "tensorzero::".')
      return undefined
    }
    if (id.length !== PUBLIC_ID_LENGTH) {
      r.error('api_key_public_id', `API key public ID \`${id}\` must be ${PUBLIC_ID_LENGTH} characters long. Check that this is a TensorZero API key public ID.`)
      return undefined
    }
    return { kind: 'api_key_public_id', value: { kind: 'concrete', value: id } }
  }
  r.error(undefined, `\`${r.name()}\`: data did not match any known scope structure (expected { tag_key, tag_value } or { api_key_public_id })`)
  return undefined
}

/** Dollars to whole nano-dollars, rounded up, as TensorZero counts cost tickets. */
function nanoCost (dollars: number): number {
  return dollars <= 0 ? 0 : Math.min(Math.ceil(dollars * NANO_DOLLARS_PER_DOLLAR), Number.MAX_SAFE_INTEGER)
}

// TensorZero's derived order: tag scopes before API key scopes; tags by key, then concrete values (by value) before
// `each` before `total`; API keys: concrete before `each`. Strings compare by UTF-8 bytes.
function compareScopes (a: RateLimitScope, b: RateLimitScope): number {
  if (a.kind !== b.kind) return a.kind === 'tag' ? -1 : 1
  if (a.kind === 'tag' && b.kind === 'tag') {
    return compareBytes(a.tagKey, b.tagKey) || compareValues(a.tagValue, b.tagValue, ['concrete', 'each', 'total'])
  }
  return compareValues((a as Extract<RateLimitScope, { kind: 'api_key_public_id' }>).value,
    (b as Extract<RateLimitScope, { kind: 'api_key_public_id' }>).value, ['concrete', 'each'])
}

function compareValues (a: { kind: string; value?: string }, b: { kind: string; value?: string }, order: string[]): number {
  if (a.kind !== b.kind) return order.indexOf(a.kind) - order.indexOf(b.kind)
  return a.value !== undefined && b.value !== undefined ? compareBytes(a.value, b.value) : 0
}

function compareBytes (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/** The scopes as the config writes them: the rule's metric label and its identity among rules. */
function scopeLabel (scopes: RateLimitScope[]): string {
  if (scopes.length === 0) return '(all requests)'
  return scopes.map(s => s.kind === 'tag'
    ? `tag_key="${s.tagKey}", tag_value="${s.tagValue.kind === 'concrete' ? s.tagValue.value : s.tagValue.kind === 'each' ? EACH : TOTAL}"`
    : `api_key_public_id="${s.value.kind === 'concrete' ? s.value.value : EACH}"`).join(', ')
}
