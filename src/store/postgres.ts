// The sidecar's one Postgres (TENSORZERO_POSTGRES_URL), shared with the TensorZero gateway: one pool for every
// feature that keeps state there (rate limit buckets, adaptive experiments' episode → variant), and the creation of
// each feature's objects where the gateway's migrations have not run (once, under an advisory lock).
import { readFile } from 'node:fs/promises'
import type { Pool } from 'pg'
import { numberFromEnv } from '../core/env.ts'

/** Any key: taken only while objects are created, so two sidecars starting together do not race. */
const SCHEMA_LOCK = 7_331_042_017
/** Creating objects is not on a request's path: it may take longer than a round trip. */
const SCHEMA_TIMEOUT_MS = 15_000
/** undefined_function, undefined_table: the objects are not there (yet). */
const MISSING_OBJECT = new Set(['42883', '42P01'])
/** A round trip is normally a millisecond or two; a Postgres that does not answer within this fails the call. */
const DEFAULT_TIMEOUT_MS = 1000

export interface SharedPostgres {
  readonly url: string
  readonly timeoutMs: number
  /**
   * One feature's objects: created at once where `relation` is absent (`ready` settles when that is done or failed),
   * and again when a query finds them missing (a Postgres that was down at start, or wiped).
   */
  objects (relation: string, sqlFile: URL, warn: (message: string) => void): PostgresObjects
  /** Ends the pool; later calls do nothing. Its owner (SharedStateStores) calls it once, at shutdown. */
  close (): Promise<void>
}

export interface PostgresObjects {
  ready: Promise<void>
  /** One round trip, bounded by the pool's timeout; a query with a `name` is prepared once per connection. */
  query<T extends object>(query: { name?: string; text: string; values: unknown[] }): Promise<T[]>
}

/**
 * How long a Postgres round trip may take before the request waiting on it fails: SIDECAR_POSTGRES_TIMEOUT_MS, else
 * SIDECAR_RATE_LIMIT_TIMEOUT_MS (the older name, when rate limits were its only use), else 1 s.
 */
function postgresTimeoutMs (env: NodeJS.ProcessEnv): number {
  return numberFromEnv(env, 'SIDECAR_POSTGRES_TIMEOUT_MS', numberFromEnv(env, 'SIDECAR_RATE_LIMIT_TIMEOUT_MS', DEFAULT_TIMEOUT_MS))
}

/** The pool when TENSORZERO_POSTGRES_URL is set, else undefined; nothing connects until the first query. */
export async function openPostgres (env: NodeJS.ProcessEnv): Promise<SharedPostgres | undefined> {
  const url = env.TENSORZERO_POSTGRES_URL
  if (url === undefined || url === '') return undefined
  // Loaded only when a Postgres is configured.
  const { default: pg } = await import('pg')
  const timeoutMs = postgresTimeoutMs(env)
  const pool: Pool = new pg.Pool({
    connectionString: url,
    max: 8,
    // Per query and per connection attempt: a Postgres that does not answer fails the call instead of holding it.
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    idleTimeoutMillis: 30_000
  })
  // An idle connection that breaks (the server restarted) must not take the process down; the next query reports it.
  pool.on('error', () => {})
  let ended: Promise<void> | undefined

  const createWhereMissing = async (relation: string, sqlFile: URL): Promise<void> => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: SCHEMA_TIMEOUT_MS })
    client.on('error', () => {})
    await client.connect()
    try {
      const present = async (): Promise<boolean> =>
        (await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [relation])).rows[0]?.t !== null
      if (await present()) return
      const sql = await readFile(sqlFile, 'utf8')
      // A session lock, then the check in a transaction of its own: a check inside the transaction that took the lock
      // may read a catalog snapshot from before the previous holder's commit, and create the objects a second time.
      await client.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK])
      if (await present()) return
      await client.query('BEGIN')
      try {
        await client.query(sql)
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {})
        throw err
      }
    } finally {
      // Ending the session releases the lock.
      await client.end().catch(() => {})
    }
  }

  return {
    url,
    timeoutMs,
    objects (relation, sqlFile, warn) {
      let creating: Promise<void> | undefined
      /** Rejects when the objects could not be created (Postgres is down): the next query that misses them tries again. */
      const create = async (): Promise<void> => {
        creating ??= createWhereMissing(relation, sqlFile)
          .catch((err: unknown) => { warn(`creating \`${relation}\` in Postgres failed: ${(err as Error).message}`); throw err })
          .finally(() => { creating = undefined })
        await creating
      }
      const ready = create()
      // Awaited by whoever needs the objects at start; a failure is warned about above and retried on a miss.
      ready.catch(() => {})
      return {
        ready,
        async query<T extends object>(query: { name?: string; text: string; values: unknown[] }): Promise<T[]> {
          try {
            return (await pool.query<T & Record<string, unknown>>(query)).rows
          } catch (err) {
            if (MISSING_OBJECT.has((err as { code?: string }).code ?? '')) create().catch(() => {})
            throw err
          }
        }
      }
    },
    async close (): Promise<void> {
      ended ??= pool.end()
      await ended
    }
  }
}
