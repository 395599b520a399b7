// The floor: the least a Node proxy of OpenAI-shaped JSON can do per request on this machine. node:http server,
// JSON.parse of the request, one undici Pool request upstream with a re-serialised body, JSON.parse of the answer,
// JSON.stringify of a reshaped answer; no routing, logging, metrics or rows. `npm run bench` measures it beside the
// sidecar in every run, so the sidecar's figures can be read against what Node itself costs here.
//   node bench/floor-proxy.ts <upstream origin> <port>
import http from 'node:http'
import { Pool } from 'undici'

const [upstream, portArg] = process.argv.slice(2)
const pool = new Pool(upstream, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 })

const server = http.createServer((req, res) => {
  if (req.url === '/health') { res.end('{"status":"ok"}'); return }
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
    const outgoing = JSON.stringify({ ...body, model: 'bench-model' })
    if (body.stream === true) {
      void pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: outgoing }).then(async up => {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        for await (const c of up.body) res.write(c)
        res.end()
      }, () => { res.writeHead(502); res.end() })
      return
    }
    void pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: outgoing }).then(async up => {
      const answer = JSON.parse(await up.body.text()) as Record<string, unknown>
      const text = JSON.stringify({ ...answer, model: 'tensorzero::function_name::bench::variant_name::main' })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    }, () => { res.writeHead(502); res.end() })
  })
})
server.keepAliveTimeout = 65_000
server.listen(Number(portArg), '127.0.0.1')
process.on('SIGTERM', () => { server.close(); server.closeAllConnections(); void pool.close(); process.exit(0) })
