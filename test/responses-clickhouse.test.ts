// The Responses API against a real ClickHouse engine (chdb behind a loopback front), through the `tz-sidecar`
// process: a response's rows land in ChatInference and ModelInference as a chat call's do, and after a restart (an
// empty memory) `previous_response_id` and `item_reference` are rebuilt from the stored input and output columns.
import t from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { startChdbServer } from './helpers/chdb-server.ts'
import type { ChdbServer } from './helpers/chdb-server.ts'
import { startCli } from './helpers/process.ts'
import type { ServingSidecar } from './helpers/process.ts'
import { startFakeOpenAI, scriptAnswer } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'
import { inferenceIdOfResponse } from '../src/endpoints/openai/responses-ids.ts'
import { waitFor } from './helpers/wait.ts'

let ch: ChdbServer
let fake: FakeOpenAI
let dir: string
let args: string[]

t.before(async () => {
  ch = await startChdbServer()
  fake = await startFakeOpenAI()
  scriptAnswer('ch-say-and-call', { content: 'Checking.', toolCalls: [{ id: 'call_ch', name: 'get_weather', arguments: '{"city":"Rome"}' }] })
  dir = await mkdtemp(path.join(tmpdir(), 'tz-responses-ch-'))
  await writeFile(path.join(dir, 'tensorzero.toml'), `
[gateway.observability.batch_writes]
flush_interval_ms = 50
max_rows = 100
${fakeModel(fake.url, 'gpt', [['upstream', 'ok']])}
${fakeModel(fake.url, 'caller', [['upstream', 'ch-say-and-call']])}
${fakeFunction('agent', [['main', 'gpt']])}
${fakeFunction('tooler', [['main', 'caller']])}
`)
  await writeFile(path.join(dir, 'sidecar.toml'), 'service = "responses-ch"\n[routes]\n"gpt-4o-mini" = "tensorzero::function_name::agent"\n"caller" = "tensorzero::function_name::tooler"\n')
  args = ['--config-file', path.join(dir, 'tensorzero.toml'), '--sidecar-config', path.join(dir, 'sidecar.toml')]
})

t.teardown(async () => {
  await fake.close()
  await ch.close()
  await rm(dir, { recursive: true, force: true })
})

async function stop (s: ServingSidecar): Promise<void> {
  s.child.kill('SIGTERM')
  await s.exited
}

const dashed = (respId: string): string | undefined => inferenceIdOfResponse(respId)

t.test('rows as for chat; after a restart previous_response_id and item_reference are rebuilt from ClickHouse', async t => {
  const first = await startCli(args, { TENSORZERO_CLICKHOUSE_URL: ch.url })
  let earlier: OpenAI.Responses.Response
  let streamedId = ''
  try {
    const client = new OpenAI({ baseURL: `${first.url}/v1`, apiKey: 'x', maxRetries: 0 })
    earlier = await client.responses.create({ model: 'gpt-4o-mini', input: 'My name is Ada.', instructions: 'Be kind.' })
    for await (const e of await client.responses.create({ model: 'caller', input: 'Rome?', stream: true, tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false }] })) {
      if (e.type === 'response.completed') streamedId = e.response.id
    }
    const ids = [dashed(earlier.id), dashed(streamedId)]
    const rows = await waitFor('ChatInference rows', async () => {
      const found = await ch.query<any>(`SELECT id, function_name, variant_name, input, output FROM ChatInference WHERE id IN ('${ids.join("','")}')`)
      return found.length === 2 ? found : undefined
    })
    const row = rows.find(r => r.id === ids[0])
    t.equal(row.function_name, 'agent')
    t.equal(row.variant_name, 'main')
    t.same(JSON.parse(row.input), { system: 'Be kind.', messages: [{ role: 'user', content: [{ type: 'text', text: 'My name is Ada.' }] }] })
    const models = await waitFor('ModelInference rows', async () => {
      const found = await ch.query<any>(`SELECT inference_id, model_name, model_provider_name FROM ModelInference WHERE inference_id IN ('${ids.join("','")}')`)
      return found.length === 2 ? found : undefined
    })
    t.same(models.map(m => m.model_name).sort(), ['caller', 'gpt'])
  } finally {
    await stop(first)
  }

  const second = await startCli(args, { TENSORZERO_CLICKHOUSE_URL: ch.url })
  try {
    const client = new OpenAI({ baseURL: `${second.url}/v1`, apiKey: 'x', maxRetries: 0 })
    const next = await client.responses.create({ model: 'gpt-4o-mini', input: 'What is my name?', previous_response_id: earlier.id })
    t.equal(next.output_text, 'Hello from ok')
    t.same(fake.requests.at(-1)?.body.messages, [
      { role: 'system', content: 'Be kind.' },
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'Hello from ok' },
      { role: 'user', content: 'What is my name?' }
    ], 'the earlier exchange was read back from ChatInference by a process that never saw it')
    const episodes = await waitFor('both inferences in one episode', async () => {
      const found = await ch.query<any>(`SELECT toString(episode_id) AS e FROM ChatInference WHERE id IN ('${dashed(earlier.id)}', '${dashed(next.id)}')`)
      return found.length === 2 ? found.map(r => r.e) : undefined
    })
    t.equal(episodes[0], episodes[1], 'the continued conversation stays in the stored response\'s episode')

    await client.responses.create({
      model: 'gpt-4o-mini',
      input: [
        { role: 'user', content: 'Rome?' },
        { type: 'item_reference', id: `msg_${streamedId.slice(5)}_0` },
        { type: 'item_reference', id: `fc_${streamedId.slice(5)}_0` },
        { type: 'function_call_output', call_id: 'call_ch', output: 'warm' }
      ]
    })
    t.same(fake.requests.at(-1)?.body.messages.slice(1), [
      { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'call_ch', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } }] },
      { role: 'tool', tool_call_id: 'call_ch', content: 'warm' }
    ], 'items of a streamed response, referenced by id, read back from its stored output')

    const missing: any = await client.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: 'resp_0190aaaabbbb7ccc8ddd000000000000' }).catch(e => e)
    t.equal(missing.status, 400)
    t.equal(missing.code, 'previous_response_not_found')
  } finally {
    await stop(second)
  }
})
