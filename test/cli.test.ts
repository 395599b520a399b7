// The `tz-sidecar` command as a user runs it: `validate` output and exit codes, the offline quickstart answering
// through its fallback, and SIGTERM letting in-flight requests and streams finish before a clean exit.
import t from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { runCli, startCli } from './helpers/process.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'

let dir: string
t.before(async () => { dir = await mkdtemp(path.join(tmpdir(), 'tz-cli-')) })
t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })

t.test('validate accepts the quickstart config and exits 0', async t => {
  const r = await runCli(['validate', '--config-file', 'config/quickstart/tensorzero.toml', '--sidecar-config', 'config/quickstart/sidecar.toml'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /config is valid: 1 functions/)
})

t.test('validate prints every problem as file:line:col and exits 1', async t => {
  const file = path.join(dir, 'broken.toml')
  await writeFile(file, [
    '[models.m]',
    'routing = ["a", "ghost"]',
    '[models.m.providers.a]',
    'type = "ollama"',
    'model_name = "x"',
    '',
    '[functions.f]',
    'type = "chat"',
    '[functions.f.variants.v]',
    'type = "chat_completion"',
    'model = "nowhere"',
    'weight = -1',
    ''
  ].join('\n'))
  const r = await runCli(['validate', '--config-file', file])
  t.equal(r.code, 1)
  const lines = r.stderr.trim().split('\n').filter(l => !l.includes('warning:'))
  t.ok(lines.length >= 4, `several errors at once:\n${r.stderr}`)
  for (const line of lines) t.match(line, /^\/.+broken\.toml:\d+:\d+: .+/, 'file:line:col: message')
  t.match(r.stderr, /broken\.toml:2:\d+: .*ghost/, 'the routing entry naming no provider')
  t.match(r.stderr, /broken\.toml:4:\d+: .*ollama/, 'the unknown provider type')
  t.match(r.stderr, /broken\.toml:11:\d+: .*nowhere/, 'the variant naming no model')
  t.match(r.stderr, /broken\.toml:12:\d+: .*weight/, 'the negative weight')
})

t.test('validate reports a TOML syntax error with its position', async t => {
  const file = path.join(dir, 'syntax.toml')
  await writeFile(file, '[functions.f]\ntype = "chat"\nvariants = {\n')
  const r = await runCli(['validate', '--config-file', file])
  t.equal(r.code, 1)
  t.match(r.stderr, /syntax\.toml:\d+:\d+: /)
})

t.test('start-up failures are one clear line and exit 1: a bad bind address, a port in use', async t => {
  const bad = await runCli(['serve', '--config-file', 'config/quickstart/tensorzero.toml', '--bind-address', 'nonsense'])
  t.equal(bad.code, 1)
  t.equal(bad.stderr, 'tz-sidecar: invalid bind address `nonsense`: expected host:port\n')
  const first = await startCli(['--config-file', 'config/quickstart/tensorzero.toml'])
  try {
    const port = new URL(first.url).port
    const second = await runCli(['serve', '--config-file', 'config/quickstart/tensorzero.toml', '--bind-address', `127.0.0.1:${port}`])
    t.equal(second.code, 1)
    t.match(second.stderr, /^tz-sidecar: listen EADDRINUSE/m)
  } finally {
    first.child.kill('SIGTERM')
    await first.exited
  }
})

t.test('the offline quickstart answers through its dummy fallback when Ollama is not there', async t => {
  const s = await startCli(['--config-file', 'config/quickstart/tensorzero.toml', '--sidecar-config', 'config/quickstart/sidecar.toml'])
  try {
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 })
    const { data, response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Is anyone there?' }] }).withResponse()
    t.equal(data.choices[0].message.content, 'Is anyone there?', 'the dummy `echo` provider answered')
    t.equal(response.headers.get('x-tensorzero-provider'), 'offline')
    const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' })
    t.ok(emb.data[0].embedding.length > 0)
  } finally {
    s.child.kill('SIGTERM')
    await s.exited
  }
})

t.test('SIGTERM: in-flight requests and streams finish, probes answer 503 draining, new work is refused, exit code 0', async t => {
  const fake = await startFakeOpenAI()
  const file = path.join(dir, 'slow.toml')
  await writeFile(file, `
[models.slow]
routing = ["p"]
[models.slow.providers.p]
type = "openai"
model_name = "slow-3000"
api_base = "${fake.url}/v1/"
api_key_location = "none"
[functions.f]
type = "chat"
[functions.f.variants.v]
type = "chat_completion"
model = "slow"
`)
  const s = await startCli(['--config-file', file])
  try {
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'x', maxRetries: 0 })
    const plain = client.chat.completions.create({ model: 'f', messages: [{ role: 'user', content: 'a' }] })
    const streamed = (async () => {
      const stream = await client.chat.completions.create({ model: 'f', messages: [{ role: 'user', content: 'b' }], stream: true })
      let text = ''
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? ''
      return text
    })()
    while (fake.requests.length < 2) await new Promise(resolve => setTimeout(resolve, 20))
    s.child.kill('SIGTERM')
    // Draining keeps the listener for probes (issue 14): /status turns 503 `draining`, new inference work is refused.
    let status = await fetch(`${s.url}/status`)
    for (let i = 0; i < 200 && status.status !== 503; i++) {
      await new Promise(resolve => setTimeout(resolve, 25))
      status = await fetch(`${s.url}/status`)
    }
    t.equal(status.status, 503, 'probes are answered while draining: /status is 503')
    t.equal((await status.json() as { status: string }).status, 'draining')
    const refused = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'f', messages: [{ role: 'user', content: 'late' }] }) })
    t.equal(refused.status, 503, 'new inference work is refused while draining')
    t.equal((await plain).choices[0].message.content, 'Hello from slow-3000', 'the in-flight request finished')
    t.equal(await streamed, 'Hello from the fake upstream', 'the in-flight stream finished')
    const exit = await s.exited
    t.equal(exit.code, 0, 'clean exit')
    t.match(s.output(), /"msg":"stopped"/)
  } finally {
    s.child.kill('SIGKILL')
    await fake.close()
  }
})
