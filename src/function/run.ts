// Function inference: choose variants (pinned, or sampled without replacement per episode), run each until one
// succeeds, and describe the result. Observers hear of each success once it is complete (streams: at their end).
import { newId } from '../core/ids.ts'
import type { FunctionConfig, VariantConfig, TensorZeroConfig, ModelConfig } from '../core/config.ts'
import type { OutputBlock, StreamDelta, Usage, FinishReason, ModelRequest, ToolParams } from '../core/types.ts'
import type { ChatRequest } from '../core/request.ts'
import type { InferenceObserver, InferenceRecord, ModelInferenceRecord } from '../core/records.ts'
import { formatTargetName } from '../core/names.ts'
import type { Transport } from '../providers/http/transport.ts'
import type { TargetResolver } from './resolve.ts'
import { cachedSamplingPlan, drawFor, variantOrder } from './experimentation.ts'
import { buildModelRequest, inferVariant, streamVariant } from '../variant/chat-completion.ts'
import type { TemplateRenderer } from '../variant/templates/prepare.ts'
import type { CallContext, ModelStream } from '../model/route.ts'
import type { ProviderHealth } from '../model/health.ts'
import { VariantsFailed, GatewayError } from '../core/errors.ts'
import { StreamCollector } from '../model/stream.ts'
import { traced, setActiveAttributes, failSpan } from '../core/tracing.ts'
import type { Span } from '@opentelemetry/api'
import { functionDecisions, isToolMode, jsonDelta, jsonFinishReason, jsonOutputBlocks, jsonOutputRecord, rawJsonText } from './json-output.ts'
import { validateTemplateInput } from '../variant/templates/prepare.ts'

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
}

export interface CompletedInference extends InferenceMeta {
  kind: 'complete'
  output: OutputBlock[]
  usage: Usage
  finishReason?: FinishReason
  /** The provider's answer as it came (as stored, so bounded), for TensorZero's `include_original_response`. */
  rawResponse: string
}

export interface StreamingInference extends InferenceMeta {
  kind: 'stream'
  /** Deltas in order, starting with the first. Ends normally, or throws mid-stream (report it in-stream). */
  deltas: AsyncGenerator<StreamDelta>
  /** Filled while `deltas` is consumed: usage and finish reason for the final chunk. */
  collector: StreamCollector
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
  const decisions = functionDecisions(gw.config, fn, req)
  const ctx: CallContext = { transport: gw.transport, env: gw.env, credentials: req.credentials, signal, observer: gw.observer, functionName: fn.name, health: gw.health }
  const plan = pinned === undefined ? cachedSamplingPlan(fn) : undefined
  const order = plan === undefined ? [pinned?.name as string] : variantOrder(plan, drawFor(plan, fn.name, episodeId))
  const errors: Array<{ variant: string; error: Error }> = []

  let i = -1
  for (const variantName of order) {
    i++
    const variant = fn.variants.get(variantName) as VariantConfig
    try {
      if (!variant.served) {
        throw new GatewayError(501, `variant type \`${variant.type}\` is not served by tz-sidecar; configure a \`chat_completion\` variant to fall back to`)
      }
      const modelRequest = buildModelRequest(fn, variant, req, decisions, gw.templates)
      const attempt: VariantAttempt = {
        gw, req, fn, variant, model: gw.resolver.variantModel(variant), ctx: i === 0 ? ctx : { ...ctx, variantIndex: i }, started, modelRequest,
        meta: {
          inferenceId, episodeId, functionName: fn.name, variantName, responseModel: responseModelFor(req, variantName),
          toolParams: modelRequest.toolParams, outputSchema: modelRequest.outputSchema
        }
      }
      return req.stream ? await streamAttempt(attempt) : await completeAttempt(attempt)
    } catch (err) {
      if (signal.aborted) throw signal.reason
      if (pinned !== undefined) throw err
      errors.push({ variant: variantName, error: err instanceof Error ? err : new Error(String(err)) })
    }
  }
  throw new VariantsFailed(fn.name, errors)
}

/** One variant being tried: everything its non-streaming or streaming run needs. */
interface VariantAttempt {
  gw: GatewayContext
  req: ChatRequest
  fn: FunctionConfig
  variant: VariantConfig
  model: ModelConfig
  modelRequest: ModelRequest
  ctx: CallContext
  meta: Omit<InferenceMeta, 'modelName' | 'providerName'>
  started: number
}

async function completeAttempt (a: VariantAttempt): Promise<CompletedInference> {
  const { response, record } = await inferVariant(a.model, a.variant, a.modelRequest, a.ctx)
  if (a.fn.type === 'json') {
    const toolMode = isToolMode(a.modelRequest)
    response.output = jsonOutputBlocks(response.output, toolMode)
    response.finishReason = jsonFinishReason(response.finishReason, toolMode)
  }
  if (!a.req.dryrun) emit(a.gw, recordFor(a.req, a.fn, a.meta, a.modelRequest, record, response.output, response.finishReason, a.started))
  return {
    kind: 'complete',
    ...a.meta,
    modelName: a.variant.model as string,
    providerName: record.providerName,
    output: response.output,
    usage: response.usage,
    finishReason: response.finishReason,
    rawResponse: record.rawResponse
  }
}

async function streamAttempt (a: VariantAttempt): Promise<StreamingInference> {
  const stream = await streamVariant(a.model, a.variant, a.modelRequest, a.ctx)
  const collector = new StreamCollector()
  const json = a.fn.type === 'json'
  const toolMode = isToolMode(a.modelRequest)
  const finish = (modelRecord: ModelInferenceRecord): void => {
    // JSON functions: the collector keeps the model's own output (for ModelInference); clients see the answer.
    if (json) collector.finishReason = jsonFinishReason(collector.finishReason, toolMode)
    const output = json ? jsonOutputBlocks(collector.output(), toolMode) : collector.output()
    if (!a.req.dryrun) emit(a.gw, recordFor(a.req, a.fn, a.meta, a.modelRequest, modelRecord, output, collector.finishReason, a.started, modelRecord.ttftMs))
  }
  return {
    kind: 'stream',
    ...a.meta,
    modelName: a.variant.model as string,
    providerName: stream.providerName,
    collector,
    deltas: streamDeltas(stream, collector, finish, json ? d => jsonDelta(d, toolMode) : undefined)
  }
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
    finish(stream.finish(collector))
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

function recordFor (req: ChatRequest, fn: FunctionConfig, meta: { inferenceId: string; episodeId: string; variantName: string },
  modelRequest: ModelRequest, modelRecord: ModelInferenceRecord, output: OutputBlock[], finishReason: FinishReason | undefined,
  started: number, ttftMs?: number): InferenceRecord {
  const record: InferenceRecord = {
    inferenceId: meta.inferenceId,
    episodeId: meta.episodeId,
    functionName: fn.name,
    functionType: fn.type,
    variantName: meta.variantName,
    input: req.input,
    output,
    toolParams: modelRequest.toolParams,
    inferenceParams: modelRequest.params,
    processingTimeMs: Math.round(performance.now() - started),
    ttftMs,
    // A variant the client (or its route) pinned is tagged as TensorZero tags it.
    tags: req.target.kind !== 'function' || req.target.variantName === undefined ? req.tags : { ...req.tags, 'tensorzero::variant_pinned': req.target.variantName },
    extraBody: req.extraBody,
    finishReason,
    modelInferences: [modelRecord],
    stream: req.stream
  }
  if (fn.type === 'json') {
    record.jsonOutput = jsonOutputRecord(rawJsonText(output), modelRequest.outputSchema)
    record.outputSchema = modelRequest.outputSchema
  }
  return record
}
