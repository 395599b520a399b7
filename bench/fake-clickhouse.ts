// A fake ClickHouse HTTP interface for the bench, run as its own process: `node bench/fake-clickhouse.ts`.
// Enough for @clickhouse/client: `GET /ping`, queries answered with no rows (JSONEachRow), and
// `INSERT INTO <table> … FORMAT JSONEachRow` answered 200 after counting the rows (lines) of the body.
// `GET /stats` returns {rows, inserts, bytes, byTable, firstInsertAt, lastInsertAt} (epoch ms); `POST /reset` zeroes it.
// Prints `{"port":N}` once it listens on 127.0.0.1.
import http from 'node:http'
import { gunzipSync } from 'node:zlib'
import type { AddressInfo } from 'node:net'

interface Stats { rows: number; inserts: number; queries: number; bytes: number; byTable: Record<string, number>; firstInsertAt?: number; lastInsertAt?: number }
let stats: Stats = { rows: 0, inserts: 0, queries: 0, bytes: 0, byTable: {} }

const INSERT_RE = /^\s*INSERT\s+INTO\s+([`"\w.]+)/i

function countLines (buf: Buffer): number {
  let n = 0
  let last = -1
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) { if (i > last + 1) n++; last = i }
  if (last < buf.length - 1) n++ // last row without a trailing newline
  return n
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/ping') { res.end('Ok.\n'); return }
    if (url.pathname === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(stats))
      return
    }
    if (url.pathname === '/reset') {
      stats = { rows: 0, inserts: 0, queries: 0, bytes: 0, byTable: {} }
      res.end('{}')
      return
    }
    let body = Buffer.concat(chunks)
    if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body)
    const query = url.searchParams.get('query')
    const ins = query === null ? null : INSERT_RE.exec(query)
    if (ins !== null) {
      const table = ins[1].replace(/[`"]/g, '')
      const rows = countLines(body)
      const now = Date.now()
      stats.rows += rows
      stats.inserts++
      stats.bytes += body.length
      stats.byTable[table] = (stats.byTable[table] ?? 0) + rows
      stats.firstInsertAt ??= now
      stats.lastInsertAt = now
      res.writeHead(200, { 'x-clickhouse-summary': JSON.stringify({ written_rows: String(rows), written_bytes: String(body.length) }) })
      res.end()
      return
    }
    // Any other query (e.g. the writer asking system.columns which columns a table has): no rows.
    stats.queries++
    res.writeHead(200, { 'content-type': 'text/plain; charset=UTF-8', 'x-clickhouse-format': 'JSONEachRow' })
    res.end()
  })
})
server.keepAliveTimeout = 120_000
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n')
})
process.on('SIGTERM', () => { server.close(); server.closeAllConnections(); process.exit(0) })
