// Adaptive (track-and-stop) experimentation. First the algorithm against TensorZero's own test vectors
// (crates/tensorzero-core/src/experimentation/track_and_stop/: estimate_optimal_probabilities.rs `*_cvxpy` and
// `*_scipy` tests, check_stopping.rs and mod.rs `test_state_new_*`), then through a running sidecar and the real
// `openai` client: traffic moves to the variant with better feedback once statistics are seeded in ClickHouse's
// FeedbackByVariantStatistics, episodes keep their variant, and ClickHouse going away changes nothing but a warning.
import t from 'tap'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { v7 as uuidv7 } from 'uuid'
import { estimateOptimalProbabilities } from '../src/function/experimentation/optimal-probabilities.ts'
import type { OptimalProbabilitiesOptions } from '../src/function/experimentation/optimal-probabilities.ts'
import { checkStopping, chooseLeader } from '../src/function/experimentation/stopping.ts'
import { computeState, sampleState } from '../src/function/experimentation/track-and-stop.ts'
import type { TrackAndStopSettings } from '../src/core/config.ts'
import { startChdbServer, startFaultProxy } from './helpers/chdb-server.ts'
import type { ChdbServer } from './helpers/chdb-server.ts'
import { startCli } from './helpers/process.ts'
import type { ServingSidecar } from './helpers/process.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'
import { waitFor } from './helpers/wait.ts'
import { runMigrate } from '../src/store/migrate.ts'
import { validateConfigFiles } from '../src/config/load.ts'
import { formatDiagnostic } from '../src/config/diagnostics.ts'

/** TensorZero's tests build feedback with f32 means and variances: the same rounding here. */
const arms = (counts: number[], means: number[], variances: number[]) =>
  counts.map((count, i) => ({ name: `variant_${i}`, count, mean: Math.fround(means[i]), variance: Math.fround(variances[i]) }))

type Vector = [name: string, counts: number[], means: number[], variances: number[], opts: OptimalProbabilitiesOptions, expected: number[], tol: number]
const VECTORS: Vector[] = [
  ['test_three_arms_varied_cvxpy', [10, 10, 10], [0.20, 0.60, 0.40], [0.10, 0.20, 0.15], { epsilon: 0.02, varianceFloor: undefined, minProb: 0.05, reg0: 0.5, optimize: 'max' }, [0.050000000981238, 0.509054656289642, 0.440945342729120], 1e-4],
  ['test_four_arms_with_reg_cvxpy', [15, 30, 20, 35], [0.25, 0.55, 0.40, 0.60], [0.05, 0.15, 0.10, 0.20], { epsilon: 0.05, varianceFloor: undefined, minProb: 0.05, reg0: 2.0, optimize: 'max' }, [0.050000000010182, 0.417754702981922, 0.050000000506407, 0.482245296501354], 1e-4],
  ['test_close_competition_cvxpy', [10, 10, 10], [0.50, 0.51, 0.30], [0.10, 0.10, 0.10], { epsilon: 0.01, varianceFloor: undefined, minProb: 0.01, reg0: 0.0, optimize: 'max' }, [0.494996029290799, 0.495003970556052, 0.010000000211085], 1e-4],
  ['test_ten_arms_cvxpy', [10, 10, 10, 10, 10, 10, 10, 10, 10, 10], [0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 1.00], [0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10], { epsilon: 0.02, varianceFloor: undefined, minProb: 0.01, reg0: 0.1, optimize: 'max' }, [0.009999998037405, 0.009999998021350, 0.009999998050981, 0.009999998100266, 0.011316045868696, 0.017600153556836, 0.031270947718469, 0.072188003456080, 0.409811419219896, 0.417813437971073], 1e-4],
  ['test_high_variance_gaussians_cvxpy', [20, 20, 20], [10.00, 12.00, 11.00], [2.00, 3.50, 2.50], { epsilon: 0.5, varianceFloor: undefined, minProb: 0.05, reg0: 0.1, optimize: 'min' }, [0.411818058014078, 0.144184113193170, 0.443997828792751], 1e-4],
  ['test_very_high_variance_cvxpy', [30, 30], [50.00, 55.00], [10.00, 15.00], { epsilon: 1.0, varianceFloor: undefined, minProb: 0.01, reg0: 0.5, optimize: 'max' }, [0.450083389074646, 0.549916610924264], 1e-4],
  ['test_mixed_variance_scales_cvxpy', [15, 15, 15, 15], [1.00, 5.00, 3.00, 7.00], [0.10, 2.00, 0.50, 4.00], { epsilon: 0.2, varianceFloor: undefined, minProb: 0.05, reg0: 1.0, optimize: 'min' }, [0.164052326317122, 0.274275620684497, 0.320837210430485, 0.240834842568170], 1e-4],
  ['test_small_means_large_variance_cvxpy', [25, 25, 25], [0.10, 0.30, 0.20], [5.00, 8.00, 6.00], { epsilon: 0.05, varianceFloor: undefined, minProb: 0.1, reg0: 0.2, optimize: 'max' }, [0.099999996666504, 0.482302162018304, 0.417697840883230], 1e-4],
  ['test_five_arms_high_variance_cvxpy', [10, 10, 10, 10, 10], [20.00, 25.00, 22.00, 28.00, 24.00], [3.00, 4.00, 2.50, 5.00, 3.50], { epsilon: 1.0, varianceFloor: undefined, minProb: 0.05, reg0: 0.5, optimize: 'min' }, [0.407341605286492, 0.079666735242631, 0.355686015295549, 0.050000000075998, 0.107305644099329], 1e-4],
  ['test_asymmetric_high_variance_cvxpy', [50, 50], [100.00, 105.00], [1.00, 20.00], { epsilon: 2.0, varianceFloor: undefined, minProb: 0.01, reg0: 0.0, optimize: 'max' }, [0.182752086850448, 0.817247913149552], 1e-4],
  ['test_two_arms_simple_scipy', [20, 20], [0.50, 0.70], [0.10, 0.15], { epsilon: 0.1, varianceFloor: undefined, minProb: 0.05, reg0: 0.1, optimize: 'max' }, [0.449525654401765, 0.550474345598233], 1e-4],
  ['test_three_arms_moderate_scipy', [15, 15, 15], [1.00, 1.50, 1.20], [0.20, 0.30, 0.25], { epsilon: 0.2, varianceFloor: undefined, minProb: 0.05, reg0: 0.2, optimize: 'min' }, [0.423761527414760, 0.114067986187023, 0.462170486398217], 1e-4],
  ['test_very_high_variance_scipy', [30, 30], [50.00, 55.00], [10.00, 15.00], { epsilon: 1.0, varianceFloor: undefined, minProb: 0.01, reg0: 0.5, optimize: 'max' }, [0.450070015802657, 0.549929984197342], 1e-4],
  ['test_four_arms_different_scales_scipy', [20, 20, 20, 20], [2.00, 3.00, 2.50, 3.50], [0.50, 1.00, 0.75, 1.50], { epsilon: 0.3, varianceFloor: undefined, minProb: 0.05, reg0: 0.3, optimize: 'min' }, [0.352531945768924, 0.139366907316944, 0.408479860960564, 0.099621285953567], 1e-4],
  ['test_small_epsilon_scipy', [50, 50], [10.00, 10.50], [1.00, 1.20], { epsilon: 0.05, varianceFloor: undefined, minProb: 0.1, reg0: 0.1, optimize: 'max' }, [0.477229489718064, 0.522770510281936], 1e-4],
]

t.test('optimal sampling probabilities match TensorZero\'s cvxpy/scipy reference vectors within their tolerance', async t => {
  for (const [name, counts, means, variances, opts, expected, tol] of VECTORS) {
    const probs = estimateOptimalProbabilities(arms(counts, means, variances), opts)
    const got = counts.map((_, i) => probs.get(`variant_${i}`) as number)
    const worst = Math.max(...got.map((p, i) => Math.abs(p - expected[i])))
    t.ok(worst < tol, `${name}: off by ${worst.toExponential(2)} (tolerance ${tol})`)
    t.ok(Math.abs(got.reduce((s, p) => s + p, 0) - 1) < 1e-6, `${name}: sums to 1`)
  }
})

t.test('optimal probabilities: TensorZero\'s property tests (min_prob floor, degenerate arms, direction)', async t => {
  const floor = estimateOptimalProbabilities(arms([10, 10, 10], [0.2, 0.3, 0.9], [0.1, 0.1, 10]), { epsilon: 0.01, minProb: 0.1, reg0: 0, optimize: 'max' })
  t.ok([...floor.values()].every(p => p >= 0.1 - 1e-6), 'test_min_prob_constraint')
  const equal = estimateOptimalProbabilities(arms([100, 100], [0.5, 0.5], [1e-15, 1e-14]), { epsilon: 0, varianceFloor: 0.01, minProb: 1e-6, reg0: 0, optimize: 'max' })
  t.same([...equal.values()], [0.5, 0.5], 'test_equal_means_equal_variances_below_floor: uniform')
  const higherVariance = estimateOptimalProbabilities(arms([100, 100], [0.5, 0.5], [0.1, 0.5]), { epsilon: 0, minProb: 1e-6, reg0: 0, optimize: 'max' })
  t.ok((higherVariance.get('variant_1') as number) > (higherVariance.get('variant_0') as number), 'test_equal_means_different_variances_above_floor')
  const max = estimateOptimalProbabilities(arms(Array(10).fill(10), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], Array(10).fill(0.1)), { epsilon: 0, minProb: 0.05, reg0: 0, optimize: 'max' })
  t.ok((max.get('variant_9') as number) >= (max.get('variant_0') as number), 'test_many_arms (max)')
  const min = estimateOptimalProbabilities(arms(Array(10).fill(10), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], Array(10).fill(0.1)), { epsilon: 0, minProb: 0.05, reg0: 0, optimize: 'min' })
  t.ok((min.get('variant_0') as number) >= (min.get('variant_9') as number), 'test_many_arms (min)')
  // Twenty arms spread far apart: the clearly worse ones sit at the floor, the two leaders share the rest.
  const twenty = estimateOptimalProbabilities(Array.from({ length: 20 }, (_, i) => ({ name: `v${i}`, count: 50, mean: 0.1 * (i + 1), variance: 0.1 + 0.01 * i })),
    { epsilon: 0.02, minProb: 0.01, reg0: 0.1, optimize: 'max' })
  t.ok(Array.from({ length: 10 }, (_, i) => twenty.get(`v${i}`) as number).every(p => p < 0.0101), 'twenty arms: the worst ten at min_prob')
  t.ok((twenty.get('v18') as number) + (twenty.get('v19') as number) > 0.7, 'twenty arms: the two leaders take most of the traffic')
})

t.test('leader choice and the stopping test as TensorZero\'s check_stopping.rs tests pin them', async t => {
  t.equal(chooseLeader([0.3, 0.7, 0.5], [0.1, 0.1, 0.1], [100, 100, 100]), 1, 'test_choose_leader_no_tie')
  t.equal(chooseLeader([0.7, 0.7, 0.5], [0.3, 0.1, 0.2], [100, 100, 100]), 1, 'ties broken by the smallest variance per pull')
  t.equal(chooseLeader([0.7, 0.7, 0.5], [0.1, 0.1, 0.2], [100, 100, 100]), 0, 'then by the smallest index')
  t.equal(chooseLeader([0.5, 0.5, 0.5], [0.3, 0.1, 0.2], [100, 100, 100]), 1, 'test_choose_leader_all_tied')
  const stop = (counts: number[], means: number[], variances: number[], epsilon = 0, delta = 0.05) =>
    checkStopping(arms(counts, means, variances), { minPulls: 10, epsilon, delta, optimize: 'max' })
  t.equal(stop([5, 15, 25], [0.3, 0.7, 0.5], [0.1, 0.1, 0.1]), undefined, 'test_check_stopping_insufficient_pulls')
  t.equal(stop([1000, 1000, 1000], [0.3, 0.9, 0.5], [0.1, 0.1, 0.1]), 'variant_1', 'test_check_stopping_clear_winner_should_stop')
  t.equal(stop([50, 50, 50], [0.50, 0.52, 0.51], [0.2, 0.2, 0.2]), undefined, 'test_check_stopping_close_competition_should_not_stop')
  t.equal(stop([50, 50, 50], [0.3, 0.7, 0.5], [0.1, 0.1, 0.1]), 'variant_1', 'test_check_stopping_returns_empirical_leader')
  t.equal(stop([500, 500], [0.68, 0.70], [0.1, 0.1], 0), undefined, 'test_check_stopping_with_epsilon: no epsilon, no winner')
  t.equal(stop([500, 500], [0.68, 0.70], [0.1, 0.1], 0.05), 'variant_1', 'test_check_stopping_with_epsilon: epsilon 0.05 stops')
})

const settings = (candidates: string[], optimize: 'max' | 'min' = 'max'): TrackAndStopSettings => ({
  type: 'track_and_stop', metric: 'm', optimize, candidates, fallbacks: [], minSamplesPerVariant: 10, delta: 0.05, epsilon: 0,
  updatePeriodMs: 1000, minProb: 0, maxSamplesPerVariant: 10_000
})
const feedback = (variantName: string, count: number, mean: number, variance: number) =>
  ({ variantName, count, mean: Math.fround(mean), variance: Math.fround(variance) })

t.test('track-and-stop states from feedback, as TensorZero\'s test_state_new_* tests expect', async t => {
  t.same(computeState(settings(['A', 'B', 'C']), [feedback('A', 5, 0.5, 0.1), feedback('B', 3, 0.6, 0.2), feedback('C', 4, 0.7, 0.15)]),
    { kind: 'nursery', nursery: ['A', 'B', 'C'] }, 'all below the cutoff: nursery only')
  const bandits = computeState(settings(['A', 'B']), [feedback('A', 20, 0.5, 0.1), feedback('B', 20, 0.6, 0.2)])
  t.equal(bandits.kind, 'bandits', 'all above, no winner: bandits only')
  if (bandits.kind === 'bandits') t.ok(Math.abs([...bandits.probabilities.values()].reduce((s, p) => s + p, 0) - 1) < 1e-6)
  t.same(computeState(settings(['A', 'B'], 'min'), [feedback('A', 50, 0.5, 0.05), feedback('B', 50, 0.7, 0.1)]),
    { kind: 'stopped', winner: 'A' }, 'a clear winner (minimising): stopped')
  t.same(computeState(settings(['A']), [feedback('A', 5, 0.5, 0.1)]), { kind: 'stopped', winner: 'A' }, 'one candidate: stopped at once')
  const mixed = computeState(settings(['A', 'B', 'C'], 'min'), [feedback('A', 20, 0.5, 0.1), feedback('B', 20, 0.6, 0.2), feedback('C', 5, 0.7, 0.15)])
  t.equal(mixed.kind, 'nursery_and_bandits')
  if (mixed.kind === 'nursery_and_bandits') { t.same(mixed.nursery, ['C']); t.same([...mixed.probabilities.keys()].sort(), ['A', 'B']) }
  t.same(computeState(settings(['A', 'B', 'C']), [feedback('A', 20, 0.5, 0.1), feedback('B', 20, 1.0, 0.2), feedback('C', 5, 0.7, 0.15)]),
    { kind: 'nursery_and_stopped', nursery: ['C'], winner: 'B' })
  t.throws(() => computeState(settings([]), []), /no arms/, 'test_state_new_zero_variants')
  t.throws(() => computeState(settings(['A', 'B']), [{ variantName: 'A', count: 20, mean: 1, variance: null }, feedback('B', 20, 0.5, 0.1)]), /missing variance/)
})

t.test('sampling a state: the nursery gets 1/K of the mass, the winner the rest; inactive variants are skipped', async t => {
  const state = { kind: 'nursery_and_stopped' as const, nursery: ['C'], winner: 'B' }
  t.equal(sampleState(state, ['A', 'B', 'C'], 0.2), 'C', 'u below the nursery mass (1/2): the nursery')
  t.equal(sampleState(state, ['A', 'B', 'C'], 0.7), 'B')
  t.equal(sampleState(state, ['A', 'C'], 0.7), undefined, 'the winner already tried: nothing (the caller takes a fallback)')
  const bandits = { kind: 'bandits' as const, probabilities: new Map([['A', 0.25], ['B', 0.75]]) }
  t.equal(sampleState(bandits, ['A', 'B'], 0.2), 'A')
  t.equal(sampleState(bandits, ['A', 'B'], 0.3), 'B')
  t.equal(sampleState(bandits, ['B'], 0.1), 'B', 'renormalised over the active variants')
  const nursery = { kind: 'nursery' as const, nursery: ['A', 'B', 'C'] }
  t.same([0.1, 0.4, 0.9].map(u => sampleState(nursery, ['A', 'B', 'C'], u)), ['A', 'B', 'C'])
  t.equal(sampleState(nursery, ['A', 'C'], 0.4), 'C', 'the slot\'s variant already tried: the next one')
})

// ------------------------------------------------------------------ through a running sidecar

/**
 * `n` inferences of `variant` in ChatInference, a fraction `rate` of them with `solved = true` feedback in
 * BooleanMetricFeedback: TensorZero's views (created by `migrate`) turn them into FeedbackByVariantStatistics.
 */
async function seedFeedback (ch: ChdbServer, variant: string, n: number, rate: number): Promise<void> {
  const seed = JSON.stringify({ seed: variant })
  await ch.query(`INSERT INTO ChatInference (id, function_name, variant_name, episode_id, input, output, tool_params, inference_params)
    SELECT generateUUIDv7(number), 'ab', '${variant}', generateUUIDv7(number + 1000000), '${seed}', '[]', '', '{}' FROM numbers(${n})`)
  await ch.query(`INSERT INTO BooleanMetricFeedback (id, target_id, metric_name, value)
    SELECT generateUUIDv7(n), id, 'solved', n < ${Math.round(n * rate)}
    FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM ChatInference WHERE input = '${seed}')`)
}

const WARNING = /adaptive experimentation of function `ab`: feedback statistics could not be used/g

t.test('through the sidecar: traffic moves to the better variant, episodes keep theirs, ClickHouse down only warns once', async t => {
  const ch = await startChdbServer()
  const fault = await startFaultProxy(ch)
  const fake = await startFakeOpenAI()
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-adaptive-'))
  let sidecar: ServingSidecar | undefined
  let cold: ServingSidecar | undefined
  t.teardown(async () => {
    for (const s of [sidecar, cold]) { s?.child.kill('SIGTERM'); await s?.exited }
    await fake.close(); await fault.close(); await ch.close()
    await rm(dir, { recursive: true, force: true })
  })
  await runMigrate({ url: ch.url })
  const configFile = path.join(dir, 'tensorzero.toml')
  await writeFile(configFile, `
${fakeModel(fake.url, 'good_model', [['upstream', 'good']])}
${fakeModel(fake.url, 'bad_model', [['upstream', 'bad']])}
${fakeModel(fake.url, 'backup_model', [['upstream', 'backup']])}
${fakeFunction('ab', [['good', 'good_model'], ['bad', 'bad_model'], ['backup', 'backup_model']])}
[functions.ab.experimentation]
type = "adaptive"
metric = "solved"
candidate_variants = ["bad", "good"]
fallback_variants = ["backup"]
update_period_s = 1

[metrics.solved]
type = "boolean"
optimize = "max"
level = "inference"
`)
  sidecar = await startCli(['--config-file', configFile], { TENSORZERO_CLICKHOUSE_URL: fault.url })
  const client = new OpenAI({ baseURL: `${sidecar.url}/v1`, apiKey: 'x', maxRetries: 0 })
  const served = async (episode: string): Promise<string> => {
    const res = await client.chat.completions.create({ model: 'tensorzero::function_name::ab', messages: [{ role: 'user', content: 'hi' }], 'tensorzero::episode_id': episode } as any)
    return res.model.replace('tensorzero::function_name::ab::variant_name::', '')
  }
  const tally = async (n: number): Promise<{ counts: Record<string, number>; byEpisode: Map<string, string> }> => {
    const counts: Record<string, number> = {}
    const byEpisode = new Map<string, string>()
    for (let i = 0; i < n; i++) {
      const episode = uuidv7()
      const variant = await served(episode)
      counts[variant] = (counts[variant] ?? 0) + 1
      byEpisode.set(episode, variant)
    }
    return { counts, byEpisode }
  }

  // No feedback yet: every candidate is in the nursery, each gets its share.
  const early = await tally(40)
  t.ok((early.counts.bad ?? 0) >= 5 && (early.counts.good ?? 0) >= 5, `both candidates serve while there is no feedback: ${JSON.stringify(early.counts)}`)
  const badEpisode = [...early.byEpisode].find(([, v]) => v === 'bad')?.[0] as string

  // Feedback says `good` solves 80% and `bad` 20% (200 each): the stopping test names `good`.
  await seedFeedback(ch, 'good', 200, 0.8)
  await seedFeedback(ch, 'bad', 200, 0.2)
  const stats = await ch.query<{ variant_name: string; mean: number; count: string }>(
    "SELECT variant_name, avgMerge(feedback_mean) AS mean, sum(count) AS count FROM FeedbackByVariantStatistics WHERE function_name = 'ab' GROUP BY variant_name ORDER BY variant_name")
  t.same(stats.map(r => [r.variant_name, Math.round(r.mean * 100) / 100, Number(r.count)]), [['bad', 0.2, 200], ['good', 0.8, 200]],
    'the views aggregate the feedback as TensorZero\'s do')
  let streak = 0
  await t.resolves(waitFor('the experiment to pick up the statistics', async () => {
    streak = (await served(uuidv7())) === 'good' ? streak + 1 : 0
    return streak >= 10 ? true : undefined
  }), 'new episodes go to `good` once the statistics are read')
  const late = await tally(40)
  t.same(late.counts, { good: 40 }, 'every new episode is served by the winner')

  t.equal(await served(badEpisode), 'bad', 'an episode that started on `bad` keeps it')

  // Feedback sent to the sidecar reaches the same statistics (writer → BooleanMetricFeedback → views).
  const fresh = await client.chat.completions.create({ model: 'tensorzero::function_name::ab', messages: [{ role: 'user', content: 'hi' }] })
  const posted = await fetch(`${sidecar.url}/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metric_name: 'solved', inference_id: fresh.id, value: true }) })
  t.equal(posted.status, 200)
  await t.resolves(waitFor('the feedback in the statistics', async () => {
    const rows = await ch.query<{ n: string }>("SELECT sum(count) AS n FROM FeedbackByVariantStatistics WHERE function_name = 'ab' AND variant_name = 'good'")
    return Number(rows[0]?.n) === 201 ? true : undefined
  }), 'one more `good` feedback counted')
  const episode = uuidv7()
  const first = await served(episode)
  t.same([await served(episode), await served(episode)], [first, first], 'repeated calls of one episode get one variant')

  // ClickHouse answers errors from now on: requests still succeed with the last state, and one warning is logged.
  const hitsBefore = fault.hits.error500
  await fault.setMode('error500')
  await t.resolves(waitFor('the warning', async () => (sidecar?.output().match(WARNING)?.length ?? 0) > 0 ? true : undefined), 'the outage is logged')
  await t.resolves(waitFor('more failed reads', async () => fault.hits.error500 >= hitsBefore + 4 ? true : undefined), 'reads keep failing for a while')
  const outage = await tally(20)
  t.same(outage.counts, { good: 20 }, 'the last computed state keeps serving')
  t.equal(sidecar.output().match(WARNING)?.length, 1, 'one warning for the whole outage')
  await fault.setMode('pass')

  // A sidecar whose ClickHouse is unreachable from the start serves with the start state (uniform over the nursery).
  cold = await startCli(['--config-file', configFile], { TENSORZERO_CLICKHOUSE_URL: 'http://default:@127.0.0.1:1/tensorzero', SIDECAR_MIGRATE: 'false' })
  const coldClient = new OpenAI({ baseURL: `${cold.url}/v1`, apiKey: 'x', maxRetries: 0 })
  const coldCounts: Record<string, number> = {}
  for (let i = 0; i < 30; i++) {
    const res = await coldClient.chat.completions.create({ model: 'tensorzero::function_name::ab', messages: [{ role: 'user', content: 'hi' }], 'tensorzero::episode_id': uuidv7() } as any)
    const v = res.model.replace('tensorzero::function_name::ab::variant_name::', '')
    coldCounts[v] = (coldCounts[v] ?? 0) + 1
  }
  t.equal(Object.values(coldCounts).reduce((s, n) => s + n, 0), 30, `all served without ClickHouse: ${JSON.stringify(coldCounts)}`)
  t.ok(Object.keys(coldCounts).length >= 2, 'spread over the start state\'s nursery')
  await t.resolves(waitFor('the cold sidecar\'s warning', async () => (cold?.output().match(WARNING)?.length ?? 0) === 1 ? true : undefined), 'and says so once')
})

t.test('an adaptive experiment\'s config mistakes are file:line:col errors, with TensorZero\'s checks', async t => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-adaptive-config-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = path.join(dir, 'tensorzero.toml')
  await writeFile(file, `${fakeFunction('f', [['a', 'dummy::x'], ['b', 'dummy::y']])}
[functions.f.experimentation]
type = "adaptive"
algorithm = "thompson"
metric = "nope"
candidate_variants = ["a", "b", "ghost"]
fallback_variants = ["a"]
delta = 1.5
min_prob = 0.6
min_samples_per_variant = 20
max_samples_per_variant = 5
update_period_s = 0
namespaces = {}
`)
  const result = await validateConfigFiles({ configFile: file, env: {} })
  const lines = result.diagnostics.map(d => `${d.severity} ${formatDiagnostic(d)}`)
  const at = (line: number, text: string, severity = 'error'): void => {
    t.ok(lines.some(l => l.startsWith(`${severity} ${file}:${line}:`) && l.includes(text)), `line ${line}: ${text}`)
  }
  at(13, '`functions.f.experimentation.algorithm` must be one of "track_and_stop"')
  at(14, 'references unknown metric `nope`')
  at(15, 'names variant `ghost`, which does not exist')
  at(16, 'variant `a` is both a candidate and a fallback variant')
  at(17, '`functions.f.experimentation.delta` must be in (0, 1), got 1.5')
  at(18, 'min_prob` is too large')
  at(20, 'must be >= `min_samples_per_variant` (20)')
  at(21, '`functions.f.experimentation.update_period_s` must be ≥ 1, got 0')
  t.notOk(lines.some(l => l.includes(`${file}:22:`)), 'line 22: `namespaces` is a key TensorZero reads (each entry a namespace\'s experiment)')
})
