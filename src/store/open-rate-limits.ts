// Which store enforces `[rate_limiting]`, chosen as the TensorZero gateway chooses it: `backend = "valkey"` or
// `"postgres"` when the config says so, else Valkey when TENSORZERO_VALKEY_URL is set, else Postgres when
// TENSORZERO_POSTGRES_URL is set. Rules to enforce and no store: the start fails, as the gateway's does.
import { ConfigError } from '../config/diagnostics.ts'
import type { LoadedConfig } from '../core/config.ts'
import { numberFromEnv } from '../core/env.ts'
import { enforcesRules } from '../core/rate-limiting.ts'
import type { RateLimitStore } from '../core/rate-limiting.ts'
import { openValkeyRateLimits } from './valkey-rate-limits.ts'
import { openPostgresRateLimits } from './postgres-rate-limits.ts'
import type { SharedPostgres } from './postgres.ts'

export interface RateLimitStoreLogger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
}

/** How long a store may take to answer before a request is refused; a round trip is normally a millisecond or two. */
const DEFAULT_RATE_LIMIT_TIMEOUT_MS = 1000
/** How long the start waits for the store; it goes on without it (requests under a limit are refused until it is up). */
const CONNECT_WAIT_MS = 5000

export interface RateLimitBackend { backend: 'valkey' | 'postgres'; url: string }

/** Which store, from the config and the environment; undefined when no rule is enforced. Throws ConfigError when none can be. */
export function rateLimitBackend (config: LoadedConfig, env: NodeJS.ProcessEnv): RateLimitBackend | undefined {
  const choice = chooseRateLimitBackend(config, env)
  const rl = config.tensorzero.rateLimiting
  if (choice.error !== undefined && rl !== undefined) {
    throw new ConfigError([{ ...rl.source, severity: 'error', message: choice.error }])
  }
  return choice.backend === undefined || choice.url === undefined ? undefined : { backend: choice.backend, url: choice.url }
}

function chooseRateLimitBackend (config: LoadedConfig, env: NodeJS.ProcessEnv): { backend?: 'valkey' | 'postgres'; url?: string; error?: string } {
  const rl = config.tensorzero.rateLimiting
  if (!enforcesRules(rl)) return {}
  const valkey = nonEmpty(env.TENSORZERO_VALKEY_URL)
  const postgres = nonEmpty(env.TENSORZERO_POSTGRES_URL)
  if (rl.backend === 'valkey' || (rl.backend === 'auto' && valkey !== undefined)) {
    return valkey !== undefined
      ? { backend: 'valkey', url: valkey }
      : { error: 'Rate limiting is configured to use Valkey, but Valkey is not available. Please check that the environment variable `TENSORZERO_VALKEY_URL` is set.' }
  }
  if (rl.backend === 'postgres' || postgres !== undefined) {
    return postgres !== undefined
      ? { backend: 'postgres', url: postgres }
      : { error: 'Rate limiting is configured to use Postgres, but Postgres is not available. Please check the environment variable `TENSORZERO_POSTGRES_URL` is set.' }
  }
  return { error: 'rate limits are configured but cannot be enforced: no backend is available. Set `TENSORZERO_VALKEY_URL` or `TENSORZERO_POSTGRES_URL`, or `rate_limiting.enabled = false`.' }
}

/**
 * The store `choice` names, waited for up to CONNECT_WAIT_MS (it goes on without it). `postgres`: the process's pool
 * (TENSORZERO_POSTGRES_URL), asked for only when Postgres is the backend.
 */
export async function openRateLimitStore (choice: RateLimitBackend, config: LoadedConfig, env: NodeJS.ProcessEnv, logger: RateLimitStoreLogger,
  postgres: () => Promise<SharedPostgres | undefined>): Promise<RateLimitStore> {
  const timeoutMs = rateLimitTimeoutMs(env)
  const opts = { url: choice.url, timeoutMs, warn: (message: string) => { logger.warn({ backend: choice.backend }, message) } }
  const pool = choice.backend === 'postgres' ? await postgres() : undefined
  if (choice.backend === 'postgres' && pool === undefined) throw new Error('the Postgres pool must be opened from the same environment')
  const store = choice.backend === 'valkey' ? await openValkeyRateLimits(opts) : openPostgresRateLimits(pool as SharedPostgres, opts)
  let timer: NodeJS.Timeout | undefined
  const waited = await Promise.race([
    store.ready.then(() => true, () => false),
    new Promise<false>(resolve => { timer = setTimeout(() => resolve(false), CONNECT_WAIT_MS) })
  ])
  clearTimeout(timer)
  const line = { backend: choice.backend, rules: config.tensorzero.rateLimiting?.rules.length, timeout_ms: timeoutMs }
  if (waited) logger.info(line, 'rate limiting enforced')
  else logger.warn(line, `rate limiting store not reachable after ${CONNECT_WAIT_MS} ms: requests under a limit are refused until it is`)
  return store
}

export function rateLimitTimeoutMs (env: NodeJS.ProcessEnv): number {
  return numberFromEnv(env, 'SIDECAR_RATE_LIMIT_TIMEOUT_MS', DEFAULT_RATE_LIMIT_TIMEOUT_MS)
}

function nonEmpty (v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v
}
