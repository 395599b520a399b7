// Test helpers: dataset datapoints made from inferences a sidecar stored, the way TensorZero's UI makes them
// ("add to dataset": create_from_inferences → StoredInference::into_datapoint_insert → insert_datapoints).
//   const ids = await datapointsFromInferences(s, 'support', [inferenceId, jsonInferenceId])
// Each datapoint takes the inference's input, output, tool columns, tags, episode and snapshot hash, a new UUIDv7 id,
// `source_inference_id` = the inference, `is_custom` false, no name; rows go into the columns TensorZero's
// insert_chat_datapoints_internal / insert_json_datapoints_internal name, `updated_at` left to ClickHouse's now64().
import { v7 as uuidv7 } from 'uuid'
import type { ReadScenario } from './read-scenario.ts'

const CHAT_COLUMNS = ['dataset_name', 'function_name', 'name', 'id', 'episode_id', 'input', 'output', 'tool_params',
  'dynamic_provider_tools', 'dynamic_tools', 'allowed_tools', 'parallel_tool_calls', 'tool_choice', 'tags', 'auxiliary',
  'is_deleted', 'is_custom', 'source_inference_id', 'staled_at', 'snapshot_hash']
const JSON_COLUMNS = ['dataset_name', 'function_name', 'id', 'episode_id', 'input', 'output', 'output_schema', 'tags',
  'auxiliary', 'is_deleted', 'staled_at', 'source_inference_id', 'is_custom', 'name', 'snapshot_hash']

interface StoredRow { id: string; function_name: string; episode_id: string; snapshot_hash: string | null; [column: string]: unknown }

/** Copies each stored inference (chat or JSON) into dataset `dataset`; returns the new datapoint ids, in order. */
export async function datapointsFromInferences (s: ReadScenario, dataset: string, inferenceIds: string[]): Promise<string[]> {
  const quoted = inferenceIds.map(id => `'${id}'`).join(',')
  const chat = await s.ch.query<StoredRow>(`SELECT id, function_name, episode_id, input, output, tool_params, dynamic_tools,
    dynamic_provider_tools, allowed_tools, tool_choice, parallel_tool_calls, tags, toString(snapshot_hash) AS snapshot_hash
    FROM ChatInference WHERE id IN [${quoted}]`, { database: s.db })
  const json = await s.ch.query<StoredRow>(`SELECT id, function_name, episode_id, input, output, output_schema, tags,
    toString(snapshot_hash) AS snapshot_hash FROM JsonInference WHERE id IN [${quoted}]`, { database: s.db })
  const byInference = new Map<string, string>()
  const make = (row: StoredRow): Record<string, unknown> => {
    const id = uuidv7()
    byInference.set(row.id, id)
    return {
      ...row,
      dataset_name: dataset,
      id,
      name: null,
      auxiliary: '',
      is_deleted: false,
      is_custom: false,
      source_inference_id: row.id,
      staled_at: null
    }
  }
  await insert(s, 'ChatInferenceDatapoint', CHAT_COLUMNS, chat.map(make))
  await insert(s, 'JsonInferenceDatapoint', JSON_COLUMNS, json.map(make))
  return inferenceIds.map(id => {
    const made = byInference.get(id)
    if (made === undefined) throw new Error(`inference ${id} is not stored`)
    return made
  })
}

async function insert (s: ReadScenario, table: string, columns: string[], rows: Array<Record<string, unknown>>): Promise<void> {
  if (rows.length === 0) return
  const lines = rows.map(row => JSON.stringify(Object.fromEntries(columns.map(c => [c, row[c]])))).join('\n')
  await s.ch.query(`INSERT INTO ${table} (${columns.join(', ')}) FORMAT JSONEachRow\n${lines}`, { database: s.db })
}
