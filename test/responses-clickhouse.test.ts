// The Responses API against a real ClickHouse engine (chdb behind a loopback front), through the `tz-sidecar`
// process: a response's rows land in ChatInference and ModelInference as a chat call's do, and after a restart (an
// empty memory) `previous_response_id` and `item_reference` are rebuilt from the stored input and output columns.
// Also the two stores of earlier exchanges on their own: the bounded memory, and the parsing of stored columns.
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
import { RecentExchanges } from '../src/store/recent-exchanges.ts'
import { storedInputOf, storedOutputOf } from '../src/store/stored-exchange.ts'
import type { InferenceRecord } from '../src/core/records.ts'

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

t.test('with ClickHouse unreachable, a previous response not in memory is a 503 (it may exist), not a 400', async t => {
  const s = await startCli(args, { TENSORZERO_CLICKHOUSE_URL: 'http://127.0.0.1:1/tensorzero' })
  try {
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'x', maxRetries: 0 })
    const err: any = await client.responses.create({ model: 'gpt-4o-mini', input: 'x', previous_response_id: 'resp_0190aaaabbbb7ccc8ddd000000000000' }).catch(e => e)
    t.equal(err.status, 503)
    t.match(err.message, /ClickHouse could not be read/)
    const recent = await client.responses.create({ model: 'gpt-4o-mini', input: 'Hi' })
    const next = await client.responses.create({ model: 'gpt-4o-mini', input: 'Again', previous_response_id: recent.id })
    t.equal(next.status, 'completed', 'one this process answered is still continued from memory')
  } finally {
    await stop(s)
  }
})

const exchangeRecord = (id: string, text: string): InferenceRecord => ({
  inferenceId: id, episodeId: id, functionName: 'f', functionType: 'chat', variantName: 'v',
  input: { messages: [{ role: 'user', content: [{ type: 'text', text }] }] }, output: [{ type: 'text', text }],
  inferenceParams: {}, processingTimeMs: 1, tags: {}, modelInferences: [], stream: false
})

t.test('the memory of recent exchanges is bounded in count and in bytes, least recently used out first', async t => {
  const byCount = new RecentExchanges(2, 1024 * 1024)
  byCount.remember(exchangeRecord('a', 'x'))
  byCount.remember(exchangeRecord('b', 'x'))
  t.ok(await byCount.exchange('a'), 'a used again: b is now the oldest')
  byCount.remember(exchangeRecord('c', 'x'))
  t.equal(byCount.size.entries, 2)
  t.equal(await byCount.exchange('b'), null, 'the least recently used went')
  t.ok(await byCount.exchange('a'))
  t.ok(await byCount.exchange('c'))

  const byBytes = new RecentExchanges(100, 10_000)
  for (let i = 0; i < 10; i++) byBytes.remember(exchangeRecord(`k${i}`, 'y'.repeat(1000)))
  t.ok(byBytes.size.bytes <= 10_000, `bytes held (${byBytes.size.bytes}) stay under the bound`)
  t.ok(byBytes.size.entries < 10 && byBytes.size.entries > 0)
  t.ok(await byBytes.exchange('k9'), 'the newest is kept')
  byBytes.remember(exchangeRecord('huge', 'z'.repeat(20_000)))
  t.equal(await byBytes.exchange('huge'), null, 'one exchange over the whole budget is not kept')
  t.ok(await byBytes.exchange('k9'), 'and evicts nothing')
})

t.test('stored input and output columns read back into what a model is sent', async t => {
  const input = storedInputOf(JSON.stringify({
    system: 'sys',
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'text', value: 'legacy' }, { type: 'file', source_url: 'https://x/cat.png', mime_type: 'image/png', detail: 'low' }, { type: 'file', source_url: null, mime_type: 'image/png' }] },
      { role: 'assistant', content: [{ type: 'tool_call', id: 'c1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
      { role: 'user', content: [{ type: 'tool_result', id: 'c1', name: 'get_weather', result: 'sunny' }] }
    ]
  }))
  t.same(input, {
    system: 'sys',
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'text', text: 'legacy' }, { type: 'image', url: 'https://x/cat.png', detail: 'low' }] },
      { role: 'assistant', content: [{ type: 'tool_call', id: 'c1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
      { role: 'user', content: [{ type: 'tool_result', id: 'c1', name: 'get_weather', result: 'sunny' }] }
    ]
  }, 'an inline file, stored without its bytes, is left out')
  t.same(storedOutputOf(JSON.stringify([{ type: 'thought', text: 't' }, { type: 'text', text: 'a' }, { type: 'tool_call', id: 'c', raw_name: 'n', raw_arguments: '{', name: null, arguments: null }])),
    [{ type: 'thought', text: 't' }, { type: 'text', text: 'a' }, { type: 'tool_call', id: 'c', name: 'n', arguments: '{' }], 'chat output: raw tool names and arguments')
  t.same(storedOutputOf('{"raw":"{\\"a\\":1}","parsed":{"a":1}}'), [{ type: 'text', text: '{"a":1}' }], 'JSON output: the raw text')
})
