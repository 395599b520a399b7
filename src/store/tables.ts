// The part of TensorZero's ClickHouse schema the sidecar writes and reads, as of TensorZero 2026.x
// (tables after all of its migrations: names, columns, engines, ORDER BY). `migrate` only ever creates what is
// missing: never DROP, never ALTER. A database a TensorZero gateway migrated (it has `TensorZeroMigration`) keeps its
// tables exactly as they are (the gateway owns that schema); only the sidecar's own read-only flat view is added there.
//
// One deliberate addition: the base tables the sidecar creates carry `non_replicated_deduplication_window`, so that a
// batch replayed with the same `insert_deduplication_token` (after a timeout whose insert did land) is not stored twice.
// TensorZero's own tables (non-replicated, window 0) do not deduplicate: there a replay after an ambiguous timeout can
// double a batch.
import { readFile } from 'node:fs/promises'
import type { ClickHouseClient } from '@clickhouse/client'
import { makeClient, parseClickHouseUrl } from './client.ts'

export const DEDUP_WINDOW = 100_000
const DEDUP = `SETTINGS non_replicated_deduplication_window = ${DEDUP_WINDOW}`

export interface SchemaObject { name: string; kind: 'table' | 'view'; sql: string; after?: (client: ClickHouseClient) => Promise<void> }

export const TABLES: SchemaObject[] = [
  {
    name: 'ChatInference',
    kind: 'table',
    sql: `CREATE TABLE IF NOT EXISTS ChatInference (
    id UUID,
    function_name LowCardinality(String),
    variant_name LowCardinality(String),
    episode_id UUID,
    input String,
    output String,
    tool_params String,
    inference_params String,
    processing_time_ms Nullable(UInt32),
    timestamp DateTime MATERIALIZED UUIDv7ToDateTime(id),
    tags Map(String, String) DEFAULT map(),
    extra_body Nullable(String),
    ttft_ms Nullable(UInt32),
    dynamic_tools Array(String),
    dynamic_provider_tools Array(String),
    allowed_tools Nullable(String),
    tool_choice Nullable(String),
    parallel_tool_calls Nullable(Bool),
    snapshot_hash Nullable(UInt256),
    INDEX inference_id_index id TYPE bloom_filter GRANULARITY 1
) ENGINE = MergeTree
ORDER BY (function_name, variant_name, episode_id)
${DEDUP}`
  },
  {
    name: 'JsonInference',
    kind: 'table',
    sql: `CREATE TABLE IF NOT EXISTS JsonInference (
    id UUID,
    function_name LowCardinality(String),
    variant_name LowCardinality(String),
    episode_id UUID,
    input String,
    output String,
    output_schema String,
    inference_params String,
    processing_time_ms Nullable(UInt32),
    timestamp DateTime MATERIALIZED UUIDv7ToDateTime(id),
    tags Map(String, String) DEFAULT map(),
    extra_body Nullable(String),
    auxiliary_content String,
    ttft_ms Nullable(UInt32),
    snapshot_hash Nullable(UInt256),
    INDEX inference_id_index id TYPE bloom_filter GRANULARITY 1
) ENGINE = MergeTree
ORDER BY (function_name, variant_name, episode_id)
${DEDUP}`
  },
  {
    name: 'ModelInference',
    kind: 'table',
    sql: `CREATE TABLE IF NOT EXISTS ModelInference (
    id UUID,
    inference_id UUID,
    raw_request String,
    raw_response String,
    model_name LowCardinality(String),
    model_provider_name LowCardinality(String),
    input_tokens Nullable(UInt32),
    output_tokens Nullable(UInt32),
    response_time_ms Nullable(UInt32),
    ttft_ms Nullable(UInt32),
    timestamp DateTime MATERIALIZED UUIDv7ToDateTime(id),
    system Nullable(String),
    input_messages String,
    output String,
    cached Bool DEFAULT false,
    finish_reason Nullable(Enum8('stop' = 1, 'length' = 2, 'tool_call' = 3, 'content_filter' = 4, 'unknown' = 5, 'stop_sequence' = 6)),
    snapshot_hash Nullable(UInt256),
    cost Nullable(Decimal(18, 9)),
    provider_cache_read_input_tokens Nullable(UInt32),
    provider_cache_write_input_tokens Nullable(UInt32),
    function_name LowCardinality(String) DEFAULT '',
    variant_name LowCardinality(String) DEFAULT ''
) ENGINE = MergeTree
ORDER BY inference_id
${DEDUP}`
  },
  {
    name: 'BooleanMetricFeedback',
    kind: 'table',
    sql: `CREATE TABLE IF NOT EXISTS BooleanMetricFeedback (
    id UUID,
    target_id UUID,
    metric_name LowCardinality(String),
    value Bool,
    timestamp DateTime MATERIALIZED UUIDv7ToDateTime(id),
    tags Map(String, String) DEFAULT map(),
    snapshot_hash Nullable(UInt256)
) ENGINE = MergeTree
ORDER BY (metric_name, target_id)
${DEDUP}`
  },
  {
    name: 'FloatMetricFeedback',
    kind: 'table',
    sql: `CREATE TABLE IF NOT EXISTS FloatMetricFeedback (
    id UUID,
    target_id UUID,
    metric_name LowCardinality(String),
    value Float32,
    timestamp DateTime MATERIALIZED UUIDv7ToDateTime(id),
    tags Map(String, String) DEFAULT map(),
    snapshot_hash Nullable(UInt256)
) ENGINE = MergeTree
ORDER BY (metric_name, target_id)
${DEDUP}`
  },
  {
    name: 'CommentFeedback',
    kind: 'table',
    sql: `CREATE TABLE IF NOT EXISTS CommentFeedback (
    id UUID,
    target_id UUID,
    target_type Enum8('inference' = 1, 'episode' = 2),
    value String,
    timestamp DateTime MATERIALIZED UUIDv7ToDateTime(id),
    tags Map(String, String) DEFAULT map(),
    snapshot_hash Nullable(UInt256)
) ENGINE = MergeTree
ORDER BY target_id
${DEDUP}`
  },
  {
    name: 'DemonstrationFeedback',
    kind: 'table',
    sql: `CREATE TABLE IF NOT EXISTS DemonstrationFeedback (
    id UUID,
    inference_id UUID,
    value String,
    timestamp DateTime MATERIALIZED UUIDv7ToDateTime(id),
    tags Map(String, String) DEFAULT map(),
    snapshot_hash Nullable(UInt256)
) ENGINE = MergeTree
ORDER BY inference_id
${DEDUP}`
  },
  {
    name: 'InferenceById',
    kind: 'table',
    sql: `CREATE TABLE IF NOT EXISTS InferenceById (
    id_uint UInt128,
    function_name LowCardinality(String),
    variant_name LowCardinality(String),
    episode_id UUID,
    function_type Enum8('chat' = 1, 'json' = 2),
    snapshot_hash Nullable(UInt256)
) ENGINE = ReplacingMergeTree(id_uint)
ORDER BY id_uint`,
    // Rows written before the views existed (e.g. by an older sidecar) are copied once, as TensorZero's migration does.
    after: async (c) => {
      await c.command({ query: `INSERT INTO InferenceById SELECT toUInt128(id), function_name, variant_name, episode_id, 'chat', snapshot_hash FROM ChatInference` })
      await c.command({ query: `INSERT INTO InferenceById SELECT toUInt128(id), function_name, variant_name, episode_id, 'json', snapshot_hash FROM JsonInference` })
    }
  },
  {
    name: 'InferenceByEpisodeId',
    kind: 'table',
    sql: `CREATE TABLE IF NOT EXISTS InferenceByEpisodeId (
    episode_id_uint UInt128,
    id_uint UInt128,
    function_name LowCardinality(String),
    variant_name LowCardinality(String),
    function_type Enum8('chat' = 1, 'json' = 2),
    snapshot_hash Nullable(UInt256)
) ENGINE = ReplacingMergeTree(id_uint)
ORDER BY (episode_id_uint, id_uint)`,
    after: async (c) => {
      await c.command({ query: `INSERT INTO InferenceByEpisodeId SELECT toUInt128(episode_id), toUInt128(id), function_name, variant_name, 'chat', snapshot_hash FROM ChatInference` })
      await c.command({ query: `INSERT INTO InferenceByEpisodeId SELECT toUInt128(episode_id), toUInt128(id), function_name, variant_name, 'json', snapshot_hash FROM JsonInference` })
    }
  },
  ...(['Chat', 'Json'] as const).flatMap((kind): SchemaObject[] => {
    const type = kind.toLowerCase()
    return [
      {
        name: `${kind}InferenceByIdView`,
        kind: 'view',
        sql: `CREATE MATERIALIZED VIEW IF NOT EXISTS ${kind}InferenceByIdView TO InferenceById AS
SELECT toUInt128(id) AS id_uint, function_name, variant_name, episode_id, '${type}' AS function_type, snapshot_hash
FROM ${kind}Inference`
      },
      {
        name: `${kind}InferenceByEpisodeIdView`,
        kind: 'view',
        sql: `CREATE MATERIALIZED VIEW IF NOT EXISTS ${kind}InferenceByEpisodeIdView TO InferenceByEpisodeId AS
SELECT toUInt128(episode_id) AS episode_id_uint, toUInt128(id) AS id_uint, function_name, variant_name, '${type}' AS function_type, snapshot_hash
FROM ${kind}Inference`
      }
    ]
  })
]

export const FLAT_VIEW_NAME = 'ModelCallsFlat'
const FLAT_VIEW_FILE = new URL('./sql/model_calls_view.sql', import.meta.url)

/** The SQL of the flat human view, comments stripped (one statement). */
export async function flatViewSql (): Promise<string> {
  const text = await readFile(FLAT_VIEW_FILE, 'utf8')
  return text.split('\n').filter(l => !l.trimStart().startsWith('--')).join('\n').trim().replace(/;\s*$/, '')
}

export interface MigrateResult {
  /** `tensorzero`: a TensorZero gateway manages this database; nothing was touched. */
  managedBy: 'tensorzero' | 'sidecar'
  created: string[]
  existing: string[]
  /** Objects not created, with the reason (e.g. the flat view over a gateway schema too old for it). */
  skipped?: Array<{ name: string; reason: string }>
}

async function existingNames (client: ClickHouseClient): Promise<Set<string>> {
  const rs = await client.query({ query: 'SELECT name FROM system.tables WHERE database = currentDatabase()', format: 'JSONEachRow' })
  const rows = await rs.json<{ name: string }>()
  return new Set(rows.map(r => r.name))
}

/**
 * Creates the tables, lookup tables, materialized views and the flat view that are missing. Idempotent.
 * The client must point at the target database (which must exist; `runMigrate` creates it).
 */
export async function migrate (client: ClickHouseClient): Promise<MigrateResult> {
  const have = await existingNames(client)
  if (have.has('TensorZeroMigration')) return await addFlatViewToGatewaySchema(client, have)
  const created: string[] = []
  const existing: string[] = []
  const objects: SchemaObject[] = [...TABLES, { name: FLAT_VIEW_NAME, kind: 'view', sql: await flatViewSql() }]
  for (const obj of objects) {
    if (have.has(obj.name)) { existing.push(obj.name); continue }
    await client.command({ query: obj.sql })
    // Run the backfill only when this call created the table; with no rows it inserts nothing.
    if (obj.after !== undefined) await obj.after(client)
    created.push(obj.name)
  }
  return { managedBy: 'sidecar', created, existing }
}

/** In a gateway-managed database only the flat view may be added: it reads the gateway's tables and changes none. */
async function addFlatViewToGatewaySchema (client: ClickHouseClient, have: Set<string>): Promise<MigrateResult> {
  const existing = [...have].sort()
  if (have.has(FLAT_VIEW_NAME)) return { managedBy: 'tensorzero', created: [], existing }
  const needed = ['ModelInference', 'ChatInference', 'JsonInference'].filter(n => !have.has(n))
  if (needed.length > 0) {
    return { managedBy: 'tensorzero', created: [], existing, skipped: [{ name: FLAT_VIEW_NAME, reason: `missing ${needed.join(', ')}` }] }
  }
  try {
    await client.command({ query: await flatViewSql() })
    return { managedBy: 'tensorzero', created: [FLAT_VIEW_NAME], existing }
  } catch (err) {
    return { managedBy: 'tensorzero', created: [], existing, skipped: [{ name: FLAT_VIEW_NAME, reason: (err as Error).message.split('\n')[0] }] }
  }
}

/** `tz-sidecar migrate`: create the database named in the URL if missing, then `migrate`. */
export async function runMigrate (opts: { url: string; requestTimeoutMs?: number }): Promise<MigrateResult> {
  const target = parseClickHouseUrl(opts.url)
  if (target.database !== 'default') {
    const admin = makeClient(target, { database: 'default', requestTimeoutMs: opts.requestTimeoutMs })
    try {
      await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${target.database}` })
    } finally { await admin.close() }
  }
  const client = makeClient(target, { requestTimeoutMs: opts.requestTimeoutMs })
  try {
    return await migrate(client)
  } finally { await client.close() }
}
