// Rate limit buckets in Postgres, shared with the TensorZero gateway: its table `resource_bucket` and its functions
// `consume_multiple_resource_tickets` / `return_multiple_resource_tickets`, one query per consume and per return.
// Where the gateway's migrations have not run, the objects are created here.
import type { RateLimitInterval } from '../core/config.ts'
import { RateLimitStoreHealth } from '../core/rate-limiting.ts'
import type { ConsumeReceipt, ConsumeRequest, RateLimitStore, RateLimitStoreOptions, ReturnRequest } from '../core/rate-limiting.ts'
import type { SharedPostgres } from './postgres.ts'

const SCHEMA_FILE = new URL('./sql/postgres_rate_limiting.sql', import.meta.url)

/** Intervals as the gateway passes them (a day is a calendar day, a month a calendar month). */
const PG_INTERVALS: Record<RateLimitInterval, string> = {
  second: '1 second', minute: '1 minute', hour: '1 hour', day: '1 day', week: '7 days', month: '1 month'
}

export function openPostgresRateLimits (postgres: SharedPostgres, opts: Pick<RateLimitStoreOptions, 'warn'>): RateLimitStore & { ready: Promise<void> } {
  const { ready, query } = postgres.objects('resource_bucket', SCHEMA_FILE, opts.warn)
  return {
    backend: 'postgres',
    health: new RateLimitStoreHealth(),
    ready,
    async consume (requests: ConsumeRequest[]): Promise<ConsumeReceipt[]> {
      if (requests.length === 0) return []
      const rows = await query<{ key: string; success: boolean; tickets_remaining: string; tickets_consumed: string }>({
        text: `SELECT bucket_key AS key, is_successful AS success, tickets_remaining, tickets_consumed
           FROM consume_multiple_resource_tickets($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::interval[])`,
        values: columns(requests, r => r.requested)
      })
      return rows.map(r => ({ key: r.key, success: r.success, remaining: Number(r.tickets_remaining), consumed: Number(r.tickets_consumed) }))
    },
    async giveBack (requests: ReturnRequest[]): Promise<void> {
      if (requests.length === 0) return
      await query({
        text: `SELECT bucket_key_returned, final_balance
           FROM return_multiple_resource_tickets($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::interval[])`,
        values: columns(requests, r => r.returned)
      })
    },
    // The pool is the process's (SharedStateStores closes it once, at shutdown): nothing of this store's own to close.
    async close (): Promise<void> {}
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
