// `tensorzero_raw_usage` and `tensorzero_raw_response`: one entry per model call the inference made, as TensorZero's
// RawUsageEntry / RawResponseEntry. Cached answers made no provider call, so they have no entries (as in TensorZero).
import type { ModelInferenceRecord } from '../../core/records.ts'

interface RawEntry { model_inference_id: string; provider_type: string; api_type: 'chat_completions' | 'embeddings' }
export type RawUsageEntry = RawEntry & { data: unknown }
export type RawResponseEntry = RawEntry & { data: string }

/** The flags as the OpenAI-shaped routes read them (`original`: the deprecated `tensorzero_original_response`, the answer's own raw text). */
export interface RawFields { usage?: boolean; response?: boolean; original?: boolean }

const entryOf = (mi: ModelInferenceRecord): RawEntry => ({ model_inference_id: mi.id, provider_type: mi.providerType, api_type: mi.apiType ?? 'chat_completions' })

/**
 * The provider's own usage object in a raw answer: `usage` (OpenAI-compatible, Anthropic), `usageMetadata` (Gemini),
 * or Anthropic's stream start (`message.usage`). A stream's raw answer is its chunks, one per line: the last one with
 * usage is taken, since providers report it there (or cumulatively).
 */
function providerUsage (rawResponse: string): unknown {
  let found: unknown
  for (const line of rawResponse.split('\n')) {
    const text = line.startsWith('data:') ? line.slice(5).trim() : line.trim()
    if (!text.startsWith('{')) continue
    let body: Record<string, unknown>
    try { body = JSON.parse(text) as Record<string, unknown> } catch { continue }
    const message = body.message as Record<string, unknown> | undefined
    const usage = body.usage ?? body.usageMetadata ?? message?.usage
    if (usage !== undefined && usage !== null && typeof usage === 'object') found = usage
  }
  return found
}

export function rawUsageEntries (records: ModelInferenceRecord[]): RawUsageEntry[] {
  const entries: RawUsageEntry[] = []
  for (const mi of records) {
    if (mi.cached) continue
    const data = providerUsage(mi.rawResponse)
    if (data !== undefined) entries.push({ ...entryOf(mi), data })
  }
  return entries
}

export function rawResponseEntries (records: ModelInferenceRecord[]): RawResponseEntry[] {
  return records.filter(mi => !mi.cached).map(mi => ({ ...entryOf(mi), data: mi.rawResponse }))
}

/** The extra body fields the flags ask for. */
export function rawFields (records: ModelInferenceRecord[] | undefined, flags: RawFields): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (flags.usage === true) out.tensorzero_raw_usage = rawUsageEntries(records ?? [])
  if (flags.response === true) out.tensorzero_raw_response = rawResponseEntries(records ?? [])
  return out
}
