// `[rate_limiting]` (its resolved rules are in config.ts): the seam to the shared state that enforces it. Limits are
// token buckets kept in Valkey or Postgres under the same keys and with the same atomic functions as the TensorZero
// gateway, so every sidecar and the gateway draw from one bucket. The store is handed in by the gateway; lower layers
// never open it themselves.
import type { RateLimitingConfig, RateLimitInterval, RateLimitResource } from './config.ts'
import { GatewayError } from './errors.ts'

export const RATE_LIMIT_INTERVALS: readonly RateLimitInterval[] = ['second', 'minute', 'hour', 'day', 'week', 'month']

/** Microseconds per interval, as the Valkey functions take them (a month is 30 days there). */
export const INTERVAL_MICROS: Record<RateLimitInterval, number> = {
  second: 1e6, minute: 60e6, hour: 3600e6, day: 86_400e6, week: 604_800e6, month: 2_592_000e6
}

/** Costs are counted in nano-dollars: whole tickets. */
export const NANO_DOLLARS_PER_DOLLAR = 1e9

/** Whether any rule would be enforced: then a store is required, as the TensorZero gateway requires one. */
export function enforcesRules (config: RateLimitingConfig | undefined): config is RateLimitingConfig {
  return config !== undefined && config.enabled && config.rules.length > 0
}

// ---- the store: one round trip per call, all-or-nothing consumption across keys ----

/** How a store is opened: its URL, the limit of one round trip, and where its rare failures (set-up) are told. */
export interface RateLimitStoreOptions {
  url: string
  timeoutMs: number
  warn: (message: string) => void
}

export interface ConsumeRequest { key: string; requested: number; capacity: number; refillRate: number; interval: RateLimitInterval }
export interface ConsumeReceipt { key: string; success: boolean; remaining: number; consumed: number }
export interface ReturnRequest { key: string; returned: number; capacity: number; refillRate: number; interval: RateLimitInterval }

/**
 * Whether the store answered its last round trip. Kept with the store, not with a limiter: a reloaded config builds a
 * new limiter over the same store, and an outage that began before the reload must still end with one "back" line.
 */
export class RateLimitStoreHealth {
  state: 'unknown' | 'reachable' | 'unreachable' = 'unknown'
  lastError?: string
}

export interface RateLimitStore {
  readonly backend: 'valkey' | 'postgres'
  readonly health: RateLimitStoreHealth
  /** Takes `requested` from every bucket, or from none when any bucket has too few (then `success` is false for all). */
  consume (requests: ConsumeRequest[], signal: AbortSignal): Promise<ConsumeReceipt[]>
  /** Puts tickets back, each bucket capped at its capacity. */
  giveBack (requests: ReturnRequest[], signal: AbortSignal): Promise<void>
  close (): Promise<void>
}

/** What the limiter reports, for metrics and logs. `rule` (its index) and `scope` come from the config (closed sets). */
export type RateLimitEvent =
  | { kind: 'limited'; rule: number; scope: string; resource: RateLimitResource }
  | { kind: 'round_trip'; backend: 'valkey' | 'postgres'; operation: 'consume' | 'return'; seconds: number; ok: boolean }
  | { kind: 'store_down'; backend: 'valkey' | 'postgres'; message: string }
  | { kind: 'store_up'; backend: 'valkey' | 'postgres' }

/** A request over a limit: 429, not retried, not a fault of any provider. */
export class RateLimitExceeded extends GatewayError {
  constructor (message: string) {
    super(429, message)
    this.name = 'RateLimitExceeded'
  }
}

/** The store could not be asked: the request is refused (fail closed), as the TensorZero gateway refuses it. */
export class RateLimitStoreUnavailable extends GatewayError {
  constructor (backend: string, message: string) {
    super(503, `rate limiting store (${backend}) unavailable: ${message}`)
    this.name = 'RateLimitStoreUnavailable'
  }
}
