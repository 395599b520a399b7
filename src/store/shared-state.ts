// The stores of state the sidecar shares with other sidecars and the TensorZero gateway: `[rate_limiting]` buckets
// (Valkey or Postgres) and adaptive experiments' episode → variant (Postgres), over one Postgres pool. Each is opened
// the first time a config needs it, at start or at the reload that brings the first rule or adaptive experiment, and
// then kept for every config after, so a reload never leaves one of them silently unused.
import type { FunctionConfig, LoadedConfig } from '../core/config.ts'
import type { RateLimitStore } from '../core/rate-limiting.ts'
import { openPostgres } from './postgres.ts'
import type { SharedPostgres } from './postgres.ts'
import { openRateLimitStore, rateLimitBackend } from './open-rate-limits.ts'
import type { RateLimitStoreLogger } from './open-rate-limits.ts'
import { adaptiveFunctions, openEpisodeVariants, warnEpisodesInMemory } from './open-episode-variants.ts'
import type { PostgresEpisodeVariants } from './postgres-episode-variants.ts'

/** The stores one config's gateway is handed. */
export interface SharedStateOfConfig {
  /** Only when the config enforces rules. */
  rateLimits?: RateLimitStore
  /** Only with TENSORZERO_POSTGRES_URL set, once a config had an adaptive experiment; else episodes stay in memory. */
  episodeVariants?: PostgresEpisodeVariants
  /** What the config asks for that the stores opened earlier give only after a restart. */
  restartNeeded: string[]
}

export class SharedStateStores {
  private readonly env: NodeJS.ProcessEnv
  private readonly logger: RateLimitStoreLogger
  private postgres: Promise<SharedPostgres | undefined> | undefined
  private rateLimits: RateLimitStore | undefined
  private episodeVariants: PostgresEpisodeVariants | undefined
  /** Adaptive functions already warned about (no Postgres): a reload warns only for new ones. */
  private readonly warnedInMemory = new Set<string>()

  constructor (env: NodeJS.ProcessEnv, logger: RateLimitStoreLogger) {
    this.env = env
    this.logger = logger
  }

  /**
   * Opens what `config` is the first to need. Throws ConfigError, as the TensorZero gateway's start fails, when its
   * rules have no store to use or its adaptive experiments' Postgres cannot be reached; what was opened stays open.
   */
  async forConfig (config: LoadedConfig): Promise<SharedStateOfConfig> {
    const restartNeeded: string[] = []
    const backend = rateLimitBackend(config, this.env)
    if (backend !== undefined) {
      this.rateLimits ??= await openRateLimitStore(backend, config, this.env, this.logger, async () => await this.pool())
      if (this.rateLimits.backend !== backend.backend) {
        restartNeeded.push(`[rate_limiting] backend ${backend.backend}: the rules are enforced on the ${this.rateLimits.backend} store opened first`)
      }
    }
    const adaptive = adaptiveFunctions(config)
    if (adaptive.length > 0) {
      const postgres = await this.pool()
      if (postgres !== undefined) this.episodeVariants ??= await openEpisodeVariants(adaptive, postgres, this.logger)
      else this.warnInMemory(adaptive)
    }
    return { rateLimits: backend === undefined ? undefined : this.rateLimits, episodeVariants: this.episodeVariants, restartNeeded }
  }

  async close (): Promise<void> {
    await this.rateLimits?.close()
    await (await this.postgres)?.close()
  }

  /** The pool, opened once when first asked for (`pg` is loaded then); undefined without TENSORZERO_POSTGRES_URL. */
  private async pool (): Promise<SharedPostgres | undefined> {
    this.postgres ??= openPostgres(this.env)
    return await this.postgres
  }

  private warnInMemory (adaptive: FunctionConfig[]): void {
    for (const fn of adaptive) {
      if (this.warnedInMemory.has(fn.name)) continue
      this.warnedInMemory.add(fn.name)
      warnEpisodesInMemory(fn, this.logger)
    }
  }
}
