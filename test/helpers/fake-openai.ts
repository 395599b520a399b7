// A loopback server that answers like an OpenAI-compatible provider, with failure modes chosen by the `model`
// the sidecar sends (the provider's `model_name` in the test config):
//   ok | tool | error-500 | rate-limit | bad-request | hang | slow-<ms> | malformed | cut-<n> | fail-first-<k> | headers
//   | until-result-<script> (an agent loop: the script's tool call until a tool result comes back)
//   | held-<name> (answered like `ok`, but only once the test calls `release`)
//   | cached-<n> (answered like `ok`, its usage saying n prompt tokens were read from the provider's cache)
// plus scripted answers (SCRIPTS below, or `scriptAnswer(model, answer)`): fixed content and/or tool calls; streamed,
// the content comes in 4-character pieces and each tool call as a head chunk (id, name) then its arguments in 3 pieces.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordedRequest { path: string; headers: http.IncomingHttpHeaders; body: any }

export interface FakeOpenAI {
  url: string
  requests: RecordedRequest[]
  /** Requests whose `model` was `model`. */
  requestsFor (model: string): RecordedRequest[]
  /** Requests for `model` whose client went away before the answer was complete. */
  abandonedFor (model: string): number
  /** Requests for a `held-…` model waiting for `release`. */
  heldFor (model: string): number
  /** Answers every request held for `model`. */
  release (model: string): void
  close (): Promise<void>
}

const STREAM_WORDS = ['Hello', ' from', ' the', ' fake', ' upstream']

export interface ScriptedAnswer { content?: string; toolCalls?: Array<{ id: string; name: string; arguments: string }> }

const SCRIPTS = new Map<string, ScriptedAnswer>([
  ['json-valid', { content: '{"answer":"Paris","confidence":0.9}' }],
  ['json-invalid', { content: '{"answer":42}' }],
  ['json-broken', { content: 'Sure! The answer is Paris.' }],
  ['tool-weather', { toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] }],
  ['tool-respond', { toolCalls: [{ id: 'call_r', name: 'respond', arguments: '{"answer":"Lyon","confidence":0.5}' }] }],
  ['tool-parallel', {
    toolCalls: [
      { id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { id: 'call_b', name: 'web_search', arguments: '{"query":"weather in Rome"}' }
    ]
  }],
  ['tool-invalid', {
    toolCalls: [
      { id: 'call_x', name: 'get_weather', arguments: '{"city":5}' },
      { id: 'call_y', name: 'teleport', arguments: '{"to":"Mars"}' },
      { id: 'call_z', name: 'get_weather', arguments: '{"city": "Pa' }
    ]
  }]
])

/**
 * Agent loops: `until-result-<script>` answers the script (a tool call) until the last message is a tool result,
 * then a text that quotes that result.
 */
function conditionalScript (model: string, body: any): ScriptedAnswer | undefined {
  if (!model.startsWith('until-result-')) return undefined
  const last = Array.isArray(body?.messages) ? body.messages.at(-1) : undefined
  if (last?.role === 'tool') return { content: `The tool said: ${typeof last.content === 'string' ? last.content : JSON.stringify(last.content)}` }
  return SCRIPTS.get(model.slice('until-result-'.length))
}

/** Adds (or replaces) a scripted answer for `model`. */
export function scriptAnswer (model: string, answer: ScriptedAnswer): void {
  SCRIPTS.set(model, answer)
}

export async function startFakeOpenAI (): Promise<FakeOpenAI> {
  const requests: RecordedRequest[] = []
  const calls = new Map<string, number>()
  const abandoned = new Map<string, number>()
  const held = new Map<string, Array<() => void>>()
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      let body: any
      try { body = JSON.parse(Buffer.concat(chunks).toString()) } catch { body = undefined }
      requests.push({ path: req.url ?? '', headers: req.headers, body })
      const model: string = body?.model ?? 'ok'
      const n = (calls.get(model) ?? 0) + 1
      calls.set(model, n)
      res.on('close', () => { if (!res.writableFinished) abandoned.set(model, (abandoned.get(model) ?? 0) + 1) })
      if (model.startsWith('held-')) held.set(model, [...(held.get(model) ?? []), () => { answer(model, n, req, res, body) }])
      else answer(model, n, req, res, body)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    requestsFor: model => requests.filter(r => r.body?.model === model),
    abandonedFor: model => abandoned.get(model) ?? 0,
    heldFor: model => held.get(model)?.length ?? 0,
    release: model => {
      const waiting = held.get(model) ?? []
      held.delete(model)
      for (const answerNow of waiting) answerNow()
    },
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

function answer (model: string, call: number, req: http.IncomingMessage, res: http.ServerResponse, body: any): void {
  if (req.url?.endsWith('/embeddings')) { embeddings(res, body); return }
  if (model === 'error-500') { json(res, 500, { error: { message: 'upstream exploded' } }); return }
  if (model === 'rate-limit') { json(res, 429, { error: { message: 'slow down' } }, { 'retry-after': '1' }); return }
  if (model === 'bad-request') { json(res, 400, { error: { message: 'bad things' } }); return }
  if (model === 'hang') return
  if (model === 'malformed') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"choices": [oops'); return }
  const failFirst = /^fail-first-(\d+)$/.exec(model)
  if (failFirst !== null && call <= Number(failFirst[1])) { json(res, 503, { error: { message: `failing call ${call}` } }); return }
  const slow = /^slow-(\d+)$/.exec(model)
  const delay = slow === null ? 0 : Number(slow[1])
  setTimeout(() => {
    if (res.destroyed) return
    const script = conditionalScript(model, body) ?? SCRIPTS.get(model)
    if (script !== undefined) {
      if (body?.stream === true) scriptedStream(res, model, script)
      else json(res, 200, scriptedCompletion(model, script))
      return
    }
    const text = model === 'headers' ? JSON.stringify(req.headers) : `Hello from ${model}`
    if (body?.stream === true) stream(res, model, text)
    else json(res, 200, completion(model, text))
  }, delay)
}

function completion (model: string, text: string): unknown {
  const message: Record<string, unknown> = { role: 'assistant', content: text }
  let finish = 'stop'
  if (model === 'tool') {
    message.content = null
    message.tool_calls = [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]
    finish = 'tool_calls'
  }
  const cached = /^cached-(\d+)$/.exec(model)
  return {
    id: 'chatcmpl-fake', object: 'chat.completion', created: 1, model,
    choices: [{ index: 0, message, finish_reason: finish }],
    usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12, ...(cached === null ? {} : { prompt_tokens_details: { cached_tokens: Number(cached[1]) } }) }
  }
}

function stream (res: http.ServerResponse, model: string, text: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  const cut = /^cut-(\d+)$/.exec(model)
  const words = model === 'headers' ? [text] : STREAM_WORDS
  const chunk = (delta: unknown, finish: string | null = null): string =>
    `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
  let i = 0
  const next = (): void => {
    if (res.destroyed) return
    if (cut !== null && i === Number(cut[1])) { res.destroy(); return }
    if (i < words.length) {
      res.write(chunk(i === 0 ? { role: 'assistant', content: words[i] } : { content: words[i] }))
      i++
      setTimeout(next, 2)
      return
    }
    res.write(chunk({}, 'stop'))
    res.write(`data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model, choices: [], usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 } })}\n\n`)
    res.end('data: [DONE]\n\n')
  }
  next()
}

function scriptedCompletion (model: string, script: ScriptedAnswer): unknown {
  const message: Record<string, unknown> = { role: 'assistant', content: script.content ?? null }
  if (script.toolCalls !== undefined) {
    message.tool_calls = script.toolCalls.map(t => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } }))
  }
  return {
    id: 'chatcmpl-fake', object: 'chat.completion', created: 1, model,
    choices: [{ index: 0, message, finish_reason: script.toolCalls !== undefined ? 'tool_calls' : 'stop' }],
    usage: { prompt_tokens: 11, completion_tokens: 9, total_tokens: 20 }
  }
}

function pieces (s: string, n: number): string[] {
  const size = Math.max(1, Math.ceil(s.length / n))
  const out: string[] = []
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size))
  return out
}

function scriptedStream (res: http.ServerResponse, model: string, script: ScriptedAnswer): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  const deltas: unknown[] = [{ role: 'assistant', content: '' }]
  if (script.content !== undefined) {
    for (let i = 0; i < script.content.length; i += 4) deltas.push({ content: script.content.slice(i, i + 4) })
  }
  script.toolCalls?.forEach((t, index) => {
    deltas.push({ tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }] })
    for (const piece of pieces(t.arguments, 3)) deltas.push({ tool_calls: [{ index, function: { arguments: piece } }] })
  })
  const chunk = (delta: unknown, finish: string | null = null): string =>
    `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
  let i = 0
  const next = (): void => {
    if (res.destroyed) return
    if (i < deltas.length) { res.write(chunk(deltas[i++])); setTimeout(next, 1); return }
    res.write(chunk({}, script.toolCalls !== undefined ? 'tool_calls' : 'stop'))
    res.write(`data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model, choices: [], usage: { prompt_tokens: 11, completion_tokens: 9, total_tokens: 20 } })}\n\n`)
    res.end('data: [DONE]\n\n')
  }
  next()
}

function embeddings (res: http.ServerResponse, body: any): void {
  const inputs: string[] = Array.isArray(body?.input) ? body.input : [body?.input]
  json(res, 200, {
    object: 'list',
    data: inputs.map((s, index) => ({ object: 'embedding', index, embedding: [s.length, 0.5, -0.25] })),
    model: body?.model,
    usage: { prompt_tokens: inputs.length * 3, total_tokens: inputs.length * 3 }
  })
}

function json (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}
