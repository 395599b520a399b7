-- A flat view for humans: one row per model call (ModelInference), with the service that made it.
-- Applied by `tz-sidecar migrate` when the sidecar owns the schema. Examples:
--   requests per model, last hour:
--     SELECT model_name, count() AS requests FROM ModelCallsFlat
--     WHERE timestamp > now() - INTERVAL 1 HOUR GROUP BY model_name ORDER BY requests DESC
--   p95 latency per model, last hour:
--     SELECT model_name, quantile(0.95)(response_time_ms) AS p95_ms FROM ModelCallsFlat
--     WHERE timestamp > now() - INTERVAL 1 HOUR GROUP BY model_name
--   tokens per service, last hour:
--     SELECT service, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens FROM ModelCallsFlat
--     WHERE timestamp > now() - INTERVAL 1 HOUR GROUP BY service
-- The service comes from the inference row's `service` tag (joined on the inference id); rows TensorZero itself
-- wrote have no such tag and show service ''.
CREATE VIEW IF NOT EXISTS ModelCallsFlat AS
SELECT
    mi.timestamp AS timestamp,
    i.service AS service,
    if(mi.function_name != '', mi.function_name, i.function_name) AS function_name,
    if(mi.variant_name != '', mi.variant_name, i.variant_name) AS variant_name,
    mi.model_name AS model_name,
    mi.model_provider_name AS model_provider_name,
    mi.input_tokens AS input_tokens,
    mi.output_tokens AS output_tokens,
    mi.response_time_ms AS response_time_ms,
    mi.ttft_ms AS ttft_ms,
    mi.cached AS cached,
    mi.finish_reason AS finish_reason,
    mi.inference_id AS inference_id,
    i.episode_id AS episode_id,
    mi.id AS model_inference_id
FROM ModelInference AS mi
LEFT JOIN (
    SELECT id, episode_id, function_name, variant_name, tags['service'] AS service FROM ChatInference
    UNION ALL
    SELECT id, episode_id, function_name, variant_name, tags['service'] AS service FROM JsonInference
) AS i ON i.id = mi.inference_id
