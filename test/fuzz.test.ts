// Seeded fuzz (issue 14): random and mutated JSON bodies for chat completions, embeddings and feedback against a real
// `tz-sidecar` process whose provider is a loopback fake. Pins: no crash, no hang (every request answered within its
// bound), no 5xx for a client's mistake, and every error is OpenAI-shaped JSON. The same seed gives the same bodies:
// FUZZ_SEED picks another sequence, FUZZ_BODIES runs more (CI: 2000).
import t from 'tap'
import path from 'node:path'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import { startCli } from './helpers/process.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'

const SEED = Number(process.env.FUZZ_SEED ?? 14)
const BODIES = Number(process.env.FUZZ_BODIES ?? 2000)
const CONCURRENCY = 8
/** One request's bound: far above what any answer from a loopback fake takes, well below the test's timeout. */
const REQUEST_TIMEOUT_MS = 15_000

/** mulberry32: small, fast and the same on every machine. */
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const random = prng(SEED)
const int = (n: number): number => Math.floor(random() * n)
const pick = <T>(items: readonly T[]): T => items[int(items.length)]

/** Names the config knows, names it does not, and the shapes `model` can take. No `provider::model` shorthand of a
 * cloud type: the fuzz must never leave loopback. */
const MODELS = ['gpt-4o-mini', 'tensorzero::function_name::assistant', 'tensorzero::function_name::assistant::variant_name::v',
  'tensorzero::function_name::assistant::variant_name::ghost', 'tensorzero::model_name::chat_ok', 'tensorzero::function_name::json_fn',
  'tensorzero::function_name::templated', 'tensorzero::function_name::nope', 'tensorzero::model_name::', 'tensorzero::', 'unknown-model',
  'text-embedding-3-small', 'tensorzero::embedding_model_name::embed_ok', 'tensorzero::embedding_model_name::nope', '', ' ', 'x'.repeat(3000)]
const STRINGS = ['', 'hi', 'user', 'assistant', 'system', 'tool', 'text', 'image_url', 'function', 'auto', 'none', 'required', 'json_object',
  'json_schema', '\u0000', '\uD83D\uDE00', '"}', '{{ x }}', '{% if %}', '__proto__', 'constructor', 'NaN', '/', '/a/b', '-1', 'é'.repeat(50)]
const KEYS = ['model', 'messages', 'role', 'content', 'type', 'text', 'name', 'tool_calls', 'tool_call_id', 'tools', 'function', 'parameters',
  'arguments', 'id', 'tool_choice', 'stream', 'stream_options', 'include_usage', 'temperature', 'max_tokens', 'max_completion_tokens', 'top_p', 'seed',
  'stop', 'n', 'response_format', 'json_schema', 'schema', 'parallel_tool_calls', 'input', 'encoding_format', 'dimensions',
  'tensorzero::episode_id', 'tensorzero::tags', 'tensorzero::extra_body', 'tensorzero::extra_headers', 'tensorzero::credentials',
  'tensorzero::dryrun', 'tensorzero::variant_name', 'pointer', 'value', 'delete', 'metric_name', 'inference_id', 'episode_id', 'tags',
  'dryrun', 'internal', '__proto__', 'constructor', 'prototype']
const NUMBERS = [0, -1, 1, 0.5, 2, 1e308, -1e308, 2 ** 53 + 1, 1e-320, 4096, 1e9]

function randomString (): string {
  if (random() < 0.6) return pick(STRINGS)
  const alphabet = 'abcxyz019 -_./{}[]"\\\n\t:é'
  let s = ''
  for (let i = int(24); i > 0; i--) s += alphabet[int(alphabet.length)]
  return s.replaceAll('::', ':')
}

function randomValue (depth = 0): unknown {
  const r = random()
  if (r < 0.1) return null
  if (r < 0.2) return random() < 0.5
  if (r < 0.35) return pick(NUMBERS)
  if (r < 0.6 || depth >= 4) return randomString()
  if (r < 0.8) return Array.from({ length: int(4) }, () => randomValue(depth + 1))
  const o: Record<string, unknown> = {}
  for (let i = int(4); i > 0; i--) o[pick(KEYS)] = randomValue(depth + 1)
  return o
}

const UUID = '0192e8b0-7c1a-7d3e-9f00-123456789abc'

/** Valid bodies of each route, the seeds the mutations start from. */
const VALID: Record<string, Array<() => unknown>> = {
  '/v1/chat/completions': [
    () => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    () => ({ model: 'tensorzero::model_name::chat_ok', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }], stream: true, stream_options: { include_usage: true } }),
    () => ({ model: 'tensorzero::function_name::templated', messages: [{ role: 'system', content: [{ type: 'text', tensorzero_arguments: { topic: 'x' } }] }, { role: 'user', content: 'hi' }] }),
    () => ({ model: 'tensorzero::function_name::json_fn', messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_object' } }),
    () => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] }, { role: 'tool', tool_call_id: 'c1', content: 'sunny' }], tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }], tool_choice: 'auto' }),
    () => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], 'tensorzero::extra_body': [{ pointer: '/temperature', value: 0.1 }], 'tensorzero::extra_headers': [{ name: 'x-a', value: 'b' }], 'tensorzero::tags': { a: 'b' }, 'tensorzero::episode_id': UUID })
  ],
  '/v1/embeddings': [
    () => ({ model: 'text-embedding-3-small', input: 'hello' }),
    () => ({ model: 'tensorzero::embedding_model_name::embed_ok', input: ['a', 'b'], encoding_format: 'float' })
  ],
  '/feedback': [
    () => ({ metric_name: 'thumbs', inference_id: UUID, value: true }),
    () => ({ metric_name: 'score', episode_id: UUID, value: 0.5, tags: { a: 'b' } }),
    () => ({ metric_name: 'comment', inference_id: UUID, value: 'nice', dryrun: true })
  ]
}

/** A place inside a JSON value: its parent and key, picked at random among all of them. */
function places (v: unknown, out: Array<{ parent: any; key: string | number }> = []): Array<{ parent: any; key: string | number }> {
  if (v !== null && typeof v === 'object') {
    for (const key of Object.keys(v)) {
      const k = Array.isArray(v) ? Number(key) : key
      out.push({ parent: v, key: k })
      places((v as any)[k], out)
    }
  }
  return out
}

/** One to three edits at random places: a key removed, a value replaced, a key added, a value wrapped in an array. */
function mutate (body: any): unknown {
  for (let n = 1 + int(3); n > 0; n--) {
    const all = places(body)
    const r = random()
    if (all.length === 0 || r < 0.05) return randomValue()
    const { parent, key } = pick(all)
    if (r < 0.3) {
      if (Array.isArray(parent)) parent.splice(key as number, 1)
      else delete parent[key]
    } else if (r < 0.7) {
      parent[key] = randomValue(2)
    } else if (r < 0.85 && !Array.isArray(parent)) {
      parent[pick(KEYS)] = randomValue(2)
    } else {
      parent[key] = [parent[key]]
    }
  }
  return body
}

/** Keeps the fuzz on loopback: a `model` that could name a cloud shorthand is swapped for a known name. */
function onLoopback (body: unknown): unknown {
  if (body !== null && typeof body === 'object' && typeof (body as any).model === 'string') {
    const model: string = (body as any).model
    if (model.includes('::') && !MODELS.includes(model)) (body as any).model = pick(MODELS)
  }
  return body
}

interface Case { route: string; text: string; contentType: string }

function nextCase (): Case {
  const route = pick(Object.keys(VALID))
  const r = random()
  const contentType = random() < 0.95 ? 'application/json' : pick(['text/plain', 'application/x-www-form-urlencoded', ''])
  if (r < 0.1) {
    // Not JSON: a valid body cut short, or nothing.
    const full = JSON.stringify(pick(VALID[route])())
    return { route, text: full.slice(0, int(full.length)), contentType }
  }
  const body = r < 0.25 ? randomValue() : r < 0.35 ? pick(VALID[route])() : mutate(pick(VALID[route])())
  return { route, text: JSON.stringify(onLoopback(body)) ?? 'null', contentType }
}

interface Finding { route: string; body: string; status: number; message: string }

/** Statuses seen per route, so a run shows it reached the providers as well as the validators. */
const seen = new Map<string, number>()

/** What the sidecar answers for one case: a finding when it breaks a rule, else undefined. */
async function probe (url: string, c: Case): Promise<Finding | undefined> {
  const headers: Record<string, string> = c.contentType === '' ? {} : { 'content-type': c.contentType }
  const finding = (status: number, message: string): Finding => ({ route: c.route, body: c.text.slice(0, 400), status, message })
  let res: Response
  let text: string
  try {
    res = await fetch(url + c.route, { method: 'POST', headers, body: c.text, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
    text = await res.text()
  } catch (err) {
    return finding(0, `no answer: ${(err as Error).message}`)
  }
  const key = `${c.route} ${res.status}`
  seen.set(key, (seen.get(key) ?? 0) + 1)
  if (res.status < 400) return undefined
  let parsed: any
  try { parsed = JSON.parse(text) } catch { return finding(res.status, `error body is not JSON: ${text.slice(0, 200)}`) }
  if (typeof parsed?.error?.message !== 'string') return finding(res.status, `error body is not OpenAI-shaped: ${text.slice(0, 200)}`)
  if (res.status >= 500) return finding(res.status, parsed.error.message.slice(0, 300))
  return undefined
}

t.test(`${BODIES} seeded bodies (seed ${SEED}): no crash, no hang, no 5xx for a client mistake, every error OpenAI-shaped`, async t => {
  const fake = await startFakeOpenAI()
  t.teardown(async () => { await fake.close() })
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-fuzz-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const toml = fakeModel(fake.url, 'chat_ok', [['p', 'ok']]) +
    fakeModel(fake.url, 'embed_ok', [['p', 'ok']], 'embedding_models') +
    fakeFunction('assistant', [['v', 'chat_ok']]) +
    fakeFunction('json_fn', [['v', 'chat_ok', 'json_mode = "strict"']], 'json') +
    fakeFunction('templated', [['v', 'chat_ok', 'templates.system.path = "system.minijinja"']]) +
    '[functions.templated.schemas.system]\npath = "system.json"\n' +
    '[tools.get_weather]\ndescription = "weather"\nparameters = "weather.json"\n' +
    '[metrics.thumbs]\ntype = "boolean"\noptimize = "max"\nlevel = "inference"\n' +
    '[metrics.score]\ntype = "float"\noptimize = "max"\nlevel = "episode"\n'
  await writeFile(path.join(dir, 'tensorzero.toml'), toml)
  await writeFile(path.join(dir, 'system.minijinja'), 'Talk about {{ topic }}.')
  await writeFile(path.join(dir, 'system.json'), JSON.stringify({ type: 'object', properties: { topic: { type: 'string' } }, required: ['topic'] }))
  await writeFile(path.join(dir, 'weather.json'), JSON.stringify({ type: 'object', properties: { city: { type: 'string' } } }))
  await writeFile(path.join(dir, 'sidecar.toml'), 'service = "fuzz"\nunmatched = "reject"\n[routes]\n"gpt-4o-mini" = "tensorzero::function_name::assistant"\n"text-embedding-3-small" = { embedding_model = "embed_ok" }\n')
  const proc = await startCli(['--config-file', path.join(dir, 'tensorzero.toml'), '--sidecar-config', path.join(dir, 'sidecar.toml')])
  t.teardown(async () => { proc.child.kill('SIGKILL'); await proc.exited })
  let exited = false
  void proc.exited.then(() => { exited = true })

  const cases = Array.from({ length: BODIES }, nextCase)
  const findings: Finding[] = []
  let next = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < cases.length && !exited) {
      const found = await probe(proc.url, cases[next++])
      if (found !== undefined) findings.push(found)
    }
  }))

  t.comment([...seen].sort().map(([k, n]) => `${k}: ${n}`).join(', '))
  for (const route of Object.keys(VALID)) {
    t.ok([...seen.keys()].some(k => k === `${route} 200`), `some ${route} bodies were served, not only refused`)
  }
  t.notOk(exited, 'the sidecar did not crash', { output: proc.output().slice(-2000) })
  const health = await fetch(`${proc.url}/health`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }).catch(() => undefined)
  t.equal(health?.status, 200, 'and still answers /health')
  t.same(findings.filter(f => f.status === 0), [], 'every request was answered within its bound')
  t.same(findings.filter(f => f.status !== 0 && f.status < 500), [], 'every error is OpenAI-shaped JSON')
  t.same(findings.filter(f => f.status >= 500), [], 'no 5xx: the fake provider always answers, so any 5xx is a client mistake answered as a server error')
})
