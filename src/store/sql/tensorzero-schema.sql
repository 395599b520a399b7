-- TensorZero's ClickHouse schema after all of its migrations (0000…0053 of TensorZero 2026.4.1, commit 7a6159a), for
-- the objects `tables.ts` does not declare: `SHOW CREATE` of each object once TensorZero's migrations ran on an empty
-- database (a clean start, no cluster), in an order that creates every table before the views that read or fill it.
-- `tz-sidecar migrate` runs a statement only when its object is missing, and only in a database the sidecar owns.
-- Each statement ends with a line holding only `;`. `DETACH … PERMANENTLY` leaves the two views migration 0036
-- retired in `system.detached_tables`, where TensorZero's check for that migration looks for them. TensorZeroMigration
-- comes last: `migrate` fills it at once, and a TensorZeroMigration without sidecar records means a gateway owns the database.

CREATE FUNCTION IF NOT EXISTS uint_to_uuid AS x -> reinterpretAsUUID(concat(substring(reinterpretAsString(x), 9, 8), substring(reinterpretAsString(x), 1, 8)))
;

CREATE TABLE IF NOT EXISTS FeedbackTag
(
    `metric_name` LowCardinality(String),
    `key` String,
    `value` String,
    `feedback_id` UUID,
    `snapshot_hash` Nullable(UInt256)
)
ENGINE = MergeTree
ORDER BY (metric_name, key, value)
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS InferenceTag
(
    `function_name` LowCardinality(String),
    `key` String,
    `value` String,
    `inference_id` UUID,
    `snapshot_hash` Nullable(UInt256)
)
ENGINE = MergeTree
ORDER BY (function_name, key, value)
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS BatchModelInference
(
    `inference_id` UUID,
    `batch_id` UUID,
    `function_name` LowCardinality(String),
    `variant_name` LowCardinality(String),
    `episode_id` UUID,
    `input` String,
    `input_messages` String,
    `system` Nullable(String),
    `tool_params` Nullable(String),
    `inference_params` String,
    `raw_request` String,
    `model_name` LowCardinality(String),
    `model_provider_name` LowCardinality(String),
    `output_schema` Nullable(String),
    `tags` Map(String, String) DEFAULT map(),
    `timestamp` DateTime MATERIALIZED UUIDv7ToDateTime(inference_id),
    `dynamic_tools` Array(String),
    `dynamic_provider_tools` Array(String),
    `allowed_tools` Nullable(String),
    `tool_choice` Nullable(String),
    `parallel_tool_calls` Nullable(Bool),
    `snapshot_hash` Nullable(UInt256)
)
ENGINE = MergeTree
ORDER BY (batch_id, inference_id)
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS BatchRequest
(
    `batch_id` UUID,
    `id` UUID,
    `batch_params` String,
    `model_name` LowCardinality(String),
    `model_provider_name` LowCardinality(String),
    `status` Enum8('pending' = 1, 'completed' = 2, 'failed' = 3),
    `errors` Array(String),
    `timestamp` DateTime MATERIALIZED UUIDv7ToDateTime(id),
    `raw_request` String,
    `raw_response` String,
    `function_name` LowCardinality(String),
    `variant_name` LowCardinality(String),
    `snapshot_hash` Nullable(UInt256)
)
ENGINE = MergeTree
ORDER BY (batch_id, id)
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS BatchIdByInferenceId
(
    `inference_id` UUID,
    `batch_id` UUID
)
ENGINE = MergeTree
ORDER BY (inference_id)
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS BooleanMetricFeedbackByTargetId
(
    `id` UUID,
    `target_id` UUID,
    `metric_name` LowCardinality(String),
    `value` Bool,
    `tags` Map(String, String),
    `snapshot_hash` Nullable(UInt256)
)
ENGINE = MergeTree
ORDER BY target_id
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS CommentFeedbackByTargetId
(
    `id` UUID,
    `target_id` UUID,
    `target_type` Enum8('inference' = 1, 'episode' = 2),
    `value` String,
    `tags` Map(String, String),
    `snapshot_hash` Nullable(UInt256)
)
ENGINE = MergeTree
ORDER BY target_id
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS DemonstrationFeedbackByInferenceId
(
    `id` UUID,
    `inference_id` UUID,
    `value` String,
    `tags` Map(String, String),
    `snapshot_hash` Nullable(UInt256)
)
ENGINE = MergeTree
ORDER BY inference_id
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS FloatMetricFeedbackByTargetId
(
    `id` UUID,
    `target_id` UUID,
    `metric_name` LowCardinality(String),
    `value` Float32,
    `tags` Map(String, String),
    `snapshot_hash` Nullable(UInt256)
)
ENGINE = MergeTree
ORDER BY target_id
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS ChatInferenceDatapoint
(
    `dataset_name` LowCardinality(String),
    `function_name` LowCardinality(String),
    `id` UUID,
    `episode_id` Nullable(UUID),
    `input` String,
    `output` Nullable(String),
    `tool_params` String,
    `tags` Map(String, String),
    `auxiliary` String,
    `is_deleted` Bool DEFAULT false,
    `updated_at` DateTime64(6, 'UTC') DEFAULT now64(),
    `staled_at` Nullable(DateTime64(6, 'UTC')),
    `source_inference_id` Nullable(UUID),
    `is_custom` Bool DEFAULT false,
    `name` Nullable(String),
    `dynamic_tools` Array(String),
    `dynamic_provider_tools` Array(String),
    `allowed_tools` Nullable(String),
    `tool_choice` Nullable(String),
    `parallel_tool_calls` Nullable(Bool),
    `snapshot_hash` Nullable(UInt256),
    INDEX id_index id TYPE bloom_filter GRANULARITY 1
)
ENGINE = ReplacingMergeTree(updated_at, is_deleted)
ORDER BY (dataset_name, function_name, id)
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS JsonInferenceDatapoint
(
    `dataset_name` LowCardinality(String),
    `function_name` LowCardinality(String),
    `id` UUID,
    `episode_id` Nullable(UUID),
    `input` String,
    `output` Nullable(String),
    `output_schema` String,
    `tags` Map(String, String),
    `auxiliary` String,
    `is_deleted` Bool DEFAULT false,
    `updated_at` DateTime64(6, 'UTC') DEFAULT now64(),
    `staled_at` Nullable(DateTime64(6, 'UTC')),
    `source_inference_id` Nullable(UUID),
    `is_custom` Bool DEFAULT false,
    `name` Nullable(String),
    `snapshot_hash` Nullable(UInt256),
    INDEX id_index id TYPE bloom_filter GRANULARITY 1
)
ENGINE = ReplacingMergeTree(updated_at, is_deleted)
ORDER BY (dataset_name, function_name, id)
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS TagInference
(
    `key` String,
    `value` String,
    `function_name` LowCardinality(String),
    `variant_name` LowCardinality(String),
    `episode_id` UUID,
    `inference_id` UUID,
    `function_type` Enum8('chat' = 1, 'json' = 2),
    `is_deleted` Bool DEFAULT false,
    `updated_at` DateTime64(6, 'UTC') DEFAULT now64(),
    `snapshot_hash` Nullable(UInt256),
    INDEX inference_id_index inference_id TYPE bloom_filter GRANULARITY 1
)
ENGINE = ReplacingMergeTree(updated_at, is_deleted)
ORDER BY (key, value, inference_id)
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS DynamicEvaluationRunEpisodeByRunId
(
    `run_id_uint` UInt128,
    `episode_id_uint` UInt128,
    `variant_pins` Map(String, String),
    `tags` Map(String, String),
    `datapoint_name` Nullable(String),
    `is_deleted` Bool DEFAULT false,
    `updated_at` DateTime64(6, 'UTC') DEFAULT now(),
    `snapshot_hash` Nullable(UInt256)
)
ENGINE = ReplacingMergeTree(updated_at, is_deleted)
ORDER BY (run_id_uint, episode_id_uint)
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS DynamicEvaluationRunByProjectName
(
    `run_id_uint` UInt128,
    `variant_pins` Map(String, String),
    `tags` Map(String, String),
    `project_name` String,
    `run_display_name` Nullable(String),
    `is_deleted` Bool DEFAULT false,
    `updated_at` DateTime64(6, 'UTC') DEFAULT now(),
    `snapshot_hash` Nullable(UInt256)
)
ENGINE = ReplacingMergeTree(updated_at, is_deleted)
ORDER BY (project_name, run_id_uint)
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS DeploymentID
(
    `deployment_id` String,
    `dummy` UInt32 DEFAULT 0,
    `created_at` DateTime DEFAULT now(),
    `version_number` UInt32 DEFAULT 4294967295 - toUInt32(now())
)
ENGINE = ReplacingMergeTree(version_number)
ORDER BY dummy
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS CumulativeUsage
(
    `type` LowCardinality(String),
    `count` UInt64
)
ENGINE = SummingMergeTree
ORDER BY type
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS ModelProviderStatistics
(
    `model_name` LowCardinality(String),
    `model_provider_name` LowCardinality(String),
    `minute` DateTime,
    `response_time_ms_quantiles` AggregateFunction(quantilesTDigest(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999), Nullable(UInt32)),
    `ttft_ms_quantiles` AggregateFunction(quantilesTDigest(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999), Nullable(UInt32)),
    `total_input_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `total_output_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `count` AggregateFunction(count, UInt32),
    `total_cost` AggregateFunction(sum, Nullable(Decimal(18, 9))),
    `total_provider_cache_read_input_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `total_provider_cache_write_input_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `count_with_cost` AggregateFunction(count, Nullable(Decimal(18, 9)))
)
ENGINE = AggregatingMergeTree
ORDER BY (model_name, model_provider_name, minute)
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS EpisodeById
(
    `episode_id_uint` UInt128,
    `count` SimpleAggregateFunction(sum, UInt64),
    `inference_ids` AggregateFunction(groupArray, UUID),
    `min_inference_id_uint` SimpleAggregateFunction(min, UInt128),
    `max_inference_id_uint` SimpleAggregateFunction(max, UInt128)
)
ENGINE = AggregatingMergeTree
ORDER BY episode_id_uint
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS ConfigSnapshot
(
    `config` String,
    `extra_templates` Map(String, String),
    `hash` UInt256,
    `tensorzero_version` String,
    `created_at` DateTime64(6) DEFAULT now(),
    `last_used` DateTime64(6) DEFAULT now(),
    `tags` Map(String, String) DEFAULT map()
)
ENGINE = ReplacingMergeTree(last_used)
ORDER BY hash
SETTINGS index_granularity = 256
;

CREATE TABLE IF NOT EXISTS InferenceEvaluationRuns
(
    `run_id_uint` UInt128,
    `evaluation_name` String,
    `function_name` String,
    `function_type` LowCardinality(String),
    `dataset_name` String,
    `variant_names` Array(String),
    `metrics` String,
    `source` LowCardinality(String),
    `snapshot_hash` Nullable(String),
    `created_at` DateTime64(3, 'UTC'),
    `updated_at` DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (run_id_uint)
SETTINGS index_granularity = 8192
;

CREATE TABLE IF NOT EXISTS VariantStatistics
(
    `function_name` LowCardinality(String),
    `variant_name` LowCardinality(String),
    `minute` DateTime,
    `processing_time_ms_quantiles` AggregateFunction(quantilesTDigest(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999), Nullable(UInt32)),
    `ttft_ms_quantiles` AggregateFunction(quantilesTDigest(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999), Nullable(UInt32)),
    `total_input_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `total_output_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `count` AggregateFunction(count, UInt32),
    `total_cost` AggregateFunction(sum, Nullable(Decimal(18, 9))),
    `total_provider_cache_read_input_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `total_provider_cache_write_input_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `count_with_cost` AggregateFunction(count, Nullable(Decimal(18, 9)))
)
ENGINE = AggregatingMergeTree
ORDER BY (function_name, variant_name, minute)
SETTINGS index_granularity = 8192
;

CREATE MATERIALIZED VIEW IF NOT EXISTS BooleanMetricFeedbackTagView TO FeedbackTag
(
    `metric_name` LowCardinality(String),
    `key` String,
    `value` String,
    `feedback_id` UUID,
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    metric_name,
    key,
    tags[key] AS value,
    id AS feedback_id,
    snapshot_hash
FROM BooleanMetricFeedback
ARRAY JOIN mapKeys(tags) AS key
;

CREATE MATERIALIZED VIEW IF NOT EXISTS CommentFeedbackTagView TO FeedbackTag
(
    `metric_name` String,
    `key` String,
    `value` String,
    `feedback_id` UUID,
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    'comment' AS metric_name,
    key,
    tags[key] AS value,
    id AS feedback_id,
    snapshot_hash
FROM CommentFeedback
ARRAY JOIN mapKeys(tags) AS key
;

CREATE MATERIALIZED VIEW IF NOT EXISTS DemonstrationFeedbackTagView TO FeedbackTag
(
    `metric_name` String,
    `key` String,
    `value` String,
    `feedback_id` UUID,
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    'demonstration' AS metric_name,
    key,
    tags[key] AS value,
    id AS feedback_id,
    snapshot_hash
FROM DemonstrationFeedback
ARRAY JOIN mapKeys(tags) AS key
;

CREATE MATERIALIZED VIEW IF NOT EXISTS FloatMetricFeedbackTagView TO FeedbackTag
(
    `metric_name` LowCardinality(String),
    `key` String,
    `value` String,
    `feedback_id` UUID,
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    metric_name,
    key,
    tags[key] AS value,
    id AS feedback_id,
    snapshot_hash
FROM FloatMetricFeedback
ARRAY JOIN mapKeys(tags) AS key
;

CREATE MATERIALIZED VIEW IF NOT EXISTS ChatInferenceTagView TO InferenceTag
(
    `function_name` LowCardinality(String),
    `key` String,
    `value` String,
    `inference_id` UUID,
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    function_name,
    key,
    tags[key] AS value,
    id AS inference_id,
    snapshot_hash
FROM ChatInference
ARRAY JOIN mapKeys(tags) AS key
;

CREATE MATERIALIZED VIEW IF NOT EXISTS JsonInferenceTagView TO InferenceTag
(
    `function_name` LowCardinality(String),
    `key` String,
    `value` String,
    `inference_id` UUID,
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    function_name,
    key,
    tags[key] AS value,
    id AS inference_id,
    snapshot_hash
FROM JsonInference
ARRAY JOIN mapKeys(tags) AS key
;

CREATE MATERIALIZED VIEW IF NOT EXISTS BatchIdByInferenceIdView TO BatchIdByInferenceId
(
    `inference_id` UUID,
    `batch_id` UUID
)
AS SELECT
    inference_id,
    batch_id
FROM BatchModelInference
;

CREATE MATERIALIZED VIEW IF NOT EXISTS BooleanMetricFeedbackByTargetIdView TO BooleanMetricFeedbackByTargetId
(
    `id` UUID,
    `target_id` UUID,
    `metric_name` LowCardinality(String),
    `value` Bool,
    `tags` Map(String, String),
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    id,
    target_id,
    metric_name,
    value,
    tags,
    snapshot_hash
FROM BooleanMetricFeedback
;

CREATE MATERIALIZED VIEW IF NOT EXISTS CommentFeedbackByTargetIdView TO CommentFeedbackByTargetId
(
    `id` UUID,
    `target_id` UUID,
    `target_type` Enum8('inference' = 1, 'episode' = 2),
    `value` String,
    `tags` Map(String, String),
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    id,
    target_id,
    target_type,
    value,
    tags,
    snapshot_hash
FROM CommentFeedback
;

CREATE MATERIALIZED VIEW IF NOT EXISTS DemonstrationFeedbackByInferenceIdView TO DemonstrationFeedbackByInferenceId
(
    `id` UUID,
    `inference_id` UUID,
    `value` String,
    `tags` Map(String, String),
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    id,
    inference_id,
    value,
    tags,
    snapshot_hash
FROM DemonstrationFeedback
;

CREATE MATERIALIZED VIEW IF NOT EXISTS FloatMetricFeedbackByTargetIdView TO FloatMetricFeedbackByTargetId
(
    `id` UUID,
    `target_id` UUID,
    `metric_name` LowCardinality(String),
    `value` Float32,
    `tags` Map(String, String),
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    id,
    target_id,
    metric_name,
    value,
    tags,
    snapshot_hash
FROM FloatMetricFeedback
;

CREATE MATERIALIZED VIEW IF NOT EXISTS TagChatInferenceView TO TagInference
(
    `function_name` LowCardinality(String),
    `variant_name` LowCardinality(String),
    `episode_id` UUID,
    `inference_id` UUID,
    `function_type` String,
    `key` String,
    `value` String,
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    function_name,
    variant_name,
    episode_id,
    id AS inference_id,
    'chat' AS function_type,
    key,
    tags[key] AS value,
    snapshot_hash
FROM ChatInference
ARRAY JOIN mapKeys(tags) AS key
;

CREATE MATERIALIZED VIEW IF NOT EXISTS TagJsonInferenceView TO TagInference
(
    `function_name` LowCardinality(String),
    `variant_name` LowCardinality(String),
    `episode_id` UUID,
    `inference_id` UUID,
    `function_type` String,
    `key` String,
    `value` String,
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    function_name,
    variant_name,
    episode_id,
    id AS inference_id,
    'json' AS function_type,
    key,
    tags[key] AS value,
    snapshot_hash
FROM JsonInference
ARRAY JOIN mapKeys(tags) AS key
;

CREATE MATERIALIZED VIEW IF NOT EXISTS DynamicEvaluationRunEpisodeByRunIdView TO DynamicEvaluationRunEpisodeByRunId
(
    `run_id_uint` UInt128,
    `episode_id_uint` UInt128,
    `variant_pins` Map(String, String),
    `tags` Map(String, String),
    `datapoint_name` Nullable(String),
    `is_deleted` Bool,
    `updated_at` DateTime64(6, 'UTC'),
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    toUInt128(run_id) AS run_id_uint,
    episode_id_uint,
    variant_pins,
    tags,
    datapoint_name,
    is_deleted,
    updated_at,
    snapshot_hash
FROM DynamicEvaluationRunEpisode
ORDER BY
    run_id_uint ASC,
    episode_id_uint ASC
;

CREATE MATERIALIZED VIEW IF NOT EXISTS DynamicEvaluationRunByProjectNameView TO DynamicEvaluationRunByProjectName
(
    `run_id_uint` UInt128,
    `variant_pins` Map(String, String),
    `tags` Map(String, String),
    `project_name` Nullable(String),
    `run_display_name` Nullable(String),
    `is_deleted` Bool,
    `updated_at` DateTime64(6, 'UTC'),
    `snapshot_hash` Nullable(UInt256)
)
AS SELECT
    run_id_uint,
    variant_pins,
    tags,
    project_name,
    run_display_name,
    is_deleted,
    updated_at,
    snapshot_hash
FROM DynamicEvaluationRun
WHERE project_name IS NOT NULL
ORDER BY
    project_name ASC,
    run_id_uint ASC
;

CREATE MATERIALIZED VIEW IF NOT EXISTS StaticEvaluationFloatHumanFeedbackView TO StaticEvaluationHumanFeedback
(
    `metric_name` LowCardinality(String),
    `datapoint_id` UUID,
    `output` String,
    `value` String,
    `feedback_id` UUID,
    `evaluator_inference_id` UUID
)
AS WITH
    float_human_feedback AS
    (
        SELECT
            metric_name,
            toUUID(tags['tensorzero::datapoint_id']) AS datapoint_id,
            toJSONString(value) AS value,
            id AS feedback_id,
            target_id,
            toUUID(tags['tensorzero::evaluator_inference_id']) AS evaluator_inference_id
        FROM FloatMetricFeedback
        WHERE mapContains(tags, 'tensorzero::human_feedback') AND mapContains(tags, 'tensorzero::datapoint_id')
    ),
    inference_by_id AS
    (
        SELECT
            id_uint,
            function_name,
            function_type,
            variant_name,
            episode_id
        FROM InferenceById
        WHERE id_uint IN (
            SELECT toUInt128(target_id)
            FROM float_human_feedback
        )
    ),
    chat_inference AS
    (
        SELECT
            function_name,
            variant_name,
            episode_id,
            id,
            output
        FROM ChatInference
        WHERE (function_name, variant_name, episode_id) IN (
            SELECT
                function_name,
                variant_name,
                episode_id
            FROM inference_by_id
        )
    ),
    json_inference AS
    (
        SELECT
            function_name,
            variant_name,
            episode_id,
            id,
            output
        FROM JsonInference
        WHERE (function_name, variant_name, episode_id) IN (
            SELECT
                function_name,
                variant_name,
                episode_id
            FROM inference_by_id
        )
    )
SELECT
    f.metric_name AS metric_name,
    f.datapoint_id AS datapoint_id,
    if(i.function_type = 'chat', ci.output, ji.output) AS output,
    f.value AS value,
    f.feedback_id AS feedback_id,
    f.evaluator_inference_id AS evaluator_inference_id
FROM float_human_feedback AS f
INNER JOIN inference_by_id AS i ON toUInt128(f.target_id) = i.id_uint
LEFT JOIN chat_inference AS ci ON (i.function_type = 'chat') AND (i.function_name = ci.function_name) AND (i.variant_name = ci.variant_name) AND (i.episode_id = ci.episode_id) AND (f.target_id = ci.id)
LEFT JOIN json_inference AS ji ON (i.function_type = 'json') AND (i.function_name = ji.function_name) AND (i.variant_name = ji.variant_name) AND (i.episode_id = ji.episode_id) AND (f.target_id = ji.id)
;

DETACH TABLE StaticEvaluationFloatHumanFeedbackView PERMANENTLY
;

CREATE MATERIALIZED VIEW IF NOT EXISTS StaticEvaluationBooleanHumanFeedbackView TO StaticEvaluationHumanFeedback
(
    `metric_name` LowCardinality(String),
    `datapoint_id` UUID,
    `output` String,
    `value` String,
    `feedback_id` UUID,
    `evaluator_inference_id` UUID
)
AS WITH
    boolean_human_feedback AS
    (
        SELECT
            metric_name,
            toUUID(tags['tensorzero::datapoint_id']) AS datapoint_id,
            toJSONString(value) AS value,
            id AS feedback_id,
            target_id,
            toUUID(tags['tensorzero::evaluator_inference_id']) AS evaluator_inference_id
        FROM BooleanMetricFeedback
        WHERE mapContains(tags, 'tensorzero::human_feedback') AND mapContains(tags, 'tensorzero::datapoint_id')
    ),
    inference_by_id AS
    (
        SELECT
            id_uint,
            function_name,
            function_type,
            variant_name,
            episode_id
        FROM InferenceById
        WHERE id_uint IN (
            SELECT toUInt128(target_id)
            FROM boolean_human_feedback
        )
    ),
    chat_inference AS
    (
        SELECT
            function_name,
            variant_name,
            episode_id,
            id,
            output
        FROM ChatInference
        WHERE (function_name, variant_name, episode_id) IN (
            SELECT
                function_name,
                variant_name,
                episode_id
            FROM inference_by_id
        )
    ),
    json_inference AS
    (
        SELECT
            function_name,
            variant_name,
            episode_id,
            id,
            output
        FROM JsonInference
        WHERE (function_name, variant_name, episode_id) IN (
            SELECT
                function_name,
                variant_name,
                episode_id
            FROM inference_by_id
        )
    )
SELECT
    f.metric_name AS metric_name,
    f.datapoint_id AS datapoint_id,
    if(i.function_type = 'chat', ci.output, ji.output) AS output,
    f.value AS value,
    f.feedback_id AS feedback_id,
    f.evaluator_inference_id AS evaluator_inference_id
FROM boolean_human_feedback AS f
INNER JOIN inference_by_id AS i ON toUInt128(f.target_id) = i.id_uint
LEFT JOIN chat_inference AS ci ON (i.function_type = 'chat') AND (i.function_name = ci.function_name) AND (i.variant_name = ci.variant_name) AND (i.episode_id = ci.episode_id) AND (f.target_id = ci.id)
LEFT JOIN json_inference AS ji ON (i.function_type = 'json') AND (i.function_name = ji.function_name) AND (i.variant_name = ji.variant_name) AND (i.episode_id = ji.episode_id) AND (f.target_id = ji.id)
;

DETACH TABLE StaticEvaluationBooleanHumanFeedbackView PERMANENTLY
;

CREATE MATERIALIZED VIEW IF NOT EXISTS CumulativeUsageView TO CumulativeUsage
(
    `type` String,
    `count` UInt32
)
AS SELECT
    tupleElement(t, 1) AS type,
    tupleElement(t, 2) AS count
FROM
(
    SELECT arrayJoin([tuple('input_tokens', ifNull(input_tokens, 0)), tuple('output_tokens', ifNull(output_tokens, 0)), tuple('model_inferences', 1)]) AS t
    FROM ModelInference
    WHERE input_tokens IS NOT NULL
)
;

CREATE MATERIALIZED VIEW IF NOT EXISTS ModelProviderStatisticsView TO ModelProviderStatistics
(
    `model_name` LowCardinality(String),
    `model_provider_name` LowCardinality(String),
    `minute` DateTime,
    `response_time_ms_quantiles` AggregateFunction(quantilesTDigest(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999), Nullable(UInt32)),
    `ttft_ms_quantiles` AggregateFunction(quantilesTDigest(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999), Nullable(UInt32)),
    `total_input_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `total_output_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `count` AggregateFunction(count),
    `total_cost` AggregateFunction(sum, Nullable(Decimal(18, 9))),
    `total_provider_cache_read_input_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `total_provider_cache_write_input_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `count_with_cost` AggregateFunction(count, Nullable(Decimal(18, 9)))
)
AS SELECT
    model_name,
    model_provider_name,
    toStartOfMinute(timestamp) AS minute,
    quantilesTDigestState(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999)(response_time_ms) AS response_time_ms_quantiles,
    quantilesTDigestState(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999)(ttft_ms) AS ttft_ms_quantiles,
    sumState(input_tokens) AS total_input_tokens,
    sumState(output_tokens) AS total_output_tokens,
    countState() AS count,
    sumState(cost) AS total_cost,
    sumState(provider_cache_read_input_tokens) AS total_provider_cache_read_input_tokens,
    sumState(provider_cache_write_input_tokens) AS total_provider_cache_write_input_tokens,
    countState(cost) AS count_with_cost
FROM ModelInference
GROUP BY
    model_name,
    model_provider_name,
    minute
;

CREATE MATERIALIZED VIEW IF NOT EXISTS EpisodeByIdChatView TO EpisodeById
(
    `episode_id_uint` UInt128,
    `count` UInt8,
    `inference_ids` AggregateFunction(groupArray, UUID),
    `min_inference_id_uint` UInt128,
    `max_inference_id_uint` UInt128
)
AS SELECT
    toUInt128(episode_id) AS episode_id_uint,
    1 AS count,
    groupArrayState(id) AS inference_ids,
    toUInt128(min(id)) AS min_inference_id_uint,
    toUInt128(max(id)) AS max_inference_id_uint
FROM ChatInference
WHERE toUInt128(episode_id) < toUInt128(toUUID('09184e72-a000-7000-8000-000000000000'))
GROUP BY toUInt128(episode_id)
;

CREATE MATERIALIZED VIEW IF NOT EXISTS EpisodeByIdJsonView TO EpisodeById
(
    `episode_id_uint` UInt128,
    `count` UInt8,
    `inference_ids` AggregateFunction(groupArray, UUID),
    `min_inference_id_uint` UInt128,
    `max_inference_id_uint` UInt128
)
AS SELECT
    toUInt128(episode_id) AS episode_id_uint,
    1 AS count,
    groupArrayState(id) AS inference_ids,
    toUInt128(min(id)) AS min_inference_id_uint,
    toUInt128(max(id)) AS max_inference_id_uint
FROM JsonInference
WHERE toUInt128(episode_id) < toUInt128(toUUID('09184e72-a000-7000-8000-000000000000'))
GROUP BY toUInt128(episode_id)
;

CREATE MATERIALIZED VIEW IF NOT EXISTS VariantStatisticsModelView TO VariantStatistics
(
    `function_name` LowCardinality(String),
    `variant_name` LowCardinality(String),
    `minute` DateTime,
    `total_input_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `total_output_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `total_cost` AggregateFunction(sum, Nullable(Decimal(18, 9))),
    `total_provider_cache_read_input_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `total_provider_cache_write_input_tokens` AggregateFunction(sum, Nullable(UInt32)),
    `count_with_cost` AggregateFunction(count, Nullable(Decimal(18, 9)))
)
AS SELECT
    mi.function_name AS function_name,
    mi.variant_name AS variant_name,
    toStartOfMinute(mi.timestamp) AS minute,
    sumState(mi.input_tokens) AS total_input_tokens,
    sumState(mi.output_tokens) AS total_output_tokens,
    sumState(mi.cost) AS total_cost,
    sumState(mi.provider_cache_read_input_tokens) AS total_provider_cache_read_input_tokens,
    sumState(mi.provider_cache_write_input_tokens) AS total_provider_cache_write_input_tokens,
    countState(mi.cost) AS count_with_cost
FROM ModelInference AS mi
WHERE mi.function_name != ''
GROUP BY
    mi.function_name,
    mi.variant_name,
    minute
;

CREATE MATERIALIZED VIEW IF NOT EXISTS VariantStatisticsChatView TO VariantStatistics
(
    `function_name` LowCardinality(String),
    `variant_name` LowCardinality(String),
    `minute` DateTime,
    `processing_time_ms_quantiles` AggregateFunction(quantilesTDigest(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999), Nullable(UInt32)),
    `ttft_ms_quantiles` AggregateFunction(quantilesTDigest(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999), Nullable(UInt32)),
    `count` AggregateFunction(count)
)
AS SELECT
    function_name,
    variant_name,
    toStartOfMinute(timestamp) AS minute,
    quantilesTDigestState(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999)(processing_time_ms) AS processing_time_ms_quantiles,
    quantilesTDigestState(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999)(ttft_ms) AS ttft_ms_quantiles,
    countState() AS count
FROM ChatInference
GROUP BY
    function_name,
    variant_name,
    minute
;

CREATE MATERIALIZED VIEW IF NOT EXISTS VariantStatisticsJsonView TO VariantStatistics
(
    `function_name` LowCardinality(String),
    `variant_name` LowCardinality(String),
    `minute` DateTime,
    `processing_time_ms_quantiles` AggregateFunction(quantilesTDigest(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999), Nullable(UInt32)),
    `ttft_ms_quantiles` AggregateFunction(quantilesTDigest(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999), Nullable(UInt32)),
    `count` AggregateFunction(count)
)
AS SELECT
    function_name,
    variant_name,
    toStartOfMinute(timestamp) AS minute,
    quantilesTDigestState(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999)(processing_time_ms) AS processing_time_ms_quantiles,
    quantilesTDigestState(0.001, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7, 0.72, 0.74, 0.76, 0.78, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99, 0.991, 0.992, 0.993, 0.994, 0.995, 0.996, 0.997, 0.998, 0.999)(ttft_ms) AS ttft_ms_quantiles,
    countState() AS count
FROM JsonInference
GROUP BY
    function_name,
    variant_name,
    minute
;

CREATE TABLE IF NOT EXISTS TensorZeroMigration
(
    `migration_id` UInt32,
    `migration_name` String,
    `gateway_version` String,
    `gateway_git_sha` String,
    `applied_at` DateTime64(6, 'UTC') DEFAULT now(),
    `execution_time_ms` UInt64,
    `extra_data` Nullable(String)
)
ENGINE = MergeTree
PRIMARY KEY (migration_id)
;
