// The patched openai client against a running sidecar, with the real `openai` package at majors 5, 6 and 7.
// A recording HTTP front sits between client and sidecar: it shows what the sidecar received (body and headers of
// every attempt) and can answer an attempt with a 500 to make the SDK retry. The sidecar's answers (`episode_id`,
// `x-tensorzero-*` headers) show what it did with what it received.
import t from 'tap'
import OpenAI5 from 'openai-v5'
import OpenAI6 from 'openai-v6'
import OpenAI7 from 'openai'
import { v7 as uuidv7 } from 'uuid'
import {
  patchOpenAI, withEpisode, currentEpisodeId, isEpisodeId, newEpisodeId, tensorzero, tensorzeroIds, episodeIdOf, inferenceIdOf,
  PatchError
} from '../sdk-patch/index.ts'
import type { FeedbackRequest, PatchedOpenAI, WithTensorZero } from '../sdk-patch/index.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { startTestSidecar } from './helpers/sidecar.ts'
import type { TestSidecar } from './helpers/sidecar.ts'
import { startRecordingFront } from './helpers/recording-front.ts'
import { testToml, testSidecarToml } from './helpers/sdk-config.ts'
import { handleFeedback } from '../src/feedback/handle.ts'
import { RecentTargets } from '../src/feedback/known-targets.ts'
import type { FeedbackRecord } from '../src/core/records.ts'
import type { RecordingFront, FrontRequest } from './helpers/recording-front.ts'

let fake: FakeOpenAI
let sidecar: TestSidecar
let front: RecordingFront
const feedbackSeen: unknown[] = []

t.before(async () => {
  fake = await startFakeOpenAI()
  sidecar = await startTestSidecar({
    toml: testToml(fake.url),
    sidecarToml: testSidecarToml(fake.url),
    options: {
      // Until the ClickHouse issue wires TensorZero's feedback handler into the sidecar, a recording handler stands in:
      // these tests pin down that the client's request reaches the sidecar's /v1/feedback route with the right body.
      feedback: async body => { feedbackSeen.push(body); return { status: 200, body: { feedback_id: uuidv7() } } }
    }
  })
  front = await startRecordingFront({ target: sidecar.url })
})
t.teardown(async () => {
  await front.close()
  await sidecar.close()
  await fake.close()
})

const messages = [{ role: 'user' as const, content: 'hi' }]
const EPISODE_FIELD = 'tensorzero::episode_id'
const episodeOf = (r: FrontRequest): { body: unknown; header: unknown } => ({ body: r.body?.[EPISODE_FIELD], header: r.headers['x-tensorzero-episode-id'] })
/** Requests the front saw while `fn` ran. */
async function recorded<T> (fn: () => Promise<T>): Promise<{ result: T; requests: FrontRequest[] }> {
  const start = front.requests.length
  const result = await fn()
  return { result, requests: front.requests.slice(start) }
}

// The three majors, each as its own class: the suite runs against the v7 type; v5/v6 instances share its runtime shape.
const MAJORS: Array<{ major: number; make: (o: { baseURL: string; maxRetries?: number; defaultHeaders?: Record<string, string> }) => OpenAI7 }> = [
  { major: 5, make: o => new OpenAI5({ apiKey: 'client-key', ...o }) as unknown as OpenAI7 },
  { major: 6, make: o => new OpenAI6({ apiKey: 'client-key', ...o }) as unknown as OpenAI7 },
  { major: 7, make: o => new OpenAI7({ apiKey: 'client-key', ...o }) }
]

for (const { major, make } of MAJORS) {
  t.test(`openai v${major} against a running sidecar`, async t => {
    const client = patchOpenAI(make({ baseURL: front.baseURL, maxRetries: 2 }))
    t.equal(client.tensorzero.sdkMajor, major, 'the major is read from the client')
    t.equal(client.tensorzero.embedded, false)

    t.test('outside a scope every call gets its own UUIDv7, in body and header, and the sidecar uses it', async t => {
      const { result, requests } = await recorded(async () => [
        await client.chat.completions.create({ model: 'gpt-4o-mini', messages }),
        await client.chat.completions.create({ model: 'gpt-4o-mini', messages })
      ])
      t.equal(requests.length, 2)
      const [a, b] = requests.map(episodeOf)
      t.ok(isEpisodeId(a.body), 'body field is a UUIDv7')
      t.equal(a.header, a.body, 'header carries the same id as the body')
      t.equal(b.header, b.body)
      t.not(a.body, b.body, 'two calls outside a scope: two episodes')
      t.equal(episodeIdOf(result[0]), a.body, 'the sidecar ran the inference in the episode the client sent')
      t.equal(episodeIdOf(result[1]), b.body)
      t.ok(isEpisodeId(inferenceIdOf(result[0])), 'the inference id (completion id) is read back')
      t.equal(result[0].choices[0].message.content, 'Hello from ok', 'the answer itself is untouched')
    })

    t.test('inside withEpisode: sequential, Promise.all and nested scopes; concurrent scopes stay apart', async t => {
      const seen: Record<string, string[]> = { outer: [], inner: [], after: [], a: [], b: [] }
      const call = async (tag: string): Promise<void> => {
        const c = await client.chat.completions.create({ model: 'gpt-4o-mini', messages })
        seen[tag].push(episodeIdOf(c) as string)
      }
      const { requests } = await recorded(async () => {
        await withEpisode(async outerId => {
          t.equal(currentEpisodeId(), outerId, 'currentEpisodeId() inside the scope')
          await call('outer')
          await Promise.all([call('outer'), call('outer'), call('outer')])
          await withEpisode(async innerId => {
            t.not(innerId, outerId, 'a nested scope is a new episode')
            await Promise.all([call('inner'), call('inner')])
          })
          t.equal(currentEpisodeId(), outerId, 'the outer scope resumes after the nested one')
          await call('after')
        })
        await Promise.all([
          withEpisode(async () => { for (let i = 0; i < 3; i++) { await call('a'); await new Promise(resolve => setTimeout(resolve, 1)) } }),
          withEpisode(async () => { for (let i = 0; i < 3; i++) { await call('b'); await new Promise(resolve => setImmediate(resolve)) } })
        ])
      })
      t.equal(currentEpisodeId(), undefined, 'no scope afterwards')
      for (const r of requests) t.equal(episodeOf(r).header, episodeOf(r).body, 'header = body on every request')
      const one = (ids: string[]): Set<string> => new Set(ids)
      t.equal(one(seen.outer).size, 1, 'four calls of the outer scope share one id')
      t.equal(one(seen.inner).size, 1)
      t.same(seen.after, [seen.outer[0]], 'after the nested scope the outer id is back')
      t.not(seen.inner[0], seen.outer[0])
      t.equal(one(seen.a).size, 1, 'concurrent scope a: one id')
      t.equal(one(seen.b).size, 1, 'concurrent scope b: one id')
      t.not(seen.a[0], seen.b[0], 'concurrent scopes: different ids')
      const sent = new Set(requests.map(r => episodeOf(r).body))
      t.equal(sent.size, 4, 'the sidecar received exactly the four episodes (outer, inner, a, b)')
    })

    t.test('withEpisode(id, fn) continues a given episode', async t => {
      const id = uuidv7()
      const c = await withEpisode(id, () => client.chat.completions.create({ model: 'gpt-4o-mini', messages }))
      t.equal(episodeIdOf(c), id)
      t.throws(() => withEpisode('not-a-uuid', () => 1), TypeError, 'a non-UUIDv7 id is refused at once')
    })

    t.test('a 500 retried by the SDK keeps its episode id (outside and inside a scope)', async t => {
      front.failNext(1, 500)
      const { result, requests } = await recorded(() => client.chat.completions.create({ model: 'gpt-4o-mini', messages }))
      t.equal(requests.length, 2, 'one failed attempt, one retry')
      t.equal(requests[0].failed, true)
      t.equal(episodeOf(requests[0]).body, episodeOf(requests[1]).body, 'the retry carries the same body id')
      t.equal(episodeOf(requests[1]).header, episodeOf(requests[0]).header, 'and the same header')
      t.equal(episodeIdOf(result), episodeOf(requests[1]).body)

      front.failNext(2, 503)
      const scoped = await recorded(() => withEpisode(id => client.chat.completions.create({ model: 'gpt-4o-mini', messages }).then(c => ({ c, id }))))
      t.equal(scoped.requests.length, 3, 'two failures, then success')
      t.same(scoped.requests.map(r => episodeOf(r).body), [scoped.result.id, scoped.result.id, scoped.result.id])
    })

    t.test('an id the caller set (body field or header) is kept', async t => {
      const mine = uuidv7()
      const viaBody = await recorded(() => withEpisode(() =>
        client.chat.completions.create({ model: 'gpt-4o-mini', messages, ...tensorzero({ episodeId: mine }) })))
      t.same(episodeOf(viaBody.requests[0]), { body: mine, header: mine }, 'body field wins over the scope, header follows')
      const other = uuidv7()
      const viaHeader = await recorded(() =>
        client.chat.completions.create({ model: 'gpt-4o-mini', messages }, { headers: { 'X-TensorZero-Episode-Id': other } }))
      t.same(episodeOf(viaHeader.requests[0]), { body: other, header: other }, 'a per-request header is copied to the body')
      t.equal(episodeIdOf(viaHeader.result), other)
      const third = uuidv7()
      const headerShapes = await recorded(async () => {
        await client.chat.completions.create({ model: 'gpt-4o-mini', messages }, { headers: new Headers({ 'x-tensorzero-episode-id': third }) })
        await client.chat.completions.create({ model: 'gpt-4o-mini', messages }, { headers: [['x-tensorzero-episode-id', third]] as never })
      })
      t.same(headerShapes.requests.map(r => episodeOf(r).body), [third, third], 'a Headers object or [name, value] pairs work too')
      const fourth = uuidv7()
      const withDefault = patchOpenAI(make({ baseURL: front.baseURL, maxRetries: 0, defaultHeaders: { 'x-tensorzero-episode-id': fourth } }))
      const viaDefault = await recorded(() => withDefault.chat.completions.create({ model: 'gpt-4o-mini', messages }))
      t.same(episodeOf(viaDefault.requests[0]), { body: fourth, header: fourth }, 'a client-wide default header is honoured')
      // The caller's params object is not mutated: reusing it gets a fresh id.
      const params = { model: 'gpt-4o-mini', messages }
      const reuse = await recorded(async () => { await client.chat.completions.create(params); await client.chat.completions.create(params) })
      t.not(episodeOf(reuse.requests[0]).body, episodeOf(reuse.requests[1]).body)
      t.notOk(EPISODE_FIELD in params, 'params object left as given')
    })

    t.test('streams, .withResponse(), .asResponse(), chat.completions.stream() and runTools work and carry the id', async t => {
      await withEpisode(async id => {
        const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } })
        let text = ''
        let chunks = 0
        let usage = 0
        for await (const chunk of stream) {
          chunks++
          t.equal(episodeIdOf(chunk), id, 'every chunk carries the episode')
          text += chunk.choices[0]?.delta?.content ?? ''
          usage += chunk.usage?.total_tokens ?? 0
        }
        t.equal(text, 'Hello from the fake upstream', 'streamed text intact')
        t.ok(chunks > 2)
        t.equal(usage, 12, 'usage chunk delivered')

        const withResponse = await client.chat.completions.create({ model: 'gpt-4o-mini', messages }).withResponse()
        t.equal(withResponse.response.headers.get('x-tensorzero-episode-id'), id, '.withResponse(): raw headers')
        t.equal(withResponse.data.choices[0].message.content, 'Hello from ok', '.withResponse(): parsed data')
        t.same(tensorzeroIds(withResponse), { episodeId: id, inferenceId: withResponse.response.headers.get('x-tensorzero-inference-id') })

        const raw = await client.chat.completions.create({ model: 'gpt-4o-mini', messages }).asResponse()
        t.equal(raw.status, 200)
        t.equal(episodeIdOf(raw), id, '.asResponse(): id from the headers')
        const json = await raw.json() as { episode_id: string; id: string }
        t.equal(json.episode_id, id)
        t.equal(inferenceIdOf(raw), json.id)

        const streamWithResponse = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true }).withResponse()
        t.equal(episodeIdOf(streamWithResponse), id, 'a stream\'s .withResponse() exposes the id')
        for await (const _ of streamWithResponse.data) { /* drain */ }

        const helper = client.chat.completions.stream({ model: 'gpt-4o-mini', messages })
        let deltas = ''
        helper.on('content', delta => { deltas += delta })
        const final = await helper.finalChatCompletion()
        t.equal(deltas, 'Hello from the fake upstream', 'chat.completions.stream(): content events')
        t.equal(final.choices[0].message.content, 'Hello from the fake upstream')
        t.equal(episodeIdOf(final), id, 'the final completion of .stream() keeps episode_id')

        const before = front.requests.length
        const runner = client.chat.completions.runTools({
          model: 'gpt-tools',
          messages: [{ role: 'user', content: 'weather in Paris?' }],
          tools: [{ type: 'function', function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, function: (args: { city: string }) => `sunny in ${args.city}`, parse: JSON.parse } }]
        }, { maxChatCompletions: 2 })
        await runner.done()
        const calls = front.requests.slice(before)
        t.equal(calls.length, 2, 'runTools made two round trips')
        t.same(calls.map(r => episodeOf(r).body), [id, id], 'runTools: every round trip in the scope\'s episode')
        t.equal(calls[1].body.messages.at(-1).content, 'sunny in Paris', 'the tool result went back')
      })
    })

    t.test('embeddings, completions and responses carry the id; other routes do not', async t => {
      await withEpisode(async id => {
        const { result, requests } = await recorded(async () => {
          const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['abc', 'de'] })
          await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'hi' })
          await client.responses.create({ model: 'gpt-4.1', input: 'hi' })
          await client.models.list()
          return emb
        })
        t.equal(result.data.length, 2, 'embeddings answered')
        t.same(requests.map(r => r.path), ['/v1/embeddings', '/v1/completions', '/v1/responses', '/v1/models'])
        for (const r of requests.slice(0, 3)) t.same(episodeOf(r), { body: id, header: id }, `${r.path} carries the episode`)
        t.same(episodeOf(requests[3]), { body: undefined, header: undefined }, 'GET /v1/models is left alone')
        const upstream = fake.requests.filter(r => r.path === '/v1/responses').at(-1)
        t.equal(upstream?.body?.[EPISODE_FIELD], undefined, 'a non-TensorZero upstream gets no tensorzero:: body field')
        t.equal(upstream?.headers['x-tensorzero-episode-id'], id, 'the episode header still goes through')
      })
    })

    t.test('tensorzero() fields reach the sidecar and change what it does', async t => {
      const { result, requests } = await recorded(() => client.chat.completions.create({
        model: 'gpt-4o-mini', messages, ...tensorzero({ variantName: 'pinned_only', tags: { user: 'u1' }, dryrun: true })
      }).withResponse())
      t.equal(requests[0].body['tensorzero::variant_name'], 'pinned_only')
      t.same(requests[0].body['tensorzero::tags'], { user: 'u1' })
      t.equal(requests[0].body['tensorzero::dryrun'], true)
      t.equal(result.response.headers.get('x-tensorzero-variant'), 'pinned_only', 'the pin was honoured')
    })

    t.test('feedback for an inference and for an episode reaches the sidecar\'s /v1/feedback', async t => {
      feedbackSeen.length = 0
      const { requests } = await recorded(async () => {
        await withEpisode(async episodeId => {
          const c = await client.chat.completions.create({ model: 'gpt-4o-mini', messages })
          const inferenceId = inferenceIdOf(c) as string
          const r1 = await client.feedback({ metric_name: 'rating', value: 0.8, inference_id: inferenceId, tags: { by: 'test' } })
          t.ok(isEpisodeId(r1.feedback_id), 'the reply is returned as parsed JSON')
          await client.feedback({ metric_name: 'task_success', value: true, episode_id: episodeId })
          await client.feedback({ metric_name: 'task_success', value: false, dryrun: true })
          t.same(feedbackSeen, [
            { metric_name: 'rating', value: 0.8, inference_id: inferenceId, tags: { by: 'test' } },
            { metric_name: 'task_success', value: true, episode_id: episodeId },
            { metric_name: 'task_success', value: false, dryrun: true, episode_id: episodeId }
          ], 'bodies as given; no target → the scope\'s episode')
        })
      })
      const fb = requests.filter(r => r.path === '/v1/feedback')
      t.equal(fb.length, 3, 'POST /v1/feedback (the client\'s baseURL + /feedback)')
      t.equal(fb[0].method, 'POST')
      t.equal(fb[0].headers.authorization, 'Bearer client-key', 'the client\'s auth is reused')
      t.equal(fb[0].headers['x-tensorzero-episode-id'], undefined, 'feedback is not an inference: no episode header')
      front.failNext(1, 500)
      const retried = await recorded(() => client.feedback({ metric_name: 'task_success', value: true, episode_id: uuidv7() }))
      t.equal(retried.requests.length, 2, 'feedback uses the SDK\'s retries')
      const { feedback } = client
      const detached = await feedback({ metric_name: 'task_success', value: true, episode_id: uuidv7() } as FeedbackRequest)
      t.ok(isEpisodeId(detached.feedback_id), 'feedback works destructured from the client')
      await t.rejects(client.feedback({ metric_name: 'task_success', value: true }), /inside withEpisode/, 'no target outside a scope')
      await t.rejects(client.feedback({ metric_name: 'x', value: 1, episode_id: 'nope' }), /UUIDv7/)
      // @ts-expect-error both targets is a type error, and a runtime error
      await t.rejects(client.feedback({ metric_name: 'x', value: 1, episode_id: uuidv7(), inference_id: uuidv7() }), /not both/)
    })

    t.test('errors and abort signals behave as on an unpatched client', async t => {
      const Klass = client.constructor as typeof OpenAI7
      const err = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, n: 2 }).catch((e: unknown) => e)
      t.equal((err as { status?: number }).status, 400, 'a 400 from the sidecar (n=2) is the SDK\'s error')
      t.match((err as Error).message, /`n` must be 1/, 'with the sidecar\'s message')
      t.ok(err instanceof (Klass as unknown as { BadRequestError: new (...a: any[]) => Error }).BadRequestError, 'of the SDK\'s own class')
      const ac = new AbortController()
      const p = client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true }, { signal: ac.signal })
      ac.abort()
      const aborted = await p.catch((e: unknown) => e)
      t.ok(aborted instanceof (Klass as unknown as { APIUserAbortError: new (...a: any[]) => Error }).APIUserAbortError, 'abort → APIUserAbortError')
    })

    t.test('patching is per instance, once; withOptions clients are patched too', async t => {
      t.throws(() => patchOpenAI(client), PatchError, 'a second patch is an error')
      t.throws(() => patchOpenAI(client), /already patched/)
      const plain = make({ baseURL: front.baseURL, maxRetries: 0 })
      const untouched = await recorded(() => plain.chat.completions.create({ model: 'gpt-4o-mini', messages }))
      t.same(episodeOf(untouched.requests[0]), { body: undefined, header: undefined }, 'another client of the same class is unchanged')
      const derived = client.withOptions({ timeout: 5000 })
      t.equal(typeof derived.feedback, 'function', 'withOptions returns a patched client')
      const viaDerived = await recorded(() => withEpisode(id => derived.chat.completions.create({ model: 'gpt-4o-mini', messages }).then(() => id)))
      t.same(episodeOf(viaDerived.requests[0]), { body: viaDerived.result, header: viaDerived.result })
    })
  })
}

t.test('typed helpers: no @ts-expect-error needed, on every major (checked by tsc, run here)', async t => {
  const c5 = patchOpenAI(new OpenAI5({ apiKey: 'k', baseURL: front.baseURL }))
  const c6 = patchOpenAI(new OpenAI6({ apiKey: 'k', baseURL: front.baseURL }))
  const c7: PatchedOpenAI<OpenAI7> = patchOpenAI(new OpenAI7({ apiKey: 'k', baseURL: front.baseURL }))
  const extra = tensorzero({ tags: { task: 'typing' } })
  const s5 = await c5.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, ...extra })
  for await (const chunk of s5) t.type(chunk.choices, Array) // Stream<ChatCompletionChunk>: the overload still resolved
  const r6 = await c6.chat.completions.create({ model: 'gpt-4o-mini', messages, ...tensorzero({ dryrun: true }) })
  t.equal(r6.object, 'chat.completion')
  const body: WithTensorZero<OpenAI7.Chat.ChatCompletionCreateParamsNonStreaming> = { model: 'gpt-4o-mini', messages, 'tensorzero::tags': { a: 'b' } }
  const r7 = await c7.chat.completions.create(body)
  t.equal(r7.choices.length, 1)
  const fb: { feedback_id: string } = await c7.feedback({ metric_name: 'rating', value: 1, inference_id: inferenceIdOf(r7) as string })
  t.ok(fb.feedback_id)
})

t.test('tensorzero() maps names and refuses what the sidecar would refuse', async t => {
  const id = uuidv7()
  t.same(tensorzero({ episodeId: id, variantName: 'v', tags: { a: 'b' }, dryrun: false, params: { chat_completion: { temperature: 0 } }, cacheOptions: { enabled: 'on' } }), {
    'tensorzero::episode_id': id,
    'tensorzero::variant_name': 'v',
    'tensorzero::tags': { a: 'b' },
    'tensorzero::dryrun': false,
    'tensorzero::params': { chat_completion: { temperature: 0 } },
    'tensorzero::cache_options': { enabled: 'on' }
  })
  t.same(tensorzero({ tags: undefined }), {}, 'undefined options are left out')
  t.throws(() => tensorzero({ episodeId: 'abc' }), /UUIDv7/)
  t.throws(() => tensorzero({ tags: { 'tensorzero::x': 'y' } }), /must not start/)
  t.throws(() => tensorzero({ tags: { n: 1 as unknown as string } }), /must be a string/)
  t.throws(() => tensorzero({ variant: 'x' } as never), /unknown option/)
})

t.test('feedback through TensorZero\'s own validation (src/feedback/handle.ts wired into a sidecar), every major', async t => {
  // The handler the ClickHouse issue wires into `tz-sidecar serve`; here with an in-memory row list instead of ClickHouse.
  const known = new RecentTargets()
  const rows: FeedbackRecord[] = []
  let s: TestSidecar | undefined
  s = await startTestSidecar({
    toml: testToml(fake.url),
    sidecarToml: testSidecarToml(fake.url),
    options: {
      observer: { onInference: rec => known.remember(rec) },
      feedback: async body => await handleFeedback(body, {
        config: (s as TestSidecar).sidecar.gateway.config.tensorzero,
        knownTargets: known,
        enqueue: rec => rows.push(rec),
        timing: { cooldownMs: 0, minWaitMs: 0, pollMs: 1 }
      })
    }
  })
  t.teardown(() => s?.close())
  for (const { major, make } of MAJORS) {
    const client = patchOpenAI(make({ baseURL: s.baseURL, maxRetries: 0 }))
    rows.length = 0
    await withEpisode(async episodeId => {
      const c = await client.chat.completions.create({ model: 'gpt-4o-mini', messages })
      const inferenceId = inferenceIdOf(c) as string
      const a = await client.feedback({ metric_name: 'rating', value: 4.5, inference_id: inferenceId })
      const b = await client.feedback({ metric_name: 'task_success', value: true, tags: { outcome: 'done' } })
      await client.feedback({ metric_name: 'comment', value: 'looked fine', episode_id: episodeId })
      t.same(rows.map(r => [r.metricName, r.targetType, r.targetId, r.value]), [
        ['rating', 'inference', inferenceId, 4.5],
        ['task_success', 'episode', episodeId, true],
        ['comment', 'episode', episodeId, 'looked fine']
      ], `v${major}: inference- and episode-level rows for the ids the sidecar issued`)
      t.same(rows.map(r => r.feedbackId), [a.feedback_id, b.feedback_id, rows[2].feedbackId], 'feedback ids returned to the caller')
      const wrongLevel = await client.feedback({ metric_name: 'task_success', value: true, inference_id: inferenceId }).catch((e: unknown) => e)
      t.equal((wrongLevel as { status?: number }).status, 400)
      t.match((wrongLevel as Error).message, /Correct ID was not provided for feedback level "episode"/)
      const unknown = await client.feedback({ metric_name: 'no_such_metric', value: 1 }).catch((e: unknown) => e)
      t.equal((unknown as { status?: number }).status, 404, 'unknown metric: 404 as the SDK\'s NotFoundError')
      const dry = await client.feedback({ metric_name: 'task_success', value: false, dryrun: true })
      t.ok(isEpisodeId(dry.feedback_id))
      t.equal(rows.length, 3, 'dryrun stores nothing')
    })
  }
})

t.test('feedback input is checked before anything is sent', async t => {
  const client = patchOpenAI(new OpenAI7({ apiKey: 'k', baseURL: 'http://127.0.0.1:1/v1', maxRetries: 0 }))
  await t.rejects(client.feedback(null as never), /expected an object/)
  await t.rejects(client.feedback({ metric_name: '', value: 1, episode_id: uuidv7() }), /metric_name must be a non-empty string/)
  await t.rejects(client.feedback({ metric_name: 'm', episode_id: uuidv7() } as never), /value is required/)
  await t.rejects(client.feedback({ metric_name: 'm', value: 1, inference_id: 'abc' }), /inference_id must be a UUIDv7/)
  t.ok(isEpisodeId(newEpisodeId()), 'newEpisodeId() makes UUIDv7s')
  t.throws(() => withEpisode(uuidv7(), 'nope' as never), /fn must be a function/)
})

t.test('tensorzeroIds reads completions, chunks, Responses and withResponse results', async t => {
  const e = uuidv7()
  const i = uuidv7()
  t.same(tensorzeroIds({ id: i, episode_id: e }), { episodeId: e, inferenceId: i })
  t.same(tensorzeroIds({ id: 'chatcmpl-1', object: 'chat.completion' }), {}, 'a passthrough answer has no TensorZero ids')
  t.same(tensorzeroIds({ id: 'chatcmpl-1', episode_id: e }), { episodeId: e }, 'a non-UUID id is not an inference id')
  const res = new Response('{}', { headers: { 'x-tensorzero-episode-id': e, 'x-tensorzero-inference-id': i } })
  t.same(tensorzeroIds(res), { episodeId: e, inferenceId: i })
  t.same(tensorzeroIds({ data: { object: 'list' }, response: res }), { episodeId: e, inferenceId: i })
  t.same(tensorzeroIds(null), {})
  t.equal(episodeIdOf('x'), undefined)
})

t.test('patchOpenAI refuses what it cannot patch, with a clear message', async t => {
  const fakeClient = (agent: string): object => ({
    baseURL: 'http://x/v1',
    post: async () => ({}),
    prepareOptions: async () => {},
    prepareRequest: async () => {},
    getUserAgent: () => agent
  })
  t.throws(() => patchOpenAI(fakeClient('OpenAI/JS 4.104.0') as never), { name: 'PatchError', message: /openai 4\.104\.0 is not supported; supported: openai >=5 <8/ })
  t.throws(() => patchOpenAI(fakeClient('OpenAI/JS 8.0.0') as never), /openai 8\.0\.0 is not supported/)
  t.throws(() => patchOpenAI(fakeClient('something') as never), /cannot tell the openai package version/)
  t.throws(() => patchOpenAI({ baseURL: 'x', post: async () => ({}) }), /expected an OpenAI client/)
  t.throws(() => patchOpenAI(null as never), /expected an OpenAI client/)
})
