// Adaptive experiments' episode → variant in Postgres, as the TensorZero gateway keeps it: table `variant_by_episode`,
// one atomic insert-or-read per sampled variant, so two sidecars, or a sidecar and the gateway, never put one episode
// on two variants. Where the gateway's migrations have not run, the table is created here.
import { GatewayError } from '../core/errors.ts'
import type { EpisodeVariants } from '../core/stored-data.ts'
import type { SharedPostgres } from './postgres.ts'

const SCHEMA_FILE = new URL('./sql/postgres_variant_by_episode.sql', import.meta.url)

/** TensorZero's statement: the first variant set for (function, episode) wins, and every caller reads it back. */
const CHECK_AND_SET = `INSERT INTO variant_by_episode(function_name, episode_id, variant_name)
  VALUES ($1, $2, $3)
  ON CONFLICT (function_name, episode_id) DO UPDATE
  SET variant_name = variant_by_episode.variant_name
  RETURNING variant_name`

/** Over the process's pool, which its owner (SharedStateStores) closes: this store has nothing of its own to close. */
export interface PostgresEpisodeVariants extends EpisodeVariants {
  /** Settles once the table is there; rejects when Postgres could not be reached to see. */
  readonly ready: Promise<void>
}

export function openPostgresEpisodeVariants (postgres: SharedPostgres, warn: (message: string) => void): PostgresEpisodeVariants {
  const { ready, query } = postgres.objects('variant_by_episode', SCHEMA_FILE, warn)
  return {
    ready,
    async checkAndSet (functionName, episodeId, candidate) {
      let rows: Array<{ variant_name: string | null }>
      try {
        rows = await query({ name: 'check_and_set_variant_by_episode', text: CHECK_AND_SET, values: [functionName, episodeId, candidate] })
      } catch (err) {
        // TensorZero's answer when this query fails: an internal error, the request is not served.
        throw new GatewayError(500, `Postgres query failed: ${(err as Error).message}`)
      }
      const name = rows[0]?.variant_name
      if (typeof name !== 'string') {
        throw new GatewayError(500, 'Unexpected Postgres result of type check_and_set_variant_by_episode: Missing variant name')
      }
      return name
    }
  }
}
