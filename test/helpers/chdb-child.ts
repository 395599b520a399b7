// Child process: a chdb (ClickHouse 26.x, in-process) engine behind enough of ClickHouse's HTTP interface for
// @clickhouse/client: `GET /ping`, queries in the body or `query` param, `database` param, settings as URL params
// (applied to their statement), `INSERT … FORMAT <fmt>` with the data in the body, FORMAT clauses honoured, query parameters as `param_<name>` URL
// params bound server-side to `{name:Type}` (as @clickhouse/client's `query_params` sends them; scalar values unescaped
// as ClickHouse reads them, TabSeparated escapes with `\N` for NULL), `X-ClickHouse-*` headers, errors as
// HTTP 500 with ClickHouse's error text. Run by test/helpers/chdb-server.ts; prints `{"port":N}` when ready.
import http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { Session } from 'chdb'

const dir = mkdtempSync(join(tmpdir(), 'chdb-'))
const session = new Session(dir)

// Parameters that are not ClickHouse settings.
const NON_SETTINGS = new Set(['query', 'database', 'query_id', 'default_format', 'session_id', 'session_timeout', 'session_check',
  'user', 'password', 'role', 'quota_key', 'compress', 'decompress', 'buffer_size', 'wait_end_of_query', 'enable_http_compression',
  'http_headers_progress_interval_ms', 'send_progress_in_http_headers'])

let currentDb = 'default'
let chain: Promise<unknown> = Promise.resolve()
/** chdb runs one statement at a time: every request goes through this queue. */
function serial<T> (fn: () => Promise<T>): Promise<T> {
  const p = chain.then(fn, fn)
  chain = p.catch(() => undefined)
  return p
}

interface Logged { method: string; path: string; params: Record<string, string>; head: string; status: number }
const log: Logged[] = []

const INSERT_RE = /^\s*INSERT\s+INTO\s+([`"\w.]+)\s*(?:\(([^)]*)\))?\s*(?:SETTINGS\s+(.*?)\s+)?FORMAT\s+(\w+)\s*$/is

async function useDb (db: string): Promise<void> {
  if (db === currentDb) return
  if (!/^\w+$/.test(db)) throw Object.assign(new Error(`Code: 81. DB::Exception: Database ${db} does not exist. (UNKNOWN_DATABASE)`), { clickhouseCode: 81 })
  await session.queryAsync(`USE ${db}`)
  currentDb = db
}

const TSV_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', 0: '\0', a: '\x07', v: '\v' }

/**
 * ClickHouse reads an HTTP query parameter in the escaped (TabSeparated) text format of its placeholder's type; chdb
 * binds the JS value as it is. So a scalar's `\N` is NULL and its `\'`, `\\`, `\t`… are unescaped here; composite
 * types (Array, Map, Tuple) are left whole: their quoted elements carry their own escapes, which chdb parses.
 */
function boundValue (sql: string, name: string, value: string): string | null {
  const type = new RegExp(`\\{\\s*${name}\\s*:\\s*([^}]+)\\}`).exec(sql)?.[1].trim() ?? 'String'
  if (/^(Array|Map|Tuple)\b/.test(type) || !value.includes('\\')) return value
  if (value === '\\N' && /^Nullable\b/.test(type)) return null
  return value.replace(/\\(.)/gs, (_, c: string) => TSV_ESCAPES[c] ?? c)
}

async function handle (params: URLSearchParams, body: Buffer): Promise<{ text: string; written: number; format?: string }> {
  await useDb(params.get('database') ?? 'default')
  const settings: Record<string, string> = {}
  const bound: Record<string, string | null> = {}
  for (const [k, v] of params) {
    if (k.startsWith('param_')) bound[k.slice(6)] = v
    else if (!NON_SETTINGS.has(k)) settings[k] = v
  }
  const q = params.get('query')
  const ins = q === null ? null : INSERT_RE.exec(q)
  if (ins !== null) {
    const [, table, cols, inlineSettings, format] = ins
    if (inlineSettings !== undefined) {
      for (const part of inlineSettings.split(',')) {
        const [k, v] = part.split('=').map(s => s.trim())
        if (k !== undefined && v !== undefined) settings[k] = v.replace(/^'|'$/g, '')
      }
    }
    const r = await session.insert({
      table: table.replace(/[`"]/g, ''),
      values: body,
      format: format as 'JSONEachRow',
      columns: cols === undefined ? undefined : cols.split(',').map(c => c.trim().replace(/[`"]/g, '')),
      settings
    })
    return { text: '', written: r.rowsWritten }
  }
  const sql = ((q ?? '') + (q !== null && body.length > 0 ? '\n' : '') + body.toString('utf8')).trim()
  // `USE x` must move this connection's notion of the current database too.
  const use = /^USE\s+(\w+)\s*;?$/i.exec(sql)
  if (use !== null) { await useDb(use[1]); return { text: '', written: 0 } }
  const fmt = /\bFORMAT\s+(\w+)\s*;?\s*$/i.exec(sql)?.[1] ?? params.get('default_format') ?? 'TabSeparated'
  for (const [name, value] of Object.entries(bound)) if (value !== null) bound[name] = boundValue(sql, name, value)
  return await withSettings(settings, async () => {
    const r = Object.keys(bound).length === 0 ? await session.queryAsync(sql, { format: fmt }) : await session.queryBindAsync(sql, bound, { format: fmt })
    return { text: r.text(), written: 0, format: fmt }
  })
}

const quoted = (v: string): string => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`

/** URL settings apply to their one query, as ClickHouse's HTTP interface applies them: set in the session, then put back. */
async function withSettings<T> (settings: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const names = Object.keys(settings)
  if (names.length === 0) return await fn()
  const bad = names.find(n => !/^\w+$/.test(n))
  if (bad !== undefined) throw Object.assign(new Error(`Code: 115. DB::Exception: Unknown setting '${bad}'. (UNKNOWN_SETTING)`), { clickhouseCode: 115 })
  const prior = (await session.queryAsync(`SELECT name, value FROM system.settings WHERE name IN (${names.map(quoted).join(', ')})`, { format: 'JSONEachRow' }))
    .text().split('\n').filter(l => l !== '').map(l => JSON.parse(l) as { name: string; value: string })
  for (const [name, value] of Object.entries(settings)) await session.queryAsync(`SET ${name} = ${quoted(value)}`)
  try {
    return await fn()
  } finally {
    for (const { name, value } of prior) await session.queryAsync(`SET ${name} = ${quoted(value)}`)
  }
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/ping') { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('Ok.\n'); return }
    if (url.pathname === '/__requests') { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(log)); return }
    const body = Buffer.concat(chunks)
    const queryId = url.searchParams.get('query_id') ?? randomUUID()
    const entry: Logged = {
      method: req.method ?? 'GET',
      path: url.pathname,
      params: Object.fromEntries(url.searchParams),
      head: (url.searchParams.get('query') ?? body.toString('utf8')).slice(0, 200),
      status: 0
    }
    if (log.length > 5000) log.splice(0, 1000)
    log.push(entry)
    serial(() => handle(url.searchParams, body)).then(r => {
      entry.status = 200
      res.writeHead(200, {
        'content-type': r.format !== undefined && r.format.startsWith('JSON') ? 'application/json; charset=UTF-8' : 'text/plain; charset=UTF-8',
        'x-clickhouse-query-id': queryId,
        'x-clickhouse-format': r.format ?? 'TabSeparated',
        'x-clickhouse-timezone': 'UTC',
        'x-clickhouse-summary': JSON.stringify({ read_rows: '0', read_bytes: '0', written_rows: String(r.written), written_bytes: '0', total_rows_to_read: '0', result_rows: String(r.written), result_bytes: '0', elapsed_ns: '0' })
      })
      res.end(r.text)
    }, (err: Error & { clickhouseCode?: number }) => {
      const code = err.clickhouseCode ?? 1000
      const message = /^Code: \d+\./.test(err.message) ? err.message : `Code: ${code}. DB::Exception: ${err.message}`
      entry.status = 500
      res.writeHead(500, { 'content-type': 'text/plain; charset=UTF-8', 'x-clickhouse-query-id': queryId, 'x-clickhouse-exception-code': String(code) })
      res.end(`${message.trimEnd()} (version 26.7.2.1 (chdb))\n`)
    })
  })
})

function shutdown (): void {
  server.close()
  chain.finally(() => {
    try { session.close() } catch { /* already closed */ }
    try { rmSync(dir, { recursive: true, force: true }) } catch { /* gone */ }
    process.exit(0)
  })
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
process.on('disconnect', shutdown)
// The parent closes our stdin when it goes away (even on SIGKILL): do not outlive it.
process.stdin.on('end', shutdown)
process.stdin.resume()

server.keepAliveTimeout = 10_000
server.listen(0, '127.0.0.1', () => {
  const addr = server.address()
  if (addr === null || typeof addr === 'string') throw new Error('no address')
  process.stdout.write(JSON.stringify({ port: addr.port }) + '\n')
})
