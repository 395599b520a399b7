// Where adaptive experiments keep episode → variant. With TENSORZERO_POSTGRES_URL set, in Postgres as the TensorZero
// gateway keeps it, and, as the gateway, the start (or the reload that brings the first adaptive experiment) fails
// when that Postgres cannot be reached. Without it, the process keeps them in memory (the TensorZero gateway refuses
// to start then): one warning per adaptive function says so.
import { ConfigError } from '../config/diagnostics.ts'
import type { FunctionConfig, LoadedConfig } from '../core/config.ts'
import { openPostgresEpisodeVariants } from './postgres-episode-variants.ts'
import type { PostgresEpisodeVariants } from './postgres-episode-variants.ts'
import type { SharedPostgres } from './postgres.ts'

/** How long the start waits for Postgres to answer (and the table to be there) before it refuses to start. */
const CONNECT_WAIT_MS = 5000

/** One warning per adaptive function when there is no Postgres: this process's memory keeps its episodes. */
export function warnEpisodesInMemory (fn: FunctionConfig, logger: { warn (obj: object, msg: string): void }): void {
  logger.warn({ function: fn.name }, `adaptive experimentation of function \`${fn.name}\`: TENSORZERO_POSTGRES_URL is not set, so this ` +
    'process keeps episode → variant in its own memory, across config reloads (another sidecar or the gateway may put an episode on another variant; the TensorZero gateway refuses to start without Postgres)')
}

/** Functions with an adaptive experiment, as the base one or a namespace's. */
export function adaptiveFunctions (config: LoadedConfig): FunctionConfig[] {
  const adaptive = (fn: FunctionConfig): boolean => fn.experimentation.type === 'track_and_stop' ||
    [...fn.namespaceExperimentation?.values() ?? []].some(exp => exp.type === 'track_and_stop')
  return [...config.tensorzero.functions.values()].filter(adaptive)
}

/**
 * The Postgres store of `adaptive`'s episodes, once the table is there. Throws ConfigError when Postgres cannot be
 * reached (the pool is left open: it is the process's, and other features may use it).
 */
export async function openEpisodeVariants (adaptive: FunctionConfig[], postgres: SharedPostgres,
  logger: { warn (obj: object, msg: string): void }): Promise<PostgresEpisodeVariants> {
  const store = openPostgresEpisodeVariants(postgres, message => { logger.warn({ table: 'variant_by_episode' }, message) })
  let timer: NodeJS.Timeout | undefined
  const failure = await Promise.race([
    store.ready.then(() => undefined, (err: unknown) => (err as Error).message),
    new Promise<string>(resolve => { timer = setTimeout(() => resolve(`no answer within ${CONNECT_WAIT_MS} ms`), CONNECT_WAIT_MS) })
  ])
  clearTimeout(timer)
  if (failure === undefined) return store
  throw new ConfigError(adaptive.map(fn => ({
    ...fn.source,
    severity: 'error' as const,
    message: `Track-and-Stop experimentation is configured for function \`${fn.name}\` but Postgres is unhealthy: Error connecting to Postgres: ${failure}. ` +
      'Track-and-Stop requires a healthy Postgres connection for episode-to-variant consistency.'
  })))
}
