// `tensorzero_raw_usage` and `tensorzero_raw_response`: one entry per model call the inference made, as TensorZero's
// RawUsageEntry / RawResponseEntry. Cached answers made no provider call, so they have no entries (as in TensorZero).
// Raw responses also list the attempts that failed (error bodies, no `model_inference_id`), each before what followed it.
import type { ModelInferenceRecord } from '../../core/records.ts'
import type { StreamingInference } from '../../function/run.ts'
import { failedRawEntry, type FailedRawResponse } from '../../core/errors.ts'
import type { ChunkRawUsage } from '../../core/types.ts'
import { providerUsageObject } from '../../providers/http/json.ts'

interface RawEntry { model_inference_id: string; provider_type: string; api_type: 'chat_completions' | 'embeddings' }
export type RawUsageEntry = RawEntry & { data: unknown }
export type RawResponseEntry = Omit<RawEntry, 'model_inference_id'> & { model_inference_id?: string; data: string }

/** The flags as the OpenAI-shaped routes read them (`original`: the deprecated `tensorzero_original_response`, the answer's own raw text). */
export interface RawFields { usage?: boolean; response?: boolean; original?: boolean }

const entryOf = (mi: ModelInferenceRecord): RawEntry => ({ model_inference_id: mi.id, provider_type: mi.providerType, api_type: mi.apiType ?? 'chat_completions' })

/** A stream chunk's one raw usage entry (the call that chunk belongs to is never an embedding). */
export function chunkRawUsageEntry (u: ChunkRawUsage): RawUsageEntry {
  return { model_inference_id: u.modelInferenceId, provider_type: u.providerType, api_type: 'chat_completions', data: u.usage }
}

export function rawUsageEntries (records: ModelInferenceRecord[]): RawUsageEntry[] {
  const entries: RawUsageEntry[] = []
  for (const mi of records) {
    if (mi.cached) continue
    const data = providerUsageObject(mi.rawResponse)
    if (data !== undefined) entries.push({ ...entryOf(mi), data })
  }
  return entries
}

/**
 * Each model call's failed attempts, then its own answer (none when cached), after `failedVariants` (the attempts of
 * variants that failed before the one that answered), in TensorZero's order.
 */
export function rawResponseEntries (records: ModelInferenceRecord[], failedVariants: FailedRawResponse[] = []): RawResponseEntry[] {
  const entries = failedRawEntries(failedVariants)
  for (const mi of records) {
    if (mi.failedRawResponses !== undefined) entries.push(...failedRawEntries(mi.failedRawResponses))
    if (!mi.cached) entries.push({ ...entryOf(mi), data: mi.rawResponse })
  }
  return entries
}

export function failedRawEntries (failed: FailedRawResponse[] | undefined): RawResponseEntry[] {
  return failed === undefined ? [] : failed.map(failedRawEntry)
}

/** The extra body fields the flags ask for. */
export function rawFields (records: ModelInferenceRecord[] | undefined, flags: RawFields, failedVariants?: FailedRawResponse[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (flags.usage === true) out.tensorzero_raw_usage = rawUsageEntries(records ?? [])
  if (flags.response === true) out.tensorzero_raw_response = rawResponseEntries(records ?? [], failedVariants)
  return out
}

/** One of TensorZero's chunks ahead of a stream's deltas: which entries it carries. */
export type HeadChunk = { field: 'raw_usage'; entries: RawUsageEntry[] } | { field: 'raw_response'; entries: RawResponseEntry[] }

/**
 * TensorZero's chunks ahead of a stream's deltas, in its order, empty ones left out, as `writer` encodes them: the
 * failed variants' attempts, the earlier model calls' usage, the streamed call's failed tries and providers, then the
 * earlier model calls' answers. A stream without raw flags has none, and builds nothing.
 */
export function streamHead (inference: StreamingInference, flags: { usage?: boolean; response?: boolean },
  writer: { headChunk (chunk: HeadChunk): string }): string {
  if (flags.usage !== true && flags.response !== true) return ''
  let head = ''
  const add = (chunk: HeadChunk): void => { if (chunk.entries.length > 0) head += writer.headChunk(chunk) }
  if (flags.response === true) add({ field: 'raw_response', entries: failedRawEntries(inference.failedVariantRawResponses) })
  if (flags.usage === true) add({ field: 'raw_usage', entries: rawUsageEntries(inference.earlierModelInferences) })
  if (flags.response === true) {
    add({ field: 'raw_response', entries: failedRawEntries(inference.failedCallRawResponses) })
    add({ field: 'raw_response', entries: rawResponseEntries(inference.earlierModelInferences) })
  }
  return head
}
