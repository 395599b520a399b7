// A database `tz-sidecar migrate` creates is TensorZero's own: the same objects, columns, engines, keys, indexes and
// views as TensorZero's migrations leave on an empty database (replayed here from the statements of TensorZero
// 7a6159a, test/fixtures/clickhouse/tensorzero-migrations-7a6159a.json), migration records a TensorZero gateway accepts
// as complete, and TensorZero's own read queries (test/fixtures/clickhouse/tensorzero-read-queries/) answering with
// the rows a running sidecar wrote for the `openai` client and /feedback.
import t from 'tap'
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { v7 as uuidv7 } from 'uuid'
import { startChdbServer } from './helpers/chdb-server.ts'
import type { ChdbServer } from './helpers/chdb-server.ts'
import { startCli } from './helpers/process.ts'
import { startFakeOpenAI } from './helpers/fake-openai.ts'
import type { FakeOpenAI } from './helpers/fake-openai.ts'
import { fakeModel, fakeFunction } from './helpers/toml.ts'
import { waitFor } from './helpers/wait.ts'
import { runMigrate } from '../src/store/migrate.ts'
import { TABLES } from '../src/store/tables.ts'
import { configSnapshot } from '../src/store/config-snapshot.ts'
import { loadConfig } from '../src/config/load.ts'

const FIXTURES = new URL('./fixtures/clickhouse/', import.meta.url)
interface MigrationFixture { source: string; migrations: Array<{ id: number; statements: string[] }> }

let ch: ChdbServer
let dir: string
t.before(async () => {
  ch = await startChdbServer()
  dir = await mkdtemp(path.join(tmpdir(), 'tz-schema-'))
})
t.teardown(async () => {
  await ch?.close()
  await rm(dir, { recursive: true, force: true })
})

const urlOf = (db: string): string => ch.url.replace(/\/tensorzero$/, `/${db}`)
const migrations = async (): Promise<MigrationFixture> => JSON.parse(await readFile(new URL('tensorzero-migrations-7a6159a.json', FIXTURES), 'utf8'))

/** What TensorZero's migration manager leaves on an empty database: its migrations table, each migration, its records. */
async function tensorZeroGatewayDatabase (db: string): Promise<void> {
  await ch.query(`CREATE DATABASE ${db}`, { database: 'default' })
  await ch.query(`CREATE TABLE TensorZeroMigration (migration_id UInt32, migration_name String, gateway_version String,
    gateway_git_sha String, applied_at DateTime64(6, 'UTC') DEFAULT now(), execution_time_ms UInt64, extra_data Nullable(String))
    ENGINE = MergeTree PRIMARY KEY (migration_id)`, { database: db })
  for (const m of (await migrations()).migrations) {
    for (const sql of m.statements) await ch.query(sql, { database: db })
    await ch.query(`INSERT INTO TensorZeroMigration (migration_id, migration_name, gateway_version, gateway_git_sha, execution_time_ms)
      VALUES (${m.id}, 'Migration${String(m.id).padStart(4, '0')}', '2026.4.1', '', 1)`, { database: db })
  }
  await ch.query("INSERT INTO DeploymentID (deployment_id) VALUES (lower(hex(SHA256('gateway'))))", { database: db })
}

// Views `tables.ts` declares are the sidecar's own wording of TensorZero's queries: for them the test compares the
// output columns and what TensorZero's checks read in their text (migration 0043 looks for `snapshot_hash`); the
// views of tensorzero-schema.sql are TensorZero's text and compared verbatim.
const DECLARED = new Set(TABLES.map(o => o.name))
type ObjectRow = { name: string; engine: string; as_select: string }
const checkedText = (r: ObjectRow): unknown => DECLARED.has(r.name) && r.engine === 'MaterializedView'
  ? { ...r, as_select: { carriesSnapshotHash: r.as_select.includes('snapshot_hash') } }
  : r

/** The schema as TensorZero's checks see it: objects, columns, indexes, detached views, view queries. */
async function schemaOf (db: string): Promise<Record<string, unknown[]>> {
  const q = async (sql: string): Promise<unknown[]> => await ch.query(sql.replaceAll('$DB', `'${db}'`), { database: db })
  return {
    tables: (await q(`SELECT name, engine, replaceRegexpOne(engine_full, ' SETTINGS .*$', '') AS engine_full, sorting_key, primary_key,
      partition_key, replaceAll(as_select, concat(${`'${db}'`}, '.'), '') AS as_select
      FROM system.tables WHERE database = $DB AND name != 'ModelCallsFlat' ORDER BY name`) as ObjectRow[]).map(checkedText),
    columns: await q(`SELECT table, name, type, default_kind, default_expression, position, compression_codec
      FROM system.columns WHERE database = $DB AND table != 'ModelCallsFlat' ORDER BY table, position`),
    indexes: await q('SELECT table, name, type_full, expr, granularity FROM system.data_skipping_indices WHERE database = $DB ORDER BY table, name'),
    detached: await q('SELECT table FROM system.detached_tables WHERE database = $DB ORDER BY table')
  }
}

t.test('migrate on an empty database builds exactly the schema TensorZero\'s own migrations build', async t => {
  await tensorZeroGatewayDatabase('tz_by_gateway')
  const result = await runMigrate({ url: urlOf('tz_by_sidecar'), createDatabase: true })
  t.equal(result.managedBy, 'sidecar')
  t.same(result.existing, ['uint_to_uuid'], 'a clean start (SQL functions are server-wide: the gateway database made it)')
  const gateway = await schemaOf('tz_by_gateway')
  const sidecar = await schemaOf('tz_by_sidecar')
  t.ok(gateway.tables.length >= 68, `TensorZero's migrations made ${gateway.tables.length} tables and views`)
  for (const part of ['tables', 'columns', 'indexes', 'detached'] as const) t.same(sidecar[part], gateway[part], `same ${part}`)
  t.same(sidecar.detached, [{ table: 'StaticEvaluationBooleanHumanFeedbackView' }, { table: 'StaticEvaluationFloatHumanFeedbackView' }])
  t.match(sidecar.indexes, [{ table: 'BooleanMetricFeedback', name: 'id_index', type_full: 'bloom_filter' }], 'migration 0046\'s id index')
  t.same(await ch.query("SELECT name FROM system.functions WHERE name = 'uint_to_uuid'"), [{ name: 'uint_to_uuid' }])

  // The gateway's own reading of the records (`get_all_migration_records`): one row per migration id, parseable.
  const records = await ch.query<Record<string, unknown>>(
    'SELECT DISTINCT ON (migration_id) * FROM TensorZeroMigration ORDER BY migration_id ASC, applied_at DESC', { database: 'tz_by_sidecar' })
  const ids = (await migrations()).migrations.map(m => m.id)
  t.same(records.map(r => r.migration_id), ids, 'exactly the 47 migrations the gateway expects: its state is JustRight, it applies nothing')
  t.same(result.recorded, ids)
  for (const r of records) {
    t.match(r, { migration_name: `Migration${String(r.migration_id).padStart(4, '0')}`, gateway_version: '2026.4.1', gateway_git_sha: '' })
    t.ok(Number.isInteger(Number(r.execution_time_ms)), 'execution_time_ms is a u64')
  }
  const [dep] = await ch.query<{ deployment_id: string }>('SELECT deployment_id FROM DeploymentID LIMIT 1', { database: 'tz_by_sidecar' })
  t.match(dep.deployment_id, /^[0-9a-f]{64}$/, 'migration 0033 needs a deployment id row')
})

t.test('migrate twice changes nothing; a database a gateway has touched is left alone', async t => {
  const before = await schemaOf('tz_by_sidecar')
  const again = await runMigrate({ url: urlOf('tz_by_sidecar') })
  t.same([again.managedBy, again.created, again.recorded], ['sidecar', [], []])
  t.same(await schemaOf('tz_by_sidecar'), before)
  t.same(await ch.query('SELECT count() AS n FROM DeploymentID', { database: 'tz_by_sidecar' }), [{ n: '1' }], 'one deployment id')

  // A later TensorZero gateway adopts the database and records a migration of its own: from then on it is the gateway's.
  await ch.query("INSERT INTO TensorZeroMigration (migration_id, migration_name, gateway_version, gateway_git_sha, execution_time_ms) VALUES (54, 'Migration0054', '2026.5.0', '', 3)", { database: 'tz_by_sidecar' })
  await ch.query('DROP VIEW ModelCallsFlat', { database: 'tz_by_sidecar' })
  const adopted = await runMigrate({ url: urlOf('tz_by_sidecar') })
  t.equal(adopted.managedBy, 'tensorzero')
  t.same(adopted.created, ['ModelCallsFlat'], 'only the sidecar\'s own flat view')
  t.same(await schemaOf('tz_by_sidecar'), before)

  const gatewayBefore = await schemaOf('tz_by_gateway')
  const managed = await runMigrate({ url: urlOf('tz_by_gateway') })
  t.equal(managed.managedBy, 'tensorzero')
  t.same(await schemaOf('tz_by_gateway'), gatewayBefore, 'a gateway-created schema stays untouched')
  t.same(await ch.query('SELECT count() AS n FROM TensorZeroMigration', { database: 'tz_by_gateway' }), [{ n: '47' }], 'no records added')
})

t.test('a database an older sidecar made (its own tables only, no id index, no records) is completed to TensorZero\'s schema', async t => {
  await ch.query('CREATE DATABASE tz_older_sidecar', { database: 'default' })
  for (const table of TABLES) await ch.query(table.sql.replace(/,\n\s*INDEX id_index id TYPE bloom_filter GRANULARITY 1/, ''), { database: 'tz_older_sidecar' })
  const result = await runMigrate({ url: urlOf('tz_older_sidecar') })
  t.equal(result.managedBy, 'sidecar')
  t.ok(result.existing.includes('ModelInference') && result.created.includes('EpisodeById'))
  const gateway = await schemaOf('tz_by_gateway')
  const completed = await schemaOf('tz_older_sidecar')
  for (const part of ['tables', 'columns', 'indexes', 'detached'] as const) t.same(completed[part], gateway[part], `same ${part}`)
  t.equal(result.recorded?.length, 47)
})

t.test('the config snapshot hash is stable for the same files and changes with a template', async t => {
  const file = path.join(dir, 'snap', 'tensorzero.toml')
  await mkdir(path.dirname(file), { recursive: true })
  await writeFile(path.join(path.dirname(file), 'system.minijinja'), 'You are terse.')
  await writeFile(file, '[functions.f]\ntype = "chat"\n[functions.f.variants.v]\ntype = "chat_completion"\nmodel = "dummy::echo"\nsystem_template = "system.minijinja"\n')
  const a = await configSnapshot((await loadConfig({ configFile: file })).tensorzero)
  const b = await configSnapshot((await loadConfig({ configFile: file })).tensorzero)
  t.equal(a.hash, b.hash)
  t.match(a.hash, /^\d{1,78}$/)
  t.ok(BigInt(a.hash) < 2n ** 256n, 'a UInt256')
  t.same(a.extraTemplates, { 'system.minijinja': 'You are terse.' })
  await writeFile(path.join(path.dirname(file), 'system.minijinja'), 'You are verbose.')
  t.not((await configSnapshot((await loadConfig({ configFile: file })).tensorzero)).hash, a.hash, 'a template edit is a new snapshot')
})

/** A fixture query with its `{name:Type}` parameters replaced by literals of that type, as ClickHouse binds them. */
function bind (sql: string, params: Record<string, string>): string {
  return sql.split('\n').filter(l => !l.startsWith('--')).join('\n').replace(/\bFORMAT JSONEachRow\b/, '')
    .replace(/\{(\w+):(\w+)\}/g, (_m, name: string, type: string) => {
      const v = params[name]
      if (v === undefined) throw new Error(`no value for {${name}:${type}}`)
      return type === 'UInt32' ? v : type === 'UUID' ? `toUUID('${v}')` : `'${v}'`
    })
}

t.test('TensorZero\'s read queries answer with the rows a sidecar wrote, in a database the sidecar created', async t => {
  const fake: FakeOpenAI = await startFakeOpenAI()
  t.teardown(() => fake.close())
  const configFile = path.join(dir, 'tensorzero.toml')
  await writeFile(configFile, `
[gateway.observability.batch_writes]
flush_interval_ms = 50
${fakeModel(fake.url, 'gpt', [['upstream', 'ok']])}
${fakeFunction('agent', [['main', 'gpt']])}
[metrics.task_success]
type = "boolean"
optimize = "max"
level = "episode"
[metrics.rating]
type = "float"
optimize = "max"
level = "inference"
`)
  const sidecarFile = path.join(dir, 'sidecar.toml')
  await writeFile(sidecarFile, 'service = "ui-check"\n')
  const db = 'tz_reads'
  const s = await startCli(['--config-file', configFile, '--sidecar-config', sidecarFile], { TENSORZERO_CLICKHOUSE_URL: urlOf(db) })
  t.teardown(async () => { s.child.kill('SIGTERM'); await s.exited })
  const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'x', maxRetries: 0 })
  const episode = uuidv7()
  const ask = async (): Promise<string> => (await client.chat.completions.create({
    model: 'tensorzero::function_name::agent', messages: [{ role: 'user', content: 'Hello?' }],
    'tensorzero::episode_id': episode, 'tensorzero::tags': { team: 'blue' }
  } as any)).id
  const first = await ask()
  const second = await ask()
  const feedback = async (body: object): Promise<string> => ((await client.post('/feedback', { body })) as { feedback_id: string }).feedback_id
  const success = await feedback({ metric_name: 'task_success', value: true, episode_id: episode, tags: { reviewer: 'ann' } })
  const rating = await feedback({ metric_name: 'rating', value: 4, inference_id: first })
  const comment = await feedback({ metric_name: 'comment', value: 'clear', inference_id: first })
  const demo = await feedback({ metric_name: 'demonstration', value: 'Hi!', inference_id: first })
  await waitFor('feedback rows', async () => {
    const rows = await ch.query(`SELECT id FROM DemonstrationFeedback WHERE id = '${demo}'`, { database: db }).catch(() => [])
    return rows.length === 1 ? true : undefined
  })

  const dirUrl = new URL('tensorzero-read-queries/', FIXTURES)
  const files = (await readdir(dirUrl)).filter(f => f.endsWith('.sql')).sort()
  t.equal(files.length, 21)
  const [snap] = await ch.query<{ hash: string }>('SELECT toString(hash) AS hash FROM ConfigSnapshot', { database: db })
  const params: Record<string, string> = {
    limit: '100', function_name: 'agent', metric_name: 'rating', inference_id: first, hash: snap.hash,
    tag_key: 'team', tag_value: 'blue'
  }
  const run = async (file: string, extra: Record<string, string> = {}): Promise<any[]> =>
    await ch.query(bind(await readFile(new URL(file, dirUrl), 'utf8'), { ...params, ...extra }), { database: db })
  const answers = new Map<string, any[]>()
  for (const f of files) {
    const extra: Record<string, string> = f.startsWith('03') || f.startsWith('07') || f.startsWith('14') ? { target_id: episode } : { target_id: first }
    if (f.startsWith('21')) Object.assign(extra, { metric_name: 'task_success', tag_key: 'reviewer', tag_value: 'ann' })
    answers.set(f.slice(0, 2), await run(f, extra))
  }
  const a = (n: string): any[] => answers.get(n) as any[]
  t.match(a('01'), [{ episode_id: episode, count: '2', last_inference_id: second }], 'episode list')
  t.match(a('02'), [{ first_id: episode, last_id: episode }], 'episode bounds')
  // EpisodeById is an AggregatingMergeTree read without FINAL: one row per insert until ClickHouse merges them.
  t.ok(Number(a('02')[0].count) >= 1 && Number(a('02')[0].count) <= 2, 'one episode, counted once per unmerged insert')
  t.match(a('03'), [{ id: success, target_id: episode, metric_name: 'task_success', value: true, tags: { reviewer: 'ann' } }], 'boolean feedback panel')
  t.match(a('04'), [{ id: rating, target_id: first, metric_name: 'rating', value: 4 }], 'float feedback panel')
  t.match(a('05'), [{ id: comment, target_id: first, target_type: 'inference', value: 'clear' }], 'comment panel')
  t.match(a('06'), [{ id: demo, inference_id: first, value: 'Hi!' }], 'demonstration panel')
  t.match(a('07'), [{ metric_name: 'task_success', latest_id: success }], 'latest feedback per metric')
  t.match(a('08'), [{ function_name: 'agent', metric_name: 'demonstration', feedback_count: 1 }, { metric_name: 'rating', feedback_count: 1 }], 'metrics with feedback')
  t.match(a('09'), [{ variant_name: 'main', mean: 4, count: '1' }], 'feedback by variant')
  t.match(a('10'), [{ function_name: 'agent', variant_name: 'main', inference_count: '2', total_input_tokens: '14', total_output_tokens: '10' }], 'variant statistics')
  t.match(a('11'), [{ model_name: 'gpt', count: '2' }], 'model latency quantiles')
  t.match(a('12'), [{ inference_id: first, function_name: 'agent', variant_name: 'main', model_name: 'gpt', model_provider_name: 'upstream', snapshot_hash: snap.hash }], 'model inferences of an inference')
  t.match(a('13'), [{ function_name: 'agent', function_type: 'chat', variant_name: 'main', episode_id: episode }], 'inference metadata')
  t.match(a('14'), [{ function_name: 'agent', function_type: 'chat', episode_id: episode }], 'episode metadata')
  t.match(a('15'), [{ chat_inference_count: '2', json_inference_count: '0' }])
  t.match(a('16'), [{ boolean_metric_feedback_count: '1', float_metric_feedback_count: '1', demonstration_feedback_count: '1', comment_feedback_count: '1' }])
  t.match(a('17'), [{ input_tokens: '14', output_tokens: '10' }], 'cumulative usage')
  t.match(a('18'), [{ extra_templates: {} }], 'the config snapshot by its hash')
  t.match(a('18')[0].config, /\[functions\.agent\]/)
  t.match(a('19'), [{ deployment_id: /^[0-9a-f]{64}$/ }])
  t.match(a('20'), [{ function_name: 'agent', key: 'team', value: 'blue', inference_id: first }], 'tag filter')
  t.match(a('21'), [{ metric_name: 'task_success', key: 'reviewer', value: 'ann', feedback_id: success }])

  const hashes = await ch.query<{ h: string }>(`SELECT DISTINCT toString(snapshot_hash) AS h FROM (
    SELECT snapshot_hash FROM ChatInference UNION ALL SELECT snapshot_hash FROM ModelInference UNION ALL
    SELECT snapshot_hash FROM BooleanMetricFeedback UNION ALL SELECT snapshot_hash FROM FloatMetricFeedback UNION ALL
    SELECT snapshot_hash FROM CommentFeedback UNION ALL SELECT snapshot_hash FROM DemonstrationFeedback)`, { database: db })
  t.same(hashes, [{ h: snap.hash }], 'every inference, model inference and feedback row carries the ConfigSnapshot hash')
  t.equal(snap.hash, (await configSnapshot((await loadConfig({ configFile })).tensorzero)).hash)

  // A reloaded config is a new snapshot: its row is written and later rows carry its hash.
  await writeFile(configFile, (await readFile(configFile, 'utf8')) + '\n[metrics.helpful]\ntype = "boolean"\noptimize = "max"\nlevel = "inference"\n')
  s.child.kill('SIGHUP')
  const reloaded = await waitFor('second snapshot', async () => {
    const rows = await ch.query<{ h: string }>(`SELECT toString(hash) AS h FROM ConfigSnapshot WHERE hash != toUInt256('${snap.hash}')`, { database: db })
    return rows[0]?.h
  })
  const third = await ask()
  const row = await waitFor('row after the reload', async () => (await ch.query<{ h: string }>(
    `SELECT toString(snapshot_hash) AS h FROM ChatInference WHERE id = '${third}'`, { database: db }))[0])
  t.equal(row.h, reloaded, 'an inference after the reload carries the new hash')
})
