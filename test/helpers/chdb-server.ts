// Test helpers: a real ClickHouse engine (chdb, ClickHouse 26.x) behind a loopback HTTP front in a child process,
// and a fault-injecting proxy to put in front of it. Reusable by any test:
//
//   const ch = await startChdbServer()            // ch.url = http://default:@127.0.0.1:PORT/tensorzero
//   const rows = await ch.query('SELECT count() AS n FROM ChatInference')
//   const fault = await startFaultProxy(ch)      // fault.url: same database, through the proxy
//   fault.setMode('refuse' | 'error500' | 'hang' | 'lose-response' | 'pass')
//   fault.delayInserts('ChatInference', 1000)    // that table's INSERTs arrive a second late
//   const hold = fault.holdQueries(/FROM InferenceById/)  // such reads wait until hold.release() or hold.fail()
//   await fault.close(); await ch.close()
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import http from 'node:http'
import type { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

export interface ChdbServer {
  /** `TENSORZERO_CLICKHOUSE_URL`-style URL including the database. */
  url: string
  /** `http://127.0.0.1:PORT` */
  origin: string
  port: number
  database: string
  /**
   * Runs SQL in `database` (or `opts.database`) and returns JSONEachRow rows ([] for statements). Throws the ClickHouse
   * error text. `params` are ClickHouse query parameters for `{name:Type}` placeholders, in ClickHouse's text format;
   * `settings` are ClickHouse settings for this query, sent as URL parameters.
   */
  query<T = Record<string, unknown>>(sql: string, opts?: { database?: string; params?: Record<string, string>; settings?: Record<string, string> }): Promise<T[]>
  /** Requests the front has seen (method, params incl. settings, first 200 chars of the query). */
  requests(): Promise<Array<{ method: string; path: string; params: Record<string, string>; head: string; status: number }>>
  close(): Promise<void>
}

const CHILD = fileURLToPath(new URL('./chdb-child.ts', import.meta.url))

export async function startChdbServer (opts: { database?: string } = {}): Promise<ChdbServer> {
  const database = opts.database ?? 'tensorzero'
  const child: ChildProcess = spawn(process.execPath, [CHILD], { stdio: ['pipe', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! })
    const timer = setTimeout(() => reject(new Error('chdb child did not start in 60 s')), 60_000)
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`chdb child exited with ${code}`)) })
    rl.once('line', line => { clearTimeout(timer); rl.close(); resolve((JSON.parse(line) as { port: number }).port) })
  })
  const origin = `http://127.0.0.1:${port}`
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })

  const raw = (path: string, body: string): Promise<{ status: number; text: string }> => new Promise((resolve, reject) => {
    const req = http.request(origin + path, { method: 'POST', agent }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })

  const query = async <T>(sql: string, o: { database?: string; params?: Record<string, string>; settings?: Record<string, string> } = {}): Promise<T[]> => {
    const search = new URLSearchParams({ database: o.database ?? database })
    for (const [name, value] of Object.entries(o.params ?? {})) search.set(`param_${name}`, value)
    for (const [name, value] of Object.entries(o.settings ?? {})) search.set(name, value)
    const isRead = /^\s*(SELECT|WITH|SHOW|DESCRIBE|EXISTS)\b/i.test(sql) && !/\bFORMAT\s+\w+\s*$/i.test(sql)
    const r = await raw(`/?${search.toString()}`, isRead ? `${sql}\nFORMAT JSONEachRow` : sql)
    if (r.status !== 200) throw new Error(r.text.trim())
    return r.text.split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l) as T)
  }

  const created = await raw('/?database=default', `CREATE DATABASE IF NOT EXISTS ${database}`)
  if (created.status !== 200) throw new Error(created.text)

  let closed = false
  return {
    url: `http://default:@127.0.0.1:${port}/${database}`,
    origin,
    port,
    database,
    query,
    requests: async () => {
      const r = await new Promise<string>((resolve, reject) => {
        http.get(origin + '/__requests', { agent }, res => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
        }).on('error', reject)
      })
      return JSON.parse(r)
    },
    close: async () => {
      if (closed) return
      closed = true
      agent.destroy()
      const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    }
  }
}

export type FaultMode = 'pass' | 'refuse' | 'error500' | 'hang' | 'lose-response'

export interface FaultProxy {
  /** Same database as the target, through the proxy. */
  url: string
  port: number
  mode (): FaultMode
  /**
   * - `pass`: forward everything.
   * - `refuse`: stop listening (connections refused) and cut open connections.
   * - `error500`: answer every request with HTTP 500.
   * - `hang`: accept requests and never answer.
   * - `lose-response`: forward the request (so an INSERT lands) but never deliver the answer: the ambiguous
   *   failure after which a retry must not double rows.
   */
  setMode (m: FaultMode): Promise<void>
  /** Holds every `INSERT INTO <table>` this long before forwarding it (0: no longer): one table's rows arrive late. */
  delayInserts (table: string, ms: number): void
  /**
   * Holds each request whose query (URL or body) matches `pattern` until `release()` (then forwarded) or `fail()`
   * (then answered 500): a read that is slow, then answers or fails. Later requests pass once either was called.
   */
  holdQueries (pattern: RegExp): QueryHold
  /** Requests seen per mode, for assertions that a fault was really hit. */
  hits: Record<FaultMode, number>
  close (): Promise<void>
}

export interface QueryHold {
  /** Matching requests held now whose client still waits for the answer (not gone, e.g. after its own timeout). */
  waiting (): number
  release (): void
  fail (): void
}

interface HeldRequest { req: http.IncomingMessage; res: http.ServerResponse; body: Buffer; clientWaits: boolean }
interface ActiveHold { pattern: RegExp; pending: HeldRequest[] }

export async function startFaultProxy (target: { origin: string; database: string }): Promise<FaultProxy> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
  const sockets = new Set<Socket>()
  const hung = new Set<http.ServerResponse>()
  let mode: FaultMode = 'pass'
  const hits: Record<FaultMode, number> = { pass: 0, refuse: 0, error500: 0, hang: 0, 'lose-response': 0 }
  const insertDelays = new Map<string, number>()
  const holds = new Set<ActiveHold>()
  const queryOf = (req: http.IncomingMessage): string => new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? ''

  const server = http.createServer((req, res) => {
    if (holds.size === 0) { route(req, res); return }
    // A hold is active: the body is read first, since a SELECT's text travels there.
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const text = `${queryOf(req)}\n${body.toString('utf8')}`
      const hold = [...holds].find(h => h.pattern.test(text))
      if (hold === undefined) { route(req, res, body); return }
      const held: HeldRequest = { req, res, body, clientWaits: true }
      res.on('close', () => { held.clientWaits = false })
      hold.pending.push(held)
    })
  })
  /** `body`: already read from `req` (a hold was active when it came). */
  const route = (req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer): void => {
    const insertInto = /^\s*INSERT\s+INTO\s+([`"\w.]+)/i.exec(queryOf(req))?.[1]
    const delay = insertInto === undefined ? 0 : insertDelays.get(insertInto.replace(/[`"]/g, '')) ?? 0
    if (delay > 0) {
      if (body === undefined) req.pause()
      setTimeout(() => { forward(req, res, body) }, delay)
      return
    }
    forward(req, res, body)
  }
  const answer500 = (res: http.ServerResponse): void => { res.writeHead(500, { 'content-type': 'text/plain' }); res.end('injected fault: 500\n') }
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body?: Buffer): void => {
    hits[mode]++
    if (mode === 'error500') {
      if (body !== undefined) { answer500(res); return }
      req.resume()
      req.on('end', () => { answer500(res) })
      return
    }
    if (mode === 'hang') { req.resume(); hung.add(res); return }
    const lose = mode === 'lose-response'
    const up = http.request(target.origin + (req.url ?? '/'), { method: req.method, headers: req.headers, agent }, upRes => {
      if (lose) { upRes.resume(); hung.add(res); return }
      res.writeHead(upRes.statusCode ?? 502, upRes.headers)
      upRes.pipe(res)
    })
    up.on('error', () => { if (!res.headersSent) { res.writeHead(502); res.end('upstream error') } })
    if (body === undefined) req.pipe(up)
    else up.end(body)
  }
  server.on('connection', s => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  server.keepAliveTimeout = 10_000
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as { port: number }).port

  const cutAll = (): void => {
    for (const r of hung) r.destroy()
    hung.clear()
    for (const s of sockets) s.destroy()
  }

  return {
    url: `http://default:@127.0.0.1:${port}/${target.database}`,
    port,
    hits,
    mode: () => mode,
    delayInserts: (table, ms) => { insertDelays.set(table, ms) },
    holdQueries: (pattern) => {
      const hold: ActiveHold = { pattern, pending: [] }
      holds.add(hold)
      const end = (each: (held: HeldRequest) => void): void => {
        holds.delete(hold)
        hold.pending.splice(0).forEach(each)
      }
      return {
        waiting: () => hold.pending.filter(h => h.clientWaits).length,
        release: () => { end(h => { route(h.req, h.res, h.body) }) },
        fail: () => { end(h => { answer500(h.res) }) }
      }
    },
    setMode: async (m) => {
      const was = mode
      mode = m
      if (m === 'refuse' && was !== 'refuse') {
        await new Promise<void>(resolve => { server.close(() => resolve()); cutAll() })
      } else if (was === 'refuse' && m !== 'refuse') {
        await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', () => resolve()) })
      } else if (was === 'hang' || was === 'lose-response') {
        // Release what was held, as a peer that recovers would (the client sees the connection drop).
        for (const r of hung) r.destroy()
        hung.clear()
      }
    },
    close: async () => {
      for (const hold of holds) for (const { res } of hold.pending) res.destroy()
      cutAll()
      agent.destroy()
      if (mode !== 'refuse') await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
