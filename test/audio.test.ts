// Audio through the sidecar: transcriptions and translations (multipart) and speech (bytes streamed back), resolved
// by `model` like chat and walked over the model's providers in routing order, driven by the real `openai` client
// against loopback fake audio servers (one dead port, one failing, one answering). Request metrics and the log line.
import t from 'tap'
import { Writable } from 'node:stream'
import OpenAI, { toFile } from 'openai'
import { startFakeAudio, SPEECH_BYTES } from './helpers/fake-audio.ts'
import type { FakeAudio, RecordedAudioRequest } from './helpers/fake-audio.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { fakeModel } from './helpers/toml.ts'
import { waitFor } from './helpers/wait.ts'
import { SidecarMetrics } from '../sidecar/ops/metrics.ts'
import { parseMultipart } from '../src/endpoints/openai/multipart.ts'
import { encodeMultipart } from '../src/providers/http/multipart.ts'
import { GatewayError } from '../src/core/errors.ts'
import type { FormPart } from '../src/core/types.ts'
import { createLogger, requestLogListener } from '../sidecar/ops/logger.ts'
import type { RequestLog } from '../sidecar/ops/request-log.ts'

/** A real WAV file: RIFF header, 16-bit mono PCM, a 440 Hz tone. */
function wavFile (seconds = 0.25, rate = 16_000): Buffer {
  const samples = Math.round(seconds * rate)
  const wav = Buffer.alloc(44 + samples * 2)
  wav.write('RIFF', 0); wav.writeUInt32LE(36 + samples * 2, 4); wav.write('WAVE', 8)
  wav.write('fmt ', 12); wav.writeUInt32LE(16, 16); wav.writeUInt16LE(1, 20); wav.writeUInt16LE(1, 22)
  wav.writeUInt32LE(rate, 24); wav.writeUInt32LE(rate * 2, 28); wav.writeUInt16LE(2, 32); wav.writeUInt16LE(16, 34)
  wav.write('data', 36); wav.writeUInt32LE(samples * 2, 40)
  for (let i = 0; i < samples; i++) wav.writeInt16LE(Math.round(Math.sin(2 * Math.PI * 440 * i / rate) * 12_000), 44 + i * 2)
  return wav
}

let fake: FakeAudio
let sidecar: TestSidecar
let client: OpenAI
let metrics: SidecarMetrics
const logLines: Array<Record<string, any>> = []

const toml = (url: string): string => [
  // The GPU orchestrator is down (connection refused), the cloud answers.
  fakeModel(url, 'whisper_small_local', [['gpu_orchestrator', 'refused'], ['openai', 'whisper-1']]),
  fakeModel(url, 'whisper_translate', [['local', 'fail-500'], ['openai', 'whisper-large-v3', 'api_key_location = "env::AUDIO_TEST_KEY"']]),
  fakeModel(url, 'tts_kokoro', [['gpu_orchestrator', 'fail-500'], ['cloud', 'tts-1']]),
  fakeModel(url, 'tts_slow_first', [['local', 'hang', 'timeouts = { non_streaming = { total_ms = 300 } }'], ['cloud', 'tts-1']]),
  fakeModel(url, 'tts_leave', [['cloud', 'tts-1']]),
  fakeModel(url, 'whisper_down', [['a', 'fail-500'], ['b', 'refused']]),
  `
[models.tts_cut]
routing = ["cloud"]
timeouts = { non_streaming = { total_ms = 1500 } }

[models.tts_cut.providers.cloud]
type = "openai"
model_name = "tts-1"
api_base = "${url}/v1/"
api_key_location = "none"

# An in-process dummy provider first: it has no audio API, so the cloud serves.
[models.whisper_dummy_first]
routing = ["dummy", "cloud"]
[models.whisper_dummy_first.providers.dummy]
type = "dummy"
model_name = "good"
[models.whisper_dummy_first.providers.cloud]
type = "openai"
model_name = "whisper-1"
api_base = "${url}/v1/"
api_key_location = "none"

[functions.chat_fn]
type = "chat"
[functions.chat_fn.variants.main]
type = "chat_completion"
model = "tts_kokoro"
`
].join('\n')

const SIDECAR_TOML = `
service = "audio-test"
[routes]
"whisper-1" = { model = "whisper_small_local" }
"tts-1" = { model = "tts_kokoro" }
"gpt-4o-mini" = "tensorzero::function_name::chat_fn"
`

t.before(async () => {
  fake = await startFakeAudio()
  let log: ((l: RequestLog) => void) | undefined
  sidecar = await startTestSidecar({
    toml: toml(fake.url),
    sidecarToml: SIDECAR_TOML,
    env: { AUDIO_TEST_KEY: 'sk-audio-test' },
    options: {
      observer: { onAttempt: a => metrics.observer.onAttempt?.(a) },
      onRequest: l => { metrics.onRequest(l); log?.(l) },
      metrics: async () => await metrics.render()
    }
  })
  const config = sidecar.sidecar.gateway.config
  metrics = new SidecarMetrics(config, { service: 'audio-test', processMetrics: false })
  const destination = new Writable({ write (chunk, _enc, done) { logLines.push(JSON.parse(String(chunk))); done() } })
  log = requestLogListener(createLogger({ service: 'audio-test', level: 'info', destination, env: {} }))
  client = new OpenAI({ baseURL: sidecar.baseURL, apiKey: 'client-key', maxRetries: 0 })
})

t.teardown(async () => {
  fake.releaseSpeech()
  await sidecar?.close()
  await fake?.close()
})

const fileOf = (r: RecordedAudioRequest | undefined): { name: string; type: string; bytes: Buffer } | undefined => {
  const v = r?.form?.find(([name]) => name === 'file')?.[1]
  return typeof v === 'object' ? v : undefined
}
const fieldsOf = (r: RecordedAudioRequest | undefined): Array<[string, string]> =>
  (r?.form ?? []).flatMap(([name, v]) => typeof v === 'string' ? [[name, v] as [string, string]] : [])

// ---- the form, without a server ----

const tricky = Buffer.concat([Buffer.from('RIFF\r\n--'), Buffer.from([0, 255, 13, 10, 13, 10]), Buffer.from('\r\n------x--')])

t.test('a form read by the sidecar keeps every entry, order and byte; files stay views of the body', async t => {
  const form = new FormData()
  form.append('model', 'whisper-1')
  form.append('prompt', 'Grüße, "quoted"\r\nline two')
  form.append('file', new File([tricky], 'ça "va".wav', { type: 'audio/wav' }))
  form.append('timestamp_granularities[]', 'word')
  form.append('timestamp_granularities[]', 'segment')
  const encoded = new Response(form)
  const body = Buffer.from(await encoded.arrayBuffer())
  const parts = parseMultipart(body, encoded.headers.get('content-type') as string)
  t.same(parts.map(p => p.name), ['model', 'prompt', 'file', 'timestamp_granularities[]', 'timestamp_granularities[]'])
  t.same(parts[1], { name: 'prompt', value: 'Grüße, "quoted"\r\nline two' })
  const file = parts[2] as Extract<FormPart, { data: Uint8Array }>
  t.ok(Buffer.from(file.data).equals(tricky), 'binary bytes with CRLFs and dashes intact')
  t.equal(file.data.buffer, body.buffer, 'the file is a view into the body, not a copy')
  t.equal(file.contentType, 'audio/wav')
  t.equal(file.filename, 'ça "va".wav', 'the file name as the client named it')
})

t.test('the form the sidecar sends a provider reads back the same through the platform parser', async t => {
  const parts: FormPart[] = [
    { name: 'model', value: 'whisper-large-v3' },
    { name: 'na"me', value: 'é' },
    { name: 'file', filename: 'clip.wav', contentType: 'audio/wav\r\nX-Injected: 1', data: tricky }
  ]
  const { contentType, contentLength, chunks } = encodeMultipart(parts)
  const body = Buffer.concat(chunks)
  t.equal(contentLength, body.length, 'Content-Length is exact')
  const read = await new Response(body, { headers: { 'content-type': contentType } }).formData()
  t.same([...read.keys()], ['model', 'na"me', 'file'])
  t.equal(read.get('na"me'), 'é')
  const file = read.get('file') as File
  t.ok(Buffer.from(await file.arrayBuffer()).equals(tricky))
  t.equal(file.type, 'audio/wavx-injected: 1', 'a line break in a content type cannot start a header')
  t.same(parseMultipart(body, contentType).map(p => p.name), ['model', 'na"me', 'file'], 'and through the sidecar\'s own parser')
})

t.test('forms written by other clients: a preamble, a quoted boundary, padding, filename*, escaped quotes', async t => {
  const body = Buffer.from([
    'this is a preamble', '--b0', 'Content-Disposition: form-data; name="model"', '', 'whisper-1',
    '--b0  ', 'content-disposition: form-data; name="file"; filename="x.wav"; filename*=utf-8\'\'h%C3%A9llo.wav', 'Content-Type: audio/x-wav', '', 'RIFF',
    '--b0', 'Content-Disposition: form-data; name="say \\"hi\\""', '', 'ok',
    '--b0--', 'epilogue'
  ].join('\r\n'))
  const parts = parseMultipart(body, 'multipart/form-data; boundary="b0"')
  t.same(parts.map(p => p.name), ['model', 'file', 'say "hi"'])
  t.match(parts[1], { filename: 'héllo.wav', contentType: 'audio/x-wav' })
  t.same(Buffer.from((parts[1] as Extract<FormPart, { data: Uint8Array }>).data).toString(), 'RIFF')
})

t.test('a malformed form is a 400 saying what is wrong', async t => {
  const bad = (body: string, contentType = 'multipart/form-data; boundary=b0'): unknown => {
    try { parseMultipart(Buffer.from(body), contentType); return undefined } catch (err) { return err }
  }
  const head = '--b0\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1'
  const cases: Array<[unknown, RegExp]> = [
    [bad(`${head}\r\n--b0--`, 'multipart/form-data'), /names no `boundary`/],
    [bad('nothing here'), /boundary never occurs/],
    [bad(head), /ends before its closing boundary/],
    [bad('--b0\r\nContent-Type: text/plain\r\n\r\nx\r\n--b0--'), /part 0 has no `Content-Disposition: form-data`/],
    [bad('--b0\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b0--'), /part 0 has no name/],
    [bad('--b0\nContent-Disposition: form-data; name="a"\n\nx\n--b0--'), /not followed by a line break/],
    [bad('--b0\r\nContent-Disposition: form-data; name="a"'), /part 0 has no end to its headers/]
  ]
  for (const [err, message] of cases) {
    t.ok(err instanceof GatewayError && err.status === 400, String(message))
    t.match((err as Error).message, message)
  }
})

// ---- through the sidecar ----

t.test('transcription falls back from a dead local server to the next provider, which gets the exact file and fields', async t => {
  const wav = wavFile()
  const before = fake.requests.length
  const { data, response } = await client.audio.transcriptions.create({
    model: 'whisper-1',
    file: await toFile(wav, 'clip.wav', { type: 'audio/wav' }),
    language: 'en',
    temperature: 0.2,
    timestamp_granularities: ['word', 'segment'],
    response_format: 'verbose_json'
  }).withResponse()
  t.equal(data.text, `heard ${wav.length} bytes via whisper-1`, 'the answer of the provider that served')
  t.equal(response.headers.get('x-tensorzero-model'), 'whisper_small_local')
  t.equal(response.headers.get('x-tensorzero-provider'), 'openai')
  const got = fake.requests.slice(before)
  t.equal(got.length, 1, 'the dead server took nothing; the second provider one request')
  t.equal(got[0].path, '/v1/audio/transcriptions')
  t.equal(got[0].headers.authorization, undefined, "the client's key is not sent to a provider without one")
  const file = fileOf(got[0])
  t.ok(file?.bytes.equals(wav), 'the WAV bytes arrive unchanged')
  t.equal(file?.name, 'clip.wav')
  t.equal(file?.type, 'audio/wav')
  t.same(fieldsOf(got[0]).sort(), [
    ['language', 'en'], ['model', 'whisper-1'], ['response_format', 'verbose_json'], ['temperature', '0.2'],
    ['timestamp_granularities[]', 'segment'], ['timestamp_granularities[]', 'word']
  ].sort(), 'every field as the client sent it, repeated ones included')
})

t.test('translation falls back from a failing (500) provider; model is rewritten to each provider\'s model_name', async t => {
  const wav = wavFile(0.1)
  const before = fake.requests.length
  const text = await client.audio.translations.create({
    model: 'whisper_translate',
    file: await toFile(wav, 'fr.wav', { type: 'audio/wav' }),
    response_format: 'text'
  })
  t.equal(String(text).trim(), `heard ${wav.length} bytes via whisper-large-v3`, 'plain text passed back as the provider sent it')
  const got = fake.requests.slice(before)
  t.same(got.map(r => [r.path, fieldsOf(r).find(([n]) => n === 'model')?.[1]]), [
    ['/v1/audio/translations', 'fail-500'],
    ['/v1/audio/translations', 'whisper-large-v3']
  ], 'the failing provider was asked first, with its own model_name; the fallback with its own')
  t.ok(fileOf(got[1])?.bytes.equals(wav), 'the fallback got the same bytes again')
  t.equal(got[1].headers.authorization, 'Bearer sk-audio-test', 'the provider\'s own key, from its api_key_location')
})

t.test('speech streams the audio back as it arrives, with the provider\'s content type', async t => {
  const before = fake.requests.length
  const response = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Hello from PMOVES', response_format: 'mp3' })
  t.equal(response.headers.get('content-type'), 'audio/mpeg')
  t.equal(response.headers.get('x-tensorzero-provider'), 'cloud')
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const received: Buffer[] = []
  let size = 0
  // The fake holds back its second half until released: the first must reach the client before that.
  await t.resolves(fake.firstHalfSent(), 'the fake sent its first half')
  while (size < SPEECH_BYTES.length / 2) {
    const { value, done } = await reader.read()
    if (done) break
    received.push(Buffer.from(value)); size += value.length
  }
  t.equal(size, SPEECH_BYTES.length / 2, 'the first half arrived')
  t.equal(fake.waitingSpeeches(), 1, 'while the fake was still holding back the rest')
  fake.releaseSpeech()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    received.push(Buffer.from(value))
  }
  t.ok(Buffer.concat(received).equals(SPEECH_BYTES), 'every byte, in order')
  const got = fake.requests.slice(before)
  t.same(got.map(r => r.json), [
    { model: 'fail-500', voice: 'alloy', input: 'Hello from PMOVES', response_format: 'mp3' },
    { model: 'tts-1', voice: 'alloy', input: 'Hello from PMOVES', response_format: 'mp3' }
  ], 'the local provider failed (500), the cloud one served; each got its own model_name')
})

t.test('the model\'s timeout bounds the whole answer: a body still arriving past it is cut', async t => {
  const response = await client.audio.speech.create({ model: 'tts_cut', voice: 'alloy', input: 'a long story' })
  await t.resolves(fake.firstHalfSent(), 'the provider answered and sent half')
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  let size = 0
  const cut = await (async () => {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return undefined
      size += value.length
    }
  })().catch(err => err)
  fake.releaseSpeech()
  t.ok(cut instanceof Error, 'the client sees the response cut, not a clean end')
  t.equal(size, SPEECH_BYTES.length / 2, 'after the half that came in time')
  await t.resolves(waitFor('the request line', async () => logLines.find(l => l.msg === 'request' && l.model === 'tts_cut')))
  t.match(logLines.find(l => l.msg === 'request' && l.model === 'tts_cut'), { level: 'error', error_class: 'timeout', error: /model `tts_cut` timed out after 1500 ms/ })
})

t.test('a client that leaves mid-speech lets go of the provider\'s answer too', async t => {
  const cutBefore = fake.cutSpeeches()
  const stop = new AbortController()
  const response = await client.audio.speech.create({ model: 'tts_leave', voice: 'alloy', input: 'never mind' }, { signal: stop.signal })
  await t.resolves(fake.firstHalfSent(), 'the provider is holding back its second half')
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  t.ok((await reader.read()).value !== undefined, 'the first bytes arrived')
  stop.abort()
  await t.resolves(waitFor('the provider connection to close', async () => fake.cutSpeeches() > cutBefore ? true : undefined))
  fake.releaseSpeech()
})

t.test('a form larger than the body limit is a 413, read no further', async t => {
  const small = await startTestSidecar({ toml: toml(fake.url), sidecarToml: SIDECAR_TOML, options: { bodyLimit: 64 * 1024 } })
  try {
    const smallClient = new OpenAI({ baseURL: small.baseURL, apiKey: 'client-key', maxRetries: 0 })
    const before = fake.requests.length
    const err = await smallClient.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(wavFile(3), 'long.wav') }).catch(e => e)
    t.equal(err?.status, 413)
    t.match(err?.message, /larger than the limit of 65536 bytes/)
    t.equal(fake.requests.length, before, 'no provider was called')
  } finally {
    await small.close()
  }
})

t.test('a provider past its timeout is left for the next one', async t => {
  const done = client.audio.speech.create({ model: 'tts_slow_first', voice: 'alloy', input: 'hi' })
  await t.resolves(fake.firstHalfSent(), 'the fallback started its answer')
  fake.releaseSpeech()
  const bytes = Buffer.from(await (await done).arrayBuffer())
  t.ok(bytes.equals(SPEECH_BYTES))
})

t.test('every provider failing is a 500 naming each one', async t => {
  const err = await client.audio.transcriptions.create({ model: 'whisper_down', file: await toFile(wavFile(0.05), 'a.wav') }).catch(e => e)
  t.ok(err instanceof OpenAI.InternalServerError, 'a 500')
  t.match(err.message, /a: .*500/)
  t.match(err.message, /b: connection to http:\/\/127\.0\.0\.1:1 failed/)
})

t.test('a provider type without an HTTP audio API (the in-process dummy) is skipped with that reason, not sent anywhere', async t => {
  const text = await client.audio.transcriptions.create({ model: 'whisper_dummy_first', file: await toFile(wavFile(0.05), 'a.wav') })
  t.ok(text.text.length > 0, 'the next provider served')
  const fallback = logLines.find(l => l.msg === 'provider fallback' && l.from?.model === 'whisper_dummy_first')
  t.match(fallback, { from: { provider: 'dummy' }, to: { provider: 'cloud' }, error_class: 'unsupported', error: "provider type `dummy` does not serve OpenAI's audio API" })
  t.ok(fallback, 'the skipped provider\'s reason is logged')
})

t.test('mistakes in the request are 4xx, as for chat', async t => {
  const unknown = await client.audio.transcriptions.create({ model: 'whisper-9', file: await toFile(wavFile(0.05), 'a.wav') }).catch(e => e)
  t.ok(unknown instanceof OpenAI.NotFoundError, 'an unknown model is a 404')
  t.match(unknown.message, /Unknown model `whisper-9`.*Nearest known names: `whisper-1`/)
  const fn = await client.audio.speech.create({ model: 'gpt-4o-mini', voice: 'alloy', input: 'hi' }).catch(e => e)
  t.ok(fn instanceof OpenAI.BadRequestError, 'a function is no audio model: 400')
  t.match(fn.message, /names function `chat_fn`: audio routes are served by a model/)
  const noVoice = await client.audio.speech.create({ model: 'tts-1', input: 'hi' } as any).catch(e => e)
  t.ok(noVoice instanceof OpenAI.BadRequestError)
  t.match(noVoice.message, /`voice` must be/)
  const noFile = await fetch(`${sidecar.baseURL}/audio/transcriptions`, { method: 'POST', body: (() => { const f = new FormData(); f.append('model', 'whisper-1'); return f })() })
  t.equal(noFile.status, 400)
  t.match((await noFile.json()).error.message, /`file` must be a file part/)
  const json = await fetch(`${sidecar.url}/openai/v1/audio/transcriptions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"whisper-1"}' })
  t.equal(json.status, 415, 'not multipart: 415, also under /openai/v1/')
})

t.test('a model the config does not know goes unchanged to passthrough_upstream when unmatched = "passthrough"', async t => {
  const s = await startTestSidecar({
    toml: toml(fake.url),
    sidecarToml: `service = "audio-pass"\nunmatched = "passthrough"\npassthrough_upstream = "${fake.url}"\n`
  })
  try {
    const before = fake.requests.length
    const wav = wavFile(0.05)
    const passClient = new OpenAI({ baseURL: s.baseURL, apiKey: 'client-key', maxRetries: 0 })
    const res = await passClient.audio.transcriptions.create({ model: 'whisper-unknown', file: await toFile(wav, 'p.wav', { type: 'audio/wav' }) })
    t.equal(res.text, `heard ${wav.length} bytes via whisper-unknown`)
    const got = fake.requests.slice(before)
    t.equal(got.length, 1)
    t.equal(got[0].path, '/v1/audio/transcriptions')
    t.ok(fileOf(got[0])?.bytes.equals(wav), 'the body as the client sent it')
  } finally {
    await s.close()
  }
})

t.test('each call is counted by route and model, its provider attempts by outcome, and logged once', async t => {
  const text = await (await fetch(`${sidecar.url}/metrics`)).text()
  const value = (series: string): number | undefined => {
    const line = text.split('\n').find(l => l.startsWith(series + ' '))
    return line === undefined ? undefined : Number(line.slice(series.length + 1))
  }
  const counted = [
    'tensorzero_request_count{route="/v1/audio/transcriptions",function="none",model="whisper_small_local",service="audio-test"}',
    'tensorzero_request_count{route="/v1/audio/translations",function="none",model="whisper_translate",service="audio-test"}',
    'tensorzero_request_count{route="/v1/audio/speech",function="none",model="tts_kokoro",service="audio-test"}',
    'tensorzero_request_duration_seconds_count{service="audio-test",route="/v1/audio/speech",function="none",model="tts_cut",status_class="stream_error"}',
    'tensorzero_request_count{route="/v1/audio/speech",function="none",model="tts_leave",service="audio-test"}',
    'tensorzero_error_count{route="/v1/audio/transcriptions",function="none",model="whisper_down",service="audio-test"}',
    'tz_sidecar_provider_attempts_total{function="none",variant="none",model="whisper_small_local",provider="gpu_orchestrator",outcome="connection",service="audio-test"}',
    'tz_sidecar_provider_attempts_total{function="none",variant="none",model="whisper_small_local",provider="openai",outcome="ok",service="audio-test"}',
    'tz_sidecar_provider_attempts_total{function="none",variant="none",model="tts_slow_first",provider="local",outcome="timeout",service="audio-test"}',
    'tz_sidecar_fallbacks_total{kind="provider",function="none",from="tts_kokoro/gpu_orchestrator",to="tts_kokoro/cloud",service="audio-test"}'
  ]
  for (const series of counted) t.equal(value(series), 1, series)
  const lines = logLines.filter(l => l.msg === 'request' && l.route === '/v1/audio/transcriptions' && l.model === 'whisper_small_local')
  t.equal(lines.length, 1, 'one request line for the transcription')
  t.match(lines[0], { status: 200, provider: 'openai', attempts: 2 })
  t.ok(logLines.some(l => l.msg === 'provider fallback' && l.route === '/v1/audio/speech'), 'the fallback logged as a warning')
})
