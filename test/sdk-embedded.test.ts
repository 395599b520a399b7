// Embedded mode: `patchOpenAI(client, { embedded: { configFile, sidecarConfig } })` serves the client from a gateway
// inside this process, with the real `openai` package at majors 5, 6 and 7. The client's `fetch` option records what
// goes on the wire (and can answer an attempt with a 500 to make the SDK retry); the embedded sidecar's answers show
// what it did with it. Also: `sdk-patch` alone loads no server code, and an embedded gateway does not keep a script alive.
import { mkdtempSync } from 'node:fs'
import t from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import OpenAI5 from 'openai-v5'
import OpenAI6 from 'openai-v6'
import OpenAI7 from 'openai'
import { v7 as uuidv7 } from 'uuid'
import { patchOpenAI, withEpisode, isEpisodeId, episodeIdOf, inferenceIdOf, PatchError } from '../sdk-patch/index.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { testToml, testSidecarToml } from './helpers/sdk-config.ts'

// Rows of these embedded gateways wait in a spool of the test's own, not the per-service default under /tmp.
process.env.SIDECAR_SPOOL_DIR ??= mkdtempSync(path.join(tmpdir(), 'tz-sdk-spool-'))

const run = promisify(execFile)
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

let fake: FakeOpenAI
let dir: string
let configFile: string
let sidecarConfig: string
t.before(async () => {
  fake = await startFakeOpenAI()
  dir = await mkdtemp(path.join(tmpdir(), 'tz-sdk-embedded-'))
  configFile = path.join(dir, 'tensorzero.toml')
  sidecarConfig = path.join(dir, 'sidecar.toml')
  await writeFile(configFile, testToml(fake.url))
  await writeFile(sidecarConfig, testSidecarToml(fake.url))
})
t.teardown(async () => {
  await fake.close()
  await rm(dir, { recursive: true, force: true })
})

interface Sent { url: string; headers: Headers; body: any }
/** A `fetch` for the client that records each attempt and can fail the next ones with a 500. */
function recordingFetch (): { fetch: (url: any, init?: any) => Promise<Response>; sent: Sent[]; failNext: (n: number) => void } {
  const sent: Sent[] = []
  let failures = 0
  return {
    sent,
    failNext: n => { failures += n },
    fetch: async (url, init) => {
      let body: any
      try { body = JSON.parse(init?.body) } catch { body = undefined }
      sent.push({ url: String(url), headers: new Headers(init?.headers), body })
      if (failures > 0) {
        failures--
        return new Response(JSON.stringify({ error: { message: 'injected' } }), { status: 500, headers: { 'content-type': 'application/json' } })
      }
      return await fetch(url, init)
    }
  }
}

const messages = [{ role: 'user' as const, content: 'hi' }]
const episodeOf = (s: Sent): { body: unknown; header: unknown } => ({ body: s.body?.['tensorzero::episode_id'], header: s.headers.get('x-tensorzero-episode-id') ?? undefined })

type Make = (o: { fetch: (url: any, init?: any) => Promise<Response>; maxRetries?: number }) => OpenAI7
const MAJORS: Array<{ major: number; make: Make }> = [
  { major: 5, make: o => new OpenAI5({ apiKey: 'unused', ...o }) as unknown as OpenAI7 },
  { major: 6, make: o => new OpenAI6({ apiKey: 'unused', ...o }) as unknown as OpenAI7 },
  { major: 7, make: o => new OpenAI7({ apiKey: 'unused', ...o }) }
]

for (const { major, make } of MAJORS) {
  t.test(`openai v${major}, embedded gateway`, async t => {
    const rec = recordingFetch()
    const client = patchOpenAI(make({ fetch: rec.fetch, maxRetries: 2 }), { embedded: { configFile, sidecarConfig } })
    t.teardown(() => client.tensorzero.close())
    t.equal(client.tensorzero.embedded, true)
    await client.tensorzero.ready()

    t.test('calls go to the in-process gateway, with the episode in body and header', async t => {
      const upstreamBefore = fake.requests.length
      const c = await client.chat.completions.create({ model: 'gpt-4o-mini', messages })
      const s = rec.sent.at(-1) as Sent
      t.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions$/, 'a loopback port of this process')
      t.ok(isEpisodeId(episodeOf(s).body))
      t.equal(episodeOf(s).header, episodeOf(s).body)
      t.equal(episodeIdOf(c), episodeOf(s).body, 'the gateway ran it in the episode sent')
      t.ok(isEpisodeId(inferenceIdOf(c)))
      t.equal(c.choices[0].message.content, 'Hello from ok', 'routed by the config: function agent → fake provider `ok`')
      t.equal(fake.requests.length, upstreamBefore + 1, 'the provider was called once')
      t.equal(fake.requests.at(-1)?.headers.authorization, undefined, 'the client\'s key is not sent to the provider')
    })

    t.test('scopes, Promise.all and streams', async t => {
      await withEpisode(async id => {
        const all = await Promise.all([1, 2, 3].map(() => client.chat.completions.create({ model: 'gpt-4o-mini', messages })))
        t.same(all.map(episodeIdOf), [id, id, id], 'Promise.all inside a scope: one episode')
        const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true })
        let text = ''
        for await (const chunk of stream) {
          t.equal(episodeIdOf(chunk), id)
          text += chunk.choices[0]?.delta?.content ?? ''
        }
        t.equal(text, 'Hello from the fake upstream')
        const final = await client.chat.completions.stream({ model: 'gpt-4o-mini', messages }).finalChatCompletion()
        t.equal(episodeIdOf(final), id, 'chat.completions.stream()')
        const { response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse()
        t.equal(response.headers.get('x-tensorzero-episode-id'), id, '.withResponse()')
      })
      const [a, b] = await Promise.all([
        withEpisode(() => client.chat.completions.create({ model: 'gpt-4o-mini', messages })),
        withEpisode(() => client.chat.completions.create({ model: 'gpt-4o-mini', messages }))
      ])
      t.not(episodeIdOf(a), episodeIdOf(b), 'concurrent scopes stay apart')
    })

    t.test('a 500 retried by the SDK keeps its episode id', async t => {
      rec.failNext(1)
      const before = rec.sent.length
      const c = await client.chat.completions.create({ model: 'gpt-4o-mini', messages })
      const attempts = rec.sent.slice(before)
      t.equal(attempts.length, 2)
      t.same(episodeOf(attempts[1]), episodeOf(attempts[0]), 'same id in body and header on the retry')
      t.equal(episodeIdOf(c), episodeOf(attempts[0]).body)
    })

    t.test('embeddings are served by the embedded gateway', async t => {
      const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'abcd', encoding_format: 'float' })
      t.same(e.data[0].embedding, [4, 0.5, -0.25])
      t.ok(isEpisodeId(episodeOf(rec.sent.at(-1) as Sent).body))
    })

    t.test('feedback reaches the embedded gateway\'s /v1/feedback', async t => {
      const c = await client.chat.completions.create({ model: 'gpt-4o-mini', messages })
      const reply = await client.feedback({ metric_name: 'rating', value: 1, inference_id: inferenceIdOf(c) as string }).catch((e: unknown) => e)
      t.match(rec.sent.at(-1)?.url, /\/v1\/feedback$/)
      t.ok(isEpisodeId((reply as { feedback_id?: string }).feedback_id), 'feedback accepted by the embedded gateway\'s handler')
    })

    t.test('the loopback port serves only this client: other local callers need the per-process secret', async t => {
      const base = (rec.sent.at(-1) as Sent).url.replace(/\/v1\/.*$/, '')
      const anonymous = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages }) })
      t.equal(anonymous.status, 401)
      const guessed = await fetch(`${base}/v1/models`, { headers: { authorization: 'Bearer unused' } })
      t.equal(guessed.status, 401, 'the client\'s own apiKey is not the secret')
      t.equal((await fetch(`${base}/health`)).status, 200, '/health stays open')
    })

    t.test('withOptions clients share the gateway; close() releases it', async t => {
      const derived = client.withOptions({ timeout: 5000 })
      const c = await withEpisode(id => derived.chat.completions.create({ model: 'gpt-4o-mini', messages }).then(c => ({ c, id })))
      t.equal(episodeIdOf(c.c), c.id)
      const base = (rec.sent.at(-1) as Sent).url.replace(/\/v1\/.*$/, '')
      await client.tensorzero.close()
      await client.tensorzero.close() // idempotent
      await t.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages }), PatchError, 'calls after close are refused')
      await t.rejects(derived.chat.completions.create({ model: 'gpt-4o-mini', messages }), /closed/, 'on derived clients too')
      await t.rejects(fetch(`${base}/health`), 'the port is closed')
    })
  })
}

t.test('a bad config: ready() and every call reject with the config errors (file:line:col)', async t => {
  const bad = path.join(dir, 'bad.toml')
  await writeFile(bad, '[functions.f]\ntype = "chat"\n[functions.f.variants.v]\ntype = "chat_completion"\nmodel = "no_such_model"\n')
  const client = patchOpenAI(new OpenAI7({ apiKey: 'unused', maxRetries: 0 }), { embedded: { configFile: bad } })
  await t.rejects(client.tensorzero.ready(), { name: 'ConfigError', message: /bad\.toml:\d+:\d+/ })
  await t.rejects(client.chat.completions.create({ model: 'f', messages }), { name: 'ConfigError' })
  await client.tensorzero.close()
  const missing = patchOpenAI(new OpenAI7({ apiKey: 'unused' }), { embedded: { configFile: path.join(dir, 'nope.toml') } })
  await t.rejects(missing.tensorzero.ready(), /no config file matches/)
  t.throws(() => patchOpenAI(new OpenAI7({ apiKey: 'unused' }), { embedded: {} as never }), /embedded.configFile is required/)
  t.throws(() => patchOpenAI(new OpenAI7({ apiKey: 'unused' }), { embedded: { configFile, clickhouseUrl: 'clickhouse:8123' } }), /http\(s\):\/\/ URL/)
})

t.test('embedded logs: an empty LOG_LEVEL means unset (warn and above on stderr), a set one is honoured', async t => {
  /** The levels of the lines an embedded gateway wrote to stderr while serving one call. */
  const levelsLogged = async (LOG_LEVEL: string | undefined): Promise<string[]> => {
    const lines: string[] = []
    const write = process.stderr.write
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      lines.push(chunk.toString())
      return write.call(process.stderr, chunk, ...rest)
    }) as typeof process.stderr.write
    const env = { ...process.env, LOG_LEVEL }
    if (LOG_LEVEL === undefined) delete env.LOG_LEVEL
    const client = patchOpenAI(new OpenAI7({ apiKey: 'unused', maxRetries: 0 }), { embedded: { configFile, sidecarConfig, env } })
    try {
      await client.tensorzero.ready()
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages })
    } finally {
      await client.tensorzero.close()
      process.stderr.write = write
    }
    return lines.flatMap(l => l.split('\n')).filter(l => l.startsWith('{')).map(l => (JSON.parse(l) as { level: string }).level)
  }
  t.ok((await levelsLogged('info')).includes('info'), 'LOG_LEVEL=info: info lines (config loaded, the request) are written')
  t.same((await levelsLogged('')).filter(l => l === 'info' || l === 'debug'), [], 'LOG_LEVEL empty: nothing below warn')
  t.same((await levelsLogged(undefined)).filter(l => l === 'info' || l === 'debug'), [], 'LOG_LEVEL unset: nothing below warn')
})

t.test('a remote client: ready() and close() have nothing to do', async t => {
  const client = patchOpenAI(new OpenAI7({ apiKey: 'k', baseURL: 'http://127.0.0.1:1/v1' }))
  await client.tensorzero.ready()
  await client.tensorzero.close()
  t.equal(client.baseURL, 'http://127.0.0.1:1/v1', 'baseURL untouched')
})

t.test('importing sdk-patch loads no server code; embedded mode loads it on demand', async t => {
  // A child process records every module it loads (module.registerHooks, Node ≥ 22.15).
  const script = `
    import { registerHooks } from 'node:module'
    const loaded = []
    registerHooks({ load (url, context, next) { loaded.push(url); return next(url, context) } })
    const mod = await import(${JSON.stringify(path.join(ROOT, 'sdk-patch/index.ts'))})
    const ours = () => loaded.filter(u => u.startsWith('file://') && !u.includes('/node_modules/')).map(u => u.slice(${JSON.stringify('file://' + ROOT)}.length))
    const before = ours()
    const { default: OpenAI } = await import('openai')
    const client = mod.patchOpenAI(new OpenAI({ apiKey: 'x' }), { embedded: { configFile: process.argv[1], sidecarConfig: process.argv[2] } })
    await client.tensorzero.ready()
    const c = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
    console.log(JSON.stringify({ before, after: ours(), episode: c.episode_id }))
    // No close(): the embedded server must not keep this process alive.
  `
  // A process kept alive by the embedded server would run until killed: the limit only has to be far above a slow start.
  const limitMs = 60_000
  const started = Date.now()
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, configFile, sidecarConfig], { cwd: ROOT, timeout: limitMs })
  const { before, after, episode } = JSON.parse(stdout) as { before: string[]; after: string[]; episode: string }
  t.ok(before.every(f => f.startsWith('/sdk-patch/')), `only sdk-patch modules at import: ${before.join(', ')}`)
  t.notOk(before.some(f => f.startsWith('/src/') || f.startsWith('/sidecar/')), 'no src/ or sidecar/ module')
  t.ok(after.includes('/sidecar/server.ts'), 'embedded mode imported the server')
  t.ok(isEpisodeId(episode), 'the child\'s call was served')
  t.ok(Date.now() - started < limitMs, 'the child exited by itself without close()')
})

t.test('one scope covers patched clients of different majors', async t => {
  const rec5 = recordingFetch()
  const rec7 = recordingFetch()
  const c5 = patchOpenAI(new OpenAI5({ apiKey: 'unused', fetch: rec5.fetch }), { embedded: { configFile, sidecarConfig } })
  const c7 = patchOpenAI(new OpenAI7({ apiKey: 'unused', fetch: rec7.fetch }), { embedded: { configFile, sidecarConfig } })
  t.teardown(async () => { await c5.tensorzero.close(); await c7.tensorzero.close() })
  const id = uuidv7()
  await withEpisode(id, async () => {
    await c5.chat.completions.create({ model: 'gpt-4o-mini', messages })
    await c7.chat.completions.create({ model: 'gpt-4o-mini', messages })
  })
  t.equal(episodeOf(rec5.sent[0]).body, id)
  t.equal(episodeOf(rec7.sent[0]).body, id, 'one episode across two SDK majors (one scope store per process)')
})
