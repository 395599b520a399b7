// A loopback HTTP front that records every request (path, headers, parsed JSON body) and forwards it unchanged to
// `target` (a sidecar), streaming the answer back. `failNext(n, status)` answers the next n requests itself with an
// error, without forwarding them: what an SDK retry sees when a sidecar returns a 5xx.
// Without a target it answers every request itself with `reply` (a recording stand-in for a sidecar).
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface FrontRequest { method: string; path: string; headers: http.IncomingHttpHeaders; body: any; failed: boolean }

export interface RecordingFront {
  url: string
  /** `${url}/v1` */
  baseURL: string
  requests: FrontRequest[]
  failNext (count: number, status?: number): void
  close (): Promise<void>
}

export async function startRecordingFront (opts: { target?: string; reply?: (req: FrontRequest) => { status: number; body: unknown } }): Promise<RecordingFront> {
  const requests: FrontRequest[] = []
  let failing: Array<number> = []
  const agent = new http.Agent({ keepAlive: true })
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      let body: any
      try { body = JSON.parse(raw.toString()) } catch { body = undefined }
      const status = failing.shift()
      const rec: FrontRequest = { method: req.method ?? 'GET', path: req.url ?? '', headers: req.headers, body, failed: status !== undefined }
      requests.push(rec)
      if (status !== undefined) return json(res, status, { error: { message: `injected ${status}` } })
      if (opts.target === undefined) {
        const answer = opts.reply?.(rec) ?? { status: 404, body: { error: { message: 'no reply configured' } } }
        return json(res, answer.status, answer.body)
      }
      const headers = { ...req.headers }
      delete headers.host
      delete headers.connection
      const upstream = http.request(new URL(req.url ?? '/', opts.target), { method: req.method, headers, agent }, up => {
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
      })
      upstream.on('error', err => { if (!res.headersSent) json(res, 502, { error: { message: err.message } }); else res.destroy() })
      res.on('close', () => { if (!res.writableFinished) upstream.destroy() })
      upstream.end(raw)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}`
  return {
    url,
    baseURL: `${url}/v1`,
    requests,
    failNext: (count, status = 500) => { failing = [...failing, ...Array<number>(count).fill(status)] },
    close: async () => {
      server.closeAllConnections()
      agent.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

function json (res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
