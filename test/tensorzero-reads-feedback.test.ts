// TensorZero's read queries of feedback.rs, variant_statistics.rs, howdy_queries.rs, config_queries.rs,
// deployment_queries.rs, cache_queries.rs, dicl_queries.rs and batch_inference.rs (7a6159a, 2026.4.1), each as
// TensorZero builds it (test/fixtures/clickhouse/tensorzero-read-queries/<file>/), run against a database a sidecar
// created and filled through the real `openai` client, the native /inference route and /feedback. Each answer is
// checked for the rows the sidecar wrote and for the JSON types the Rust struct it is parsed into expects.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { v7 as uuidv7 } from 'uuid'
import { READ_QUERIES, TENSORZERO_URL_SETTINGS, startReadScenario } from './helpers/read-scenario.ts'
import type { ReadScenario } from './helpers/read-scenario.ts'

const DIRS = ['feedback', 'variant_statistics', 'howdy_queries', 'config_queries', 'deployment_queries', 'cache_queries', 'dicl_queries', 'batch_inference']
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const SECOND = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/
const PERIOD = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/
/** A 64-bit (or wider) integer as ClickHouse answers TensorZero (quoted): what `deserialize_u64` and `SnapshotHash` read. */
const isU64 = (v: unknown): boolean => typeof v === 'string' && /^\d+$/.test(v)
/** A field serde reads as u32/f32/f64 straight from a JSON number (a quoted value would fail it). */
const isNumber = (v: unknown): boolean => typeof v === 'number'

let s: ReadScenario
const ran = new Set<string>()
const read = async (file: string, params: Record<string, string> = {}): Promise<any[]> => {
  ran.add(file)
  return await s.read(file, params, TENSORZERO_URL_SETTINGS)
}

interface Ids { [name: string]: string }
const id: Ids = {}

t.before(async () => {
  s = await startReadScenario({ db: 'tz_reads_feedback' })
  const chat = async (episode: string, extra: object = {}): Promise<string> => (await s.client.chat.completions.create({
    model: 'tensorzero::function_name::agent', messages: [{ role: 'user', content: 'What is the weather?' }],
    'tensorzero::episode_id': episode, ...extra
  } as any)).id
  id.E1 = uuidv7(); id.E2 = uuidv7(); id.E3 = uuidv7(); id.E4 = uuidv7()
  id.A1 = await chat(id.E1, { 'tensorzero::tags': { team: 'blue' } })
  const stream = await s.client.chat.completions.create({
    model: 'tensorzero::function_name::agent', messages: [{ role: 'user', content: 'Stream it' }], stream: true,
    stream_options: { include_usage: true }, 'tensorzero::episode_id': id.E1
  } as any) as unknown as AsyncIterable<{ id: string }>
  for await (const chunk of stream) id.A2 = chunk.id
  id.B1 = await chat(id.E3, { 'tensorzero::variant_name': 'backup' })
  const native = await fetch(`${s.sidecar.url}/inference`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer x' },
    body: JSON.stringify({ function_name: 'agent', namespace: 'eu', episode_id: id.E2, input: { messages: [{ role: 'user', content: 'Hola' }] } })
  })
  id.N1 = ((await native.json()) as { inference_id: string }).inference_id
  id.J1 = (await s.client.chat.completions.create({
    model: 'tensorzero::function_name::extractor', messages: [{ role: 'user', content: 'Capital of France?' }], 'tensorzero::episode_id': id.E4
  } as any)).id
  // Feedback in a known order (UUIDv7 ids grow): the cursor queries page between pairs of them.
  const fb = async (name: string, metric_name: string, value: unknown, target: object, tags = {}): Promise<void> => {
    id[name] = await s.feedback({ metric_name, value, ...target, tags })
  }
  await fb('ts1', 'task_success', true, { episode_id: id.E1 }, { reviewer: 'ann' })
  await fb('ts2', 'task_success', false, { episode_id: id.E1 })
  await fb('ts3', 'task_success', true, { episode_id: id.E2 })
  await fb('ts4', 'task_success', false, { episode_id: id.E3 })
  await fb('es1', 'episode_score', 0.5, { episode_id: id.E1 })
  for (const [name, target, value] of [['r1', 'A1', 4], ['r2', 'A1', 2], ['r3', 'A2', 5], ['r4', 'B1', 2], ['r5', 'N1', 1], ['r6', 'N1', 3]] as const) {
    await fb(name, 'rating', value, { inference_id: id[target] })
  }
  await fb('h1', 'helpful', true, { inference_id: id.J1 })
  await fb('c1', 'comment', 'first look', { inference_id: id.A1 })
  await fb('c2', 'comment', 'second look', { inference_id: id.A1 })
  await fb('c3', 'comment', 'the whole episode', { episode_id: id.E1 })
  await fb('d1', 'demonstration', 'Sunny.', { inference_id: id.A1 })
  await fb('d2', 'demonstration', 'Sunny and warm.', { inference_id: id.A1 })
  await s.settled(`SELECT id FROM DemonstrationFeedback WHERE id = '${id.d2}'`)
  await s.settled(`SELECT id FROM ChatInference WHERE id IN ('${id.A1}', '${id.A2}', '${id.B1}', '${id.N1}')`, 4)
  await s.settled(`SELECT id FROM JsonInference WHERE id = '${id.J1}'`)
  await s.settled(`SELECT id FROM ModelInference WHERE inference_id IN ('${id.A1}', '${id.A2}', '${id.B1}', '${id.N1}', '${id.J1}')`, 5)
})
t.teardown(async () => { await s?.close() })

/** A feedback row as serde reads it into `{Boolean,Float}MetricFeedbackRow`, `CommentFeedbackRow`, `DemonstrationFeedbackRow`. */
const feedbackRow = (fid: string, fields: object): object => ({ id: fid, tags: Object, timestamp: SECOND, ...fields })

t.test('feedback.rs: each feedback table pages by id cursor (before, after) over the rows /feedback wrote', async t => {
  const page = async (fn: string, idParam: string, target: string, first: string, second: string): Promise<[any[], any[]]> => [
    await read(`feedback/${fn}--before.sql`, { [idParam]: target, before: second, limit: '10' }),
    await read(`feedback/${fn}--after.sql`, { [idParam]: target, after: first, limit: '10' })
  ]
  const [bBefore, bAfter] = await page('query_boolean_metrics_by_target_id', 'target_id', id.E1, id.ts1, id.ts2)
  t.match(bBefore, [feedbackRow(id.ts1, { target_id: id.E1, metric_name: 'task_success', value: true, tags: { reviewer: 'ann' } })])
  t.equal(bBefore.length, 1, 'before the second: only the first')
  t.match(bAfter, [feedbackRow(id.ts2, { target_id: id.E1, metric_name: 'task_success', value: false })])
  t.equal(bAfter.length, 1, 'after the first: only the second')
  const [fBefore, fAfter] = await page('query_float_metrics_by_target_id', 'target_id', id.A1, id.r1, id.r2)
  t.same(fBefore.map(r => [r.id, r.value]), [[id.r1, 4]], 'a float value is a JSON number')
  t.same(fAfter.map(r => [r.id, r.value]), [[id.r2, 2]])
  t.match(fAfter, [feedbackRow(id.r2, { target_id: id.A1, metric_name: 'rating' })])
  const [cBefore, cAfter] = await page('query_comment_feedback_by_target_id', 'target_id', id.A1, id.c1, id.c2)
  t.same(cBefore.map(r => [r.id, r.target_type, r.value]), [[id.c1, 'inference', 'first look']])
  t.same(cAfter.map(r => [r.id, r.target_type, r.value]), [[id.c2, 'inference', 'second look']])
  t.match(cAfter, [feedbackRow(id.c2, { target_id: id.A1 })])
  const [dBefore, dAfter] = await page('query_demonstration_feedback_by_inference_id', 'inference_id', id.A1, id.d1, id.d2)
  // A chat demonstration is stored as TensorZero stores it: its content blocks as JSON text.
  t.same(dBefore.map(r => [r.id, JSON.parse(r.value)]), [[id.d1, [{ type: 'text', text: 'Sunny.' }]]])
  t.same(dAfter.map(r => [r.id, JSON.parse(r.value)]), [[id.d2, [{ type: 'text', text: 'Sunny and warm.' }]]])
  t.match(dAfter, [feedbackRow(id.d2, { inference_id: id.A1 })])
  const episodeComment = await read('feedback/query_comment_feedback_by_target_id--after.sql', { target_id: id.E1, after: id.A1, limit: '10' })
  t.match(episodeComment, [feedbackRow(id.c3, { target_id: id.E1, target_type: 'episode', value: 'the whole episode' })], 'an episode comment is typed episode')
})

t.test('feedback.rs: bounds and counts per feedback table find the first and last id and the number /feedback wrote', async t => {
  const cases: Array<[string, string, string, string, string, string]> = [
    ['query_boolean_metric_bounds_by_target_id', 'count_boolean_metrics_by_target_id', 'target_id', id.E1, id.ts1, id.ts2],
    ['query_float_metric_bounds_by_target_id', 'count_float_metrics_by_target_id', 'target_id', id.A1, id.r1, id.r2],
    ['query_comment_feedback_bounds_by_target_id', 'count_comment_feedback_by_target_id', 'target_id', id.A1, id.c1, id.c2],
    ['query_demonstration_feedback_bounds_by_inference_id', 'count_demonstration_feedback_by_inference_id', 'inference_id', id.A1, id.d1, id.d2]
  ]
  for (const [bounds, count, param, target, first, last] of cases) {
    t.same(await read(`feedback/${bounds}.sql`, { [param]: target }), [{ first_id: first, last_id: last }], bounds)
    t.same(await read(`feedback/${count}.sql`, { [param]: target }), [{ count: '2' }], `${count}: a quoted u64`)
  }
})

t.test('feedback.rs: metrics with feedback for a json function and for one variant of a chat function', async t => {
  const json = await read('feedback/query_metrics_with_feedback--json.sql', { function_name: 'extractor' })
  t.same(json, [{ function_name: 'extractor', metric_name: 'helpful', feedback_count: 1 }])
  t.ok(isNumber(json[0].feedback_count), 'feedback_count is a JSON number (u32)')
  t.same(await read('feedback/query_metrics_with_feedback--chat-variant.sql', { function_name: 'agent', variant_name: 'main' }), [
    { function_name: 'agent', metric_name: 'demonstration', feedback_count: 2 },
    { function_name: 'agent', metric_name: 'episode_score', feedback_count: 1 },
    { function_name: 'agent', metric_name: 'rating', feedback_count: 5 },
    { function_name: 'agent', metric_name: 'task_success', feedback_count: 3 }
  ], 'episode feedback counts for the variant its one-variant episodes ran')
  t.same(await read('feedback/query_metrics_with_feedback--chat-variant.sql', { function_name: 'agent', variant_name: 'backup' }), [
    { function_name: 'agent', metric_name: 'rating', feedback_count: 1 },
    { function_name: 'agent', metric_name: 'task_success', feedback_count: 1 }
  ])
})

t.test('feedback.rs: feedback by variant, filtered by variant and by the namespace the native /inference tagged', async t => {
  const byVariant = await read('feedback/get_feedback_by_variant--variant-filter.sql', { function_name: 'agent', metric_name: 'rating' })
  const sorted = byVariant.sort((a, b) => a.variant_name.localeCompare(b.variant_name))
  t.match(sorted, [{ variant_name: 'backup', mean: 2 }, { variant_name: 'main', mean: 3 }])
  t.strictSame(sorted.map(r => r.count), ['1', '5'], 'count: a quoted u64')
  t.ok(sorted.every(r => isNumber(r.mean)), 'mean: an f32')
  t.equal(sorted[0].variance, null, 'one sample: variance is null (serde Option<f32>)')
  t.ok(isNumber(sorted[1].variance))
  const ns = async (metric: string, file = 'namespace'): Promise<any[]> =>
    await read(`feedback/get_feedback_by_variant--${file}.sql`, { function_name: 'agent', metric_name: metric })
  t.strictSame(await ns('rating'), [{ variant_name: 'main', mean: 2, variance: 2, count: '2' }], 'inference feedback of the namespaced inference only')
  t.strictSame(await ns('task_success'), [{ variant_name: 'main', mean: 1, variance: null, count: '1' }], 'episode feedback of the namespaced episode only')
  t.strictSame(await ns('rating', 'namespace-variant-max-samples'), [{ variant_name: 'main', mean: 3, variance: null, count: '1' }], 'the newest sample per variant')
})

t.test('feedback.rs: cumulative feedback time series per minute and per month end at each variant\'s totals', async t => {
  for (const file of ['get_cumulative_feedback_timeseries--minute.sql', 'get_cumulative_feedback_timeseries--month-variant-filter.sql']) {
    const rows = await read(`feedback/${file}`, { function_name: 'agent', metric_name: 'rating', max_periods: '10' })
    t.ok(rows.length >= 2, file)
    t.ok(rows.every(r => SECOND.test(r.period_end) && isNumber(r.mean) && isU64(r.count) && r.alpha === 0.05), `${file}: InternalCumulativeFeedbackTimeSeriesPoint types`)
    const last = (v: string): any => rows.filter(r => r.variant_name === v).at(-1)
    t.match(last('main'), { mean: 3, count: '5' }, `${file}: main's running total`)
    t.match(last('backup'), { mean: 2, count: '1', variance: null }, `${file}: backup's running total`)
  }
})

t.test('feedback.rs: variant performances at inference and episode level, cumulative and per period', async t => {
  const perf = async (file: string, params: Record<string, string>): Promise<any[]> => {
    const rows = await read(`feedback/get_variant_performances--${file}.sql`, params)
    t.ok(rows.every(r => PERIOD.test(r.period_start) && isNumber(r.count) && isNumber(r.avg_metric)), `${file}: VariantPerformanceRow types`)
    return rows
  }
  const inference = await perf('inference-float-cumulative', { function_name: 'agent', metric_name: 'rating' })
  t.match(inference, [{ period_start: '1970-01-01T00:00:00.000Z', variant_name: 'backup', count: 1, avg_metric: 2, stdev: null, ci_error: null },
    { variant_name: 'main', count: 3, stdev: Number, ci_error: Number }], 'the newest rating per inference')
  t.ok(Math.abs(inference[1].avg_metric - 10 / 3) < 1e-6)
  const week = await perf('inference-float-week-variant', { function_name: 'agent', metric_name: 'rating', variant_name: 'main', time_window_unit: 'week' })
  t.same([...new Set(week.map(r => r.variant_name))], ['main'])
  t.equal(week.reduce((n, r) => n + r.count, 0), 3)
  t.match(await perf('inference-boolean-json-cumulative', { function_name: 'extractor', metric_name: 'helpful' }), [{ variant_name: 'main', count: 1, avg_metric: 1 }])
  t.match(await perf('episode-boolean-cumulative', { function_name: 'agent', metric_name: 'task_success' }),
    [{ variant_name: 'backup', count: 1, avg_metric: 0 }, { variant_name: 'main', count: 2, avg_metric: 0.5 }], 'the newest value per episode')
  const day = await perf('episode-float-day-variant', { function_name: 'agent', metric_name: 'episode_score', variant_name: 'main', time_window_unit: 'day' })
  t.match(day, [{ variant_name: 'main', count: 1, avg_metric: 0.5 }])
})

t.test('feedback.rs and variant_statistics.rs root fixtures answer on this data with the types TensorZero reads', async t => {
  const ids = (rows: any[]): string[] => rows.map(r => r.id)
  t.same(ids(await read('03-boolean-feedback-by-target-id.sql', { target_id: id.E1, limit: '10' })), [id.ts2, id.ts1], 'newest first')
  t.same(ids(await read('04-float-feedback-by-target-id.sql', { target_id: id.A1, limit: '10' })), [id.r2, id.r1])
  t.same(ids(await read('05-comment-feedback-by-target-id.sql', { target_id: id.A1, limit: '1' })), [id.c2], 'limit')
  t.same(ids(await read('06-demonstration-feedback-by-inference-id.sql', { inference_id: id.A1, limit: '10' })), [id.d2, id.d1])
  // Its ORDER BY binds to the UNION's last SELECT (ClickHouse's grammar), not to the whole answer: compared as a set.
  const latest = (await read('07-latest-feedback-id-by-metric.sql', { target_id: id.E1 })).sort((a, b) => a.metric_name.localeCompare(b.metric_name))
  t.strictSame(latest, [{ metric_name: 'episode_score', latest_id: id.es1 }, { metric_name: 'task_success', latest_id: id.ts2 }])
  t.strictSame((await read('08-metrics-with-feedback.sql', { function_name: 'agent' })).map(r => [r.metric_name, r.feedback_count]),
    [['demonstration', 2], ['episode_score', 1], ['rating', 6], ['task_success', 4]], 'u32 counts over both variants')
  const byVariant = (await read('09-feedback-by-variant.sql', { function_name: 'agent', metric_name: 'rating' })).sort((a, b) => a.variant_name.localeCompare(b.variant_name))
  t.strictSame(byVariant.map(r => [r.variant_name, r.mean, r.count]), [['backup', 2, '1'], ['main', 3, '5']])
  const stats = await read('10-variant-statistics.sql', { function_name: 'agent' })
  t.strictSame(stats.map(r => [r.variant_name, r.inference_count, r.total_output_tokens]), [['backup', '1', '5'], ['main', '3', '15']])
})

t.test('variant_statistics.rs: statistics for named variants and within a time range', async t => {
  const names = await read('variant_statistics/get_variant_statistics--variant-names.sql', { function_name: 'agent', variant_names: "['backup']" })
  t.match(names, [{ function_name: 'agent', variant_name: 'backup' }])
  t.strictSame([names.length, names[0].inference_count, names[0].total_input_tokens, names[0].total_output_tokens], [1, '1', '7', '5'], 'quoted u64 counts')
  t.ok(isU64(names[0].count_with_cost))
  const at = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ')
  const range = await read('variant_statistics/get_variant_statistics--after-before.sql', {
    function_name: 'agent', after: at(Date.now() - 86_400_000), before: at(Date.now() + 86_400_000)
  })
  t.strictSame(range.map(r => [r.variant_name, r.inference_count, r.total_input_tokens]), [['backup', '1', '7'], ['main', '3', '21']])
  for (const r of range) {
    t.ok(r.total_cost === null || isNumber(r.total_cost), 'total_cost: rust_decimal float_option reads a number or null')
    t.equal(r.processing_time_ms_quantiles.length, 70, 'one value per quantile')
    t.ok(r.processing_time_ms_quantiles.every((q: unknown) => q === null || typeof q === 'number'), 'Vec<Option<f32>>')
  }
  const outside = await read('variant_statistics/get_variant_statistics--after-before.sql', {
    function_name: 'agent', after: at(Date.now() + 86_400_000), before: at(Date.now() + 2 * 86_400_000)
  })
  t.same(outside, [], 'a range without inferences is empty')
})

t.test('howdy, config and deployment queries (root fixtures) count and find what the sidecar wrote', async t => {
  t.strictSame(await read('15-howdy-inference-counts.sql'), [{ chat_inference_count: '4', json_inference_count: '1' }])
  t.strictSame(await read('16-howdy-feedback-counts.sql'),
    [{ boolean_metric_feedback_count: '5', float_metric_feedback_count: '7', demonstration_feedback_count: '2', comment_feedback_count: '3' }])
  const [tokens] = await read('17-howdy-token-totals.sql')
  t.ok(isU64(tokens.input_tokens) && isU64(tokens.output_tokens), 'Option<u64> as deserialize_option_u64 reads it')
  t.equal(tokens.input_tokens, String(4 * 7 + 11), 'prompt tokens of the four chat and one json inference')
  const [snap] = await s.ch.query<{ hash: string }>('SELECT toString(hash) AS hash FROM ConfigSnapshot', { database: s.db })
  const [stored] = await read('18-config-snapshot.sql', { hash: snap.hash })
  t.match(stored, { config: String, extra_templates: Object, tags: Object })
  // ConfigSnapshot::from_stored parses `config` as its StoredConfig: a file-valued key is a remapped-path table.
  const config = parseToml(stored.config) as any
  const schema = (name: string): object => ({ __tensorzero_remapped_path: name, __data: readFileSync(path.join(path.dirname(s.configFile), name), 'utf8') })
  t.same({ ...config.functions.extractor.output_schema }, schema('extractor_output.json'), 'output_schema: path and text')
  t.same({ ...config.tools.get_weather.parameters }, schema('get_weather.json'), 'tool parameters: path and text')
  t.strictSame(Object.keys(config.functions.agent.variants).sort(), ['backup', 'main'])
  t.equal(config.metrics.rating.type, 'float')
  t.match(await read('19-deployment-id.sql'), [{ deployment_id: /^[0-9a-f]{64}$/ }])
})

t.test('cache_queries.rs: TensorZero\'s cache lookup finds the entries the sidecar wrote for chat and embeddings', async t => {
  const cache = { 'tensorzero::cache_options': { enabled: 'on' } }
  await s.client.chat.completions.create({ model: 'tensorzero::model_name::gpt', messages: [{ role: 'user', content: 'cache me' }], ...cache } as any)
  await s.client.embeddings.create({ model: 'tensorzero::embedding_model_name::embedder', input: 'cache me too', ...cache } as any)
  const keys = await s.settled<{ short: string; long: string }>('SELECT toString(short_cache_key) AS short, long_cache_key AS long FROM ModelInferenceCache', 2)
  for (const key of keys) {
    for (const [file, extra] of [['cache_lookup.sql', {}], ['cache_lookup--max-age.sql', { lookback_s: '3600' }]] as const) {
      const rows = await read(`cache_queries/${file}`, { short_cache_key: key.short, long_cache_key: key.long, ...extra })
      t.equal(rows.length, 1, `${file} finds the entry`)
      t.match(rows[0], { output: String, raw_request: String, raw_response: String })
      t.ok(Array.isArray(JSON.parse(rows[0].output)), 'output is JSON text')
    }
  }
  t.same(await read('cache_queries/cache_lookup.sql', { short_cache_key: keys[0].short, long_cache_key: '0'.repeat(64) }), [],
    'the long key is compared too')
})

t.test('dicl_queries.rs: examples made from a sidecar inference, as TensorZero\'s DICL optimizer stores them, are found nearest first', async t => {
  // TensorZero's insert_dicl_batch: id, function_name, variant_name, namespace '', input and output as the inference stored them, embedding.
  const insert = (embedding: number[]): string => `INSERT INTO DynamicInContextLearningExample (id, function_name, variant_name, namespace, input, output, embedding)
    SELECT generateUUIDv7(), 'agent', 'dicl', '', input, output, ${JSON.stringify(embedding)} FROM ChatInference WHERE id = '${id.A1}'`
  await s.ch.query(insert([5, 0.5, -0.25]), { database: s.db })
  await s.ch.query(insert([0, 1, 0]), { database: s.db })
  const [stored] = await s.ch.query<{ input: string; output: string }>(`SELECT input, output FROM ChatInference WHERE id = '${id.A1}'`, { database: s.db })
  const similar = await read('dicl_queries/get_similar_dicl_examples.sql', { function_name: 'agent', variant_name: 'dicl' })
  t.equal(similar.length, 2)
  t.match(similar[0], { input: stored.input, output: stored.output, cosine_distance: Number })
  t.ok(similar[0].cosine_distance < 1e-6 && similar[1].cosine_distance > similar[0].cosine_distance, 'nearest first')
  t.match(JSON.parse(similar[0].input), { messages: [{ role: 'user', content: [{ type: 'text', text: 'What is the weather?' }] }] }, 'a StoredInput')
  t.match(JSON.parse(similar[0].output), [{ type: 'text', text: String }], 'chat output blocks')
  t.same(await read('dicl_queries/has_dicl_examples.sql', { function_name: 'agent', variant_name: 'dicl' }), [{ 1: 1 }])
  t.same(await read('dicl_queries/has_dicl_examples.sql', { function_name: 'agent', variant_name: 'main' }), [])
  t.same(await read('dicl_queries/delete_dicl_examples--count.sql', { function_name: 'agent', variant_name: 'dicl' }), [{ 'count()': '2' }])
})

/**
 * What `deserialize_optional_tool_info` (TensorZero's tool/storage.rs) would refuse in a row's tool columns: with
 * `allowed_tools` or `tool_choice` set, `dynamic_tools` and `dynamic_provider_tools` are arrays of JSON texts,
 * `allowed_tools` is JSON text of `{tools, choice}`, `tool_choice` a plain or JSON-text choice, `tool_params` JSON text or ''.
 */
function toolInfoProblems (row: Record<string, any>): string[] {
  const problems: string[] = []
  const parses = (text: unknown): boolean => { try { JSON.parse(String(text)); return typeof text === 'string' } catch { return false } }
  if (row.allowed_tools === null && row.tool_choice === null) return problems
  for (const column of ['dynamic_tools', 'dynamic_provider_tools']) {
    if (!Array.isArray(row[column]) || !row[column].every(parses)) problems.push(`${column}: not an array of JSON texts`)
  }
  const allowed = parses(row.allowed_tools) ? JSON.parse(row.allowed_tools) : undefined
  if (!Array.isArray(allowed?.tools) || typeof allowed?.choice !== 'string') problems.push('allowed_tools: not JSON text of {tools, choice}')
  if (typeof row.tool_choice !== 'string' || !(['auto', 'none', 'required'].includes(row.tool_choice) || parses(row.tool_choice))) problems.push('tool_choice')
  if (row.tool_params !== null && row.tool_params !== '' && !parses(row.tool_params)) problems.push('tool_params: not JSON text')
  if (row.parallel_tool_calls !== null && typeof row.parallel_tool_calls !== 'boolean') problems.push('parallel_tool_calls')
  return problems
}

/** BatchModelInference rows made from sidecar inferences, with the columns TensorZero's BatchModelInferenceRow writes. */
async function batchOf (batch: string, table: 'ChatInference' | 'JsonInference', inferenceIds: string[], fixedIds?: string[]): Promise<void> {
  const toolColumns = table === 'ChatInference' ? 'i.tool_params, i.dynamic_tools, i.dynamic_provider_tools, i.allowed_tools, i.tool_choice, i.parallel_tool_calls, NULL' : "NULL, [], [], NULL, NULL, NULL, i.output_schema"
  const idColumn = fixedIds === undefined ? 'i.id' : `[${fixedIds.map(f => `toUUID('${f}')`).join(', ')}][indexOf([${inferenceIds.map(f => `toUUID('${f}')`).join(', ')}], i.id)]`
  await s.ch.query(`INSERT INTO BatchModelInference (inference_id, batch_id, function_name, variant_name, episode_id, input, input_messages, system,
      tool_params, dynamic_tools, dynamic_provider_tools, allowed_tools, tool_choice, parallel_tool_calls, output_schema, inference_params, raw_request,
      model_name, model_provider_name, tags, snapshot_hash)
    SELECT ${idColumn}, toUUID('${batch}'), i.function_name, i.variant_name, i.episode_id, i.input, mi.input_messages, mi.system, ${toolColumns},
      i.inference_params, mi.raw_request, mi.model_name, mi.model_provider_name, i.tags, i.snapshot_hash
    FROM ${table} i JOIN ModelInference mi ON mi.inference_id = i.id
    WHERE i.id IN (${inferenceIds.map(f => `'${f}'`).join(', ')})`, { database: s.db })
  await s.ch.query(`INSERT INTO BatchRequest (batch_id, id, batch_params, model_name, model_provider_name, status, errors, raw_request, raw_response,
      function_name, variant_name, snapshot_hash)
    SELECT toUUID('${batch}'), generateUUIDv7(), '{"max_tokens":100}', 'gpt', 'upstream', 'completed', [], '{}', '{}', function_name, variant_name, snapshot_hash
    FROM ${table} WHERE id = '${inferenceIds[0]}'`, { database: s.db })
}

t.test('batch_inference.rs: a batch over sidecar inferences reads back its request, model inferences and completed results', async t => {
  const chatBatch = uuidv7()
  const jsonBatch = uuidv7()
  const pendingBatch = uuidv7()
  await batchOf(chatBatch, 'ChatInference', [id.A1, id.A2])
  await batchOf(jsonBatch, 'JsonInference', [id.J1])
  // get_batch_model_inferences' fixture names two inference ids as literals: a batch of inferences not yet completed.
  await batchOf(pendingBatch, 'ChatInference', [id.A1, id.B1], ['019ae0a0-0000-7000-8000-00000000b001', '019ae0a0-0000-7000-8000-00000000b002'])

  const request = { batch_id: chatBatch, id: UUID, batch_params: '{"max_tokens":100}', model_name: 'gpt', model_provider_name: 'upstream', status: 'completed', function_name: 'agent', variant_name: 'main', errors: [] }
  const [byBatch] = await read('batch_inference/get_batch_request--batch-id.sql', { batch_id: chatBatch })
  t.match(byBatch, request)
  t.ok(isU64(byBatch.snapshot_hash), 'snapshot_hash: a quoted UInt256, as SnapshotHash reads it')
  t.match(await read('batch_inference/get_batch_request--inference-id.sql', { batch_id: chatBatch, inference_id: id.A2 }), [request], 'found through BatchIdByInferenceId')
  t.same(await read('batch_inference/get_batch_request--inference-id.sql', { batch_id: jsonBatch, inference_id: id.A2 }), [], 'an inference of another batch')

  const models = await read('batch_inference/get_batch_model_inferences.sql', { batch_id: pendingBatch })
  t.same(models.map(m => m.inference_id).sort(), ['019ae0a0-0000-7000-8000-00000000b001', '019ae0a0-0000-7000-8000-00000000b002'])
  for (const m of models) {
    t.match(m, { batch_id: pendingBatch, function_name: 'agent', episode_id: UUID, model_name: 'gpt', model_provider_name: 'upstream', tags: Object })
    t.match(JSON.parse(m.input), { messages: [{ role: 'user', content: [{ type: 'text', text: String }] }] }, 'input: a StoredInput')
    t.match(JSON.parse(m.input_messages), [{ role: 'user', content: [{ type: 'text', text: String }] }], 'input_messages: Vec<StoredRequestMessage>')
    t.match(JSON.parse(m.inference_params), { chat_completion: Object }, 'inference_params: InferenceParams')
    t.same(toolInfoProblems(m), [], 'the tool columns read as deserialize_optional_tool_info reads them')
    t.ok(isU64(m.snapshot_hash))
  }

  const completed = { episode_id: UUID, variant_name: 'main', input_tokens: 7, output_tokens: 5, finish_reason: 'stop' }
  const chats = await read('batch_inference/get_completed_chat_batch_inferences--batch.sql', { batch_id: chatBatch, function_name: 'agent', variant_name: 'main' })
  t.same(chats.map(c => c.inference_id).sort(), [id.A1, id.A2].sort())
  for (const c of chats) {
    t.match(c, completed, 'CompletedBatchInferenceRow: tokens and a FinishReason')
    t.ok(isNumber(c.input_tokens) && isNumber(c.output_tokens), 'Option<u32> tokens are JSON numbers')
    t.ok(c.cost === null || typeof c.cost === 'number', 'cost: Option<Decimal>')
    t.match(JSON.parse(c.output), [{ type: 'text', text: String }], 'chat output: content blocks')
  }
  const one = await read('batch_inference/get_completed_chat_batch_inferences--inference-id.sql', { inference_id: id.A1, function_name: 'agent', variant_name: 'main' })
  t.match(one, [{ ...completed, inference_id: id.A1, episode_id: id.E1 }])
  const jsons = await read('batch_inference/get_completed_json_batch_inferences--batch.sql', { batch_id: jsonBatch, function_name: 'extractor', variant_name: 'main' })
  t.match(jsons, [{ inference_id: id.J1, episode_id: id.E4, variant_name: 'main', input_tokens: Number, output_tokens: Number, finish_reason: 'stop' }])
  t.match(JSON.parse(jsons[0].output), { raw: String, parsed: { answer: 'Paris' } }, 'json output: raw and parsed')
  t.match(await read('batch_inference/get_completed_json_batch_inferences--inference-id.sql', { inference_id: id.J1, function_name: 'extractor', variant_name: 'main' }),
    [{ inference_id: id.J1, episode_id: id.E4 }])
})

t.test('coverage.json names every fixture of its folder, and every fixture here was run', async t => {
  for (const dir of DIRS) {
    const coverage = JSON.parse(await readFile(new URL(`${dir}/coverage.json`, READ_QUERIES), 'utf8')) as { functions: Record<string, { fixtures?: string[]; none?: string }> }
    const entries = Object.entries(coverage.functions)
    t.same(entries.filter(([, e]) => (e.fixtures?.length ?? 0) === 0 && (e.none ?? '') === '').map(([fn]) => fn), [], `${dir}: every function has fixtures or a reason`)
    const named = entries.flatMap(([, e]) => e.fixtures ?? [])
    const files = new Set((await readdir(new URL(`${dir}/`, READ_QUERIES))).filter(f => f.endsWith('.sql')))
    const roots = new Set(await readdir(READ_QUERIES))
    t.same(named.filter(f => f.startsWith('../') ? !roots.has(f.slice(3)) : !files.has(f)), [], `${dir}: every fixture named exists`)
    t.same([...files].filter(f => !named.includes(f)), [], `${dir}: no fixture left out of coverage.json`)
    t.same([...files, ...named.filter(f => f.startsWith('../')).map(f => f.slice(3))].filter(f => !ran.has(`${dir}/${f}`) && !ran.has(f)), [],
      `${dir}: every fixture it names ran here`)
  }
})
