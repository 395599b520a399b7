// Test helpers: a database a sidecar created and filled, for running TensorZero's own read queries against it.
//   const s = await startReadScenario(t)     // chdb + fake upstream + `tz-sidecar serve` writing to database s.db
//   await s.client.chat.completions.create({ model: 'tensorzero::function_name::agent', … })
//   await s.feedback({ metric_name: 'rating', value: 4, inference_id })
//   await s.settled(`SELECT id FROM FloatMetricFeedback WHERE id = '${id}'`)   // rows are written in the background
//   const rows = await s.read('inference_queries/list_inferences.sql', { function_name: 'agent' })
//   await s.read('dataset_queries/get_datapoint.sql', params, TENSORZERO_URL_SETTINGS, { joined_ids: `'${id}'` })  // inlined text
// Fixtures live in test/fixtures/clickhouse/tensorzero-read-queries/; each is one query TensorZero's code builds, its
// `{name:Type}` placeholders bound as ClickHouse query parameters (text format), as TensorZero sends them. Where
// TensorZero writes a value into the SQL text itself (`format!`), the fixture keeps its Rust name as `{name}` (no type)
// and the caller passes that text as a literal.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import OpenAI from 'openai'
import { startChdbServer } from './chdb-server.ts'
import type { ChdbServer } from './chdb-server.ts'
import { startFakeOpenAI } from './fake-openai.ts'
import type { FakeOpenAI } from './fake-openai.ts'
import { startCli } from './process.ts'
import type { ServingSidecar } from './process.ts'
import { fakeModel } from './toml.ts'
import { waitFor } from './wait.ts'

export const READ_QUERIES = new URL('../fixtures/clickhouse/tensorzero-read-queries/', import.meta.url)

/**
 * The settings TensorZero puts on its ClickHouse URL (`set_clickhouse_format_settings`): with them, 64-bit and wider
 * integers (counts, UInt256 hashes) come back as JSON strings, as TensorZero's serde types read them.
 */
export const TENSORZERO_URL_SETTINGS: Record<string, string> = {
  input_format_skip_unknown_fields: '0',
  input_format_null_as_default: '0',
  output_format_json_quote_64bit_integers: '1'
}

/**
 * The scenario's config: a chat function `agent` (variants `main`, `backup`), a JSON function `extractor`, a tool,
 * metrics at both levels and of both types, evaluators (of `[evaluations.support-eval]` and of `agent`), an embedding
 * model; one model `gpt` whose provider is the fake upstream.
 */
function scenarioToml (fakeUrl: string): string {
  return `
[gateway.observability.batch_writes]
flush_interval_ms = 50
${fakeModel(fakeUrl, 'gpt', [['upstream', 'ok']])}
${fakeModel(fakeUrl, 'json_gpt', [['upstream', 'json-valid']])}
${fakeModel(fakeUrl, 'embedder', [['upstream', 'embed']], 'embedding_models')}
[functions.agent]
type = "chat"
tools = ["get_weather"]
[functions.agent.variants.main]
type = "chat_completion"
model = "gpt"
weight = 1
[functions.agent.variants.backup]
type = "chat_completion"
model = "gpt"
weight = 0

[functions.extractor]
type = "json"
output_schema = "extractor_output.json"
[functions.extractor.variants.main]
type = "chat_completion"
model = "json_gpt"
json_mode = "strict"

[tools.get_weather]
description = "Get the weather for a city"
parameters = "get_weather.json"

[metrics.task_success]
type = "boolean"
optimize = "max"
level = "episode"

[metrics.helpful]
type = "boolean"
optimize = "max"
level = "inference"

[metrics.rating]
type = "float"
optimize = "max"
level = "inference"

[metrics.episode_score]
type = "float"
optimize = "min"
level = "episode"

[functions.agent.evaluators.polite]
type = "regex"
must_not_match = "(?i)whatever"

[evaluations.support-eval]
type = "inference"
function_name = "agent"
[evaluations.support-eval.evaluators.exact]
type = "exact_match"
[evaluations.support-eval.evaluators.judge]
type = "llm_judge"
output_type = "float"
optimize = "min"
[evaluations.support-eval.evaluators.judge.variants.main]
type = "chat_completion"
model = "gpt"
system_instructions = "judge_system.txt"
json_mode = "strict"
`
}

const SCHEMAS: Record<string, object> = {
  'extractor_output.json': {
    type: 'object',
    properties: { answer: { type: 'string' }, confidence: { type: 'number' } },
    required: ['answer'],
    additionalProperties: false
  },
  'get_weather.json': { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }
}

export interface ReadScenario {
  ch: ChdbServer
  fake: FakeOpenAI
  sidecar: ServingSidecar
  /** The database the sidecar created and writes. */
  db: string
  /** The `openai` client pointed at the sidecar. */
  client: OpenAI
  configFile: string
  /** POST /feedback through the client; returns the feedback id. */
  feedback: (body: object) => Promise<string>
  /** Waits until `sql` returns at least `count` rows (rows reach ClickHouse in the background); returns them. */
  settled: <T = Record<string, unknown>>(sql: string, count?: number) => Promise<T[]>
  /**
   * Runs the fixture query `file` (relative to tensorzero-read-queries/) with its parameters, ClickHouse settings and
   * the literals TensorZero writes into its text.
   */
  read: <T = Record<string, any>>(file: string, params?: Record<string, string>, settings?: Record<string, string>, literals?: Record<string, string>) => Promise<T[]>
  close: () => Promise<void>
}

/**
 * The fixture's SQL without its `--` header lines and with its FORMAT clause taken out (the front adds JSONEachRow);
 * each `{name}` TensorZero inlines is replaced by `literals[name]` (a missing one is an error, not a silent gap).
 */
export async function readQueryText (file: string, literals: Record<string, string> = {}): Promise<string> {
  const text = await readFile(new URL(file, READ_QUERIES), 'utf8')
  return text.split('\n').filter(line => !line.startsWith('--')).join('\n')
    .replace(/\bFORMAT\s+JSONEachRow(WithProgress)?\b/i, '').trim().replace(/;$/, '')
    .replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = literals[name]
      if (value === undefined) throw new Error(`${file} inlines {${name}}: pass it as a literal`)
      return value
    })
}

/**
 * A fixture folder's coverage.json (one entry per function of TensorZero's Rust file that touches ClickHouse: its
 * fixtures, or the reason it has none) against the .sql files on disk: the fixtures it misses or names wrongly, and
 * its functions with neither fixtures nor a reason. Both lists are empty when the folder is complete.
 */
export async function fixtureCoverage (stem: string): Promise<{ notListed: string[]; notOnDisk: string[]; unexplained: string[] }> {
  const dir = new URL(`${stem}/`, READ_QUERIES)
  const onDisk = (await readdir(dir)).filter(f => f.endsWith('.sql')).sort()
  const { functions } = JSON.parse(await readFile(new URL('coverage.json', dir), 'utf8')) as
    { functions: Record<string, { fixtures?: string[]; reason?: string }> }
  const entries = Object.entries(functions)
  const listed = entries.flatMap(([, f]) => f.fixtures ?? [])
  return {
    notListed: onDisk.filter(f => !listed.includes(f)),
    notOnDisk: listed.filter(f => !onDisk.includes(f)),
    unexplained: entries.filter(([, f]) => (f.fixtures ?? []).length === 0 && (f.reason ?? '') === '').map(([name]) => name)
  }
}

/** Starts chdb, a fake upstream and a sidecar that creates and fills database `db` (sidecar.toml names the service). */
export async function startReadScenario (opts: { db?: string; service?: string } = {}): Promise<ReadScenario> {
  const db = opts.db ?? 'tz_reads'
  const dir = await mkdtemp(path.join(tmpdir(), 'tz-reads-'))
  const ch = await startChdbServer()
  const fake = await startFakeOpenAI()
  const configFile = path.join(dir, 'tensorzero.toml')
  await writeFile(configFile, scenarioToml(fake.url))
  for (const [name, schema] of Object.entries(SCHEMAS)) await writeFile(path.join(dir, name), JSON.stringify(schema))
  await writeFile(path.join(dir, 'judge_system.txt'), 'Rate how well the answer solves the request, from 0 to 1.')
  const sidecarFile = path.join(dir, 'sidecar.toml')
  await writeFile(sidecarFile, `service = "${opts.service ?? 'ui-check'}"\n`)
  const url = ch.url.replace(/\/tensorzero$/, `/${db}`)
  const sidecar = await startCli(['--config-file', configFile, '--sidecar-config', sidecarFile], { TENSORZERO_CLICKHOUSE_URL: url })
  const client = new OpenAI({ baseURL: `${sidecar.url}/v1`, apiKey: 'x', maxRetries: 0 })
  const settled = async <T>(sql: string, count = 1): Promise<T[]> => await waitFor(`rows of: ${sql}`, async () => {
    const rows = await ch.query<T>(sql, { database: db }).catch(() => [])
    return rows.length >= count ? rows : undefined
  })
  return {
    ch,
    fake,
    sidecar,
    db,
    client,
    configFile,
    feedback: async body => ((await client.post('/feedback', { body })) as { feedback_id: string }).feedback_id,
    settled,
    read: async <T>(file: string, params: Record<string, string> = {}, settings?: Record<string, string>, literals: Record<string, string> = {}) =>
      await ch.query<T>(await readQueryText(file, literals), { database: db, params, settings }),
    close: async () => {
      sidecar.child.kill('SIGTERM')
      await sidecar.exited
      await fake.close()
      await ch.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
}
