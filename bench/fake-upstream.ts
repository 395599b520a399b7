// A fast OpenAI-compatible upstream for the bench, run as its own process: `node bench/fake-upstream.ts`.
// POST …/chat/completions answers a realistic non-streaming completion (~1.3 KB of JSON), or, when the request has
// `"stream":true`, an SSE stream of 50 content chunks (the first one carries the role and the first token, so the
// first byte is the first token for a direct client and for the sidecar alike), a finish chunk, a usage chunk and
// `[DONE]`, each a separate write one event-loop turn apart; for `"model":"bench-slow"` the same stream with
// SLOW_CHUNK_MS between writes (the slow-streams phase: a model producing tokens at its own pace). Prints `{"port":N}` once it listens on 127.0.0.1.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

const MODEL = 'bench-model'
const CREATED = 1_760_000_000
const ANSWER = ('The sidecar forwards this request to the upstream model and writes the inference to ClickHouse. ' +
  'This paragraph stands in for a typical short answer of a chat model: a few sentences, some punctuation, ' +
  'and enough tokens to make the body a realistic size for a non-streaming completion. ').repeat(3).trim()

const COMPLETION = Buffer.from(JSON.stringify({
  id: 'chatcmpl-bench0000000000000000000000',
  object: 'chat.completion',
  created: CREATED,
  model: MODEL,
  system_fingerprint: 'fp_bench',
  choices: [{ index: 0, message: { role: 'assistant', content: ANSWER, refusal: null }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 182, completion_tokens: 151, total_tokens: 333, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } }
}))

const WORDS = ANSWER.split(' ')
function chunk (delta: Record<string, unknown>, finish: string | null = null, usage?: Record<string, unknown>): string {
  return 'data: ' + JSON.stringify({
    id: 'chatcmpl-bench0000000000000000000000',
    object: 'chat.completion.chunk',
    created: CREATED,
    model: MODEL,
    system_fingerprint: 'fp_bench',
    choices: usage === undefined ? [{ index: 0, delta, logprobs: null, finish_reason: finish }] : [],
    ...(usage !== undefined ? { usage } : {})
  }) + '\n\n'
}
export const STREAM_CHUNKS = 50
const SSE: string[] = []
for (let i = 0; i < STREAM_CHUNKS; i++) {
  const text = (i === 0 ? '' : ' ') + WORDS[i % WORDS.length]
  SSE.push(chunk(i === 0 ? { role: 'assistant', content: text } : { content: text }))
}
SSE.push(chunk({}, 'stop'))
SSE.push(chunk({}, null, { prompt_tokens: 182, completion_tokens: STREAM_CHUNKS, total_tokens: 182 + STREAM_CHUNKS }))
SSE.push('data: [DONE]\n\n')

const STREAM_FLAG = Buffer.from('"stream":true')
let requests = 0

const SLOW_FLAG = Buffer.from('"model":"bench-slow"')
export const SLOW_CHUNK_MS = 50

function stream (res: http.ServerResponse, slow: boolean): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  let i = 0
  const next = (): void => {
    if (res.destroyed) return
    res.write(SSE[i++])
    if (i >= SSE.length) res.end()
    else if (slow) setTimeout(next, SLOW_CHUNK_MS)
    else setImmediate(next)
  }
  next()
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    requests++
    if (req.method === 'GET' && req.url === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ requests }))
      return
    }
    if (req.method !== 'POST' || req.url?.endsWith('/chat/completions') !== true) {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end('{"error":{"message":"not found"}}')
      return
    }
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
    if (body.includes(STREAM_FLAG)) { stream(res, body.includes(SLOW_FLAG)); return }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': COMPLETION.length })
    res.end(COMPLETION)
  })
})
server.keepAliveTimeout = 120_000
server.headersTimeout = 130_000
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n')
})
process.on('SIGTERM', () => { server.close(); server.closeAllConnections(); process.exit(0) })
