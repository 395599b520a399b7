// The part of TensorZero's ClickHouse schema the sidecar writes and reads, as of TensorZero 2026.x: one entry per
// table or view (name, DDL after all of TensorZero's migrations, and for the tables the writer fills: the columns later
// TensorZero versions added). The entries' order is the order a segment ships its tables in: inference rows before the
// rows that refer to them.
//
// One deliberate addition: the base tables the sidecar creates carry `non_replicated_deduplication_window`, so that a
// batch replayed with the same `insert_deduplication_token` (after a timeout whose insert did land) is not stored twice.
// TensorZero's own tables (non-replicated, window 0) do not deduplicate: there a replay after an ambiguous timeout can
// double a batch.
import type { StoreClient } from './client.ts'

export type TableName =
  | 'ChatInference' | 'JsonInference' | 'ModelInference'
  | 'BooleanMetricFeedback' | 'FloatMetricFeedback' | 'CommentFeedback' | 'DemonstrationFeedback'

const DEDUP = 'SETTINGS non_replicated_deduplication_window = 100000'

export interface SchemaObject {
  name: string
  kind: 'table' | 'view'
  sql: string
  /**
   * Tables the writer inserts into: the columns later TensorZero versions added, left out of the rows when an older
   * TensorZero-managed table lacks them.
   */
  written?: { optionalColumns: readonly string[] }
  /** Runs once, right after this call created the object (a backfill). */
  after?: (client: StoreClient) => Promise<void>
}

/** A MergeTree table the writer fills, with the deduplication window above. */
function mergeTree (name: string, columns: string[], orderBy: string): string {
  return `CREATE TABLE IF NOT EXISTS ${name} (\n    ${columns.join(',\n    ')}\n) ENGINE = MergeTree\nORDER BY ${orderBy}\n${DEDUP}`
}

const TIMESTAMP = 'timestamp DateTime MATERIALIZED UUIDv7ToDateTime(id)'
const TAGS = 'tags Map(String, String) DEFAULT map()'
const SNAPSHOT_HASH = 'snapshot_hash Nullable(UInt256)'

/** ChatInference and JsonInference: the same columns around each kind's own (`output` after `output`, `late` before the hash). */
function inferenceTable (name: string, output: string[], late: string[]): string {
  return mergeTree(name, [
    'id UUID',
    'function_name LowCardinality(String)',
    'variant_name LowCardinality(String)',
    'episode_id UUID',
    'input String',
    'output String',
    ...output,
    'inference_params String',
    'processing_time_ms Nullable(UInt32)',
    TIMESTAMP,
    TAGS,
    'extra_body Nullable(String)',
    ...late,
    SNAPSHOT_HASH,
    'INDEX inference_id_index id TYPE bloom_filter GRANULARITY 1'
  ], '(function_name, variant_name, episode_id)')
}

/** The four feedback tables: an id, what the feedback is about, its value, then the common tail. */
function feedbackTable (name: string, target: string[], value: string, orderBy: string): SchemaObject {
  return {
    name,
    kind: 'table',
    written: { optionalColumns: ['snapshot_hash'] },
    sql: mergeTree(name, ['id UUID', ...target, value, TIMESTAMP, TAGS, SNAPSHOT_HASH], orderBy)
  }
}

const METRIC_TARGET = ['target_id UUID', 'metric_name LowCardinality(String)']

export const TABLES: SchemaObject[] = [
  {
    name: 'ChatInference',
    kind: 'table',
    written: { optionalColumns: ['snapshot_hash', 'dynamic_tools', 'dynamic_provider_tools', 'allowed_tools', 'tool_choice', 'parallel_tool_calls'] },
    sql: inferenceTable('ChatInference', ['tool_params String'], [
      'ttft_ms Nullable(UInt32)',
      'dynamic_tools Array(String)',
      'dynamic_provider_tools Array(String)',
      'allowed_tools Nullable(String)',
      'tool_choice Nullable(String)',
      'parallel_tool_calls Nullable(Bool)'
    ])
  },
  {
    name: 'JsonInference',
    kind: 'table',
    written: { optionalColumns: ['snapshot_hash'] },
    sql: inferenceTable('JsonInference', ['output_schema String'], ['auxiliary_content String', 'ttft_ms Nullable(UInt32)'])
  },
  {
    name: 'ModelInference',
    kind: 'table',
    written: { optionalColumns: ['cost', 'provider_cache_read_input_tokens', 'provider_cache_write_input_tokens', 'function_name', 'variant_name', 'snapshot_hash'] },
    sql: mergeTree('ModelInference', [
      'id UUID',
      'inference_id UUID',
      'raw_request String',
      'raw_response String',
      'model_name LowCardinality(String)',
      'model_provider_name LowCardinality(String)',
      'input_tokens Nullable(UInt32)',
      'output_tokens Nullable(UInt32)',
      'response_time_ms Nullable(UInt32)',
      'ttft_ms Nullable(UInt32)',
      TIMESTAMP,
      'system Nullable(String)',
      'input_messages String',
      'output String',
      'cached Bool DEFAULT false',
      "finish_reason Nullable(Enum8('stop' = 1, 'length' = 2, 'tool_call' = 3, 'content_filter' = 4, 'unknown' = 5, 'stop_sequence' = 6))",
      SNAPSHOT_HASH,
      'cost Nullable(Decimal(18, 9))',
      'provider_cache_read_input_tokens Nullable(UInt32)',
      'provider_cache_write_input_tokens Nullable(UInt32)',
      "function_name LowCardinality(String) DEFAULT ''",
      "variant_name LowCardinality(String) DEFAULT ''"
    ], 'inference_id')
  },
  feedbackTable('BooleanMetricFeedback', METRIC_TARGET, 'value Bool', '(metric_name, target_id)'),
  feedbackTable('FloatMetricFeedback', METRIC_TARGET, 'value Float32', '(metric_name, target_id)'),
  feedbackTable('CommentFeedback', ['target_id UUID', "target_type Enum8('inference' = 1, 'episode' = 2)"], 'value String', 'target_id'),
  feedbackTable('DemonstrationFeedback', ['inference_id UUID'], 'value String', 'inference_id'),
  {
    // Read by DICL variants (nearest examples by cosine distance); filled by TensorZero's DICL optimization, not by the writer.
    name: 'DynamicInContextLearningExample',
    kind: 'table',
    sql: `CREATE TABLE IF NOT EXISTS DynamicInContextLearningExample (
    id UUID,
    function_name LowCardinality(String),
    variant_name LowCardinality(String),
    namespace String,
    input String,
    output String,
    embedding Array(Float32),
    ${TIMESTAMP}
) ENGINE = MergeTree
ORDER BY (function_name, variant_name, namespace)`
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
      await c.command(`INSERT INTO InferenceById SELECT toUInt128(id), function_name, variant_name, episode_id, 'chat', snapshot_hash FROM ChatInference`)
      await c.command(`INSERT INTO InferenceById SELECT toUInt128(id), function_name, variant_name, episode_id, 'json', snapshot_hash FROM JsonInference`)
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
      await c.command(`INSERT INTO InferenceByEpisodeId SELECT toUInt128(episode_id), toUInt128(id), function_name, variant_name, 'chat', snapshot_hash FROM ChatInference`)
      await c.command(`INSERT INTO InferenceByEpisodeId SELECT toUInt128(episode_id), toUInt128(id), function_name, variant_name, 'json', snapshot_hash FROM JsonInference`)
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

/** The tables the writer fills, in shipping order. */
export const WRITTEN_TABLES: readonly TableName[] = TABLES.filter(t => t.written !== undefined).map(t => t.name as TableName)

const OPTIONAL_COLUMNS = new Map(TABLES.map(t => [t.name, t.written?.optionalColumns ?? []]))

export function optionalColumns (table: TableName): readonly string[] {
  return OPTIONAL_COLUMNS.get(table) ?? []
}
