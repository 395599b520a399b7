// `[rate_limiting]` on Postgres (Debian's postgresql 15): the sidecar creates TensorZero's `resource_bucket` table and
// functions where they are absent, then the same checks as on Valkey, through two sidecar processes.
import t from 'tap'
import pg from 'pg'
import { postgresMissing, startPostgres } from './helpers/rate-limit-stores.ts'
import { rateLimitCases } from './helpers/rate-limit-cases.ts'

const missing = postgresMissing()
if (missing !== undefined) {
  t.test(`Postgres rate limiting`, { skip: missing }, () => {})
} else {
  const store = await startPostgres()
  const pool = new pg.Pool({ connectionString: store.url, max: 2 })
  pool.on('error', () => {})
  t.teardown(async () => { await pool.end(); await store.close() })

  await rateLimitCases(t, store, async key => {
    const { rows } = await pool.query<{ tickets: string }>('SELECT tickets FROM resource_bucket WHERE key = $1', [key])
    return rows.length === 0 ? undefined : Number(rows[0].tickets)
  })

  await t.test('the schema is TensorZero\'s: its functions answer with the columns the gateway reads', async t => {
    const consumed = await pool.query("SELECT bucket_key AS key, is_successful AS success, tickets_remaining, tickets_consumed FROM consume_multiple_resource_tickets(ARRAY['probe'], ARRAY[3]::bigint[], ARRAY[10]::bigint[], ARRAY[10]::bigint[], ARRAY['1 minute']::interval[])")
    t.same(consumed.rows, [{ key: 'probe', success: true, tickets_remaining: '7', tickets_consumed: '3' }])
    const refused = await pool.query("SELECT is_successful FROM consume_multiple_resource_tickets(ARRAY['probe', 'probe2'], ARRAY[8, 1]::bigint[], ARRAY[10, 10]::bigint[], ARRAY[10, 10]::bigint[], ARRAY['1 minute', '1 minute']::interval[])")
    t.same(refused.rows.map(r => r.is_successful), [false, false], 'all or nothing')
    const returned = await pool.query("SELECT bucket_key_returned, final_balance FROM return_multiple_resource_tickets(ARRAY['probe'], ARRAY[5]::bigint[], ARRAY[10]::bigint[], ARRAY[10]::bigint[], ARRAY['1 minute']::interval[])")
    t.same(returned.rows, [{ bucket_key_returned: 'probe', final_balance: '10' }], 'a return is capped at the capacity')
    const balance = await pool.query("SELECT get_resource_bucket_balance('probe', 10, 10, '1 minute') AS b")
    t.equal(balance.rows[0].b, '10')
    await t.rejects(pool.query("SELECT * FROM consume_multiple_resource_tickets(ARRAY['x', 'x'], ARRAY[1, 1]::bigint[], ARRAY[1, 1]::bigint[], ARRAY[1, 1]::bigint[], ARRAY['1 minute', '1 minute']::interval[])"),
      /Duplicate keys are not allowed/)
  })
}
