// A loopback server that answers OpenAI's audio API (`POST …/audio/transcriptions`, `…/audio/translations` as
// multipart, `…/audio/speech` as JSON), with behaviour chosen by the `model` the sidecar sends (the provider's
// `model_name` in the test config):
//   fail-500: a 500 error | hang: never answers | anything else: a transcription `{"text": "heard <bytes> bytes …"}`
//   (the form's `response_format=text`: plain text), or for speech `SPEECH_BYTES` as `audio/mpeg`, in two halves with
//   a wait for `releaseSpeech()` between them (bounded: the rest follows after 30 s anyway).
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordedAudioRequest {
  path: string
  headers: http.IncomingHttpHeaders
  /** The form's entries (transcription, translation), files as their name, type and bytes. */
  form?: Array<[name: string, value: string | { name: string; type: string; bytes: Buffer }]>
  /** The JSON body (speech). */
  json?: Record<string, unknown>
}

export interface FakeAudio {
  url: string
  requests: RecordedAudioRequest[]
  /** Lets every speech answer waiting between its halves finish. */
  releaseSpeech (): void
  /** Speech answers that sent their first half and are holding back the rest. */
  waitingSpeeches (): number
  /** Speech answers whose connection closed before they ended (the sidecar let go of them). */
  cutSpeeches (): number
  /** Resolves once a speech answer has sent its first half. */
  firstHalfSent (): Promise<void>
  close (): Promise<void>
}

/** What a speech answer sends: 64 KiB of a recognisable byte pattern. */
export const SPEECH_BYTES = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7 + 3) & 0xff))

const RELEASE_BOUND_MS = 30_000

export async function startFakeAudio (): Promise<FakeAudio> {
  const requests: RecordedAudioRequest[] = []
  let release!: () => void
  let released = new Promise<void>(resolve => { release = resolve })
  let halfSent!: () => void
  let sentHalf = new Promise<void>(resolve => { halfSent = resolve })
  let waiting = 0
  let cut = 0
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks)
        const recorded: RecordedAudioRequest = { path: req.url ?? '', headers: req.headers }
        requests.push(recorded)
        let model: unknown
        let responseFormat: unknown
        if ((req.url ?? '').endsWith('/audio/speech')) {
          recorded.json = JSON.parse(body.toString())
          model = recorded.json?.model
        } else {
          const form = await new Response(body, { headers: { 'content-type': req.headers['content-type'] ?? '' } }).formData()
          recorded.form = []
          for (const [name, value] of form) {
            recorded.form.push([name, typeof value === 'string' ? value : { name: value.name, type: value.type, bytes: Buffer.from(await value.arrayBuffer()) }])
          }
          model = form.get('model')
          responseFormat = form.get('response_format')
        }
        if (model === 'hang') return
        if (model === 'fail-500') {
          res.writeHead(500, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: { message: 'the fake audio server failed as asked', type: 'server_error' } }))
          return
        }
        if (recorded.json !== undefined) {
          res.writeHead(200, { 'content-type': 'audio/mpeg' })
          res.once('close', () => { if (!res.writableFinished) cut++ })
          res.write(SPEECH_BYTES.subarray(0, SPEECH_BYTES.length / 2))
          halfSent()
          waiting++
          // Bounded, and the bound's timer never keeps the test process alive once the answer is released.
          let bound: NodeJS.Timeout | undefined
          await Promise.race([released, new Promise(resolve => { bound = setTimeout(resolve, RELEASE_BOUND_MS) })])
          clearTimeout(bound)
          waiting--
          res.end(SPEECH_BYTES.subarray(SPEECH_BYTES.length / 2))
          return
        }
        const file = recorded.form?.find(([name]) => name === 'file')?.[1]
        const text = `heard ${typeof file === 'object' ? file.bytes.length : 0} bytes via ${String(model)}`
        if (responseFormat === 'text') {
          res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
          res.end(text)
        } else {
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ text }))
        }
      })().catch(err => { res.writeHead(400); res.end(String(err)) })
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    releaseSpeech: () => {
      release()
      released = new Promise<void>(resolve => { release = resolve })
    },
    waitingSpeeches: () => waiting,
    cutSpeeches: () => cut,
    firstHalfSent: async () => {
      await sentHalf
      sentHalf = new Promise<void>(resolve => { halfSent = resolve })
    },
    close: async () => {
      release()
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
