// Rate limit buckets in Valkey (or Redis ≥ 7), shared with the TensorZero gateway: the library `tensorzero_ratelimit_v2`
// with its functions `tensorzero_consume_tickets_v2` / `tensorzero_return_tickets_v2` / `tensorzero_get_balance_v2`,
// hashes `tensorzero_ratelimit:<key>` of `balance` and `last_refilled` (server time, microseconds, advanced by whole
// refill intervals). One FCALL per consume and per return; the bucket arithmetic runs inside Valkey, atomically.
// The library is loaded without REPLACE: when a gateway (or another sidecar) loaded it first, theirs is used as is.
import type { Redis } from 'iovalkey'
import { INTERVAL_MICROS, RateLimitStoreHealth } from '../core/rate-limiting.ts'
import type { ConsumeReceipt, ConsumeRequest, RateLimitStore, RateLimitStoreOptions, ReturnRequest } from '../core/rate-limiting.ts'

const LIBRARY = `#!lua name=tensorzero_ratelimit_v2
-- Token buckets for tz-sidecar and the TensorZero gateway; keys and results are the gateway's.
local PREFIX = 'tensorzero_ratelimit:'
local MIN_TTL = 172800

local function now_micros()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function ttl_for(capacity, refill, interval)
  if refill <= 0 or interval <= 0 then return MIN_TTL end
  local seconds = math.ceil(math.ceil(capacity / refill) * interval / 1000000)
  return math.max(MIN_TTL, 2 * seconds)
end

-- The bucket as of now: whole intervals since last_refilled each add refill, up to capacity.
local function refilled(key, capacity, refill, interval, now)
  local h = redis.call('HMGET', PREFIX .. key, 'balance', 'last_refilled')
  local balance = tonumber(h[1]) or capacity
  local last = tonumber(h[2]) or now
  if refill <= 0 or interval <= 0 then return balance, last end
  local n = math.floor(math.max(now - last, 0) / interval)
  return math.min(balance + n * refill, capacity), last + n * interval
end

local function store(key, balance, last, capacity, refill, interval)
  redis.call('HSET', PREFIX .. key, 'balance', balance, 'last_refilled', last)
  redis.call('EXPIRE', PREFIX .. key, ttl_for(capacity, refill, interval))
end

local function unique(keys)
  local seen = {}
  for _, k in ipairs(keys) do
    if seen[k] then error('Duplicate keys are not allowed in the input array') end
    seen[k] = true
  end
end

-- ARGV per key: requested, capacity, refill_amount, refill_interval (microseconds). All keys or none.
local function consume(keys, args)
  unique(keys)
  local now = now_micros()
  local rows, ok = {}, true
  for i, key in ipairs(keys) do
    local b = (i - 1) * 4
    local r = { want = tonumber(args[b + 1]), cap = tonumber(args[b + 2]), refill = tonumber(args[b + 3]), every = tonumber(args[b + 4]) }
    r.balance, r.last = refilled(key, r.cap, r.refill, r.every, now)
    if r.want > r.balance then ok = false end
    rows[i] = r
  end
  local out = {}
  for i, key in ipairs(keys) do
    local r = rows[i]
    if ok then
      store(key, r.balance - r.want, r.last, r.cap, r.refill, r.every)
      out[i] = { key = key, success = true, remaining = r.balance - r.want, consumed = r.want }
    else
      out[i] = { key = key, success = false, remaining = r.balance, consumed = 0 }
    end
  end
  return cjson.encode(out)
end

-- ARGV per key: returned, capacity, refill_amount, refill_interval (microseconds).
local function give_back(keys, args)
  unique(keys)
  local now = now_micros()
  local out = {}
  for i, key in ipairs(keys) do
    local b = (i - 1) * 4
    local back, cap, refill, every = tonumber(args[b + 1]), tonumber(args[b + 2]), tonumber(args[b + 3]), tonumber(args[b + 4])
    local balance, last = refilled(key, cap, refill, every, now)
    balance = math.min(balance + back, cap)
    store(key, balance, last, cap, refill, every)
    out[i] = { key = key, balance = balance }
  end
  return cjson.encode(out)
end

local function balance_of(keys, args)
  local balance = refilled(keys[1], tonumber(args[1]), tonumber(args[2]), tonumber(args[3]), now_micros())
  return cjson.encode({ balance = balance })
end

redis.register_function('tensorzero_consume_tickets_v2', consume)
redis.register_function('tensorzero_return_tickets_v2', give_back)
redis.register_function{ function_name = 'tensorzero_get_balance_v2', callback = balance_of, flags = { 'no-writes' } }
`

export async function openValkeyRateLimits (opts: RateLimitStoreOptions): Promise<RateLimitStore & { ready: Promise<void> }> {
  // Loaded only when TENSORZERO_VALKEY_URL is set: a sidecar without rate limits never pays for the client.
  const { Redis: Client } = await import('iovalkey')
  const client: Redis = new Client(opts.url, {
    // Fail at once while disconnected (no queue that would hold requests), keep reconnecting in the background.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Per command: a Valkey that does not answer in time fails the call instead of holding the request.
    commandTimeout: opts.timeoutMs,
    connectTimeout: Math.max(opts.timeoutMs, 2000),
    retryStrategy: times => Math.min(100 * 2 ** Math.min(times, 5), 3000)
  })
  // A Valkey restarted without persistence has lost its functions: load them on every (re)connection.
  const load = async (): Promise<void> => {
    try {
      await client.call('FUNCTION', 'LOAD', LIBRARY)
    } catch (err) {
      if (!/already exists/i.test((err as Error).message)) opts.warn(`loading the rate limiting functions failed: ${(err as Error).message}`)
    }
  }
  let loaded = (): void => {}
  const ready = new Promise<void>(resolve => { loaded = resolve })
  client.on('ready', () => { void load().then(loaded) })
  // Every reconnection attempt while Valkey is down emits one: the limiter reports the outage once, when a request meets it.
  client.on('error', () => {})

  const fcall = async (fn: string, keys: string[], args: number[]): Promise<string> =>
    String(await client.call('FCALL', fn, keys.length, ...keys, ...args.map(n => String(n))))

  return {
    backend: 'valkey',
    health: new RateLimitStoreHealth(),
    ready,
    async consume (requests: ConsumeRequest[]): Promise<ConsumeReceipt[]> {
      if (requests.length === 0) return []
      const args = requests.flatMap(r => [r.requested, r.capacity, r.refillRate, INTERVAL_MICROS[r.interval]])
      const rows = JSON.parse(await fcall('tensorzero_consume_tickets_v2', requests.map(r => r.key), args)) as Array<{ key: string; success: boolean; remaining: number; consumed: number }>
      return rows.map(r => ({ key: r.key, success: r.success, remaining: Math.max(0, r.remaining), consumed: Math.max(0, r.consumed) }))
    },
    async giveBack (requests: ReturnRequest[]): Promise<void> {
      if (requests.length === 0) return
      const args = requests.flatMap(r => [r.returned, r.capacity, r.refillRate, INTERVAL_MICROS[r.interval]])
      await fcall('tensorzero_return_tickets_v2', requests.map(r => r.key), args)
    },
    async close (): Promise<void> {
      client.disconnect()
    }
  }
}
