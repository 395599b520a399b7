// Pass-through error bodies never carry the sidecar's secrets (issue 14, item 6): an upstream that echoes the key it got
// answers the client with its status and text, the key replaced by `[redacted]`. Successful answers stay streamed.
import t from 'tap'
import http from 'node:http'
import { gzipSync } from 'node:zlib'
import { randomBytes, createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { ERROR_BODY_LIMIT, TRUNCATED_MARKER } from '../sidecar/http/passthrough-response.ts'

const KEY = 'sk-upstream-operator-key-0123456789'
const OTHER = 'other-configured-secret-abcdef'
const DOWNLOAD = randomBytes(3 * 1024 * 1024 + 17)
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** Lets the SSE upstream send its last chunk only once the client has seen the first. */
let releaseLast: () => void = () => {}
const events: string[] = []

const upstream = http.createServer((req, res) => {
  const auth = req.headers.authorization ?? ''
  const url = req.url ?? ''
  if (url.startsWith('/v1/echo-auth')) {
    res.writeHead(401, { 'content-type': 'application/json', 'x-upstream': 'yes' })
    res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${auth}; also ${OTHER}`, type: 'invalid_request_error' } }))
  } else if (url.startsWith('/v1/gzip-auth')) {
    const body = gzipSync(Buffer.from(`denied for ${auth}`))
    res.writeHead(403, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': body.length })
    res.end(body)
  } else if (url.startsWith('/v1/huge-error')) {
    // The key straddles the limit: a prefix of it inside the kept part, the rest past it.
    const bare = auth.replace(/^Bearer /, '')
    const filler = 'x'.repeat(ERROR_BODY_LIMIT - 10)
    res.writeHead(500, { 'content-type': 'text/plain' })
    res.end(`${filler}${bare}${'y'.repeat(200 * 1024)}`)
  } else if (url.startsWith('/v1/sse')) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    res.write('data: first\n\n')
    events.push('upstream sent first')
    releaseLast = () => {
      events.push('upstream sends last')
      res.end('data: last\n\n')
    }
  } else if (url.startsWith('/v1/download')) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-upstream': 'yes' })
    res.end(DOWNLOAD)
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' }); res.end('no')
  }
})

let sidecar: TestSidecar

t.before(async () => {
  await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve))
  const port = (upstream.address() as AddressInfo).port
  sidecar = await startTestSidecar({
    toml: '[functions.f]\ntype = "chat"\n[functions.f.variants.v]\ntype = "chat_completion"\nmodel = "dummy::good"\n',
    sidecarToml: `service = "ps"\nunmatched = "passthrough"\npassthrough_upstream = "http://127.0.0.1:${port}"\npassthrough_api_key_location = "env::TZ_PS_UPSTREAM_KEY"\n`,
    env: { TZ_PS_UPSTREAM_KEY: KEY },
    options: { secrets: [OTHER] }
  })
})

t.teardown(async () => {
  await sidecar.close()
  upstream.closeAllConnections()
  await new Promise<void>(resolve => upstream.close(() => resolve()))
})

const client = { authorization: 'Bearer client-key-not-forwarded' }

t.test('a 401 echoing the operator key keeps its status and text, not the key', async t => {
  const res = await fetch(`${sidecar.url}/v1/echo-auth`, { headers: client })
  t.equal(res.status, 401)
  t.equal(res.headers.get('x-upstream'), 'yes', 'upstream headers are kept')
  const text = await res.text()
  t.equal(Number(res.headers.get('content-length')), Buffer.byteLength(text), 'content-length is the scrubbed length')
  t.notOk(text.includes(KEY), 'the upstream key is gone')
  t.notOk(text.includes(OTHER), 'other configured secrets are gone')
  t.notOk(text.includes('client-key-not-forwarded'), 'the client key never reached the upstream')
  const body = JSON.parse(text)
  t.equal(body.error.message, 'Incorrect API key provided: Bearer [redacted]; also [redacted]')
  t.equal(body.error.type, 'invalid_request_error')
})

t.test('a gzip-encoded error body is decoded, scrubbed and sent plain', async t => {
  const res = await fetch(`${sidecar.url}/v1/gzip-auth`, { headers: client })
  t.equal(res.status, 403)
  t.equal(res.headers.get('content-encoding'), null)
  t.equal(await res.text(), 'denied for Bearer [redacted]')
})

t.test('an error body past the limit is cut, ends with the marker and keeps no part of the key', async t => {
  const res = await fetch(`${sidecar.url}/v1/huge-error`, { headers: client })
  t.equal(res.status, 500)
  const text = await res.text()
  t.ok(text.endsWith(TRUNCATED_MARKER), 'ends with the marker')
  t.ok(Buffer.byteLength(text) <= ERROR_BODY_LIMIT + TRUNCATED_MARKER.length, 'bounded')
  t.notOk(text.includes(KEY.slice(0, 8)), 'not even the prefix of the key before the cut')
  t.ok(text.startsWith('xxxx'), 'the upstream text is kept')
})

t.test('a 200 SSE answer streams: the client has the first chunk before the upstream sends the last', async t => {
  events.length = 0
  const res = await fetch(`${sidecar.url}/v1/sse`, { headers: client })
  t.equal(res.status, 200)
  t.equal(res.headers.get('content-type'), 'text/event-stream')
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let received = ''
  while (!received.includes('data: first\n\n')) {
    const { value, done } = await reader.read()
    if (done) break
    received += decoder.decode(value, { stream: true })
  }
  events.push('client got first')
  releaseLast()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    received += decoder.decode(value, { stream: true })
  }
  t.equal(received, 'data: first\n\ndata: last\n\n')
  t.same(events, ['upstream sent first', 'client got first', 'upstream sends last'])
})

t.test('a 200 download is byte-identical, headers kept', async t => {
  const res = await fetch(`${sidecar.url}/v1/download`, { headers: client })
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-upstream'), 'yes')
  t.equal(res.headers.get('content-type'), 'application/octet-stream')
  const body = new Uint8Array(await res.arrayBuffer())
  t.equal(body.length, DOWNLOAD.length)
  t.equal(sha(body), sha(DOWNLOAD))
})
