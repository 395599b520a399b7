// The per-service file (`--sidecar-config`): service name, unmatched-model policy and `[routes]` from the model
// names a service sends to TensorZero targets. Kept out of tensorzero.toml, whose gateway rejects unknown keys.
import { ensureModel } from './models.ts'
import { parseKeyLocation } from './common-fields.ts'
import { resolveApiKey } from '../providers/credentials.ts'
import { TableReader, type LoadContext } from './reader.ts'
import { isTable } from './toml-files.ts'
import { parseTargetName, RESERVED_PREFIX } from '../core/names.ts'
import type { HealthConfig, RouteTarget, SidecarConfig, SourceRef, TensorZeroConfig, Glob } from '../core/config.ts'

/** `[health]` when the file does not say: conservative, a provider must fail often before it is skipped, and is probed again soon. */
export const DEFAULT_HEALTH: HealthConfig = {
  enabled: true,
  consecutiveFailures: 5,
  errorRate: 0.8,
  windowMs: 60_000,
  minRequests: 20,
  cooldownMs: 30_000,
  maxCooldownMs: 300_000
}

export function defaultSidecarConfig (env: NodeJS.ProcessEnv): SidecarConfig {
  return {
    service: env.SIDECAR_SERVICE || 'tz-sidecar',
    unmatched: 'reject',
    exactRoutes: new Map(),
    globRoutes: [],
    health: { ...DEFAULT_HEALTH }
  }
}

/**
 * `*` matches any run of characters (including none); everything else is literal; anchored at both ends. Matched by
 * its literal pieces in order, leftmost first, which is exact for `*`-only patterns and linear in the name: a regular
 * expression with two `.*` backtracks quadratically, and a client chooses the name (120 KB took 5 s).
 */
export function compileGlob (pattern: string): Glob {
  const pieces = pattern.split('*')
  const first = pieces[0]
  const last = pieces[pieces.length - 1]
  const middle = pieces.slice(1, -1)
  return {
    test (name: string): boolean {
      if (pieces.length === 1) return name === pattern
      if (name.length < first.length + last.length || !name.startsWith(first) || !name.endsWith(last)) return false
      let at = first.length
      const end = name.length - last.length
      for (const piece of middle) {
        const found = name.indexOf(piece, at)
        if (found === -1 || found + piece.length > end) return false
        at = found + piece.length
      }
      return true
    }
  }
}

export function buildSidecarConfig (ctx: LoadContext, file: string, tz: TensorZeroConfig): SidecarConfig {
  const out = defaultSidecarConfig(ctx.env)
  out.file = file
  const root = new TableReader(ctx, ctx.toml.data, [])
  root.checkKeys(['service', 'unmatched', 'passthrough_upstream', 'passthrough_api_key_location', 'routes', 'health'])

  const service = root.string('service')
  if (service !== undefined) {
    if (service.trim() === '') root.error('service', '`service` must not be empty')
    else out.service = service
  }
  out.unmatched = root.oneOf('unmatched', ['reject', 'passthrough'] as const) ?? 'reject'
  const upstream = root.string('passthrough_upstream')
  if (upstream !== undefined) {
    if (isHttpUrl(upstream)) out.passthroughUpstream = upstream.replace(/\/+$/, '')
    else root.error('passthrough_upstream', `\`passthrough_upstream\` must be an http(s) URL, got "${upstream}"`)
  } else if (out.unmatched === 'passthrough') {
    root.error('unmatched', '`unmatched = "passthrough"` needs `passthrough_upstream` (the URL to forward to)')
  }

  readPassthroughKey(root, ctx.env, out)
  const health = root.sub('health')
  if (health !== undefined) out.health = readHealth(health)

  const routes = root.sub('routes')
  for (const key of Object.keys(routes?.table ?? {})) {
    if (key.startsWith(RESERVED_PREFIX)) {
      // Such names are resolved as TensorZero targets before [routes] is consulted.
      routes!.warning(key, `route "${key}" can never match: \`tensorzero::\` names are resolved before [routes]`)
    }
    const target = readRouteTarget(routes!, key)
    if (!target) continue
    const problem = checkTarget(ctx, tz, target, routes!.at(key))
    if (problem !== undefined) { routes!.error(key, `route "${key}": ${problem}`); continue }
    if (key.includes('*')) out.globRoutes.push({ pattern: key, glob: compileGlob(key), target })
    else out.exactRoutes.set(key, target)
  }
  return out
}

/**
 * The client's Authorization is never forwarded; an upstream that needs a key gets the one named here
 * (`env::VAR`, `path::FILE`, `path_from_env::VAR` or `none`), resolved once at start.
 */
function readPassthroughKey (root: TableReader, env: NodeJS.ProcessEnv, out: SidecarConfig): void {
  const raw = root.string('passthrough_api_key_location')
  if (raw === undefined) return
  const { location, problem } = parseKeyLocation(raw)
  if (location === undefined || location.kind === 'dynamic') {
    root.error('passthrough_api_key_location', problem ?? '`passthrough_api_key_location` cannot be `dynamic::` (pass-through requests carry no credentials)')
    return
  }
  const key = resolveApiKey(location, undefined, env)
  if (!key.ok) root.warning('passthrough_api_key_location', key.message)
  else if (key.key !== undefined) out.passthroughAuthorization = `Bearer ${key.key}`
}

/** `[health]`: the circuit breaker's thresholds; every key is optional and falls back to its default. */
function readHealth (t: TableReader): HealthConfig {
  t.checkKeys(['enabled', 'consecutive_failures', 'error_rate', 'window_ms', 'min_requests', 'cooldown_ms', 'max_cooldown_ms'])
  const d = DEFAULT_HEALTH
  const count = (key: string): number | undefined => t.number(key, { integer: true, min: 1 })
  const ms = (key: string): number | undefined => t.number(key, { integer: true, positive: true })
  const health: HealthConfig = {
    enabled: t.boolean('enabled') ?? d.enabled,
    consecutiveFailures: count('consecutive_failures') ?? d.consecutiveFailures,
    errorRate: t.number('error_rate', { positive: true }) ?? d.errorRate,
    windowMs: ms('window_ms') ?? d.windowMs,
    minRequests: count('min_requests') ?? d.minRequests,
    cooldownMs: ms('cooldown_ms') ?? d.cooldownMs,
    maxCooldownMs: ms('max_cooldown_ms') ?? d.maxCooldownMs
  }
  if (health.errorRate > 1) t.error('error_rate', `\`${t.name('error_rate')}\` is a fraction of calls: it must be at most 1, got ${health.errorRate}`)
  if (health.maxCooldownMs < health.cooldownMs) {
    t.error(t.has('max_cooldown_ms') ? 'max_cooldown_ms' : 'cooldown_ms',
      `\`${t.name('max_cooldown_ms')}\` (${health.maxCooldownMs}) must be at least \`${t.name('cooldown_ms')}\` (${health.cooldownMs})`)
  }
  return health
}

function isHttpUrl (s: string): boolean {
  try {
    const u = new URL(s)
    return u.protocol === 'http:' || u.protocol === 'https:'
  } catch { return false }
}

/** A route's value: a `tensorzero::…` string as clients would send it, or a table naming the target. */
function readRouteTarget (routes: TableReader, key: string): RouteTarget | undefined {
  const v = routes.get(key)
  if (typeof v === 'string') {
    const target = parseTargetString(v)
    if (!target) {
      routes.error(key, `route "${key}": "${v}" is not a target; use tensorzero::function_name::F[::variant_name::V],` +
        ' tensorzero::model_name::M, tensorzero::embedding_model_name::E, or a table { function, variant } / { model } / { embedding_model }')
    }
    return target
  }
  if (!isTable(v)) { routes.wrongType(key, 'a string or a table'); return undefined }
  const t = routes.sub(key)!
  t.checkKeys(['function', 'variant', 'model', 'embedding_model'])
  const given = ['function', 'model', 'embedding_model'].filter((k) => t.has(k))
  if (given.length !== 1) {
    t.error(undefined, `route "${key}" needs exactly one of \`function\`, \`model\`, \`embedding_model\`` +
      (given.length ? ` (got ${given.join(', ')})` : ''))
    return undefined
  }
  if (t.has('variant') && given[0] !== 'function') {
    t.error('variant', `route "${key}": \`variant\` only goes with \`function\``)
    return undefined
  }
  const name = t.string(given[0])
  if (name === undefined) return undefined
  if (given[0] === 'function') {
    const variant = t.string('variant')
    if (t.has('variant') && variant === undefined) return undefined
    return variant === undefined ? { kind: 'function', functionName: name } : { kind: 'function', functionName: name, variantName: variant }
  }
  return given[0] === 'model' ? { kind: 'model', modelName: name } : { kind: 'embedding_model', modelName: name }
}

/** A `tensorzero::` target string naming something: a route cannot lead to an empty name. */
export function parseTargetString (s: string): RouteTarget | undefined {
  const target = parseTargetName(s)
  if (target === undefined) return undefined
  const named = target.kind === 'function'
    ? target.functionName !== '' && target.variantName !== ''
    : target.modelName !== ''
  return named ? target : undefined
}

/** A route must lead somewhere that exists; shorthand model targets are added to the config like variant models. */
function checkTarget (ctx: LoadContext, tz: TensorZeroConfig, target: RouteTarget, at: SourceRef): string | undefined {
  switch (target.kind) {
    case 'function': {
      const fn = tz.functions.get(target.functionName)
      if (!fn) return `function \`${target.functionName}\` is not defined in tensorzero.toml` + knownList('functions', tz.functions.keys())
      if (target.variantName !== undefined && !fn.variants.has(target.variantName)) {
        return `function \`${target.functionName}\` has no variant \`${target.variantName}\` (variants: ${fn.sortedVariantNames.join(', ')})`
      }
      return undefined
    }
    case 'model':
      return ensureModel(ctx, tz.models, target.modelName, at)
    case 'embedding_model':
      return ensureModel(ctx, tz.embeddingModels, target.modelName, at, '[embedding_models]')
  }
}

function knownList (what: string, known: Iterable<string>): string {
  const names = [...known]
  return names.length ? ` (${what}: ${names.sort().join(', ')})` : ''
}
