// Rate limit buckets in Postgres, shared with the TensorZero gateway: its table `resource_bucket` and its functions
// `consume_multiple_resource_tickets` / `return_multiple_resource_tickets`, one query per consume and per return.
// Where the gateway's migrations have not run, the objects are created here (once, under an advisory lock).
import { readFile } from 'node:fs/promises'
import type { Client, Pool } from 'pg'
import type { RateLimitInterval } from '../core/config.ts'
import { RateLimitStoreHealth } from '../core/rate-limiting.ts'
import type { ConsumeReceipt, ConsumeRequest, RateLimitStore, RateLimitStoreOptions, ReturnRequest } from '../core/rate-limiting.ts'

const SCHEMA_FILE = new URL('./sql/postgres_rate_limiting.sql', import.meta.url)

/** Intervals as the gateway passes them (a day is a calendar day, a month a calendar month). */
const PG_INTERVALS: Record<RateLimitInterval, string> = {
  second: '1 second', minute: '1 minute', hour: '1 hour', day: '1 day', week: '7 days', month: '1 month'
}

/** Any key: taken only while the rate limiting objects are created, so two sidecars starting together do not race. */
const SCHEMA_LOCK = 7_331_042_017
/** Creating the schema is not on a request's path: it may take longer than a round trip. */
const SCHEMA_TIMEOUT_MS = 15_000
/** undefined_function, undefined_table: the schema is not there (yet). */
const MISSING_OBJECT = new Set(['42883', '42P01'])

export async function openPostgresRateLimits (opts: RateLimitStoreOptions): Promise<RateLimitStore & { ready: Promise<void> }> {
  // Loaded only when TENSORZERO_POSTGRES_URL is set.
  const { default: pg } = await import('pg')
  const pool: Pool = new pg.Pool({
    connectionString: opts.url,
    max: 8,
    // Per query and per connection attempt: a Postgres that does not answer fails the call instead of holding it.
    connectionTimeoutMillis: opts.timeoutMs,
    query_timeout: opts.timeoutMs,
    idleTimeoutMillis: 30_000
  })
  // An idle connection that breaks (the server restarted) must not take the process down; the next query reports it.
  pool.on('error', () => {})

  let creating: Promise<void> | undefined
  /** Rejects when the objects could not be created (the store is down): the next request that misses them tries again. */
  const createSchema = async (): Promise<void> => {
    creating ??= ensureSchema(new pg.Client({ connectionString: opts.url, connectionTimeoutMillis: SCHEMA_TIMEOUT_MS }))
      .catch((err: unknown) => { opts.warn(`creating the rate limiting tables failed: ${(err as Error).message}`); throw err })
      .finally(() => { creating = undefined })
    await creating
  }
  const ready = createSchema()
  // A Postgres that was down at start has no functions yet when it comes back: create them then.
  const query = async <T extends object>(text: string, values: unknown[]): Promise<T[]> => {
    try {
      return (await pool.query<T & Record<string, unknown>>(text, values)).rows
    } catch (err) {
      if (MISSING_OBJECT.has((err as { code?: string }).code ?? '')) createSchema().catch(() => {})
      throw err
    }
  }

  return {
    backend: 'postgres',
    health: new RateLimitStoreHealth(),
    ready,
    async consume (requests: ConsumeRequest[]): Promise<ConsumeReceipt[]> {
      if (requests.length === 0) return []
      const rows = await query<{ key: string; success: boolean; tickets_remaining: string; tickets_consumed: string }>(
        `SELECT bucket_key AS key, is_successful AS success, tickets_remaining, tickets_consumed
           FROM consume_multiple_resource_tickets($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::interval[])`,
        columns(requests, r => r.requested))
      return rows.map(r => ({ key: r.key, success: r.success, remaining: Number(r.tickets_remaining), consumed: Number(r.tickets_consumed) }))
    },
    async giveBack (requests: ReturnRequest[]): Promise<void> {
      if (requests.length === 0) return
      await query(
        `SELECT bucket_key_returned, final_balance
           FROM return_multiple_resource_tickets($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::interval[])`,
        columns(requests, r => r.returned))
    },
    async close (): Promise<void> {
      await pool.end()
    }
  }
}

function columns<R extends ConsumeRequest | ReturnRequest> (requests: R[], amount: (r: R) => number): unknown[] {
  return [
    requests.map(r => r.key),
    requests.map(r => String(amount(r))),
    requests.map(r => String(r.capacity)),
    requests.map(r => String(r.refillRate)),
    requests.map(r => PG_INTERVALS[r.interval])
  ]
}

async function ensureSchema (client: Client): Promise<void> {
  client.on('error', () => {})
  await client.connect()
  try {
    const present = async (): Promise<boolean> =>
      (await client.query<{ t: string | null }>("SELECT to_regclass('resource_bucket')::text AS t")).rows[0]?.t !== null
    if (await present()) return
    const sql = await readFile(SCHEMA_FILE, 'utf8')
    await client.query('BEGIN')
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK])
    if (!await present()) await client.query(sql)
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    await client.end().catch(() => {})
  }
}
