// `[rate_limiting]` enforcement, per provider attempt as in TensorZero: before each provider call, the rules whose
// scopes match the request's tags (the highest matching `priority`, plus every matching `always` rule) take a
// conservative estimate from their buckets in one all-or-nothing round trip; after the call, the difference with the
// real usage is given back (or the excess taken). An attempt that fails keeps what it took. The buckets live in a
// shared store under TensorZero's own keys, so every sidecar and the gateway draw from one bucket.
import type { RateLimit, RateLimitingConfig, RateLimitResource, RateLimitRule, RateLimitScope } from '../core/config.ts'
import type { ContentBlock, EmbeddingRequest, ModelRequest, Usage } from '../core/types.ts'
import { badRequest } from '../core/errors.ts'
import { NANO_DOLLARS_PER_DOLLAR, RateLimitExceeded, RateLimitStoreUnavailable } from '../core/rate-limiting.ts'
import type { ConsumeReceipt, ConsumeRequest, RateLimitEvent, RateLimitStore, ReturnRequest } from '../core/rate-limiting.ts'

/** One bucket a request draws from: a rule's limit under the scope values this request matched. */
interface ActiveLimit {
  limit: RateLimit
  rule: RateLimitRule
  /** `{"resource":…,"scope_key":[…]}`: TensorZero's key, byte for byte (the store adds its prefix). */
  key: string
  /** The scopes as the config writes them, with the values matched: for error messages. */
  scopeText: string
}

/** What a finished call used. `exact`: the provider reported its tokens; otherwise nothing is given back. */
export interface ActualUsage { modelInferences: number; tokens: number; nanoCost?: number; exact: boolean }

export class RateLimiter {
  private readonly config: RateLimitingConfig
  private readonly store: RateLimitStore
  private readonly onEvent: (e: RateLimitEvent) => void
  private readonly timeoutMs: number

  /** `timeoutMs`: how long one round trip to the store may take before the request is refused. */
  constructor (config: RateLimitingConfig, store: RateLimitStore, opts: { onEvent: (e: RateLimitEvent) => void; timeoutMs: number }) {
    this.config = config
    this.store = store
    this.onEvent = opts.onEvent
    this.timeoutMs = opts.timeoutMs
  }

  /** For /status: which store, whether the last round trip reached it, the last failure. */
  status (): { backend: string; state: 'unknown' | 'reachable' | 'unreachable'; rules: number; last_error?: string } {
    const { state, lastError } = this.store.health
    return { backend: this.store.backend, state, rules: this.config.rules.length, ...(lastError !== undefined ? { last_error: lastError } : {}) }
  }

  /**
   * Takes the estimate from every bucket that applies, or throws: RateLimitExceeded (429) when one has too few
   * tickets, RateLimitStoreUnavailable when the store cannot answer (the request is refused: TensorZero fails closed).
   * `tokens` is asked only when a token limit applies (it throws a 400 when the request sets no `max_tokens`).
   */
  async borrow (tags: Record<string, string>, tokens: () => number): Promise<Borrow | undefined> {
    const limits = this.activeLimits(tags)
    if (limits.length === 0) return undefined
    const resources = new Set(limits.map(l => l.limit.resource))
    const estimate: Record<RateLimitResource, number> = {
      model_inference: 1,
      token: resources.has('token') ? tokens() : 0,
      cost: this.config.defaultNanoCost
    }
    const requests = limits.map(l => consumeRequest(l, estimate[l.limit.resource]))
    // A rule limiting one resource twice names one bucket twice; the store refuses that call (so does TensorZero's).
    if (new Set(requests.map(r => r.key)).size !== requests.length) {
      throw new RateLimitStoreUnavailable(this.store.backend, 'Duplicate keys are not allowed in the input array (a rule limits one resource over two intervals)')
    }
    const receipts = await this.roundTrip('consume', signal => this.store.consume(requests, signal))
    const byKey = new Map(receipts.map(r => [r.key, r]))
    const failed = limits.flatMap((l, i) => {
      const receipt = byKey.get(l.key)
      if (receipt === undefined) throw new RateLimitStoreUnavailable(this.store.backend, `no receipt for bucket ${l.key}`)
      return receipt.success || requests[i].requested <= receipt.remaining ? [] : [{ l, requested: requests[i].requested, available: receipt.remaining }]
    })
    if (receipts.some(r => !r.success)) {
      for (const f of failed) this.onEvent({ kind: 'limited', rule: this.config.rules.indexOf(f.l.rule), scope: f.l.rule.label, resource: f.l.limit.resource })
      throw new RateLimitExceeded(exceededMessage(failed))
    }
    return new Borrow(this, limits.map(l => ({ limit: l, consumed: (byKey.get(l.key) as ConsumeReceipt).consumed })))
  }

  /** TensorZero's selection: every matching rule of the highest matching priority, and every matching `always` rule. */
  private activeLimits (tags: Record<string, string>): ActiveLimit[] {
    if (!this.config.enabled) return []
    const matched: Array<{ rule: RateLimitRule; keys: ScopeKey[] }> = []
    let top = 0
    for (const rule of this.config.rules) {
      const keys = scopeKeys(rule.scopes, tags)
      if (keys === undefined) continue
      matched.push({ rule, keys })
      if (rule.priority !== 'always' && rule.priority > top) top = rule.priority
    }
    return matched
      .filter(m => m.rule.priority === 'always' || m.rule.priority === top)
      .flatMap(({ rule, keys }) => rule.limits.map(limit => ({
        limit,
        rule,
        key: JSON.stringify({ resource: limit.resource, scope_key: keys.map(k => k.wire) }),
        scopeText: keys.map(k => k.text).join(', ')
      })))
  }

  /** After the call: excess taken, surplus given back (only when the usage is exact). Never throws; never awaited by a request. */
  async settle (borrows: Array<{ limit: ActiveLimit; consumed: number }>, usage: ActualUsage): Promise<void> {
    const more: ConsumeRequest[] = []
    const back: ReturnRequest[] = []
    for (const { limit: l, consumed } of borrows) {
      const actual = l.limit.resource === 'model_inference' ? usage.modelInferences : l.limit.resource === 'token' ? usage.tokens : usage.nanoCost
      // An unknown cost (a provider without a `cost` config) cannot be settled: the default estimate stays taken.
      if (actual === undefined || actual === consumed) continue
      if (actual > consumed) more.push(consumeRequest(l, actual - consumed))
      else if (usage.exact) back.push({ key: l.key, returned: consumed - actual, capacity: l.limit.capacity, refillRate: l.limit.refillRate, interval: l.limit.interval })
    }
    const calls: Array<Promise<unknown>> = []
    if (more.length > 0) calls.push(this.roundTrip('consume', signal => this.store.consume(more, signal)))
    if (back.length > 0) calls.push(this.roundTrip('return', signal => this.store.giveBack(back, signal)))
    await Promise.allSettled(calls)
  }

  /** One call to the store under the timeout, timed and reported; an outage is reported once, when it starts. */
  private async roundTrip<T> (operation: 'consume' | 'return', call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const started = performance.now()
    const backend = this.store.backend
    const signal = AbortSignal.timeout(this.timeoutMs)
    try {
      const result = await untilAborted(call(signal), signal)
      this.onEvent({ kind: 'round_trip', backend, operation, seconds: (performance.now() - started) / 1000, ok: true })
      const health = this.store.health
      if (health.state === 'unreachable') this.onEvent({ kind: 'store_up', backend })
      health.state = 'reachable'
      return result
    } catch (err) {
      const message = signal.aborted ? `no answer within ${this.timeoutMs} ms` : (err as Error)?.message ?? String(err)
      this.onEvent({ kind: 'round_trip', backend, operation, seconds: (performance.now() - started) / 1000, ok: false })
      const health = this.store.health
      health.lastError = message
      if (health.state !== 'unreachable') { health.state = 'unreachable'; this.onEvent({ kind: 'store_down', backend, message }) }
      throw new RateLimitStoreUnavailable(backend, message)
    }
  }
}

/** Whatever the client does, a round trip ends when its time is up. */
async function untilAborted<T> (p: Promise<T>, signal: AbortSignal): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(v => { signal.removeEventListener('abort', onAbort); resolve(v) }, (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e) })
  })
}

/** The tickets one attempt holds; `settle` once with what the call really used (later calls are ignored). */
export class Borrow {
  private readonly limiter: RateLimiter
  private readonly borrows: Array<{ limit: ActiveLimit; consumed: number }>
  private settled = false

  constructor (limiter: RateLimiter, borrows: Array<{ limit: ActiveLimit; consumed: number }>) {
    this.limiter = limiter
    this.borrows = borrows
  }

  settle (usage: ActualUsage): void {
    if (this.settled) return
    this.settled = true
    void this.limiter.settle(this.borrows, usage)
  }
}

/**
 * A provider's usage as the limiter counts it: exact only when it reported both input and output tokens; its cost (from
 * the provider's `cost` config, already a whole number of nano-dollars: rounding only drops float noise) or unknown.
 */
export function usageOf (usage: Usage | undefined): ActualUsage {
  const exact = usage?.inputTokens !== undefined && usage.outputTokens !== undefined
  const cost = usage?.cost
  return {
    modelInferences: 1,
    tokens: exact ? (usage.inputTokens as number) + (usage.outputTokens as number) : 0,
    exact,
    ...(cost === undefined ? {} : { nanoCost: Math.max(0, Math.round(cost * NANO_DOLLARS_PER_DOLLAR)) })
  }
}

function consumeRequest (l: ActiveLimit, requested: number): ConsumeRequest {
  return { key: l.key, requested, capacity: l.limit.capacity, refillRate: l.limit.refillRate, interval: l.limit.interval }
}

// ---- scope keys ----

interface ScopeKey { wire: Record<string, string>; text: string }

/** The keys of every scope of a rule, or undefined when any scope does not match the request. */
function scopeKeys (scopes: RateLimitScope[], tags: Record<string, string>): ScopeKey[] | undefined {
  const keys: ScopeKey[] = []
  for (const scope of scopes) {
    // The sidecar has no TensorZero API keys: a request never carries a public id, so those scopes never match.
    if (scope.kind !== 'tag') return undefined
    const value = Object.hasOwn(tags, scope.tagKey) ? tags[scope.tagKey] : undefined
    if (value === undefined) return undefined
    const key = scope.tagKey
    const tv = scope.tagValue
    if (tv.kind === 'concrete') {
      if (value !== tv.value) return undefined
      keys.push({ wire: { type: 'TagConcrete', key, value }, text: `tag_key="${key}", tag_value="${value}"` })
    } else if (tv.kind === 'each') {
      keys.push({ wire: { type: 'TagEach', key, value }, text: `tag_key="${key}", tag_value="tensorzero::each" (matched: "${value}")` })
    } else {
      keys.push({ wire: { type: 'TagTotal', key }, text: `tag_key="${key}", tag_value="tensorzero::total"` })
    }
  }
  return keys
}

/** TensorZero's message for a refused request, one block per bucket that was short. */
function exceededMessage (failed: Array<{ l: ActiveLimit; requested: number; available: number }>): string {
  if (failed.length === 1) {
    const { l, requested, available } = failed[0]
    return `TensorZero rate limit exceeded for \`${l.limit.resource}\` resource.\nScope: ${l.scopeText}\nRequested: ${requested}\nAvailable: ${available}`
  }
  return `TensorZero rate limits exceeded for ${failed.length} rules:\n` + failed.map(({ l, requested, available }) =>
    `- Resource: \`${l.limit.resource}\`\n    ├ Scope: ${l.scopeText}\n    ├ Requested: ${requested}\n    └ Available: ${available}`).join('\n')
}

// ---- estimates: about two bytes of text per token, plus the whole `max_tokens` ----

const estimated = (text: string | undefined): number => text === undefined ? 0 : Math.floor(Buffer.byteLength(text) / 2)

/** Files (images) count as 10 000 tokens each, as in TensorZero. */
const FILE_TOKENS = 10_000

function blockTokens (b: ContentBlock): number {
  switch (b.type) {
    case 'text': return estimated(b.text)
    case 'raw_text': return estimated(b.value)
    case 'tool_call': return estimated(b.name) + estimated(b.arguments)
    case 'tool_result': return estimated(b.name) + estimated(b.result)
    case 'image': return FILE_TOKENS
    case 'template': return estimated(b.name) + Object.entries(b.arguments).reduce((n, [k, v]) => n + estimated(k) + estimated(JSON.stringify(v)), 0)
    default: return 0
  }
}

/** A chat request's token estimate; a request under a token limit must set `max_tokens` (400 otherwise). */
export function chatTokenEstimate (req: ModelRequest): number {
  const maxTokens = req.params.max_tokens
  if (maxTokens === undefined) throw badRequest('Missing `max_tokens` for request subject to rate limiting rules.')
  let n = estimated(req.system) + maxTokens
  for (const m of req.messages) for (const b of m.content) n += blockTokens(b)
  return n
}

export function embeddingTokenEstimate (req: EmbeddingRequest): number {
  return typeof req.input === 'string' ? estimated(req.input) : req.input.reduce((n, t) => n + estimated(t), 0)
}
