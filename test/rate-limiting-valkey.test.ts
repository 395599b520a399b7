// `[rate_limiting]` on Valkey (Debian's redis-server 7, which serves the same functions API): shared buckets across
// sidecar processes under TensorZero's keys, estimates and their settling, scopes, priorities, and a store that dies.
import t from 'tap'
import { Redis } from 'iovalkey'
import { startValkey, valkeyMissing } from './helpers/rate-limit-stores.ts'
import { rateLimitCases } from './helpers/rate-limit-cases.ts'

const missing = valkeyMissing()
if (missing !== undefined) {
  t.test(`Valkey rate limiting`, { skip: missing }, () => {})
} else {
  const store = await startValkey()
  const reader = new Redis(store.url, { lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: 1 })
  reader.on('error', () => {})
  t.teardown(async () => { reader.disconnect(); await store.close() })

  await rateLimitCases(t, store, async key => {
    const v = await reader.hget(`tensorzero_ratelimit:${key}`, 'balance')
    return v === null ? undefined : Number(v)
  })

  await t.test('the library TensorZero calls is loaded under its name, and its functions answer as the gateway expects', async t => {
    const libraries = await reader.call('FUNCTION', 'LIST', 'LIBRARYNAME', 'tensorzero_ratelimit_v2') as unknown[]
    t.equal(libraries.length, 1, 'library tensorzero_ratelimit_v2 is loaded (again, after the restart)')
    const receipt = JSON.parse(String(await reader.call('FCALL', 'tensorzero_consume_tickets_v2', 1, 'probe', 3, 10, 10, 60_000_000)))
    t.same(receipt, [{ key: 'probe', success: true, remaining: 7, consumed: 3 }], 'consume answers {key, success, remaining, consumed}')
    const refused = JSON.parse(String(await reader.call('FCALL', 'tensorzero_consume_tickets_v2', 2, 'probe', 'probe2', 8, 10, 10, 60_000_000, 1, 10, 10, 60_000_000)))
    t.same(refused.map((r: { success: boolean }) => r.success), [false, false], 'all or nothing: one short bucket refuses both')
    t.equal(await reader.hget('tensorzero_ratelimit:probe2', 'balance'), null, 'a refused call writes nothing')
    const back = JSON.parse(String(await reader.call('FCALL', 'tensorzero_return_tickets_v2', 1, 'probe', 5, 10, 10, 60_000_000)))
    t.same(back, [{ key: 'probe', balance: 10 }], 'a return is capped at the capacity')
    t.ok(await reader.ttl('tensorzero_ratelimit:probe') >= 172_800, 'keys expire, no sooner than 48 hours')
  })
}
