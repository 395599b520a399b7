// Issue 14, the request path under faults and abuse: long `model` names, upstreams that echo the key they received,
// answers past the response limit, a busy connection pool, client mistakes (4xx, never 5xx), Retry-After and timeouts.
// An in-process sidecar (the real server) against loopback fakes: the shared fake OpenAI and a fault fake below.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import OpenAI from 'openai'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'
import type { AttemptRecord, InferenceRecord } from '../src/core/records.ts'

const CONFIG_KEY = 'sk-config-secret-0123456789'
const DYNAMIC_KEY = 'sk-dynamic-secret-9876543210'
const MiB = 1024 * 1024

/** What the fault fake answers, by the `model` it receives. */
interface FaultFake { url: string; cutEarly: number; held: number; release (): void; close (): Promise<void> }

const completion = (model: string, content: string): string => JSON.stringify({
  id: 'x', object: 'chat.completion', created: 0, model,
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }
})
const chunk = (model: string, content: string): string => `data: ${JSON.stringify({
  id: 'x', object: 'chat.completion.chunk', created: 0, model, choices: [{ index: 0, delta: { content }, finish_reason: null }]
})}\n\n`

async function startFaultFake (): Promise<FaultFake> {
  let waiting: Array<() => void> = []
  const fake: FaultFake = {
    url: '', cutEarly: 0, held: 0,
    release () { for (const go of waiting.splice(0)) go() },
    close: async () => { fake.release(); server.closeAllConnections(); await new Promise<void>(resolve => server.close(() => resolve())) }
  }
  /** Writes `total` bytes of `piece`s, honouring back-pressure; counts a client that hung up before the end. */
  const pour = async (res: http.ServerResponse, piece: string, total: number, last = ''): Promise<void> => {
    for (let sent = 0; sent < total; sent += piece.length) {
      if (res.destroyed) { fake.cutEarly++; return }
      if (!res.write(piece)) {
        await new Promise<void>(resolve => {
          const go = (): void => { res.off('drain', go); res.off('close', go); resolve() }
          res.on('drain', go); res.on('close', go)
        })
      }
    }
    res.end(last)
  }
  const server = http.createServer((req, res) => {
    let text = ''
    req.on('data', (d: Buffer) => { text += d.toString() })
    req.on('end', () => {
      const body = JSON.parse(text) as { model: string; stream?: boolean }
      const auth = String(req.headers.authorization ?? '')
      const json = (status: number, payload: string): void => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(payload) }
      switch (body.model) {
        case 'echo-key':
          json(401, JSON.stringify({ error: { message: `Incorrect API key provided: ${auth}` } })); return
        case 'echo-key-200':
          json(200, JSON.stringify({ error: { message: `proxy rejected credentials ${auth}` } })); return
        case 'huge':
          res.writeHead(200, { 'content-type': 'application/json' })
          void pour(res, '{"pad":"' + 'x'.repeat(64 * 1024 - 9) + '",', 64 * MiB); return
        case 'huge-stream':
          res.writeHead(200, { 'content-type': 'text/event-stream' })
          void pour(res, chunk(body.model, 'y'.repeat(16 * 1024)), 64 * MiB); return
        case 'long-stream':
          res.writeHead(200, { 'content-type': 'text/event-stream' })
          void pour(res, chunk(body.model, 'z'.repeat(1024)), 3 * MiB, 'data: [DONE]\n\n'); return
        case 'hold':
          fake.held++
          waiting.push(() => { json(200, completion(body.model, 'held answer')) }); return
        default:
          json(200, completion(body.model, `ok from ${body.model}`))
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  waiting = []
  return fake
}

let shared: FakeOpenAI
let faults: FaultFake
t.before(async () => { shared = await startFakeOpenAI(); faults = await startFaultFake() })
t.teardown(async () => { await shared.close(); await faults.close() })

const user = [{ role: 'user' as const, content: 'hi' }]

interface Heard { attempts: AttemptRecord[]; inferences: InferenceRecord[] }

async function withSidecar (toml: string, fn: (s: TestSidecar, heard: Heard) => Promise<void>, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const heard: Heard = { attempts: [], inferences: [] }
  const s = await startTestSidecar({
    toml,
    env,
    options: { observer: { onAttempt: a => { heard.attempts.push(a) }, onInference: r => { heard.inferences.push(r) } } }
  })
  try { await fn(s, heard) } finally { await s.close() }
}

async function post (s: TestSidecar, body: unknown): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const text = await res.text()
  let json: any
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: res.status, headers: res.headers, text, json }
}

t.test('item 3: a 10 MiB `model` gets a short 404 without suggestions, /health answers meanwhile; short names still get suggestions', async t => {
  await withSidecar(fakeModel(shared.url, 'gpt_small', [['p', 'ok']]), async s => {
    const huge = 'm'.repeat(10 * MiB)
    const [answer, health] = await Promise.all([
      post(s, { model: huge, messages: user }),
      fetch(`${s.url}/health`).then(r => r.status)
    ])
    t.equal(answer.status, 404, 'an unknown name is a 404')
    t.ok(answer.text.length < 2000, `the answer echoes a truncated name (${answer.text.length} bytes)`)
    t.match(answer.json.error.message, /Unknown model `m+… \(10485760 characters\)`/, 'the echo says how long the name was')
    t.notMatch(answer.json.error.message, /Nearest known names/, 'no suggestion work for a name that long')
    t.equal(health, 200, '/health answered')
    const typo = await post(s, { model: 'gpt_smal', messages: user })
    t.match(typo.json.error.message, /Nearest known names: `gpt_small`/, 'a short typo still gets its suggestion')
  })
})

t.test('item 3: a long `model` against a glob route with several `*` is matched in linear time (no regex backtracking)', async t => {
  const s = await startTestSidecar({ toml: fakeModel(shared.url, 'gpt_small', [['p', 'ok']]), sidecarToml: 'service = "globs"\n[routes]\n"claude-*-x-*-y" = { model = "gpt_small" }\n' })
  t.teardown(() => s.close())
  // 1 MiB of a near-miss: a backtracking `^claude-.*-x-.*-y$` needs minutes for this (5 s at 120 KB).
  const nearMiss = 'claude-' + '-x-'.repeat(Math.floor(MiB / 3))
  const [miss, health] = await Promise.all([post(s, { model: nearMiss, messages: user }), fetch(`${s.url}/health`).then(r => r.status)])
  t.equal(miss.status, 404, 'no route matches the near-miss')
  t.equal(health, 200, '/health answered')
  const hit = await post(s, { model: 'claude-3-x-opus-y', messages: user })
  t.equal(hit.status, 200, 'a name the glob matches is routed')
})

t.test('item 6: a provider echoing the key it received (config key or per-request credentials) hands no key to the client or the attempt records', async t => {
  const toml = fakeModel(faults.url, 'echo_config', [['p', 'echo-key', 'api_key_location = "env::FAULT_KEY"']]) +
    fakeModel(faults.url, 'echo_dynamic', [['p', 'echo-key', 'api_key_location = "dynamic::tok"']]) +
    fakeModel(faults.url, 'echo_disguised', [['p', 'echo-key-200', 'api_key_location = "dynamic::tok"']]) +
    fakeModel(faults.url, 'echo_stream', [['p', 'echo-key', 'api_key_location = "dynamic::tok"']])
  await withSidecar(toml, async (s, heard) => {
    const credentials = { 'tensorzero::credentials': { tok: DYNAMIC_KEY } }
    const answers = [
      await post(s, { model: 'tensorzero::model_name::echo_config', messages: user }),
      await post(s, { model: 'tensorzero::model_name::echo_dynamic', messages: user, ...credentials }),
      await post(s, { model: 'tensorzero::model_name::echo_disguised', messages: user, ...credentials }),
      await post(s, { model: 'tensorzero::model_name::echo_stream', messages: user, stream: true, ...credentials })
    ]
    for (const a of answers) {
      t.ok(a.status >= 400, `an error answer (${a.status})`)
      t.notOk(a.text.includes(CONFIG_KEY) || a.text.includes(DYNAMIC_KEY), 'no key in the answer')
      t.match(a.text, /\[redacted\]/, 'the echo is there, redacted')
    }
    const recorded = JSON.stringify(heard.attempts)
    t.ok(heard.attempts.length >= 4, 'the attempts were recorded (they feed logs and metrics)')
    t.notOk(recorded.includes(CONFIG_KEY) || recorded.includes(DYNAMIC_KEY), 'no key in the attempt records')
  }, { FAULT_KEY: CONFIG_KEY })
})

t.test('item 8: an answer past the response limit fails that provider (the walk falls back); streams keep a bounded raw_response', async t => {
  const toml = fakeModel(faults.url, 'huge_first', [['big', 'huge'], ['spare', 'fine']]) +
    fakeModel(faults.url, 'huge_stream_first', [['big', 'huge-stream'], ['spare', 'fine']]) +
    fakeModel(faults.url, 'long', [['p', 'long-stream']])
  await withSidecar(toml, async (s, heard) => {
    const client = new OpenAI({ baseURL: s.baseURL, apiKey: 'x', maxRetries: 0 })
    const res = await client.chat.completions.create({ model: 'tensorzero::model_name::huge_first', messages: user }).withResponse()
    t.equal(res.response.headers.get('x-tensorzero-provider'), 'spare', 'fell back to the next provider')
    t.match(heard.attempts.find(a => a.providerName === 'big')?.message, /exceeds the response limit of 4194304 bytes/, 'the failed attempt says why')
    t.ok(faults.cutEarly >= 1, 'the oversized answer was cut off, not read to its end')

    const streamed = await post(s, { model: 'tensorzero::model_name::huge_stream_first', messages: user, stream: true })
    t.equal(streamed.status, 200)
    t.match(streamed.text, /data: \{"error"/, 'a stream past the limit after its first chunk ends with an in-stream error')
    t.match(streamed.text, /exceeds the response limit/, 'naming the limit')

    const stream = await client.chat.completions.create({ model: 'tensorzero::model_name::long', messages: user, stream: true })
    let chars = 0
    for await (const c of stream) chars += c.choices[0]?.delta?.content?.length ?? 0
    t.ok(chars > 2 * MiB, 'the whole long stream reached the client')
    const raw = heard.inferences.at(-1)?.modelInferences[0].rawResponse ?? ''
    t.ok(raw.length < 1.1 * MiB, `its stored raw_response is bounded (${raw.length} characters)`)
    t.match(raw, /\[raw_response truncated: the stream passed 1048576 characters\]$/, 'and marked truncated')
  }, { SIDECAR_PROVIDER_RESPONSE_LIMIT_BYTES: String(4 * MiB) })
})

t.test('item 9: a call that waits past the queue deadline for a connection fails that provider clearly', async t => {
  const toml = fakeModel(faults.url, 'held', [['p', 'hold']]) + fakeModel(faults.url, 'busy_first', [['p', 'fine'], ['spare', 'fine']]) +
    fakeModel(shared.url, 'elsewhere', [['p', 'ok']])
  await withSidecar(toml, async s => {
    const heldBefore = faults.held
    const first = post(s, { model: 'tensorzero::model_name::held', messages: user })
    for (let i = 0; i < 500 && faults.held === heldBefore; i++) await new Promise(resolve => setTimeout(resolve, 10))
    t.equal(faults.held, heldBefore + 1, 'the one connection to the fault fake is busy')
    const queued = await post(s, { model: 'tensorzero::model_name::busy_first', messages: user })
    t.equal(queued.status, 500, 'both providers share the busy origin: the model fails')
    t.match(queued.json.error.message, /no connection to http:\/\/127\.0\.0\.1:\d+ became free within 200 ms: all 1 are busy/)
    const other = await post(s, { model: 'tensorzero::model_name::elsewhere', messages: user })
    t.equal(other.status, 200, 'another origin has its own pool')
    faults.release()
    t.equal((await first).status, 200, 'the held call finishes once its upstream answers')
    t.equal((await post(s, { model: 'tensorzero::model_name::busy_first', messages: user })).status, 200, 'the slot was released')
  }, { SIDECAR_PROVIDER_CONNECTIONS: '1', SIDECAR_PROVIDER_QUEUE_TIMEOUT_MS: '200' })
})

t.test('item 10: client mistakes are 400s, before any provider call where possible', async t => {
  const toml = fakeModel(shared.url, 'plain', [['p', 'ok']]) + fakeFunction('two', [['a', 'plain'], ['b', 'plain']])
  await withSidecar(toml, async s => {
    const before = shared.requests.length
    const cases: Array<[string, unknown]> = [
      ['a template name no variant has', { model: 'tensorzero::function_name::two', messages: [{ role: 'user', content: [{ type: 'tensorzero::template', name: 'nope', arguments: {} }] }] }],
      ['a content object where text is expected', { model: 'tensorzero::model_name::plain', messages: [{ role: 'user', content: { topic: 'x' } }] }],
      ['an extra_body pointer without a leading /', { model: 'tensorzero::model_name::plain', messages: user, 'tensorzero::extra_body': [{ pointer: 'temperature', value: 1 }] }],
      ['an extra_headers name that is no header name', { model: 'tensorzero::model_name::plain', messages: user, 'tensorzero::extra_headers': [{ name: 'bad header', value: 'x' }] }],
      ['an extra_headers value with a line break', { model: 'tensorzero::model_name::plain', messages: user, 'tensorzero::extra_headers': [{ name: 'x-a', value: 'a\r\nb: c' }] }],
      ['an extra_headers framing header', { model: 'tensorzero::model_name::plain', messages: user, 'tensorzero::extra_headers': [{ name: 'Transfer-Encoding', value: 'chunked' }] }]
    ]
    for (const [what, body] of cases) {
      const res = await post(s, body)
      t.equal(res.status, 400, `${what}: 400`)
      t.equal(typeof res.json?.error?.message, 'string', `${what}: OpenAI-shaped (${String(res.json?.error?.message).slice(0, 80)})`)
    }
    t.equal(shared.requests.length, before, 'none of them reached a provider')
    const scalar = await post(s, { model: 'tensorzero::function_name::two', messages: user, 'tensorzero::extra_body': [{ pointer: '/model/x', value: 1 }] })
    t.equal(scalar.status, 400, 'a pointer that does not fit the built body fails every variant as the request\'s fault: 400, not 502')
    t.match(scalar.json.error.message, /extra_body pointer `\/model\/x`: `model` is not an object/)
  })
})

t.test('item 11: a 429 passes Retry-After on; timeouts answer as TensorZero answers them', async t => {
  const modelTimeout = 'timeouts = { non_streaming = { total_ms = 150 } }'
  const toml = fakeModel(shared.url, 'limited', [['p', 'rate-limit']]) + fakeFunction('limited_fn', [['v', 'limited']]) +
    fakeModel(shared.url, 'stuck', [['p', 'hang', modelTimeout]]) + fakeFunction('stuck_fn', [['v', 'stuck']]) +
    fakeModel(shared.url, 'stuck_model', [['p', 'hang']]).replace('routing = ["p"]\n', `routing = ["p"]\n${modelTimeout}\n`) +
    fakeModel(shared.url, 'hangs', [['p', 'hang']]) + fakeFunction('slow_variant_fn', [['v', 'hangs', modelTimeout]])
  await withSidecar(toml, async s => {
    for (const model of ['tensorzero::model_name::limited', 'tensorzero::function_name::limited_fn']) {
      const res = await post(s, { model, messages: user })
      t.equal(res.status, 429, `${model}: 429`)
      t.equal(res.headers.get('retry-after'), '1', `${model}: the upstream's Retry-After`)
    }
    // A provider's timeout is one provider failing: all providers failed is a 500, all variants failed a 502.
    const provider = await post(s, { model: 'tensorzero::model_name::stuck', messages: user })
    t.equal(provider.status, 500, 'a provider timeout under a model target: all providers failed, 500')
    t.match(provider.json.error.message, /provider `p` timed out after 150 ms/)
    t.equal((await post(s, { model: 'tensorzero::function_name::stuck_fn', messages: user })).status, 502, 'under a function: all variants failed, 502')
    // A model's or a pinned variant's own limit answers alone: 408.
    const model = await post(s, { model: 'tensorzero::model_name::stuck_model', messages: user })
    t.equal(model.status, 408, 'a model timeout is a 408')
    t.match(model.json.error.message, /model `stuck_model` timed out after 150 ms/)
    const pinned = await post(s, { model: 'tensorzero::function_name::slow_variant_fn', messages: user, 'tensorzero::variant_name': 'v' })
    t.equal(pinned.status, 408, 'a pinned variant\'s timeout is a 408')
    t.equal((await post(s, { model: 'tensorzero::function_name::slow_variant_fn', messages: user })).status, 502, 'unpinned, its timeout is one variant failing: 502')
  })
})
