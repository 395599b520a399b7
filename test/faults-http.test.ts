// The HTTP server under abuse and at shutdown (issue 14 items 4, 7, 9's cap, 11's HTTP parts), against real sidecars:
// slowloris, never-ending bodies and idle sockets are released by the server's timeouts; a connection cap; a cap on
// requests in flight (503 + Retry-After); JSON-only inference POSTs (415); malformed HTTP and header overflow answered
// OpenAI-shaped (400, 431); pass-through confined to `/v1/` (raw and encoded `..` are a 400, WebSocket upgrades too);
// a drain that keeps answering probes, refuses new work, ends cut streams with an in-stream error and exits non-zero.
import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { startCli } from './helpers/process.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { fakeModel } from './helpers/toml.ts'

const WAIT_MS = 20_000

let dir: string
let fake: FakeOpenAI
let staller: Staller
t.before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tz-faults-http-'))
  fake = await startFakeOpenAI()
  staller = await startStaller()
})
t.teardown(async () => {
  await fake.close()
  await staller.close()
  await rm(dir, { recursive: true, force: true })
})

/** A provider whose streams send one chunk and then nothing, and whose other answers never come. */
interface Staller { url: string; streams: number; close: () => Promise<void> }
async function startStaller (): Promise<Staller> {
  const state = { streams: 0 }
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => { body += d.toString() })
    req.on('end', () => {
      if (!(JSON.parse(body) as { stream?: boolean }).stream) return
      state.streams++
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'stall', choices: [{ index: 0, delta: { role: 'assistant', content: 'first' }, finish_reason: null }] })}\n\n`)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get streams () { return state.streams },
    close: async () => { server.closeAllConnections(); await new Promise<void>(resolve => server.close(() => resolve())) }
  }
}

/** A pass-through upstream that records every path it is asked for, upgrades included. */
async function startRecordingUpstream (): Promise<{ url: string; paths: string[]; close: () => Promise<void> }> {
  const paths: string[] = []
  const server = http.createServer((req, res) => { paths.push(req.url ?? ''); req.resume(); res.end('{}') })
  server.on('upgrade', (req, socket) => { paths.push(`upgrade ${req.url ?? ''}`); socket.destroy() })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    paths,
    close: async () => { server.closeAllConnections(); await new Promise<void>(resolve => server.close(() => resolve())) }
  }
}

/** `[models.NAME]` with one provider at `upstream`, which receives `behaviour` as its model name. */
const model = (name: string, upstream: string, behaviour = name): string => fakeModel(upstream, name, [['p', behaviour]])

/** A raw client socket: what it received, and whether the server closed it (within a generous bound). */
interface RawClient { socket: net.Socket; received: () => string; closed: Promise<boolean> }
async function rawClient (url: string, first?: string): Promise<RawClient> {
  const { port } = new URL(url)
  const socket = net.connect(Number(port), '127.0.0.1')
  let data = ''
  socket.on('data', d => { data += d.toString() })
  socket.on('error', () => {})
  const closed = new Promise<boolean>(resolve => {
    const timer = setTimeout(() => resolve(false), WAIT_MS)
    socket.once('close', () => { clearTimeout(timer); resolve(true) })
  })
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  if (first !== undefined) socket.write(first)
  return { socket, received: () => data, closed }
}

/** The JSON body of a raw HTTP response. */
function bodyOf (raw: string): unknown {
  const at = raw.indexOf('\r\n\r\n')
  return at === -1 ? undefined : JSON.parse(raw.slice(at + 4))
}

async function until (what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

const chatBody = (m: string, stream = false): string => JSON.stringify({ model: m, stream, messages: [{ role: 'user', content: 'hi' }] })
const JSON_HEADERS = { 'content-type': 'application/json' }

t.test('timeouts: slowloris headers, never-ending bodies, idle and keep-alive sockets are released; answers may outlast them', async t => {
  const file = path.join(dir, 'timeouts.toml')
  await writeFile(file, model('slow', fake.url, 'slow-3000'))
  const s = await startCli(['--config-file', file], {
    SIDECAR_HEADERS_TIMEOUT_MS: '1000', SIDECAR_REQUEST_TIMEOUT_MS: '2000', SIDECAR_KEEP_ALIVE_TIMEOUT_MS: '1000'
  })
  try {
    // The answer takes longer than the request timeout: that timeout bounds receiving the request, not answering it.
    const slow = fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: JSON_HEADERS, body: chatBody('slow') })
    const clients: Array<{ kind: string; client: RawClient }> = []
    const tickers: NodeJS.Timeout[] = []
    for (let i = 0; i < 10; i++) {
      clients.push({ kind: 'idle', client: await rawClient(s.url) })
      const loris = await rawClient(s.url, 'GET /health HTTP/1.1\r\nhost: x\r\n')
      const body = await rawClient(s.url, 'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n')
      tickers.push(setInterval(() => { loris.socket.write('x-more: y\r\n'); body.socket.write('1\r\n \r\n') }, 200))
      clients.push({ kind: 'slowloris', client: loris }, { kind: 'never-ending body', client: body })
      clients.push({ kind: 'keep-alive', client: await rawClient(s.url, 'GET /health HTTP/1.1\r\nhost: x\r\n\r\n') })
    }
    try {
      for (const { kind, client } of clients) t.ok(await client.closed, `${kind}: the server closed the socket`)
    } finally {
      for (const ticker of tickers) clearInterval(ticker)
    }
    const loris = clients.find(c => c.kind === 'slowloris')?.client.received() ?? ''
    t.match(loris, /^HTTP\/1\.1 408 /, 'slowloris: 408 before the socket is destroyed')
    t.match(bodyOf(loris), { error: { message: /not received in time/, type: 'timeout_error' } }, 'OpenAI-shaped')
    t.match(clients.find(c => c.kind === 'never-ending body')?.client.received() ?? '', /^HTTP\/1\.1 408 /, 'never-ending body: 408')
    t.match(clients.find(c => c.kind === 'keep-alive')?.client.received() ?? '', /^HTTP\/1\.1 200 [^]*"status":"ok"/, 'keep-alive: answered, then closed when idle')
    const answer = await slow
    t.equal(answer.status, 200, 'an answer slower than the request timeout still arrives')
    t.match(await answer.json(), { choices: [{ message: { content: 'Hello from slow-3000' } }] })
  } finally {
    s.child.kill('SIGTERM')
    await s.exited
  }
})

t.test('malformed HTTP is a 400 and header overflow a 431, both OpenAI-shaped, and the socket is destroyed', async t => {
  const s = await startTestSidecar({ toml: model('ok', fake.url) })
  try {
    const garbage = await rawClient(s.url, 'THIS IS NOT HTTP\r\n\r\n')
    t.ok(await garbage.closed, 'closed')
    t.match(garbage.received(), /^HTTP\/1\.1 400 /)
    t.match(bodyOf(garbage.received()), { error: { message: /Malformed HTTP request/, type: 'invalid_request_error' } })
    const huge = await rawClient(s.url, `GET /health HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(64 * 1024)}\r\n\r\n`)
    t.ok(await huge.closed, 'closed')
    t.match(huge.received(), /^HTTP\/1\.1 431 /)
    t.match(bodyOf(huge.received()), { error: { message: /headers are too large/ } })
  } finally {
    await s.close()
  }
})

t.test('connection cap: past it new connections are closed at once; a freed slot serves again', async t => {
  const s = await startTestSidecar({ toml: model('ok', fake.url), options: { limits: { maxConnections: 3 } } })
  try {
    const held = [await rawClient(s.url), await rawClient(s.url), await rawClient(s.url)]
    await until('three connections', async () => await new Promise<number>(resolve => s.sidecar.server.getConnections((_e, n) => resolve(n))) === 3)
    const extra = await rawClient(s.url, 'GET /health HTTP/1.1\r\nhost: x\r\n\r\n')
    t.ok(await extra.closed, 'the connection past the cap is closed')
    t.equal(extra.received(), '', 'without an answer')
    held[0].socket.destroy()
    await t.resolves(until('a free slot', async () => {
      const r = await fetch(`${s.url}/health`).then(r => r.status, () => 0)
      return r === 200
    }), 'a freed slot serves again')
    for (const h of held) h.socket.destroy()
  } finally {
    await s.close()
  }
})

t.test('requests in flight are capped: 503 + Retry-After past it, probes still answer, room again once one ends', async t => {
  const s = await startTestSidecar({ toml: model('hang', fake.url) + model('ok', fake.url), options: { limits: { maxInFlight: 2 } } })
  try {
    const aborts = [new AbortController(), new AbortController()]
    const hung = aborts.map(a => fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: JSON_HEADERS, body: chatBody('hang'), signal: a.signal }).catch(() => undefined))
    await until('two hung requests at the provider', () => fake.requestsFor('hang').length >= 2)
    const refused = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: JSON_HEADERS, body: chatBody('ok') })
    t.equal(refused.status, 503)
    t.equal(refused.headers.get('retry-after'), '1')
    t.match(await refused.json(), { error: { message: /limit of 2 requests at once \(SIDECAR_MAX_IN_FLIGHT\)/, type: 'server_error' } })
    t.equal((await fetch(`${s.url}/health`)).status, 200, '/health is not capped')
    t.equal((await fetch(`${s.url}/status`)).status, 200, '/status is not capped')
    aborts[0].abort()
    await hung[0]
    await t.resolves(until('room for one more', async () => {
      const r = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: JSON_HEADERS, body: chatBody('ok') })
      return r.status === 200
    }), 'a request is admitted once one in flight ended')
    aborts[1].abort()
    await hung[1]
  } finally {
    await s.close()
  }
})

t.test('inference and feedback POSTs must be JSON: anything else is a 415 that never reaches a provider', async t => {
  const s = await startTestSidecar({ toml: model('ok', fake.url) })
  try {
    const before = fake.requestsFor('ok').length
    const cases: Array<[string, string | undefined]> = [
      ['/v1/chat/completions', 'text/plain'], ['/v1/chat/completions', 'application/x-www-form-urlencoded'],
      ['/openai/v1/chat/completions', 'multipart/form-data; boundary=x'], ['/v1/chat/completions', undefined],
      ['/v1/embeddings', 'text/plain'], ['/feedback', 'text/plain;charset=UTF-8']
    ]
    for (const [route, type] of cases) {
      const r = await fetch(`${s.url}${route}`, { method: 'POST', headers: type === undefined ? {} : { 'content-type': type }, body: new Blob([chatBody('ok')]) })
      t.equal(r.status, 415, `${route} with ${type ?? 'no content type'}: 415`)
      t.match(await r.json(), { error: { message: /send `Content-Type: application\/json`/, type: 'invalid_request_error' } })
    }
    t.equal(fake.requestsFor('ok').length, before, 'no provider was called')
    const ok = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: chatBody('ok') })
    t.equal(ok.status, 200, 'application/json with a charset is served')
  } finally {
    await s.close()
  }
})

t.test('pass-through is confined to /v1/: raw or encoded `..`, encoded `/` are a 400 that never reaches the upstream', async t => {
  const upstream = await startRecordingUpstream()
  const s = await startTestSidecar({ toml: model('ok', fake.url), sidecarToml: `passthrough_upstream = "${upstream.url}"\n` })
  try {
    const { port } = new URL(s.url)
    const get = async (target: string): Promise<{ status: number; body: unknown }> => await new Promise((resolve, reject) => {
      // http.request sends the path as written (fetch and URL would resolve the dot segments first).
      const req = http.request({ host: '127.0.0.1', port, path: target, method: 'GET' }, res => {
        let text = ''
        res.on('data', d => { text += d })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) }) })
      })
      req.on('error', reject)
      req.end()
    })
    for (const target of ['/v1/../api/delete', '/v1/%2e%2e/api/delete', '/v1/%2E%2e/api/pull', '/openai/v1/../../api/delete',
      '/v1/models/..', '/v1/./models', '/v1/a%2f..%2f..%2fapi', '/v1/%252e%252e/api/delete', '/v1/a%5c..%5capi', '/v1/%zz']) {
      const r = await get(target)
      t.equal(r.status, 400, `${target}: 400`)
      t.match(r.body, { error: { message: /is not forwarded/, type: 'invalid_request_error' } })
    }
    t.same(upstream.paths, [], 'the upstream heard none of them')
    const plain = await get('/openai/v1/files/abc?after=../x')
    t.equal(plain.status, 200, 'a plain path is forwarded (a query may hold anything)')
    t.same(upstream.paths, ['/v1/files/abc?after=../x'])

    const upgrade = await rawClient(s.url, 'GET /v1/%2e%2e/realtime HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n' +
      'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
    t.ok(await upgrade.closed, 'the refused upgrade is closed')
    t.match(upgrade.received(), /^HTTP\/1\.1 400 /, 'a WebSocket upgrade to an escaping path: 400')
    t.match(bodyOf(upgrade.received()), { error: { message: /is not forwarded/ } })
    t.same(upstream.paths, ['/v1/files/abc?after=../x'], 'and it never reached the upstream')
  } finally {
    await s.close()
    await upstream.close()
  }
})

t.test('drain: probes answer (status 503 draining), new work is refused, a drain timeout ends streams in-stream, exit code 1', async t => {
  const file = path.join(dir, 'drain.toml')
  await writeFile(file, model('stall', staller.url) + model('hang', fake.url))
  const s = await startCli(['--config-file', file], { SIDECAR_DRAIN_TIMEOUT_MS: '1500' })
  try {
    const stream = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: JSON_HEADERS, body: chatBody('stall', true) })
    t.equal(stream.status, 200)
    const reader = stream.body!.getReader()
    const decoder = new TextDecoder()
    let streamed = ''
    const streamEnded = (async () => {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return 'ended'
        streamed += decoder.decode(value, { stream: true })
      }
    })().catch((err: Error) => `failed: ${err.message}`)
    await until('the first chunk', () => streamed.includes('first'))
    const hungBefore = fake.requestsFor('hang').length
    const plain = fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: JSON_HEADERS, body: chatBody('hang') })
    await until('the hung request at its provider', () => fake.requestsFor('hang').length > hungBefore)

    s.child.kill('SIGTERM')
    await until('/status says draining', async () => (await fetch(`${s.url}/status`)).status === 503)
    const status = await (await fetch(`${s.url}/status`)).json() as { status: string }
    t.equal(status.status, 'draining', '/status answers 503 draining while the listener stays open')
    t.equal((await fetch(`${s.url}/health`)).status, 200, '/health still answers')
    const refused = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: JSON_HEADERS, body: chatBody('hang') })
    t.equal(refused.status, 503, 'new inference work is refused')
    t.equal(refused.headers.get('retry-after'), '1')
    t.match(await refused.json(), { error: { message: /shutting down/ } })

    t.equal(await streamEnded, 'ended', 'the cut stream ended cleanly, not with a reset')
    t.match(streamed, /data: \{"error":\{"message":"[^"]*drain timeout/, 'with an in-stream error event')
    const cut = await plain
    t.equal(cut.status, 503, 'the cut non-streaming request is answered 503')
    t.match(await cut.json(), { error: { message: /drain timeout \(1500 ms\) passed/ } })
    const exit = await s.exited
    t.equal(exit.code, 1, 'the exit code says not everything drained')
    t.match(s.output(), /"msg":"stopped: the drain timeout cut requests still in flight"/)
  } finally {
    s.child.kill('SIGKILL')
  }
})
