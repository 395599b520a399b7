// A config reload builds a new gateway beside the old one (sidecar/reload.ts): the old one must stop its background
// work when retired, and what the process remembers of the inferences it served must carry over to the new one.
import t from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig } from '../src/config/load.ts'
import { createGateway, gatewayMemory } from '../src/gateway.ts'
import type { ClickHouseSink } from '../src/store/writer.ts'

async function configFile (t: { teardown: (fn: () => Promise<void>) => void }, toml: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-generations-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'tensorzero.toml')
  await writeFile(file, toml)
  return file
}

const ADAPTIVE = `
[functions.ab]
type = "chat"
[functions.ab.variants.a]
type = "chat_completion"
model = "dummy::good"
[functions.ab.variants.b]
type = "chat_completion"
model = "dummy::good"
[functions.ab.experimentation]
type = "adaptive"
metric = "solved"
candidate_variants = ["a", "b"]
update_period_s = 1
[metrics.solved]
type = "boolean"
optimize = "max"
level = "inference"
`

t.test('a retired gateway stops polling its adaptive experiments\' statistics (a reload must not leave pollers behind)', async t => {
  const config = await loadConfig({ configFile: await configFile(t, ADAPTIVE), env: {} })
  let reads = 0
  // Only what createGateway and the experiments touch of a store.
  const store = {
    observer: {},
    useConfig () {},
    status: () => ({}),
    whenPersisted: async () => {},
    close: async () => {},
    experimentReads: { feedbackByVariant: async () => { reads++; return [] }, similarDiclExamples: async () => [] },
    workflowRuns: { run () {}, episode () {} }
  } as unknown as ClickHouseSink
  const gateway = createGateway(config, { store, env: {} })
  t.teardown(async () => { await gateway.close() })
  await new Promise(resolve => setTimeout(resolve, 1500))
  t.ok(reads >= 1, 'it polled while in service')
  await gateway.retire()
  const atRetire = reads
  await new Promise(resolve => setTimeout(resolve, 2500))
  t.equal(reads, atRetire, 'no read after retire (the period is 1 s)')
})

t.test('the inferences a gateway served are remembered by the next one (feedback targets, previous_response_id)', async t => {
  const file = await configFile(t, `
[functions.f]
type = "chat"
[functions.f.variants.a]
type = "chat_completion"
model = "dummy::good"
[metrics.ok]
type = "boolean"
optimize = "max"
level = "inference"
`)
  const memory = gatewayMemory()
  const old = createGateway(await loadConfig({ configFile: file, env: {} }), { env: {}, memory })
  const target = old.resolve('tensorzero::function_name::f')
  if (target.kind !== 'function') throw new Error('expected a function target')
  const result = await old.chat({
    target, input: { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }, params: {}, stream: false,
    includeUsage: true, tags: {}, dryrun: false, dynamicTools: []
  }, new AbortController().signal)
  await old.retire()
  const next = createGateway(await loadConfig({ configFile: file, env: {} }), { env: {}, memory })
  t.teardown(async () => { await next.close(); await old.close() })
  t.ok(await next.exchanges.exchange(result.inferenceId), 'the new gateway finds the earlier exchange')
  const reply = await next.feedback({ metric_name: 'ok', inference_id: result.inferenceId, value: true })
  t.ok(reply, 'feedback for an inference the old gateway served is accepted')
  const stranger = createGateway(await loadConfig({ configFile: file, env: {} }), { env: {} })
  t.teardown(async () => { await stranger.close() })
  t.notOk(await stranger.exchanges.exchange(result.inferenceId).catch(() => undefined), 'a gateway with its own memory does not (no ClickHouse)')
})
