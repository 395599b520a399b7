// Function inference: choose variants (pinned, or sampled without replacement per episode), run each until one
// succeeds, and describe the result. Observers hear of each success once it is complete (streams: at their end).
import { newId } from '../core/ids.ts'
import type { VariantConfig, TensorZeroConfig } from '../core/config.ts'
import type { OutputBlock, StreamDelta, Usage, FinishReason, ToolParams } from '../core/types.ts'
import type { ChatRequest } from '../core/request.ts'
import type { InferenceObserver, InferenceRecord, ModelInferenceRecord } from '../core/records.ts'
import { formatTargetName, NAMESPACE_TAG } from '../core/names.ts'
import type { Transport } from '../providers/http/transport.ts'
import type { TargetResolver } from './resolve.ts'
import { sampledOrder } from './experimentation.ts'
import { checkRequestNamespace } from './namespace.ts'
import type { AdaptiveExperiments } from './experimentation/adaptive.ts'
import type { DiclExampleReads } from '../core/stored-data.ts'
import { effectiveCacheOptions, type InferenceCache } from '../core/cache.ts'
import { usageOf, type VariantAnswer } from '../variant/candidates.ts'
import { modelAnswer, variantRunner, type FunctionRun, type VariantRunner } from './variant-types.ts'
import type { TemplateRenderer } from '../variant/templates/prepare.ts'
import type { CallContext } from '../model/route.ts'
import type { ModelStream } from '../model/results.ts'
import type { RateLimiter } from '../model/rate-limits.ts'
import type { ProviderHealth } from '../model/health.ts'
import { VariantsFailed, GatewayError, failedRawResponsesOf, type FailedRawResponse } from '../core/errors.ts'
import { StreamCollector } from '../model/stream.ts'
import { traced, setActiveAttributes, failSpan } from '../core/tracing.ts'
import type { Span } from '@opentelemetry/api'
import { functionDecisions, isToolMode, jsonDelta } from './json-output.ts'
import { validateTemplateInput } from '../variant/templates/prepare.ts'
import { providerUsageObject } from '../providers/http/json.ts'

export interface GatewayContext {
  config: TensorZeroConfig
  resolver: TargetResolver
  transport: Transport
  env: NodeJS.ProcessEnv
  observer?: InferenceObserver
  /** The config's templates, compiled once; every variant renders through them. */
  templates: TemplateRenderer
  /** The providers' circuits, shared by every request of this gateway (absent: `[health] enabled = false`). */
  health?: ProviderHealth
  /** Stored DICL examples (absent: no ClickHouse, so DICL variants find none). */
  diclExamples?: DiclExampleReads
  /** The gateway's adaptive experiments (their last computed states). */
  experiments?: AdaptiveExperiments
  /** `[rate_limiting]` with its store (absent: no rule is enforced). */
  rateLimiter?: RateLimiter
  /** The inference cache (absent: no ClickHouse, so `tensorzero::cache_options` finds and keeps nothing). */
  cache?: { store: InferenceCache; lookupTimeoutMs: number }
}

export interface InferenceMeta {
  inferenceId: string
  episodeId: string
  functionName: string
  variantName: string
  modelName: string
  providerName: string
  /** The `model` string TensorZero answers with. */
  responseModel: string
  /** The tools the model was offered: what its tool calls are checked against in TensorZero's native answer. */
  toolParams?: ToolParams
  /** JSON functions: the schema the answer was asked to satisfy (its `parsed` is checked against it). */
  outputSchema?: Record<string, unknown>
  /**
   * `include_raw_response` after a variant fallback: the failed variants' attempts' raw answers, reported before every
   * other entry (TensorZero's failed variant entries).
   */
  failedVariantRawResponses?: FailedRawResponse[]
}

export interface CompletedInference extends InferenceMeta {
  kind: 'complete'
  output: OutputBlock[]
  usage: Usage
  finishReason?: FinishReason
  /**
   * The provider's answer as it came (as stored, so bounded), for TensorZero's `include_original_response`; best-of-N
   * gives its evaluator's, and none when the evaluator gave no answer.
   */
  rawResponse?: string
  /** Every model call made, the answering one first (`tensorzero::include_raw_usage` / `include_raw_response`). */
  modelInferences: ModelInferenceRecord[]
}

export interface StreamingInference extends InferenceMeta {
  kind: 'stream'
  /** Deltas in order, starting with the first. Ends normally, or throws mid-stream (report it in-stream). */
  deltas: AsyncGenerator<StreamDelta>
  /** Filled while `deltas` is consumed: usage and finish reason for the final chunk. */
  collector: StreamCollector
  /** Set once the stream ended well: every model call made, the answering one first. */
  modelInferences?: ModelInferenceRecord[]
  /**
   * The model calls made before the streamed one, known when the stream starts: best-of-N's other candidates and
   * evaluator, mixture-of-N's candidates, DICL's embedding (TensorZero's raw_response chunk ahead of the deltas).
   */
  earlierModelInferences: ModelInferenceRecord[]
  /** `include_raw_response`: the streamed call's failed tries and providers, known when the stream starts (a chunk of their own). */
  failedCallRawResponses?: FailedRawResponse[]
}

/** A `function_inference` span around the inference; a stream's span ends with its last delta. */
export const runChat = traced('function_inference',
  (_gw: GatewayContext, req: ChatRequest, _signal: AbortSignal) => ({ 'gen_ai.operation.name': 'chat', stream: req.stream }),
  chooseAndRun,
  (result, span) => {
    // A non-recording span (no SDK registered) needs no ending: no wrapper layer around every delta then.
    if (result.kind !== 'stream' || !span.isRecording()) return false
    result.deltas = endSpanAfter(result.deltas, span)
    return true
  })

async function * endSpanAfter (deltas: AsyncGenerator<StreamDelta>, span: Span): AsyncGenerator<StreamDelta> {
  try {
    yield * deltas
  } catch (err) {
    failSpan(span, err)
    throw err
  } finally {
    span.end()
  }
}

/** The pinned variant alone, or the variants in the episode's sampled order until one succeeds. */
async function chooseAndRun (gw: GatewayContext, req: ChatRequest, signal: AbortSignal): Promise<CompletedInference | StreamingInference> {
  const started = performance.now()
  const { fn, variant: pinned } = req.target
  const episodeId = req.episodeId ?? newId()
  const inferenceId = newId()
  setActiveAttributes(() => ({ function_name: fn.name, episode_id: episodeId, inference_id: inferenceId, 'gen_ai.conversation.id': episodeId }))
  // Input and tool problems are the client's: 400 before any variant runs, no fallback.
  validateTemplateInput(fn, req.input, pinned)
  if (req.extraBody !== undefined || req.extraHeaders !== undefined) gw.resolver.checkEntryFilters(req.target, [...req.extraBody ?? [], ...req.extraHeaders ?? []])
  const namespace = req.tags[NAMESPACE_TAG]
  checkRequestNamespace(req.target, namespace, gw.config.models)
  const decisions = functionDecisions(gw.config, fn, req)
  const ctx: CallContext = {
    transport: gw.transport, env: gw.env, credentials: req.credentials, signal, observer: gw.observer, functionName: fn.name, health: gw.health,
    rateLimiter: gw.rateLimiter, tags: req.tags
  }
  if (gw.cache !== undefined && req.cacheOptions !== undefined) ctx.cache = { ...gw.cache, options: effectiveCacheOptions(req.cacheOptions, req.dryrun) }
  if (req.stream && (req.includeRawResponse === true || req.includeOriginalResponse === true)) ctx.rawChunks = true
  if (req.includeRawResponse === true) ctx.rawResponses = true
  if (req.stream && req.includeRawUsage === true) ctx.rawUsage = true
  const order = pinned === undefined ? sampledOrder(gw.experiments, fn, episodeId, namespace) : [pinned.name]
  const errors: Array<{ variant: string; error: Error }> = []

  const run: FunctionRun = { fn, req, decisions, templates: gw.templates, resolver: gw.resolver, diclExamples: gw.diclExamples }
  // The variant's answer, or undefined when it failed and the next one may be tried.
  const tryVariant = async (variantName: string, i: number): Promise<CompletedInference | StreamingInference | undefined> => {
    const variant = fn.variants.get(variantName) as VariantConfig
    try {
      const runner = variantRunner(variant.type)
      if (runner === undefined) {
        throw new GatewayError(501, `variant type \`${variant.type}\` is not served by tz-sidecar; configure a \`chat_completion\` variant to fall back to`)
      }
      const attempt: VariantAttempt = {
        gw, run, runner, variant, ctx: i === 0 ? ctx : { ...ctx, variantIndex: i }, started,
        meta: { inferenceId, episodeId, functionName: fn.name, variantName, responseModel: responseModelFor(req, variantName) }
      }
      const result = req.stream ? await streamAttempt(attempt) : await completeAttempt(attempt)
      if (ctx.rawResponses === true && errors.length > 0) result.failedVariantRawResponses = errors.flatMap(e => failedRawResponsesOf(e.error))
      return result
    } catch (err) {
      if (signal.aborted) throw signal.reason
      if (pinned !== undefined) throw err
      errors.push({ variant: variantName, error: err instanceof Error ? err : new Error(String(err)) })
      return undefined
    }
  }
  let i = 0
  // Only an adaptive experiment's order is asynchronous; a static plan's is walked without a promise per name.
  if (Symbol.asyncIterator in order) {
    for await (const variantName of order) { const result = await tryVariant(variantName, i++); if (result !== undefined) return result }
  } else {
    for (const variantName of order) { const result = await tryVariant(variantName, i++); if (result !== undefined) return result }
  }
  throw new VariantsFailed(fn.name, errors)
}

/** One variant being tried: everything its non-streaming or streaming run needs. */
interface VariantAttempt {
  gw: GatewayContext
  run: FunctionRun
  runner: VariantRunner
  variant: VariantConfig
  ctx: CallContext
  meta: Omit<InferenceMeta, 'modelName' | 'providerName'>
  started: number
}

async function completeAttempt (a: VariantAttempt): Promise<CompletedInference> {
  const answer = await a.runner.answer(a.run, a.variant, a.ctx)
  if (!a.run.req.dryrun) emit(a.gw, recordFor(a.run, a.meta, answer, a.started))
  return {
    kind: 'complete',
    ...a.meta,
    modelName: answer.modelName,
    providerName: answer.modelInferences[0]?.providerName ?? '',
    toolParams: answer.toolParams,
    outputSchema: answer.outputSchema,
    output: answer.output,
    usage: answer.usage,
    finishReason: answer.finishReason,
    rawResponse: answer.originalResponse,
    modelInferences: answer.modelInferences
  }
}

async function streamAttempt (a: VariantAttempt): Promise<StreamingInference> {
  const streamed = await a.runner.stream(a.run, a.variant, a.ctx)
  const collector = new StreamCollector()
  const common: Pick<StreamingInference, 'kind' | 'collector' | 'modelInferences'> & typeof a.meta = { kind: 'stream' as const, ...a.meta, collector }
  const record = (answer: VariantAnswer, ttftMs: number | undefined): void => {
    result.modelInferences = answer.modelInferences
    if (!a.run.req.dryrun) emit(a.gw, recordFor(a.run, a.meta, answer, a.started, ttftMs))
  }
  let result: StreamingInference
  if (streamed.kind === 'answer') {
    const { answer } = streamed
    return result = {
      ...common,
      modelName: answer.modelName,
      providerName: answer.modelInferences[0]?.providerName ?? '',
      toolParams: answer.toolParams,
      outputSchema: answer.outputSchema,
      earlierModelInferences: answer.modelInferences.slice(1),
      failedCallRawResponses: answer.modelInferences[0]?.failedRawResponses,
      deltas: answerAsStream(answer, collector, record, a.started, a.ctx.rawUsage === true)
    }
  }
  const { stream, request } = streamed
  const json = a.run.fn.type === 'json'
  const toolMode = isToolMode(request)
  const finish = (modelRecord: ModelInferenceRecord): void => {
    // JSON functions: the collector keeps the model's own output (for ModelInference); clients see the answer.
    const answer = modelAnswer(a.run.fn, request, { output: collector.output(), usage: collector.usage, finishReason: collector.finishReason },
      [modelRecord, ...streamed.earlier], streamed.modelName)
    if (json) collector.finishReason = answer.finishReason
    record({ ...answer, inferenceParams: streamed.inferenceParams }, modelRecord.ttftMs)
  }
  return result = {
    ...common,
    modelName: streamed.modelName,
    providerName: stream.providerName,
    toolParams: request.toolParams,
    outputSchema: request.outputSchema,
    earlierModelInferences: streamed.earlier,
    failedCallRawResponses: stream.failedRawResponses,
    deltas: streamDeltas(stream, collector, finish, json ? d => jsonDelta(d, toolMode) : undefined)
  }
}

/**
 * An answer finished before its first chunk (best-of-N, a mixture-of-N without its fuser) sent as one chunk, as
 * TensorZero fakes the stream: the chosen answer's blocks, its finish reason and its own model call's usage.
 */
async function * answerAsStream (answer: VariantAnswer, collector: StreamCollector, record: (answer: VariantAnswer, ttftMs: number) => void,
  started: number, rawUsage: boolean): AsyncGenerator<StreamDelta> {
  const delta: StreamDelta = { finishReason: answer.finishReason, usage: usageOf(answer.modelInferences.slice(0, 1)) }
  // The one chunk carries the chosen call's raw usage, as TensorZero's fake stream does.
  const chosen = answer.modelInferences[0]
  const usage = rawUsage && chosen !== undefined && !chosen.cached ? providerUsageObject(chosen.rawResponse) : undefined
  if (usage !== undefined) delta.rawUsage = { modelInferenceId: chosen.id, providerType: chosen.providerType, usage }
  const text = answer.output.filter(b => b.type === 'text').map(b => (b as { text: string }).text).join('')
  if (text !== '') delta.text = text
  const thought = answer.output.filter(b => b.type === 'thought').map(b => (b as { text: string }).text).join('')
  if (thought !== '') delta.thought = thought
  const calls = answer.output.filter(b => b.type === 'tool_call')
  if (calls.length > 0) delta.toolCalls = calls.map((c, index) => ({ index, id: c.id, name: c.name, arguments: c.arguments }))
  const ttftMs = Math.round(performance.now() - started)
  collector.add(delta)
  // The collector folds provider chunks, which carry no cost: the chosen call's is known already.
  if (delta.usage?.cost !== undefined) collector.usage.cost = delta.usage.cost
  yield delta
  record(answer, ttftMs)
}

async function * streamDeltas (stream: ModelStream, collector: StreamCollector,
  finish: (record: ModelInferenceRecord) => void, adapt?: (delta: StreamDelta) => StreamDelta): AsyncGenerator<StreamDelta> {
  try {
    collector.add(stream.first)
    yield adapt === undefined ? stream.first : adapt(stream.first)
    for (;;) {
      const next = await stream.rest.next()
      if (next.done === true) break
      collector.add(next.value)
      yield adapt === undefined ? next.value : adapt(next.value)
    }
    const record = stream.finish(collector)
    if (stream.failedRawResponses !== undefined) record.failedRawResponses = stream.failedRawResponses
    finish(record)
  } finally {
    stream.dispose()
    await stream.rest.return?.()
  }
}

/** The `model` string TensorZero answers with: the target as the client could have named it, with the variant that ran. */
function responseModelFor (req: ChatRequest, variantName: string): string {
  if (req.target.kind === 'model') return formatTargetName(req.target)
  return formatTargetName({ kind: 'function', functionName: req.target.functionName, variantName })
}

function emit (gw: GatewayContext, record: InferenceRecord): void {
  try {
    gw.observer?.onInference?.(record)
  } catch {
    // An observer failure must never fail an inference that succeeded; observers report their own trouble.
  }
}

function recordFor (run: FunctionRun, meta: { inferenceId: string; episodeId: string; variantName: string }, answer: VariantAnswer,
  started: number, ttftMs?: number): InferenceRecord {
  const { req, fn } = run
  const record: InferenceRecord = {
    inferenceId: meta.inferenceId,
    episodeId: meta.episodeId,
    functionName: fn.name,
    functionType: fn.type,
    variantName: meta.variantName,
    input: req.input,
    output: answer.output,
    toolParams: answer.toolParams,
    inferenceParams: answer.inferenceParams,
    processingTimeMs: Math.round(performance.now() - started),
    ttftMs,
    // A variant the client (or its route) pinned is tagged as TensorZero tags it.
    tags: req.target.kind !== 'function' || req.target.variantName === undefined ? req.tags : { ...req.tags, 'tensorzero::variant_pinned': req.target.variantName },
    extraBody: req.extraBody,
    finishReason: answer.finishReason,
    modelInferences: answer.modelInferences,
    stream: req.stream
  }
  if (fn.type === 'json') {
    record.jsonOutput = answer.json
    record.outputSchema = answer.outputSchema
  }
  return record
}
