// Health-aware routing: one circuit per model provider (a model's provider entry). A provider that keeps failing is
// skipped for a cool-down, so a dead local Ollama costs the walk nothing; then ONE request probes it (half-open) while
// the others keep skipping; the probe's success closes the circuit, its failure reopens it with a longer cool-down.
// Only the provider's own failures count: a client's mistake (4xx other than 429) or a client that left proves nothing.
import type { HealthConfig, ProviderConfig } from '../core/config.ts'
import type { CircuitEvent, CircuitState } from '../core/records.ts'
import { errorClassOf } from '../core/errors.ts'
import type { ErrorClass } from '../core/errors.ts'
import { TimeoutError } from '../core/deadline.ts'
import { RateLimitExceeded, RateLimitStoreUnavailable } from '../core/rate-limiting.ts'

export type { CircuitEvent, CircuitState }

/** What a walk may do with a provider now: call it, call it as the one probe, or skip it. */
export type Admission = 'pass' | 'probe' | 'skip'

/** What one call tells about the provider. */
export type Verdict = 'success' | 'failure' | 'neutral'

/** Buckets of the error-rate window: the window slides in tenths. */
const BUCKETS = 10

const PROVIDER_FAULTS = new Set<ErrorClass | 'internal'>(['timeout', 'rate_limit', 'server', 'connection', 'bad_response'])

/** Whether a failed call counts against its provider. */
export function verdictOf (err: unknown, signal: AbortSignal): Verdict {
  // The request was cancelled (client gone) rather than timed out: the provider may have been fine.
  if (signal.aborted && !(signal.reason instanceof TimeoutError)) return 'neutral'
  // The sidecar's own rate limits refused the call before the provider was asked.
  if (err instanceof RateLimitExceeded || err instanceof RateLimitStoreUnavailable) return 'neutral'
  return PROVIDER_FAULTS.has(errorClassOf(err, 'connection')) ? 'failure' : 'neutral'
}

class Circuit {
  state: CircuitState = 'closed'
  private consecutive = 0
  private readonly ok = new Array<number>(BUCKETS).fill(0)
  private readonly failed = new Array<number>(BUCKETS).fill(0)
  /** Which slice of time each bucket counts (bucket i holds slice s when s % BUCKETS === i). */
  private readonly slices = new Array<number>(BUCKETS).fill(-1)
  private cooldownMs: number
  private reopensAt = 0
  private probing = false
  private reason = ''

  private readonly modelName: string
  private readonly providerName: string
  private readonly health: ProviderHealth

  constructor (modelName: string, providerName: string, health: ProviderHealth) {
    this.modelName = modelName
    this.providerName = providerName
    this.health = health
    this.cooldownMs = health.settings.cooldownMs
  }

  admit (): Admission {
    if (this.state === 'closed') return 'pass'
    if (this.probing || this.health.now() < this.reopensAt) return 'skip'
    this.probing = true
    if (this.state === 'open') this.change('half_open', 'cool-down over: one request probes the provider')
    return 'probe'
  }

  settle (admission: Admission, verdict: Verdict): void {
    if (admission === 'probe') { this.settleProbe(verdict); return }
    // A call let through before the circuit opened says nothing about the probe to come.
    if (this.state !== 'closed' || verdict === 'neutral') return
    this.count(verdict === 'failure')
    const opened = this.openingReason()
    if (opened !== undefined) this.open(opened)
  }

  /** Why a skipped provider was not called, for the walk's error list. */
  skipMessage (): string {
    const waitMs = Math.max(0, this.reopensAt - this.health.now())
    const next = this.probing ? 'a probe is in flight' : `next probe in ${Math.ceil(waitMs / 1000)} s`
    return `skipped: circuit open (${this.reason}); ${next}`
  }

  private settleProbe (verdict: Verdict): void {
    this.probing = false
    if (verdict === 'neutral') return // the next request probes instead
    if (verdict === 'success') {
      this.consecutive = 0
      this.ok.fill(0); this.failed.fill(0)
      this.cooldownMs = this.health.settings.cooldownMs
      this.change('closed', 'probe succeeded')
      return
    }
    this.cooldownMs = Math.min(this.cooldownMs * 2, this.health.settings.maxCooldownMs)
    this.open('probe failed')
  }

  private count (failure: boolean): void {
    this.consecutive = failure ? this.consecutive + 1 : 0
    const slice = Math.floor(this.health.now() / this.sliceMs())
    const i = slice % BUCKETS
    if (this.slices[i] !== slice) { this.slices[i] = slice; this.ok[i] = 0; this.failed[i] = 0 }
    if (failure) this.failed[i]++
    else this.ok[i]++
  }

  private openingReason (): string | undefined {
    const s = this.health.settings
    if (this.consecutive >= s.consecutiveFailures) return `${this.consecutive} consecutive failures`
    const current = Math.floor(this.health.now() / this.sliceMs())
    let ok = 0
    let failed = 0
    for (let i = 0; i < BUCKETS; i++) {
      if (current - this.slices[i] >= BUCKETS) continue
      ok += this.ok[i]
      failed += this.failed[i]
    }
    const total = ok + failed
    if (total >= s.minRequests && failed / total >= s.errorRate) {
      return `${failed} of ${total} calls failed in the last ${Math.round(s.windowMs / 1000)} s`
    }
    return undefined
  }

  private sliceMs (): number { return Math.max(1, this.health.settings.windowMs / BUCKETS) }

  private open (reason: string): void {
    this.reason = reason
    this.reopensAt = this.health.now() + this.cooldownMs
    this.change('open', reason)
  }

  private change (to: CircuitState, reason: string): void {
    const from = this.state
    this.state = to
    this.health.changed({ modelName: this.modelName, providerName: this.providerName, from, to, reason, cooldownMs: to === 'open' ? this.cooldownMs : undefined })
  }
}

export interface HealthOptions {
  /** Hears every state change (logs, metrics). Must return quickly. */
  onChange?: (event: CircuitEvent) => void
  /** Milliseconds, monotonic; tests pass their own clock. */
  now?: () => number
}

/**
 * The circuits of one gateway, one per provider entry of a model, created at a provider's first failure. Keyed by the
 * provider's config object, so a circuit lives as long as its model does (shorthand models are made by clients; the
 * resolver bounds how many it keeps, and the ones it does not keep take their circuits with them).
 */
export class ProviderHealth {
  readonly settings: HealthConfig
  readonly now: () => number
  private readonly onChange?: (event: CircuitEvent) => void
  private readonly circuits = new WeakMap<ProviderConfig, Circuit>()

  constructor (settings: HealthConfig, opts: HealthOptions = {}) {
    this.settings = settings
    this.now = opts.now ?? (() => performance.now())
    this.onChange = opts.onChange
  }

  admit (provider: ProviderConfig): Admission {
    return this.circuits.get(provider)?.admit() ?? 'pass'
  }

  settle (modelName: string, provider: ProviderConfig, admission: Admission, verdict: Verdict): void {
    let circuit = this.circuits.get(provider)
    if (circuit === undefined) {
      if (verdict !== 'failure') return
      circuit = new Circuit(modelName, provider.name, this)
      this.circuits.set(provider, circuit)
    }
    circuit.settle(admission, verdict)
  }

  /** Why a skipped provider was not called, for the walk's error list. */
  skipMessage (provider: ProviderConfig): string {
    return this.circuits.get(provider)?.skipMessage() ?? 'skipped: circuit open'
  }

  changed (event: CircuitEvent): void {
    try { this.onChange?.(event) } catch { /* a listener's failure must not touch routing */ }
  }
}
