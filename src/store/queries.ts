// Every read the sidecar makes from ClickHouse: the tables a database has, the columns of one, the inferences and
// episodes feedback targets (written by this process before a restart, or by another sidecar), DICL examples and
// the feedback statistics adaptive experiments read, workflow evaluation runs (TensorZero's own queries).
import type { StoreClient } from './client.ts'
import type { ToolDefinition } from '../core/types.ts'
import type { DiclExampleReads, FeedbackScope, FeedbackStatisticsReads } from '../core/stored-data.ts'
import { NAMESPACE_TAG } from '../core/names.ts'
import { UUID_TEXT } from '../core/ids.ts'
import type { ExchangeReads } from '../core/exchanges.ts'
import { storedInputOf, storedOutputOf } from './stored-exchange.ts'
import type { CachedAnswer, InferenceCache } from '../core/cache.ts'
import type { FinishReason } from '../core/types.ts'
import type { WorkflowRunReads, WorkflowRunSettings } from '../core/workflow-evaluation.ts'

/** What feedback needs to know about the inference it targets. */
export interface StoredInference {
  functionName: string
  functionType: 'chat' | 'json'
  variantName: string
  episodeId: string
  /** JSON functions: the output schema the inference used (demonstrations are validated against it). */
  outputSchema?: Record<string, unknown>
  /** Chat functions: the tools the inference offered (demonstration tool calls are validated against them). */
  tools?: ToolDefinition[]
  /**
   * Its stored `output` column, which a person's evaluation verdict is keyed by: read back from ClickHouse, or kept in
   * memory for the inferences an evaluation made (tagged `tensorzero::datapoint_id`).
   */
  output?: string
}

/** Feedback targets looked up in ClickHouse (`InferenceById` / `InferenceByEpisodeId`). */
export interface TargetReads {
  inference (id: string): Promise<StoredInference | null>
  episode (id: string): Promise<boolean>
}

export async function tableNames (client: StoreClient): Promise<Set<string>> {
  const rows = await client.select<{ name: string }>('SELECT name FROM system.tables WHERE database = currentDatabase()')
  return new Set(rows.map(r => r.name))
}

/** The columns of `table` in the current database; empty when the table does not exist. */
export async function columnNames (client: StoreClient, table: string): Promise<Set<string>> {
  const rows = await client.select<{ name: string }>(`SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '${table}'`)
  return new Set(rows.map(r => r.name))
}

interface InferenceByIdRow { function_name: string; variant_name: string; episode_id: string; function_type: 'chat' | 'json' }
type StoredTool = { name: string; description: string; parameters: Record<string, unknown>; strict?: boolean }

export function targetReads (client: StoreClient): TargetReads {
  return {
    async inference (id) {
      if (!UUID_TEXT.test(id)) return null
      const rows = await client.select<InferenceByIdRow>(
        `SELECT function_name, variant_name, toString(episode_id) AS episode_id, toString(function_type) AS function_type FROM InferenceById WHERE id_uint = toUInt128(toUUID('${id}')) LIMIT 1`)
      if (rows.length === 0) return null
      const r = rows[0]
      const info: StoredInference = { functionName: r.function_name, variantName: r.variant_name, episodeId: r.episode_id, functionType: r.function_type }
      const fn = sqlText(r.function_name)
      if (r.function_type === 'json') {
        const s = await client.select<{ output_schema: string; output: string }>(`SELECT output_schema, output FROM JsonInference WHERE function_name = '${fn}' AND id = toUUID('${id}') LIMIT 1`)
        if (s.length > 0) {
          info.output = s[0].output
          try { info.outputSchema = JSON.parse(s[0].output_schema) } catch { /* keep the config's */ }
        }
      } else {
        const s = await client.select<{ tool_params: string; output: string }>(`SELECT tool_params, output FROM ChatInference WHERE function_name = '${fn}' AND id = toUUID('${id}') LIMIT 1`)
        if (s.length > 0) info.output = s[0].output
        if (s.length > 0 && s[0].tool_params !== '') {
          try {
            const tp = JSON.parse(s[0].tool_params) as { tools_available?: StoredTool[] }
            info.tools = (tp.tools_available ?? []).map(t => ({ name: t.name, description: t.description, parameters: t.parameters, strict: t.strict === true }))
          } catch { /* no tools */ }
        }
      }
      return info
    },
    async episode (id) {
      if (!UUID_TEXT.test(id)) return false
      const rows = await client.select(`SELECT 1 AS found FROM InferenceByEpisodeId WHERE episode_id_uint = toUInt128(toUUID('${id}')) LIMIT 1`)
      return rows.length > 0
    }
  }
}

/**
 * An inference's `input` and `output` columns, for a conversation continued from it. `InferenceById` names the
 * function and its type first, so the read of ChatInference / JsonInference uses the front of their sort key.
 */
export function exchangeReads (client: StoreClient): ExchangeReads {
  return {
    async exchange (id) {
      if (!UUID_TEXT.test(id)) return null
      const found = await client.select<{ function_name: string; function_type: 'chat' | 'json'; episode_id: string }>(
        `SELECT function_name, toString(function_type) AS function_type, toString(episode_id) AS episode_id FROM InferenceById WHERE id_uint = toUInt128(toUUID('${id}')) LIMIT 1`)
      if (found.length === 0) return null
      const table = found[0].function_type === 'json' ? 'JsonInference' : 'ChatInference'
      const fn = sqlText(found[0].function_name)
      const rows = await client.select<{ input: string; output: string }>(
        `SELECT input, output FROM ${table} WHERE function_name = '${fn}' AND id = toUUID('${id}') LIMIT 1`)
      if (rows.length === 0) return null
      return { input: storedInputOf(rows[0].input), output: storedOutputOf(rows[0].output), episodeId: found[0].episode_id }
    }
  }
}

/**
 * TensorZero's statistics for a namespace's experiment: the raw feedback rows whose target is an inference tagged with
 * the namespace, or the episode of one, at most `maxSamplesPerVariant` of the newest per variant.
 */
function namespaceFeedbackQuery (where: string, functionName: string, scope: FeedbackScope): string {
  const tagged = `SELECT toUInt128(inference_id) FROM InferenceTag
        WHERE function_name = '${sqlText(functionName)}' AND key = '${NAMESPACE_TAG}' AND value = '${sqlText(scope.namespace)}'`
  const rows = (kind: 'Float' | 'Boolean'): string => `SELECT variant_name, toFloat64(value) AS value, id_uint
    FROM ${kind}MetricFeedbackByVariant
    WHERE ${where}
      AND target_id_uint IN (${tagged}
        UNION ALL
        SELECT DISTINCT episode_id_uint FROM InferenceByEpisodeId WHERE id_uint IN (${tagged}))
    ORDER BY id_uint DESC
    LIMIT ${Math.trunc(scope.maxSamplesPerVariant)} BY variant_name`
  return `SELECT variant_name, avg(value) AS mean, varSampStable(value) AS variance, count() AS count
FROM (
    ${rows('Float')}
    UNION ALL
    ${rows('Boolean')}
)
GROUP BY variant_name`
}

/** A string's body inside a single-quoted ClickHouse literal. */
function sqlText (s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")
}
/** The reads DICL variants and adaptive experiments make. */
export type ExperimentReads = DiclExampleReads & FeedbackStatisticsReads

export function experimentReads (client: StoreClient): ExperimentReads {
  return {
    async similarDiclExamples (functionName, variantName, embedding, k) {
      if (!embedding.every(Number.isFinite)) throw new Error('the embedding has a value that is not a finite number')
      const rows = await client.select<{ input: string; output: string; cosine_distance: number }>(
        `SELECT input, output, cosineDistance(embedding, [${embedding.join(',')}]) AS cosine_distance
FROM DynamicInContextLearningExample
WHERE function_name = '${sqlText(functionName)}' AND variant_name = '${sqlText(variantName)}'
ORDER BY cosine_distance ASC
LIMIT ${Math.trunc(k)}`)
      return rows.map(r => ({ input: r.input, output: r.output, cosineDistance: Number(r.cosine_distance) }))
    },
    async feedbackByVariant (metricName, functionName, variantNames, scope) {
      if (variantNames.length === 0) return []
      const where = `function_name = '${sqlText(functionName)}' AND metric_name = '${sqlText(metricName)}'
  AND variant_name IN (${variantNames.map(v => `'${sqlText(v)}'`).join(', ')})`
      const rows = await client.select<{ variant_name: string; mean: number; variance: number | null; count: string | number }>(scope === undefined
        ? `SELECT variant_name, avgMerge(feedback_mean) AS mean, varSampStableMerge(feedback_variance) AS variance, sum(count) AS count
FROM FeedbackByVariantStatistics
WHERE ${where}
GROUP BY variant_name`
        : namespaceFeedbackQuery(where, functionName, scope))
      return rows.map(r => ({
        variantName: r.variant_name,
        mean: Number(r.mean),
        variance: r.variance === null || !Number.isFinite(Number(r.variance)) ? null : Number(r.variance),
        count: Number(r.count)
      }))
    }
  }
}

interface CacheRow { output: string; raw_request: string; raw_response: string; input_tokens: number | null; output_tokens: number | null; finish_reason: FinishReason | null }

/** TensorZero's cache lookup: the newest entry of the key, within `max_age_s` when given. */
export function inferenceCacheLookup (client: StoreClient): InferenceCache['lookup'] {
  return async (key, maxAgeS, signal) => {
    if (!/^\d+$/.test(key.short) || !/^[0-9a-f]{64}$/.test(key.long)) throw new Error('malformed cache key')
    const age = maxAgeS === undefined ? '' : `\n  AND timestamp > subtractSeconds(now(), ${Math.trunc(maxAgeS)})`
    const rows = await client.select<CacheRow>(
      `SELECT output, raw_request, raw_response, input_tokens, output_tokens, finish_reason
FROM ModelInferenceCache
WHERE short_cache_key = ${key.short} AND long_cache_key = '${key.long}'${age}
ORDER BY timestamp DESC
LIMIT 1`, signal)
    if (rows.length === 0) return undefined
    const r = rows[0]
    const answer: CachedAnswer = { output: r.output, rawRequest: r.raw_request, rawResponse: r.raw_response }
    if (r.input_tokens !== null) answer.inputTokens = Number(r.input_tokens)
    if (r.output_tokens !== null) answer.outputTokens = Number(r.output_tokens)
    if (r.finish_reason !== null) answer.finishReason = r.finish_reason
    return answer
  }
}

/** A workflow evaluation run, or the run of an episode, as TensorZero's gateway reads them (pins and tags). */
export function workflowRunReads (client: StoreClient): WorkflowRunReads {
  const read = async (query: string): Promise<WorkflowRunSettings | null> => {
    const rows = await client.select<{ variant_pins: Record<string, string>; tags: Record<string, string> }>(query)
    return rows.length === 0 ? null : { variantPins: rows[0].variant_pins, tags: rows[0].tags }
  }
  return {
    run: async id => UUID_TEXT.test(id)
      ? await read(`SELECT variant_pins, tags FROM DynamicEvaluationRun WHERE run_id_uint = toUInt128(toUUID('${id}')) LIMIT 1`)
      : null,
    episode: async id => UUID_TEXT.test(id)
      ? await read(`SELECT variant_pins, tags FROM DynamicEvaluationRunEpisode WHERE episode_id_uint = toUInt128(toUUID('${id}')) LIMIT 1`)
      : null
  }
}
