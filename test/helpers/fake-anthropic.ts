// A loopback server that answers like Anthropic's Messages API (`POST …/messages`), behaviour chosen by the `model`
// the sidecar sends (the provider's `model_name`):
//   claude-ok (or any other name): text "Hello from <model>" | claude-tool: one get_weather tool_use |
//   claude-json: text continuing the JSON prefill | claude-overloaded: 529 | claude-rate-limit: 429 + retry-after |
//   claude-midstream-error: streams message_start and one text delta, then an `error` event.
// Streams send `event:` + `data:` pairs like the real API (message_start … message_stop, with a ping).
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordedRequest { path: string; headers: http.IncomingHttpHeaders; body: any }

export interface FakeAnthropic {
  url: string
  requests: RecordedRequest[]
  requestsFor (model: string): RecordedRequest[]
  close (): Promise<void>
}

export async function startFakeAnthropic (): Promise<FakeAnthropic> {
  const requests: RecordedRequest[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      let body: any
      try { body = JSON.parse(Buffer.concat(chunks).toString()) } catch { body = undefined }
      requests.push({ path: req.url ?? '', headers: req.headers, body })
      answer(req, res, body)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    requestsFor: model => requests.filter(r => r.body?.model === model),
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

function json (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

const apiError = (type: string, message: string): unknown => ({ type: 'error', error: { type, message }, request_id: 'req_fake' })

interface Block { type: 'text'; text: string }
interface ToolBlock { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }

function content (model: string): Array<Block | ToolBlock> {
  if (model === 'claude-tool') {
    return [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 'toolu_fake_1', name: 'get_weather', input: { city: 'Paris' } }]
  }
  if (model === 'claude-json') return [{ type: 'text', text: '"answer":"Paris","confidence":0.9}' }]
  return [{ type: 'text', text: `Hello from ${model}` }]
}

function answer (req: http.IncomingMessage, res: http.ServerResponse, body: any): void {
  if (req.method !== 'POST' || !(req.url ?? '').endsWith('/messages')) { json(res, 404, apiError('not_found_error', `no route ${req.url}`)); return }
  if (typeof req.headers['x-api-key'] !== 'string' || req.headers['anthropic-version'] !== '2023-06-01') {
    json(res, 401, apiError('authentication_error', 'invalid x-api-key')); return
  }
  const model: string = body?.model ?? 'claude-ok'
  if (model === 'claude-overloaded') { json(res, 529, apiError('overloaded_error', 'Overloaded')); return }
  if (model === 'claude-rate-limit') { json(res, 429, apiError('rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit'), { 'retry-after': '7' }); return }
  const blocks = content(model)
  const stopReason = blocks.some(b => b.type === 'tool_use') ? 'tool_use' : 'end_turn'
  if (body?.stream !== true) {
    json(res, 200, {
      id: 'msg_fake', type: 'message', role: 'assistant', model, content: blocks,
      stop_reason: stopReason, stop_sequence: null, usage: { input_tokens: 13, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 7 }
    })
    return
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  const events: Array<[string, unknown]> = [
    ['message_start', { type: 'message_start', message: { id: 'msg_fake', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 13, output_tokens: 1 } } }],
    ['ping', { type: 'ping' }]
  ]
  blocks.forEach((b, index) => {
    if (b.type === 'text') {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }])
      for (const piece of b.text.match(/.{1,5}/gs) ?? []) {
        events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } }])
        if (model === 'claude-midstream-error') {
          events.push(['error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }])
          return
        }
      }
    } else {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } }])
      const args = JSON.stringify(b.input)
      const third = Math.ceil(args.length / 3)
      for (let i = 0; i < args.length; i += third) {
        events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: args.slice(i, i + third) } }])
      }
    }
    events.push(['content_block_stop', { type: 'content_block_stop', index }])
  })
  if (model !== 'claude-midstream-error') {
    events.push(['message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: 7 } }])
    events.push(['message_stop', { type: 'message_stop' }])
  }
  let i = 0
  const next = (): void => {
    if (res.destroyed) return
    if (i === events.length) { res.end(); return }
    const [name, data] = events[i++]
    res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`)
    setTimeout(next, 1)
  }
  next()
}
