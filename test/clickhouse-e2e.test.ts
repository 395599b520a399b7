// End to end through the `tz-sidecar` process and a real ClickHouse engine (chdb behind a loopback HTTP front):
// inferences made with the `openai` client land in TensorZero's tables, feedback through /feedback too, and a
// sidecar killed with SIGKILL mid-load ships every completed inference after a restart, each exactly once.
import t from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { v7 as uuidv7 } from 'uuid'
import { startChdbServer, startFaultProxy } from './helpers/chdb-server.ts'
import type { ChdbServer } from './helpers/chdb-server.ts'
import { startCli, runCli } from './helpers/process.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { waitFor } from './helpers/wait.ts'

let ch: ChdbServer
let fake: FakeOpenAI
let dir: string
let configFile: string
let sidecarFile: string

t.before(async () => {
  ch = await startChdbServer()
  fake = await startFakeOpenAI()
  dir = await mkdtemp(path.join(tmpdir(), 'tz-ch-e2e-'))
  configFile = path.join(dir, 'tensorzero.toml')
  sidecarFile = path.join(dir, 'sidecar.toml')
  await writeFile(configFile, `
[gateway.observability.batch_writes]
flush_interval_ms = 50
max_rows = 100
${fakeModel(fake.url, 'gpt', [['upstream', 'ok']])}
${fakeFunction('agent', [['main', 'gpt', 'temperature = 0.5']])}

[functions.extract]
type = "json"
[functions.extract.variants.v]
type = "chat_completion"
model = "dummy::json"

[metrics.task_success]
type = "boolean"
optimize = "max"
level = "episode"

[metrics.rating]
type = "float"
optimize = "max"
level = "inference"
`)
  await writeFile(sidecarFile, 'service = "agent-zero"\n[routes]\n"gpt-4o-mini" = "tensorzero::function_name::agent"\n')
})

t.teardown(async () => {
  await fake.close()
  await ch.close()
  await rm(dir, { recursive: true, force: true })
})

const user = [{ role: 'user' as const, content: 'Hello?' }]

t.test('`tz-sidecar migrate` creates the schema in a new database, then finds it all there (idempotent)', async t => {
  const url = ch.url.replace(/\/tensorzero$/, '/tz_cli_migrate')
  const first = await runCli(['migrate', '--create-database'], { TENSORZERO_CLICKHOUSE_URL: url })
  t.equal(first.code, 0, first.stderr)
  const report = JSON.parse(first.stdout)
  t.equal(report.managedBy, 'sidecar')
  t.ok(report.created.includes('ChatInference') && report.created.includes('ModelCallsFlat'), 'tables and the flat view')
  const again = JSON.parse((await runCli(['migrate'], { TENSORZERO_CLICKHOUSE_URL: url })).stdout)
  t.same(again.created, [], 'nothing the second time')
  const down = await runCli(['migrate'], { TENSORZERO_CLICKHOUSE_URL: 'http://u:pw-secret@127.0.0.1:1/db' })
  t.equal(down.code, 1)
  t.match(down.stderr, /^migrate failed against http:\/\/u:\*\*\*@127\.0\.0\.1:1\/db: .*ECONNREFUSED/)
  t.notMatch(down.stderr, /pw-secret/, 'the password is not printed')
  const missing = await runCli(['migrate'], { TENSORZERO_CLICKHOUSE_URL: '' })
  t.equal(missing.code, 2)
  t.match(missing.stderr, /TENSORZERO_CLICKHOUSE_URL/)
})

t.test('a database name that does not exist beside a TensorZero one: migrate refuses without --create-database, serve warns naming both', async t => {
  const real = ch.url.replace(/\/tensorzero$/, '/tz_typo_real')
  const made = await runCli(['migrate', '--create-database'], { TENSORZERO_CLICKHOUSE_URL: real })
  t.equal(made.code, 0, made.stderr)
  const typo = ch.url.replace(/\/tensorzero$/, '/tz_typo_rea')
  const refused = await runCli(['migrate'], { TENSORZERO_CLICKHOUSE_URL: typo })
  t.equal(refused.code, 1)
  t.equal(refused.stderr.trim().split('\n').length, 1, 'one line')
  t.match(refused.stderr, /database `tz_typo_rea` does not exist \(TensorZero's tables are in .*`tz_typo_real`.*: check the URL's path\); pass --create-database to create it/)
  const fresh = await runCli(['migrate'], { TENSORZERO_CLICKHOUSE_URL: ch.url.replace(/\/tensorzero$/, '/tz_typo_other') })
  t.equal(fresh.code, 1, 'no new database without the flag, even with nothing beside it to confuse it with')
  t.match(fresh.stderr, /`tz_typo_other` does not exist.*--create-database/)

  const s = await startCli(['--config-file', configFile, '--sidecar-config', sidecarFile], { TENSORZERO_CLICKHOUSE_URL: typo })
  try {
    await t.resolves(waitFor('the database warning', async () => s.output().includes('does not exist while TensorZero') ? true : undefined, 60_000))
    const line = JSON.parse(s.output().split('\n').find(l => l.includes('does not exist while TensorZero')) as string)
    t.equal(line.level, 'warn')
    t.equal(line.database, 'tz_typo_rea')
    t.ok((line.tensorzero_databases as string[]).includes('tz_typo_real'), 'names the database that holds TensorZero\'s tables')
  } finally {
    s.child.kill('SIGTERM')
    await s.exited
  }
})

t.test('inferences and feedback through the sidecar land in TensorZero\'s tables', async t => {
  const s = await startCli(['--config-file', configFile, '--sidecar-config', sidecarFile], { TENSORZERO_CLICKHOUSE_URL: ch.url })
  try {
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'x', maxRetries: 0 })
    const episode = uuidv7()
    const plain = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, 'tensorzero::episode_id': episode, 'tensorzero::tags': { task: 'demo' } } as any)
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, stream: true, ...{ 'tensorzero::episode_id': episode } })
    let streamId = ''
    for await (const c of stream) streamId = c.id
    const json = await client.chat.completions.create({ model: 'tensorzero::function_name::extract', messages: user })
    const byModel = await client.chat.completions.create({ model: 'tensorzero::model_name::dummy::echo', messages: user })
    const dry = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, 'tensorzero::dryrun': true } as any)

    const chat = await waitFor('chat rows', async () => {
      const rows = await ch.query<any>(`SELECT * FROM ChatInference WHERE id IN ('${plain.id}', '${streamId}', '${byModel.id}')`)
      return rows.length === 3 ? rows : undefined
    })
    const row = chat.find(r => r.id === plain.id)
    t.equal(row.function_name, 'agent')
    t.equal(row.variant_name, 'main')
    t.equal(row.episode_id, episode)
    t.same(row.tags, { task: 'demo', service: 'agent-zero' }, 'request tags plus the service tag')
    t.same(JSON.parse(row.input).messages[0].role, 'user')
    t.match(row.output, /Hello from ok/)
    t.same(JSON.parse(row.inference_params), { chat_completion: { temperature: 0.5 } }, 'the variant default that was used')
    t.ok(row.processing_time_ms >= 0)
    t.equal(row.ttft_ms, null, 'no ttft for a non-streaming call')
    const streamed = chat.find(r => r.id === streamId)
    t.ok(streamed.ttft_ms !== null, 'a stream records its time to first token')
    t.match(streamed.output, /Hello from the fake upstream/)
    t.equal(chat.find(r => r.id === byModel.id).function_name, 'tensorzero::default')

    const jsonRows = await waitFor('json row', async () => {
      const rows = await ch.query<any>(`SELECT * FROM JsonInference WHERE id = '${json.id}'`)
      return rows.length === 1 ? rows : undefined
    })
    t.same(JSON.parse(jsonRows[0].output), { raw: '{"answer":"Hello"}', parsed: { answer: 'Hello' } })

    const models = await ch.query<any>(`SELECT * FROM ModelInference WHERE inference_id = '${plain.id}'`)
    t.equal(models.length, 1, 'one model call row')
    t.equal(models[0].model_name, 'gpt')
    t.equal(models[0].model_provider_name, 'upstream')
    t.equal(models[0].function_name, 'agent')
    t.equal(models[0].variant_name, 'main')
    t.equal(models[0].input_tokens, 7)
    t.equal(models[0].output_tokens, 5)
    t.equal(models[0].finish_reason, 'stop')
    t.equal(JSON.parse(models[0].raw_request).model, 'ok', 'the exact body sent to the provider')

    const byId = await waitFor('InferenceById', async () => {
      const rows = await ch.query<any>(`SELECT * FROM InferenceById FINAL WHERE id_uint = toUInt128(toUUID('${plain.id}'))`)
      return rows.length === 1 ? rows : undefined
    })
    t.equal(byId[0].function_name, 'agent', 'the materialized view filled InferenceById')
    const dryRows = await ch.query<any>(`SELECT id FROM ChatInference WHERE id = '${dry.id}'`)
    t.equal(dryRows.length, 0, 'a dry run writes nothing')

    // feedback through the HTTP route, validated against what this sidecar just served
    const post = async (body: object): Promise<{ status: number; json: any }> => {
      const res = await fetch(`${s.url}/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      return { status: res.status, json: await res.json() }
    }
    const ok = await post({ metric_name: 'task_success', value: true, episode_id: episode })
    t.equal(ok.status, 200)
    const rated = await post({ metric_name: 'rating', value: 4.5, inference_id: plain.id })
    t.equal(rated.status, 200)
    const comment = await post({ metric_name: 'comment', value: 'nice', inference_id: plain.id })
    t.equal(comment.status, 200)
    const wrongLevel = await post({ metric_name: 'task_success', value: true, inference_id: plain.id })
    t.equal(wrongLevel.status, 400)
    t.equal(wrongLevel.json.error.message, 'Correct ID was not provided for feedback level "episode".')
    const unknown = await post({ metric_name: 'nope', value: 1, inference_id: plain.id })
    t.equal(unknown.status, 404)
    const wrongType = await post({ metric_name: 'rating', value: 'high', inference_id: plain.id })
    t.equal(wrongType.status, 400)

    const bool = await waitFor('boolean feedback', async () => {
      const rows = await ch.query<any>(`SELECT * FROM BooleanMetricFeedback WHERE id = '${ok.json.feedback_id}'`)
      return rows.length === 1 ? rows : undefined
    })
    t.equal(bool[0].target_id, episode)
    t.equal(bool[0].value, true)
    const float = await waitFor('float feedback', async () => {
      const rows = await ch.query<any>(`SELECT * FROM FloatMetricFeedback WHERE id = '${rated.json.feedback_id}'`)
      return rows.length === 1 ? rows : undefined
    })
    t.equal(float[0].value, 4.5)
    const comments = await waitFor('comment', async () => {
      const rows = await ch.query<any>(`SELECT * FROM CommentFeedback WHERE id = '${comment.json.feedback_id}'`)
      return rows.length === 1 ? rows : undefined
    })
    t.equal(comments[0].target_type, 'inference')

    const status = await (await fetch(`${s.url}/status`)).json()
    t.equal(status.clickhouse, 'connected')
  } finally {
    s.child.kill('SIGTERM')
    await s.exited
  }
})

t.test('SIGKILL mid-load: after a restart on the same spool, every completed inference is in ClickHouse exactly once', async t => {
  const proxy = await startFaultProxy(ch)
  proxy.setMode('refuse') // ClickHouse "down": rows can only be on disk when the process dies
  const spool = path.join(dir, 'kill-spool')
  const env = { TENSORZERO_CLICKHOUSE_URL: `http://default:@127.0.0.1:${proxy.port}/${ch.database}`, SIDECAR_SPOOL_DIR: spool }
  const first = await startCli(['--config-file', configFile, '--sidecar-config', sidecarFile], env)
  const completed: string[] = []
  try {
    const client = new OpenAI({ baseURL: `${first.url}/v1`, apiKey: 'x', maxRetries: 0 })
    const workers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; i < 1000; i++) {
        try {
          if ((i + w) % 2 === 0) {
            completed.push((await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user })).id)
          } else {
            const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: user, stream: true })
            let id = ''
            let done = false
            for await (const c of stream) { id = c.id; if (c.choices[0]?.finish_reason !== null && c.choices[0]?.finish_reason !== undefined) done = true }
            if (done) completed.push(id)
          }
        } catch {
          return // the process is gone
        }
      }
    })
    while (completed.length < 60) await new Promise(resolve => setTimeout(resolve, 10))
    first.child.kill('SIGKILL')
    await Promise.all(workers)
    await first.exited
  } finally {
    first.child.kill('SIGKILL')
  }
  t.ok(completed.length >= 60, `${completed.length} inferences completed before the kill`)

  proxy.setMode('pass')
  const second = await startCli(['--config-file', configFile, '--sidecar-config', sidecarFile], env)
  try {
    const ids = completed.map(id => `'${id}'`).join(',')
    const found = await waitFor('all completed rows', async () => {
      const rows = await ch.query<{ id: string; n: string }>(`SELECT id, count() AS n FROM ChatInference WHERE id IN (${ids}) GROUP BY id`)
      return rows.length === completed.length ? rows : undefined
    }, 60_000)
    t.equal(found.length, completed.length, 'every completed inference arrived')
    t.ok(found.every(r => Number(r.n) === 1), 'none twice')
  } finally {
    second.child.kill('SIGTERM')
    await second.exited
    await proxy.close()
  }
})
