// A loopback server that answers like Google AI Studio's Gemini API:
// `POST …/models/<model>:generateContent` and `…:streamGenerateContent?alt=sse` (CRLF-separated `data:` events, no
// [DONE], running usage in every event). Behaviour by the model in the path:
//   gemini-ok (or any other name): text "Hello from <model>" | gemini-tool: one get_weather functionCall |
//   gemini-unavailable: 503 | gemini-rate-limit: 429 with a RetryInfo detail.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordedGeminiRequest { path: string; model: string; method: string; headers: http.IncomingHttpHeaders; body: any }

export interface FakeGemini {
  url: string
  requests: RecordedGeminiRequest[]
  requestsFor (model: string): RecordedGeminiRequest[]
  close (): Promise<void>
}

export async function startFakeGemini (): Promise<FakeGemini> {
  const requests: RecordedGeminiRequest[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      let body: any
      try { body = JSON.parse(Buffer.concat(chunks).toString()) } catch { body = undefined }
      const m = /\/models\/([^/:?]+):(generateContent|streamGenerateContent)/.exec(req.url ?? '')
      requests.push({ path: req.url ?? '', model: m?.[1] ?? '', method: m?.[2] ?? '', headers: req.headers, body })
      if (m === null || req.method !== 'POST') { json(res, 404, { error: { code: 404, message: `no route ${req.url}`, status: 'NOT_FOUND' } }); return }
      answer(m[1], m[2] === 'streamGenerateContent', req, res)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    requestsFor: model => requests.filter(r => r.model === model),
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

function json (res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function answer (model: string, stream: boolean, req: http.IncomingMessage, res: http.ServerResponse): void {
  if (typeof req.headers['x-goog-api-key'] !== 'string') {
    json(res, 403, { error: { code: 403, message: "Method doesn't allow unregistered callers", status: 'PERMISSION_DENIED' } }); return
  }
  if (model === 'gemini-unavailable') { json(res, 503, { error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } }); return }
  if (model === 'gemini-rate-limit') {
    json(res, 429, { error: { code: 429, message: 'Resource has been exhausted (e.g. check quota).', status: 'RESOURCE_EXHAUSTED', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '4s' }] } })
    return
  }
  const parts: Array<Record<string, unknown>> = model === 'gemini-tool'
    ? [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }]
    : [{ text: `Hello from ${model}` }]
  const usage = { promptTokenCount: 11, candidatesTokenCount: 6, totalTokenCount: 17 }
  if (!stream) {
    json(res, 200, { candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }], usageMetadata: usage, modelVersion: model, responseId: 'fake' })
    return
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' })
  const events: unknown[] = []
  const first = parts[0]
  if (typeof first.text === 'string') {
    const pieces = first.text.match(/.{1,6}/gs) ?? []
    pieces.forEach((text, i) => {
      const last = i === pieces.length - 1
      events.push({
        candidates: [{ content: { role: 'model', parts: [{ text }] }, ...(last ? { finishReason: 'STOP' } : {}), index: 0 }],
        usageMetadata: last ? usage : { promptTokenCount: 11, candidatesTokenCount: i + 1, totalTokenCount: 12 + i },
        modelVersion: model
      })
    })
  } else {
    events.push({ candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }], usageMetadata: usage, modelVersion: model })
  }
  let i = 0
  const next = (): void => {
    if (res.destroyed) return
    if (i === events.length) { res.end(); return }
    res.write(`data: ${JSON.stringify(events[i++])}\r\n\r\n`)
    setTimeout(next, 1)
  }
  next()
}
