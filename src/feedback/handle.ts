// `POST /feedback` as TensorZero's gateway handles it (tensorzero-core endpoints/feedback): same checks, same order,
// same messages and status codes. The HTTP route only parses the body and sends back what this returns.
// Bodies of errors are `{"error":{"message":…}}` (the OpenAI-style shape the sidecar uses on every route).
import { v7 as uuidv7 } from 'uuid'
import type { TensorZeroConfig } from '../core/config.ts'
import type { FeedbackRecord, HumanEvaluation, HumanEvaluationRecord } from '../core/records.ts'
import type { ToolDefinition } from '../core/types.ts'
import { chatOutputBlocks } from '../store/rows.ts'
import type { StoredInference, TargetReads } from '../store/queries.ts'
import { firstSchemaError } from '../core/json-schema.ts'
import { sleep } from '../core/backoff.ts'
import { GatewayError, badRequest } from '../core/errors.ts'
import { TimeoutError } from '../core/deadline.ts'
import type { KnownTargets } from './known-targets.ts'
import { UUID_TEXT, canonicalUuid } from '../core/ids.ts'
import { WORKFLOW_OFFSET_MS, uuidV7Ms } from '../core/workflow-evaluation.ts'

export interface FeedbackTiming {
  /** Wait until the target id is this old before concluding it does not exist (TensorZero: 6000 ms). */
  cooldownMs: number
  /** Always wait at least this long for an id not found yet (TensorZero: 1000 ms). */
  minWaitMs: number
  /** Interval between lookups (TensorZero: 2000 ms). */
  pollMs: number
  /** How long the read of an evaluated output may take after the reply (TensorZero's deferred write has no bound of its own). */
  humanEvaluationReadMs: number
}

const TENSORZERO_FEEDBACK_TIMING: FeedbackTiming = { cooldownMs: 6000, minWaitMs: 1000, pollMs: 2000, humanEvaluationReadMs: 30_000 }

export interface FeedbackDeps {
  config: TensorZeroConfig
  /** Ids this sidecar issued recently: accepted at once. */
  knownTargets: KnownTargets
  /** Other ids are looked up in ClickHouse (`InferenceById` / `InferenceByEpisodeId`). Absent: they do not exist. */
  lookupInClickHouse?: TargetReads
  /** Receives the row to write (not called for `dryrun`). */
  enqueue: (record: FeedbackRecord) => void
  /** Receives a verdict's StaticEvaluationHumanFeedback row found after the reply. Absent: such rows are not written. */
  enqueueHumanEvaluation?: (record: HumanEvaluationRecord) => void
  /** Something that failed after the reply (only that extra row is lost). */
  onWarning?: (message: string) => void
  /** Clock in ms since the epoch (for the age of the target id). */
  now?: () => number
  sleep?: (ms: number) => Promise<void>
  timing?: Partial<FeedbackTiming>
}

export interface FeedbackReply { status: number; body: { feedback_id: string } | { error: { message: string } } }

const FIELDS = ['episode_id', 'inference_id', 'metric_name', 'value', 'internal', 'tags', 'dryrun']
const PARSE = 'Failed to parse the request body as JSON: '

interface Params {
  episodeId?: string
  inferenceId?: string
  metricName: string
  value: unknown
  internal: boolean
  tags: Record<string, string>
  dryrun: boolean
}

function typeName (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'sequence'
  if (typeof v === 'object') return 'map'
  if (typeof v === 'number') return Number.isInteger(v) ? `integer \`${v}\`` : `floating point \`${v}\``
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`
  return `${typeof v} \`${String(v)}\``
}

function normalizeUuid (field: string, v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw badRequest(`${PARSE}${field}: invalid type: ${typeName(v)}, expected UUID`)
  if (!UUID_TEXT.test(v)) throw badRequest(`${PARSE}${field}: UUID parsing failed: invalid UUID ${JSON.stringify(v)}`)
  return canonicalUuid(v)
}

function parseParams (body: unknown): Params {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest(`${PARSE}invalid type: ${typeName(body)}, expected struct Params`)
  const b = body as Record<string, unknown>
  for (const k of Object.keys(b)) {
    if (!FIELDS.includes(k)) throw badRequest(`${PARSE}unknown field \`${k}\`, expected one of ${FIELDS.map(f => `\`${f}\``).join(', ')}`)
  }
  if (!('metric_name' in b)) throw badRequest(`${PARSE}missing field \`metric_name\``)
  if (typeof b.metric_name !== 'string') throw badRequest(`${PARSE}metric_name: invalid type: ${typeName(b.metric_name)}, expected a string`)
  if (!('value' in b)) throw badRequest(`${PARSE}missing field \`value\``)
  if (b.internal !== undefined && typeof b.internal !== 'boolean') throw badRequest(`${PARSE}internal: invalid type: ${typeName(b.internal)}, expected a boolean`)
  if (b.dryrun !== undefined && b.dryrun !== null && typeof b.dryrun !== 'boolean') throw badRequest(`${PARSE}dryrun: invalid type: ${typeName(b.dryrun)}, expected a boolean`)
  const tags: Record<string, string> = {}
  if (b.tags !== undefined) {
    if (b.tags === null || typeof b.tags !== 'object' || Array.isArray(b.tags)) throw badRequest(`${PARSE}tags: invalid type: ${typeName(b.tags)}, expected a map`)
    for (const [k, v] of Object.entries(b.tags as Record<string, unknown>)) {
      if (typeof v !== 'string') throw badRequest(`${PARSE}tags: invalid type: ${typeName(v)}, expected a string`)
      tags[k] = v
    }
  }
  return {
    episodeId: normalizeUuid('episode_id', b.episode_id),
    inferenceId: normalizeUuid('inference_id', b.inference_id),
    metricName: b.metric_name,
    value: b.value,
    internal: b.internal === true,
    tags,
    dryrun: b.dryrun === true
  }
}

type Level = 'inference' | 'episode'
type Kind = 'boolean' | 'float' | 'comment' | 'demonstration'

function metadata (config: TensorZeroConfig, p: Params): { kind: Kind; level: Level; targetId: string } {
  if (p.episodeId !== undefined && p.inferenceId !== undefined) throw badRequest('Both episode_id and inference_id cannot be provided')
  const metric = config.metrics.get(p.metricName)
  let kind: Kind
  if (metric !== undefined) kind = metric.type
  else if (p.metricName === 'comment' || p.metricName === 'demonstration') kind = p.metricName
  else throw new GatewayError(404, `Unknown metric: ${p.metricName}`)
  let level: Level
  if (kind === 'demonstration') level = 'inference'
  else if (kind === 'comment') {
    if (p.inferenceId !== undefined) level = 'inference'
    else if (p.episodeId !== undefined) level = 'episode'
    else throw badRequest('Exactly one of inference_id or episode_id must be provided')
  } else level = (metric as { level: Level }).level
  const targetId = level === 'inference' ? p.inferenceId : p.episodeId
  if (targetId === undefined) throw badRequest(`Correct ID was not provided for feedback level "${level}".`)
  return { kind, level, targetId }
}

/**
 * Milliseconds since the time embedded in a UUIDv7 (0 for ids in the future or not v7). A workflow evaluation's episode
 * id is dated TensorZero's offset ahead: its age is counted from its time less the offset, as TensorZero counts it.
 */
function uuidAgeMs (id: string, now: number): number {
  if (id[14] !== '7') return 0
  const ms = uuidV7Ms(id)
  return Math.max(0, now - (ms >= WORKFLOW_OFFSET_MS ? ms - WORKFLOW_OFFSET_MS : ms))
}

async function findTarget (deps: FeedbackDeps, level: Level, id: string): Promise<StoredInference | true> {
  if (level === 'inference') {
    const known = deps.knownTargets.inference(id)
    if (known !== undefined) return known
  } else if (deps.knownTargets.episode(id)) return true
  const notFound = (): GatewayError => badRequest(`${level === 'inference' ? 'Inference' : 'Episode'} ID: ${id} does not exist`)
  const lookup = deps.lookupInClickHouse
  if (lookup === undefined) throw notFound()
  const now = deps.now ?? Date.now
  const nap = deps.sleep ?? sleep
  const t = { ...TENSORZERO_FEEDBACK_TIMING, ...deps.timing }
  // TensorZero polls until the id is `cooldownMs` old (at least `minWaitMs`): the row may still be on its way.
  const deadline = now() + Math.max(t.cooldownMs - uuidAgeMs(id, now()), t.minWaitMs)
  for (;;) {
    let found: StoredInference | boolean | null
    try {
      found = level === 'inference' ? await lookup.inference(id) : await lookup.episode(id)
    } catch (err) {
      throw new GatewayError(500, `Failed to look up ${level} ${id} in ClickHouse: ${(err as Error).message}`)
    }
    if (found !== null && found !== false) return found
    const left = deadline - now()
    if (left <= 0) throw notFound()
    // A local record may appear meanwhile (the inference finished while we waited).
    await nap(Math.min(t.pollMs, left))
    if (level === 'inference') {
      const known = deps.knownTargets.inference(id)
      if (known !== undefined) return known
    } else if (deps.knownTargets.episode(id)) return true
  }
}

function demonstrationValue (config: TensorZeroConfig, target: StoredInference, value: unknown): string {
  const fn = config.functions.get(target.functionName)
  if (fn === undefined && target.functionName !== 'tensorzero::default') throw new GatewayError(404, `Unknown function: ${target.functionName}`)
  const type = fn?.type ?? target.functionType
  if (type === 'json') {
    const schema = target.outputSchema ?? fn?.outputSchema?.schema ?? {}
    const error = firstSchemaError(schema, value)
    if (error !== undefined) throw badRequest(`Demonstration does not fit function output schema: ${error}`)
    return JSON.stringify({ raw: JSON.stringify(value), parsed: value })
  }
  let blocks: unknown[]
  if (typeof value === 'string') blocks = [{ type: 'text', text: value }]
  else if (Array.isArray(value)) blocks = value
  else throw badRequest('Demonstration must be a string or an array of content blocks')
  const output = blocks.map(block => {
    if (block === null || typeof block !== 'object' || Array.isArray(block)) throw badRequest(`Invalid demonstration content block: invalid type: ${typeName(block)}, expected internally tagged enum DemonstrationContentBlock`)
    const b = block as Record<string, unknown>
    if (b.type === undefined) throw badRequest('Invalid demonstration content block: missing field `type`')
    if (b.type === 'text') {
      if (typeof b.text !== 'string') throw badRequest(`Invalid demonstration content block: ${b.text === undefined ? 'missing field `text`' : `invalid type: ${typeName(b.text)}, expected a string`}`)
      return { type: 'text' as const, text: b.text }
    }
    if (b.type === 'tool_call') {
      for (const f of ['name', 'arguments', 'id']) if (!(f in b)) throw badRequest(`Invalid demonstration content block: missing field \`${f}\``)
      if (typeof b.name !== 'string') throw badRequest(`Invalid demonstration content block: invalid type: ${typeName(b.name)}, expected a string`)
      if (typeof b.id !== 'string') throw badRequest(`Invalid demonstration content block: invalid type: ${typeName(b.id)}, expected a string`)
      return { type: 'tool_call' as const, id: b.id, name: b.name, arguments: JSON.stringify(b.arguments) }
    }
    throw badRequest(`Invalid demonstration content block: unknown variant \`${String(b.type)}\`, expected \`text\` or \`tool_call\``)
  })
  const tools: ToolDefinition[] | undefined = target.tools
  const parsed = chatOutputBlocks(output, tools)
  for (const block of parsed) {
    if (block.type !== 'tool_call') continue
    if (block.name === null) throw badRequest('Demonstration contains invalid tool name')
    if (block.arguments === null) throw badRequest('Demonstration contains invalid tool call arguments')
  }
  return JSON.stringify(parsed)
}

type Verdict = Omit<HumanEvaluation, 'output'>

/**
 * A person's verdict on an evaluated inference, as TensorZero records it in StaticEvaluationHumanFeedback: all three tags
 * present, both ids UUIDs (otherwise TensorZero's background write fails and only the feedback row stays), keyed by
 * the target's stored output.
 */
function humanVerdictOf (tags: Record<string, string>, target: StoredInference | true): Verdict | undefined {
  const datapointId = tags['tensorzero::datapoint_id']
  const evaluatorInferenceId = tags['tensorzero::evaluator_inference_id']
  if (datapointId === undefined || evaluatorInferenceId === undefined || !('tensorzero::human_feedback' in tags)) return undefined
  if (!UUID_TEXT.test(datapointId) || !UUID_TEXT.test(evaluatorInferenceId) || target === true) return undefined
  return { datapointId, evaluatorInferenceId }
}

/**
 * The verdict's row when the target's output is not in memory (an inference this process served outside an evaluation
 * keeps none): read from ClickHouse after the reply, as TensorZero writes this row in a deferred task. The read is
 * bounded; an output not stored yet, or a read that fails or takes too long, loses only this row, with a warning.
 */
async function addHumanEvaluationLater (deps: FeedbackDeps, record: FeedbackRecord, verdict: Verdict): Promise<void> {
  const { lookupInClickHouse: reads, enqueueHumanEvaluation: enqueue } = deps
  if (reads === undefined || enqueue === undefined) return
  const ms = { ...TENSORZERO_FEEDBACK_TIMING, ...deps.timing }.humanEvaluationReadMs
  const bound = AbortSignal.timeout(ms)
  const timedOut = new Promise<never>((_resolve, reject) => {
    bound.addEventListener('abort', () => { reject(new TimeoutError('reading the evaluated output', ms)) }, { once: true })
  })
  const lost = `feedback ${record.feedbackId}: its StaticEvaluationHumanFeedback row is not written`
  try {
    const output = (await Promise.race([reads.inference(record.targetId), timedOut]))?.output
    if (output === undefined) { deps.onWarning?.(`${lost}: inference ${record.targetId} has no stored output yet`); return }
    enqueue({ feedbackId: record.feedbackId, metricName: record.metricName, value: record.value, humanEvaluation: { ...verdict, output } })
  } catch (err) {
    deps.onWarning?.(`${lost}: ${(err as Error).message}`)
  }
}

/** Validates a feedback request, queues its row (unless `dryrun`) and returns the HTTP reply. */
export async function handleFeedback (body: unknown, deps: FeedbackDeps): Promise<FeedbackReply> {
  try {
    const p = parseParams(body)
    if (p.internal) p.tags['tensorzero::internal'] = 'true'
    else {
      for (const k of Object.keys(p.tags)) {
        if (k.startsWith('tensorzero::')) throw badRequest(`Tag name cannot start with 'tensorzero::': ${k}`)
      }
    }
    if ('tensorzero::datapoint_id' in p.tags && 'tensorzero::human_feedback' in p.tags && !('tensorzero::evaluator_inference_id' in p.tags)) {
      throw badRequest('tensorzero::evaluator_inference_id is required when tensorzero::datapoint_id and tensorzero::human_feedback are provided')
    }
    const { kind, level, targetId } = metadata(deps.config, p)
    const feedbackId = uuidv7()
    // As in TensorZero, the target is checked before the value's type.
    const target = await findTarget(deps, level, targetId)
    let value: unknown
    switch (kind) {
      case 'comment':
        if (typeof p.value !== 'string') throw badRequest('Feedback value for a comment must be a string')
        value = p.value
        break
      case 'boolean':
        if (typeof p.value !== 'boolean') throw badRequest(`Feedback value for metric \`${p.metricName}\` must be a boolean`)
        value = p.value
        break
      case 'float':
        if (typeof p.value !== 'number' || !Number.isFinite(p.value)) throw badRequest(`Feedback value for metric \`${p.metricName}\` must be a number`)
        value = p.value
        break
      case 'demonstration':
        value = demonstrationValue(deps.config, target as StoredInference, p.value)
        break
    }
    if (!p.dryrun) {
      const record: FeedbackRecord = { feedbackId, metricName: p.metricName, metricType: kind, targetId, targetType: level, value, tags: p.tags }
      const verdict = kind === 'boolean' || kind === 'float' ? humanVerdictOf(p.tags, target) : undefined
      if (verdict !== undefined && target !== true && target.output !== undefined) record.humanEvaluation = { ...verdict, output: target.output }
      deps.enqueue(record)
      if (verdict !== undefined && record.humanEvaluation === undefined) void addHumanEvaluationLater(deps, record, verdict)
    }
    return { status: 200, body: { feedback_id: feedbackId } }
  } catch (err) {
    if (err instanceof GatewayError) return { status: err.status, body: { error: { message: err.message } } }
    return { status: 500, body: { error: { message: `Feedback failed: ${(err as Error).message}` } } }
  }
}
