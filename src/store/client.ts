// One place that turns `TENSORZERO_CLICKHOUSE_URL` into a configured @clickhouse/client.
import type { ClickHouseClient } from '@clickhouse/client'
import { createRequire } from 'node:module'

// @clickhouse/client loads with the first client (TENSORZERO_CLICKHOUSE_URL set), not with this module: ~100 ms of a
// cold start otherwise (bench/). Clients are made at startup and by `migrate`, never per request.
const requireCjs = createRequire(import.meta.url)

export interface ClickHouseTarget {
  /** Origin only (`http://host:8123`), no credentials, no path. */
  origin: string
  username: string
  password: string
  database: string
}

/** `http[s]://user:pass@host:port/<database>` (TensorZero's form). The database defaults to `default`. */
export function parseClickHouseUrl (url: string): ClickHouseTarget {
  let u: URL
  try { u = new URL(url) } catch { throw new Error('TENSORZERO_CLICKHOUSE_URL is not a valid URL') }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`TENSORZERO_CLICKHOUSE_URL must be http:// or https://, got ${u.protocol}//`)
  const path = u.pathname.replace(/^\/+|\/+$/g, '')
  const database = decodeURIComponent(path !== '' ? path : (u.searchParams.get('database') ?? 'default'))
  if (!/^[A-Za-z0-9_]+$/.test(database)) throw new Error(`TENSORZERO_CLICKHOUSE_URL: database name "${database}" must be letters, digits and _`)
  return {
    origin: `${u.protocol}//${u.host}`,
    username: decodeURIComponent(u.username !== '' ? u.username : 'default'),
    password: decodeURIComponent(u.password),
    database
  }
}

/** Redacts the password for logs and status output. */
export function redactUrl (url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch { return '<invalid url>' }
}

export interface ClientOptions {
  requestTimeoutMs?: number
  maxOpenConnections?: number
  /** Override the database (migrate uses `default` to create the target database). */
  database?: string
}

/**
 * A client with its own logging switched off (it logs every failure at ERROR otherwise; the writer reports
 * trouble itself, rate-limited) and a JSON stringifier that passes pre-serialised rows through untouched, so
 * spooled lines are shipped byte for byte.
 */
export function makeClient (target: ClickHouseTarget, opts: ClientOptions = {}): ClickHouseClient {
  const { createClient, ClickHouseLogLevel } = requireCjs('@clickhouse/client') as typeof import('@clickhouse/client')
  return createClient({
    url: target.origin,
    username: target.username,
    password: target.password,
    database: opts.database ?? target.database,
    request_timeout: opts.requestTimeoutMs ?? 30_000,
    max_open_connections: opts.maxOpenConnections ?? 4,
    keep_alive: { enabled: true },
    log: { level: ClickHouseLogLevel.OFF },
    json: {
      parse: JSON.parse,
      stringify: (v: unknown) => typeof v === 'string' ? v : JSON.stringify(v)
    }
  })
}
