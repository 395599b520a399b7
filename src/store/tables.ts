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
  | 'StaticEvaluationHumanFeedback'
  | 'DynamicEvaluationRun' | 'DynamicEvaluationRunEpisode'
  | 'ModelInferenceCache'

const DEDUP = 'SETTINGS non_replicated_deduplication_window = 100000'

export interface SchemaObject {
  name: string
  kind: 'table' | 'view'
  sql: string
  /**
   * Tables the writer inserts into: the columns later TensorZero versions added, left out of the rows when an older
   * TensorZero-managed table lacks them.
   */
  written?: {
    optionalColumns: readonly string[]
    /**
     * Its rows name an inference or episode that views look up when they are inserted (the feedback-by-variant views
     * read InferenceById): they ship after the inference rows of the same batch have landed.
     */
    refersToInferences?: true
  }
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
/** TensorZero migration 0046: point lookups by id on ModelInference and the feedback tables. */
const ID_INDEX = 'INDEX id_index id TYPE bloom_filter GRANULARITY 1'

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

/** DynamicEvaluationRun(Episode): the table's own columns, then the ReplacingMergeTree tail TensorZero gives both. */
function workflowRunTable (name: string, columns: string[], orderBy: string): SchemaObject {
  const tail = ['is_deleted Bool DEFAULT false', "updated_at DateTime64(6, 'UTC') DEFAULT now()", SNAPSHOT_HASH]
  return {
    name,
    kind: 'table',
    written: { optionalColumns: ['snapshot_hash'] },
    sql: `CREATE TABLE IF NOT EXISTS ${name} (\n    ${[...columns, ...tail].join(',\n    ')}\n) ENGINE = ReplacingMergeTree(updated_at, is_deleted)\nORDER BY ${orderBy}\n${DEDUP}`
  }
}

/** The four feedback tables: an id, what the feedback is about, its value, then the common tail. */
function feedbackTable (name: string, target: string[], value: string, orderBy: string): SchemaObject {
  return {
    name,
    kind: 'table',
    written: { optionalColumns: ['snapshot_hash'], refersToInferences: true },
    sql: mergeTree(name, ['id UUID', ...target, value, TIMESTAMP, TAGS, SNAPSHOT_HASH, ID_INDEX], orderBy)
  }
}

const METRIC_TARGET = ['target_id UUID', 'metric_name LowCardinality(String)']

/** TensorZero's `uint_to_uuid` function, inlined: the sidecar creates no database-wide functions. */
const uintToUuid = (x: string): string => `reinterpretAsUUID(concat(substring(reinterpretAsString(${x}), 9, 8), substring(reinterpretAsString(${x}), 1, 8)))`

/**
 * What the views below put in `<Kind>MetricFeedbackByVariant`: each feedback row with the function and variant of its
 * target (an inference, or an episode that used one variant of the function).
 */
function feedbackByVariantSelect (kind: 'Float' | 'Boolean'): string {
  const source = `${kind}MetricFeedback`
  return `WITH
    feedback AS (
        SELECT toUInt128(id) AS id_uint, metric_name, target_id, toUInt128(target_id) AS target_id_uint, value, tags, snapshot_hash
        FROM ${source}
    ),
    targets AS (
        SELECT ${uintToUuid('id_uint')} AS target_id, function_name, variant_name
        FROM InferenceById
        WHERE id_uint IN (SELECT target_id_uint FROM feedback)
        UNION ALL
        SELECT ${uintToUuid('episode_id_uint')} AS target_id, function_name, unique_variants[1] AS variant_name
        FROM (
            SELECT episode_id_uint, function_name, groupUniqArray(variant_name) AS unique_variants
            FROM InferenceByEpisodeId
            WHERE episode_id_uint IN (SELECT target_id_uint FROM feedback)
            GROUP BY (episode_id_uint, function_name)
        )
        WHERE length(unique_variants) = 1
    )
SELECT t.function_name AS function_name, t.variant_name AS variant_name, f.metric_name AS metric_name, f.id_uint AS id_uint,
    f.target_id_uint AS target_id_uint, f.value AS value, f.tags AS feedback_tags, f.snapshot_hash AS snapshot_hash
FROM feedback f
JOIN targets t ON f.target_id = t.target_id`
}

function statisticsSelect (kind: 'Float' | 'Boolean'): string {
  return `SELECT function_name, variant_name, metric_name, toStartOfMinute(UUIDv7ToDateTime(${uintToUuid('id_uint')})) AS minute,
    avgState(toFloat32(value)) AS feedback_mean, varSampStableState(toFloat32(value)) AS feedback_variance, count() AS count
FROM ${kind}MetricFeedbackByVariant
GROUP BY function_name, metric_name, variant_name, minute`
}

/**
 * The feedback statistics adaptive experiments read (TensorZero's migrations 0039 and 0043): feedback joined to its
 * variant, then aggregated per minute. Feedback stored before the views existed is copied once, as TensorZero does.
 */
const FEEDBACK_STATISTICS: SchemaObject[] = [
  ...(['Float', 'Boolean'] as const).map((kind): SchemaObject => ({
    name: `${kind}MetricFeedbackByVariant`,
    kind: 'table',
    sql: `CREATE TABLE IF NOT EXISTS ${kind}MetricFeedbackByVariant (
    function_name LowCardinality(String),
    variant_name LowCardinality(String),
    metric_name LowCardinality(String),
    id_uint UInt128,
    target_id_uint UInt128,
    value ${kind === 'Float' ? 'Float32' : 'Bool'},
    feedback_tags Map(String, String),
    ${SNAPSHOT_HASH}
) ENGINE = MergeTree
ORDER BY (function_name, metric_name, variant_name, id_uint)`
  })),
  {
    name: 'FeedbackByVariantStatistics',
    kind: 'table',
    sql: `CREATE TABLE IF NOT EXISTS FeedbackByVariantStatistics (
    function_name LowCardinality(String),
    variant_name LowCardinality(String),
    metric_name LowCardinality(String),
    minute DateTime,
    feedback_mean AggregateFunction(avg, Float32),
    feedback_variance AggregateFunction(varSampStable, Float32),
    count SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (function_name, metric_name, variant_name, minute)`
  },
  ...(['Float', 'Boolean'] as const).flatMap((kind): SchemaObject[] => [
    {
      name: `${kind}MetricFeedbackByVariantView`,
      kind: 'view',
      sql: `CREATE MATERIALIZED VIEW IF NOT EXISTS ${kind}MetricFeedbackByVariantView TO ${kind}MetricFeedbackByVariant AS\n${feedbackByVariantSelect(kind)}`,
      after: async (c) => { await c.command(`INSERT INTO ${kind}MetricFeedbackByVariant ${feedbackByVariantSelect(kind)}`) }
    },
    {
      name: `${kind}MetricFeedbackByVariantStatisticsView`,
      kind: 'view',
      sql: `CREATE MATERIALIZED VIEW IF NOT EXISTS ${kind}MetricFeedbackByVariantStatisticsView TO FeedbackByVariantStatistics AS\n${statisticsSelect(kind)}`,
      after: async (c) => { await c.command(`INSERT INTO FeedbackByVariantStatistics ${statisticsSelect(kind)}`) }
    }
  ])
]

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
      "variant_name LowCardinality(String) DEFAULT ''",
      ID_INDEX
    ], 'inference_id')
  },
  {
    // The inference cache (`tensorzero::cache_options`), as TensorZero's migrations leave it: the newest entry per key
    // wins; `short_cache_key` is the primary key, `long_cache_key` is always compared too.
    name: 'ModelInferenceCache',
    kind: 'table',
    written: { optionalColumns: [] },
    sql: `CREATE TABLE IF NOT EXISTS ModelInferenceCache (
    short_cache_key UInt64,
    long_cache_key FixedString(64),
    timestamp DateTime DEFAULT now(),
    output String,
    raw_request String,
    raw_response String,
    is_deleted Bool DEFAULT false,
    input_tokens Nullable(UInt32),
    output_tokens Nullable(UInt32),
    finish_reason Nullable(Enum8('stop' = 1, 'length' = 2, 'tool_call' = 3, 'content_filter' = 4, 'unknown' = 5, 'stop_sequence' = 6)),
    INDEX idx_long_cache_key long_cache_key TYPE bloom_filter GRANULARITY 100
) ENGINE = ReplacingMergeTree(timestamp, is_deleted)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (short_cache_key, long_cache_key)
PRIMARY KEY (short_cache_key)
SETTINGS index_granularity = 256`
  },
  feedbackTable('BooleanMetricFeedback', METRIC_TARGET, 'value Bool', '(metric_name, target_id)'),
  feedbackTable('FloatMetricFeedback', METRIC_TARGET, 'value Float32', '(metric_name, target_id)'),
  feedbackTable('CommentFeedback', ['target_id UUID', "target_type Enum8('inference' = 1, 'episode' = 2)"], 'value String', 'target_id'),
  feedbackTable('DemonstrationFeedback', ['inference_id UUID'], 'value String', 'inference_id'),
  {
    // People's verdicts on evaluated outputs, found again by (metric, datapoint, output) so a later evaluation can reuse
    // them; written from /feedback (TensorZero detached the view that once filled it).
    name: 'StaticEvaluationHumanFeedback',
    kind: 'table',
    written: { optionalColumns: [] },
    sql: `CREATE TABLE IF NOT EXISTS StaticEvaluationHumanFeedback (
    metric_name LowCardinality(String),
    datapoint_id UUID,
    output String,
    value String,
    feedback_id UUID,
    evaluator_inference_id UUID,
    timestamp DateTime MATERIALIZED UUIDv7ToDateTime(feedback_id)
) ENGINE = MergeTree
ORDER BY (metric_name, datapoint_id, output)
SETTINGS index_granularity = 256, non_replicated_deduplication_window = 100000`
  },
  // Workflow evaluation runs and their episodes (`POST /workflow_evaluation_run`, `…/episode`), keyed by their ids as UInt128.
  workflowRunTable('DynamicEvaluationRun', ['run_id_uint UInt128', 'variant_pins Map(String, String)', 'tags Map(String, String)',
    'project_name Nullable(String)', 'run_display_name Nullable(String)'], 'run_id_uint'),
  workflowRunTable('DynamicEvaluationRunEpisode', ['run_id UUID', 'episode_id_uint UInt128', 'variant_pins Map(String, String)',
    'datapoint_name Nullable(String)', 'tags Map(String, String)'], 'episode_id_uint'),
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
  }),
  ...FEEDBACK_STATISTICS
]

/** The tables the writer fills, in shipping order. */
export const WRITTEN_TABLES: readonly TableName[] = TABLES.filter(t => t.written !== undefined).map(t => t.name as TableName)

/** A batch's tables in the waves they ship in: the tables of a wave in parallel, a wave once the one before landed. */
export const SHIPPING_WAVES: ReadonlyArray<readonly TableName[]> = [false, true].map(refers =>
  TABLES.filter(t => t.written !== undefined && (t.written.refersToInferences === true) === refers).map(t => t.name as TableName))

const OPTIONAL_COLUMNS = new Map(TABLES.map(t => [t.name, t.written?.optionalColumns ?? []]))

export function optionalColumns (table: TableName): readonly string[] {
  return OPTIONAL_COLUMNS.get(table) ?? []
}
