// One place that turns `TENSORZERO_CLICKHOUSE_URL` into a configured @clickhouse/client, and the narrow client the
// store speaks through: a live one, or the disabled one used when no URL is set (rows stay in the spool, reads find
// nothing), so the writer and the reads never ask whether there is a client.
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client'
import { createRequire } from 'node:module'
import { Readable } from 'node:stream'

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

/** Everything the store asks of ClickHouse. */
export interface StoreClient {
  /** False for the disabled client: nothing can be shipped or read. */
  readonly enabled: boolean
  /** Rows of a SELECT, parsed; `signal` cancels the query. */
  select<T> (query: string, signal?: AbortSignal): Promise<T[]>
  command (query: string): Promise<void>
  /** One JSONEachRow body (newline-terminated UTF-8 rows) sent as is: no per-row encoding by the client. */
  insert (table: string, body: Buffer, settings: ClickHouseSettings): Promise<void>
  ping (): Promise<boolean>
  close (): Promise<void>
}

/** No ClickHouse configured: reads find nothing; writes are never attempted (the writer keeps rows in the spool). */
const disabledClient: StoreClient = {
  enabled: false,
  select: async () => [],
  command: async () => { throw new Error('ClickHouse is disabled: TENSORZERO_CLICKHOUSE_URL is unset') },
  insert: async () => { throw new Error('ClickHouse is disabled: TENSORZERO_CLICKHOUSE_URL is unset') },
  ping: async () => false,
  close: async () => {}
}

/** The client for `url` (TensorZero's URL form), or the disabled client when it is unset or empty. */
export function storeClient (url: string | undefined, opts: ClientOptions = {}): StoreClient {
  if (url === undefined || url === '') return disabledClient
  const client = makeClient(parseClickHouseUrl(url), opts)
  return {
    enabled: true,
    async select<T> (query: string, signal?: AbortSignal): Promise<T[]> {
      const rs = await client.query({ query, format: 'JSONEachRow', abort_signal: signal })
      return await rs.json<T>()
    },
    async command (query) { await client.command({ query }) },
    async insert (table, body, settings) {
      const res = await client.exec({
        query: `INSERT INTO ${table} FORMAT JSONEachRow`,
        values: Readable.from([body], { objectMode: false }),
        clickhouse_settings: settings
      })
      for await (const _ of res.stream) { /* drain the (empty) response */ }
    },
    async ping () { return (await client.ping()).success },
    async close () { await client.close() }
  }
}

/** ClickHouse error codes that mean the rows themselves are wrong: retrying cannot help. */
const DATA_ERROR_CODES = new Set([6, 16, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 349, 376, 457, 691])

export function isDataError (err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown }
  let code: number | undefined
  if (typeof e.code === 'string' && /^\d+$/.test(e.code)) code = Number(e.code)
  else {
    const m = typeof e.message === 'string' ? /Code: (\d+)\./.exec(e.message) : null
    code = m === null ? undefined : Number(m[1])
  }
  return code !== undefined && DATA_ERROR_CODES.has(code)
}

/** The first line of an error's message, bounded: what logs and `/status` show. */
export function errorText (err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err)
  return msg.split('\n')[0].slice(0, 500)
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
